using MLArray.TestSupport;
using MLArray.Blosc2;
using MLArray.Metadata;
using MLArray.Metadata.Migration;
using MLArray.Metadata.Payload;
using L0023 = MLArray.Metadata.Legacy.V0023;
using L0023I = MLArray.Metadata.Legacy.V0023Image;
using L0028 = MLArray.Metadata.Legacy.V0028;
using L0031 = MLArray.Metadata.Legacy.V0031;
using L0033 = MLArray.Metadata.Legacy.V0033;
using L0034 = MLArray.Metadata.Legacy.V0034;
using L0035 = MLArray.Metadata.Legacy.V0035;
using L0042 = MLArray.Metadata.Legacy.V0042;
using L0048 = MLArray.Metadata.Legacy.V0048;
using L0049 = MLArray.Metadata.Legacy.V0049;
using L0050 = MLArray.Metadata.Legacy.V0050;

namespace MLArray.Tests.Metadata;

/// <summary>
/// The typed migration chain (<see cref="TypedMigrationSteps"/>): each step on a small record of the generated legacy
/// types, every corpus era through the chain (no tree fallback) with the same result as the tree migration, and the
/// fallback for mappings that do not fit their layout's schema.
/// </summary>
public sealed class TypedMigrationTests
{
    private static readonly MigrationContext NoShape = new(null);

    public static TheoryData<string> ValidFiles => MlaCorpus.Files("valid");

    private static EquatableArray<T> A<T>(params T[] items) => EquatableArray.From(items);

    // ------------------------------------------------------------------ one test per step

    [Fact]
    public void WrapRawBboxes_RawListBecomesBboxNamespace()
    {
        var changes = new List<string>();
        var boxes = A(A(A<MetaNumber>(1, 5), A<MetaNumber>(2, 6)));
        L0023I.LegacyMeta next = TypedMigrationSteps.WrapRawBboxes(
            new L0023.LegacyMeta { Bboxes = boxes, IsSeg = true, Image = Dict(("k", MetaValue.From("v"))) }, NoShape, changes);
        Assert.Equal(boxes, next.Bbox.Bboxes);
        Assert.True(next.IsSeg);
        Assert.Equal(Dict(("k", MetaValue.From("v"))), next.Image);
        Assert.Contains("bbox: raw list of boxes -> {\"bboxes\": [...]}", changes);
    }

    [Fact]
    public void ImageToOriginal_RenamesTheNamespace()
    {
        var changes = new List<string>();
        L0028.LegacyMeta next = TypedMigrationSteps.ImageToOriginal(new L0023I.LegacyMeta { Image = Dict(("a", MetaValue.From(1))) }, NoShape, changes);
        Assert.Equal(Dict(("a", MetaValue.From(1))), next.Original);
        Assert.Equal(["image -> original"], changes);
    }

    [Fact]
    public void AddPercentileKeys_AddsNullKeys_KeepsTheTenStats()
    {
        var changes = new List<string>();
        L0031.LegacyMeta next = TypedMigrationSteps.AddPercentileKeys(
            new L0028.LegacyMeta { Stats = new() { Min = 1, Max = 2.5, PercentileStd = 0.5 } }, NoShape, changes);
        Assert.Equal(new MetaNumber?[] { 1, 2.5, 0.5, null, null }, [next.Stats.Min, next.Stats.Max, next.Stats.PercentileStd, next.Stats.PercentileMinKey, next.Stats.PercentileMaxKey]);
        Assert.True(next.Stats.Min!.Value.IsInteger);
        Assert.Equal(2, changes.Count);
    }

    [Fact]
    public void AddBboxScoresLabels_KeepsBoxes_AddsNulls()
    {
        var changes = new List<string>();
        var boxes = A(A(A<MetaNumber>(0, 3)));
        L0033.LegacyMeta next = TypedMigrationSteps.AddBboxScoresLabels(new L0031.LegacyMeta { Bbox = new() { Bboxes = boxes } }, NoShape, changes);
        Assert.Equal(boxes, next.Bbox.Bboxes);
        Assert.Null(next.Bbox.Scores);
        Assert.Null(next.Bbox.Labels);
    }

    [Fact]
    public void OriginalToSource_RenamesTheNamespace()
    {
        var changes = new List<string>();
        L0034.LegacyMeta next = TypedMigrationSteps.OriginalToSource(new L0033.LegacyMeta { Original = Dict(("x", MetaValue.From(true))) }, NoShape, changes);
        Assert.Equal(Dict(("x", MetaValue.From(true))), next.Source);
        Assert.Equal(["original -> source"], changes);
    }

    [Fact]
    public void ChannelAxisToAxisLabels_NegativeAxis_FillsShapeFromArray()
    {
        var changes = new List<string>();
        var m = new L0034.LegacyMeta { HasArray = true, Spatial = new() { Spacing = A<MetaNumber>(1.0, 2.0), ChannelAxis = -1 } };
        L0035.LegacyMeta next = TypedMigrationSteps.ChannelAxisToAxisLabels(m, new MigrationContext([4, 5, 3]), changes);
        Assert.Equal(A(4L, 5L, 3L), next.Spatial.Shape);
        Assert.Equal(["spatial", "spatial", "channel"], next.Spatial.AxisLabels!.Select(l => l.Value));
        Assert.Equal(2, next.Spatial.NumSpatialAxes);
        Assert.Equal(1, next.Spatial.NumNonSpatialAxes);
        Assert.Equal(A<MetaNumber>(1.0, 2.0), next.Spatial.Spacing);
        Assert.Contains("spatial.shape: null -> [4,5,3] (from the b2nd array)", changes);
    }

    [Fact]
    public void ChannelAxisToAxisLabels_WithoutShape_Throws()
    {
        var m = new L0034.LegacyMeta { Spatial = new() { ChannelAxis = 0 } };
        var ex = Assert.Throws<MLArrayMetadataException>(() => TypedMigrationSteps.ChannelAxisToAxisLabels(m, NoShape, []));
        Assert.Contains("without a known array shape", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ChannelAxisToAxisLabels_NoChannelAxis_LeavesLabelsNull()
    {
        L0035.LegacyMeta next = TypedMigrationSteps.ChannelAxisToAxisLabels(new L0034.LegacyMeta { Spatial = new() { Shape = A(2L, 2L) } }, NoShape, []);
        Assert.Null(next.Spatial.AxisLabels);
        Assert.Null(next.Spatial.NumSpatialAxes);
        Assert.Equal(A(2L, 2L), next.Spatial.Shape);
    }

    [Fact]
    public void RenameBlosc2_KeepsTheSizes()
    {
        var changes = new List<string>();
        L0042.LegacyMeta next = TypedMigrationSteps.RenameBlosc2(new L0035.LegacyMeta { Blosc2 = new() { ChunkSize = A(8L, 8L), PatchSize = A(4L) } }, NoShape, changes);
        Assert.Equal(A(8L, 8L), next.Blosc2.ChunkSize);
        Assert.Equal(A(4L), next.Blosc2.PatchSize);
        Assert.Equal(["_blosc2 -> blosc2"], changes);
        Assert.Equal("_blosc2", ((MetaDict)new L0035.LegacyMeta().ToMetaValue()).Entries[6].Key);
        Assert.Equal("blosc2", ((MetaDict)next.ToMetaValue()).Entries[6].Key);
    }

    [Fact]
    public void AddCParamsDParams_AddsNulls()
    {
        L0048.LegacyMeta next = TypedMigrationSteps.AddCParamsDParams(new L0042.LegacyMeta { Blosc2 = new() { BlockSize = A(2L) } }, NoShape, []);
        Assert.Equal(A(2L), next.Blosc2.BlockSize);
        Assert.Null(next.Blosc2.Cparams);
        Assert.Null(next.Blosc2.Dparams);
    }

    [Fact]
    public void AddAffine_AddsNull_KeepsAxisLabels()
    {
        var m = new L0048.LegacyMeta { Spatial = new() { AxisLabels = A<L0048.AxisLabel>("spatial", "channel"), NumSpatialAxes = 1, NumNonSpatialAxes = 1 } };
        L0049.LegacyMeta next = TypedMigrationSteps.AddAffine(m, NoShape, []);
        Assert.Null(next.Spatial.Affine);
        Assert.Equal(["spatial", "channel"], next.Spatial.AxisLabels!.Select(l => l.Value));
        Assert.Equal(1, next.Spatial.NumNonSpatialAxes);
    }

    [Fact]
    public void FrozenContainers_SameRecord()
    {
        var cparams = Dict(("codec", MetaValue.From(5)));
        var m = new L0049.LegacyMeta { Blosc2 = new() { Cparams = cparams }, IsSeg = false, ImageMetaFormat = "nifti" };
        var changes = new List<string>();
        L0050.LegacyMeta next = TypedMigrationSteps.FrozenContainers(m, NoShape, changes);
        Assert.Equal(cparams, next.Blosc2.Cparams);
        Assert.False(next.IsSeg);
        Assert.Equal("nifti", next.ImageMetaFormat!.Value.Value);
        Assert.Empty(changes);
        Assert.Equal(m.ToMetaValue(), next.ToMetaValue());
    }

    [Fact]
    public void AddCoordSystem_GivesTheCurrentRecord()
    {
        var m = new L0050.LegacyMeta
        {
            Spatial = new() { Affine = A(A<MetaNumber>(1, 0), A<MetaNumber>(0, 1)), AxisLabels = A<L0050.AxisLabel>("spatial") },
            Stats = new() { PercentileMinKey = 0.5 },
            HasArray = true,
        };
        MLArrayMeta current = TypedMigrationSteps.AddCoordSystem(m, NoShape, []);
        Assert.Null(current.Spatial.CoordSystem);
        Assert.Equal(AxisLabel.Spatial, current.Spatial.AxisLabels![0]);
        Assert.Equal(m.Spatial.Affine, current.Spatial.Affine);
        Assert.Equal((MetaNumber)0.5, current.Stats.PercentileMinKey);
        Assert.True(current.HasArray);
    }

    [Fact]
    public void Canonicalize_RecomputesAxisCounts_SetsVersion()
    {
        var changes = new List<string>();
        var m = new MLArrayMeta { Spatial = new() { AxisLabels = A(AxisLabel.Spatial, AxisLabel.Channel), NumSpatialAxes = 2, NumNonSpatialAxes = 0 } };
        MLArrayMeta c = TypedMigrationSteps.Canonicalize(m, NoShape, changes);
        Assert.Equal(1, c.Spatial.NumSpatialAxes);
        Assert.Equal(1, c.Spatial.NumNonSpatialAxes);
        Assert.Equal("v0", c.MLArrayVersion);
        Assert.Single(changes);
        var again = new List<string>();
        Assert.Equal(c, TypedMigrationSteps.Canonicalize(c, NoShape, again));
        Assert.Empty(again);
    }

    // ------------------------------------------------------------------ the chain on the corpus

    [Theory]
    [MemberData(nameof(ValidFiles))]
    public void Corpus_EveryFileGoesThroughTheTypedChain_SameAsTheTreeMigration(string file)
    {
        using var a = B2ndArray.Open(MlaCorpus.PathOf(file));
        var m = MLArrayMetadata.Read(a)!;
        Assert.True(m.Migration.Typed, $"{file} ({m.Layout}) was migrated as a tree, not through the typed chain");
        Assert.Equal((MetaDict)m.Migration.Record!.ToMetaValue(), m.Current);
        var tree = MetaMigrator.MigrateTree((MetaDict)m.Payload.Value, m.Layout, new MigrationContext(a.Shape));
        MetaAssert.SameOrdered(tree.Current, m.Current);
        MetaAssert.SameOrdered(MlaCorpus.Get(file).Migrated, MetaAssert.ManifestForm(m.Current));
    }

    [Fact]
    public void Corpus_CoversEveryLayoutButTheUntaggedOne()
    {
        var layouts = MlaCorpus.Entries.Where(e => e.Kind == "valid").Select(e =>
        {
            using var a = B2ndArray.Open(MlaCorpus.PathOf(e.File));
            return MLArrayMetadata.Read(a)!.Layout;
        }).ToHashSet();
        Assert.Equal(Enum.GetValues<MetaLayout>().Where(l => l != MetaLayout.V0023Image).Order(), layouts.Order());
    }

    [Fact]
    public void UntaggedImageLayout_GoesThroughTheTypedChain()
    {
        var stored = (MetaDict)MetaValue.FromJson("""
            {"image": {"data": {"p": 1}}, "extra": {"data": {}},
             "spatial": {"spacing": [1.0, 1.0], "origin": null, "direction": null, "shape": null, "channel_axis": null},
             "stats": {"min": null, "max": null, "mean": null, "median": null, "std": null, "percentile_min": null,
                       "percentile_max": null, "percentile_mean": null, "percentile_median": null, "percentile_std": null},
             "bbox": {"bboxes": null}, "is_seg": {"is_seg": false}, "_blosc2": {"chunk_size": null, "block_size": null, "patch_size": null},
             "_has_array": {"has_array": true}, "_image_meta_format": {"image_meta_format": null}, "_mlarray_version": "v0"}
            """);
        var r = MetaMigrator.Migrate(stored, MetaLayout.V0023Image, new MigrationContext([3, 4]));
        Assert.True(r.Typed);
        Assert.Equal(MetaValue.FromJson("""{"p": 1}"""), r.Record!.Source);
        Assert.Equal(A(3L, 4L), r.Record.Spatial.Shape);
        MetaAssert.SameOrdered(MetaMigrator.MigrateTree(stored, MetaLayout.V0023Image, new MigrationContext([3, 4])).Current, r.Current);
        Assert.Contains("image -> original", r.Changes);
        Assert.Contains("original -> source", r.Changes);
    }

    [Fact]
    public void MappingThatDoesNotFitItsLayout_FallsBackToTheTree_KeepingUnknownKeys()
    {
        var stored = (MetaDict)MLArrayMeta.FromJson("{}").ToMetaValue();
        stored = new MetaDict(stored.Entries.Append(new("surprise", MetaValue.From(1))));
        var r = MetaMigrator.Migrate(stored, MetaLayout.Current, NoShape);
        Assert.False(r.Typed);
        Assert.Equal(MetaValue.From(1), r.Current["surprise"]);
        Assert.False(MLArrayMeta.ValidateTree(r.Current).IsValid);
    }

    [Fact]
    public void CanonicalCurrentMapping_HasNoChanges()
    {
        var stored = (MetaDict)new MLArrayMeta { MLArrayVersion = "v0" }.ToMetaValue();
        var r = MetaMigrator.Migrate(stored, MetaLayout.Current, NoShape);
        Assert.True(r.Typed);
        Assert.Empty(r.Changes);
        Assert.Equal(stored, r.Current);
    }

    [PythonFact]
    public void LegacySchemas_AreWhatTheScriptDerivesFromTheCurrentSchema()
    {
        string python = TestPython.Find("")!;
        string legacy = Path.GetFullPath(Path.Combine(MlaCorpus.Dir, "..", "..", "..", "schema", "legacy"));
        string tmp = Path.Combine(Path.GetTempPath(), $"mla-legacy-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        try
        {
            using (var proc = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(python, [Path.Combine(legacy, "make_legacy_schemas.py"), tmp])
                   { RedirectStandardError = true, UseShellExecute = false })!)
            {
                string err = proc.StandardError.ReadToEnd();
                proc.WaitForExit();
                Assert.True(proc.ExitCode == 0, err);
            }
            var made = Directory.GetFiles(tmp).Select(Path.GetFileName).Order().ToArray();
            Assert.Equal(Directory.GetFiles(legacy, "*.schema.json").Select(Path.GetFileName).Order(), made);
            foreach (var f in made)
                Assert.True(File.ReadAllText(Path.Combine(tmp, f!)) == File.ReadAllText(Path.Combine(legacy, f!)),
                    $"schema/legacy/{f} is stale: run python3 schema/legacy/make_legacy_schemas.py");
        }
        finally
        {
            Directory.Delete(tmp, true);
        }
    }

    private static MetaDict Dict(params (string Key, MetaValue Value)[] entries) =>
        new(entries.Select(e => new KeyValuePair<string, MetaValue>(e.Key, e.Value)));
}
