using MLArray.Blosc2;
using MLArray.Metadata;
using MLArray.Metadata.Migration;

namespace MLArray.Tests.Api;

/// <summary>
/// Bounding boxes with min &gt; max or a non-finite coordinate, and singular affines, are refused when set through the
/// API (differences-from-python A20, A29); files whose writer stored them still open, stay editable and validate
/// with warnings.
/// </summary>
public sealed class BboxAndAffineChecksTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-bbox-affine-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private static EquatableArray<EquatableArray<MetaNumber>> Rows(params double[][] rows) =>
        EquatableArray.From(rows.Select(r => EquatableArray.From(r.Select(v => (MetaNumber)v))));

    private static MetaBbox Boxes(params EquatableArray<EquatableArray<MetaNumber>>[] boxes) => new() { Bboxes = EquatableArray.From(boxes) };

    [Fact]
    public void A_box_with_min_above_max_or_a_non_finite_coordinate_is_refused_naming_box_and_row()
    {
        using var img = MLArrayFile.Zeros([4, 8, 8], DType.UInt8);
        img.AddBbox([[0, 1], [0, 2], [3, 5]]);
        var old = img.Meta;

        var swapped = Assert.Throws<ArgumentException>(() => img.AddBbox([[0, 1], [6, 2], [3, 5]]));
        Assert.Contains("meta.bbox.bboxes[1] row 1 is [6, 2]", swapped.Message, StringComparison.Ordinal);
        Assert.Contains("min <= max", swapped.Message, StringComparison.Ordinal);
        var nan = Assert.Throws<ArgumentException>(() => img.AddBbox([[0, 1], [0, 2], [double.NaN, 5.0]]));
        Assert.Contains("meta.bbox.bboxes[1] row 2 is [nan, 5.0]", nan.Message, StringComparison.Ordinal);
        Assert.Contains("finite", nan.Message, StringComparison.Ordinal);
        Assert.Contains("meta.bbox.bboxes[1] row 0", Assert.Throws<ArgumentException>(() => img.AddBbox([[0.0, double.PositiveInfinity], [0, 2], [3, 5]])).Message, StringComparison.Ordinal);
        Assert.Same(old, img.Meta);

        // through Meta, create options, a metadata-only image and a standalone MetaBbox
        Assert.Contains("meta.bbox.bboxes[0] row 1 is [5.0, 4.0]", Assert.Throws<ArgumentException>(() =>
            img.Meta = img.Meta with { Bbox = Boxes(Rows([0, 1], [5, 4], [0, 1])) }).Message, StringComparison.Ordinal);
        Assert.Same(old, img.Meta);
        Assert.Contains("meta.bbox.bboxes[0] row 0", Assert.Throws<ArgumentException>(() =>
            MLArrayFile.Zeros([2, 2], DType.UInt8, new() { Meta = new MLArrayMeta { Bbox = Boxes(Rows([0, double.NegativeInfinity], [0, 1])) } })).Message, StringComparison.Ordinal);
        using (var metaOnly = MLArrayFile.MetadataOnly())
            Assert.Contains("meta.bbox.bboxes[0] row 0 is [3, 1]", Assert.Throws<ArgumentException>(() => metaOnly.AddBbox([[3, 1]])).Message, StringComparison.Ordinal);
        Assert.Contains("meta.bbox.bboxes[0] row 0 is [3, 1]", Assert.Throws<ArgumentException>(() => new MetaBbox().Add([[3, 1]])).Message, StringComparison.Ordinal);

        // a flat box (min == max on one axis, e.g. a 2-D annotation in a volume) is valid
        img.AddBbox([[2, 2], [0, 8], [0, 8]]);
        Assert.Equal(2, img.Meta.Bbox.Bboxes!.Count);
    }

    [Fact]
    public void A_file_holding_such_boxes_from_another_writer_opens_stays_editable_and_validates_with_warnings()
    {
        using (var img = MLArrayFile.Zeros([2, 3, 4], DType.UInt8)) img.Save(P("boxes.mla"));
        MLArrayMeta meta;
        using (var f = MLArrayFile.Load(P("boxes.mla")))
            meta = f.Meta with { Bbox = Boxes(Rows([1, 0], [0, 3], [0, 4]), Rows([double.NaN, 1], [0, 3], [0, 4])) };
        using (var raw = B2ndArray.Open(P("boxes.mla"), B2ndOpenMode.ReadWrite))
            raw.SetVlMeta(MLArrayMetadata.VlMetaName, MLArrayMetadata.Encode(meta)); // as the Python reference writes it

        using (var f = MLArrayFile.Open(P("boxes.mla"), MLArrayMode.ReadWrite))
        {
            Assert.Equal(2, f.Meta.Bbox.Bboxes!.Count);
            f.Meta = f.Meta with { IsSeg = true }; // unrelated edit: the stored boxes are kept
            Assert.Throws<ArgumentException>(() => f.AddBbox([[1, 0], [0, 3], [0, 4]]));
            f.AddBbox([[0, 1], [0, 3], [0, 4]]);
        }

        using var a = B2ndArray.Open(P("boxes.mla"));
        var report = MLArrayMetadata.Validate(MLArrayMetadata.Read(a)!, a.Shape);
        Assert.True(report.IsValid, string.Join("; ", report.Errors.Select(e => e.Message)));
        Assert.Contains(report.Warnings, w => w.Path == "/bbox/bboxes/0/0" && w.Code == "x-ordered");
        var nonFinite = Assert.Single(report.Warnings, w => w.Code == "non-finite");
        Assert.Equal("/bbox/bboxes/1/0", nonFinite.Path);
        Assert.Contains("meta.bbox.bboxes[1] row 0", nonFinite.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_singular_affine_is_refused_and_a_sheared_scaled_one_is_kept()
    {
        double[,] zeroColumn = { { 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 0, 5 }, { 0, 0, 0, 1 } };
        double[,] parallel = { { 2, 3, 0, 0 }, { 0, 0, 0, 0 }, { 0, 0, 1, 0 }, { 0, 0, 0, 1 } };
        double[,] nearlyFlat = { { 1, 1, 0, 0 }, { 0, 1e-5, 0, 0 }, { 0, 0, 1, 0 }, { 0, 0, 0, 1 } };
        foreach (var bad in new[] { zeroColumn, parallel, nearlyFlat })
            Assert.Contains("meta.spatial.affine must be invertible", Assert.Throws<ArgumentException>(() =>
                MLArrayFile.Zeros([2, 2, 2], DType.UInt8, new() { Affine = bad })).Message, StringComparison.Ordinal);

        using var img = MLArrayFile.Zeros([2, 2, 2], DType.UInt8);
        Assert.Throws<ArgumentException>(() => img.Meta = img.Meta with { Spatial = img.Meta.Spatial with { Affine = Rows([1, 0, 0], [0, 0, 0], [0, 0, 1]) } });
        Assert.Null(img.Meta.Spatial.Affine);

        double[,] sheared = { { 2, 0, 0, 1 }, { 0, 3, 1, 2 }, { 0, 0, 0.5, 3 }, { 0, 0, 0, 1 } };
        using var ok = MLArrayFile.Zeros([2, 2, 2], DType.UInt8, new() { Affine = sheared });
        Assert.Equal(sheared, ok.Affine);
    }
}
