using System.Numerics;
using MLArray.Blosc2;
using MLArray.Conversion;
using MLArray.TestSupport;

namespace MLArray.Tests.DTypes;

/// <summary>
/// MLArrayFile with float16, complex, big-endian and opaque dtypes: typed round trips, the layout chosen from the item
/// size, Load/Save of the C-Blosc2 files (tests/data/blosc2-dtypes) keeping dtype string and compressed chunks, and the
/// refusals (wrong element type, opaque typed reads, medical export).
/// </summary>
public sealed class MLArrayFileDTypeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-dtypes-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string CBlosc2File(string name) => Path.Combine(Path.GetDirectoryName(MlaCorpus.Dir)!, "blosc2-dtypes", name);

    [Fact]
    public void Half_and_complex_images_round_trip_through_a_file()
    {
        long[] shape = [6, 40, 50];
        var half = Enumerable.Range(0, 6 * 40 * 50).Select(i => (Half)((i % 300) * 0.125)).ToArray();
        var c8 = Enumerable.Range(0, half.Length).Select(i => new Complex64(i, -i * 0.5f)).ToArray();
        var c16 = Enumerable.Range(0, half.Length).Select(i => new Complex(i * 1e-3, Math.Sin(i))).ToArray();
        string p1 = Path.Combine(_dir, "h.mla"), p2 = Path.Combine(_dir, "c8.mla"), p3 = Path.Combine(_dir, "c16.mla");
        using (var a = MLArrayFile.FromArray(half, shape)) a.Save(p1);
        using (var a = MLArrayFile.FromArray(c8, shape)) a.Save(p2);
        using (var a = MLArrayFile.FromArray(c16, shape)) a.Save(p3);
        using (var a = MLArrayFile.Open(p1))
        {
            Assert.Equal(DType.Float16, a.DType);
            Assert.Equal(half, a.ToArray<Half>());
            Assert.Equal(half.AsSpan(40 * 50, 40 * 50).ToArray(), a.Read<Half>(1));
            var e = Assert.Throws<ArgumentException>(() => a.ToArray<float>());
            Assert.Contains("use Half", e.Message, StringComparison.Ordinal);
        }
        using (var a = MLArrayFile.Open(p2))
        {
            Assert.Equal(c8, a.ToArray<Complex64>());
            using var b = MLArrayFile.Open(p3);
            Assert.Equal(c16, b.ToArray<Complex>());
            Assert.Equal(c16[123], b.Read<Complex>(0, 2, 23)[0]);
        }
    }

    [Theory]
    [InlineData("be_f4_lz4_shuffle.b2nd")]
    [InlineData("be_c16_zstd_delta-bitshuffle.b2nd")]
    [InlineData("f2_zstd_bitshuffle.b2nd")]
    [InlineData("S8_zstd_shuffle.b2nd")]
    [InlineData("struct_f4_i2_zstd_shuffle.b2nd")]
    [InlineData("c16_full.b2nd")]
    public void Load_and_Save_keep_the_dtype_string_and_the_compressed_chunks(string file)
    {
        string mla = Path.Combine(_dir, Path.ChangeExtension(file, ".mla"));
        File.Copy(CBlosc2File(file), mla);
        using var original = B2ndArray.Open(mla);
        string saved = Path.Combine(_dir, "saved.mla");
        using (var img = MLArrayFile.Load(mla))
        {
            Assert.Equal(original.DType, img.DType);
            img.Save(saved);
        }
        using var back = B2ndArray.Open(saved);
        Assert.Equal(original.DType.Name, back.DType.Name);
        Assert.Equal(original.CBytes, back.CBytes);
        for (long k = 0; k < original.NChunks; k++)
            Assert.Equal(original.GetChunkInfo(k), back.GetChunkInfo(k));
        Assert.Equal(original.ReadBytes(), back.ReadBytes());
        using var img2 = MLArrayFile.Open(saved);
        if (img2.DType.IsOpaque)
        {
            Assert.Equal(original.ReadBytes(), img2.ToArray<byte>());
            var e = Assert.Throws<ArgumentException>(() => img2.ToArray<float>());
            Assert.Contains(img2.DType.Name, e.Message, StringComparison.Ordinal);
            var m = Assert.Throws<MLArrayNotSupportedException>(() => MedicalConverter.FromMLArray(saved, Path.Combine(_dir, "x.nii.gz")));
            Assert.Contains(img2.DType.Name, m.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Float16_to_NIfTI_or_NRRD_says_use_cast_float32_and_complex_to_NRRD_gives_the_reason()
    {
        string h = Path.Combine(_dir, "h.mla"), c = Path.Combine(_dir, "c.mla");
        using (var a = MLArrayFile.FromArray(new Half[] { (Half)1, (Half)2, (Half)3, (Half)4 }, [1, 2, 2])) a.Save(h);
        using (var a = MLArrayFile.FromArray(new Complex64[] { new(1, 2), new(3, 4), new(5, 6), new(7, 8) }, [1, 2, 2])) a.Save(c);
        foreach (string outName in new[] { "h.nii.gz", "h.nrrd" })
        {
            var e = Assert.Throws<MLArrayNotSupportedException>(() => MedicalConverter.FromMLArray(h, Path.Combine(_dir, outName)));
            Assert.Contains("use --cast float32", e.Message, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(_dir, outName)));
        }
        var n = Assert.Throws<MLArrayNotSupportedException>(() => MedicalConverter.FromMLArray(c, Path.Combine(_dir, "c.nrrd")));
        Assert.Contains("NRRD has no complex type", n.Message, StringComparison.Ordinal);
        Assert.Contains("NIfTI", n.Message, StringComparison.Ordinal);
        // complex64 to NIfTI and back (datatype 32)
        string nii = Path.Combine(_dir, "c.nii.gz"), back = Path.Combine(_dir, "back.mla");
        MedicalConverter.FromMLArray(c, nii);
        Assert.Equal(32, MLArray.Medical.Nifti.Nifti.Read(nii).Header.DataType);
        MedicalConverter.ToMLArray(nii, back);
        using var b = MLArrayFile.Open(back);
        Assert.Equal([new Complex64(1, 2), new(3, 4), new(5, 6), new(7, 8)], b.ToArray<Complex64>());
    }

    [Fact]
    public void Complex128_to_NIfTI_is_datatype_1792_and_reads_back()
    {
        string c = Path.Combine(_dir, "c16.mla"), nii = Path.Combine(_dir, "c16.nii");
        var values = Enumerable.Range(0, 3 * 4 * 5).Select(i => new Complex(i * 0.25, -i)).ToArray();
        using (var a = MLArrayFile.FromArray(values, [3, 4, 5])) a.Save(c);
        MedicalConverter.FromMLArray(c, nii);
        var img = MLArray.Medical.Nifti.Nifti.Read(nii);
        Assert.Equal((1792, 128), (img.Header.DataType, img.Header.BitPix));
        string back = Path.Combine(_dir, "back.mla");
        MedicalConverter.ToMLArray(nii, back);
        using var b = MLArrayFile.Open(back);
        Assert.Equal(DType.Complex128, b.DType);
        Assert.Equal(values, b.ToArray<Complex>());
    }
}
