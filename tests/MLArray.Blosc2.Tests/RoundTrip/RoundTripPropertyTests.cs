using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using CsCheck;
using MLArray.Blosc2.Format;

namespace MLArray.Blosc2.Tests.RoundTrip;

/// <summary>
/// Property tests of the writer/reader pair: any dtype × N-d shape (edges that do not divide the chunk or block
/// shape) × chunk/block shape × codec × clevel × filter pipeline × split mode written with
/// <see cref="B2ndWriter.WriteToArray"/> and opened from memory with <see cref="B2ndArray.Open(ReadOnlyMemory{byte}, string?, FrameLimits?)"/>
/// decodes to the input (to the input with its mantissas truncated for TRUNC_PREC, spec §7.4, recomputed here).
/// </summary>
public sealed class RoundTripPropertyTests
{
    private const long MaxItems = 200_000;
    private const long MaxChunks = 4_000;

    private static readonly Blosc2Codec[] Codecs =
        [Blosc2Codec.BloscLZ, Blosc2Codec.LZ4, Blosc2Codec.LZ4HC, Blosc2Codec.Zlib, Blosc2Codec.Zstd];

    private static readonly Blosc2SplitMode[] SplitModes =
        [Blosc2SplitMode.Always, Blosc2SplitMode.Never, Blosc2SplitMode.Auto, Blosc2SplitMode.ForwardCompat];

    /// <summary>The filter pipelines exercised (python-blosc2 style: filters in the last slots).</summary>
    public enum Pipeline
    {
        None,
        Shuffle,
        BitShuffle,
        Delta,
        DeltaShuffle,
        TruncPrecShuffle,
        ShuffleWithWidth,
    }

    /// <summary>How the array content is generated.</summary>
    public enum Fill
    {
        Random,
        Smooth,
        Sparse,
        Constant,
        Zeros,
    }

    /// <summary>One generated case (printed by CsCheck when a property fails).</summary>
    public sealed record Case(
        int DTypeIndex, long[] Shape, int[] Chunk, int[] Block, Blosc2Codec Codec, int CLevel, Pipeline Pipeline,
        int ShuffleWidth, int TruncPrecision, Blosc2SplitMode Split, Fill Fill, int Seed)
    {
        public DType DType => DType.All[DTypeIndex];

        public long Items => Shape.Aggregate(1L, (a, b) => a * b);

        public long NChunks
        {
            get
            {
                long n = 1;
                for (int d = 0; d < Shape.Length; d++)
                    n *= (Shape[d] + Chunk[d] - 1) / Chunk[d];
                return n;
            }
        }

        public CompressionParams Params(int threads)
        {
            var filters = new Blosc2Filter[6];
            var meta = new byte[6];
            switch (EffectivePipeline)
            {
                case Pipeline.None:
                    break;
                case Pipeline.Shuffle:
                    filters[5] = Blosc2Filter.Shuffle;
                    break;
                case Pipeline.BitShuffle:
                    filters[5] = Blosc2Filter.BitShuffle;
                    break;
                case Pipeline.Delta:
                    filters[5] = Blosc2Filter.Delta;
                    break;
                case Pipeline.DeltaShuffle:
                    filters[4] = Blosc2Filter.Delta;
                    filters[5] = Blosc2Filter.Shuffle;
                    break;
                case Pipeline.TruncPrecShuffle:
                    filters[4] = Blosc2Filter.TruncPrec;
                    meta[4] = unchecked((byte)(sbyte)TruncPrecision);
                    filters[5] = Blosc2Filter.Shuffle;
                    break;
                case Pipeline.ShuffleWithWidth:
                    filters[5] = Blosc2Filter.Shuffle;
                    meta[5] = (byte)ShuffleWidth;
                    break;
            }
            return new CompressionParams
            {
                Codec = Codec,
                CLevel = CLevel,
                Filters = filters,
                FiltersMeta = meta,
                SplitMode = Split,
                Threads = threads,
            };
        }

        /// <summary>TRUNC_PREC only applies to float32/float64 (as in C-Blosc2); other dtypes get plain shuffle instead.</summary>
        public Pipeline EffectivePipeline =>
            Pipeline == Pipeline.TruncPrecShuffle && !(DType.Kind == DTypeKind.Float && DType.ItemSize is 4 or 8) ? Pipeline.Shuffle : Pipeline;

        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"{DType.Name} shape=({string.Join(",", Shape)}) chunk=({string.Join(",", Chunk)}) block=({string.Join(",", Block)}) " +
            $"{Codec} clevel={CLevel} {EffectivePipeline} width={ShuffleWidth} prec={TruncPrecision} split={Split} fill={Fill} seed={Seed}");
    }

    /// <summary>Largest chunk edge per number of dimensions (keeps the arrays at most ~200k items).</summary>
    private static int MaxChunkEdge(int ndim) => ndim switch
    {
        1 => 3000,
        2 => 60,
        3 => 16,
        4 => 7,
        5 => 5,
        _ => 3,
    };

    /// <summary>
    /// One dimension: chunk edge c, block edge b ≤ c, shape = k·c + r with 1 ≤ r ≤ c (r &lt; c: the edge chunk is partial).
    /// </summary>
    private static Gen<(long Shape, int Chunk, int Block)> Dim(int ndim) =>
        Gen.Select(Gen.Int[1, MaxChunkEdge(ndim)], Gen.Int[0, 2], Gen.Int[0, 1 << 20], Gen.Int[0, 1 << 20], Gen.Int[0, 3])
            .Select((c, k, rb, rr, mode) =>
            {
                int block = mode == 0 ? c : 1 + rb % c; // mode 0: block == chunk
                int rem = mode == 1 ? c : 1 + rr % c;   // mode 1: shape divides the chunk
                return ((long)k * c + rem, c, block);
            });

    private static readonly Gen<(long[] Shape, int[] Chunk, int[] Block)> Dims =
        (from nd in Gen.Int[1, 6]
         from dims in Dim(nd).Array[nd]
         select (dims.Select(d => d.Shape).ToArray(), dims.Select(d => d.Chunk).ToArray(), dims.Select(d => d.Block).ToArray()))
        .Where(t =>
        {
            long items = 1, chunks = 1;
            for (int d = 0; d < t.Item1.Length; d++)
            {
                items *= t.Item1[d];
                chunks *= (t.Item1[d] + t.Item2[d] - 1) / t.Item2[d];
            }
            return items <= MaxItems && chunks <= MaxChunks;
        });

    private static readonly Gen<Case> Cases =
        from dt in Gen.Int[0, DType.All.Count - 1]
        from dims in Dims
        from codec in Gen.OneOfConst(Codecs)
        from clevel in Gen.Int[0, 9]
        from pipeline in Gen.Enum<Pipeline>()
        from width in Gen.OneOfConst(1, 2, 3, 4, 5, 8, 16)
        from prec in Gen.Int[1, 22]
        from dropBits in Gen.Bool
        from split in Gen.OneOfConst(SplitModes)
        from fill in Gen.Frequency((4, Gen.Const(Fill.Random)), (6, Gen.Const(Fill.Smooth)), (3, Gen.Const(Fill.Sparse)),
            (1, Gen.Const(Fill.Constant)), (1, Gen.Const(Fill.Zeros)))
        from seed in Gen.Int
        select new Case(dt, dims.Item1, dims.Item2, dims.Item3, codec, SpeedCap(codec, clevel, dims.Item1),
            pipeline, width, dropBits ? -prec : prec, split, fill, seed);

    /// <summary>
    /// The managed zstd is slow at its top levels (clevel 9 = zstd level 22, 7-8 = levels 13-15): those levels are
    /// exercised on the smaller arrays only, so the suite stays fast.
    /// </summary>
    private static int SpeedCap(Blosc2Codec codec, int clevel, long[] shape)
    {
        long items = shape.Aggregate(1L, (a, b) => a * b);
        if (codec != Blosc2Codec.Zstd)
            return clevel;
        if (clevel == 9 && items > 2_000)
            clevel = 8;
        if (clevel >= 7 && items > 10_000)
            clevel = 6;
        return clevel;
    }

    [Fact]
    public void Property_write_then_read_gives_the_input_and_threads_do_not_change_the_frame()
    {
        Cases.Sample(CheckRoundTrip, iter: 300);
    }

    [Fact]
    public void Property_one_dimensional_large_arrays()
    {
        // Fewer, larger 1-D arrays: many blocks per chunk, leftover edge chunks, all codecs.
        var gen =
            from dt in Gen.Int[0, DType.All.Count - 1]
            from n in Gen.Int[50_000, 200_000]
            from chunk in Gen.Int[4_000, 60_000]
            from block in Gen.Int[100, 4_000]
            from codec in Gen.OneOfConst(Codecs)
            from clevel in Gen.Int[1, 6]
            from pipeline in Gen.Enum<Pipeline>()
            from fill in Gen.OneOfConst(Fill.Random, Fill.Smooth, Fill.Sparse)
            from seed in Gen.Int
            select new Case(dt, [n], [chunk], [Math.Min(block, chunk)], codec, clevel, pipeline, 4, 10,
                Blosc2SplitMode.Auto, fill, seed);
        gen.Sample(CheckRoundTrip, iter: 12);
    }

    private static void CheckRoundTrip(Case c)
    {
        DType dtype = c.DType;
        byte[] data = MakeData(c);
        var options = new B2ndWriteOptions
        {
            ChunkShape = c.Chunk,
            BlockShape = c.Block,
            Compression = c.Params(threads: 1),
        };
        byte[] frame = B2ndWriter.WriteToArray(data, c.Shape, dtype, options);
        byte[] frame4 = B2ndWriter.WriteToArray(data, c.Shape, dtype, options with { Compression = c.Params(threads: 4) });
        Assert.True(frame.AsSpan().SequenceEqual(frame4), $"Threads=1 and Threads=4 frames differ for {c}");

        using var a = B2ndArray.Open(frame, "roundtrip.mla");
        byte[] expected = c.EffectivePipeline == Pipeline.TruncPrecShuffle ? TruncateMantissas(a, c, data) : data;
        Assert.Equal(c.Shape, a.Shape);
        Assert.Equal(c.Chunk, a.ChunkShape);
        Assert.Equal(c.Block, a.BlockShape);
        Assert.Equal(dtype, a.DType);
        Assert.Equal(c.Codec, a.Codec);
        Assert.Equal(c.CLevel, a.CLevel);
        Assert.Equal(c.Split, a.SplitMode);
        var p = c.Params(1);
        Assert.Equal(p.Filters, a.Filters);
        Assert.Equal(p.FiltersMeta, a.FiltersMeta);
        Assert.Equal(c.NChunks, a.NChunks);
        Assert.Equal(c.Items, a.Length);

        byte[] got = a.ReadBytes(threads: c.Seed % 2 == 0 ? 1 : 0);
        if (!got.AsSpan().SequenceEqual(expected))
        {
            int i = got.AsSpan().CommonPrefixLength(expected);
            Assert.Fail($"decoded bytes differ from the input at byte {i} (item {i / dtype.ItemSize}) for {c}");
        }
        AssertTypedEquals(a, expected);

        if (c.Fill == Fill.Zeros && c.CLevel > 0)
        {
            // every all-zero chunk that the encoder could express as zero streams is stored as a special offset
            for (long k = 0; k < a.NChunks; k++)
            {
                var info = a.GetChunkInfo(k);
                Assert.True(info.Kind is ChunkKind.Zeros or ChunkKind.Regular, $"chunk {k}: {info.Kind}");
            }
        }
    }

    /// <summary>ToArray&lt;T&gt; with the element type of the dtype gives the same bytes.</summary>
    private static void AssertTypedEquals(B2ndArray a, byte[] expected)
    {
        byte[] typed = a.DType.Name switch
        {
            "|b1" => MemoryMarshal.AsBytes(a.ToArray<bool>().AsSpan()).ToArray(),
            "|u1" => a.ToArray<byte>(),
            "|i1" => MemoryMarshal.AsBytes(a.ToArray<sbyte>().AsSpan()).ToArray(),
            "<i2" => MemoryMarshal.AsBytes(a.ToArray<short>().AsSpan()).ToArray(),
            "<u2" => MemoryMarshal.AsBytes(a.ToArray<ushort>().AsSpan()).ToArray(),
            "<i4" => MemoryMarshal.AsBytes(a.ToArray<int>().AsSpan()).ToArray(),
            "<u4" => MemoryMarshal.AsBytes(a.ToArray<uint>().AsSpan()).ToArray(),
            "<f4" => MemoryMarshal.AsBytes(a.ToArray<float>(threads: 1).AsSpan()).ToArray(),
            "<i8" => MemoryMarshal.AsBytes(a.ToArray<long>().AsSpan()).ToArray(),
            "<u8" => MemoryMarshal.AsBytes(a.ToArray<ulong>().AsSpan()).ToArray(),
            "<f8" => MemoryMarshal.AsBytes(a.ToArray<double>(threads: 1).AsSpan()).ToArray(),
            "<f2" => MemoryMarshal.AsBytes(a.ToArray<Half>().AsSpan()).ToArray(),
            "<c8" => MemoryMarshal.AsBytes(a.ToArray<Complex64>().AsSpan()).ToArray(),
            "<c16" => MemoryMarshal.AsBytes(a.ToArray<System.Numerics.Complex>().AsSpan()).ToArray(),
            _ => throw new InvalidOperationException(a.DType.Name),
        };
        Assert.True(typed.AsSpan().SequenceEqual(expected), $"ToArray<T> differs for {a.DType.Name}");
    }

    /// <summary>
    /// Spec §7.4, computed independently: z = p ≥ 0 ? MANT - p : -p low bits of every item are zeroed.
    /// Memcpyed chunks (clevel 0, chunks under 32 bytes, incompressible data) store the data unfiltered (spec §5.3,
    /// as C-Blosc2 does), so the items of those chunks keep all their bits.
    /// </summary>
    private static byte[] TruncateMantissas(B2ndArray a, Case c, byte[] data)
    {
        int itemSize = c.DType.ItemSize;
        int mant = itemSize == 4 ? 23 : 52;
        int z = c.TruncPrecision >= 0 ? mant - c.TruncPrecision : -c.TruncPrecision;
        Assert.InRange(z, 0, mant - 1);
        var memcpyed = new bool[a.NChunks];
        var buf = new byte[64];
        for (long k = 0; k < a.NChunks; k++)
            memcpyed[k] = a.Frame.GetOffset(k) >= 0 && (a.Frame.ReadChunkHeaderOnly(k, buf, out _)[2] & 0x02) != 0;
        int nd = c.Shape.Length;
        var chunksPerDim = new long[nd];
        for (int d = 0; d < nd; d++)
            chunksPerDim[d] = (c.Shape[d] + c.Chunk[d] - 1) / c.Chunk[d];
        var coords = new long[nd];
        var r = (byte[])data.Clone();
        for (int i = 0; i + itemSize <= r.Length; i += itemSize)
        {
            long chunk = 0;
            for (int d = 0; d < nd; d++)
                chunk = chunk * chunksPerDim[d] + coords[d] / c.Chunk[d];
            for (int d = nd - 1; d >= 0; d--)
            {
                if (++coords[d] < c.Shape[d]) break;
                coords[d] = 0;
            }
            if (memcpyed[chunk])
                continue;
            if (itemSize == 4)
            {
                uint v = BinaryPrimitives.ReadUInt32LittleEndian(r.AsSpan(i));
                BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(i), v & ~((1u << z) - 1));
            }
            else
            {
                ulong v = BinaryPrimitives.ReadUInt64LittleEndian(r.AsSpan(i));
                BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(i), v & ~((1UL << z) - 1));
            }
        }
        return r;
    }

    private static byte[] MakeData(Case c)
    {
        DType dt = c.DType;
        int size = dt.ItemSize;
        long n = c.Items;
        var data = new byte[n * size];
        var rng = new Random(c.Seed);
        switch (c.Fill)
        {
            case Fill.Zeros:
                break;
            case Fill.Random:
                rng.NextBytes(data);
                break;
            case Fill.Constant:
                {
                    long v = rng.Next(1, 1000);
                    for (long i = 0; i < n; i++)
                        WriteItem(data, i, dt, v);
                    break;
                }
            case Fill.Sparse:
                for (long i = 0; i < n; i++)
                    if (rng.Next(50) == 0)
                        WriteItem(data, i, dt, rng.NextInt64());
                break;
            case Fill.Smooth:
                {
                    long step = rng.Next(1, 5);
                    for (long i = 0; i < n; i++)
                        WriteItem(data, i, dt, (i / step) + rng.Next(4));
                    break;
                }
        }
        if (dt.Kind == DTypeKind.Bool)
            for (int i = 0; i < data.Length; i++)
                data[i] &= 1;
        return data;
    }

    private static void WriteItem(byte[] data, long i, DType dt, long v)
    {
        var s = data.AsSpan((int)(i * dt.ItemSize), dt.ItemSize);
        switch (dt.Kind)
        {
            case DTypeKind.Float when dt.ItemSize == 2:
                BinaryPrimitives.WriteHalfLittleEndian(s, (Half)((v % 2048) * 0.25f));
                break;
            case DTypeKind.Complex when dt.ItemSize == 8:
                BinaryPrimitives.WriteSingleLittleEndian(s, (v % 65536) * 0.25f);
                BinaryPrimitives.WriteSingleLittleEndian(s[4..], -(v % 4096) * 0.5f);
                break;
            case DTypeKind.Complex:
                BinaryPrimitives.WriteDoubleLittleEndian(s, (v % (1L << 30)) * 0.125);
                BinaryPrimitives.WriteDoubleLittleEndian(s[8..], -(v % (1L << 20)) * 0.5);
                break;
            case DTypeKind.Float when dt.ItemSize == 4:
                BinaryPrimitives.WriteSingleLittleEndian(s, (v % 65536) * 0.25f);
                break;
            case DTypeKind.Float:
                BinaryPrimitives.WriteDoubleLittleEndian(s, (v % (1L << 30)) * 0.125);
                break;
            default:
                Span<byte> all = stackalloc byte[8];
                BinaryPrimitives.WriteInt64LittleEndian(all, v);
                all[..dt.ItemSize].CopyTo(s);
                break;
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Zero-element arrays

    [Fact]
    public void Zero_element_1d_f8_frame_matches_the_C_Blosc2_file_field_by_field()
    {
        byte[] reference = File.ReadAllBytes(TestData.Blosc2("empty_1d_f8.mla"));
        // python-blosc2 defaults (zstd 5, shuffle, auto split) are the CompressionParams defaults.
        byte[] ours = B2ndWriter.WriteToArray(ReadOnlySpan<byte>.Empty, [0], DType.Float64);

        Assert.Equal(reference.AsSpan(0, 11).ToArray(), ours.AsSpan(0, 11).ToArray()); // fixarray, magic, int32 marker
        Assert.Equal(BeInt32(reference, 11), BeInt32(ours, 11));                      // header_len
        Assert.Equal(BeInt64(reference, 16), BeInt64(ours, 16));                      // frame_len
        Assert.Equal(reference.Length, (int)BeInt64(ours, 16));
        Assert.Equal(0x53, ours[25]);                                                 // general flags: v3, 64-bit offsets, variable chunks
        Assert.Equal(reference[25], ours[25]);
        Assert.Equal(reference[26], ours[26]);                                        // frame type
        Assert.Equal(reference[27], ours[27]);                                        // codec flags
        Assert.Equal(reference[28], ours[28]);                                        // other flags (split mode)
        Assert.Equal(0, BeInt64(ours, 30));                                           // nbytes
        Assert.Equal(BeInt64(reference, 30), BeInt64(ours, 30));
        Assert.Equal(BeInt64(reference, 39), BeInt64(ours, 39));                      // cbytes
        Assert.Equal(BeInt32(reference, 48), BeInt32(ours, 48));                      // typesize
        Assert.Equal(BeInt32(reference, 53), BeInt32(ours, 53));                      // blocksize
        Assert.Equal(0, BeInt32(ours, 58));                                           // chunksize 0
        Assert.Equal(BeInt32(reference, 58), BeInt32(ours, 58));
        Assert.Equal(reference[68], ours[68]);                                        // has vlmeta
        Assert.Equal(reference.AsSpan(69, 18).ToArray(), ours.AsSpan(69, 18).ToArray()); // filters, udcodec, metas, flags2
        int headerLen = BeInt32(reference, 11);
        Assert.Equal(reference.AsSpan(87, headerLen - 87).ToArray(), ours.AsSpan(87, headerLen - 87).ToArray()); // metalayers (b2nd)
        Assert.Equal(reference.AsSpan(headerLen).ToArray(), ours.AsSpan(headerLen).ToArray()); // no chunks, no index: trailer

        using var a = B2ndArray.Open(ours, "empty.mla");
        using var r = B2ndArray.Open(reference, "empty_1d_f8.mla");
        Assert.Equal(r.Shape, a.Shape);
        Assert.Equal(r.ChunkShape, a.ChunkShape);
        Assert.Equal(r.BlockShape, a.BlockShape);
        Assert.Equal(0, a.NChunks);
        Assert.Empty(a.ReadBytes());
        Assert.Empty(a.ToArray<double>());
    }

    public static TheoryData<int, string> ZeroShapes()
    {
        var d = new TheoryData<int, string>();
        string[] shapes = ["0", "0,5", "7,0", "3,0,4", "2,3,4,5,0", "0,0,0,0,0,0"];
        for (int i = 0; i < DType.All.Count; i++)
            d.Add(i, shapes[i % shapes.Length]);
        d.Add(10, "4,0,2");
        return d;
    }

    [Theory]
    [MemberData(nameof(ZeroShapes))]
    public void Zero_element_arrays_round_trip_with_the_C_Blosc2_header_flags(int dtypeIndex, string shapeText)
    {
        long[] shape = shapeText.Split(',').Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        DType dt = DType.All[dtypeIndex];
        byte[] reference = File.ReadAllBytes(TestData.Blosc2("empty_1d_f8.mla"));
        foreach (var codec in Codecs)
        {
            var options = new B2ndWriteOptions { Compression = new CompressionParams { Codec = codec, CLevel = 5 } };
            byte[] frame = B2ndWriter.WriteToArray(ReadOnlySpan<byte>.Empty, shape, dt, options);
            Assert.Equal(reference[25], frame[25]);             // 0x53
            Assert.Equal(0, BeInt32(frame, 58));                // chunksize
            Assert.Equal(0, BeInt64(frame, 30));                // nbytes
            Assert.Equal(0, BeInt64(frame, 39));                // cbytes
            Assert.Equal(dt.ItemSize, BeInt32(frame, 48));
            Assert.Equal(BeInt32(frame, 11) + 35, frame.Length); // header + empty trailer, no index chunk
            using var a = B2ndArray.Open(frame, "zero.mla");
            Assert.Equal(shape, a.Shape);
            Assert.Equal(dt, a.DType);
            Assert.Equal(0, a.Length);
            Assert.Equal(0, a.NChunks);
            Assert.Empty(a.ReadBytes());
        }
        // Explicit chunk/block shapes are accepted too (stored as zeros, as C-Blosc2 does).
        int[] ones = shape.Select(_ => 1).ToArray();
        byte[] f2 = B2ndWriter.WriteToArray(ReadOnlySpan<byte>.Empty, shape, dt, new B2ndWriteOptions { ChunkShape = ones, BlockShape = ones });
        using var b = B2ndArray.Open(f2, "zero2.mla");
        Assert.Equal(0x53, f2[25]);
        Assert.Empty(b.ReadBytes());
    }

    // ------------------------------------------------------------------------------------------------------------
    // All-zero data: special zero offsets

    public static TheoryData<int, Blosc2Codec> ZeroDataCases()
    {
        var d = new TheoryData<int, Blosc2Codec>();
        for (int i = 0; i < DType.All.Count; i++)
            d.Add(i, Codecs[i % Codecs.Length]);
        return d;
    }

    [Theory]
    [MemberData(nameof(ZeroDataCases))]
    public void All_zero_data_is_stored_as_special_zero_offsets_and_decodes(int dtypeIndex, Blosc2Codec codec)
    {
        DType dt = DType.All[dtypeIndex];
        long[] shape = [37, 53, 9];
        int[] chunk = [16, 20, 9];
        int[] block = [5, 7, 4];
        var data = new byte[37 * 53 * 9 * dt.ItemSize];
        foreach (var pipeline in new[] { Pipeline.Shuffle, Pipeline.None, Pipeline.BitShuffle, Pipeline.DeltaShuffle })
        {
            var c = new Case(dtypeIndex, shape, chunk, block, codec, 5, pipeline, 0, 10, Blosc2SplitMode.Auto, Fill.Zeros, 1);
            byte[] frame = B2ndWriter.WriteToArray(data, shape, dt, new B2ndWriteOptions { ChunkShape = chunk, BlockShape = block, Compression = c.Params(2) });
            using var a = B2ndArray.Open(frame, "zeros.mla");
            Assert.Equal(9, a.NChunks);
            for (long k = 0; k < a.NChunks; k++)
            {
                var info = a.GetChunkInfo(k);
                Assert.Equal(ChunkKind.Zeros, info.Kind);
                Assert.Equal(0, info.StoredBytes);
                Assert.Equal(FrameLayout.SpecialZerosOffset, a.Frame.GetOffset(k));
            }
            Assert.Equal(0, a.CBytes);
            Assert.Equal(data, a.ReadBytes());
        }
    }

    [Fact]
    public void Half_zero_data_mixes_special_and_regular_chunks()
    {
        long[] shape = [64, 40];
        var values = new float[64 * 40];
        for (int i = values.Length / 2; i < values.Length; i++)
            values[i] = i * 0.25f;
        byte[] data = MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        byte[] frame = B2ndWriter.WriteToArray(data, shape, DType.Float32, new B2ndWriteOptions
        {
            ChunkShape = [16, 16],
            BlockShape = [8, 8],
            Compression = new CompressionParams { Codec = Blosc2Codec.LZ4, CLevel = 5 },
        });
        using var a = B2ndArray.Open(frame, "halfzero.mla");
        var kinds = Enumerable.Range(0, (int)a.NChunks).Select(k => a.GetChunkInfo(k).Kind).ToArray();
        // the same split as C-Blosc2's f4_2d_lz4_shuffle_halfzero.mla: 6 zero chunks, 6 regular ones
        Assert.Equal(6, kinds.Count(k => k == ChunkKind.Zeros));
        Assert.Equal(6, kinds.Count(k => k == ChunkKind.Regular));
        using var reference = B2ndArray.Open(TestData.Blosc2("f4_2d_lz4_shuffle_halfzero.mla"));
        Assert.Equal(Enumerable.Range(0, 12).Select(k => reference.GetChunkInfo(k).Kind), kinds);
        Assert.Equal(values, a.ToArray<float>());
    }

    private static int BeInt32(byte[] b, int at) => BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(at));

    private static long BeInt64(byte[] b, int at) => BinaryPrimitives.ReadInt64BigEndian(b.AsSpan(at));
}
