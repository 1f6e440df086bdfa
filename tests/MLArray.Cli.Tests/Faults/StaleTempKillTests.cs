using System.Globalization;
using MLArray.Blosc2;
using Xunit.Abstractions;

namespace MLArray.Cli.Tests.Faults;

/// <summary>
/// A child process replacing <c>t.mla</c> in a loop (MLArrayFile.Save, CLI convert, in-place metadata rewrite) is
/// killed with SIGKILL until a kill lands inside a write and leaves its <c>.t.mla.GUID.tmp</c> behind. Once that file
/// is stale (not locked, since the kill closed it, and older than <see cref="AtomicFile.StaleAfter"/>: its time is set
/// back here instead of waiting), the next write of <c>t.mla</c> removes it, and leaves the stale temporary file of
/// another target in the folder alone.
/// </summary>
[Collection(nameof(KillTests))] // one child at a time: the machine has few cores
public sealed class StaleTempKillTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-stalekill-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void A_temp_file_left_by_a_killed_writer_is_removed_by_the_next_write_of_that_target()
    {
        const int MaxTrials = 80, Wanted = 3;
        var rng = new Random(20261206);
        string target = Path.Combine(_dir, "t.mla");
        using (var img = MLArrayFile.FromArray(FaultChild.Generation(0), FaultChild.Shape)) img.Save(target);
        long next = 1;
        int trials = 0, found = 0;
        while (found < Wanted && trials < MaxTrials)
        {
            trials++;
            var done = KillTests.RunAndKill(["atomic", _dir, next.ToString(CultureInfo.InvariantCulture)], rng.Next(0, 70));
            next = long.Parse(done[^1][0], CultureInfo.InvariantCulture) + 2;
            foreach (var npy in Directory.GetFiles(_dir, ".in.npy.*.tmp")) File.Delete(npy); // the child's convert input
            var leftovers = Directory.GetFiles(_dir, ".*.tmp");
            if (leftovers.Length == 0) continue; // the kill fell between two writes of t.mla
            found++;
            Assert.All(leftovers, l => Assert.True(AtomicFile.IsTempNameOf(Path.GetFileName(l), "t.mla"), $"unexpected leftover {l}"));
            foreach (var l in leftovers) File.SetLastWriteTimeUtc(l, DateTime.UtcNow - AtomicFile.StaleAfter - TimeSpan.FromMinutes(1));
            string otherTarget = Path.Combine(_dir, $".u.mla.{Guid.NewGuid():N}.tmp");
            File.WriteAllBytes(otherTarget, new byte[10]);
            File.SetLastWriteTimeUtc(otherTarget, DateTime.UtcNow.AddHours(-1));

            using (var img = MLArrayFile.FromArray(FaultChild.Generation(next), FaultChild.Shape)) img.Save(target);

            Assert.All(leftovers, l => Assert.False(File.Exists(l), $"{Path.GetFileName(l)} left by the killed writer was not removed"));
            Assert.True(File.Exists(otherTarget), "the stale temporary file of another target was removed");
            File.Delete(otherTarget);
            using (var f = MLArrayFile.Open(target))
                Assert.Equal(FaultChild.Generation(next), f.ToArray<float>());
            next++;
        }
        log.WriteLine($"{trials} kills, {found} left a temporary file, each removed by the next write of the target");
        Assert.True(found >= 1, $"none of {trials} kills landed inside a write; the test did not exercise anything");
    }
}
