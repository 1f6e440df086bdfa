using MLArray.Blosc2;
using MLArray.Metadata;
using MLArray.Metadata.Migration;

namespace MLArray.Tests.Api;

/// <summary>
/// Ports of the reference's test_metadata, test_meta_safety and the uncompressed-store tests of test_usage that are not
/// covered elsewhere (the full map from the 93 reference tests to ours is docs/conformance.md).
/// </summary>
public sealed class ReferenceSuiteTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-refsuite-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private static float[] Ramp(int n) => Enumerable.Range(0, n).Select(i => (float)i).ToArray();

    private static MetaDict Dict(params (string Key, MetaValue Value)[] entries) => new([.. entries.Select(e => new KeyValuePair<string, MetaValue>(e.Key, e.Value))]);

    /// <summary>The decoded payload of the file's "mlarray" vlmeta entry, before any migration.</summary>
    private static MetaDict StoredMapping(string path)
    {
        using var raw = B2ndArray.Open(path);
        var read = MLArrayMetadata.Read(raw) ?? throw new InvalidOperationException("no mlarray entry");
        return (MetaDict)read.Payload.Value;
    }

    // ------------------------------------------------------------------ test_usage: uncompressed stores

    [Fact]
    public void Uncompressed_image_saves_and_loads_with_its_values_and_a_compressed_layout()
    {
        // test_default_usage_uncompressed_backend / test_load_uncompressed_store
        var data = Ramp(8 * 16 * 16);
        using (var img = MLArrayFile.FromArray(data, [8, 16, 16]))
        using (var plain = img.Decompress())
        {
            Assert.True(plain.IsDecompressed);
            Assert.Equal(data, plain.ToArray<float>());
            plain.Save(P("u.mla"));
        }
        using var back = MLArrayFile.Load(P("u.mla"));
        Assert.False(back.IsDecompressed);
        Assert.Equal(data, back.ToArray<float>());
        Assert.Equal([192L, 192, 192], back.Meta.Blosc2.PatchSize!); // the default layout, as the reference gives on save
        using var loadedPlain = back.Decompress();
        Assert.Equal(data, loadedPlain.ToArray<float>());
    }

    [Fact]
    public void Decode_threads_are_accepted_like_dparams_and_give_the_same_data()
    {
        // test_open_accepts_dparams_dict / _object: python dparams={"nthreads": n}
        var data = Ramp(32 * 32 * 32);
        using (var img = MLArrayFile.FromArray(data, [32, 32, 32], new() { Layout = LayoutOptions.Manual([8, 8, 8], [4, 4, 4]) }))
            img.Save(P("t.mla"));
        using var f = MLArrayFile.Open(P("t.mla"));
        Assert.Null(f.DecodeThreads);
        var serialPatch = f.Read<float>(3..29, ^20.., 5);
        foreach (int? threads in new int?[] { 0, 1, 4 })
        {
            f.DecodeThreads = threads;
            Assert.Equal(data, f.ToArray<float>());
            Assert.Equal(serialPatch, f.Read<float>(3..29, ^20.., 5));
            var into = new float[data.Length];
            f.CopyTo<float>(into);
            Assert.Equal(data, into);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => f.DecodeThreads = -1);
        Assert.Equal(4, f.DecodeThreads);
    }

    // ------------------------------------------------------------------ test_metadata

    [Fact]
    public void Source_dictionary_with_nested_values_round_trips()
    {
        // test_metadata_roundtrip_dict
        var source = Dict(
            ("patient_id", MetaValue.From("p-7")),
            ("nested", Dict(("a", MetaValue.From(1L)), ("b", MetaValue.List([MetaValue.From(1.5), MetaValue.From("x"), MetaValue.Null])))),
            ("flag", MetaValue.From(true)));
        using (var img = MLArrayFile.FromArray(Ramp(64), [4, 4, 4], new() { Meta = new MLArrayMeta { Source = source } }))
            img.Save(P("d.mla"));
        using var back = MLArrayFile.Load(P("d.mla"));
        Assert.Equal(source, back.Meta.Source);
        Assert.Equal(source, ((MetaDict)StoredMapping(P("d.mla"))["source"]!)["data"]); // wrapped as {"data": …} like the reference
    }

    [Fact]
    public void Every_user_namespace_round_trips()
    {
        // test_metadata_roundtrip_meta
        var meta = new MLArrayMeta
        {
            Source = Dict(("modality", MetaValue.From("CT"))),
            Extra = Dict(("pipeline", MetaValue.From("v2")), ("fold", MetaValue.From(3L))),
            Stats = new MetaStatistics { Min = -1024L, Max = 3071.5, Mean = 12.25 },
            Bbox = new MetaBbox().Add([[0, 2], [1, 3], [0.5, 3.5]], score: 0.75, label: MetaValue.From("tumor")),
            IsSeg = false,
        };
        using (var img = MLArrayFile.FromArray(Ramp(64), [4, 4, 4], new() { Meta = meta }))
            img.Save(P("m.mla"));
        using var back = MLArrayFile.Load(P("m.mla"));
        Assert.Equal(meta.Source, back.Meta.Source);
        Assert.Equal(meta.Extra, back.Meta.Extra);
        Assert.Equal(meta.Stats, back.Meta.Stats);
        Assert.Equal(meta.Bbox, back.Meta.Bbox);
        Assert.False(back.Meta.IsSeg);
    }

    [Theory]
    [InlineData("RAS")]
    [InlineData("LPS+")]
    [InlineData("ENU")]
    [InlineData("scanner_xyz")]
    public void Coord_system_round_trips_as_its_string_with_either_geometry(string coord)
    {
        // test_metadata_coord_system_roundtrip_with_spacing_origin_direction / _with_affine_and_custom_string,
        // test_meta_spatial_coord_system_accepts_standard_and_custom_values / _serializes_as_string
        var affine = new double[,] { { 0, 0, 2, 10 }, { 0, 3, 0, 20 }, { 4, 0, 0, 30 }, { 0, 0, 0, 1 } };
        foreach (var (name, options) in new (string, MLArrayCreateOptions)[]
        {
            ("sod.mla", new() { Spacing = [1, 2, 3], Origin = [4, 5, 6], Direction = new double[,] { { 0, 1, 0 }, { 1, 0, 0 }, { 0, 0, 1 } } }),
            ("aff.mla", new() { Affine = affine }),
        })
        {
            var opts = options with { Meta = new MLArrayMeta { Spatial = new MetaSpatial { CoordSystem = coord } } };
            using (var img = MLArrayFile.FromArray(Ramp(24), [2, 3, 4], opts))
            {
                Assert.Equal(coord, img.Meta.Spatial.CoordSystem!.Value.Value);
                img.Save(P(name));
            }
            using var back = MLArrayFile.Load(P(name));
            Assert.Equal(coord, back.Meta.Spatial.CoordSystem!.Value.Value);
            Assert.Equal(MetaValue.From(coord), ((MetaDict)StoredMapping(P(name))["spatial"]!)["coord_system"]);
            if (name == "aff.mla")
            {
                Assert.Equal(affine, back.Affine);
                Assert.Null(back.Spacing);
            }
            else
            {
                Assert.Equal([1.0, 2, 3], back.Spacing!);
            }
        }
    }

    // ------------------------------------------------------------------ test_meta_safety

    [Fact]
    public void Managed_fields_are_read_only_for_users()
    {
        // test_mlarray_meta_is_read_only_attribute / test_internal_meta_fields_are_read_only_for_users
        using var img = MLArrayFile.FromArray(Ramp(64), [4, 4, 4]);
        var before = img.Meta;
        Assert.Contains("has_array", Assert.Throws<InvalidOperationException>(() => img.Meta = img.Meta with { HasArray = false }).Message);
        Assert.Contains("image_meta_format", Assert.Throws<InvalidOperationException>(() => img.Meta = img.Meta with { ImageMetaFormat = new ImageMetaFormat("nifti") }).Message);
        Assert.Contains("spatial.shape", Assert.Throws<InvalidOperationException>(() =>
            img.Meta = img.Meta with { Spatial = img.Meta.Spatial with { Shape = EquatableArray.From(new long[] { 4, 4, 5 }) } }).Message);
        Assert.Contains("blosc2", Assert.Throws<InvalidOperationException>(() =>
            img.Meta = img.Meta with { Blosc2 = img.Meta.Blosc2 with { ChunkSize = EquatableArray.From(new long[] { 1, 1, 1 }) } }).Message);
        Assert.Equal(before, img.Meta);
    }

    [Fact]
    public void Spatial_assignment_revalidates_against_the_array_and_keeps_the_old_value()
    {
        // test_spatial_assignment_revalidates_using_cached_dims
        using var img = MLArrayFile.FromArray(Ramp(64), [4, 4, 4], new() { Spacing = [1, 1, 2] });
        Assert.Contains("meta.spatial.spacing must have length 3", Assert.Throws<ArgumentException>(() => img.Spacing = [1.0, 2.0]).Message);
        Assert.Equal([1.0, 1, 2], img.Spacing!);
        Assert.Throws<ArgumentException>(() => img.Meta = img.Meta with { Spatial = img.Meta.Spatial with { Origin = EquatableArray.From(new MetaNumber[] { 1, 2 }) } });
        Assert.Null(img.Origin);
    }

    [Fact]
    public void Cached_validation_state_never_reaches_the_payload_or_the_text_forms()
    {
        // test_internal_cached_validation_state_is_hidden
        using (var img = MLArrayFile.FromArray(Ramp(64), [4, 4, 4], new() { Spacing = [1, 1, 2], AxisLabels = ["spatial_z", "spatial_y", "spatial_x"] }))
        {
            foreach (var text in new[] { img.Meta.ToMetaValue().ToJson(), img.Meta.ToString()! })
                Assert.DoesNotContain("_validate", text, StringComparison.Ordinal);
            img.Save(P("h.mla"));
        }
        Assert.DoesNotContain("_validate", StoredMapping(P("h.mla")).ToJson(), StringComparison.Ordinal);
    }

    [Fact]
    public void Affine_together_with_spacing_origin_or_direction_is_invalid_in_the_record()
    {
        // test_meta_spatial_rejects_affine_mix_with_spacing_origin_direction
        var affine = EquatableArray.From(Enumerable.Range(0, 4).Select(i => EquatableArray.From(Enumerable.Range(0, 4).Select(j => (MetaNumber)(i == j ? 1 : 0)))));
        var spatial = new MetaSpatial { Affine = affine, Spacing = EquatableArray.From(new MetaNumber[] { 1, 1, 1 }) };
        var report = new MLArrayMeta { Spatial = spatial }.Validate(MetaValidationContext.Empty);
        Assert.Contains(report.Errors, e => e.Code == "x-exclusive-with" && e.Path.StartsWith("/spatial", StringComparison.Ordinal));
        Assert.Throws<ArgumentException>(() => MLArrayFile.FromArray(Ramp(64), [4, 4, 4], new() { Meta = new MLArrayMeta { Spatial = spatial } }));
    }

    [Fact]
    public void From_mapping_keeps_a_custom_coord_system_string()
    {
        // test_meta_spatial_from_mapping_preserves_coord_system_string
        var spatial = MetaSpatial.FromMetaValue(Dict(("coord_system", MetaValue.From("ENU"))));
        Assert.Equal("ENU", spatial.CoordSystem!.Value.Value);
        Assert.False(spatial.CoordSystem.Value.IsKnown);
        Assert.Equal(MetaValue.From("ENU"), ((MetaDict)spatial.ToMetaValue())["coord_system"]);
        // A non-string coord_system is a type error (the reference's TypeError).
        Assert.Throws<MLArrayValidationException>(() => MetaSpatial.FromMetaValue(Dict(("coord_system", MetaValue.From(3L)))));
    }
}
