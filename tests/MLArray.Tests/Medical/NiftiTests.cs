using MLArray.TestSupport;
using System.Buffers.Binary;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Runtime.InteropServices;
using MLArray.Blosc2;
using MLArray.Medical;
using MLArray.Medical.Nifti;
using Xunit.Abstractions;

namespace MLArray.Tests.Medical;

/// <summary>NIfTI round trips, writer geometry, hostile inputs and (when available) nibabel interop.</summary>
public sealed class NiftiTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nifti-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Tmp(string name) => Path.Combine(_dir, name);

    public static IEnumerable<object[]> ReadableNiftiIds() => MedicalTestData.Ids("nifti");

    private static readonly HashSet<string> WriterOwned = ["sizeof_hdr", "magic", "vox_offset", "eol_check", "unused_str"];

    [Theory]
    [MemberData(nameof(ReadableNiftiIds))]
    public void Read_write_read_keeps_data_dtype_affine_and_fields(string id)
    {
        NiftiImage a = Nifti.Read(MedicalTestData.PathOf(id));
        string outPath = Tmp(Path.GetFileName(id).Replace(".hdr", "", StringComparison.Ordinal).Replace(".nii", "", StringComparison.Ordinal).Replace(".gz", "", StringComparison.Ordinal) + ".nii.gz");
        Nifti.Write(outPath, a);
        NiftiImage b = Nifti.Read(outPath);
        Assert.Equal(a.DType, b.DType);
        Assert.Equal(a.Channels, b.Channels);
        Assert.Equal(a.FileShape, b.FileShape);
        Assert.True(a.Data.AsSpan().SequenceEqual(b.Data), "data differs");
        MedicalTestData.AssertMatrix(a.Affine, b.Affine, 1e-5, id + " affine");
        Assert.Equal(a.Header.Scaling, b.Header.Scaling);
        OrderedDictionary<string, object> da = a.Header.ToDictionary(), db = b.Header.ToDictionary();
        foreach ((string key, object va) in da)
        {
            if (WriterOwned.Contains(key) || !db.TryGetValue(key, out object? vb))
            {
                continue;
            }

            AssertSameValue(va, vb, id + " " + key);
        }

        Assert.Equal(a.Header.Extensions.Count, b.Header.Extensions.Count);
        for (int i = 0; i < a.Header.Extensions.Count; i++)
        {
            Assert.Equal(a.Header.Extensions[i].Code, b.Header.Extensions[i].Code);
            Assert.Equal(a.Header.Extensions[i].Data, b.Header.Extensions[i].Data);
        }
    }

    private static void AssertSameValue(object a, object b, string what)
    {
        switch (a)
        {
            case double x:
                double y = Convert.ToDouble(b, CultureInfo.InvariantCulture);
                Assert.True(double.IsNaN(x) ? double.IsNaN(y) : Math.Abs(x - y) <= 1e-6 * Math.Max(1, Math.Abs(x)), $"{what}: {x} vs {y}");
                break;
            case double[] xs:
                var ys = (double[])b;
                Assert.Equal(xs.Length, ys.Length);
                for (int i = 0; i < xs.Length; i++)
                {
                    AssertSameValue(xs[i], ys[i], $"{what}[{i}]");
                }

                break;
            case long[] ls:
                Assert.Equal(ls, (long[])b);
                break;
            default:
                Assert.Equal(a, b);
                break;
        }
    }

    [Fact]
    public void Writer_sets_sform_and_qform_from_an_oblique_affine()
    {
        // rotation about z by 30°, then about x by -20°, zooms (0.8, 0.9, 2.5), a left-handed frame (det < 0), offset
        double c = Math.Cos(Math.PI / 6), s = Math.Sin(Math.PI / 6), c2 = Math.Cos(-Math.PI / 9), s2 = Math.Sin(-Math.PI / 9);
        double[,] rz = { { c, -s, 0 }, { s, c, 0 }, { 0, 0, 1 } };
        double[,] rx = { { 1, 0, 0 }, { 0, c2, -s2 }, { 0, s2, c2 } };
        double[] zooms = [0.8, 0.9, 2.5];
        var aff = new double[4, 4];
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                double r = 0;
                for (int k = 0; k < 3; k++)
                {
                    r += rz[i, k] * rx[k, j];
                }

                aff[i, j] = r * zooms[j] * (j == 0 ? -1 : 1);
            }
        }

        aff[0, 3] = 12.5;
        aff[1, 3] = -100.25;
        aff[2, 3] = 40;
        aff[3, 3] = 1;
        short[] vals = Enumerable.Range(0, 4 * 5 * 6).Select(i => (short)(i * 37 - 1000)).ToArray();
        byte[] data = MemoryMarshal.AsBytes(vals.AsSpan()).ToArray();
        NiftiImage img = NiftiImage.Create(data, DType.Int16, [4, 5, 6], aff);
        img.Header.SclSlope = 0.5;
        img.Header.SclInter = -3;
        img.Header.Descrip = "written by MLArray.NET tests";
        img.Header.Extensions.Add(new NiftiExtension(6, System.Text.Encoding.ASCII.GetBytes("a comment")));
        foreach (string name in (string[])["oblique.nii", "oblique.nii.gz"])
        {
            Nifti.Write(Tmp(name), img);
            NiftiImage back = Nifti.Read(Tmp(name));
            Assert.Equal(1, back.Header.SformCode);
            Assert.Equal(1, back.Header.QformCode);
            MedicalTestData.AssertMatrix(aff, back.Header.GetSForm(), 1e-5, name + " sform");
            MedicalTestData.AssertMatrix(aff, back.Header.GetQForm(), 1e-5, name + " qform");
            Assert.Equal(-1, back.Header.PixDim[0]);
            Assert.Equal(data, back.Data);
            Assert.Equal((0.5, -3.0), back.Header.Scaling);
            Assert.Equal(vals[7] * 0.5 - 3, back.GetScaledFloat64()[7]);
            Assert.Equal("written by MLArray.NET tests", back.Header.Descrip);
            Assert.Equal(6, back.Header.Extensions.Single().Code);
            Assert.Equal(384.0, back.Header.VoxOffset); // 352 + esize 32 (8 + 9 bytes, padded to 16)
        }
    }

    [Fact]
    public void Rgb_and_float64_images_round_trip_and_reader_streams_in_slabs()
    {
        byte[] rgb = Enumerable.Range(0, 3 * 4 * 2 * 3).Select(i => (byte)i).ToArray();
        var eye = new double[,] { { 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 1, 0 }, { 0, 0, 0, 1 } };
        Nifti.Write(Tmp("rgb.nii"), NiftiImage.Create(rgb, DType.UInt8, [3, 4, 2], eye, channels: 3));
        NiftiImage back = Nifti.Read(Tmp("rgb.nii"));
        Assert.Equal(NiftiDataType.Rgb24, back.Header.DataType);
        Assert.Equal([2L, 4, 3, 3], back.Shape);
        Assert.Equal(rgb, back.Data);

        double[] f = Enumerable.Range(0, 1000).Select(i => Math.Sin(i) * 1e10).ToArray();
        byte[] fb = MemoryMarshal.AsBytes(f.AsSpan()).ToArray();
        Nifti.Write(Tmp("f8.nii.gz"), NiftiImage.Create(fb, DType.Float64, [10, 10, 10], eye));
        using NiftiReader r = NiftiReader.Open(Tmp("f8.nii.gz"));
        Assert.True(r.IsCompressed);
        Assert.Equal(8000, r.DataBytes);
        var slab = new byte[800];
        for (int z = 0; z < 10; z++)
        {
            r.ReadData(slab);
            Assert.Equal(fb.AsSpan(z * 800, 800).ToArray(), slab);
        }

        Assert.Throws<ArgumentException>(() => r.ReadData(new byte[8]));
    }

    [Fact]
    public void Writer_refuses_bool()
    {
        var eye = new double[,] { { 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 1, 0 }, { 0, 0, 0, 1 } };
        Assert.Throws<MLArrayNotSupportedException>(() => NiftiImage.Create(new byte[8], DType.Bool, [8], eye));
    }

    [Theory]
    [InlineData("p.hdr", "p.hdr", "p.img")]
    [InlineData("q.img", "q.hdr", "q.img")]
    [InlineData("r.hdr.gz", "r.hdr.gz", "r.img.gz")]
    [InlineData("s.img.gz", "s.hdr.gz", "s.img.gz")]
    public void Writer_writes_header_image_pairs(string given, string hdr, string img)
    {
        var affine = new double[,] { { -2, 0, 0, 10 }, { 0, 3, 0, -20 }, { 0, 0, 4, 30 }, { 0, 0, 0, 1 } };
        byte[] data = Enumerable.Range(0, 2 * 3 * 5 * 2).Select(i => (byte)(i * 7)).ToArray();
        NiftiImage src = NiftiImage.Create(data, DType.Int16, [2, 3, 5], affine);
        src.Header.Extensions.Add(new NiftiExtension(6, "a comment"u8.ToArray()));
        Nifti.Write(Tmp(given), src);
        Assert.Equal([hdr, img], Directory.GetFiles(_dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(hdr.EndsWith(".gz", StringComparison.Ordinal), MedicalIO.IsGzip(Tmp(hdr)));
        Assert.Equal(img.EndsWith(".gz", StringComparison.Ordinal), MedicalIO.IsGzip(Tmp(img)));
        foreach (string name in (string[])[hdr, img])
        {
            NiftiImage back = Nifti.Read(Tmp(name));
            Assert.Equal("ni1", back.Header.Magic);
            Assert.Equal(0.0, back.Header.VoxOffset);
            Assert.Equal(data, back.Data);
            MedicalTestData.AssertMatrix(affine, back.Affine, 1e-6, "pair affine");
            Assert.Equal("a comment", System.Text.Encoding.ASCII.GetString(back.Header.Extensions.Single().Data).TrimEnd('\0'));
        }

        if (!img.EndsWith(".gz", StringComparison.Ordinal))
        {
            Assert.Equal(data.Length, new FileInfo(Tmp(img)).Length);
        }
    }

    // ------------------------------------------------------------------ hostile inputs

    private string SmallNii(string name = "small.nii")
    {
        var eye = new double[,] { { 2, 0, 0, 0 }, { 0, 2, 0, 0 }, { 0, 0, 2, 0 }, { 0, 0, 0, 1 } };
        Nifti.Write(Tmp(name), NiftiImage.Create(new byte[4 * 4 * 4 * 2], DType.Int16, [4, 4, 4], eye));
        return Tmp(name);
    }

    private string Patched(Action<byte[]> patch, string name)
    {
        byte[] b = File.ReadAllBytes(SmallNii());
        patch(b);
        File.WriteAllBytes(Tmp(name), b);
        return Tmp(name);
    }

    [Fact]
    public void Truncated_nii_gz_is_a_format_error()
    {
        byte[] b = File.ReadAllBytes(MedicalTestData.PathOf("niftijs/with_extension.nii.gz"));
        File.WriteAllBytes(Tmp("cut.nii.gz"), b[..(b.Length / 2)]);
        var ex = Assert.ThrowsAny<MLArrayFormatException>(() => Nifti.Read(Tmp("cut.nii.gz")));
        Assert.Contains("cut.nii.gz", ex.Message, StringComparison.Ordinal);
        Assert.Contains("ends early", ex.Message, StringComparison.Ordinal);
        output.WriteLine(ex.Message);
    }

    [Fact]
    public void Vox_offset_beyond_the_file_is_a_format_error()
    {
        string p = Patched(b => BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(108), 1e6f), "far.nii");
        var ex = Assert.Throws<MLArrayFormatException>(() => Nifti.Read(p));
        Assert.Contains("vox_offset 1000000 is beyond the end", ex.Message, StringComparison.Ordinal);
        Assert.Contains("far.nii", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Data_file_too_short_is_a_format_error()
    {
        byte[] b = File.ReadAllBytes(SmallNii());
        File.WriteAllBytes(Tmp("short.nii"), b[..^10]);
        var ex = Assert.Throws<MLArrayFormatException>(() => Nifti.Read(Tmp("short.nii")));
        Assert.Contains("data file too short", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, "zero")]
    [InlineData(-5, "negative")]
    public void Zero_or_negative_dims_are_format_errors(short value, string word)
    {
        string p = Patched(b => BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(40 + 4), value), $"dim{value}.nii");
        var ex = Assert.Throws<MLArrayFormatException>(() => Nifti.Read(p));
        Assert.Contains($"dim[2] = {value} ({word})", ex.Message, StringComparison.Ordinal);
        string p0 = Patched(b => BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(40), 9), "dim0.nii");
        Assert.Contains("dim[0] = 9", Assert.Throws<MLArrayFormatException>(() => Nifti.Read(p0)).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(3, false)]
    [InlineData(0, false)]
    [InlineData(1536, true)]
    [InlineData(2048, true)]
    [InlineData(1, true)]
    public void Unknown_or_unsupported_datatype_codes(short code, bool known)
    {
        string p = Patched(b => BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(70), code), $"dt{code}.nii");
        MLArrayException ex = known
            ? Assert.Throws<MLArrayNotSupportedException>(() => Nifti.Read(p))
            : Assert.Throws<MLArrayFormatException>(() => Nifti.Read(p));
        Assert.Contains($"datatype code {code}", ex.Message, StringComparison.Ordinal);
        output.WriteLine(ex.Message);
    }

    [Fact]
    public void Corpus_error_entries_fail_cleanly()
    {
        var e1 = Assert.Throws<MLArrayFormatException>(() => Nifti.Read(MedicalTestData.PathOf("niftijs/not-nifti.nii")));
        Assert.Contains("not a NIfTI file", e1.Message, StringComparison.Ordinal);
        var e2 = Assert.Throws<MLArrayFormatException>(() => Nifti.Read(MedicalTestData.PathOf("nibabel/nifti1.hdr")));
        Assert.Contains("missing image file", e2.Message, StringComparison.Ordinal);
        Assert.Throws<FileNotFoundException>(() => Nifti.Read(Tmp("does-not-exist.nii")));
    }

    [Fact]
    public void Declared_size_above_the_limit_is_refused_before_allocating()
    {
        var ex = Assert.Throws<MLArrayFormatException>(() =>
            Nifti.Read(MedicalTestData.PathOf("niivue/shear.nii.gz"), new MedicalReadOptions { MaxDataBytes = 1 << 20 }));
        Assert.Contains("MaxDataBytes", ex.Message, StringComparison.Ordinal);
        // a header claiming 32767^3 int16 voxels in a tiny .nii.gz
        string p = Patched(b =>
        {
            for (int i = 1; i <= 3; i++)
            {
                BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(40 + (2 * i)), short.MaxValue);
            }
        }, "huge.nii");
        byte[] raw = File.ReadAllBytes(p);
        using (var fs = File.Create(Tmp("huge.nii.gz")))
        using (var gz = new GZipStream(fs, CompressionLevel.Fastest))
        {
            gz.Write(raw);
        }

        Assert.Contains("limit", Assert.Throws<MLArrayFormatException>(() => Nifti.Read(Tmp("huge.nii.gz"))).Message, StringComparison.Ordinal);
        Assert.Contains("too short", Assert.Throws<MLArrayFormatException>(() => Nifti.Read(p, new MedicalReadOptions { MaxDataBytes = long.MaxValue })).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Axis_order_helper_matches_a_hand_transpose()
    {
        // file shape (x=3, y=2): file order x fastest: v[x + 3y]; C order over (3,2): w[2x + y]
        byte[] file = [0, 1, 2, 10, 11, 12];
        Assert.Equal([0, 10, 1, 11, 2, 12], MedicalAxisOrder.FileOrderToIndexOrderC(file, [3, 2], 1));
        Assert.Equal([2L, 3], MedicalAxisOrder.ReverseShape([3, 2]));
    }

    // ------------------------------------------------------------------ nibabel interop

    private const string NibabelScript = """
        import sys, numpy as np, nibabel as nib
        d = sys.argv[1]
        img = nib.load(d + '/interop_i2.nii.gz')
        a = img.dataobj.get_unscaled()
        assert a.dtype == np.int16 and a.shape == (4, 5, 6), (a.dtype, a.shape)
        exp = (np.arange(120) * 37 - 1000).astype(np.int16).reshape((4, 5, 6), order='F')
        assert np.array_equal(a, exp)
        assert np.allclose(img.get_fdata(), exp * 0.5 - 3)
        aff = np.array([float(x) for x in sys.argv[2].split(',')]).reshape(4, 4)
        assert np.allclose(img.affine, aff, atol=1e-5), (img.affine, aff)
        # the qform quaternion is float32: with a small w (rotation near 180°) it carries ~1e-4 error
        assert np.allclose(img.get_qform(), aff, atol=2e-4), img.get_qform()
        h = img.header
        assert int(h['sform_code']) == 1 and int(h['qform_code']) == 1
        assert h['descrip'].item() == b'interop', h['descrip']
        assert len(h.extensions) == 1 and h.extensions[0].get_code() == 6 and h.extensions[0].get_content() == b'hello nibabel'
        rgb = nib.load(d + '/interop_rgb.nii')
        assert rgb.get_data_dtype().names == ('R', 'G', 'B'), rgb.get_data_dtype()
        r = np.asanyarray(rgb.dataobj)
        assert r.shape == (3, 4, 2) and int(r[1, 0, 0]['G']) == 4, (r.shape, r[1, 0, 0])
        print('nibabel', nib.__version__, 'read our files OK')
        """;

    [PythonFact("nibabel")]
    public void Nibabel_reads_files_written_by_our_writer()
    {
        string python = TestPython.Find("nibabel")!;

        double[,] aff = { { -0.8, 0.1, 0, 10 }, { 0.05, 0.9, 0.2, -20 }, { 0, -0.3, 2.5, 30 }, { 0, 0, 0, 1 } };
        double[,] rigid = ToRigidWithZooms(aff);
        short[] vals = Enumerable.Range(0, 120).Select(i => (short)(i * 37 - 1000)).ToArray();
        NiftiImage img = NiftiImage.Create(MemoryMarshal.AsBytes(vals.AsSpan()).ToArray(), DType.Int16, [4, 5, 6], rigid);
        img.Header.SclSlope = 0.5;
        img.Header.SclInter = -3;
        img.Header.Descrip = "interop";
        img.Header.Extensions.Add(new NiftiExtension(6, "hello nibabel"u8.ToArray()));
        Nifti.Write(Tmp("interop_i2.nii.gz"), img);
        byte[] rgb = Enumerable.Range(0, 3 * 4 * 2 * 3).Select(i => (byte)i).ToArray();
        Nifti.Write(Tmp("interop_rgb.nii"), NiftiImage.Create(rgb, DType.UInt8, [3, 4, 2], rigid, channels: 3));
        string affArg = string.Join(",", Enumerable.Range(0, 16).Select(k => rigid[k / 4, k % 4].ToString("R", CultureInfo.InvariantCulture)));
        (int code, string so, string se) = PythonScript.Run("nibabel", NibabelScript, _dir, affArg);
        output.WriteLine($"{python}: {so.Trim()} {se.Trim()}");
        Assert.True(code == 0, $"nibabel failed on our files (exit {code}):\n{so}\n{se}");
        Assert.Contains("read our files OK", so, StringComparison.Ordinal);
    }

    /// <summary>An affine a qform can represent exactly: the polar rotation of <paramref name="a"/> times its column norms.</summary>
    private static double[,] ToRigidWithZooms(double[,] a)
    {
        (double b, double c, double d, double qfac, double[] z) = NiftiAffine.AffineToQuaternion(a);
        return NiftiAffine.QuaternionToAffine(b, c, d, a[0, 3], a[1, 3], a[2, 3], qfac, z);
    }

}
