using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;

namespace MLArray.Blosc2.Tests.DTypes;

/// <summary>
/// The frames C-Blosc2 2.23.1 wrote in float16, complex, big-endian and opaque dtypes (tests/data/blosc2-dtypes,
/// README there): every value as the generator defines it, the codec and filters as named, the special chunks kept
/// special, and Save reproducing the file byte for byte.
/// </summary>
public sealed class CBlosc2DTypeFileTests
{
    private static string File(string name) => TestData.Path("blosc2-dtypes", name);

    private const int N = 13 * 17;

    private static long SignedValue(int i) => (i * 7 % 1000) - 500;
    private static long UnsignedValue(int i) => i * 7 % 1000;
    private static double FloatValue(int i) => (i % 50) * 0.25 - 3;
    private static Complex ComplexValue(int i) => new(i * 0.5, -(i % 7));

    public static TheoryData<string, string, Blosc2Codec, string> NumericFiles() => new()
    {
        { "f2_lz4_shuffle.b2nd", "<f2", Blosc2Codec.LZ4, "shuffle" },
        { "f2_zstd_bitshuffle.b2nd", "<f2", Blosc2Codec.Zstd, "bitshuffle" },
        { "be_f2_zlib_delta-shuffle.b2nd", ">f2", Blosc2Codec.Zlib, "delta,shuffle" },
        { "c8_zstd_shuffle.b2nd", "<c8", Blosc2Codec.Zstd, "shuffle" },
        { "c8_lz4_delta.b2nd", "<c8", Blosc2Codec.LZ4, "delta" },
        { "c16_blosclz_bitshuffle.b2nd", "<c16", Blosc2Codec.BloscLZ, "bitshuffle" },
        { "c16_zlib_shuffle.b2nd", "<c16", Blosc2Codec.Zlib, "shuffle" },
        { "be_c8_lz4_shuffle.b2nd", ">c8", Blosc2Codec.LZ4, "shuffle" },
        { "be_c16_zstd_delta-bitshuffle.b2nd", ">c16", Blosc2Codec.Zstd, "delta,bitshuffle" },
        { "be_i2_lz4_shuffle.b2nd", ">i2", Blosc2Codec.LZ4, "shuffle" },
        { "be_u2_zstd_bitshuffle.b2nd", ">u2", Blosc2Codec.Zstd, "bitshuffle" },
        { "be_i4_zlib_delta-shuffle.b2nd", ">i4", Blosc2Codec.Zlib, "delta,shuffle" },
        { "be_u4_blosclz_shuffle.b2nd", ">u4", Blosc2Codec.BloscLZ, "shuffle" },
        { "be_i8_zstd_shuffle.b2nd", ">i8", Blosc2Codec.Zstd, "shuffle" },
        { "be_u8_lz4_bitshuffle.b2nd", ">u8", Blosc2Codec.LZ4, "bitshuffle" },
        { "be_f4_lz4_shuffle.b2nd", ">f4", Blosc2Codec.LZ4, "shuffle" },
        { "be_f8_zstd_bitshuffle.b2nd", ">f8", Blosc2Codec.Zstd, "bitshuffle" },
    };

    [Theory]
    [MemberData(nameof(NumericFiles))]
    public void Numeric_files_read_as_the_generator_values(string file, string dtype, Blosc2Codec codec, string filters)
    {
        using var a = B2ndArray.Open(File(file));
        Assert.Equal(dtype, a.DType.Name);
        Assert.Equal([13L, 17], a.Shape);
        Assert.Equal(codec, a.Codec);
        Assert.Equal(filters, string.Join(",", a.Filters.Where(f => f != Blosc2Filter.None).Select(CompressionNames.NameOf)));
        AssertValues(a);
        // threads do not change the result
        Assert.Equal(a.ReadBytes(threads: 1), a.ReadBytes(threads: 2));
    }

    private static void AssertValues(B2ndArray a)
    {
        switch (a.DType.Code)
        {
            case DTypeCode.Float16:
                Assert.Equal(Enumerable.Range(0, N).Select(i => (Half)FloatValue(i)), a.ToArray<Half>());
                break;
            case DTypeCode.Float32:
                Assert.Equal(Enumerable.Range(0, N).Select(i => (float)FloatValue(i)), a.ToArray<float>());
                break;
            case DTypeCode.Float64:
                Assert.Equal(Enumerable.Range(0, N).Select(FloatValue), a.ToArray<double>());
                break;
            case DTypeCode.Complex64:
                Assert.Equal(Enumerable.Range(0, N).Select(i => (Complex64)ComplexValue(i)), a.ToArray<Complex64>());
                break;
            case DTypeCode.Complex128:
                Assert.Equal(Enumerable.Range(0, N).Select(ComplexValue), a.ToArray<Complex>());
                break;
            case DTypeCode.Int16:
                Assert.Equal(Enumerable.Range(0, N).Select(i => (short)SignedValue(i)), a.ToArray<short>());
                break;
            case DTypeCode.UInt16:
                Assert.Equal(Enumerable.Range(0, N).Select(i => (ushort)UnsignedValue(i)), a.ToArray<ushort>());
                break;
            case DTypeCode.Int32:
                Assert.Equal(Enumerable.Range(0, N).Select(i => (int)SignedValue(i)), a.ToArray<int>());
                break;
            case DTypeCode.UInt32:
                Assert.Equal(Enumerable.Range(0, N).Select(i => (uint)UnsignedValue(i)), a.ToArray<uint>());
                break;
            case DTypeCode.Int64:
                Assert.Equal(Enumerable.Range(0, N).Select(SignedValue), a.ToArray<long>());
                break;
            case DTypeCode.UInt64:
                Assert.Equal(Enumerable.Range(0, N).Select(i => (ulong)UnsignedValue(i)), a.ToArray<ulong>());
                break;
            default:
                Assert.Fail($"unexpected dtype {a.DType}");
                break;
        }
    }

    [Fact]
    public void Opaque_files_read_as_raw_items()
    {
        using (var s = B2ndArray.Open(File("S8_zstd_shuffle.b2nd")))
        {
            Assert.True(s.DType.IsOpaque);
            Assert.Equal(8, s.DType.ItemSize);
            string text = Encoding.ASCII.GetString(s.ReadBytes());
            Assert.Equal(string.Concat(Enumerable.Range(0, N).Select(i => $"s{i:D7}")), text);
            var e = Assert.Throws<ArgumentException>(() => s.ToArray<long>());
            Assert.Contains("|S8", e.Message, StringComparison.Ordinal);
        }
        using (var u = B2ndArray.Open(File("U4_lz4_shuffle.b2nd")))
        {
            Assert.Equal(16, u.DType.ItemSize);
            var cps = MemoryMarshal.Cast<byte, uint>(u.ReadBytes());
            for (int i = 0; i < N; i++)
                Assert.Equal(new uint[] { (uint)('A' + i % 26), (uint)('0' + i % 10), 'x', 0 }, cps.Slice(i * 4, 4).ToArray());
        }
        using (var v = B2ndArray.Open(File("V12_zlib_bitshuffle.b2nd")))
        {
            byte[] raw = v.ReadBytes();
            Assert.Equal(N * 12, raw.Length);
            for (int i = 0; i < N; i++)
                for (int k = 0; k < 12; k++)
                    Assert.Equal((byte)((i * 13 + k) & 255), raw[i * 12 + k]);
        }
        using (var st = B2ndArray.Open(File("struct_f4_i2_zstd_shuffle.b2nd")))
        {
            Assert.Equal("[('a', '<f4'), ('b', '<i2')]", st.DType.Name);
            Assert.Equal(6, st.DType.ItemSize);
            byte[] raw = st.ToArray<byte>();
            for (int i = 0; i < N; i++)
            {
                Assert.Equal(i * 1.5f, BinaryPrimitives.ReadSingleLittleEndian(raw.AsSpan(i * 6)));
                Assert.Equal((short)-i, BinaryPrimitives.ReadInt16LittleEndian(raw.AsSpan(i * 6 + 4)));
            }
        }
    }

    [Fact]
    public void Special_chunks_of_the_new_types_decode()
    {
        using (var z = B2ndArray.Open(File("c16_zeros.b2nd")))
        {
            Assert.All(Enumerable.Range(0, (int)z.NChunks), k => Assert.Equal(ChunkKind.Zeros, z.GetChunkInfo(k).Kind));
            Assert.All(z.ToArray<Complex>(), c => Assert.Equal(Complex.Zero, c));
        }
        using (var nan = B2ndArray.Open(File("c8_nans.b2nd")))
        {
            Assert.All(Enumerable.Range(0, (int)nan.NChunks), k => Assert.Equal(ChunkKind.NaN, nan.GetChunkInfo(k).Kind));
            Assert.All(nan.ToArray<Complex64>(), c => Assert.True(c.Real == 0 && float.IsNaN(c.Imaginary), c.ToString()));
        }
        using (var h = B2ndArray.Open(File("f2_full.b2nd")))
        {
            Assert.All(Enumerable.Range(0, (int)h.NChunks), k => Assert.Equal(ChunkKind.RepeatedValue, h.GetChunkInfo(k).Kind));
            Assert.All(h.ToArray<Half>(), x => Assert.Equal((Half)1.5, x));
        }
        using (var c = B2ndArray.Open(File("c16_full.b2nd")))
        {
            Assert.All(Enumerable.Range(0, (int)c.NChunks), k => Assert.Equal(ChunkKind.RepeatedValue, c.GetChunkInfo(k).Kind));
            Assert.All(c.ToArray<Complex>(), x => Assert.Equal(new Complex(2, -1), x));
        }
    }

    public static TheoryData<string> AllFiles() =>
        new(Directory.GetFiles(TestData.Path("blosc2-dtypes"), "*.b2nd").Select(Path.GetFileName).Order(StringComparer.Ordinal)!);

    /// <summary>
    /// Save of an unchanged array copies the frame byte for byte (chunks, metalayer with the dtype string, index,
    /// trailer); our writer re-encoding the values
    /// with the same parameters reads back the same values.
    /// </summary>
    [Theory]
    [MemberData(nameof(AllFiles))]
    public void Save_keeps_the_stored_bytes_and_our_writer_reproduces_the_values(string file)
    {
        using var a = B2ndArray.Open(File(file));
        using var ms = new MemoryStream();
        a.Save(ms);
        Assert.Equal(System.IO.File.ReadAllBytes(File(file)), ms.ToArray()); // nothing written: the frame as C-Blosc2 wrote it
        using var saved = B2ndArray.Open(ms.ToArray(), "saved.b2nd");
        Assert.Equal(a.DType.Name, saved.DType.Name);
        Assert.Equal(a.CBytes, saved.CBytes);
        for (long k = 0; k < a.NChunks; k++)
            Assert.Equal(a.GetChunkInfo(k), saved.GetChunkInfo(k));
        byte[] values = a.ReadBytes();
        Assert.Equal(values, saved.ReadBytes());
        byte[] ours = B2ndWriter.WriteToArray(values, a.Shape, a.DType, new B2ndWriteOptions
        {
            ChunkShape = a.ChunkShape, BlockShape = a.BlockShape, Compression = a.CompressionParams,
        });
        using var b = B2ndArray.Open(ours, "ours.b2nd");
        Assert.Equal(a.DType, b.DType);
        Assert.Equal(values, b.ReadBytes());
    }
}
