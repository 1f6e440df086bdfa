using System.Runtime.InteropServices;
using MLArray.Blosc2;
using MLArray.Conversion;
using MLArray.Medical.Nifti;
using MLArray.Metadata;
using MLArray.Metadata.Migration;
using MLArray.TestSupport;
using Xunit.Abstractions;

namespace MLArray.Tests.Conversion;

/// <summary>
/// NIfTI geometry at the edges: a 2-D image whose sform/qform are 3-D (out-of-plane rotation, z offset) round-trips
/// NIfTI → .mla → NIfTI with the same forms; a singular affine stored by another writer is exported to NIfTI as a
/// sform without qform and refused by NRRD export.
/// </summary>
public sealed class NiftiGeometryEdgeTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-nifti-edge-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    /// <summary>A 3-D rigid-with-zooms affine (a qform holds it exactly): 30° about x, so the image plane is oblique, and a z offset.</summary>
    private static double[,] ObliquePlane()
    {
        double c = Math.Cos(Math.PI / 6), s = Math.Sin(Math.PI / 6);
        double[,] a = { { -0.7, 0, 0, 10 }, { 0, 0.8 * c, -3 * s, -20 }, { 0, 0.8 * s, 3 * c, 35 }, { 0, 0, 0, 1 } };
        (double b, double cq, double d, double qfac, double[] z) = NiftiAffine.AffineToQuaternion(a);
        return NiftiAffine.QuaternionToAffine(b, cq, d, a[0, 3], a[1, 3], a[2, 3], qfac, z);
    }

    private static void AssertSameForms(NiftiHeader expected, NiftiHeader actual)
    {
        Assert.Equal(expected.SformCode, actual.SformCode);
        Assert.Equal(expected.QformCode, actual.QformCode);
        Assert.Equal(expected.GetSForm(), actual.GetSForm());
        Assert.Equal((expected.QuaternB, expected.QuaternC, expected.QuaternD), (actual.QuaternB, actual.QuaternC, actual.QuaternD));
        Assert.Equal((expected.QOffsetX, expected.QOffsetY, expected.QOffsetZ), (actual.QOffsetX, actual.QOffsetY, actual.QOffsetZ));
        Assert.Equal(expected.PixDim.Take(4), actual.PixDim.Take(4));
    }

    [Fact]
    public void A_2d_image_with_a_3d_sform_and_qform_round_trips_them_unless_its_geometry_was_changed()
    {
        float[] values = Enumerable.Range(0, 20).Select(i => i * 1.5f).ToArray();
        NiftiImage src = NiftiImage.Create(MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), DType.Float32, [5, 4], ObliquePlane());
        src.Header.SformCode = 2;
        Nifti.Write(P("plane.nii"), src);
        NiftiHeader written = Nifti.Read(P("plane.nii")).Header;
        Assert.NotEqual(0, written.SRowZ[1]); // the plane really is oblique: row z depends on j

        MedicalConverter.ToMLArray(P("plane.nii"), P("plane.mla"));
        using (var img = MLArrayFile.Open(P("plane.mla")))
            Assert.Equal([4L, 5], img.Shape); // still a 2-D image
        MedicalConverter.FromMLArray(P("plane.mla"), P("back.nii"));
        NiftiImage back = Nifti.Read(P("back.nii"));
        Assert.Equal([5L, 4], back.Header.FileShape);
        AssertSameForms(written, back.Header);
        Assert.Equal(Nifti.Read(P("plane.nii")).Data, back.Data);

        // a changed in-plane geometry no longer matches the source's forms: the export writes the plane as it is now
        using (var img = MLArrayFile.Open(P("plane.mla"), MLArrayMode.ReadWrite))
            img.Spacing = [2.0, 2.0];
        MedicalConverter.FromMLArray(P("plane.mla"), P("moved.nii"));
        NiftiHeader moved = Nifti.Read(P("moved.nii")).Header;
        Assert.Equal([0, 0, 1, 0], moved.SRowZ);
        Assert.Equal(2.0, Math.Sqrt((moved.SRowX[0] * moved.SRowX[0]) + (moved.SRowY[0] * moved.SRowY[0])), 5);

        // a 2-D image cut from a volume (its source a 3-D header with 3 slices): the volume's form is not its position
        float[] volume = Enumerable.Range(0, 60).Select(i => (float)i).ToArray();
        Nifti.Write(P("vol.nii"), NiftiImage.Create(MemoryMarshal.AsBytes(volume.AsSpan()).ToArray(), DType.Float32, [5, 4, 3], ObliquePlane()));
        MLArrayMeta volumeMeta;
        using (var vol = MedicalConverter.ToMLArray(P("vol.nii"))) volumeMeta = vol.Meta;
        using (var slice = MLArrayFile.FromArray(values, [4, 5], new MLArrayCreateOptions { Meta = new MLArrayMeta { Source = volumeMeta.Source } }))
        {
            using var planeImg = MedicalConverter.ToMLArray(P("plane.nii")); // the plane as imported
            slice.Meta = slice.Meta with { Spatial = slice.Meta.Spatial with { Spacing = planeImg.Meta.Spatial.Spacing, Origin = planeImg.Meta.Spatial.Origin, Direction = planeImg.Meta.Spatial.Direction, CoordSystem = planeImg.Meta.Spatial.CoordSystem } };
            slice.Save(P("slice.mla"));
        }
        MedicalConverter.FromMLArray(P("slice.mla"), P("slice.nii"));
        Assert.Equal([0, 0, 1, 0], Nifti.Read(P("slice.nii")).Header.SRowZ);
    }

    private const string NibabelPlaneScript = """
        import sys, numpy as np, nibabel as nib
        d = sys.argv[1]
        if sys.argv[2] == 'make':
            c, s = np.cos(np.pi / 7), np.sin(np.pi / 7)
            aff = np.array([[0.9, 0, 0, -12.5], [0, 1.1 * c, -2.5 * s, 40.0], [0, 1.1 * s, 2.5 * c, -7.25], [0, 0, 0, 1]])
            img = nib.Nifti1Image(np.arange(42, dtype=np.int16).reshape(6, 7), aff)
            img.set_qform(aff, code=1)
            img.set_sform(aff, code=4)
            nib.save(img, d + '/nb_plane.nii.gz')
        else:
            a, b = nib.load(d + '/nb_plane.nii.gz'), nib.load(d + '/nb_back.nii.gz')
            ha, hb = a.header, b.header
            assert b.shape == a.shape == (6, 7), (a.shape, b.shape)
            assert np.array_equal(np.asanyarray(a.dataobj), np.asanyarray(b.dataobj))
            for k in ('sform_code', 'qform_code'):
                assert int(ha[k]) == int(hb[k]), (k, ha[k], hb[k])
            assert np.array_equal(ha.get_sform(), hb.get_sform()), (ha.get_sform(), hb.get_sform())
            assert np.array_equal(ha.get_qform(), hb.get_qform()), (ha.get_qform(), hb.get_qform())
            assert np.array_equal(a.affine, b.affine)
            print('same sform and qform', hb.get_sform().tolist())
        """;

    [PythonFact("numpy,nibabel")]
    public void A_2d_nibabel_image_with_an_oblique_plane_comes_back_with_the_same_sform_and_qform_for_nibabel()
    {
        var made = PythonScript.Run("numpy,nibabel", NibabelPlaneScript, _dir, "make");
        Assert.True(made.ExitCode == 0, made.Stderr);
        MedicalConverter.ToMLArray(P("nb_plane.nii.gz"), P("nb_plane.mla"));
        MedicalConverter.FromMLArray(P("nb_plane.mla"), P("nb_back.nii.gz"));
        var (code, so, se) = PythonScript.Run("numpy,nibabel", NibabelPlaneScript, _dir, "check");
        output.WriteLine(so + se);
        Assert.True(code == 0, $"nibabel sees different forms:\n{so}\n{se}");
    }

    /// <summary>A file as another writer (the Python reference) may store it: an affine whose first C axis has no extent.</summary>
    private string WriteSingular()
    {
        using (var img = MLArrayFile.Zeros([2, 3, 4], DType.Int16)) img.Save(P("singular.mla"));
        MLArrayMeta meta;
        using (var f = MLArrayFile.Load(P("singular.mla")))
        {
            var rows = new double[][] { [0, 0, 2, 10], [0, 3, 0, 20], [0, 0, 0, 30], [0, 0, 0, 1] };
            meta = f.Meta with { Spatial = f.Meta.Spatial with { Affine = EquatableArray.From(rows.Select(r => EquatableArray.From(r.Select(v => (MetaNumber)v)))) } };
        }
        using (var raw = B2ndArray.Open(P("singular.mla"), B2ndOpenMode.ReadWrite))
            raw.SetVlMeta(MLArrayMetadata.VlMetaName, MLArrayMetadata.Encode(meta));
        return P("singular.mla");
    }

    [Fact]
    public void A_stored_singular_affine_goes_to_NIfTI_as_an_sform_without_qform_and_is_refused_by_NRRD_export()
    {
        string mla = WriteSingular();
        using (var f = MLArrayFile.Open(mla))
            Assert.Equal(0, f.Affine![2, 0]); // opens as stored

        MedicalConverter.FromMLArray(mla, P("singular.nii"));
        NiftiHeader h = Nifti.Read(P("singular.nii")).Header;
        Assert.Equal(1, h.SformCode);
        Assert.Equal(0, h.QformCode);
        // file axis i is C axis 2 - i (no axis labels): the sform's columns are the affine's, reversed
        Assert.Equal(new double[,] { { 2, 0, 0, 10 }, { 0, 3, 0, 20 }, { 0, 0, 0, 30 }, { 0, 0, 0, 1 } }, h.GetSForm());
        Assert.Equal([1.0, 2, 3, 1], h.PixDim.Take(4)); // pixdim[3] is stored as 0, read back with nibabel's fix (0 -> 1)
        Assert.Equal((0.0, 0.0, 0.0), (h.QuaternB, h.QuaternC, h.QuaternD));

        var e = Assert.Throws<MLArrayNotSupportedException>(() => MedicalConverter.FromMLArray(mla, P("singular.nrrd")));
        Assert.Contains("singular", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(P("singular.nrrd")));
    }

    [PythonFact("numpy,nibabel")]
    public void Nibabel_reads_the_singular_sform_export_as_the_stored_affine()
    {
        MedicalConverter.FromMLArray(WriteSingular(), P("singular.nii.gz"));
        const string script = """
            import sys, numpy as np, nibabel as nib
            img = nib.load(sys.argv[1])
            assert int(img.header['qform_code']) == 0 and int(img.header['sform_code']) == 1
            exp = np.array([[2, 0, 0, 10], [0, 3, 0, 20], [0, 0, 0, 30], [0, 0, 0, 1]], dtype=float)
            assert np.array_equal(img.affine, exp), img.affine
            print('ok')
            """;
        var (code, so, se) = PythonScript.Run("numpy,nibabel", script, P("singular.nii.gz"));
        Assert.True(code == 0, so + se);
        Assert.Equal("ok", so.Trim());
    }

    [Theory]
    [InlineData(new long[] { 3, 4, 5, 6 }, new[] { "channel", "spatial_z", "spatial_y", "spatial_x" }, new long[] { 6, 5, 4, 1, 3 })]
    [InlineData(new long[] { 2, 5, 6 }, new[] { "channel", "spatial_y", "spatial_x" }, new long[] { 6, 5, 1, 1, 2 })]
    [InlineData(new long[] { 2, 3, 4, 5, 6 }, new[] { "channel", "channel", "spatial_z", "spatial_y", "spatial_x" }, new long[] { 6, 5, 4, 1, 3, 2 })]
    public void An_image_with_channel_axes_comes_back_from_NIfTI_with_its_shape_and_labels(long[] shape, string[] labels, long[] niftiDims)
    {
        int count = (int)shape.Aggregate(1L, (a, b) => a * b);
        float[] values = Enumerable.Range(0, count).Select(i => i * 0.25f).ToArray();
        double[] spacing = [.. labels.Select((l, i) => l.StartsWith("spatial", StringComparison.Ordinal) ? 0.5 + i : 1.0).Where((_, i) => labels[i].StartsWith("spatial", StringComparison.Ordinal))];
        using (var img = MLArrayFile.FromArray(values, shape, new MLArrayCreateOptions { AxisLabels = labels, Spacing = spacing }))
            img.Save(P("chan.mla"));
        MedicalConverter.FromMLArray(P("chan.mla"), P("chan.nii.gz"));
        NiftiImage nii = Nifti.Read(P("chan.nii.gz"));
        Assert.Equal(niftiDims, nii.Header.FileShape); // what nibabel sees: space in dims 1-3, time (1) in dim 4, the rest after

        MedicalConverter.ToMLArray(P("chan.nii.gz"), P("back.mla"));
        using (var back = MLArrayFile.Open(P("back.mla")))
        {
            Assert.Equal(shape, back.Shape);
            Assert.Equal(labels, back.AxisLabels);
            Assert.Equal(values, back.ToArray<float>());
            Assert.Equal(spacing, back.Spacing);
            Assert.False(back.Meta.Source.TryGetValue("extensions", out _)); // the marker is not kept as a source extension
        }

        // exported again: one marker, the same file dims
        MedicalConverter.FromMLArray(P("back.mla"), P("again.nii.gz"));
        NiftiImage again = Nifti.Read(P("again.nii.gz"));
        Assert.Equal(niftiDims, again.Header.FileShape);
        Assert.Single(again.Header.Extensions);
    }

    [Fact]
    public void Without_the_marker_or_with_one_that_does_not_fit_the_size_1_time_axis_is_kept()
    {
        float[] values = Enumerable.Range(0, 2 * 3 * 4 * 2).Select(i => (float)i).ToArray();
        var plain = NiftiImage.Create(MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), DType.Float32, [4, 3, 2, 1, 2], ObliquePlane());
        Nifti.Write(P("plain.nii"), plain);
        using (var img = MedicalConverter.ToMLArray(P("plain.nii")))
            Assert.Equal([2L, 1, 2, 3, 4], img.Shape);

        // a marker whose labels do not describe these dims (three labels for five dims) is ignored
        plain.Header.Extensions.Add(NiftiAxisLayout.Marker(["channel", "spatial_y", "spatial_x"]));
        Nifti.Write(P("stale.nii"), plain);
        using (var img = MedicalConverter.ToMLArray(P("stale.nii")))
        {
            Assert.Equal([2L, 1, 2, 3, 4], img.Shape);
            Assert.Equal(["channel", "temporal", "spatial_z", "spatial_y", "spatial_x"], img.AxisLabels);
        }
    }

    [PythonFact("numpy,nibabel")]
    public void Nibabel_reads_the_padded_channel_export_with_its_comment_extension()
    {
        float[] values = Enumerable.Range(0, 3 * 4 * 5 * 6).Select(i => (float)i).ToArray();
        using (var img = MLArrayFile.FromArray(values, [3, 4, 5, 6], new MLArrayCreateOptions { AxisLabels = ["channel", "spatial_z", "spatial_y", "spatial_x"] }))
            img.Save(P("c.mla"));
        MedicalConverter.FromMLArray(P("c.mla"), P("c.nii.gz"));
        const string script = """
            import sys, json, numpy as np, nibabel as nib
            img = nib.load(sys.argv[1])
            assert img.shape == (6, 5, 4, 1, 3), img.shape
            a = np.asanyarray(img.dataobj)
            assert a[1, 2, 3, 0, 2] == 2 * 120 + 3 * 30 + 2 * 6 + 1, a[1, 2, 3, 0, 2]
            (e,) = img.header.extensions
            assert e.get_code() == 6 and json.loads(e.get_content().rstrip(b'\0'))['mlarray_axis_labels'] == ['channel', 'spatial_z', 'spatial_y', 'spatial_x']
            print('ok')
            """;
        var (code, so, se) = PythonScript.Run("numpy,nibabel", script, P("c.nii.gz"));
        Assert.True(code == 0, so + se);
        Assert.Equal("ok", so.Trim());
    }
}
