using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using MLArray.Kernels;

namespace MLArray.Blosc2.Tests.DTypes;

/// <summary>
/// float16, complex64/128, big-endian and opaque dtypes in the engine: parsing, round trips through every codec and
/// filter for item sizes 2, 8 and 16, the byte order at the read/write boundary, and raw-byte access to opaque items.
/// </summary>
public sealed class DTypeTests
{
    private static readonly Blosc2Codec[] Codecs = [Blosc2Codec.BloscLZ, Blosc2Codec.LZ4, Blosc2Codec.LZ4HC, Blosc2Codec.Zlib, Blosc2Codec.Zstd];

    private static readonly Blosc2Filter[][] Pipelines =
    [
        [], [Blosc2Filter.Shuffle], [Blosc2Filter.BitShuffle], [Blosc2Filter.Delta], [Blosc2Filter.Delta, Blosc2Filter.Shuffle],
        [Blosc2Filter.Delta, Blosc2Filter.BitShuffle],
    ];

    [Theory]
    [InlineData("<f2", 2, DTypeKind.Float, DTypeCode.Float16, false)]
    [InlineData("=f2", 2, DTypeKind.Float, DTypeCode.Float16, false)]
    [InlineData(">f2", 2, DTypeKind.Float, DTypeCode.Float16, true)]
    [InlineData("<c8", 8, DTypeKind.Complex, DTypeCode.Complex64, false)]
    [InlineData(">c8", 8, DTypeKind.Complex, DTypeCode.Complex64, true)]
    [InlineData("<c16", 16, DTypeKind.Complex, DTypeCode.Complex128, false)]
    [InlineData(">c16", 16, DTypeKind.Complex, DTypeCode.Complex128, true)]
    [InlineData(">i2", 2, DTypeKind.SignedInteger, DTypeCode.Int16, true)]
    [InlineData(">u2", 2, DTypeKind.UnsignedInteger, DTypeCode.UInt16, true)]
    [InlineData(">i4", 4, DTypeKind.SignedInteger, DTypeCode.Int32, true)]
    [InlineData(">u4", 4, DTypeKind.UnsignedInteger, DTypeCode.UInt32, true)]
    [InlineData(">i8", 8, DTypeKind.SignedInteger, DTypeCode.Int64, true)]
    [InlineData(">u8", 8, DTypeKind.UnsignedInteger, DTypeCode.UInt64, true)]
    [InlineData(">f4", 4, DTypeKind.Float, DTypeCode.Float32, true)]
    [InlineData(">f8", 8, DTypeKind.Float, DTypeCode.Float64, true)]
    [InlineData(">u1", 1, DTypeKind.UnsignedInteger, DTypeCode.UInt8, false)]
    [InlineData("|S8", 8, DTypeKind.Opaque, DTypeCode.Opaque, false)]
    [InlineData("<U4", 16, DTypeKind.Opaque, DTypeCode.Opaque, false)]
    [InlineData("|V12", 12, DTypeKind.Opaque, DTypeCode.Opaque, false)]
    [InlineData("[('a', '<f4'), ('b', '<i2')]", 6, DTypeKind.Opaque, DTypeCode.Opaque, false)]
    [InlineData("[('x', '>f8', (3,)), ('', '|V4'), ('n', [('p', '|u1'), ('q', '<c8')])]", 37, DTypeKind.Opaque, DTypeCode.Opaque, false)]
    [InlineData("[(\"a\", \"<i4\", (2, 3))]", 24, DTypeKind.Opaque, DTypeCode.Opaque, false)]
    public void Parse_knows_item_size_kind_code_and_byte_order(string s, int size, DTypeKind kind, DTypeCode code, bool bigEndian)
    {
        var d = DType.Parse(s);
        Assert.Equal((size, kind, code, bigEndian), (d.ItemSize, d.Kind, d.Code, d.IsBigEndian));
        if (kind == DTypeKind.Opaque)
            Assert.Equal(s, d.Name);
        else
            Assert.Equal(DType.FromCode(code), d.AsLittleEndian());
        if (bigEndian)
            Assert.Equal('>', d.Name[0]);
    }

    [Fact]
    public void Element_types_map_to_dtypes_and_back()
    {
        Assert.Equal(DType.Float16, DType.Of<Half>());
        Assert.Equal(DType.Complex64, DType.Of<Complex64>());
        Assert.Equal(DType.Complex128, DType.Of<Complex>());
        Assert.Equal(8, Marshal.SizeOf<Complex64>());
        Assert.Equal(DType.Parse(">f4"), DType.Float32.AsBigEndian());
        Assert.Equal(">c16", DType.Complex128.AsBigEndian().Name);
        Assert.Equal(DType.UInt8, DType.UInt8.AsBigEndian());
        var c = new Complex64(1.5f, -2.25f);
        Complex wide = c;
        Assert.Equal(new Complex(1.5, -2.25), wide);
        Assert.Equal(c, (Complex64)wide);
        Assert.Equal(2.7041634f, c.Magnitude, 5);
    }

    [Theory]
    [InlineData("<f2", typeof(float), "Half")]
    [InlineData(">f4", typeof(double), "float")]
    [InlineData("<c8", typeof(Complex), "MLArray.Complex64")]
    [InlineData("<c16", typeof(Complex64), "System.Numerics.Complex")]
    public void Read_with_the_wrong_element_type_names_the_right_one(string dtype, Type wrong, string right)
    {
        var dt = DType.Parse(dtype);
        using var a = B2ndArray.Open(B2ndWriter.WriteToArray(new byte[4 * dt.ItemSize], [4], dt), "x.b2nd");
        var e = Assert.Throws<ArgumentException>(() =>
        {
            if (wrong == typeof(float)) a.ToArray<float>();
            else if (wrong == typeof(double)) a.ToArray<double>();
            else if (wrong == typeof(Complex)) a.ToArray<Complex>();
            else a.ToArray<Complex64>();
        });
        Assert.Contains($"use {right}", e.Message, StringComparison.Ordinal);
        Assert.Contains(dtype, e.Message, StringComparison.Ordinal);
    }

    /// <summary>Values: smooth runs, repeats, NaN and infinities, so every filter has something to do.</summary>
    private static byte[] Values(DType dt, int n, int seed)
    {
        var rng = new Random(seed);
        var b = new byte[n * dt.ItemSize];
        for (int i = 0; i < n; i++)
        {
            double v = i % 97 == 0 ? double.NaN : i % 89 == 0 ? double.NegativeInfinity : (i / 7) * 0.5 + rng.Next(3);
            var s = b.AsSpan(i * dt.ItemSize, dt.ItemSize);
            switch (dt.Code)
            {
                case DTypeCode.Float16: MemoryMarshal.Write(s, (Half)v); break;
                case DTypeCode.Float32: MemoryMarshal.Write(s, (float)v); break;
                case DTypeCode.Float64: MemoryMarshal.Write(s, v); break;
                case DTypeCode.Complex64: MemoryMarshal.Write(s, new Complex64((float)v, (float)(i % 13) - 6)); break;
                case DTypeCode.Complex128: MemoryMarshal.Write(s, new Complex(v, -(i % 29) * 0.125)); break;
                default:
                    long x = (i / 5) * 3 + rng.Next(4) - (i % 11 == 0 ? 1000 : 0);
                    BitConverter.GetBytes(x).AsSpan(0, Math.Min(8, dt.ItemSize)).CopyTo(s);
                    break;
            }
        }
        return b;
    }

    public static TheoryData<string> NewDTypes() =>
        new(["<f2", "<c8", "<c16", ">i2", ">u2", ">i4", ">u4", ">i8", ">u8", ">f2", ">f4", ">f8", ">c8", ">c16"]);

    /// <summary>
    /// Every codec × filter pipeline (shuffle, bitshuffle, delta, delta+shuffle, delta+bitshuffle) for item sizes 2, 8
    /// and 16 and the big-endian spellings: values in, the same values out (serial and parallel reads), and a big-endian
    /// frame is byte-for-byte the little-endian frame of the swapped values but for the one '&gt;' in the metalayer.
    /// </summary>
    [Theory]
    [MemberData(nameof(NewDTypes))]
    public void Round_trips_through_every_codec_and_filter(string dtype)
    {
        var dt = DType.Parse(dtype);
        long[] shape = [23, 41, 7];
        int n = 23 * 41 * 7;
        byte[] values = Values(dt, n, dtype.GetHashCode(StringComparison.Ordinal));
        foreach (var codec in Codecs)
            foreach (var filters in Pipelines)
            {
                var f = new Blosc2Filter[6];
                filters.CopyTo(f, 6 - filters.Length);
                var options = new B2ndWriteOptions
                {
                    ChunkShape = [10, 20, 7], BlockShape = [5, 8, 7],
                    Compression = new CompressionParams { Codec = codec, CLevel = 5, Filters = f, FiltersMeta = new byte[6] },
                };
                byte[] frame = B2ndWriter.WriteToArray(values, shape, dt, options);
                using var a = B2ndArray.Open(frame, "rt.b2nd");
                Assert.Equal(dt, a.DType);
                string what = $"{dtype} {codec} {string.Join("+", filters)}";
                Assert.True(values.AsSpan().SequenceEqual(a.ReadBytes(threads: 1)), what);
                Assert.True(values.AsSpan().SequenceEqual(a.ReadBytes(threads: 2)), what);
                // a slice crossing chunk and block edges
                byte[] slice = new byte[3 * 9 * 2 * dt.ItemSize];
                a.Read([8..11, 15..24, 3..5], slice);
                for (int i = 0, k = 0; i < 3; i++)
                    for (int j = 0; j < 9; j++)
                        for (int l = 0; l < 2; l++, k++)
                        {
                            int src = (((8 + i) * 41) + 15 + j) * 7 + 3 + l;
                            Assert.True(values.AsSpan(src * dt.ItemSize, dt.ItemSize).SequenceEqual(slice.AsSpan(k * dt.ItemSize, dt.ItemSize)), what);
                        }
                if (dt.IsBigEndian)
                {
                    byte[] swapped = values.ToArray();
                    ByteOrder.SwapInPlace(swapped, dt.SwapSize);
                    byte[] little = B2ndWriter.WriteToArray(swapped, shape, dt.AsLittleEndian(), options);
                    Assert.Equal(little.Length, frame.Length);
                    int diff = DiffCount(little, frame, out int at);
                    Assert.True(diff == 1 && little[at] == (byte)'<' && frame[at] == (byte)'>', $"{what}: {diff} bytes differ");
                }
            }
    }

    private static int DiffCount(byte[] x, byte[] y, out int first)
    {
        first = -1;
        int d = 0;
        for (int i = 0; i < x.Length; i++)
            if (x[i] != y[i])
            {
                if (d++ == 0) first = i;
            }
        return d;
    }

    /// <summary>The same frame with a same-length dtype spelling (e.g. '&gt;f4' relabelled '&lt;f4' to see the stored bytes).</summary>
    internal static byte[] Relabel(byte[] frame, string from, string to)
    {
        Assert.Equal(from.Length, to.Length);
        byte[] needle = Encoding.ASCII.GetBytes(from);
        int at = frame.AsSpan().IndexOf(needle);
        Assert.True(at > 0, $"'{from}' not in the frame");
        byte[] copy = frame.ToArray();
        Encoding.ASCII.GetBytes(to).CopyTo(copy, at);
        return copy;
    }

    /// <summary>r+ writes into a big-endian array keep the stored order; the file's other chunks stay untouched.</summary>
    [Theory]
    [InlineData(">f4")]
    [InlineData(">c16")]
    [InlineData(">i2")]
    public void Writes_into_a_big_endian_file_keep_the_stored_order(string dtype)
    {
        var dt = DType.Parse(dtype);
        string dir = Directory.CreateTempSubdirectory("mla-be-").FullName;
        try
        {
            string path = Path.Combine(dir, "be.b2nd");
            byte[] values = Values(dt, 64 * 30, 7);
            B2ndWriter.Write(path, values, [64, 30], dt, new B2ndWriteOptions { ChunkShape = [16, 30], BlockShape = [8, 30] });
            byte[] patch = Values(dt, 5 * 30, 99);
            using (var a = B2ndArray.Open(path, B2ndOpenMode.ReadWrite))
                a.Write([20..25], patch);
            patch.CopyTo(values, 20 * 30 * dt.ItemSize);
            using (var a = B2ndArray.Open(path))
                Assert.Equal(values, a.ReadBytes());
            // the stored bytes are big-endian: the same file read as little-endian gives the swapped values
            byte[] stored = Relabel(File.ReadAllBytes(path), dtype, "<" + dtype[1..]);
            using var le = B2ndArray.Open(stored, "le.b2nd");
            byte[] expect = values.ToArray();
            ByteOrder.SwapInPlace(expect, dt.SwapSize);
            Assert.Equal(expect, le.ReadBytes());
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>Opaque dtypes (strings, void, structured above 255 bytes) round trip as raw whole items; typed reads are refused.</summary>
    [Theory]
    [InlineData("|S8")]
    [InlineData("<U3")]
    [InlineData("|V12")]
    [InlineData("[('a', '<f4'), ('b', '<i2')]")]
    [InlineData("[('img', '<f4', (10, 10)), ('label', '|u1')]")]
    public void Opaque_items_round_trip_as_raw_bytes(string dtype)
    {
        var dt = DType.Parse(dtype);
        byte[] values = new byte[50 * 3 * dt.ItemSize];
        new Random(5).NextBytes(values);
        for (int i = 0; i < values.Length; i += 7) values[i] = 0;
        foreach (var filters in Pipelines)
        {
            var f = new Blosc2Filter[6];
            filters.CopyTo(f, 6 - filters.Length);
            byte[] frame = B2ndWriter.WriteToArray(values, [50, 3], dt, new B2ndWriteOptions
            {
                ChunkShape = [20, 3], BlockShape = [10, 3],
                Compression = new CompressionParams { Codec = Blosc2Codec.Zstd, CLevel = 3, Filters = f, FiltersMeta = new byte[6] },
            });
            using var a = B2ndArray.Open(frame, "opaque.b2nd");
            Assert.Equal(dtype, a.DType.Name);
            Assert.Equal(values, a.ReadBytes());
            Assert.Equal(values, a.ToArray<byte>());
            byte[] row = a.Read<byte>(7, 1);
            Assert.Equal(values.AsSpan((7 * 3 + 1) * dt.ItemSize, dt.ItemSize).ToArray(), row);
            var e = Assert.Throws<ArgumentException>(() => a.ToArray<int>());
            Assert.Contains(dtype, e.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("<f2")]
    [InlineData(">f4")]
    [InlineData(">f8")]
    [InlineData("<c8")]
    [InlineData("<c16")]
    public void Trunc_prec_is_refused_where_C_Blosc2_cannot_apply_it(string dtype)
    {
        var dt = DType.Parse(dtype);
        var options = new B2ndWriteOptions { Compression = new CompressionParams { Filters = [0, 0, 0, 0, Blosc2Filter.TruncPrec, Blosc2Filter.Shuffle], FiltersMeta = [0, 0, 0, 0, 10, 0] } };
        var e = Assert.Throws<ArgumentException>(() => B2ndWriter.WriteToArray(new byte[8 * dt.ItemSize], [8], dt, options));
        Assert.Contains("trunc_prec", e.Message, StringComparison.Ordinal);
        Assert.Contains(dtype, e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => CompressionNames.ParseFilters("trunc_prec10,shuffle", dt));
    }
}
