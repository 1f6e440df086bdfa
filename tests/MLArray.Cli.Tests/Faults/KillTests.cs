using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using MLArray.Blosc2;
using Xunit.Abstractions;

namespace MLArray.Cli.Tests.Faults;

/// <summary>
/// Crash safety under SIGKILL: a child process (this test assembly run through <see cref="FaultChild"/>) loops
/// writes and is killed at a random moment (seeded), hundreds of times. After every kill the target must be intact:
/// for whole-file replacement either the old bytes or a complete new file; for <c>r+</c> slice writes exactly the
/// state after the last or the one more write, never anything in between.
/// </summary>
[Collection(nameof(KillTests))] // one child at a time: the machine has few cores
public sealed class KillTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-kill-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>
    /// Starts the child and waits for its first completed write (so the kill lands in the steady loop, not in
    /// start-up), lets it run for <paramref name="delayMs"/> more, kills it and returns its "done …" lines.
    /// </summary>
    private static List<string[]> RunAndKill(string[] args, int delayMs)
    {
        string dll = typeof(FaultChild).Assembly.Location;
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var lines = new List<string[]>();
        string? first = p.StandardOutput.ReadLine();
        string? firstDone = first == "ready" ? p.StandardOutput.ReadLine() : null;
        if (firstDone is null || !firstDone.StartsWith("done ", StringComparison.Ordinal))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            throw new InvalidOperationException($"the child did not start: '{first}' '{firstDone}', stderr: {err.Result}");
        }
        lines.Add(firstDone.Split(' ')[1..]);
        var rest = p.StandardOutput.ReadToEndAsync();
        Thread.Sleep(delayMs);
        bool exitedEarly = p.HasExited;
        p.Kill(entireProcessTree: true);
        p.WaitForExit();
        Assert.False(exitedEarly, $"the child stopped by itself: exit {p.ExitCode}, stderr: {err.Result}");
        lines.AddRange(rest.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l.StartsWith("done ", StringComparison.Ordinal)).Select(l => l.Split(' ')[1..]));
        return lines;
    }

    [Fact]
    public void Killing_atomic_replacements_leaves_the_old_file_or_a_complete_new_one()
    {
        // 80 kills in the suite (about 40 s on 2 cores); MLARRAY_KILL_TRIALS=N runs more (a soak).
        int Trials = int.TryParse(Environment.GetEnvironmentVariable("MLARRAY_KILL_TRIALS"), out int wanted) && wanted > 0 ? wanted : 80;
        var rng = new Random(20261124);
        string target = Path.Combine(_dir, "t.mla");
        using (var img = MLArrayFile.FromArray(FaultChild.Generation(0), FaultChild.Shape)) img.Save(target);
        long next = 1;
        int unchanged = 0, replaced = 0, strayAfterKill = 0;
        for (int trial = 0; trial < Trials; trial++)
        {
            var done = RunAndKill(["atomic", _dir, next.ToString(CultureInfo.InvariantCulture)], rng.Next(0, 70));
            long last = long.Parse(done[^1][0], CultureInfo.InvariantCulture);
            string lastHash = done[^1][1];
            var stray = Directory.GetFiles(_dir, ".*.tmp");
            if (stray.Length > 0) strayAfterKill++;
            foreach (var s in stray) File.Delete(s); // what a user would do; documented in docs/concurrency.md
            byte[] now = File.ReadAllBytes(target);
            if (Convert.ToHexString(SHA256.HashData(now)) == lastHash)
            {
                // byte-identical to the last file the child completed
                unchanged++;
                next = last + 1;
                continue;
            }
            // Otherwise the kill came after the rename of generation last + 1 but before the child reported it: the
            // file must be that generation, complete (metadata and every chunk decode, data exact).
            long gen = Identify(target, trial);
            Assert.True(gen == last + 1, $"trial {trial}: the file holds generation {gen} but is not the bytes of the last reported generation {last}");
            next = gen + 1;
            replaced++;
        }
        log.WriteLine($"{Trials} kills: target byte-identical to the last completed file after {unchanged}, a complete new (unreported) file after {replaced}; "
            + $"stray temporary files after {strayAfterKill} kills (killed mid-write); generations written: {next - 1}");
        Assert.Equal(Trials, unchanged + replaced);
        Assert.True(strayAfterKill >= Trials / 20, $"only {strayAfterKill} of {Trials} kills landed inside a write; the test does not exercise anything");
    }

    /// <summary>
    /// Kills the atomic-replace child until kills have left <c>.t.mla.GUID.tmp</c> files behind; once such a file is
    /// stale (unlocked, since the kill closed it, and older than <see cref="AtomicFile.StaleAfter"/>: its time is set
    /// back here instead of waiting), the next write of <c>t.mla</c> removes it, and leaves the stale temporary file
    /// of another target in the folder alone.
    /// </summary>
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
            var done = RunAndKill(["atomic", _dir, next.ToString(CultureInfo.InvariantCulture)], rng.Next(0, 70));
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

    /// <summary>Opens the file completely (metadata, every chunk) and returns the generation it holds.</summary>
    private static long Identify(string path, int trial)
    {
        using var f = MLArrayFile.Open(path);
        float[] data = f.ToArray<float>();
        using var raw = B2ndArray.Open(path);
        byte[]? genEntry = raw.GetVlMeta("gen");
        // A vlmeta rewrite (generation g % 3 == 2) keeps the data of g - 1; saves and converts hold their own data.
        long dataGen = -1;
        if (genEntry is not null)
        {
            long g = BitConverter.ToInt64(genEntry);
            Assert.True(g % 3 == 2, $"trial {trial}: 'gen' entry {g} in a file that is not a rewrite");
            Assert.Equal(FaultChild.Generation(g - 1), data);
            return g;
        }
        // find the generation from the data (first value determines it up to the period; check the whole array)
        for (long g = 0; g < 100_000 && dataGen < 0; g++)
        {
            if (g % 3 != 2 && FaultChild.Generation(g)[0] == data[0] && FaultChild.Generation(g).AsSpan().SequenceEqual(data))
                dataGen = g;
        }
        Assert.True(dataGen >= 0, $"trial {trial}: the file opens but its data is no generation the child wrote");
        return dataGen;
    }

    [Fact]
    public void Killing_r_plus_slice_writes_leaves_the_state_before_or_after_one_write()
    {
        const int Trials = 100;
        const int Seed = 7;
        var rng = new Random(Seed);
        string path = Path.Combine(_dir, "r.b2nd");
        long[] shape = [24, 24, 24];
        using (B2ndArray.Create(path, shape, DType.Int32, new B2ndWriteOptions { ChunkShape = [8, 8, 8], BlockShape = [4, 4, 4] }))
        {
        }
        var model = new int[24 * 24 * 24];
        long k = 1; // next write number
        int before = 0, after = 0, tornTail = 0;
        for (int trial = 0; trial < Trials; trial++)
        {
            var done = RunAndKill(["rplus", path, Seed.ToString(CultureInfo.InvariantCulture), k.ToString(CultureInfo.InvariantCulture)], rng.Next(0, 25));
            var numbers = done.Select(d => long.Parse(d[0], CultureInfo.InvariantCulture)).ToList();
            Assert.True(numbers[0] == k, $"trial {trial}: the child started at {numbers[0]} instead of {k}");
            foreach (long d in numbers)
                Apply(model, shape, FaultChild.Box(Seed, d, shape), (int)d);
            k += done.Count;
            // bytes appended after the frame = killed between appending chunks/index/trailer and switching the header
            byte[] head = new byte[24];
            using (var fs = File.OpenRead(path))
            {
                fs.ReadExactly(head);
                if (fs.Length > BinaryPrimitives.ReadInt64BigEndian(head.AsSpan(16))) tornTail++;
            }
            int[] disk;
            using (var a = B2ndArray.Open(path))
                disk = a.ToArray<int>();
            if (disk.AsSpan().SequenceEqual(model))
            {
                before++;
                continue;
            }
            // otherwise the write k completed (its "done" line was lost with the kill): the file must be exactly that state
            Apply(model, shape, FaultChild.Box(Seed, k, shape), (int)k);
            Assert.True(disk.AsSpan().SequenceEqual(model), $"trial {trial}: the file is neither the state after write {k - 1} nor after write {k}: "
                + $"{disk.Zip(model).Count(p => p.First != p.Second)} values differ; on disk there: "
                + string.Join(",", disk.Zip(model).Where(p => p.First != p.Second).Select(p => $"{p.First}/{p.Second}").Distinct().Take(12))
                + $"; children reported {string.Join(",", numbers)}");
            k++;
            after++;
        }
        log.WriteLine($"{Trials} kills during r+ writes: {k - 1} writes in total; file equal to the last reported state after {before}, "
            + $"to the state after one more (unreported) write after {after}; appended bytes beyond the frame (killed before the header switch) after {tornTail}; "
            + $"final file {new FileInfo(path).Length} bytes");
        Assert.True(k - 1 >= Trials, "the children wrote too little to exercise the kill points");
    }

    private static void Apply(int[] model, long[] shape, NdIndex[] box, int value)
    {
        long z0 = box[0].Start!.Value, z1 = box[0].Stop!.Value, y0 = box[1].Start!.Value, y1 = box[1].Stop!.Value;
        long x0 = box[2].Start!.Value, x1 = box[2].Stop!.Value;
        for (long z = z0; z < z1; z++)
            for (long y = y0; y < y1; y++)
                model.AsSpan((int)((z * shape[1] + y) * shape[2] + x0), (int)(x1 - x0)).Fill(value);
    }
}
