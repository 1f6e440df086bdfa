using MLArray.TestSupport;
using System.Runtime.InteropServices;
using MLArray.Blosc2;
using MLArray.Tests.Medical;
using MLArray.Conversion;
using MLArray.Medical.Nifti;
using MLArray.Medical.Nrrd;
using MLArray.Metadata;

namespace MLArray.Tests.Conversion;

/// <summary>
/// The reference's test_cli behaviours (a FakeMedVol there; real files written by our own NIfTI/NRRD writers here).
/// Where our contract differs from the reference (the seed's ITK convention by default, RAS+/XYZ with
/// <c>CanonicalRas</c>; custom coord systems not exported as a space) the difference is asserted and listed in
/// docs/differences-from-python.md (C2–C4).
/// </summary>
public sealed class ReferenceCliSuiteTests : IDisposable
{
    private static readonly double[,] Affine = { { 1.5, 0, 0, 10 }, { 0, 2.5, 0, 20 }, { 0, 0, 3.5, 30 }, { 0, 0, 0, 1 } };
    private static readonly double[,] Swap = { { 0, 1, 0 }, { 1, 0, 0 }, { 0, 0, 1 } };

    private readonly string _dir = Directory.CreateTempSubdirectory("mla-refcli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private static float[] Ramp(int n) => Enumerable.Range(0, n).Select(i => (float)i).ToArray();

    /// <summary>A 2×3×4 float32 NIfTI (x fastest) whose voxel values are their linear file index.</summary>
    private string WriteNifti(string name, double[,] affine)
    {
        string path = P(name);
        Nifti.Write(path, NiftiImage.Create(MemoryMarshal.AsBytes(Ramp(24).AsSpan()).ToArray(), DType.Float32, [2, 3, 4], affine));
        return path;
    }

    private string WriteNrrd(string name, string? space)
    {
        var h = NrrdHeader.Create(DType.Float32, [2, 3, 4]);
        h.Fields["encoding"] = "raw";
        h.Fields["endian"] = "little";
        if (space is not null) h.Fields["space"] = space;
        else h.Fields["space dimension"] = 3L;
        h.Fields["space directions"] = new[] { new[] { 1.5, 0, 0 }, new[] { 0, 2.5, 0 }, new[] { 0, 0, 3.5 } };
        h.Fields["space origin"] = new[] { 10.0, 20, 30 };
        h.KeyValues["keep"] = "me";
        string path = P(name);
        Nrrd.Write(path, new NrrdImage(h, DType.Float32, MemoryMarshal.AsBytes(Ramp(24).AsSpan()).ToArray()));
        return path;
    }

    /// <summary>An .mla like the reference tests': 2×3×4 float32, spacing/origin/a swapped direction, source/extra/is_seg.</summary>
    private string WriteMla(string name, string? coord, MetaDict? source = null)
    {
        string path = P(name);
        using var img = MLArrayFile.FromArray(Ramp(24), [2, 3, 4], new MLArrayCreateOptions
        {
            Spacing = [0.7, 0.8, 0.9],
            Origin = [1.0, 2.0, 3.0],
            Direction = Swap,
            Meta = new MLArrayMeta
            {
                Source = source ?? new MetaDict([new("keep", MetaValue.From("me"))]),
                Extra = new MetaDict([new("ignore", MetaValue.From("me"))]),
                IsSeg = true,
                Spatial = new MetaSpatial { CoordSystem = coord is null ? (CoordSystem?)null : new CoordSystem(coord) },
            },
        });
        img.Save(path);
        return path;
    }

    [Fact]
    public void Nifti_import_copies_the_header_to_source_and_keeps_the_affine()
    {
        // test_convert_to_mlarray_from_nifti_copies_medvol_header_and_spatial (+ test_header_to_source_meta_converts_numpy_values)
        string nii = WriteNifti("in.nii.gz", Affine);

        using (var canon = MedicalConverter.ToMLArray(nii, new MedicalToMLArrayOptions { CanonicalRas = true }))
        {
            MedicalTestData.AssertMatrix(Affine, canon.Affine!, 1e-6, "affine");
            Assert.Equal("RAS+", canon.Meta.Spatial.CoordSystem?.Value);
            Assert.Equal(["spatial_x", "spatial_y", "spatial_z"], canon.AxisLabels!);
            Assert.Equal("nifti", canon.Meta.ImageMetaFormat?.Value);
        }

        // Default (the seed's ITK convention): ZYX, LPS, spacing/origin reversed.
        using var img = MedicalConverter.ToMLArray(nii);
        Assert.Equal("LPS", img.Meta.Spatial.CoordSystem?.Value);
        Assert.Equal(["spatial_z", "spatial_y", "spatial_x"], img.AxisLabels!);
        Assert.Equal([3.5, 2.5, 1.5], img.Spacing!);
        Assert.Equal([30.0, -20, -10], img.Origin!);
        Assert.Equal([4L, 3, 2], img.Shape);

        // Header values become plain JSON values: arrays are lists of numbers, scalars numbers.
        var source = img.Meta.Source;
        var dim = Assert.IsType<MetaList>(source["dim"]);
        Assert.Equal([3L, 2, 3, 4], dim.Items.Take(4).Select(v => v.ToJson()).Select(long.Parse));
        var pixdim = Assert.IsType<MetaList>(source["pixdim"]);
        Assert.Equal(1.5, double.Parse(pixdim.Items[1].ToJson(), System.Globalization.CultureInfo.InvariantCulture));
        Assert.IsType<MetaInt>(source["datatype"]);
    }

    [Theory]
    [InlineData("right-anterior-superior", "RAS")]
    [InlineData("left-posterior-superior", "LPS")]
    [InlineData("scanner-xyz", "scanner-xyz")]
    [InlineData(null, null)]
    public void Nrrd_import_keeps_the_declared_space_and_leaves_it_unset_without_one(string? space, string? coord)
    {
        // test_convert_to_mlarray_from_nrrd_uses_medvol_coord_system / _without_explicit_space_leaves_coord_system_unset
        using var img = MedicalConverter.ToMLArray(WriteNrrd("in.nrrd", space));
        Assert.Equal(coord, img.Meta.Spatial.CoordSystem?.Value);
        Assert.Equal("nrrd", img.Meta.ImageMetaFormat?.Value);
        Assert.Equal(MetaValue.From("me"), img.Meta.Source["keep"]);
        Assert.Equal([4L, 3, 2], img.Shape); // the file's x,y,z reversed: its x-fastest bytes are the C-order array
        Assert.Equal(Ramp(24), img.ToArray<float>());
    }

    [Fact]
    public void Nrrd_export_writes_only_source_and_geometry()
    {
        // test_convert_from_mlarray_to_nrrd_uses_only_source_metadata
        string nrrd = P("out.nrrd");
        MedicalConverter.FromMLArray(WriteMla("s.mla", "RAS+"), nrrd);
        var back = Nrrd.Read(nrrd);
        Assert.Equal(["keep"], back.Header.KeyValues.Keys);
        Assert.Equal("me", back.Header.KeyValues["keep"]);
        Assert.Equal(DType.Float32, back.DType);
        // Our ZYX array is the file's x,y,z reversed: file index order C equals the array.
        using var src = MLArrayFile.Load(P("s.mla"));
        Assert.Equal([4L, 3, 2], back.FileShape);
        Assert.Equal(MemoryMarshal.AsBytes(src.ToArray<float>().AsSpan()).ToArray(), back.Data);
    }

    [Theory]
    [InlineData("RAS+", "right-anterior-superior")]
    [InlineData("RAS", "right-anterior-superior")]
    [InlineData("LPS+", "left-posterior-superior")]
    [InlineData("LPS", "left-posterior-superior")]
    [InlineData("my_custom_frame", null)]
    [InlineData("unknown", null)]
    public void Nrrd_export_writes_the_space_of_the_coord_system(string coord, string? space)
    {
        // test_convert_from_mlarray_to_nrrd_writes_ras_plus_space_metadata / _lps_plus_ / _legacy_lps_value_maps_to_lps_plus_context /
        // _treats_custom_coord_system_as_ras / _treats_unknown_coord_system_as_ras (we do not claim RAS for a frame we do not know: C3)
        var source = new MetaDict([new("keep", MetaValue.From("me")), new("space", MetaValue.From("left-posterior-superior")), new("NRRD_space", MetaValue.From("left-posterior-superior"))]);
        string nrrd = P("out.nrrd");
        MedicalConverter.FromMLArray(WriteMla("s.mla", coord, source), nrrd);
        var h = Nrrd.Read(nrrd).Header;
        Assert.Equal(space, h.Space);
        Assert.DoesNotContain("NRRD_space", h.KeyValues.Keys);
        Assert.Equal("me", h.KeyValues["keep"]);
        Assert.Equal(3, h.SpaceDimension);
        // The geometry is written explicitly from meta.spatial whatever the space: spacing 0.9 along file axis 0 (array axis 2).
        Assert.NotNull(h.SpaceDirections);
        Assert.Equal(0.9, h.SpaceDirections![0].Select(Math.Abs).Max(), 9);
    }

    [Fact]
    public void An_affine_file_exports_the_same_voxel_to_world_map_and_nifti_gets_no_coord_metadata()
    {
        // test_convert_from_mlarray_with_affine_derives_spatial_components / _to_nifti_does_not_add_coord_system_metadata
        double[,] affine = { { 2, 0, 0, 10 }, { 0, 3, 0, 20 }, { 0, 0, 4, 30 }, { 0, 0, 0, 1 } };
        string mla = P("aff.mla");
        using (var img = MLArrayFile.FromArray(Ramp(24), [2, 3, 4], new MLArrayCreateOptions
        {
            Affine = affine,
            AxisLabels = ["spatial_x", "spatial_y", "spatial_z"],
            Meta = new MLArrayMeta { Source = new MetaDict([new("keep", MetaValue.From("me"))]), Spatial = new MetaSpatial { CoordSystem = CoordSystem.RasPlus } },
        }))
            img.Save(mla);
        string nii = P("aff.nii.gz");
        MedicalConverter.FromMLArray(mla, nii);
        var back = Nifti.Read(nii);
        MedicalTestData.AssertMatrix(affine, back.Affine, 1e-6, "affine");
        Assert.Equal(MemoryMarshal.AsBytes(Ramp(24).AsSpan()).ToArray(), back.ToIndexOrderC());
        string text = back.Header.Descrip + back.Header.IntentName + string.Concat(back.Header.Extensions.Select(e => System.Text.Encoding.UTF8.GetString(e.Data)));
        Assert.DoesNotContain("RAS", text, StringComparison.Ordinal);
        Assert.DoesNotContain("coord_system", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Round_trips_keep_the_coord_system_and_the_space()
    {
        // test_convert_roundtrip_nifti_sets_ras_plus_on_import / test_convert_roundtrip_nrrd_ras_plus_preserves_representable_coord_system
        string mla = P("rt.mla");
        MedicalConverter.ToMLArray(WriteNifti("in.nii.gz", Affine), mla, new MedicalToMLArrayOptions { CanonicalRas = true });
        MedicalConverter.FromMLArray(mla, P("rt.nii.gz"));
        using (var f = MLArrayFile.Open(mla))
            Assert.Equal("RAS+", f.Meta.Spatial.CoordSystem?.Value);
        MedicalTestData.AssertMatrix(Affine, Nifti.Read(P("rt.nii.gz")).Affine, 1e-6, "nifti affine");

        string mla2 = P("rt2.mla");
        MedicalConverter.ToMLArray(WriteNrrd("in.nrrd", "right-anterior-superior"), mla2);
        MedicalConverter.FromMLArray(mla2, P("rt.nrrd"));
        using (var f = MLArrayFile.Open(mla2))
            Assert.Equal("RAS", f.Meta.Spatial.CoordSystem?.Value);
        var h = Nrrd.Read(P("rt.nrrd")).Header;
        Assert.Equal("right-anterior-superior", h.Space);
        Assert.Equal([10.0, 20, 30], h.SpaceOrigin!);
    }

    [Fact]
    public void A_medical_to_medical_request_is_refused()
    {
        // test_convert_image_rejects_unsupported_direction: only medical <-> .mla
        string nii = WriteNifti("in.nii.gz", Affine);
        Assert.Contains(".mla", Assert.Throws<ArgumentException>(() => MedicalConverter.ToMLArray(nii, P("out.nrrd"))).Message);
        Assert.False(File.Exists(P("out.nrrd")));
    }
}
