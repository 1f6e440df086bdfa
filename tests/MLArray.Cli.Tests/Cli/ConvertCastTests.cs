using System.Buffers.Binary;
using System.Runtime.InteropServices;
using MLArray.Blosc2;
using MLArray.IO;
using MLArray.Medical.Nifti;
using NpyIO = MLArray.IO.Npy;

namespace MLArray.Cli.Tests.Cli;

/// <summary>
/// <c>convert --cast TYPE [--force]</c> and <c>--keep-byte-order</c>: float16 to NIfTI needs a cast, lossy casts need
/// --force, complex to NRRD is refused with the reason, a big-endian .npy is stored little-endian unless asked.
/// </summary>
public sealed class ConvertCastTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CliRun.Run(args);

    private static string HalfMla(CliTestData.TempDir dir, out Half[] values)
    {
        values = Enumerable.Range(0, 4 * 5 * 6).Select(i => (Half)(i * 0.5 - 10)).ToArray();
        string path = dir.File("h.mla");
        using var img = MLArrayFile.FromArray(values, [4, 5, 6]);
        img.Save(path);
        return path;
    }

    [Fact]
    public void Float16_to_NIfTI_needs_cast_float32_which_converts_exactly()
    {
        using var dir = new CliTestData.TempDir();
        string mla = HalfMla(dir, out var values);
        var (code, _, err) = Run("convert", mla, dir.File("h.nii.gz"));
        Assert.NotEqual(0, code);
        Assert.Contains("use --cast float32", err, StringComparison.Ordinal);
        Assert.False(File.Exists(dir.File("h.nii.gz")));

        var ok = Run("convert", mla, dir.File("h.nii.gz"), "--cast", "float32");
        Assert.True(ok.Code == 0, ok.Err);
        var nii = Nifti.Read(dir.File("h.nii.gz"));
        Assert.Equal(16, nii.Header.DataType);
        float[] back = MemoryMarshal.Cast<byte, float>(nii.ToIndexOrderC()).ToArray();
        // NIfTI stores the reversed axes; C order of the file shape is the transposed array
        var expected = new float[values.Length];
        for (int z = 0; z < 4; z++)
            for (int y = 0; y < 5; y++)
                for (int x = 0; x < 6; x++)
                    expected[(x * 5 + y) * 4 + z] = (float)values[(z * 5 + y) * 6 + x];
        Assert.Equal(expected, back);
    }

    [Fact]
    public void Lossy_cast_needs_force()
    {
        using var dir = new CliTestData.TempDir();
        string npy = dir.File("f.npy");
        float[] f = [1.25f, -3.75f, 70000f, float.NaN];
        NpyIO.Write(npy, new NpyArray("<f4", [4], MemoryMarshal.AsBytes(f.AsSpan()).ToArray()));
        var (code, _, err) = Run("convert", npy, dir.File("i.mla"), "--cast", "int16");
        Assert.NotEqual(0, code);
        Assert.Contains("--force", err, StringComparison.Ordinal);
        Assert.False(File.Exists(dir.File("i.mla")));
        var ok = Run("convert", npy, dir.File("i.mla"), "--cast", "int16", "--force");
        Assert.True(ok.Code == 0, ok.Err);
        using var img = MLArrayFile.Open(dir.File("i.mla"));
        Assert.Equal(DType.Int16, img.DType);
        // NumPy's astype semantics: truncation toward zero, 70000 wraps to 4464 as in numpy (int16), NaN -> 0
        Assert.Equal(new short[] { 1, -3, 4464, 0 }, img.ToArray<short>());
        // exact widening needs no --force; --force without --cast is refused
        var wide = Run("convert", npy, dir.File("d.b2nd"), "--cast", "float64");
        Assert.True(wide.Code == 0, wide.Err);
        using (var d = B2ndArray.Open(dir.File("d.b2nd")))
            Assert.Equal(f.Select(x => (double)x), d.ToArray<double>());
        Assert.NotEqual(0, Run("convert", npy, dir.File("x.mla"), "--force").Code);
        Assert.NotEqual(0, Run("convert", npy, dir.File("y.mla"), "--cast", "text").Code);
    }

    [Fact]
    public void Complex_to_NRRD_is_refused_with_the_reason_and_to_real_even_with_force()
    {
        using var dir = new CliTestData.TempDir();
        string mla = dir.File("c.mla");
        using (var img = MLArrayFile.FromArray(new Complex64[] { new(1, 2), new(3, -4) }, [1, 1, 2])) img.Save(mla);
        var (code, _, err) = Run("convert", mla, dir.File("c.nrrd"));
        Assert.NotEqual(0, code);
        Assert.Contains("NRRD has no complex type", err, StringComparison.Ordinal);
        var r = Run("convert", mla, dir.File("c.npy"), "--cast", "float32", "--force");
        Assert.NotEqual(0, r.Code);
        Assert.Contains("imaginary part", r.Err, StringComparison.Ordinal);
        var wide = Run("convert", mla, dir.File("c16.npy"), "--cast", "complex128");
        Assert.True(wide.Code == 0, wide.Err);
        var c16 = NpyIO.Read(dir.File("c16.npy"));
        Assert.Equal("<c16", c16.DType);
        Assert.Equal(new System.Numerics.Complex[] { new(1, 2), new(3, -4) }, MemoryMarshal.Cast<byte, System.Numerics.Complex>(c16.Data).ToArray());
    }

    [Fact]
    public void Big_endian_npy_is_stored_little_endian_unless_keep_byte_order()
    {
        using var dir = new CliTestData.TempDir();
        string npy = CliTestData.Npy("be_i4_3x4.npy"); // NumPy 1.24.2: np.arange(-5, 7, dtype='>i4').reshape(3, 4)
        int[] expected = Enumerable.Range(-5, 12).ToArray();
        foreach (var (name, extra, stored) in new[] { ("le.mla", Array.Empty<string>(), "<i4"), ("be.mla", ["--keep-byte-order"], ">i4"), ("be.b2nd", ["--keep-byte-order"], ">i4") })
        {
            var r = Run(["convert", npy, dir.File(name), .. extra]);
            Assert.True(r.Code == 0, r.Err);
            using var a = B2ndArray.Open(dir.File(name));
            Assert.Equal(stored, a.DType.Name);
            Assert.Equal(expected, a.ToArray<int>());
            // the file holds the bytes in the stored order
            byte[] bytes = File.ReadAllBytes(dir.File(name));
            Assert.True(bytes.AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes(stored)) > 0);
        }
        // .mla -> .npy writes little-endian values
        var back = Run("convert", dir.File("be.mla"), dir.File("back.npy"));
        Assert.True(back.Code == 0, back.Err);
        var arr = NpyIO.Read(dir.File("back.npy"));
        Assert.Equal("<i4", arr.DType);
        Assert.False(arr.SourceIsBigEndian);
        Assert.Equal(expected, MemoryMarshal.Cast<byte, int>(arr.Data).ToArray());
        Assert.NotEqual(0, Run("convert", dir.File("be.mla"), dir.File("x.npy"), "--keep-byte-order").Code);
    }
}
