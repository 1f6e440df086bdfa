using MLArray.Tests.Faults;

namespace MLArray.Blosc2.Tests.Faults;

/// <summary>
/// Every whole-file writer of the engine goes through <see cref="AtomicFile"/>; a write that fails after N bytes (for
/// many N over the whole output), a failing flush and a failing rename must leave the target byte-identical and no
/// temporary file behind, and surface an <see cref="IOException"/> that says what happened.
/// </summary>
public sealed class AtomicWriteFaultTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-faults-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private static byte[] Ramp(int n, int seed)
    {
        var data = new byte[n * 4];
        var f = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(data.AsSpan());
        for (int i = 0; i < n; i++) f[i] = (i % 97) * 0.25f + seed;
        return data;
    }

    private static readonly B2ndWriteOptions Small = new() { ChunkShape = [8, 16, 16], BlockShape = [4, 8, 8] };

    private static void NoMessageCheck(string message) => Assert.False(string.IsNullOrWhiteSpace(message));

    [Fact]
    public void B2ndWriter_Write_replaces_atomically_under_every_fault()
    {
        string target = P("a.b2nd");
        long[] shape = [16, 32, 32];
        B2ndWriter.Write(target, Ramp(16 * 32 * 32, 0), shape, DType.Float32, Small);
        byte[] next = Ramp(16 * 32 * 32, 7);
        int tried = FaultHarness.Run(target,
            steps => B2ndWriter.Write(target, next, shape, DType.Float32, Small, steps),
            path =>
            {
                using var a = B2ndArray.Open(path);
                Assert.Equal(next, a.ReadBytes());
            },
            NoMessageCheck);
        Assert.True(tried >= 100, $"only {tried} failure points");
    }

    [Fact]
    public void B2ndArray_Save_replaces_atomically_under_every_fault()
    {
        string source = P("src.b2nd"), target = P("dst.b2nd");
        long[] shape = [16, 32, 32];
        B2ndWriter.Write(source, Ramp(16 * 32 * 32, 3), shape, DType.Float32, Small);
        B2ndWriter.Write(target, Ramp(16 * 32 * 32, 0), shape, DType.Float32, Small);
        using var src = B2ndArray.Open(source);
        byte[] expected = src.ReadBytes();
        var vl = new Dictionary<string, byte[]?> { ["note"] = "saved"u8.ToArray() };
        FaultHarness.Run(target,
            steps => src.Save(target, vl, steps),
            path =>
            {
                using var a = B2ndArray.Open(path);
                Assert.Equal(expected, a.ReadBytes());
                Assert.Equal("saved"u8.ToArray(), a.GetVlMeta("note"));
            },
            NoMessageCheck);
    }

    [Fact]
    public void RewriteVlMeta_in_place_keeps_the_file_under_every_fault()
    {
        string target = P("m.b2nd");
        long[] shape = [16, 32, 32];
        byte[] data = Ramp(16 * 32 * 32, 1);
        B2ndWriter.Write(target, data, shape, DType.Float32, Small with { VlMeta = [new("mlarray", "old"u8.ToArray())] });
        FaultHarness.Run(target,
            steps => B2ndFrameEditor.RewriteVlMeta(target, target, new Dictionary<string, byte[]?> { ["mlarray"] = "a new, longer value"u8.ToArray() }, steps),
            path =>
            {
                using var a = B2ndArray.Open(path);
                Assert.Equal(data, a.ReadBytes());
                Assert.Equal("a new, longer value"u8.ToArray(), a.GetVlMeta("mlarray"));
            },
            NoMessageCheck);
    }

    [Fact]
    public void Flush_and_rename_failures_say_that_the_existing_file_is_unchanged()
    {
        string target = P("x.b2nd");
        File.WriteAllBytes(target, [1, 2, 3]);
        var flush = Assert.Throws<IOException>(() => AtomicFile.Write(target, s => s.Write([4, 5]), new FaultySteps { FailFlush = true }));
        Assert.Contains($"could not write '{target}'", flush.Message, StringComparison.Ordinal);
        Assert.Contains("the existing file is unchanged", flush.Message, StringComparison.Ordinal);
        Assert.IsType<IOException>(flush.InnerException);
        var rename = Assert.Throws<IOException>(() => AtomicFile.Write(target, s => s.Write([4, 5]), new FaultySteps { FailRename = true }));
        Assert.Contains($"could not replace '{target}'", rename.Message, StringComparison.Ordinal);
        Assert.Contains("not open in another program", rename.Message, StringComparison.Ordinal);
        Assert.IsType<UnauthorizedAccessException>(rename.InnerException);
        Assert.Equal([1, 2, 3], File.ReadAllBytes(target));
        Assert.Equal([target], Directory.GetFiles(_dir));
    }

    [Fact]
    public void A_full_disk_names_the_target_and_says_nothing_was_replaced()
    {
        string target = P("x.b2nd");
        File.WriteAllBytes(target, [1, 2, 3]);
        var e = Assert.Throws<IOException>(() => AtomicFile.Write(target, s => s.Write(new byte[1000]), new FaultySteps { FailAfterBytes = 100 }));
        Assert.Equal($"could not write '{target}': No space left on device; nothing was replaced (an existing file keeps its content). Check the free space and the folder.", e.Message);
        Assert.Equal(28, e.InnerException!.HResult);
        var seek = Assert.Throws<IOException>(() => AtomicFile.Write(target, s => { s.Write(new byte[10]); s.Position = 0; }, new FaultySteps { FailSeek = true }));
        Assert.Equal(e.Message, seek.Message); // a buffered stream writes its buffer out when it seeks (seen on a full tmpfs)
        Assert.Equal([1, 2, 3], File.ReadAllBytes(target));
        Assert.Equal([target], Directory.GetFiles(_dir));
    }

    [Fact]
    public void A_write_to_a_new_path_that_fails_leaves_nothing()
    {
        string target = P("new.b2nd");
        var steps = new FaultySteps { FailAfterBytes = 100 };
        Assert.Throws<IOException>(() => B2ndWriter.Write(target, Ramp(16 * 32 * 32, 0), [16, 32, 32], DType.Float32, Small, steps));
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void Writing_onto_a_folder_or_into_a_missing_folder_is_refused_with_a_clear_error()
    {
        var e = Assert.Throws<IOException>(() => AtomicFile.Write(_dir, s => s.WriteByte(1)));
        Assert.Contains("is a folder", e.Message, StringComparison.Ordinal);
        var d = Assert.Throws<DirectoryNotFoundException>(() => AtomicFile.Write(P("missing/x.b2nd"), s => s.WriteByte(1)));
        Assert.Contains("does not exist", d.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }
}
