using MLArray.Blosc2.Format;

namespace MLArray.Blosc2.Tests.Slicing;

public sealed class SliceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-slice-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly Blosc2Codec[] Codecs = [Blosc2Codec.BloscLZ, Blosc2Codec.LZ4, Blosc2Codec.LZ4HC, Blosc2Codec.Zlib, Blosc2Codec.Zstd];

    private static readonly Blosc2Filter[][] Pipelines =
    [
        CompressionParams.Pipeline(),
        CompressionParams.Pipeline(Blosc2Filter.Shuffle),
        CompressionParams.Pipeline(Blosc2Filter.BitShuffle),
        CompressionParams.Pipeline(Blosc2Filter.Delta),
        CompressionParams.Pipeline(Blosc2Filter.Delta, Blosc2Filter.Shuffle),
    ];

    private static (long[] Shape, int[] Chunk, int[] Block) RandomLayout(Random rng)
    {
        int nd = rng.Next(1, 5);
        var shape = new long[nd];
        var chunk = new int[nd];
        var block = new int[nd];
        for (int d = 0; d < nd; d++)
        {
            shape[d] = rng.Next(1, nd <= 2 ? 60 : 17);
            chunk[d] = rng.Next(1, (int)shape[d] + 3);
            block[d] = rng.Next(1, chunk[d] + 1);
        }
        return (shape, chunk, block);
    }

    private static byte[] RandomData(Random rng, long items, int itemSize)
    {
        var data = new byte[items * itemSize];
        // compressible but not trivial: small values with runs
        for (int i = 0; i < data.Length; i++)
            data[i] = (byte)(rng.Next(8) == 0 ? rng.Next(256) : (i / (itemSize * 3)) % 11);
        return data;
    }

    // Five to eight axes: the outer-axis walk of the box copies, conversions and unshuffles (OuterOffsets) over many
    // outer axes, with and without steps, shuffled or not.
    [Fact]
    public void Random_selections_of_arrays_with_many_axes_equal_the_naive_selection()
    {
        var rng = new Random(777);
        for (int iter = 0; iter < 40; iter++)
        {
            int nd = rng.Next(5, 9);
            var shape = new long[nd];
            var chunk = new int[nd];
            var block = new int[nd];
            for (int d = 0; d < nd; d++)
            {
                shape[d] = rng.Next(1, 6);
                chunk[d] = rng.Next(1, (int)shape[d] + 2);
                block[d] = rng.Next(1, chunk[d] + 1);
            }
            var dtype = DType.All[rng.Next(DType.All.Count)];
            var p = new CompressionParams { Codec = Codecs[rng.Next(Codecs.Length)], CLevel = 5, Filters = Pipelines[rng.Next(Pipelines.Length)] };
            AssertRandomSelections(rng, $"nd{nd}-iter{iter}", shape, chunk, block, dtype, p, selections: 10, threads: () => 1);
        }
    }

    /// <summary>
    /// Writes random data of <paramref name="dtype"/> with the layout and compression given, then checks
    /// <paramref name="selections"/> random selections (bytes and selection shape) against <see cref="NaiveSlice"/>.
    /// </summary>
    private static void AssertRandomSelections(Random rng, string name, long[] shape, int[] chunk, int[] block, DType dtype, CompressionParams p, int selections, Func<int> threads)
    {
        long items = shape.Aggregate(1L, (a, b) => a * b);
        var data = RandomData(rng, items, dtype.ItemSize);
        var frame = B2ndWriter.WriteToArray(data, shape, dtype, new B2ndWriteOptions { ChunkShape = chunk, BlockShape = block, Compression = p });
        using var a = B2ndArray.Open(frame, name);
        Assert.Equal(data, a.ReadBytes());
        for (int s = 0; s < selections; s++)
        {
            var sel = NaiveSlice.RandomSelection(rng, shape);
            var expected = NaiveSlice.Read(data, shape, dtype.ItemSize, sel);
            var got = new byte[expected.Length];
            a.Read(sel, got, threads: threads());
            Assert.True(expected.AsSpan().SequenceEqual(got), $"{name} shape ({string.Join(",", shape)}) chunk ({string.Join(",", chunk)}) block ({string.Join(",", block)}) {p.Codec} {string.Join(",", p.Filters)} selection [{string.Join(", ", sel)}]");
            Assert.Equal(NaiveSlice.Normalize(shape, sel).Where(x => !x.Drop).Select(x => x.Count), a.GetSelectionShape(sel));
        }
    }

    [Fact]
    public void Random_selections_equal_the_same_selection_of_a_full_decode()
    {
        var rng = new Random(12345);
        for (int iter = 0; iter < 120; iter++)
        {
            var (shape, chunk, block) = RandomLayout(rng);
            var dtype = DType.All[rng.Next(DType.All.Count)];
            var p = new CompressionParams { Codec = Codecs[rng.Next(Codecs.Length)], CLevel = rng.Next(0, 10), Filters = Pipelines[rng.Next(Pipelines.Length)] };
            AssertRandomSelections(rng, $"iter{iter}", shape, chunk, block, dtype, p, selections: 15, threads: () => rng.Next(1, 4));
        }
    }

    [Theory]
    [InlineData("f4_3d_lz4_delta-shuffle.mla")]
    [InlineData("f4_3d_zstd_delta-shuffle.mla")]
    [InlineData("f8_4d_blosclz_delta-shuffle.mla")]
    [InlineData("i8_1d_blosclz_delta.mla")]
    [InlineData("mlarray_big_f4_volume_lz4hc8.mla")]
    [InlineData("f4_3d_lz4_bitshuffle.mla")]
    [InlineData("f4_2d_special_nans.mla")]
    [InlineData("f4_2d_lz4_shuffle_const.mla")]
    public void Corpus_partial_reads_are_exact_including_delta(string file)
    {
        using var a = B2ndArray.Open(TestData.Blosc2(file));
        var full = a.ReadBytes();
        var rng = new Random(file.Length);
        for (int s = 0; s < 40; s++)
        {
            var sel = NaiveSlice.RandomSelection(rng, a.Shape);
            var expected = NaiveSlice.Read(full, a.Shape, a.DType.ItemSize, sel);
            var got = new byte[expected.Length];
            a.Read(sel, got);
            Assert.True(expected.AsSpan().SequenceEqual(got), $"selection [{string.Join(", ", sel)}]");
        }
    }

    [Fact]
    public void A_small_patch_decodes_only_the_blocks_it_touches()
    {
        using var a = B2ndArray.Open(TestData.Blosc2("mlarray_big_f4_volume_lz4hc8.mla"));
        // one 16³ block inside chunk 0
        long before = a.BlocksDecoded;
        var patch = a.Read<float>(16..32, 16..32, 16..32);
        Assert.Equal(16 * 16 * 16, patch.Length);
        Assert.Equal(1, a.BlocksDecoded - before);
        // a 20³ box straddling block borders: 2 blocks per axis
        before = a.BlocksDecoded;
        a.Read<float>(10..30, 10..30, 10..30);
        Assert.Equal(8, a.BlocksDecoded - before);
        // DELTA: block 0 is needed too
        using var d = B2ndArray.Open(TestData.Blosc2("f4_3d_lz4_delta-shuffle.mla"));
        before = d.BlocksDecoded;
        d.Read<float>(5, 7, 4);
        Assert.Equal(2, d.BlocksDecoded - before);
    }

    [Fact]
    public void Indexers_accept_ranges_negative_indices_and_drop_axes()
    {
        var data = Enumerable.Range(0, 4 * 5 * 6).Select(i => (float)i).ToArray();
        var frame = B2ndWriter.WriteToArray(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()), [4, 5, 6], DType.Float32,
            new B2ndWriteOptions { ChunkShape = [3, 2, 4], BlockShape = [2, 2, 3] });
        using var a = B2ndArray.Open(frame);
        Assert.Equal(data[^1], a.Read<float>(-1, -1, -1)[0]);
        Assert.Equal([1f * 30 + 2 * 6 + 0, 1 * 30 + 2 * 6 + 2, 1 * 30 + 2 * 6 + 4], a.Read<float>(1, 2, NdIndex.Slice(null, null, 2)));
        Assert.Equal([2, 6], a.GetSelectionShape(1..3, 0));
        Assert.Equal(new float[] { 36, 37, 38, 39, 40, 41, 66, 67, 68, 69, 70, 71 }, a.Read<float>(1..3, 1));
        Assert.Empty(a.Read<float>(NdIndex.Slice(3, 1))); // NumPy: an empty slice
        Assert.Throws<ArgumentOutOfRangeException>(() => a.Read<float>(3..1)); // C#: start after end
        Assert.Throws<ArgumentOutOfRangeException>(() => a.Read<float>(2..5)); // C#: end past the axis
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => a.Read<float>(4));
        Assert.Contains("out of bounds for axis 0 with size 4", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => a.Read<float>(0, 0, 0, 0));
        Assert.Throws<ArgumentException>(() => a.Read<double>(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => NdIndex.Slice(0, 3, 0)); // NumPy: slice step cannot be zero
        Assert.Empty(a.Read<float>(NdIndex.Slice(0, 3, -1))); // NumPy: a[0:3:-1] is empty
        Assert.Equal([3 * 30 + 2 * 6 + 5f, 3 * 30 + 2 * 6 + 3, 3 * 30 + 2 * 6 + 1], a.Read<float>(-1, 2, NdIndex.Slice(step: -2))); // a[-1, 2, ::-2]
        Assert.Equal(new float[] { 71, 70, 69, 68, 67, 66, 41, 40, 39, 38, 37, 36 }, a.Read<float>(NdIndex.Slice(2, 0, -1), 1, NdIndex.Slice(step: -1))); // a[2:0:-1, 1, ::-1]
        Assert.Throws<ArgumentException>(() => a.Read([NdIndex.At(0)], new byte[3]));
    }

    [Fact]
    public void Eight_threads_reading_one_instance_get_the_serial_results()
    {
        using var a = B2ndArray.Open(TestData.Blosc2("mlarray_big_f4_volume_lz4hc8.mla"));
        var full = a.ReadBytes(1);
        var shape = a.Shape;
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, t =>
        {
            var rng = new Random(1000 + t);
            for (int i = 0; i < 40; i++)
            {
                var start = shape.Select(n => rng.NextInt64(0, n - 1)).ToArray();
                var sel = start.Select((s, d) => NdIndex.Slice(s, Math.Min(shape[d], s + rng.Next(1, 40)))).ToArray();
                var expected = NaiveSlice.Read(full, shape, 4, sel);
                var got = new byte[expected.Length];
                a.Read(sel, got);
                Assert.True(expected.AsSpan().SequenceEqual(got));
            }
        });
    }
}
