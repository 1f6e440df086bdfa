using MLArray.TestSupport;
using MLArray.Blosc2;
using MLArray.Tests.Metadata;
using MLArray.Layout;
using MLArray.Metadata;

namespace MLArray.Tests.Api;

public sealed class GeometryAndCorpusTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-geo-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Blosc2Corpus(string file) => Path.Combine(MlaCorpus.Dir, "..", "blosc2", file);

    [Fact]
    public void Spec_worked_example_of_affine_decomposition()
    {
        var a = new double[,] { { 0, 0, 2, 5 }, { 0, 3, 0, 6 }, { 4, 0, 0, 7 }, { 0, 0, 0, 1 } };
        using var img = MLArrayFile.FromArray(new byte[8], [2, 2, 2], new MLArrayCreateOptions { Affine = a, Layout = LayoutOptions.Automatic });
        Assert.Equal([4.0, 3.0, 2.0], img.Scale!);
        Assert.Equal(new double[,] { { 0, 0, 1 }, { 0, 1, 0 }, { 1, 0, 0 } }, img.Rotation);
        Assert.Equal(new double[,] { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } }, img.Shear);
        Assert.Equal([5.0, 6.0, 7.0], img.Translation!);
    }

    [Fact]
    public void Affine_is_composed_from_spacing_origin_direction_with_defaults()
    {
        using var img = MLArrayFile.FromArray(new float[4 * 5 * 6 * 2], [4, 5, 6, 2], new MLArrayCreateOptions
        {
            AxisLabels = ["spatial_z", "spatial_y", "spatial_x", "channel"],
            Spacing = [2, 3, 4],
            Direction = new double[,] { { 0, 1, 0 }, { 1, 0, 0 }, { 0, 0, 1 } },
        });
        Assert.Equal(3, img.SpatialNDim);
        Assert.Equal(4, img.NDim);
        Assert.Equal(new double[,] { { 0, 3, 0, 0 }, { 2, 0, 0, 0 }, { 0, 0, 4, 0 }, { 0, 0, 0, 1 } }, img.Affine);
        Assert.Equal([2.0, 3.0, 4.0], img.Scale!);
        using var plain = MLArrayFile.FromArray(new float[8], [2, 4]);
        Assert.Equal(new double[,] { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } }, plain.Affine);
    }

    [Fact]
    public void Channel_axis_labels_drive_the_layout_and_the_axis_counts()
    {
        using var img = MLArrayFile.FromArray(new float[32 * 64 * 64 * 3], [32, 64, 64, 3], new MLArrayCreateOptions
        {
            AxisLabels = ["spatial_z", "spatial_y", "spatial_x", "channel"],
            Layout = LayoutOptions.Patch(192), // an int patch: the reference fails with a channel axis
        });
        Assert.Equal([32, 64, 48, 3], img.ChunkShape);
        Assert.Equal([16, 16, 8, 3], img.BlockShape);
        Assert.Equal(3L, img.Meta.Spatial.NumSpatialAxes);
        Assert.Equal(1L, img.Meta.Spatial.NumNonSpatialAxes);
    }

    // ------------------------------------------------------------------ metadata-only

    [Fact]
    public void Metadata_only_images_round_trip_and_refuse_data_access()
    {
        string p = Path.Combine(_dir, "m.mla");
        using (var m = MLArrayFile.MetadataOnly(new MLArrayCreateOptions { Spacing = [1, 2, 3, 4, 5], Meta = new MLArrayMeta { IsSeg = true } }))
        {
            Assert.False(m.HasArray);
            m.Save(p);
        }
        using var back = MLArrayFile.Open(p);
        Assert.False(back.HasArray);
        Assert.Equal(0, back.Length);
        Assert.Equal([1.0, 2, 3, 4, 5], back.Spacing!);
        Assert.True(back.Meta.IsSeg);
        Assert.Null(back.Affine);
        Assert.StartsWith("MLArray has no array data loaded.", Assert.Throws<InvalidOperationException>(() => back.Shape).Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => back.ToArray<double>());
        Assert.Throws<InvalidOperationException>(() => back.Read<double>(0));
        using var raw = B2ndArray.Open(p);
        Assert.Equal([0L], raw.Shape);
        Assert.Equal(DType.Float64, raw.DType);
    }

    [Theory]
    [InlineData("mla/head_metadata_only.mla")]
    [InlineData("mla/v0047_metadata_only.mla")]
    public void Corpus_metadata_only_files_open(string file)
    {
        using var f = MLArrayFile.Open(Path.Combine(MlaCorpus.Dir, "..", file));
        Assert.False(f.HasArray);
        Assert.Equal(0, f.Length);
        Assert.Throws<InvalidOperationException>(() => f.ToArray<double>());
    }

    // ------------------------------------------------------------------ corpus round trips

    public static TheoryData<string> ValidArrayFiles()
    {
        var d = new TheoryData<string>();
        foreach (var e in MlaCorpus.Entries)
            if (e.Kind == "valid" && !e.File.Contains("metadata_only", StringComparison.Ordinal))
                d.Add(e.File);
        return d;
    }

    [Theory]
    [MemberData(nameof(ValidArrayFiles))]
    public void Corpus_files_open_load_and_save_with_their_data_and_metadata(string file)
    {
        string src = MlaCorpus.PathOf(file);
        var entry = MlaCorpus.Get(file);
        using var opened = MLArrayFile.Open(src);
        Assert.Equal(entry.Shape, opened.Shape);
        using var loaded = MLArrayFile.Load(src);
        Assert.Equal(opened.Meta, loaded.Meta);
        string dst = Path.Combine(_dir, "copy.mla");
        loaded.Save(dst);
        using var saved = MLArrayFile.Open(dst);
        Assert.Equal(loaded.Meta, saved.Meta);
        Assert.Equal(opened.Spacing, saved.Spacing);
        Assert.Equal(opened.Affine, saved.Affine);
        using var a = B2ndArray.Open(src);
        using var b = B2ndArray.Open(dst);
        Assert.Equal(a.ReadBytes(), b.ReadBytes());
        // compressed chunks copied, not recompressed
        for (long i = 0; i < a.NChunks; i++)
            Assert.Equal(a.GetChunkInfo(i), b.GetChunkInfo(i));
    }

    [Theory]
    [InlineData("head_ct_int16_lps.mla")]
    [InlineData("head_4d_channel_f32.mla")]
    [InlineData("head_f64_affine.mla")]
    public void Corpus_geometry_reads_like_the_reference(string file)
    {
        using var f = MLArrayFile.Open(MlaCorpus.PathOf(file));
        var spatial = (MetaDict)((MetaDict)MlaCorpus.Get(file).Migrated)["spatial"]!;
        if (spatial["spacing"] is MetaList sp)
            Assert.Equal(sp.Items.Select(ToDouble), f.Spacing!);
        if (spatial["affine"] is MetaList af)
            Assert.Equal(af.Items.Cast<MetaList>().SelectMany(r => r.Items).Select(ToDouble), f.Affine!.ToArray().Cast<double>());
        Assert.Equal(f.Affine!.GetLength(0), f.SpatialNDim + 1);
    }

    private static double ToDouble(MetaValue v) => v switch { MetaInt i => (double)i.Value, MetaFloat x => x.Value, _ => double.NaN };

    [Theory]
    [InlineData("mlarray_small_f4_3d.mla")]
    [InlineData("mlarray_big_f4_volume_lz4hc8.mla")]
    public void Blosc2_corpus_mlarray_files_load_and_save_byte_identical_chunks(string file)
    {
        using var loaded = MLArrayFile.Load(Blosc2Corpus(file));
        Assert.Equal(DType.Float32, loaded.DType);
        string dst = Path.Combine(_dir, file);
        loaded.Save(dst);
        using var a = B2ndArray.Open(Blosc2Corpus(file));
        using var b = B2ndArray.Open(dst);
        Assert.Equal(a.CBytes, b.CBytes);
        Assert.Equal(a.ReadBytes(), b.ReadBytes());
        using var again = MLArrayFile.Open(dst);
        Assert.Equal(loaded.Meta, again.Meta);
        Assert.Equal(loaded.ToArray<float>(), again.ToArray<float>());
    }

    [Theory]
    [InlineData("hostile_reduce_os_system.mla")]
    [InlineData("corrupt_truncated_frame.mla")]
    public void Hostile_and_corrupt_files_are_refused(string file) =>
        Assert.ThrowsAny<MLArrayException>(() => MLArrayFile.Open(MlaCorpus.PathOf(file)));
}
