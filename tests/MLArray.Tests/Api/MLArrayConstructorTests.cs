using System.Numerics.Tensors;
using MLArray.Blosc2;
using MLArray.Layout;
using MLArray.Metadata;
using MLArray.Metadata.Migration;

namespace MLArray.Tests.Api;

/// <summary>Ports of the reference's test_constructors / test_asarray / test_compress_decompress / test_bboxes / copy= behaviours, plus the §8 fixes.</summary>
public sealed class MLArrayConstructorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-ctor-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private static MetaDict Source(string id) => new([new("study_id", MetaValue.From(id))]);

    private static MLArrayFile WithGeometry() => MLArrayFile.FromArray(Enumerable.Range(0, 8 * 16 * 16).Select(i => (float)i).ToArray(), [8, 16, 16], new()
    {
        Spacing = [1.0, 2.0, 3.0],
        Origin = [4.0, 5.0, 6.0],
        Direction = new double[,] { { 1, 0, 0 }, { 0, 0, -1 }, { 0, 1, 0 } },
        Meta = new MLArrayMeta { Source = Source("s1"), IsSeg = true },
    });

    // ------------------------------------------------------------------ test_constructors

    [Fact]
    public void Empty_then_fill_then_save_round_trips()
    {
        using (var img = MLArrayFile.Empty([4, 8, 8], DType.Int16))
        {
            Assert.Equal(MLArrayAccess.InMemory, img.Access);
            img.Write(Enumerable.Range(0, 256).Select(i => (short)i).ToArray().AsSpan());
            img.Save(P("e.mla"));
        }
        using var back = MLArrayFile.Load(P("e.mla"));
        Assert.Equal(DType.Int16, back.DType);
        Assert.Equal(Enumerable.Range(0, 256).Select(i => (short)i), back.ToArray<short>());
    }

    [Fact]
    public void Zeros_ones_full_have_the_values_and_dtypes()
    {
        using var z = MLArrayFile.Zeros([2, 3, 4], DType.Float32);
        Assert.All(z.ToArray<float>(), v => Assert.Equal(0f, v));
        using var o = MLArrayFile.Ones([2, 3, 4]);
        Assert.Equal(DType.Float64, o.DType);
        Assert.All(o.ToArray<double>(), v => Assert.Equal(1.0, v));
        using var oi = MLArrayFile.Ones([5], DType.UInt8);
        Assert.Equal(new byte[] { 1, 1, 1, 1, 1 }, oi.ToArray<byte>());
        using var f = MLArrayFile.Full([2, 3, 4], 7L);
        Assert.Equal(DType.Int64, f.DType);
        Assert.All(f.ToArray<long>(), v => Assert.Equal(7L, v));
        using var ff = MLArrayFile.Full([3], 2.5);
        Assert.Equal(DType.Float64, ff.DType);
        Assert.Equal([2.5, 2.5, 2.5], ff.ToArray<double>());
    }

    [Fact]
    public void In_memory_images_beyond_one_array_are_refused_pointing_to_Create_on_disk()
    {
        // 8 GiB of uint8 (and 2^31 float32): more than one .NET array; were OverflowExceptions from the allocation
        long[] big = [2048, 2048, 2048];
        foreach (var make in new Func<MLArrayFile>[]
        {
            () => MLArrayFile.Zeros(big, DType.UInt8),
            () => MLArrayFile.Empty(big, DType.UInt8),
            () => MLArrayFile.Ones(big, DType.UInt8),
            () => MLArrayFile.Full<float>([1 << 16, 1 << 15], 1f),
        })
        {
            var e = Assert.Throws<ArgumentException>(make);
            Assert.Contains("MLArrayFile.Create", e.Message);
            Assert.Contains("bytes", e.Message);
        }
        var count = Assert.Throws<ArgumentException>(() => MLArrayFile.Zeros([1L << 40, 1L << 40], DType.Float32)); // more elements than a long counts
        Assert.Contains("(1099511627776, 1099511627776) has more than", count.Message);

        // the way the message points to works: chunks never written read as zeros, the file stays small
        string path = Path.Combine(_dir, "big_zeros.mla");
        using (MLArrayFile.Create(path, big, DType.UInt8)) { }
        using var f = MLArrayFile.Open(path);
        Assert.Equal(big, f.Shape);
        Assert.All(f.Read<byte>(NdIndex.Slice(1000, 1016), NdIndex.Slice(2000, 2048), NdIndex.Slice(0, 64)), v => Assert.Equal(0, v));
        Assert.True(new FileInfo(path).Length < 64 << 10, $"{new FileInfo(path).Length} bytes");
    }

    [Fact]
    public void Arange_flat_and_with_shape()
    {
        using var a = MLArrayFile.Arange(10L);
        Assert.Equal(DType.Int64, a.DType);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), a.ToArray<long>());
        Assert.Null(a.Meta.Blosc2.PatchSize); // the reference's default patch_size=None
        using var s = MLArrayFile.Arange(0L, 24L, 1, shape: [2, 3, 4]);
        Assert.Equal([2L, 3, 4], s.Shape);
        Assert.Equal(23L, s.ToArray<long>()[^1]);
        using var d = MLArrayFile.Arange(0.0, 2.0, 0.5);
        Assert.Equal(DType.Float64, d.DType);
        Assert.Equal([0.0, 0.5, 1.0, 1.5], d.ToArray<double>());
        var e = Assert.Throws<ArgumentException>(() => MLArrayFile.Arange(0L, 10L, 1, shape: [3, 3]));
        Assert.StartsWith("The shape is not consistent with the start, stop and step values", e.Message);
        Assert.Throws<ArgumentException>(() => MLArrayFile.Arange(0L, 10L, 0));
    }

    [Fact]
    public void Linspace_with_shape_and_endpoint()
    {
        using var a = MLArrayFile.Linspace(0, 1, 5);
        Assert.Equal([0, 0.25, 0.5, 0.75, 1.0], a.ToArray<double>());
        using var b = MLArrayFile.Linspace(0, 1, 4, endpoint: false);
        Assert.Equal([0, 0.25, 0.5, 0.75], b.ToArray<double>());
        using var c = MLArrayFile.Linspace(0, 11, shape: [3, 4]);
        Assert.Equal([3L, 4], c.Shape);
        Assert.Equal(11.0, c.ToArray<double>()[^1]);
        using var f = MLArrayFile.Linspace(0, 3, 4, DType.Float32);
        Assert.Equal([0f, 1f, 2f, 3f], f.ToArray<float>());
        Assert.Equal("Either `shape` or `num` must be specified.", Assert.Throws<ArgumentException>(() => MLArrayFile.Linspace(0, 1)).Message);
        Assert.StartsWith("Shape is not consistent with the specified num value 5.", Assert.Throws<ArgumentException>(() => MLArrayFile.Linspace(0, 1, 5, shape: [2, 3])).Message);
        Assert.StartsWith("num must be nonnegative.", Assert.Throws<ArgumentException>(() => MLArrayFile.Linspace(0, 1, -1)).Message);
    }

    [Fact]
    public void Like_variants_copy_shape_dtype_and_meta_even_with_geometry()
    {
        using var src = WithGeometry();
        using var z = MLArrayFile.ZerosLike(src);
        Assert.Equal(src.Shape, z.Shape);
        Assert.Equal(DType.Float32, z.DType);
        Assert.All(z.ToArray<float>(), v => Assert.Equal(0f, v));
        Assert.Equal(src.Meta.Source, z.Meta.Source);
        Assert.Equal(src.Spacing, z.Spacing); // the reference raises "meta.spatial.spacing must have length 1" here (§8.5)
        Assert.Equal(src.Direction, z.Direction);
        Assert.Equal(src.Meta.Blosc2.PatchSize, z.Meta.Blosc2.PatchSize);
        using var e = MLArrayFile.EmptyLike(src, DType.Int32);
        Assert.Equal(DType.Int32, e.DType);
        using var o = MLArrayFile.OnesLike(src);
        Assert.All(o.ToArray<float>(), v => Assert.Equal(1f, v));
        using var f = MLArrayFile.FullLike(src, 3);
        Assert.All(f.ToArray<float>(), v => Assert.Equal(3f, v));
        using var own = MLArrayFile.ZerosLike(src, options: new() { Meta = new MLArrayMeta { Source = Source("other") } });
        Assert.Equal(Source("other"), own.Meta.Source);
        Assert.Null(own.Spacing);
    }

    [Fact]
    public void Like_variants_refuse_metadata_only_and_null()
    {
        using var meta = MLArrayFile.MetadataOnly();
        Assert.Equal("Input MLArray has no array data loaded.", Assert.Throws<InvalidOperationException>(() => MLArrayFile.ZerosLike(meta)).Message);
        Assert.Throws<ArgumentNullException>(() => MLArrayFile.ZerosLike(null!));
    }

    [Fact]
    public void Create_style_constructors_accept_meta_with_geometry()
    {
        var meta = new MLArrayMeta { Spatial = new MetaSpatial { Spacing = [1.0, 2.0, 3.0] } };
        using var z = MLArrayFile.Zeros([4, 4, 4], DType.UInt8, new() { Meta = meta });
        Assert.Equal([1.0, 2.0, 3.0], z.Spacing!);
    }

    // ------------------------------------------------------------------ test_asarray

    [Fact]
    public void AsArray_keeps_source_layout_and_compression()
    {
        var data = Enumerable.Range(0, 4 * 32 * 32).Select(i => (float)i).ToArray();
        using var a = MLArrayFile.AsArray(data, [4, 32, 32], new()
        {
            Meta = new MLArrayMeta { Source = Source("x") },
            Layout = LayoutOptions.Manual([1, 16, 16], [1, 8, 8]),
            Compression = new CompressionParams { Codec = Blosc2Codec.Zstd, CLevel = 3 },
        });
        Assert.Equal(Source("x"), a.Meta.Source);
        Assert.Equal([1, 16, 16], a.ChunkShape);
        Assert.Equal([1, 8, 8], a.BlockShape);
        Assert.Equal(Blosc2Codec.Zstd, a.Compression.Codec);
        Assert.Equal(data, a.ToArray<float>());
        a.Save(P("a.mla"));
        using var back = MLArrayFile.Load(P("a.mla"));
        Assert.Equal([1, 16, 16], back.ChunkShape);
        Assert.Equal(data, back.ToArray<float>());
    }

    // ------------------------------------------------------------------ test_compress_decompress

    [Fact]
    public void Compress_re_lays_out_keeps_data_and_source_and_detaches()
    {
        using (var img = WithGeometry()) img.Save(P("c.mla"));
        using var f = MLArrayFile.Open(P("c.mla"));
        using var c = f.Compress(LayoutOptions.Manual([2, 8, 8], [1, 4, 4]));
        Assert.Equal([2, 8, 8], c.ChunkShape);
        Assert.Equal([1, 4, 4], c.BlockShape);
        Assert.Equal(f.ToArray<float>(), c.ToArray<float>());
        Assert.Equal(f.Meta.Source, c.Meta.Source);
        Assert.Null(c.FilePath);
        Assert.Equal(MLArrayAccess.InMemory, c.Access);
        using var d = f.Compress();
        Assert.Equal(new MetaBlosc2 { PatchSize = [192L, 192, 192] }.PatchSize, d.Meta.Blosc2.PatchSize); // fresh default, stored patch not reused
    }

    [Fact]
    public void Decompress_clears_blosc2_detaches_and_leaves_the_file_unchanged()
    {
        using (var img = WithGeometry()) img.Save(P("d.mla"));
        var before = File.ReadAllBytes(P("d.mla"));
        using (var f = MLArrayFile.Open(P("d.mla"), MLArrayMode.ReadWrite))
        {
            using var d = f.Decompress();
            Assert.True(d.IsDecompressed);
            Assert.Equal(new MetaBlosc2(), d.Meta.Blosc2);
            Assert.Null(d.FilePath);
            Assert.Equal(f.ToArray<float>(), d.ToArray<float>());
            // Decompress -> compress(64) keeps geometry and source, patch [64]*3.
            using var c = d.Compress(LayoutOptions.Patch(64));
            Assert.Equal([64L, 64, 64], c.Meta.Blosc2.PatchSize!);
            Assert.Equal(f.Spacing, c.Spacing);
            Assert.Equal(f.Origin, c.Origin);
            Assert.Equal(f.Meta.Source, c.Meta.Source);
            // Saving a decompressed image recomputes the default layout.
            d.Save(P("d2.mla"));
        }
        Assert.Equal(before, File.ReadAllBytes(P("d.mla")));
        using var back = MLArrayFile.Open(P("d2.mla"));
        Assert.Equal([192L, 192, 192], back.Meta.Blosc2.PatchSize!);
        Assert.NotEqual(0, back.Compression.CLevel);
    }

    [Fact]
    public void Compress_and_decompress_after_dispose_throw()
    {
        var img = WithGeometry();
        img.Dispose();
        Assert.Throws<InvalidOperationException>(() => img.Compress());
        Assert.Throws<InvalidOperationException>(() => img.Decompress());
    }

    // ------------------------------------------------------------------ copy= (test_usage)

    [Fact]
    public void Copy_fills_unset_fields_and_explicit_spacing_wins()
    {
        using var baseImg = WithGeometry();
        using var img = MLArrayFile.Zeros([8, 16, 16], DType.Float32, new() { Spacing = [9.0, 9.0, 9.0], Copy = baseImg });
        Assert.Equal([9.0, 9.0, 9.0], img.Spacing!);
        Assert.Equal(baseImg.Origin, img.Origin);
        Assert.Equal(baseImg.Direction, img.Direction);
        Assert.True(img.Meta.IsSeg);
        Assert.Equal(Source("s1"), img.Meta.Source);
        // explicit meta fields win too
        using var own = MLArrayFile.Zeros([8, 16, 16], DType.Float32, new() { Meta = new MLArrayMeta { Source = Source("own"), IsSeg = false }, Copy = baseImg });
        Assert.Equal(Source("own"), own.Meta.Source);
        Assert.False(own.Meta.IsSeg);
    }

    [Fact]
    public void Copy_reuses_the_patch_size_and_an_explicit_affine_keeps_copied_spacing_out()
    {
        using var baseImg = MLArrayFile.Zeros([8, 16, 16], DType.Float32, new() { Spacing = [1.0, 2.0, 3.0], Layout = LayoutOptions.Patch(32) });
        using var img = MLArrayFile.Zeros([8, 16, 16], DType.Float32, new() { Copy = baseImg });
        Assert.Equal([32L, 32, 32], img.Meta.Blosc2.PatchSize!);
        var affine = new double[,] { { 2, 0, 0, 1 }, { 0, 2, 0, 1 }, { 0, 0, 2, 1 }, { 0, 0, 0, 1 } };
        using var a = MLArrayFile.Zeros([8, 16, 16], DType.Float32, new() { Affine = affine, Copy = baseImg });
        Assert.Null(a.Spacing);
        Assert.Equal(affine, a.Affine);
        using var m = MLArrayFile.MetadataOnly(new() { Copy = baseImg });
        Assert.Equal([1.0, 2.0, 3.0], m.Spacing!);
    }

    // ------------------------------------------------------------------ test_bboxes and §8 fixes

    [Fact]
    public void Bboxes_mixed_numbers_scores_and_labels_round_trip()
    {
        using (var img = MLArrayFile.Zeros([4, 8, 8], DType.UInt8))
        {
            img.AddBbox([[0, 2], [1.5, 4], [2, 6]], score: 0.9, label: MetaValue.From(1L)); // first scored box: the reference fails (§8.6)
            img.AddBbox([[1, 3], [0, 2], [0, 1]], score: 0.5, label: MetaValue.From(2L));
            img.Save(P("b.mla"));
        }
        using var back = MLArrayFile.Load(P("b.mla"));
        var bb = back.Meta.Bbox;
        Assert.Equal(2, bb.Bboxes!.Count);
        Assert.True(bb.Bboxes[0][0][0].IsInteger);
        Assert.False(bb.Bboxes[0][1][0].IsInteger);
        Assert.Equal([0.9, 0.5], bb.Scores!.Select(s => s.ToDouble()));
        Assert.Equal([MetaValue.From(1L), MetaValue.From(2L)], bb.Labels!);
    }

    [Fact]
    public void AddBbox_refuses_inconsistent_scores_and_labels()
    {
        var unscored = new MetaBbox().Add([[0, 1]]);
        Assert.Null(unscored.Scores);
        Assert.Equal("Cannot add a scored bbox when existing bboxes have no scores. (Parameter 'score')", Assert.Throws<ArgumentException>(() => unscored.Add([[1, 2]], score: 0.5)).Message);
        var scored = new MetaBbox().Add([[0, 1]], score: 0.3);
        Assert.StartsWith("score must be provided because meta.bbox.scores already exists", Assert.Throws<ArgumentException>(() => scored.Add([[1, 2]])).Message);
        Assert.Throws<ArgumentException>(() => unscored.Add([[1, 2]], label: MetaValue.From("x")));
        Assert.Throws<ArgumentException>(() => new MetaBbox().Add([[1, 2]], label: MetaValue.From(true))); // bool label (reference TypeError)
        var labelled = new MetaBbox().Add([[0, 1]], label: MetaValue.From("tumor"));
        Assert.StartsWith("label must be provided", Assert.Throws<ArgumentException>(() => labelled.Add([[1, 2]])).Message);
        using var img = MLArrayFile.Zeros([4], DType.UInt8);
        img.AddBbox([[0, 1]], score: 1.0);
        var before = img.Meta;
        Assert.Throws<ArgumentException>(() => img.AddBbox([[0, 1]]));
        Assert.Same(before, img.Meta);
    }

    [Fact]
    public void Axis_units_are_validated()
    {
        var ok = new MLArrayMeta { Spatial = new MetaSpatial { AxisUnits = [MetaValue.From("mm"), MetaValue.From("mm"), MetaValue.From("mm")] } };
        using (var img = MLArrayFile.Zeros([2, 2, 2], DType.UInt8, new() { Meta = ok })) Assert.Equal(3, img.Meta.Spatial.AxisUnits!.Count);
        var wrongLength = new MLArrayMeta { Spatial = new MetaSpatial { AxisUnits = [MetaValue.From("mm")] } };
        Assert.Contains("axis_units must have length 3", Assert.Throws<ArgumentException>(() => MLArrayFile.Zeros([2, 2, 2], DType.UInt8, new() { Meta = wrongLength })).Message);
        var notString = new MLArrayMeta { Spatial = new MetaSpatial { AxisUnits = [MetaValue.From(1L), MetaValue.From("mm"), MetaValue.From("mm")] } };
        Assert.Contains("axis_units must contain only strings", Assert.Throws<ArgumentException>(() => MLArrayFile.Zeros([2, 2, 2], DType.UInt8, new() { Meta = notString })).Message);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    public void Non_positive_spacing_is_refused(double bad)
    {
        Assert.Contains("positive", Assert.Throws<ArgumentException>(() => MLArrayFile.Zeros([2, 2, 2], DType.UInt8, new() { Spacing = [1.0, bad, 1.0] })).Message);
        using var img = MLArrayFile.Zeros([2, 2, 2], DType.UInt8);
        Assert.Throws<ArgumentException>(() => img.Spacing = [bad, 1.0, 1.0]);
        Assert.Null(img.Spacing);
    }

    [Fact]
    public void Non_orthonormal_direction_bad_affine_row_and_wrong_bbox_rank_are_refused()
    {
        double[,] scaled = { { 2, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } };
        double[,] degenerate = { { 1, 1, 0 }, { 0, 0, 0 }, { 0, 0, 1 } };
        double[,] zero = new double[3, 3];
        foreach (var bad in new[] { scaled, degenerate, zero })
            Assert.Contains("meta.spatial.direction must hold direction cosines", Assert.Throws<ArgumentException>(() =>
                MLArrayFile.Zeros([2, 2, 2], DType.UInt8, new() { Direction = bad })).Message);

        // A shear with unit columns (as a NIfTI sform may carry) is kept.
        double h = Math.Sqrt(0.5);
        double[,] sheared = { { 1, 0, 0 }, { 0, 1, h }, { 0, 0, h } };
        using (var ok = MLArrayFile.Zeros([2, 2, 2], DType.UInt8, new() { Direction = sheared }))
            Assert.Equal(sheared, ok.Direction);

        // A rotation rounded to float32 (as NIfTI stores it) is orthonormal within the tolerance.
        double c = Math.Cos(0.3), s = Math.Sin(0.3);
        double[,] rotation = { { (float)c, (float)-s, 0 }, { (float)s, (float)c, 0 }, { 0, 0, 1 } };
        using (var ok = MLArrayFile.Zeros([2, 2, 2], DType.UInt8, new() { Direction = rotation }))
            Assert.Equal(rotation, ok.Direction);

        double[,] projective = { { 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 1, 0 }, { 0, 0, 0.5, 1 } };
        Assert.Contains("meta.spatial.affine must have [0, ..., 0, 1] as its last row", Assert.Throws<ArgumentException>(() =>
            MLArrayFile.Zeros([2, 2, 2], DType.UInt8, new() { Affine = projective })).Message);

        using var img = MLArrayFile.Zeros([4, 8, 8], DType.UInt8);
        Assert.Contains("meta.bbox.bboxes[0] must have one [min, max] row per array axis (3), got 2",
            Assert.Throws<ArgumentException>(() => img.AddBbox([[0, 1], [0, 1]])).Message);
        Assert.Null(img.Meta.Bbox.Bboxes);
        img.AddBbox([[0, 1], [0, 1], [2, 3]]);
        Assert.Single(img.Meta.Bbox.Bboxes!);
    }

    [Fact]
    public void Values_stored_by_another_writer_stay_editable_even_when_the_new_checks_would_refuse_them()
    {
        // A file as the reference may write it: a direction that is not made of direction cosines and a 2-row box on a 3-D array.
        using (var img = MLArrayFile.Zeros([2, 2, 2], DType.UInt8)) img.Save(P("legacy.mla"));
        static EquatableArray<EquatableArray<MetaNumber>> Rows(params double[][] rows) =>
            EquatableArray.From(rows.Select(r => EquatableArray.From(r.Select(v => (MetaNumber)v))));
        MLArrayMeta meta;
        using (var f = MLArrayFile.Load(P("legacy.mla")))
            meta = f.Meta with
            {
                Spatial = f.Meta.Spatial with { Direction = Rows([2, 0, 0], [0, 1, 0.5], [0, 0, 1]) },
                Bbox = new MetaBbox { Bboxes = EquatableArray.From(new[] { Rows([0, 1], [0, 1]) }) },
            };
        using (var raw = B2ndArray.Open(P("legacy.mla"), B2ndOpenMode.ReadWrite))
            raw.SetVlMeta(MLArrayMetadata.VlMetaName, MLArrayMetadata.Encode(meta));
        using (var f = MLArrayFile.Open(P("legacy.mla"), MLArrayMode.ReadWrite))
        {
            Assert.Equal(2, f.Direction![0, 0]);
            f.Meta = f.Meta with { IsSeg = true }; // unrelated edit: the stored direction and box are kept
            Assert.Throws<ArgumentException>(() => f.AddBbox([[0, 1], [0, 1]])); // a new 2-row box is refused
            f.AddBbox([[0, 1], [0, 1], [0, 1]]);
        }
        using var back = MLArrayFile.Load(P("legacy.mla"));
        Assert.True(back.Meta.IsSeg);
        Assert.Equal(2, back.Meta.Bbox.Bboxes!.Count);
        Assert.Equal(2, back.Direction![0, 0]);
    }

    // ------------------------------------------------------------------ data access niceties

    [Fact]
    public void Slice_rows_and_tensors()
    {
        var data = Enumerable.Range(0, 2 * 3 * 4).Select(i => (float)i).ToArray();
        using var img = MLArrayFile.FromArray(data, [2, 3, 4]);
        Assert.Equal([4f, 5f, 6f, 7f], img.Slice<float>(0, 1));
        Assert.Equal([23f], img.Slice<float>(-1, -1, -1));
        var rows = img.Rows<float>().ToList();
        Assert.Equal(2, rows.Count);
        Assert.Equal(data[12..], rows[1]);
        Assert.Throws<ArgumentException>(() => img.Rows<int>());

        var t = img.ToTensor<float>();
        Assert.Equal([2, 3, 4], t.Lengths.ToArray());
        Assert.Equal(13f, t[1, 0, 1]);
        var sub = img.ToTensor<float>(1, 1..3);
        Assert.Equal([2, 4], sub.Lengths.ToArray());
        Assert.Equal(16f, sub[0, 0]);

        using var back = MLArrayFile.FromTensor(t, new() { Spacing = [1.0, 1.0, 1.0] });
        Assert.Equal([2L, 3, 4], back.Shape);
        Assert.Equal(data, back.ToArray<float>());
        using var meta = MLArrayFile.MetadataOnly();
        Assert.Throws<InvalidOperationException>(() => meta.Rows<float>());
    }
    [Fact]
    public void Readme_constructor_and_bbox_lines_run()
    {
        using var other = MLArrayFile.Zeros([16, 32, 32], DType.Float32, new() { Spacing = [2.5, 0.8, 0.8] });
        using var img = MLArrayFile.OnesLike(other, DType.UInt8, new() { Copy = other });
        img.AddBbox([[0, 10], [5, 20], [3, 9]], score: 0.9, label: MetaValue.From(1L));
        Assert.Equal([2.5, 0.8, 0.8], img.Spacing!);
        Assert.Single(img.Meta.Bbox.Bboxes!);
        Assert.Equal(16, img.Rows<byte>().Count());
    }
}
