using System.Buffers.Binary;
using System.Runtime.InteropServices;
using CsCheck;
using MLArray.Blosc2.Filters;
using MLArray.Kernels;

namespace MLArray.Blosc2.Tests.Filters;

/// <summary>
/// The converting reads: the inverse shuffle fused with a dtype conversion (and a clip and scale), at every kernel
/// level, against a scalar reference computed here from the original items; and strided converting reads of the real
/// corpus files against their plain decode converted item by item.
/// </summary>
public sealed class ShuffleConvertTests
{
    // (The kernel types are internal: theories take their names.)
    public static TheoryData<string, string> KindsAndLevels()
    {
        var data = new TheoryData<string, string>();
        foreach (var kind in Kinds)
            foreach (var level in Enum.GetValues<Shuffle.ConvertLevel>())
                data.Add(kind.ToString(), level.ToString());
        return data;
    }

    private static readonly RowConversionKind[] Kinds =
    [
        RowConversionKind.Int16ToSingle, RowConversionKind.UInt16ToSingle, RowConversionKind.HalfToSingle, RowConversionKind.UInt8ToSingle,
        RowConversionKind.Int8ToSingle, RowConversionKind.UInt8ToInt16, RowConversionKind.Int8ToInt16,
    ];

    [Theory]
    [MemberData(nameof(KindsAndLevels))]
    public unsafe void Shuffled_rows_convert_to_the_scalar_reference_and_nothing_else_is_written(string kindName, string levelName)
    {
        var kind = Enum.Parse<RowConversionKind>(kindName);
        var level = Enum.Parse<Shuffle.ConvertLevel>(levelName);
        // Counts up to 80 (several 16-item groups, an overlapping last group, short runs below 16), rows up to 7,
        // uneven row steps and destination strides; a clip and scale on the float32 outputs of integers half the time.
        Gen.Select(Gen.OneOf(Gen.Int[1, 80], Gen.Const(16), Gen.Int[1, 15]), Gen.Int[1, 7], Gen.Int, Gen.Bool).Sample((count, rows, seed, transform) =>
        {
            var conv = Conversion(kind, transform, seed);
            int w = conv.InItemSize, o = conv.OutItemSize;
            var rng = new Random(seed);
            var (block, shuffled, n, e0, rowStep) = ShuffleRowsTests.RandomRuns(rng, w, count, rows);
            int dstStride = count * o + rng.Next(0, 9);
            var dst = new byte[rows * dstStride + 16];
            dst.AsSpan().Fill(0xEE);
            fixed (byte* s = shuffled)
            fixed (byte* d = dst)
                conv.ShuffledRows(s, n, e0, count, rows, rowStep, d + 3, dstStride, level);
            Check(conv, block, e0, rowStep, count, rows, dst, 3, dstStride, $"{kind} {level} count {count} rows {rows}");
        }, iter: 300);
    }

    [Theory]
    [MemberData(nameof(KindsAndLevels))]
    public unsafe void Contiguous_rows_convert_to_the_scalar_reference_and_nothing_else_is_written(string kindName, string levelName)
    {
        var kind = Enum.Parse<RowConversionKind>(kindName);
        var level = Enum.Parse<Shuffle.ConvertLevel>(levelName);
        Gen.Select(Gen.OneOf(Gen.Int[1, 80], Gen.Const(16), Gen.Int[1, 15]), Gen.Int[1, 5], Gen.Int, Gen.Bool).Sample((count, rows, seed, transform) =>
        {
            var conv = Conversion(kind, transform, seed);
            int w = conv.InItemSize, o = conv.OutItemSize;
            var rng = new Random(seed);
            int rowStep = count + rng.Next(0, 7);
            var src = new byte[rows * rowStep * w];
            rng.NextBytes(src);
            int dstStride = count * o + rng.Next(0, 9);
            var dst = new byte[rows * dstStride + 16];
            dst.AsSpan().Fill(0xEE);
            fixed (byte* s = src)
            fixed (byte* d = dst)
                conv.Rows(s, rowStep * w, d + 5, dstStride, count, rows, level);
            Check(conv, src, 0, rowStep, count, rows, dst, 5, dstStride, $"{kind} {level} count {count} rows {rows}");
        }, iter: 300);
    }

    [Theory]
    [MemberData(nameof(KindsAndLevels))]
    public unsafe void Long_and_merged_contiguous_runs_convert_at_every_destination_alignment(string kindName, string levelName)
    {
        var kind = Enum.Parse<RowConversionKind>(kindName);
        var level = Enum.Parse<Shuffle.ConvertLevel>(levelName);
        // Runs of 64+ items (a slab's rows, or rows contiguous on both sides that become one run) start on every
        // item-aligned offset from a 32-byte boundary: the kernel's first unaligned group overlaps the aligned ones.
        Gen.Select(Gen.Int[1, 700], Gen.Int[1, 3], Gen.Int, Gen.Bool).Sample((count, rows, seed, transform) =>
        {
            var conv = Conversion(kind, transform, seed);
            int w = conv.InItemSize, o = conv.OutItemSize;
            var rng = new Random(seed);
            bool gaps = rng.Next(2) == 0;
            int rowStep = count + (gaps ? rng.Next(1, 7) : 0);
            int dstStride = count * o + (gaps ? o * rng.Next(1, 5) : 0);
            var src = new byte[rows * rowStep * w];
            rng.NextBytes(src);
            var dst = GC.AllocateArray<byte>(rows * dstStride + 96, pinned: true);
            dst.AsSpan().Fill(0xEE);
            fixed (byte* s = src)
            fixed (byte* d = dst)
            {
                int at = (int)((32 - ((nint)d & 31)) & 31) + o * rng.Next(0, 32 / o);
                conv.Rows(s, rowStep * w, d + at, dstStride, count, rows, level);
                Check(conv, src, 0, rowStep, count, rows, dst, at, dstStride, $"{kind} {level} count {count} rows {rows} at {at % 32}");
            }
        }, iter: 120);
    }

    [Theory]
    [InlineData("Scalar")]
    [InlineData("Vector128")]
    [InlineData("Avx2")]
    public unsafe void Every_float16_value_converts_exactly(string levelName)
    {
        var level = Enum.Parse<Shuffle.ConvertLevel>(levelName);
        // All 65,536 bit patterns (zeros, subnormals, normals, infinities, NaNs), shuffled and contiguous.
        var bits = new ushort[65536];
        for (int i = 0; i < bits.Length; i++) bits[i] = (ushort)i;
        var bytes = MemoryMarshal.AsBytes(bits.AsSpan()).ToArray();
        var shuffled = new byte[bytes.Length + Shuffle.RowsReadSlack];
        Shuffle.ForwardScalar(2, bytes, shuffled.AsSpan(0, bytes.Length));
        var conv = RowConversion.Fused(RowConversionKind.HalfToSingle);
        var a = new float[65536];
        var b = new float[65536];
        fixed (byte* s = shuffled)
        fixed (byte* c = bytes)
        fixed (float* pa = a)
        fixed (float* pb = b)
        {
            conv.ShuffledRows(s, 65536, 0, 65536, 1, 0, (byte*)pa, 0, level);
            conv.Rows(c, 0, (byte*)pb, 0, 65536, 1, level);
        }
        for (int i = 0; i < 65536; i++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)i);
            foreach (var got in new[] { a[i], b[i] })
                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(got),
                    $"0x{i:X4}: {got} (0x{BitConverter.SingleToInt32Bits(got):X8}) != {expected}");
        }
    }

    public static TheoryData<string, string> CorpusFiles => new()
    {
        { "i2_2d_lz4_shuffle.mla", "Int16ToSingle" },       // shuffled blocks: fused unshuffle
        { "i2_2d_zlib_shuffle.mla", "Int16ToSingle" },
        { "i2_2d_lz4hc_noshuffle.mla", "Int16ToSingle" },   // no shuffle: contiguous rows
        { "i2_2d_lz4_delta-shuffle.mla", "Int16ToSingle" }, // delta: decoded block, then rows
        { "i2_2d_blosclz_bitshuffle.mla", "Int16ToSingle" },
        { "dtype_u2_2d_lz4_shuffle.mla", "UInt16ToSingle" },
        { "dtype_u1_2d_lz4_shuffle.mla", "UInt8ToInt16" },
        { "dtype_u1_2d_lz4_shuffle.mla", "UInt8ToSingle" },
        { "dtype_i1_2d_lz4_shuffle.mla", "Int8ToInt16" },
        { "dtype_i1_2d_lz4_shuffle.mla", "Int8ToSingle" },
        { "u1_1d_lz4hc_shuffle.mla", "UInt8ToInt16" },
        { "u1_1d_zstd_delta-shuffle.mla", "UInt8ToInt16" },
        { "../blosc2-dtypes/f2_lz4_shuffle.b2nd", "HalfToSingle" },
        { "../blosc2-dtypes/f2_full.b2nd", "HalfToSingle" },
    };

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public void Strided_converting_reads_of_corpus_files_equal_the_decode_converted_item_by_item(string file, string kindName)
    {
        var kind = Enum.Parse<RowConversionKind>(kindName);
        using var a = B2ndArray.Open(TestData.Blosc2(file));
        var full = a.ReadBytes();
        var rng = new Random(file.Length * 31 + (int)kind);
        int nd = a.Shape.Length;
        for (int iter = 0; iter < 40; iter++)
        {
            var conv = Conversion(kind, rng.Next(2) == 0, iter);
            // A box with random (often odd, block-cutting) bounds, written into a larger destination at an offset, as
            // a patch reader does; the margin keeps its sentinel bytes.
            var sel = new NdIndex[nd];
            var lo = new long[nd];
            var cnt = new long[nd];
            var pad = new long[nd];
            for (int d = 0; d < nd; d++)
            {
                lo[d] = rng.NextInt64(0, a.Shape[d]);
                cnt[d] = rng.NextInt64(1, a.Shape[d] - lo[d] + 1);
                pad[d] = cnt[d] + rng.Next(0, 5);
                sel[d] = NdIndex.Slice(lo[d], lo[d] + cnt[d]);
            }
            int o = conv.OutItemSize;
            var strides = new long[nd];
            long total = 1;
            for (int d = nd - 1; d >= 0; d--)
            {
                strides[d] = total * o;
                total *= pad[d];
            }
            var dst = new byte[total * o];
            dst.AsSpan().Fill(0xEE);
            a.ReadStrided(sel, dst, strides, conv);
            // Reference: every destination item from the plain decode, converted one at a time.
            var idx = new long[nd];
            int w = a.DType.ItemSize;
            for (long i = 0; i < total; i++)
            {
                long rem = i, src = 0;
                bool inside = true;
                for (int d = nd - 1; d >= 0; d--)
                {
                    idx[d] = rem % pad[d];
                    rem /= pad[d];
                    inside &= idx[d] < cnt[d];
                }
                long stride = 1;
                for (int d = nd - 1; d >= 0; d--)
                {
                    src += (lo[d] + idx[d]) * stride;
                    stride *= a.Shape[d];
                }
                var got = dst.AsSpan((int)(i * o), o);
                if (!inside)
                {
                    Assert.True(got.IndexOfAnyExcept((byte)0xEE) < 0, $"{file}: margin item {i} was written");
                    continue;
                }
                var expected = Reference(conv, full.AsSpan((int)(src * w), w));
                Assert.True(expected.AsSpan().SequenceEqual(got), $"{file} {kind} box [{string.Join(", ", sel)}] item {i}");
            }
        }
    }

    [Fact]
    public void A_fused_conversion_must_match_the_stored_item_size()
    {
        using var a = B2ndArray.Open(TestData.Blosc2("i2_2d_lz4_shuffle.mla"));
        var conv = RowConversion.Fused(RowConversionKind.UInt8ToInt16);
        var ex = Assert.Throws<ArgumentException>(() => a.ReadStrided([NdIndex.Slice(0, 1), NdIndex.Slice(0, 1)], new byte[64], [2, 2], conv));
        Assert.Contains("1-byte items", ex.Message, StringComparison.Ordinal);
    }

    // A conversion of this kind, with a clip and scale on float32 outputs of integer sources when asked.
    private static RowConversion Conversion(RowConversionKind kind, bool transform, int seed)
    {
        var conv = RowConversion.Fused(kind);
        if (!transform || !conv.TakesTransform)
            return conv;
        var rng = new Random(seed);
        bool clip = rng.Next(2) == 0;
        float low = rng.Next(-300, 0), high = rng.Next(0, 300);
        return conv.WithTransform(new Shuffle.Affine(clip, low, high, !clip || rng.Next(2) == 0, (float)(rng.NextDouble() * 0.02), (float)(rng.NextDouble() * 4 - 2)));
    }

    private static void Check(in RowConversion conv, byte[] items, int e0, int rowStep, int count, int rows, byte[] dst, int at, int dstStride, string what)
    {
        int w = conv.InItemSize, o = conv.OutItemSize;
        for (int i = 0; i < dst.Length; i++)
        {
            int rel = i - at;
            int r = rel >= 0 ? rel / dstStride : -1, c = rel >= 0 ? rel % dstStride : -1;
            bool inside = r >= 0 && r < rows && c < count * o;
            if (!inside)
            {
                Assert.True(dst[i] == 0xEE, $"{what}: byte {i} outside the rows was written");
                continue;
            }
            int k = c / o;
            var expected = Reference(conv, items.AsSpan((e0 + r * rowStep + k) * w, w));
            Assert.True(expected[c % o] == dst[i], $"{what}: row {r} item {k} byte {c % o}: {dst[i]} != {expected[c % o]}");
        }
    }

    // The conversion of one stored item, written plainly: C# casts, then clamp and multiply-add in float32.
    private static byte[] Reference(in RowConversion conv, ReadOnlySpan<byte> item)
    {
        var x = conv.Transform;
        float F(float v)
        {
            if (x.Clip) v = v < x.Low ? x.Low : v > x.High ? x.High : v;
            if (x.Scaled) v = v * x.Scale + x.Bias;
            return v;
        }
        var result = new byte[conv.OutItemSize];
        switch (conv.Kind)
        {
            case RowConversionKind.Int16ToSingle: BinaryPrimitives.WriteSingleLittleEndian(result, F(BinaryPrimitives.ReadInt16LittleEndian(item))); break;
            case RowConversionKind.UInt16ToSingle: BinaryPrimitives.WriteSingleLittleEndian(result, F(BinaryPrimitives.ReadUInt16LittleEndian(item))); break;
            case RowConversionKind.HalfToSingle: BinaryPrimitives.WriteSingleLittleEndian(result, (float)BinaryPrimitives.ReadHalfLittleEndian(item)); break;
            case RowConversionKind.UInt8ToSingle: BinaryPrimitives.WriteSingleLittleEndian(result, F(item[0])); break;
            case RowConversionKind.Int8ToSingle: BinaryPrimitives.WriteSingleLittleEndian(result, F((sbyte)item[0])); break;
            case RowConversionKind.UInt8ToInt16: BinaryPrimitives.WriteInt16LittleEndian(result, item[0]); break;
            case RowConversionKind.Int8ToInt16: BinaryPrimitives.WriteInt16LittleEndian(result, (sbyte)item[0]); break;
            default: throw new ArgumentOutOfRangeException(nameof(conv));
        }
        return result;
    }
}
