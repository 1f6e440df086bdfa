using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using MLArray.Blosc2;
using MLArray.Conversion;
using MLArray.Medical.Nifti;
using MLArray.TestSupport;
using Xunit.Abstractions;

namespace MLArray.Tests.DTypes;

/// <summary>
/// The corpus complex64 NIfTI (niivue/complex_image.nii.gz, datatype 32) against its manifest (nibabel 5.0.0 /
/// NumPy 1.24.2 hashes), converted to .mla and back; and (when nibabel is installed) nibabel reading our complex files.
/// </summary>
public sealed class ComplexNiftiTests(ITestOutputHelper output) : IDisposable
{
    private const string Id = "niivue/complex_image.nii.gz";
    private readonly string _dir = Directory.CreateTempSubdirectory("complex-nifti-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Corpus_complex64_file_matches_the_manifest_through_mla_and_back()
    {
        var rec = MedicalTestData.Record(Id);
        string path = MedicalTestData.PathOf(Id);
        string sha = rec.GetProperty("files").GetProperty(Id).GetProperty("sha256").GetString()!;
        Assert.Equal(sha, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))));
        var raw = rec.GetProperty("raw");
        Assert.Equal("complex64", raw.GetProperty("dtype").GetString());

        string mla = Path.Combine(_dir, "c.mla");
        MedicalConverter.ToMLArray(path, mla);
        using (var a = B2ndArray.Open(mla))
        {
            Assert.Equal(DType.Complex64, a.DType);
            Assert.Equal([10L, 10, 10], a.Shape);
            // C order over the reversed shape is NIfTI's file order: the manifest's file-order hash
            Assert.Equal(raw.GetProperty("fnv1a64_f").GetString(), MedicalTestData.Fnv1a64(a.ReadBytes()));
            var values = a.ToArray<Complex64>();
            Assert.Contains(values, v => v.Imaginary != 0); // a real complex image, not a real one stored as complex
        }
        string back = Path.Combine(_dir, "back.nii.gz");
        MedicalConverter.FromMLArray(mla, back);
        var img = Nifti.Read(back);
        Assert.Equal(32, img.Header.DataType);
        Assert.Equal(64, img.Header.BitPix);
        Assert.Equal(raw.GetProperty("fnv1a64_f").GetString(), MedicalTestData.Fnv1a64(img.Data));
        Assert.Equal(raw.GetProperty("fnv1a64_c").GetString(), MedicalTestData.Fnv1a64(img.ToIndexOrderC()));
    }

    /// <summary>A big-endian NIfTI-1 complex128 file (header fields and each 8-byte part swapped by hand) reads as the values.</summary>
    [Fact]
    public void Big_endian_complex_NIfTI_swaps_each_part()
    {
        var values = Enumerable.Range(0, 2 * 3 * 4).Select(i => new Complex(i * 0.5 + 0.25, -i)).ToArray();
        var identity = new double[,] { { 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 1, 0 }, { 0, 0, 0, 1 } };
        string le = Path.Combine(_dir, "le.nii"), be = Path.Combine(_dir, "be.nii");
        Nifti.Write(le, NiftiImage.Create(MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), DType.Complex128, [4, 3, 2], identity));
        byte[] b = File.ReadAllBytes(le);
        void Swap(int at, int size) => Array.Reverse(b, at, size);
        Swap(0, 4);                                           // sizeof_hdr
        Swap(32, 4); Swap(36, 2);                             // extents, session_error
        for (int at = 40; at < 56; at += 2) Swap(at, 2);      // dim[8]
        for (int at = 56; at < 68; at += 4) Swap(at, 4);      // intent_p1..3
        for (int at = 68; at < 76; at += 2) Swap(at, 2);      // intent_code, datatype, bitpix, slice_start
        for (int at = 76; at < 120; at += 4) Swap(at, 4);     // pixdim[8], vox_offset, scl_slope, scl_inter
        Swap(120, 2);                                         // slice_end
        for (int at = 124; at < 148; at += 4) Swap(at, 4);    // cal_max, cal_min, slice_duration, toffset, glmax, glmin
        Swap(252, 2); Swap(254, 2);                           // qform_code, sform_code
        for (int at = 256; at < 328; at += 4) Swap(at, 4);    // quatern_b..qoffset_z, srow_x/y/z
        int vox = (int)BinaryPrimitives.ReadSingleBigEndian(b.AsSpan(108));
        for (int at = vox; at < b.Length; at += 8) Swap(at, 8); // each double of each complex
        File.WriteAllBytes(be, b);
        var read = Nifti.Read(be);
        Assert.False(read.Header.IsLittleEndian);
        Assert.Equal(1792, read.Header.DataType);
        Assert.Equal(values, MemoryMarshal.Cast<byte, Complex>(read.Data).ToArray());
    }

    private const string NibabelScript = """
        import sys, numpy as np, nibabel as nib
        d = sys.argv[1]
        a = np.asanyarray(nib.load(d + '/c8.nii.gz').dataobj)
        assert a.dtype == np.complex64 and a.shape == (4, 3, 2), (a.dtype, a.shape)
        assert a[1, 2, 1] == np.complex64(complex(1 * 6 + 2 * 2 + 1, -(1 * 6 + 2 * 2 + 1) * 0.5)), a[1, 2, 1]
        b = np.asanyarray(nib.load(d + '/c16.nii').dataobj)
        assert b.dtype == np.complex128 and b[3, 0, 1] == complex(3 * 6 + 1, -(3 * 6 + 1) * 0.5), b[3, 0, 1]
        print('nibabel', nib.__version__, 'read our complex files OK')
        """;

    [PythonFact("nibabel")]
    public void Nibabel_reads_our_complex_NIfTI_files()
    {
        // file order x fastest: value at (x, y, z) = x*6 + y*2 + z for the C-order index over (z, y, x) reversed
        var identity = new double[,] { { 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 1, 0 }, { 0, 0, 0, 1 } };
        var c8 = new Complex64[24];
        var c16 = new Complex[24];
        for (int x = 0; x < 4; x++)
            for (int y = 0; y < 3; y++)
                for (int z = 0; z < 2; z++)
                {
                    int v = x * 6 + y * 2 + z, at = (z * 3 + y) * 4 + x; // file order: x fastest
                    c8[at] = new Complex64(v, -v * 0.5f);
                    c16[at] = new Complex(v, -v * 0.5);
                }
        Nifti.Write(Path.Combine(_dir, "c8.nii.gz"), NiftiImage.Create(MemoryMarshal.AsBytes(c8.AsSpan()).ToArray(), DType.Complex64, [4, 3, 2], identity));
        Nifti.Write(Path.Combine(_dir, "c16.nii"), NiftiImage.Create(MemoryMarshal.AsBytes(c16.AsSpan()).ToArray(), DType.Complex128, [4, 3, 2], identity));
        (int code, string so, string se) = PythonScript.Run("nibabel", NibabelScript, _dir);
        output.WriteLine(so + se);
        Assert.True(code == 0, $"nibabel failed on our files (exit {code}):\n{so}\n{se}");
        Assert.Contains("read our complex files OK", so, StringComparison.Ordinal);
    }
}
