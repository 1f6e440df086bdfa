namespace MLArray.Blosc2.Tests.Faults;

/// <summary>
/// A writer killed mid-write leaves its <c>.NAME.GUID.tmp</c> beside the target; the next <see cref="AtomicFile"/>
/// write of the same target removes it, and nothing else: not the temporary files of other targets in the folder, not
/// files that merely look similar, not a file written to in the last <see cref="AtomicFile.StaleAfter"/>, and not the
/// temporary file of a live writer of the same target. (The kill itself is exercised with a real SIGKILLed child in
/// tests/MLArray.Cli.Tests/Faults/KillTests.cs.)
/// </summary>
public sealed class StaleTempFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-stale-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    /// <summary>A leftover temporary file of <paramref name="target"/> (or just a file named <paramref name="name"/>), last written an hour ago.</summary>
    private string Leftover(string name, bool old = true)
    {
        string path = P(name);
        File.WriteAllBytes(path, new byte[100]);
        if (old) File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddHours(-1));
        return path;
    }

    private static string Guid32() => Guid.NewGuid().ToString("N");

    private string[] TempFiles() => Directory.GetFiles(_dir, ".*.tmp").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    [Fact]
    public void NextWrite_RemovesStaleTempFilesOfItsTarget_Only()
    {
        string target = P("t.mla");
        File.WriteAllText(target, "old");
        string stale1 = Leftover($".t.mla.{Guid32()}.tmp");
        string stale2 = Leftover($".t.mla.{Guid32()}.tmp");
        string fresh = Leftover($".t.mla.{Guid32()}.tmp", old: false);       // maybe a writer between create and lock
        string otherTarget = Leftover($".u.mla.{Guid32()}.tmp");             // another target in the same folder
        string longerName = Leftover($".t.mla.x.{Guid32()}.tmp");            // temp of target "t.mla.x"
        string prefix = Leftover($".t.ml.{Guid32()}.tmp");                   // temp of target "t.ml"
        string notHex = Leftover($".t.mla.{Guid32()[..31]}z.tmp");
        string shortGuid = Leftover($".t.mla.{Guid32()[..31]}.tmp");
        string upper = Leftover($".t.mla.{Guid32().ToUpperInvariant().Replace('0', 'A')}.tmp");
        string bak = Leftover($".t.mla.{Guid32()}.tmp.bak");
        string noDot = Leftover($"t.mla.{Guid32()}.tmp");

        AtomicFile.Write(target, s => s.Write("new"u8));

        Assert.Equal("new", File.ReadAllText(target));
        Assert.False(File.Exists(stale1));
        Assert.False(File.Exists(stale2));
        foreach (string kept in new[] { fresh, otherTarget, longerName, prefix, notHex, shortGuid, upper, bak, noDot })
            Assert.True(File.Exists(kept), $"{Path.GetFileName(kept)} was removed");
    }

    [Fact]
    public void TheTempFileOfALiveWriter_OfTheSameTarget_IsKept_EvenWhenOld()
    {
        string target = P("t.mla");
        File.WriteAllText(target, "old");
        using (var live = AtomicFile.Begin(target))
        {
            live.Stream.Write("from the live writer"u8);
            live.Stream.Flush();
            File.SetLastWriteTimeUtc(live.TempPath, DateTime.UtcNow.AddHours(-1)); // a writer that has been quiet for an hour
            string stale = Leftover($".t.mla.{Guid32()}.tmp");

            AtomicFile.Write(target, s => s.Write("second writer"u8)); // a concurrent writer of the same target

            Assert.True(File.Exists(live.TempPath), "the live writer's temporary file was removed");
            Assert.False(File.Exists(stale));
            Assert.Equal("second writer", File.ReadAllText(target));
            live.Commit(); // the live writer still completes (last one wins, as with any two replacements)
        }
        Assert.Equal("from the live writer", File.ReadAllText(target));
        Assert.Empty(TempFiles());
    }

    [Fact]
    public void WritersOfDifferentTargets_InOneFolder_DoNotTouchEachOther()
    {
        using var a = AtomicFile.Begin(P("a.mla"));
        using var b = AtomicFile.Begin(P("b.mla"));
        a.Stream.Write("a"u8);
        File.SetLastWriteTimeUtc(a.TempPath, DateTime.UtcNow.AddHours(-1));
        string staleOfA = Leftover($".a.mla.{Guid32()}.tmp");
        b.Stream.Write("b"u8);
        AtomicFile.Write(P("b.mla"), s => s.Write("b2"u8)); // cleans b's stale files only
        Assert.True(File.Exists(staleOfA));
        Assert.True(File.Exists(a.TempPath));
        Assert.True(File.Exists(b.TempPath));
        a.Commit();
        b.Commit();
        Assert.Equal("a", File.ReadAllText(P("a.mla")));
        Assert.Equal("b", File.ReadAllText(P("b.mla")));
        AtomicFile.Write(P("a.mla"), s => s.Write("a2"u8));
        Assert.False(File.Exists(staleOfA));
        Assert.Empty(TempFiles());
    }

    [Fact]
    public void TargetNamesWithWildcardCharacters_AreMatchedExactly()
    {
        string target = P("scan*[1]?.mla");
        string stale = Leftover($".scan*[1]?.mla.{Guid32()}.tmp");
        string similar = Leftover($".scanX[1]Y.mla.{Guid32()}.tmp");
        string similar2 = Leftover($".scan*[1]?.mlb.{Guid32()}.tmp");
        AtomicFile.Write(target, s => s.Write("x"u8));
        Assert.False(File.Exists(stale));
        Assert.True(File.Exists(similar));
        Assert.True(File.Exists(similar2));
    }

    [Fact]
    public void IsTempNameOf_AcceptsExactlyThePattern()
    {
        string g = Guid32();
        Assert.True(AtomicFile.IsTempNameOf($".t.mla.{g}.tmp", "t.mla"));
        Assert.True(AtomicFile.IsTempNameOf(Path.GetFileName(AtomicFile.TempPathFor(P("t.mla"))), "t.mla"));
        Assert.False(AtomicFile.IsTempNameOf($".t.mla.{g}.tmp", "t.ml"));
        Assert.False(AtomicFile.IsTempNameOf($".t.mla.{g}.tmp", "t.mla.x"));
        Assert.False(AtomicFile.IsTempNameOf($".t.mla.{g}.tmq", "t.mla"));
        Assert.False(AtomicFile.IsTempNameOf($"_t.mla.{g}.tmp", "t.mla"));
        Assert.False(AtomicFile.IsTempNameOf($".t.mla_{g}.tmp", "t.mla"));
        Assert.False(AtomicFile.IsTempNameOf($".t.mla.{g.ToUpperInvariant().Replace('0', 'A')}.tmp", "t.mla"));
        Assert.False(AtomicFile.IsTempNameOf($".t.mla.{g[..31]}g.tmp", "t.mla"));
    }
}
