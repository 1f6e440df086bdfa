using System.Buffers.Binary;
using MLArray.Blosc2;
using MLArray.Blosc2.Format;
using MLArray.TestSupport;

namespace MLArray.Tests.Api;

/// <summary>
/// Saving keeps what nobody changed byte for byte: a file loaded (or opened) and saved unchanged is the same file,
/// whichever library wrote it (the Python reference's corpus, C-Blosc2's own frames in every dtype); a metadata change
/// rewrites only the trailer (header lengths aside); a data write rebuilds the frame compactly.
/// </summary>
public sealed class ByteExactSaveTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-exact-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> ReadableCorpus => MlaCorpus.Files("valid");

    public static TheoryData<string> CBlosc2Frames()
    {
        var d = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(CBlosc2Dir, "*.b2nd").Order(StringComparer.Ordinal))
            d.Add(Path.GetFileName(f));
        return d;
    }

    private static string CBlosc2Dir => Path.Combine(Path.GetDirectoryName(MlaCorpus.Dir)!, "blosc2-dtypes");

    private string Copy(string source)
    {
        string path = Path.Combine(_dir, Path.GetFileNameWithoutExtension(source) + ".mla");
        File.Copy(source, path, overwrite: true);
        return path;
    }

    [Theory]
    [MemberData(nameof(ReadableCorpus))]
    public void Python_written_files_loaded_or_opened_and_saved_unchanged_are_the_same_bytes(string file)
    {
        string src = Copy(MlaCorpus.PathOf(file));
        string loaded = Path.Combine(_dir, "loaded.mla"), opened = Path.Combine(_dir, "opened.mla");
        using (var img = MLArrayFile.Load(src))
            img.Save(loaded);
        using (var img = MLArrayFile.Open(src))
            img.Save(opened);
        byte[] original = File.ReadAllBytes(src);
        Assert.Equal(original, File.ReadAllBytes(loaded));
        Assert.Equal(original, File.ReadAllBytes(opened));
    }

    [Theory]
    [MemberData(nameof(CBlosc2Frames))]
    public void CBlosc2_frames_of_every_dtype_loaded_and_saved_unchanged_are_the_same_bytes(string file)
    {
        string src = Copy(Path.Combine(CBlosc2Dir, file));
        string saved = Path.Combine(_dir, "saved.mla");
        using (var img = MLArrayFile.Load(src))
            img.Save(saved);
        Assert.Equal(File.ReadAllBytes(src), File.ReadAllBytes(saved));
    }

    [Theory]
    [InlineData("be_i2_lz4_shuffle.b2nd")]
    [InlineData("struct_f4_i2_zstd_shuffle.b2nd")]
    public void A_metadata_change_rewrites_only_the_trailer_and_adds_the_mlarray_entry(string file)
    {
        string src = Copy(Path.Combine(CBlosc2Dir, file));
        string saved = Path.Combine(_dir, "saved.mla");
        long trailer;
        using (var b = B2ndArray.Open(src))
        {
            trailer = b.Frame.TrailerOffset;
            Assert.DoesNotContain("mlarray", b.VlMetaNames);
        }
        using (var img = MLArrayFile.Load(src))
        {
            img.Spacing = Enumerable.Repeat(0.5, img.NDim).ToArray();
            img.Save(saved);
        }
        byte[] a = File.ReadAllBytes(src), b2 = File.ReadAllBytes(saved);
        // Everything before the trailer is the same, except the frame length (8 bytes at 16) and the has-vlmeta flag.
        var before = a.AsSpan(0, (int)trailer).ToArray();
        var after = b2.AsSpan(0, (int)trailer).ToArray();
        Assert.Equal(b2.Length, BinaryPrimitives.ReadInt64BigEndian(after.AsSpan(FrameLayout.OffsetFrameLen, 8)));
        Assert.Equal(0xC3, after[FrameLayout.OffsetHasVlMeta]);
        for (int i = FrameLayout.OffsetFrameLen; i < FrameLayout.OffsetFrameLen + 8; i++) before[i] = after[i] = 0;
        before[FrameLayout.OffsetHasVlMeta] = after[FrameLayout.OffsetHasVlMeta] = 0;
        Assert.Equal(before, after);
        using var back = MLArrayFile.Open(saved);
        Assert.All(back.Spacing!, s => Assert.Equal(0.5, s));
        using var orig = B2ndArray.Open(src);
        using var savedArray = B2ndArray.Open(saved);
        Assert.Equal(orig.ReadBytes(), savedArray.ReadBytes());
    }

    [Fact]
    public void A_data_write_rebuilds_the_frame_and_the_saved_file_holds_the_new_values()
    {
        string src = Copy(Path.Combine(CBlosc2Dir, "be_i2_lz4_shuffle.b2nd"));
        string saved = Path.Combine(_dir, "saved.mla");
        short[] expected;
        using (var img = MLArrayFile.Load(src))
        {
            expected = img.ToArray<short>();
            Array.Fill(expected, (short)-7, 0, (int)(expected.Length / img.Shape[0]));
            img.Write([NdIndex.At(0)], expected.AsSpan(0, (int)(expected.Length / img.Shape[0])));
            img.Save(saved);
        }
        Assert.NotEqual(File.ReadAllBytes(src), File.ReadAllBytes(saved));
        using var back = MLArrayFile.Open(saved);
        Assert.Equal(">i2", back.DType.Name);
        Assert.Equal(expected, back.ToArray<short>());
    }
}
