namespace MLArray.Blosc2.Tests.Slicing;

/// <summary>
/// Allocation counts of the read paths (deterministic, unlike time): reading patches into a caller's buffer allocates
/// nothing once the pooled decode state exists; the array-returning read allocates its result only.
/// </summary>
public sealed class AllocationTests
{
    private static NdIndex[][] Patches(long[] shape, int edge, int count, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count)
            .Select(_ => shape.Select(n => { long s = rng.NextInt64(0, n - Math.Min(n, edge) + 1); return NdIndex.Slice(s, s + Math.Min(n, edge)); }).ToArray())
            .ToArray();
    }

    [Theory]
    [InlineData("mlarray_big_f4_volume_lz4hc8.mla", 64)] // LZ4HC + shuffle: the fused unshuffle path
    [InlineData("f4_3d_lz4_delta-shuffle.mla", 5)] // delta + shuffle: the block-buffer path
    [InlineData("f4_2d_special_nans.mla", 7)] // special chunks
    [InlineData("f4_3d_zstd_shuffle.mla", 5)] // ZSTD: one pooled decompression context per decode context
    [InlineData("f4_3d_zstd_bitshuffle.mla", 5)]
    [InlineData("f4_3d_blosclz_shuffle.mla", 5)] // our BloscLZ decoder
    public void Span_reads_of_patches_allocate_nothing_in_steady_state(string file, int edge)
    {
        using var a = B2ndArray.Open(TestData.Blosc2(file));
        var patches = Patches(a.Shape, edge, 30, seed: 7);
        var buffer = new byte[patches[0].Select(i => i.Stop!.Value - i.Start!.Value).Aggregate(1L, (x, y) => x * y) * a.DType.ItemSize];
        foreach (var p in patches)
            a.Read(p, buffer);
        long before = GC.GetAllocatedBytesForCurrentThread();
        foreach (var p in patches)
            a.Read(p, buffer);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }

    /// <summary>
    /// ZLIB is the one codec whose span reads allocate: .NET 10 offers inflate only as a stream (a new ZLibStream and its
    /// native inflater per compressed block; no reusable decoder), so each decoded block costs a few hundred bytes of
    /// short-lived objects. The bound here is per block, whatever the patch (docs/limits.md).
    /// </summary>
    [Theory]
    [InlineData("f4_3d_zlib_shuffle.mla")]
    [InlineData("i2_2d_zlib_bitshuffle.mla")]
    public void Zlib_span_reads_allocate_a_bounded_amount_per_block(string file)
    {
        using var a = B2ndArray.Open(TestData.Blosc2(file));
        var buffer = new byte[a.NBytes];
        a.Read(buffer, 1);
        long before = GC.GetAllocatedBytesForCurrentThread();
        a.Read(buffer, 1);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long blocksPerChunk = a.ChunkShape.Zip(a.BlockShape, (c, b) => (long)((c + b - 1) / b)).Aggregate(1L, (x, y) => x * y);
        long blocks = a.NChunks * blocksPerChunk;
        Assert.True(allocated > 0, "ZLIB reads allocate (a stream per block); if this fails, the limitation is gone: update docs/limits.md and the theory above");
        Assert.True(allocated <= blocks * 1024, $"{allocated} B for {blocks} blocks: more than 1 KiB per block");
    }

    [Fact]
    public void Array_returning_reads_allocate_only_their_result()
    {
        using var a = B2ndArray.Open(TestData.Blosc2("mlarray_big_f4_volume_lz4hc8.mla"));
        var patches = Patches(a.Shape, 64, 20, seed: 9);
        foreach (var p in patches)
            _ = a.Read<float>(p);
        long before = GC.GetAllocatedBytesForCurrentThread();
        foreach (var p in patches)
            _ = a.Read<float>(p);
        long perPatch = (GC.GetAllocatedBytesForCurrentThread() - before) / patches.Length;
        long result = 64L * 64 * 64 * sizeof(float);
        Assert.InRange(perPatch, result, result + 64); // the array and its object header
    }
}

/// <summary>0-d arrays (scalars) read through every filter pipeline (the fused unshuffle path needs an axis).</summary>
public sealed class ScalarReadTests
{
    [Theory]
    [InlineData(Blosc2Filter.Shuffle)]
    [InlineData(Blosc2Filter.BitShuffle)]
    [InlineData(Blosc2Filter.None)]
    public void A_scalar_reads_back_its_value(Blosc2Filter filter)
    {
        var value = BitConverter.GetBytes(-1234567890123L);
        var frame = B2ndWriter.WriteToArray(value, [], DType.Int64, new B2ndWriteOptions
        {
            Compression = new CompressionParams { Codec = Blosc2Codec.Zstd, CLevel = 5, Filters = CompressionParams.Pipeline(filter) },
        });
        using var a = B2ndArray.Open(frame, "scalar");
        Assert.Equal(value, a.ReadBytes(threads: 1));
        Assert.Equal(-1234567890123L, a.Read<long>()[0]);
    }
}
