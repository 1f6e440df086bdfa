using MLArray.Blosc2;
using MLArray.Layout;
using MLArray.Metadata;
using MLArray.Metadata.Migration;
using MLArray.Tests.Faults;

namespace MLArray.Tests.Api;

/// <summary>Ports of the reference's test_usage / test_metadata / test_open / test_create / test_optimization behaviours, plus atomic save.</summary>
public sealed class MLArrayFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-api-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private static float[] Ramp(int n) => Enumerable.Range(0, n).Select(i => i * 0.5f).ToArray();

    private static readonly long[] Shape = [16, 32, 32];

    private static MLArrayFile Sample(MLArrayCreateOptions? o = null) => MLArrayFile.FromArray(Ramp(16 * 32 * 32), Shape, o);

    private static MLArrayCreateOptions Geometry => new()
    {
        Spacing = [1.0, 2.0, 3.0],
        Origin = [0.5, -1, 7],
        Direction = new double[,] { { 1, 0, 0 }, { 0, 0, -1 }, { 0, 1, 0 } },
        Meta = new MLArrayMeta { Source = new MetaDict([new("patient_id", MetaValue.From("p-001")), new("nested", MetaValue.Dict([new("a", MetaValue.From(1L))]))]) },
    };

    // ------------------------------------------------------------------ test_usage

    [Fact]
    public void Save_then_load_keeps_shape_data_and_geometry()
    {
        using (var img = Sample(Geometry))
            img.Save(P("a.mla"));
        using var back = MLArrayFile.Load(P("a.mla"));
        Assert.Equal(Shape, back.Shape);
        Assert.Equal(DType.Float32, back.DType);
        Assert.Equal(Ramp(16 * 32 * 32), back.ToArray<float>());
        Assert.Equal([1.0, 2.0, 3.0], back.Spacing!);
        Assert.Equal([0.5, -1, 7], back.Origin!);
        Assert.Equal(new double[,] { { 1, 0, 0 }, { 0, 0, -1 }, { 0, 1, 0 } }, back.Direction);
        Assert.Equal("p-001", ((MetaString)back.Meta.Source["patient_id"]!).Value);
        Assert.Equal(MetaValue.Dict([new("a", MetaValue.From(1L))]), back.Meta.Source["nested"]);
        Assert.Equal(MLArrayAccess.InMemory, back.Access);
    }

    [Fact]
    public void Open_read_only_is_a_file_backed_store_and_load_then_save_creates_a_second_file()
    {
        using (var img = Sample()) img.Save(P("a.mla"));
        using (var f = MLArrayFile.Open(P("a.mla")))
        {
            Assert.Equal(MLArrayAccess.Read, f.Access);
            Assert.Equal(P("a.mla"), f.FilePath);
            Assert.Equal(16, f.Length);
        }
        using (var l = MLArrayFile.Load(P("a.mla"))) l.Save(P("b.mla"));
        Assert.True(File.Exists(P("b.mla")));
        using var b = MLArrayFile.Open(P("b.mla"));
        Assert.Equal(Ramp(16 * 32 * 32), b.ToArray<float>());
    }

    [Fact]
    public void Spacing_origin_direction_and_source_changes_persist_through_save()
    {
        using (var img = Sample(Geometry))
        {
            img.SetSpacing(1, 5.3);
            img.Meta = img.Meta with { Source = new MetaDict([.. img.Meta.Source.Entries, new("study_id", MetaValue.From("s-9"))]) };
            img.Save(P("a.mla"));
        }
        using var back = MLArrayFile.Open(P("a.mla"));
        Assert.Equal(5.3, back.Spacing![1]);
        Assert.Equal("s-9", ((MetaString)back.Meta.Source["study_id"]!).Value);
    }

    [Fact]
    public void Affine_and_spacing_are_mutually_exclusive()
    {
        using var img = Sample(Geometry);
        var a = new double[,] { { 2, 0, 0, 1 }, { 0, 2, 0, 2 }, { 0, 0, 2, 3 }, { 0, 0, 0, 1 } };
        Assert.Contains("cannot be set together with spacing, origin, or direction", Assert.Throws<ArgumentException>(() => img.Affine = a).Message, StringComparison.Ordinal);
        img.Spacing = null;
        img.Origin = null;
        img.Direction = null;
        img.Affine = a;
        Assert.Equal(a, img.Affine);
        Assert.Equal("affine cannot be provided together with spacing, origin, or direction.",
            Assert.Throws<ArgumentException>(() => Sample(new MLArrayCreateOptions { Affine = a, Spacing = [1, 1, 1] })).Message.Split(" (Parameter")[0]);
    }

    [Fact]
    public void Affine_option_is_stored_and_leaves_spacing_null()
    {
        var a = new double[,] { { 0, 0, 2, 5 }, { 0, 3, 0, 6 }, { 4, 0, 0, 7 }, { 0, 0, 0, 1 } };
        using (var img = Sample(new MLArrayCreateOptions { Affine = a })) img.Save(P("a.mla"));
        using var back = MLArrayFile.Open(P("a.mla"));
        Assert.Equal(a, back.Affine);
        Assert.Null(back.Spacing);
        Assert.Null(back.Origin);
        Assert.Null(back.Direction);
    }

    [Theory]
    [InlineData(null, new[] { 192, 192, 192 })]
    [InlineData(new[] { 64 }, new[] { 64, 64, 64 })]
    [InlineData(new[] { 16, 24, 32 }, new[] { 16, 24, 32 })]
    public void Patch_size_round_trips(int[]? patch, int[] expected)
    {
        using (var img = Sample(new MLArrayCreateOptions { Layout = patch is null ? null : LayoutOptions.Patch(patch) })) img.Save(P("a.mla"));
        using var back = MLArrayFile.Open(P("a.mla"));
        Assert.Equal(expected.Select(v => (long)v), back.Meta.Blosc2.PatchSize!);
        var expectedLayout = LayoutResolver.Resolve(LayoutOptions.Patch(expected), Shape, 4);
        Assert.Equal(expectedLayout.ChunkSize, back.ChunkShape);
        Assert.Equal(expectedLayout.BlockSize, back.BlockShape);
    }

    [Fact]
    public void Manual_chunk_and_block_round_trip_and_automatic_records_no_patch()
    {
        using (var img = Sample(new MLArrayCreateOptions { Layout = LayoutOptions.Manual([1, 16, 16], [1, 8, 8]) })) img.Save(P("a.mla"));
        using (var back = MLArrayFile.Open(P("a.mla")))
        {
            Assert.Equal([1, 16, 16], back.ChunkShape);
            Assert.Equal([1, 8, 8], back.BlockShape);
            Assert.Equal([1L, 16, 16], back.Meta.Blosc2.ChunkSize!);
            Assert.Null(back.Meta.Blosc2.PatchSize);
        }
        using var auto = Sample(new MLArrayCreateOptions { Layout = LayoutOptions.Automatic });
        Assert.Null(auto.Meta.Blosc2.PatchSize);
        Assert.Equal(auto.ChunkShape.Select(v => (long)v), auto.Meta.Blosc2.ChunkSize!);
    }

    [Fact]
    public void Loaded_patch_size_is_reused_when_building_from_its_meta()
    {
        using var first = Sample(new MLArrayCreateOptions { Layout = LayoutOptions.Patch(8, 12, 16) });
        using var second = Sample(new MLArrayCreateOptions { Meta = first.Meta });
        Assert.Equal([8L, 12, 16], second.Meta.Blosc2.PatchSize!);
    }

    [Fact]
    public void The_mla_suffix_is_required_everywhere()
    {
        using (var img = Sample()) img.Save(P("a.mla"));
        File.Copy(P("a.mla"), P("a.b2nd"));
        const string msg = "MLArray requires '.mla' as extension.";
        using var s = Sample();
        Assert.StartsWith(msg, Assert.Throws<ArgumentException>(() => s.Save(P("x.b2nd"))).Message, StringComparison.Ordinal);
        Assert.StartsWith(msg, Assert.Throws<ArgumentException>(() => MLArrayFile.Load(P("a.b2nd"))).Message, StringComparison.Ordinal);
        Assert.StartsWith(msg, Assert.Throws<ArgumentException>(() => MLArrayFile.Open(P("a.b2nd"))).Message, StringComparison.Ordinal);
        Assert.StartsWith(msg, Assert.Throws<ArgumentException>(() => MLArrayFile.Create(P("a.txt"), Shape, DType.Float32)).Message, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------------ test_metadata / test_open / test_create

    private byte[] SavedSample()
    {
        using (var img = Sample(Geometry)) img.Save(P("a.mla"));
        return File.ReadAllBytes(P("a.mla"));
    }

    [Fact]
    public void Open_r_modify_is_refused_and_leaves_the_file_unchanged()
    {
        var before = SavedSample();
        using (var f = MLArrayFile.Open(P("a.mla"), "r", "r"))
            Assert.Throws<InvalidOperationException>(() => f.Meta = f.Meta with { IsSeg = true }); // never silently dropped (docs/differences-from-python.md)
        Assert.Equal(before, File.ReadAllBytes(P("a.mla")));
    }

    [Fact]
    public void Open_c_modify_close_leaves_the_file_unchanged_but_changes_are_visible()
    {
        var before = SavedSample();
        using (var f = MLArrayFile.Open(P("a.mla"), "r", "c"))
        {
            Assert.Equal(MLArrayAccess.CopyOnWrite, f.Access);
            f.Meta = f.Meta with { IsSeg = true };
            f.Write<float>([NdIndex.At(0)], new float[32 * 32]);
            Assert.Equal(0f, f.Read<float>(0, 5, 5)[0]);
        }
        Assert.Equal(before, File.ReadAllBytes(P("a.mla")));
    }

    [Theory]
    [InlineData("r", "r+")]
    [InlineData("a", null)]
    public void Open_writable_persists_a_metadata_edit_on_close(string mode, string? mmap)
    {
        SavedSample();
        using (var f = MLArrayFile.Open(P("a.mla"), mode, mmap))
        {
            Assert.Equal(MLArrayAccess.ReadWrite, f.Access);
            f.Meta = f.Meta with { Extra = new MetaDict([new("edited", MetaValue.From(true))]), IsSeg = true };
        }
        using var back = MLArrayFile.Open(P("a.mla"));
        Assert.Equal(MetaValue.From(true), back.Meta.Extra["edited"]);
        Assert.True(back.Meta.IsSeg);
        Assert.Equal([1.0, 2.0, 3.0], back.Spacing!);
    }

    [Fact]
    public void Open_writable_without_changes_does_not_rewrite_the_file()
    {
        var before = SavedSample();
        using (var f = MLArrayFile.Open(P("a.mla"), MLArrayMode.ReadWrite))
            _ = f.Meta.Spatial.Spacing;
        Assert.Equal(before, File.ReadAllBytes(P("a.mla")));
    }

    [Fact]
    public void Open_rejects_missing_files_and_write_modes()
    {
        SavedSample();
        Assert.Throws<FileNotFoundException>(() => MLArrayFile.Open(P("missing.mla")));
        Assert.StartsWith("mode must be one of the following: 'r', 'a'", Assert.Throws<ArgumentException>(() => MLArrayFile.Open(P("a.mla"), "w", "r")).Message, StringComparison.Ordinal);
        Assert.StartsWith("mmap_mode must be one of the following", Assert.Throws<ArgumentException>(() => MLArrayFile.Open(P("a.mla"), "r", "w+")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_fill_close_round_trips_data_dtype_and_meta()
    {
        var data = Enumerable.Range(0, 8 * 12 * 10).Select(i => (short)(i - 300)).ToArray();
        using (var f = MLArrayFile.Create(P("c.mla"), [8, 12, 10], DType.Int16, new MLArrayCreateOptions
        {
            Spacing = [2.5, 0.8, 0.8], // the reference fails here (meta validated against a placeholder 1-D store)
            Meta = new MLArrayMeta { Source = new MetaDict([new("k", MetaValue.From("v"))]) },
            Layout = LayoutOptions.Patch(8),
        }))
        {
            Assert.Equal(MLArrayAccess.ReadWrite, f.Access);
            f.Write<short>(data);
            f.Meta = f.Meta with { Extra = new MetaDict([new("created", MetaValue.From(true))]) };
        }
        using var back = MLArrayFile.Open(P("c.mla"));
        Assert.Equal(DType.Int16, back.DType);
        Assert.Equal(data, back.ToArray<short>());
        Assert.Equal(MetaValue.From("v"), back.Meta.Source["k"]);
        Assert.Equal(MetaValue.From(true), back.Meta.Extra["created"]);
        Assert.Equal([8L, 8, 8], back.Meta.Blosc2.PatchSize!);
        Assert.Equal([2.5, 0.8, 0.8], back.Spacing!);
    }

    [Fact]
    public void Create_checks_mode_suffix_and_compression()
    {
        using (var f = MLArrayFile.Create(P("z.mla"), [4, 8, 8], DType.Float64, new MLArrayCreateOptions { Compression = new CompressionParams { Codec = Blosc2Codec.Zstd, CLevel = 3 } }))
        {
            Assert.Equal(Blosc2Codec.Zstd, f.Compression.Codec);
            Assert.Equal(new MetaDict([new("codec", MetaValue.From(5L)), new("clevel", MetaValue.From(3L))]), f.Meta.Blosc2.Cparams);
            Assert.Equal(new MetaDict([new("nthreads", MetaValue.From(1L))]), f.Meta.Blosc2.Dparams);
            Assert.All(f.ToArray<double>(), v => Assert.Equal(0, v));
        }
        Assert.Throws<ArgumentException>(() => MLArrayFile.Create(P("y.mla"), [4], DType.Float64, new MLArrayCreateOptions { Compression = new CompressionParams { CLevel = 12 } }));
        Assert.False(File.Exists(P("y.mla")));
    }

    // ------------------------------------------------------------------ test_optimization

    [Fact]
    public void Patch_reads_and_in_place_writes_on_writable_files()
    {
        using (var img = MLArrayFile.FromArray(Ramp(32 * 32 * 32), [32, 32, 32])) img.Save(P("a.mla"));
        using (var f = MLArrayFile.Open(P("a.mla"), "r", "r"))
        {
            var patch = f.Read<float>(5..15, 10..20, 20..30);
            Assert.Equal(1000, patch.Length);
            Assert.Equal((5 * 1024 + 10 * 32 + 20) * 0.5f, patch[0]);
            Assert.Throws<InvalidOperationException>(() => f.Write<float>([NdIndex.At(0)], new float[32 * 32]));
        }
        using (var f = MLArrayFile.Open(P("a.mla"), "r", "r+"))
            f.Write<float>(new float[32 * 32 * 32]); // img[...] *= 0
        using var back = MLArrayFile.Open(P("a.mla"));
        Assert.All(back.ToArray<float>(), v => Assert.Equal(0f, v));
    }

    // ------------------------------------------------------------------ save

    [Fact]
    public void Saving_onto_the_open_file_works_and_the_instance_continues_on_it()
    {
        SavedSample();
        foreach (var mode in new[] { MLArrayMode.Read, MLArrayMode.ReadWrite, MLArrayMode.CopyOnWrite })
        {
            using (var f = MLArrayFile.Open(P("a.mla"), mode))
            {
                if (mode == MLArrayMode.Read)
                    Assert.Throws<InvalidOperationException>(() => f.Meta = f.Meta with { IsSeg = true }); // read-only: refused, never dropped
                else
                    f.Meta = f.Meta with { IsSeg = mode == MLArrayMode.ReadWrite };
                if (mode != MLArrayMode.Read)
                    f.Write<float>([NdIndex.At(1)], Enumerable.Repeat(9f, 32 * 32).ToArray());
                f.Save(P("a.mla"));
                Assert.Equal(mode == MLArrayMode.ReadWrite, f.Meta.IsSeg == true);
                Assert.Equal(Ramp(32 * 32), f.Read<float>(0)); // still readable after the file was replaced
                if (mode != MLArrayMode.Read)
                    Assert.Equal(9f, f.Read<float>(1, 3, 3)[0]);
            }
            using var back = MLArrayFile.Open(P("a.mla"));
            Assert.Equal(mode == MLArrayMode.ReadWrite, back.Meta.IsSeg == true);
            Assert.Equal(mode == MLArrayMode.Read ? (1024 + 3 * 32 + 3) * 0.5f : 9f, back.Read<float>(1, 3, 3)[0]);
            Assert.Equal([1.0, 2.0, 3.0], back.Spacing!);
        }
        Assert.Single(Directory.GetFiles(_dir));
    }

    [Fact]
    public void A_failed_save_leaves_the_old_file_untouched_and_no_temporary_file()
    {
        var before = SavedSample();
        using var other = MLArrayFile.FromArray(Enumerable.Range(0, 1000).Select(i => Math.Sin(i)).ToArray(), [10, 10, 10]);
        foreach (int budget in new[] { 0, 100, 5000 })
        {
            var e = Assert.Throws<IOException>(() => other.Save(P("a.mla"), new FaultySteps { FailAfterBytes = budget }));
            Assert.Contains("No space left", e.Message, StringComparison.Ordinal);
            Assert.Equal(before, File.ReadAllBytes(P("a.mla")));
            Assert.Equal([P("a.mla")], Directory.GetFiles(_dir));
        }
        // also when saving onto the file the instance has open
        using var f = MLArrayFile.Open(P("a.mla"), MLArrayMode.ReadWrite);
        f.Meta = f.Meta with { IsSeg = true };
        Assert.Throws<IOException>(() => f.Save(P("a.mla"), new FaultySteps { FailAfterBytes = 200 }));
        Assert.Equal(before, File.ReadAllBytes(P("a.mla")));
        Assert.Equal(Ramp(32 * 32), f.Read<float>(0));
    }

    // ------------------------------------------------------------------ payload and bad input

    [Fact]
    public void Written_files_carry_the_reference_payload_with_layout_and_has_array()
    {
        using (var img = Sample(Geometry with { AxisLabels = ["spatial_z", "spatial_y", "spatial_x"] })) img.Save(P("a.mla"));
        using var raw = B2ndArray.Open(P("a.mla"));
        Assert.Equal([MLArrayMetadata.VlMetaName], raw.VlMetaNames);
        var read = MLArrayMetadata.Read(raw)!;
        Assert.Empty(MLArrayMetadata.Validate(read, raw.Shape));
        var m = read.Payload.Value as MetaDict;
        Assert.NotNull(m);
        Assert.Equal(["source", "extra", "spatial", "stats", "bbox", "is_seg", "blosc2", "_has_array", "_image_meta_format", "_mlarray_version"], m.Entries.Select(e => e.Key));
        Assert.Equal(MetaValue.Dict([new("has_array", MetaValue.From(true))]), m["_has_array"]);
        Assert.Equal(MetaValue.From("v0"), m["_mlarray_version"]);
        var blosc2 = (MetaDict)m["blosc2"]!;
        Assert.Equal(MetaValue.List([MetaValue.From(16L), MetaValue.From(32L), MetaValue.From(32L)]), blosc2["chunk_size"]);
        Assert.Equal(MetaValue.List([MetaValue.From(192L), MetaValue.From(192L), MetaValue.From(192L)]), blosc2["patch_size"]);
        Assert.Equal(MetaValue.Dict([new("codec", MetaValue.From(2L)), new("clevel", MetaValue.From(8L))]), blosc2["cparams"]);
        var spatial = (MetaDict)m["spatial"]!;
        Assert.Equal(MetaValue.From(3L), spatial["_num_spatial_axes"]);
        Assert.Equal(MetaValue.From(0L), spatial["_num_non_spatial_axes"]);
        Assert.Equal(Blosc2Codec.LZ4HC, raw.Codec);
        Assert.Equal(8, raw.CLevel);
    }

    [Fact]
    public void Bad_input_gets_specific_errors()
    {
        Assert.StartsWith("the data has 10 elements but shape (16, 32, 32) needs 16384", Assert.Throws<ArgumentException>(() => MLArrayFile.FromArray(new float[10], Shape)).Message, StringComparison.Ordinal);
        Assert.Contains("meta.spatial.spacing must have length 3", Assert.Throws<ArgumentException>(() => Sample(new MLArrayCreateOptions { Spacing = [1, 2] })).Message, StringComparison.Ordinal);
        Assert.Contains("meta.spatial.spacing must contain only positive values", Assert.Throws<ArgumentException>(() => Sample(new MLArrayCreateOptions { Spacing = [1, 0, 2] })).Message, StringComparison.Ordinal);
        Assert.Contains("meta.spatial.direction must have shape", Assert.Throws<ArgumentException>(() => Sample(new MLArrayCreateOptions { Direction = new double[2, 2] })).Message, StringComparison.Ordinal);
        Assert.Contains("meta.spatial.spacing must contain only positive values", Assert.Throws<ArgumentException>(() => Sample(new MLArrayCreateOptions { Spacing = [1, double.PositiveInfinity, 2] })).Message, StringComparison.Ordinal);
        Assert.Contains("meta.spatial.origin must contain only finite values", Assert.Throws<ArgumentException>(() => Sample(new MLArrayCreateOptions { Origin = [0, double.NaN, 0] })).Message, StringComparison.Ordinal);
        var nanAffine = new double[,] { { 1, 0, 0, 0 }, { 0, 1, 0, double.NegativeInfinity }, { 0, 0, 1, 0 }, { 0, 0, 0, 1 } };
        Assert.Contains("meta.spatial.affine must contain only finite values", Assert.Throws<ArgumentException>(() => Sample(new MLArrayCreateOptions { Affine = nanAffine })).Message, StringComparison.Ordinal);
        using var img = Sample(Geometry);
        Assert.Equal("the array's dtype is <f4 but the buffer's element type is Int32; use float.", Assert.Throws<ArgumentException>(() => img.ToArray<int>()).Message);
        var old = img.Meta;
        Assert.Contains("meta.spatial.spacing must have length 3", Assert.Throws<ArgumentException>(() => img.Spacing = [1, 2]).Message, StringComparison.Ordinal);
        Assert.Same(old, img.Meta);
        Assert.Contains("meta.spatial.origin must contain only finite values", Assert.Throws<ArgumentException>(() => img.SetOrigin(1, double.PositiveInfinity)).Message, StringComparison.Ordinal);
        Assert.Same(old, img.Meta);
        Assert.Throws<InvalidOperationException>(() => img.Meta = img.Meta with { Blosc2 = img.Meta.Blosc2 with { PatchSize = null } });
        Assert.Throws<InvalidOperationException>(() => img.Meta = img.Meta with { HasArray = false });
        img.Dispose();
        Assert.Throws<ObjectDisposedException>(() => img.ToArray<float>());
    }
}
