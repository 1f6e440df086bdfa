using MLArray.TestSupport;
using System.Buffers.Binary;
using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using MLArray.IO;
using Xunit.Abstractions;

namespace MLArray.Tests.Npy;

/// <summary>
/// Tests of <see cref="MLArray.IO.Npy"/>. The fixtures in tests/data/npy were written by NumPy 1.24.2
/// (see tests/data/npy/README.md); their expected values are recomputed here from the same formulas.
/// </summary>
public sealed class NpyTests(ITestOutputHelper output)
{
    private static readonly Lazy<string> DataDirLazy = new(FindDataDir);

    private static string DataDir => DataDirLazy.Value;

    private static string Fixture(string name) => Path.Combine(DataDir, name);

    private static string FindDataDir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "data", "npy");
            if (File.Exists(Path.Combine(candidate, "README.md")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException($"tests/data/npy not found above {AppContext.BaseDirectory}");
    }

    private static byte[] Bytes<T>(params T[] values)
        where T : unmanaged
    {
        byte[] b = MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("these tests assume a little-endian host");
        }

        return b;
    }

    private static T[] Range<T>(int n, Func<int, T> f) => Enumerable.Range(0, n).Select(f).ToArray();

    /// <summary>A .npy file made by hand: magic, version, header length, header text (as given: no padding added), data.</summary>
    private static byte[] HandMade(string header, int major = 1, byte[]? data = null, int minor = 0)
    {
        byte[] h = major == 3 ? Encoding.UTF8.GetBytes(header) : Encoding.Latin1.GetBytes(header);
        var ms = new MemoryStream();
        ms.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, (byte)minor]);
        Span<byte> len = stackalloc byte[4];
        if (major == 1)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)h.Length);
            ms.Write(len[..2]);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)h.Length);
            ms.Write(len);
        }

        ms.Write(h);
        ms.Write(data ?? []);
        return ms.ToArray();
    }

    private static NpyArray ReadBytes(byte[] file, bool seekable = true) =>
        MLArray.IO.Npy.Read(seekable ? new MemoryStream(file) : new NonSeekableStream(new MemoryStream(file)), "test.npy");

    private static byte[] WriteBytes(NpyArray a)
    {
        var ms = new MemoryStream();
        MLArray.IO.Npy.Write(ms, a);
        return ms.ToArray();
    }

    // ------------------------------------------------------------------ reading NumPy's files

    [Fact]
    public void Reads_C_order_int16_3x4x5()
    {
        NpyHeader h;
        using (var fs = File.OpenRead(Fixture("i2_c_3x4x5.npy")))
        {
            h = MLArray.IO.Npy.ReadHeader(fs);
            Assert.Equal(h.DataOffset, fs.Position);
        }

        Assert.Equal("<i2", h.Descr);
        Assert.False(h.FortranOrder);
        Assert.Equal([3L, 4, 5], h.Shape);
        Assert.Equal(1, h.Version);
        Assert.Equal(0, h.DataOffset % 64);

        NpyArray a = MLArray.IO.Npy.Read(Fixture("i2_c_3x4x5.npy"));
        Assert.Equal("<i2", a.DType);
        Assert.Equal([3L, 4, 5], a.Shape);
        Assert.Equal(Bytes(Range(60, k => (short)(k - 30))), a.Data);
    }

    [Fact]
    public void Reads_Fortran_order_float64_4x3x2_into_C_order()
    {
        NpyArray a = MLArray.IO.Npy.Read(Fixture("f8_fortran_4x3x2.npy"));
        Assert.Equal("<f8", a.DType);
        Assert.Equal([4L, 3, 2], a.Shape);
        Assert.Equal(Bytes(Range(24, k => (k * 0.5) - 3)), a.Data);
    }

    [Fact]
    public void Reads_Fortran_order_int32_7x5_into_C_order()
    {
        NpyArray a = MLArray.IO.Npy.Read(Fixture("i4_fortran_7x5.npy"));
        Assert.Equal([7L, 5], a.Shape);
        Assert.Equal(Bytes(Range(35, k => (k * 3) - 50)), a.Data);
    }

    [Fact]
    public void Reads_Fortran_order_uint8_5d_into_C_order()
    {
        NpyArray a = MLArray.IO.Npy.Read(Fixture("u1_fortran_2x3x4x5x6.npy"));
        Assert.Equal("|u1", a.DType);
        Assert.Equal([2L, 3, 4, 5, 6], a.Shape);
        Assert.Equal(Range(720, k => (byte)(k % 251)), a.Data);
    }

    [Fact]
    public void Reads_big_endian_int32_as_little_endian()
    {
        Assert.Equal(">i4", MLArray.IO.Npy.ReadHeader(File.OpenRead(Fixture("be_i4_3x4.npy"))).Descr);
        NpyArray a = MLArray.IO.Npy.Read(Fixture("be_i4_3x4.npy"));
        Assert.Equal("<i4", a.DType);
        Assert.Equal([3L, 4], a.Shape);
        Assert.Equal(Bytes(Range(12, k => k - 5)), a.Data);
    }

    [Fact]
    public void Reads_big_endian_Fortran_float64()
    {
        NpyArray a = MLArray.IO.Npy.Read(Fixture("be_f8_fortran_2x3.npy"));
        Assert.Equal("<f8", a.DType);
        Assert.Equal([2L, 3], a.Shape);
        Assert.Equal(Bytes(Range(6, k => k + 0.25)), a.Data);
    }

    [Fact]
    public void Reads_bool_uint8_scalar_and_empty()
    {
        NpyArray b = MLArray.IO.Npy.Read(Fixture("b1_2x3.npy"));
        Assert.Equal("|b1", b.DType);
        Assert.Equal(new byte[] { 1, 0, 0, 1, 0, 0 }, b.Data);

        NpyArray u = MLArray.IO.Npy.Read(Fixture("u1_300.npy"));
        Assert.Equal([300L], u.Shape);
        Assert.Equal(Range(300, k => (byte)(k % 256)), u.Data);

        NpyArray s = MLArray.IO.Npy.Read(Fixture("i8_scalar.npy"));
        Assert.Empty(s.Shape);
        Assert.Equal(1, s.ElementCount);
        Assert.Equal(Bytes(-1234567890123L), s.Data);

        NpyArray e = MLArray.IO.Npy.Read(Fixture("f4_empty_0x3.npy"));
        Assert.Equal("<f4", e.DType);
        Assert.Equal([0L, 3], e.Shape);
        Assert.Empty(e.Data);
    }

    [Fact]
    public void Reads_version_2_and_3_headers()
    {
        using (var fs = File.OpenRead(Fixture("u2_v2.npy")))
        {
            NpyHeader h = MLArray.IO.Npy.ReadHeader(fs, "u2_v2.npy");
            Assert.Equal(2, h.Version);
            Assert.Equal(0, h.DataOffset % 64);
        }

        NpyArray a = MLArray.IO.Npy.Read(Fixture("u2_v2.npy"));
        Assert.Equal("<u2", a.DType);
        Assert.Equal(Bytes(Range(10, k => (ushort)(k * 1000))), a.Data);

        using (var fs = File.OpenRead(Fixture("f4_v3.npy")))
        {
            Assert.Equal(3, MLArray.IO.Npy.ReadHeader(fs).Version);
        }

        NpyArray b = MLArray.IO.Npy.Read(Fixture("f4_v3.npy"));
        Assert.Equal([2L, 3], b.Shape);
        Assert.Equal(Bytes(Range(6, k => k * 0.25f)), b.Data);
    }

    /// <summary>The values of the dtype_*_2x3.npy fixtures (C order, shape (2, 3)), as little-endian bytes.</summary>
    public static TheoryData<string, string> DTypes => new()
    {
        { "|b1", "b1" }, { "|i1", "i1" }, { "|u1", "u1" }, { "<i2", "i2" }, { "<u2", "u2" }, { "<i4", "i4" },
        { "<u4", "u4" }, { "<i8", "i8" }, { "<u8", "u8" }, { "<f4", "f4" }, { "<f8", "f8" },
    };

    private static byte[] DTypeFixtureValues(string dtype) => dtype switch
    {
        "|b1" => [1, 0, 0, 1, 1, 0],
        "|i1" => Bytes<sbyte>(-128, -1, 0, 1, 2, 127),
        "|u1" => [0, 1, 2, 127, 128, 255],
        "<i2" => Bytes<short>(short.MinValue, -1, 0, 1, 2, short.MaxValue),
        "<u2" => Bytes<ushort>(0, 1, 2, 32767, 32768, 65535),
        "<i4" => Bytes(int.MinValue, -1, 0, 1, 2, int.MaxValue),
        "<u4" => Bytes<uint>(0, 1, 2, 2147483647, 2147483648, uint.MaxValue),
        "<i8" => Bytes(long.MinValue, -1, 0, 1, 2, long.MaxValue),
        "<u8" => Bytes<ulong>(0, 1, 2, 9223372036854775807, 9223372036854775808, ulong.MaxValue),
        "<f4" => Bytes(-1.5f, 0f, 0.1f, float.MaxValue, float.NegativeInfinity, float.PositiveInfinity),
        "<f8" => Bytes(-1.5, 0.0, 0.1, double.MaxValue, double.NegativeInfinity, double.Epsilon),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    [Theory]
    [MemberData(nameof(DTypes))]
    public void Every_supported_dtype_reads_and_writes_like_numpy(string dtype, string tag)
    {
        string path = Fixture($"dtype_{tag}_2x3.npy");
        NpyArray read = MLArray.IO.Npy.Read(path);
        Assert.Equal(dtype, read.DType);
        Assert.Equal([2L, 3], read.Shape);
        Assert.Equal(DTypeFixtureValues(dtype), read.Data);

        // Our writer, given independently built values, produces exactly numpy.save's bytes.
        byte[] written = WriteBytes(new NpyArray(dtype, [2, 3], DTypeFixtureValues(dtype)));
        Assert.Equal(File.ReadAllBytes(path), written);
    }

    [Theory]
    [InlineData("i2_c_3x4x5.npy")]
    [InlineData("b1_2x3.npy")]
    [InlineData("u1_300.npy")]
    [InlineData("i8_scalar.npy")]
    [InlineData("f4_empty_0x3.npy")]
    public void Writer_output_is_byte_identical_to_numpy_save(string name)
    {
        byte[] numpyBytes = File.ReadAllBytes(Fixture(name));
        Assert.Equal(numpyBytes, WriteBytes(MLArray.IO.Npy.Read(Fixture(name))));
    }

    [Fact]
    public void Writer_output_for_independently_built_3d_array_matches_numpy()
    {
        var a = new NpyArray("<i2", [3, 4, 5], Bytes(Range(60, k => (short)(k - 30))));
        Assert.Equal(File.ReadAllBytes(Fixture("i2_c_3x4x5.npy")), WriteBytes(a));

        var f = new NpyArray("<f8", [4, 3, 2], Bytes(Range(24, k => (k * 0.5) - 3)));
        NpyArray back = ReadBytes(WriteBytes(f));
        Assert.Equal(f.Data, back.Data);
        Assert.Equal(f.Shape, back.Shape);
    }

    // ------------------------------------------------------------------ unsupported dtypes

    [Theory]
    [InlineData("object_unsupported.npy", "'|O' (object")]
    [InlineData("M8_unsupported.npy", "'<M8[D]' (datetime64)")]
    public void Unsupported_dtypes_throw_NotSupported_naming_the_dtype(string name, string expected)
    {
        var ex = Assert.Throws<MLArrayNotSupportedException>(() => MLArray.IO.Npy.Read(Fixture(name)));
        Assert.Contains("not supported: dtype " + expected, ex.Message, StringComparison.Ordinal);
        Assert.Contains("supported dtypes are |b1 |i1 |u1 <i2 <u2 <i4 <u4 <i8 <u8 <f2 <f4 <f8 <c8 <c16", ex.Message, StringComparison.Ordinal);
        Assert.Contains(name, ex.Message, StringComparison.Ordinal);
    }

    /// <summary>The NumPy 1.24.2 files that were once refused (README: np.arange / np.array / np.zeros) now read.</summary>
    [Fact]
    public void NumPy_float16_complex_string_and_structured_files_read()
    {
        NpyArray f2 = MLArray.IO.Npy.Read(Fixture("f2_unsupported.npy"));
        Assert.Equal("<f2", f2.DType);
        Assert.Equal([(Half)0, (Half)1, (Half)2], MemoryMarshal.Cast<byte, Half>(f2.Data).ToArray());
        NpyArray c8 = MLArray.IO.Npy.Read(Fixture("c8_unsupported.npy"));
        Assert.Equal(("<c8", 8), (c8.DType, c8.ItemSize));
        Assert.Equal(Range(4, k => new Complex64(k, 0)), MemoryMarshal.Cast<byte, Complex64>(c8.Data).ToArray());
        NpyArray u3 = MLArray.IO.Npy.Read(Fixture("U3_unsupported.npy"));
        Assert.Equal(("<U3", 12), (u3.DType, u3.ItemSize));
        Assert.Equal("ab\0cde", Encoding.UTF32.GetString(u3.Data));
        NpyArray s2 = MLArray.IO.Npy.Read(Fixture("S2_unsupported.npy"));
        Assert.Equal("|S2", s2.DType);
        Assert.Equal("abc\0"u8.ToArray(), s2.Data);
        NpyArray st = MLArray.IO.Npy.Read(Fixture("structured_unsupported.npy"));
        Assert.Equal(("[('a', '<i4'), ('b', '<f8')]", 12), (st.DType, st.ItemSize));
        Assert.Equal(new byte[24], st.Data);
        // written back, each reads the same (the structured descr unquoted, as numpy.save writes it)
        foreach (var a in new[] { f2, c8, u3, s2, st })
        {
            NpyArray back = ReadBytes(WriteBytes(a));
            Assert.Equal(a.DType, back.DType);
            Assert.Equal(a.Shape, back.Shape);
            Assert.Equal(a.Data, back.Data);
        }
        Assert.Contains("'descr': [('a', '<i4'), ('b', '<f8')], ", Encoding.ASCII.GetString(WriteBytes(st)), StringComparison.Ordinal);
    }

    /// <summary>Hand-made files: big-endian float16/complex (swapped to machine order, flagged) and Fortran order.</summary>
    [Fact]
    public void Big_endian_and_Fortran_order_new_dtypes_read_in_machine_order()
    {
        // >c16, Fortran (2, 3): stored column-major, each part big-endian
        var values = Range(6, k => new System.Numerics.Complex(k + 0.5, -k));
        byte[] stored = new byte[6 * 16];
        for (int col = 0, k = 0; col < 3; col++)
            for (int r = 0; r < 2; r++, k++)
            {
                var v = values[r * 3 + col];
                BinaryPrimitives.WriteDoubleBigEndian(stored.AsSpan(k * 16), v.Real);
                BinaryPrimitives.WriteDoubleBigEndian(stored.AsSpan(k * 16 + 8), v.Imaginary);
            }
        NpyArray a = ReadBytes(HandMade("{'descr': '>c16', 'fortran_order': True, 'shape': (2, 3), }\n", data: stored));
        Assert.Equal(("<c16", true), (a.DType, a.SourceIsBigEndian));
        Assert.Equal(values, MemoryMarshal.Cast<byte, System.Numerics.Complex>(a.Data).ToArray());

        byte[] half = new byte[8];
        for (int k = 0; k < 4; k++) BinaryPrimitives.WriteHalfBigEndian(half.AsSpan(k * 2), (Half)(k * 0.25 - 1));
        NpyArray h = ReadBytes(HandMade("{'descr': '>f2', 'fortran_order': False, 'shape': (4,), }\n", data: half));
        Assert.Equal(("<f2", true), (h.DType, h.SourceIsBigEndian));
        Assert.Equal(Range(4, k => (Half)(k * 0.25 - 1)), MemoryMarshal.Cast<byte, Half>(h.Data).ToArray());

        byte[] c8 = new byte[16];
        BinaryPrimitives.WriteSingleBigEndian(c8, 1.5f);
        BinaryPrimitives.WriteSingleBigEndian(c8.AsSpan(4), -2f);
        BinaryPrimitives.WriteSingleBigEndian(c8.AsSpan(8), 3f);
        BinaryPrimitives.WriteSingleBigEndian(c8.AsSpan(12), 4.25f);
        NpyArray c = ReadBytes(HandMade("{'descr': '>c8', 'fortran_order': False, 'shape': (2,), }\n", data: c8));
        Assert.Equal([new Complex64(1.5f, -2), new Complex64(3, 4.25f)], MemoryMarshal.Cast<byte, Complex64>(c.Data).ToArray());
        Assert.False(ReadBytes(HandMade("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }\n", data: c8)).SourceIsBigEndian);
    }

    [Fact]
    public void ReadHeader_reports_structured_descr_verbatim()
    {
        using var fs = File.OpenRead(Fixture("structured_unsupported.npy"));
        NpyHeader h = MLArray.IO.Npy.ReadHeader(fs);
        Assert.Equal("[('a', '<i4'), ('b', '<f8')]", h.Descr);
        Assert.Equal([2L], h.Shape);
    }

    [Theory]
    [InlineData("<c32")]
    [InlineData("<f16")]
    [InlineData("<i16")]
    [InlineData("|S0")]
    [InlineData("<m8[s]")]
    [InlineData("float64")]
    [InlineData("")]
    public void Unsupported_hand_made_dtypes_throw_NotSupported(string descr)
    {
        byte[] file = HandMade($"{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,), }}\n", data: new byte[16]);
        var ex = Assert.Throws<MLArrayNotSupportedException>(() => ReadBytes(file));
        Assert.Contains($"dtype '{descr}'", ex.Message, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------------ dtype normalisation and header tolerance

    [Theory]
    [InlineData("?", "|b1")]
    [InlineData("|b1", "|b1")]
    [InlineData("<b1", "|b1")]
    [InlineData("b1", "|b1")]
    [InlineData("<u1", "|u1")]
    [InlineData(">u1", "|u1")]
    [InlineData("=i1", "|i1")]
    [InlineData("=i4", "<i4")]
    [InlineData("|i4", "<i4")]
    [InlineData("f8", "<f8")]
    [InlineData(">u8", "<u8")]
    public void Dtype_strings_are_normalised(string descr, string expected)
    {
        NpyArray a = ReadBytes(HandMade($"{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,), }}\n", data: new byte[8]));
        Assert.Equal(expected, a.DType);
    }

    [Theory]
    [InlineData("{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }")]
    [InlineData("{'shape': (3,), 'descr': '<i2', 'fortran_order': False}")]
    [InlineData("{\"fortran_order\": False, \"shape\": (3 ,), \"descr\": \"<i2\"}")]
    [InlineData("  {  'descr' :'<i2' ,\n 'fortran_order':False,'shape':( 3, ) , }   \n")]
    [InlineData("{'descr': u'<i2', 'fortran_order': False, 'shape': (3L,), }")]
    public void Header_dict_syntax_variants_are_accepted(string header)
    {
        byte[] file = HandMade(header, data: Bytes<short>(7, -8, 9));
        NpyArray a = ReadBytes(file);
        Assert.Equal([3L], a.Shape);
        Assert.Equal(Bytes<short>(7, -8, 9), a.Data);
    }

    [Fact]
    public void Scalar_and_multi_dim_tuples_parse()
    {
        NpyArray s = ReadBytes(HandMade("{'descr': '<f4', 'fortran_order': True, 'shape': ()}", data: Bytes(2.5f)));
        Assert.Empty(s.Shape);
        Assert.Equal(Bytes(2.5f), s.Data);

        NpyHeader h = MLArray.IO.Npy.ReadHeader(new MemoryStream(HandMade("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 0, 4,)}")));
        Assert.Equal([2L, 0, 4], h.Shape);
    }

    [Fact]
    public void Version_3_header_is_utf8()
    {
        // A structured dtype with a non-ASCII field name: parsed as UTF-8, read as opaque 4-byte items.
        byte[] file = HandMade("{'descr': [('é', '<i4')], 'fortran_order': False, 'shape': (1,), }\n", major: 3, data: [1, 2, 3, 4]);
        NpyHeader h = MLArray.IO.Npy.ReadHeader(new MemoryStream(file));
        Assert.Equal(3, h.Version);
        Assert.Equal("[('é', '<i4')]", h.Descr);
        NpyArray a = ReadBytes(file);
        Assert.Equal(("[('é', '<i4')]", 4), (a.DType, a.ItemSize));
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, a.Data);
    }

    [Fact]
    public void Data_offset_points_at_the_data_for_unaligned_headers()
    {
        byte[] file = HandMade("{'descr':'<i4','fortran_order':False,'shape':(2,)}", data: Bytes(5, 6));
        var ms = new MemoryStream(file);
        NpyHeader h = MLArray.IO.Npy.ReadHeader(ms);
        Assert.Equal(file.Length - 8, h.DataOffset);
        Assert.Equal(h.DataOffset, ms.Position);
        Assert.Equal(Bytes(5, 6), ReadBytes(file).Data);
    }

    // ------------------------------------------------------------------ corrupt input

    [Fact]
    public void Every_truncation_of_a_file_is_a_format_error()
    {
        byte[] full = File.ReadAllBytes(Fixture("i2_c_3x4x5.npy"));
        for (int len = 0; len < full.Length; len++)
        {
            byte[] cut = full[..len];
            Assert.Throws<MLArrayFormatException>(() => ReadBytes(cut));
            Assert.Throws<MLArrayFormatException>(() => ReadBytes(cut, seekable: false));
        }
    }

    [Fact]
    public void Truncated_data_message_names_file_and_sizes()
    {
        byte[] full = File.ReadAllBytes(Fixture("i2_c_3x4x5.npy"));
        var ex = Assert.Throws<MLArrayFormatException>(() => ReadBytes(full[..^10]));
        Assert.Contains("test.npy", ex.Message, StringComparison.Ordinal);
        Assert.Contains("truncated", ex.Message, StringComparison.Ordinal);
        Assert.Contains("120", ex.Message, StringComparison.Ordinal);
        Assert.Contains("110", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_magic_is_a_format_error()
    {
        byte[] file = File.ReadAllBytes(Fixture("i2_c_3x4x5.npy"));
        file[5] = (byte)'X';
        var ex = Assert.Throws<MLArrayFormatException>(() => ReadBytes(file));
        Assert.Contains("magic", ex.Message, StringComparison.Ordinal);

        var zip = Assert.Throws<MLArrayFormatException>(() => ReadBytes([(byte)'P', (byte)'K', 3, 4, 0, 0, 0, 0, 0, 0, 0, 0]));
        Assert.Contains(".npz", zip.Message, StringComparison.Ordinal);

        Assert.Throws<MLArrayFormatException>(() => ReadBytes(Encoding.ASCII.GetBytes("hello world, not numpy")));
        Assert.Throws<MLArrayFormatException>(() => ReadBytes([]));
    }

    [Theory]
    [InlineData("hello")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("{'descr': '<i4', 'fortran_order': False}")]
    [InlineData("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), 'extra': 1}")]
    [InlineData("{'descr': '<i4', 'fortran_order': 1, 'shape': (2,)}")]
    [InlineData("{'descr': '<i4', 'fortran_order': false, 'shape': (2,)}")]
    [InlineData("{'descr': '<i4', 'fortran_order': False, 'shape': (2, -1)}")]
    [InlineData("{'descr': '<i4', 'fortran_order': False, 'shape': (2.5,)}")]
    [InlineData("{'descr': '<i4', 'fortran_order': False, 'shape': (2)}")]
    [InlineData("{'descr': '<i4', 'fortran_order': False, 'shape': 2}")]
    [InlineData("{'descr': '<i4', 'fortran_order': False, 'shape': [2]}")]
    [InlineData("{'descr': '<i4', 'fortran_order': False, 'shape': (99999999999999999999,)}")]
    [InlineData("{'descr': '<i4', 'fortran_order': False, 'shape': ('2',)}")]
    [InlineData("{'descr': '<i4', 'fortran_order': False, 'shape': (True,)}")]
    [InlineData("{'descr': 4, 'fortran_order': False, 'shape': (2,)}")]
    [InlineData("{'descr': '<i4, 'fortran_order': False, 'shape': (2,)}")]
    [InlineData("{'descr': '<i4' 'fortran_order': False, 'shape': (2,)}")]
    [InlineData("{'descr': '<i4', 'fortran_order': False, 'shape': (2,)} trailing")]
    [InlineData("{'descr': '<i4', 'fortran_order': False, 'shape': (2,)")]
    [InlineData("{descr: '<i4', fortran_order: False, shape: (2,)}")]
    [InlineData("\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000")]
    public void Garbage_headers_are_format_errors(string header)
    {
        byte[] file = HandMade(header, data: new byte[64]);
        var ex = Assert.Throws<MLArrayFormatException>(() => ReadBytes(file));
        Assert.Contains("test.npy", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_versions_and_header_lengths()
    {
        const string H = "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }\n";
        Assert.Throws<MLArrayFormatException>(() => ReadBytes(HandMade(H, major: 1, minor: 1, data: new byte[4])));
        Assert.Throws<MLArrayFormatException>(() => ReadBytes(HandMade(H, major: 0, data: new byte[4])));
        var v4 = Assert.Throws<MLArrayNotSupportedException>(() => ReadBytes(HandMade(H, major: 4, data: new byte[4])));
        Assert.Contains("4.0", v4.Message, StringComparison.Ordinal);

        // Version 2 header length field of 4 GiB on a tiny file: rejected before allocating.
        byte[] file = HandMade(H, major: 2, data: new byte[4]);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(8), uint.MaxValue);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Throws<MLArrayFormatException>(() => ReadBytes(file));
        Assert.Throws<MLArrayFormatException>(() => ReadBytes(file, seekable: false));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < (1 << 20));

        // Invalid UTF-8 in a version 3 header.
        byte[] v3 = HandMade(H, major: 3, data: new byte[4]);
        v3[12] = 0xFF;
        Assert.Throws<MLArrayFormatException>(() => ReadBytes(v3));
    }

    [Fact]
    public void Huge_declared_shape_on_tiny_file_fails_without_allocating()
    {
        long before = GC.GetAllocatedBytesForCurrentThread();

        // 8 TB declared, 16 bytes present (seekable: checked against the stream length).
        byte[] big = HandMade("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000), }\n", data: new byte[16]);
        var ex = Assert.Throws<MLArrayFormatException>(() => ReadBytes(big));
        Assert.Contains("8000000000000", ex.Message, StringComparison.Ordinal);

        // 1 GiB declared on a non-seekable stream: read incrementally, never the declared size up front.
        byte[] gib = HandMade("{'descr': '<f8', 'fortran_order': False, 'shape': (134217728,), }\n", data: new byte[16]);
        Assert.Throws<MLArrayFormatException>(() => ReadBytes(gib));
        Assert.Throws<MLArrayFormatException>(() => ReadBytes(gib, seekable: false));

        // Element count or byte count overflowing 64 bits.
        byte[] overflow = HandMade("{'descr': '<u1', 'fortran_order': False, 'shape': (4294967296, 4294967296), }\n", data: new byte[16]);
        Assert.Throws<MLArrayFormatException>(() => ReadBytes(overflow));
        Assert.Throws<MLArrayFormatException>(() => ReadBytes(overflow, seekable: false));
        byte[] overflowBytes = HandMade("{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }\n", data: new byte[16]);
        Assert.Throws<MLArrayFormatException>(() => ReadBytes(overflowBytes));

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 8 << 20, $"allocated {allocated} bytes");

        // Beyond a .NET byte array on a stream whose length is unknown: not supported (and nothing allocated).
        byte[] tooBig = HandMade("{'descr': '<u1', 'fortran_order': False, 'shape': (1099511627776,), }\n", data: new byte[16]);
        var ns = Assert.Throws<MLArrayNotSupportedException>(() => ReadBytes(tooBig, seekable: false));
        Assert.Contains("largest .NET byte array", ns.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Non_seekable_streams_read_large_arrays()
    {
        byte[] values = Range(3_000_000, k => (byte)(k * 7));
        byte[] file = WriteBytes(new NpyArray("|u1", [3000, 1000], values));
        NpyArray a = ReadBytes(file, seekable: false);
        Assert.Equal(values, a.Data);
    }

    // ------------------------------------------------------------------ Fortran transposition

    [Fact]
    public void Fortran_transposition_matches_naive_reference_for_random_shapes()
    {
        var rng = new Random(12345);
        int[] itemSizes = [1, 2, 4, 8];
        string[] dtypeFor = ["|u1", "<u2", "", "<u4", "", "", "", "<u8"];
        for (int iter = 0; iter < 400; iter++)
        {
            int ndim = rng.Next(0, 6);
            long[] shape = new long[ndim];
            for (int i = 0; i < ndim; i++)
            {
                shape[i] = rng.Next(0, 100) < 5 ? 0 : rng.Next(1, ndim <= 2 ? 80 : 9);
            }

            int itemSize = itemSizes[rng.Next(itemSizes.Length)];
            CheckFortran(shape, itemSize, dtypeFor[itemSize - 1], rng);
        }

        // Shapes with tiles that do not divide and large strides.
        CheckFortran([100, 100], 8, "<u8", rng);
        CheckFortran([65, 3, 33], 4, "<u4", rng);
        CheckFortran([1, 300, 1, 7], 2, "<u2", rng);
        CheckFortran([257, 129], 1, "|u1", rng);
    }

    private static void CheckFortran(long[] shape, int itemSize, string dtype, Random rng)
    {
        int n = shape.Length;
        int count = 1;
        foreach (long d in shape)
        {
            count *= (int)d;
        }

        byte[] c = new byte[count * itemSize];
        rng.NextBytes(c);

        // Fortran layout, naive: element with C index k has multi-index idx; its Fortran offset is sum idx[j] * prod(shape[..j]).
        byte[] f = new byte[c.Length];
        int[] idx = new int[n];
        for (int k = 0; k < count; k++)
        {
            int rem = k;
            for (int j = n - 1; j >= 0; j--)
            {
                idx[j] = rem % (int)shape[j];
                rem /= (int)shape[j];
            }

            int off = 0, stride = 1;
            for (int j = 0; j < n; j++)
            {
                off += idx[j] * stride;
                stride *= (int)shape[j];
            }

            Array.Copy(c, k * itemSize, f, off * itemSize, itemSize);
        }

        string tuple = n == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";
        byte[] file = HandMade($"{{'descr': '{dtype}', 'fortran_order': True, 'shape': {tuple}, }}\n", data: f);
        NpyArray a = ReadBytes(file);
        Assert.True(c.AsSpan().SequenceEqual(a.Data), $"shape {tuple} itemsize {itemSize}");
    }

    [Fact]
    public void Fortran_transposition_of_a_large_array_is_fast_enough()
    {
        // 4096 x 4096 float32 = 64 MiB; element (i, j) = i * 4096 + j in C order.
        const int N = 4096;
        int[] fortran = new int[N * N];
        for (int j = 0; j < N; j++)
        {
            for (int i = 0; i < N; i++)
            {
                fortran[(j * N) + i] = (i * N) + j;
            }
        }

        byte[] file = HandMade($"{{'descr': '<i4', 'fortran_order': True, 'shape': ({N}, {N}), }}\n", data: MemoryMarshal.AsBytes(fortran.AsSpan()).ToArray());
        var sw = Stopwatch.StartNew();
        NpyArray a = ReadBytes(file);
        sw.Stop();
        ReadOnlySpan<int> values = MemoryMarshal.Cast<byte, int>(a.Data);
        for (int k = 0; k < values.Length; k++)
        {
            if (values[k] != k)
            {
                Assert.Fail($"item {k} is {values[k]}");
            }
        }

        // Timing is reported, never asserted (speed is measured in bench/).
        output.WriteLine($"read + transpose of 64 MiB Fortran array: {sw.ElapsedMilliseconds} ms");
    }

    // ------------------------------------------------------------------ writer

    [Fact]
    public void Writer_round_trips_random_arrays_with_aligned_headers()
    {
        var rng = new Random(777);
        string[] dtypes = ["|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f4", "<f8"];
        for (int iter = 0; iter < 200; iter++)
        {
            string dtype = dtypes[rng.Next(dtypes.Length)];
            long[] shape = Range(rng.Next(0, 5), _ => (long)rng.Next(0, 6));
            if (iter == 0)
            {
                shape = [12345678901234567, 0];
            }

            long count = shape.Aggregate(1L, (x, y) => x * y);
            byte[] data = new byte[count * int.Parse(dtype[2..], System.Globalization.CultureInfo.InvariantCulture)];
            rng.NextBytes(data);
            var a = new NpyArray(dtype, shape, data);
            byte[] file = WriteBytes(a);
            NpyHeader h = MLArray.IO.Npy.ReadHeader(new MemoryStream(file));
            Assert.Equal(1, h.Version);
            Assert.Equal(0, h.DataOffset % 64);
            Assert.Equal((byte)'\n', file[h.DataOffset - 1]);
            Assert.Equal(dtype, h.Descr);
            Assert.Equal(file.Length, h.DataOffset + data.Length);
            NpyArray b = ReadBytes(file);
            Assert.Equal(a.DType, b.DType);
            Assert.Equal(a.Shape, b.Shape);
            Assert.Equal(a.Data, b.Data);
        }
    }

    [Fact]
    public void Writer_switches_to_version_2_for_huge_headers()
    {
        long[] shape = Enumerable.Repeat(1L, 23000).ToArray();
        var a = new NpyArray("<f8", shape, Bytes(3.5));
        byte[] file = WriteBytes(a);
        Assert.Equal(2, file[6]);
        NpyHeader h = MLArray.IO.Npy.ReadHeader(new MemoryStream(file));
        Assert.Equal(2, h.Version);
        Assert.Equal(0, h.DataOffset % 64);
        Assert.Equal(23000, h.Shape.Length);
        Assert.Equal(Bytes(3.5), ReadBytes(file).Data);
    }

    [Fact]
    public void Write_to_path_is_atomic_and_cleans_up()
    {
        string dir = Directory.CreateTempSubdirectory("npy-test-").FullName;
        try
        {
            string path = Path.Combine(dir, "a.npy");
            var first = new NpyArray("<i4", [2], Bytes(1, 2));
            var second = new NpyArray("<i4", [3], Bytes(3, 4, 5));
            MLArray.IO.Npy.Write(path, first);
            MLArray.IO.Npy.Write(path, second);
            Assert.Equal(Bytes(3, 4, 5), MLArray.IO.Npy.Read(path).Data);
            Assert.Equal(["a.npy"], FileNames(dir));

            // The destination is a directory: the move fails, the temp file is removed, the error propagates.
            string blocked = Path.Combine(dir, "blocked.npy");
            Directory.CreateDirectory(blocked);
            Assert.ThrowsAny<IOException>(() => MLArray.IO.Npy.Write(blocked, first));
            Assert.Equal(["a.npy"], FileNames(dir));

            // A missing folder: nothing is created.
            Assert.ThrowsAny<IOException>(() => MLArray.IO.Npy.Write(Path.Combine(dir, "missing", "x.npy"), first));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string[] FileNames(string dir) => Directory.GetFiles(dir).Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void NpyArray_validates_its_arguments()
    {
        Assert.Throws<ArgumentException>(() => new NpyArray("<i4", [2, 3], new byte[20]));
        Assert.Throws<ArgumentException>(() => new NpyArray(">i4", [1], new byte[4]));
        Assert.Throws<ArgumentException>(() => new NpyArray("<c32", [1], new byte[32]));
        Assert.Throws<ArgumentException>(() => new NpyArray(">c8", [1], new byte[8]));
        Assert.Equal(16, new NpyArray("<c16", [1], new byte[16]).ItemSize);
        Assert.Throws<ArgumentException>(() => new NpyArray("<u1", [1], new byte[1]));
        Assert.Throws<ArgumentException>(() => new NpyArray("|u1", [-1], []));
        Assert.Throws<ArgumentException>(() => new NpyArray("<u8", [long.MaxValue, 2], []));
        Assert.Throws<ArgumentNullException>(() => new NpyArray("|u1", null!, []));
        var ok = new NpyArray("|u1", [], [9]);
        Assert.Equal(1, ok.ElementCount);
        Assert.Equal(1, ok.ItemSize);
    }

    // ------------------------------------------------------------------ NumPy reads what we write

    private const string NumpyCheckScript = """
        import sys
        import numpy as np
        d = sys.argv[1]
        exp = {
            'i2': (np.arange(60) - 30).astype('<i2').reshape(3, 4, 5),
            'f8': np.arange(24, dtype='<f8').reshape(4, 3, 2) * 0.5 - 3,
            'b1': (np.arange(6) % 3 == 0).reshape(2, 3),
            'i8s': np.array(-1234567890123, dtype='<i8'),
            'f4e': np.zeros((0, 3), dtype='<f4'),
            'u8': np.array([0, 1, 2, 2**63 - 1, 2**63, 2**64 - 1], dtype='<u8').reshape(2, 3),
            'u1': (np.arange(300) % 256).astype('|u1'),
        }
        for name, e in exp.items():
            p = d + '/' + name + '.npy'
            a = np.load(p, allow_pickle=False)
            assert a.dtype == e.dtype and a.shape == e.shape and np.array_equal(a, e), (name, a.dtype, a.shape, a)
            with open(p, 'rb') as f:
                assert np.lib.format.read_magic(f) == (1, 0), name
                np.lib.format.read_array_header_1_0(f)
                assert f.tell() % 64 == 0, name
            m = np.load(p, mmap_mode='r')
            assert np.array_equal(m, e), name
        print('numpy', np.__version__, 'read', len(exp), 'files OK')
        """;

    [PythonFact("numpy")]
    public void NumPy_reads_files_written_by_our_writer()
    {
        string python = TestPython.Find("numpy")!;

        string dir = Directory.CreateTempSubdirectory("npy-numpy-").FullName;
        try
        {
            MLArray.IO.Npy.Write(Path.Combine(dir, "i2.npy"), new NpyArray("<i2", [3, 4, 5], Bytes(Range(60, k => (short)(k - 30)))));
            MLArray.IO.Npy.Write(Path.Combine(dir, "f8.npy"), new NpyArray("<f8", [4, 3, 2], Bytes(Range(24, k => (k * 0.5) - 3))));
            MLArray.IO.Npy.Write(Path.Combine(dir, "b1.npy"), new NpyArray("|b1", [2, 3], [1, 0, 0, 1, 0, 0]));
            MLArray.IO.Npy.Write(Path.Combine(dir, "i8s.npy"), new NpyArray("<i8", [], Bytes(-1234567890123L)));
            MLArray.IO.Npy.Write(Path.Combine(dir, "f4e.npy"), new NpyArray("<f4", [0, 3], []));
            MLArray.IO.Npy.Write(Path.Combine(dir, "u8.npy"), new NpyArray("<u8", [2, 3], DTypeFixtureValues("<u8")));
            MLArray.IO.Npy.Write(Path.Combine(dir, "u1.npy"), new NpyArray("|u1", [300], Range(300, k => (byte)(k % 256))));

            (int code, string stdout, string stderr) = PythonScript.Run("numpy", NumpyCheckScript, dir);
            output.WriteLine($"{python}: {stdout.Trim()} {stderr.Trim()}");
            Assert.True(code == 0, $"numpy failed to read our files (exit {code}):\n{stdout}\n{stderr}");
            Assert.Contains("files OK", stdout, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Wraps a stream and hides its length and position (like a pipe or a network stream).</summary>
    private sealed class NonSeekableStream(Stream inner) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Flush()
        {
        }

        // Short reads (at most 7 bytes more than half of what was asked) exercise the read loops.
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, 7 + (count / 2)));

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
