using MLArray.Blosc2.Format;

namespace MLArray.Blosc2.Tests.VlMeta;

public sealed class VlMetaTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-vlmeta-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // msgpack bin8 of the given bytes, as python-blosc2 stores a `bytes` value.
    private static byte[] Bin(params byte[] payload) => [0xC4, (byte)payload.Length, .. payload];

    [Fact]
    public void Corpus_mlarray_entry_is_the_manifest_payload_packed_as_msgpack_bin()
    {
        using var a = B2ndArray.Open(TestData.Blosc2("mlarray_small_f4_3d.mla"));
        byte[] content = a.GetVlMeta("mlarray")!;
        byte[] payload = File.ReadAllBytes(TestData.Blosc2("mlarray_meta.bin"));
        // bin16: 0xC5, BE length, payload
        Assert.Equal(0xC5, content[0]);
        Assert.Equal(payload.Length, (content[1] << 8) | content[2]);
        Assert.Equal(payload, content[3..]);
        Assert.Equal(531, a.GetVlMetaStoredSize("mlarray"));
    }

    [Fact]
    public void Add_replace_delete_keep_chunks_byte_identical()
    {
        string src = TestData.Blosc2("mlarray_small_f4_3d.mla");
        string dst = Path.Combine(_dir, "edited.mla");
        byte[] original = File.ReadAllBytes(src);
        var big = Enumerable.Range(0, 5000).Select(i => (byte)(i % 7)).ToArray();
        B2ndFrameEditor.RewriteVlMeta(src, dst, new Dictionary<string, byte[]?>
        {
            ["extra"] = Bin(1, 2, 3),
            ["big"] = [0xC5, 0x13, 0x88, .. big],
        });
        using (var a = B2ndArray.Open(dst))
        {
            Assert.Equal(["mlarray", "extra", "big"], a.VlMetaNames);
            Assert.Equal(Bin(1, 2, 3), a.GetVlMeta("extra"));
            Assert.Equal(big, a.GetVlMeta("big")![3..]);
            using var o = B2ndArray.Open(src);
            Assert.Equal(o.GetVlMeta("mlarray"), a.GetVlMeta("mlarray"));
            Assert.Equal(o.ReadBytes(), a.ReadBytes());
            // header + chunks + index are copied byte for byte
            long trailer = o.Frame.TrailerOffset;
            var edited = File.ReadAllBytes(dst);
            Assert.True(edited.AsSpan(FrameReader.MinHeaderLength, (int)trailer - FrameReader.MinHeaderLength)
                .SequenceEqual(original.AsSpan(FrameReader.MinHeaderLength, (int)trailer - FrameReader.MinHeaderLength)));
        }
        // replace and delete, in place
        B2ndFrameEditor.RewriteVlMeta(dst, dst, new Dictionary<string, byte[]?> { ["extra"] = Bin(9), ["mlarray"] = null });
        using (var a = B2ndArray.Open(dst))
        {
            Assert.Equal(["extra", "big"], a.VlMetaNames);
            Assert.Equal(Bin(9), a.GetVlMeta("extra"));
        }
        // delete everything: has_vlmeta flag goes false
        B2ndFrameEditor.RewriteVlMeta(dst, dst, new Dictionary<string, byte[]?> { ["extra"] = null, ["big"] = null });
        using (var a = B2ndArray.Open(dst))
            Assert.Empty(a.VlMetaNames);
        Assert.Equal(0xC2, File.ReadAllBytes(dst)[68]);
        Assert.Single(Directory.GetFiles(_dir));
    }

    [Fact]
    public void New_file_with_vlmeta_stores_values_like_python_blosc2()
    {
        var data = new byte[4 * 10 * 10];
        new Random(3).NextBytes(data);
        var frame = B2ndWriter.WriteToArray(data, [10, 10], DType.Float32, new B2ndWriteOptions
        {
            VlMeta = [new("mlarray", Bin(5, 6, 7))],
        });
        using var a = B2ndArray.Open(frame, "mem");
        Assert.Equal(Bin(5, 6, 7), a.GetVlMeta("mlarray"));
        Assert.Equal(0xC3, frame[68]);
        // vlmeta chunk: typesize 1, codec ZSTD recorded in the header (udcodec byte)
        var entry = a.Frame.VlMetalayers.Single();
        var chunk = a.Frame.RawVlMeta(entry);
        Assert.Equal(1, chunk[3]);
        Assert.Equal((byte)Blosc2Codec.Zstd, chunk[22]);
    }

    [Fact]
    public void Invalid_names_are_refused()
    {
        string src = TestData.Blosc2("mlarray_small_f4_3d.mla");
        string dst = Path.Combine(_dir, "x.mla");
        var e = Assert.Throws<ArgumentException>(() => B2ndFrameEditor.RewriteVlMeta(src, dst, new Dictionary<string, byte[]?> { [new string('n', 40)] = Bin(1) }));
        Assert.Contains("31 bytes", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(dst));
    }

    [Fact]
    public void Failed_rewrite_leaves_destination_untouched_and_no_temp_files()
    {
        string dst = Path.Combine(_dir, "target.mla");
        File.WriteAllBytes(dst, [1, 2, 3]);
        string bad = Path.Combine(_dir, "bad.mla");
        File.WriteAllBytes(bad, new byte[100]);
        Assert.Throws<MLArrayFormatException>(() => B2ndFrameEditor.RewriteVlMeta(bad, dst, new Dictionary<string, byte[]?>()));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(dst));
        Assert.Equal(2, Directory.GetFiles(_dir).Length);
    }
}
