using System.Security.Cryptography;

namespace MLArray.Blosc2.Tests.Slicing;

public sealed class WriteAndModeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-write-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string CopyOfCorpus(string file)
    {
        string p = Path.Combine(_dir, file);
        File.Copy(TestData.Blosc2(file), p, overwrite: true);
        return p;
    }

    [Theory]
    [InlineData("f4_3d_lz4_shuffle.mla")]
    [InlineData("f4_3d_zstd_delta-shuffle.mla")]
    [InlineData("f8_4d_blosclz_bitshuffle.mla")]
    [InlineData("u1_1d_lz4hc_noshuffle.mla")]
    [InlineData("f4_2d_special_zeros.mla")]
    [InlineData("mlarray_small_f4_3d.mla")]
    public void Random_box_writes_match_the_same_edit_on_an_in_memory_copy(string file)
    {
        string path = CopyOfCorpus(file);
        var rng = new Random(file.GetHashCode(StringComparison.Ordinal));
        byte[] model;
        long[] shape;
        int itemSize;
        using (var a = B2ndArray.Open(path, B2ndOpenMode.ReadWrite))
        {
            model = a.ReadBytes();
            shape = a.Shape;
            itemSize = a.DType.ItemSize;
            var vlBefore = a.GetVlMeta("mlarray");
            for (int w = 0; w < 12; w++)
            {
                var sel = NaiveSlice.RandomSelection(rng, shape);
                long count = NaiveSlice.Normalize(shape, sel).Aggregate(1L, (acc, x) => acc * x.Count);
                var values = new byte[count * itemSize];
                rng.NextBytes(values);
                if (itemSize == 1 && file.Contains("b1", StringComparison.Ordinal))
                    for (int i = 0; i < values.Length; i++) values[i] &= 1;
                a.Write(sel, values, threads: rng.Next(1, 3));
                NaiveSlice.Write(model, shape, itemSize, sel, values);
                Assert.Equal(model, a.ReadBytes());
                // the file on disk is a complete, valid frame after every write
                using var reopened = B2ndArray.Open(path);
                Assert.Equal(model, reopened.ReadBytes());
                Assert.Equal(vlBefore, reopened.GetVlMeta("mlarray"));
            }
        }
        using var final = B2ndArray.Open(path);
        Assert.Equal(model, final.ReadBytes());
    }

    [Fact]
    public void Read_mode_refuses_writes_with_a_clear_error()
    {
        using var a = B2ndArray.Open(TestData.Blosc2("f4_3d_lz4_shuffle.mla"));
        var e = Assert.Throws<InvalidOperationException>(() => a.Write([NdIndex.At(0), NdIndex.At(0), NdIndex.At(0)], new byte[4]));
        Assert.Contains("read-only", e.Message, StringComparison.Ordinal);
        Assert.Contains("ReadWrite", e.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => a.SetVlMeta("x", [0xC0]));
    }

    [Fact]
    public void Copy_on_write_changes_are_visible_but_never_reach_the_file()
    {
        string path = CopyOfCorpus("f4_3d_lz4_shuffle.mla");
        byte[] before = File.ReadAllBytes(path);
        using (var a = B2ndArray.Open(path, B2ndOpenMode.CopyOnWrite))
        {
            var ones = Enumerable.Repeat(1f, 5 * 5 * 5).ToArray();
            a.Write([2..7, 3..8, 4..9], System.Runtime.InteropServices.MemoryMarshal.AsBytes(ones.AsSpan()));
            Assert.Equal(ones, a.Read<float>(2..7, 3..8, 4..9));
            a.SetVlMeta("note", [0xA2, (byte)'h', (byte)'i']);
            Assert.Equal([0xA2, (byte)'h', (byte)'i'], a.GetVlMeta("note"));
        }
        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Fact]
    public void Create_starts_with_zero_chunks_and_is_filled_by_slice_writes()
    {
        string path = Path.Combine(_dir, "new.mla");
        File.WriteAllText(path, "old content is replaced");
        var shape = new long[] { 30, 20, 25 };
        var expected = new float[30 * 20 * 25];
        using (var a = B2ndArray.Create(path, shape, DType.Float32, new B2ndWriteOptions
        {
            ChunkShape = [16, 16, 16],
            BlockShape = [8, 8, 8],
            Compression = new CompressionParams { Codec = Blosc2Codec.LZ4HC, CLevel = 8 },
            VlMeta = [new("mlarray", [0xC4, 1, 42])],
        }))
        {
            Assert.Equal(B2ndOpenMode.ReadWrite, a.Mode);
            Assert.All(Enumerable.Range(0, (int)a.NChunks), c => Assert.Equal(ChunkKind.Zeros, a.GetChunkInfo(c).Kind));
            Assert.Equal(expected, a.ToArray<float>());
            // fill slab by slab, as a streaming converter would
            for (int z = 0; z < 30; z++)
            {
                var slab = Enumerable.Range(0, 20 * 25).Select(i => (float)(z * 1000 + i)).ToArray();
                a.Write([z], System.Runtime.InteropServices.MemoryMarshal.AsBytes(slab.AsSpan()));
                slab.CopyTo(expected, z * 500);
            }
            Assert.Equal(expected, a.ToArray<float>());
        }
        using var r = B2ndArray.Open(path);
        Assert.Equal(expected, r.ToArray<float>());
        Assert.Equal([0xC4, 1, 42], r.GetVlMeta("mlarray"));
        Assert.Equal(Blosc2Codec.LZ4HC, r.Codec);
        Assert.Equal(ChunkKind.Regular, r.GetChunkInfo(0).Kind);
    }

    [Fact]
    public void Writing_zeros_turns_chunks_into_special_zero_chunks()
    {
        string path = CopyOfCorpus("f4_3d_lz4_shuffle.mla");
        using var a = B2ndArray.Open(path, B2ndOpenMode.ReadWrite);
        a.Write(new byte[a.NBytes]);
        Assert.All(Enumerable.Range(0, (int)a.NChunks), c => Assert.Equal(ChunkKind.Zeros, a.GetChunkInfo(c).Kind));
        Assert.All(a.ToArray<float>(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void ReadWrite_vlmeta_changes_persist()
    {
        string path = CopyOfCorpus("mlarray_small_f4_3d.mla");
        var data = B2ndArray.Open(TestData.Blosc2("mlarray_small_f4_3d.mla")).ReadBytes();
        using (var a = B2ndArray.Open(path, B2ndOpenMode.ReadWrite))
        {
            a.SetVlMeta("extra", [0x93, 1, 2, 3]);
            a.DeleteVlMeta("mlarray");
        }
        using var r = B2ndArray.Open(path);
        Assert.Equal(["extra"], r.VlMetaNames);
        Assert.Equal([0x93, 1, 2, 3], r.GetVlMeta("extra"));
        Assert.Equal(data, r.ReadBytes());
    }

    [Fact]
    public void Wrong_buffers_and_use_after_dispose_give_specific_errors()
    {
        string path = CopyOfCorpus("f4_3d_lz4_shuffle.mla");
        var a = B2ndArray.Open(path, B2ndOpenMode.ReadWrite);
        Assert.Throws<ArgumentException>(() => a.Write([0], new byte[7]));
        Assert.Throws<ArgumentOutOfRangeException>(() => a.Write([100], new byte[30 * 21 * 4]));
        Assert.Throws<ArgumentException>(() => a.Read<short>(0));
        a.Dispose();
        Assert.Throws<ObjectDisposedException>(() => a.ReadBytes());
        Assert.Throws<ObjectDisposedException>(() => a.Write([0], new byte[30 * 21 * 4]));
        // disposed: the file can be replaced and deleted
        File.WriteAllBytes(path, [1]);
        File.Delete(path);
    }

    [Fact]
    public void Failed_write_leaves_a_frame_that_still_opens_with_the_old_content()
    {
        string path = CopyOfCorpus("f4_3d_lz4_shuffle.mla");
        byte[] original;
        using (var a = B2ndArray.Open(path))
            original = a.ReadBytes();
        // Simulate a crash after new chunks were appended but before the header switch: append garbage past the end.
        using (var fs = new FileStream(path, FileMode.Append))
            fs.Write(RandomNumberGenerator.GetBytes(5000));
        using var r = B2ndArray.Open(path);
        Assert.Equal(original, r.ReadBytes());
    }
}
