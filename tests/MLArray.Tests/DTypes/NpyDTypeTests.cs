using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using MLArray.IO;
using NpyIO = MLArray.IO.Npy;
using MLArray.TestSupport;
using Xunit.Abstractions;

namespace MLArray.Tests.DTypes;

/// <summary>
/// NumPy 1.24.2 files in float16, complex, big-endian (C and Fortran order) and opaque dtypes (tests/data/npy, README
/// there), read in machine order; and NumPy reading what our writer makes of them.
/// </summary>
public sealed class NpyDTypeTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("npy-dtypes-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Fixture(string name) => Path.Combine(Path.GetDirectoryName(MlaCorpus.Dir)!, "npy", name);

    private static readonly int[] K = Enumerable.Range(0, 12).ToArray();

    [Theory]
    [InlineData("dt_f2_3x4.npy", false)]
    [InlineData("dt_be_f2_3x4.npy", true)]
    public void Float16(string file, bool bigEndian)
    {
        NpyArray a = NpyIO.Read(Fixture(file));
        Assert.Equal(("<f2", bigEndian), (a.DType, a.SourceIsBigEndian));
        Assert.Equal([3L, 4], a.Shape);
        Assert.Equal(K.Select(k => (Half)(k * 0.25 - 1)), MemoryMarshal.Cast<byte, Half>(a.Data).ToArray());
    }

    [Theory]
    [InlineData("dt_c8_3x4.npy", "<c8", false)]
    [InlineData("dt_be_c8_3x4.npy", "<c8", true)]
    [InlineData("dt_c16_fortran_3x4.npy", "<c16", false)]
    [InlineData("dt_be_c16_fortran_3x4.npy", "<c16", true)]
    public void Complex_in_C_and_Fortran_order(string file, string dtype, bool bigEndian)
    {
        NpyArray a = NpyIO.Read(Fixture(file));
        Assert.Equal((dtype, bigEndian), (a.DType, a.SourceIsBigEndian));
        var expected = K.Select(k => new Complex(k * 0.5, -k));
        if (dtype == "<c8")
            Assert.Equal(expected.Select(c => (Complex64)c), MemoryMarshal.Cast<byte, Complex64>(a.Data).ToArray());
        else
            Assert.Equal(expected, MemoryMarshal.Cast<byte, Complex>(a.Data).ToArray());
    }

    [Fact]
    public void Big_endian_uint64_and_opaque_items()
    {
        NpyArray u = NpyIO.Read(Fixture("dt_be_u8_3x4.npy"));
        Assert.Equal(("<u8", true), (u.DType, u.SourceIsBigEndian));
        Assert.Equal(K.Select(k => (ulong)k * 1000003), MemoryMarshal.Cast<byte, ulong>(u.Data).ToArray());
        NpyArray s = NpyIO.Read(Fixture("dt_S5_4.npy"));
        Assert.Equal("|S5", s.DType);
        Assert.Equal("a\0\0\0\0bb\0\0\0ccc\0\0ddddd"u8.ToArray(), s.Data);
        NpyArray v = NpyIO.Read(Fixture("dt_V3_2.npy"));
        Assert.Equal("|V3", v.DType);
        Assert.Equal(new byte[] { 1, 2, 3, 0xff, 0, 0x7f }, v.Data);
        NpyArray st = NpyIO.Read(Fixture("dt_struct_3.npy"));
        Assert.Equal(("[('a', '<f4'), ('b', '<i2')]", 6), (st.DType, st.ItemSize));
        float[] fa = [1.5f, 2.5f, -0.5f];
        short[] fb = [-2, 3, 7];
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(fa[i], BinaryPrimitives.ReadSingleLittleEndian(st.Data.AsSpan(i * 6)));
            Assert.Equal(fb[i], BinaryPrimitives.ReadInt16LittleEndian(st.Data.AsSpan(i * 6 + 4)));
        }
    }

    private const string NumpyScript = """
        import sys, numpy as np
        d = sys.argv[1]
        k = np.arange(12)
        c = (k * 0.5 - 1j * k)
        checks = {
            'f2': (k * 0.25 - 1).astype('<f2').reshape(3, 4),
            'be_f2': (k * 0.25 - 1).astype('<f2').reshape(3, 4),
            'c8': c.astype('<c8').reshape(3, 4),
            'c16': c.astype('<c16').reshape(3, 4),
            'S5': np.array([b'a', b'bb', b'ccc', b'ddddd'], dtype='S5'),
            'struct': np.array([(1.5, -2), (2.5, 3), (-0.5, 7)], dtype=[('a', '<f4'), ('b', '<i2')]),
        }
        for name, want in checks.items():
            got = np.load(d + '/' + name + '.npy')
            assert got.dtype == want.dtype and got.shape == want.shape and (got == want).all(), (name, got.dtype, got)
        print('numpy', np.__version__, 'read our files OK')
        """;

    /// <summary>Our writer's output of the NumPy files (big-endian and Fortran input normalised) is what NumPy expects.</summary>
    [PythonFact("numpy")]
    public void NumPy_reads_our_new_dtype_files()
    {
        foreach (var (src, name) in new[] { ("dt_f2_3x4.npy", "f2"), ("dt_be_f2_3x4.npy", "be_f2"), ("dt_be_c8_3x4.npy", "c8"),
                     ("dt_be_c16_fortran_3x4.npy", "c16"), ("dt_S5_4.npy", "S5"), ("dt_struct_3.npy", "struct") })
            NpyIO.Write(Path.Combine(_dir, name + ".npy"), NpyIO.Read(Fixture(src)));
        (int code, string so, string se) = PythonScript.Run("numpy", NumpyScript, _dir);
        output.WriteLine(so + se);
        Assert.True(code == 0, $"numpy failed on our files (exit {code}):\n{so}\n{se}");
        Assert.Contains("read our files OK", so, StringComparison.Ordinal);
    }
}
