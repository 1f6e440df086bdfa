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

namespace MLArray.Metadata.Migration;

/// <summary>
/// The steps of spec §6 as typed functions: each takes the generated record of one stored layout
/// (<c>MLArray.Metadata.Legacy.&lt;era&gt;.LegacyMeta</c>, from <c>schema/legacy/*.schema.json</c>) and returns the record
/// of the next layout, the last one <see cref="MLArrayMeta"/> (from <c>schema/mlarray-meta.schema.json</c>). Every
/// field is copied by name, so renaming, retyping or removing a field in a schema breaks the build here. Free-form
/// values (<c>source</c>/<c>extra</c>, <c>cparams</c>, <c>axis_units</c>, bbox labels) stay <see cref="MetaValue"/>s.
/// Each step appends one line per change to <c>changes</c>.
/// </summary>
internal static class TypedMigrationSteps
{
    // ------------------------------------------------------------------ steps

    /// <summary>v0.0.23–27 → 6777f95: the raw bbox list becomes <c>bbox{bboxes}</c>.</summary>
    public static L0023I.LegacyMeta WrapRawBboxes(L0023.LegacyMeta m, MigrationContext ctx, List<string> changes)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(changes);
        changes.Add("bbox: raw list of boxes -> {\"bboxes\": [...]}");
        return new()
        {
            Image = m.Image, Extra = m.Extra, Spatial = Spatial(m.Spatial), Stats = Stats(m.Stats),
            Bbox = new() { Bboxes = m.Bboxes },
            IsSeg = m.IsSeg, Blosc2 = Blosc2(m.Blosc2), HasArray = m.HasArray,
            ImageMetaFormat = m.ImageMetaFormat is { } f ? new L0023I.ImageMetaFormat(f.Value) : default(L0023I.ImageMetaFormat?), MLArrayVersion = m.MLArrayVersion,
        };
    }

    /// <summary>6777f95 → v0.0.28: <c>image</c> → <c>original</c>.</summary>
    public static L0028.LegacyMeta ImageToOriginal(L0023I.LegacyMeta m, MigrationContext ctx, List<string> changes)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(changes);
        changes.Add("image -> original");
        return new()
        {
            Original = m.Image, Extra = m.Extra, Spatial = Spatial(m.Spatial), Stats = Stats(m.Stats), Bbox = new() { Bboxes = m.Bbox.Bboxes },
            IsSeg = m.IsSeg, Blosc2 = Blosc2(m.Blosc2), HasArray = m.HasArray,
            ImageMetaFormat = m.ImageMetaFormat is { } f ? new L0028.ImageMetaFormat(f.Value) : default(L0028.ImageMetaFormat?), MLArrayVersion = m.MLArrayVersion,
        };
    }

    /// <summary>v0.0.28 → v0.0.31: + <c>stats.percentile_min_key/percentile_max_key</c> (null).</summary>
    public static L0031.LegacyMeta AddPercentileKeys(L0028.LegacyMeta m, MigrationContext ctx, List<string> changes)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(changes);
        changes.Add("stats.percentile_min_key: added (null)");
        changes.Add("stats.percentile_max_key: added (null)");
        var s = m.Stats;
        return new()
        {
            Original = m.Original, Extra = m.Extra, Spatial = Spatial(m.Spatial),
            Stats = new()
            {
                Min = s.Min, Max = s.Max, Mean = s.Mean, Median = s.Median, Std = s.Std, PercentileMin = s.PercentileMin,
                PercentileMax = s.PercentileMax, PercentileMean = s.PercentileMean, PercentileMedian = s.PercentileMedian,
                PercentileStd = s.PercentileStd, PercentileMinKey = null, PercentileMaxKey = null,
            },
            Bbox = new() { Bboxes = m.Bbox.Bboxes }, IsSeg = m.IsSeg, Blosc2 = Blosc2(m.Blosc2), HasArray = m.HasArray,
            ImageMetaFormat = m.ImageMetaFormat is { } f ? new L0031.ImageMetaFormat(f.Value) : default(L0031.ImageMetaFormat?), MLArrayVersion = m.MLArrayVersion,
        };
    }

    /// <summary>v0.0.31 → v0.0.33: + <c>bbox.scores/labels</c> (null).</summary>
    public static L0033.LegacyMeta AddBboxScoresLabels(L0031.LegacyMeta m, MigrationContext ctx, List<string> changes)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(changes);
        changes.Add("bbox.scores: added (null)");
        changes.Add("bbox.labels: added (null)");
        return new()
        {
            Original = m.Original, Extra = m.Extra, Spatial = Spatial(m.Spatial), Stats = Stats(m.Stats),
            Bbox = new() { Bboxes = m.Bbox.Bboxes, Scores = null, Labels = null },
            IsSeg = m.IsSeg, Blosc2 = Blosc2(m.Blosc2), HasArray = m.HasArray,
            ImageMetaFormat = m.ImageMetaFormat is { } f ? new L0033.ImageMetaFormat(f.Value) : default(L0033.ImageMetaFormat?), MLArrayVersion = m.MLArrayVersion,
        };
    }

    /// <summary>v0.0.33 → v0.0.34: <c>original</c> → <c>source</c>.</summary>
    public static L0034.LegacyMeta OriginalToSource(L0033.LegacyMeta m, MigrationContext ctx, List<string> changes)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(changes);
        changes.Add("original -> source");
        return new()
        {
            Source = m.Original, Extra = m.Extra, Spatial = Spatial(m.Spatial), Stats = Stats(m.Stats), Bbox = Bbox(m.Bbox),
            IsSeg = m.IsSeg, Blosc2 = Blosc2(m.Blosc2), HasArray = m.HasArray,
            ImageMetaFormat = m.ImageMetaFormat is { } f ? new L0034.ImageMetaFormat(f.Value) : default(L0034.ImageMetaFormat?), MLArrayVersion = m.MLArrayVersion,
        };
    }

    /// <summary>
    /// v0.0.34 → v0.0.35: a null <c>spatial.shape</c> (bug of v0.0.28–30) is taken from the array; <c>channel_axis</c>
    /// k becomes <c>axis_labels</c> ("spatial" everywhere, "channel" at k, negative k from the end) with
    /// <c>_num_spatial_axes</c> = ndim − 1 and <c>_num_non_spatial_axes</c> = 1; <c>axis_units</c> null.
    /// </summary>
    /// <exception cref="MLArrayMetadataException">channel_axis is set but the shape is unknown, or it is out of range.</exception>
    public static L0035.LegacyMeta ChannelAxisToAxisLabels(L0034.LegacyMeta m, MigrationContext ctx, List<string> changes)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(changes);
        var sp = m.Spatial;
        var shape = FillShape(sp.Shape, m.HasArray, ctx, changes);
        EquatableArray<L0035.AxisLabel>? labels = null;
        long? nSpatial = null, nNon = null;
        if (sp.ChannelAxis is { } k)
        {
            if (shape is null)
                throw new MLArrayMetadataException($"cannot migrate spatial.channel_axis={k} without a known array shape");
            int ndim = shape.Count;
            long idx = k < 0 ? k + ndim : k;
            if (idx < 0 || idx >= ndim)
                throw new MLArrayMetadataException($"cannot migrate spatial.channel_axis={k}: out of range for {ndim} dimensions");
            labels = EquatableArray.From(Enumerable.Range(0, ndim).Select(i => new L0035.AxisLabel(i == idx ? "channel" : "spatial")));
            nSpatial = ndim - 1;
            nNon = 1;
            changes.Add($"spatial.channel_axis={k} -> axis_labels {Show(new MetaList(labels.Select(l => MetaValue.From(l.Value))))}");
        }
        else
        {
            changes.Add("spatial.channel_axis=null dropped");
        }
        return new()
        {
            Source = m.Source, Extra = m.Extra,
            Spatial = new()
            {
                Spacing = sp.Spacing, Origin = sp.Origin, Direction = sp.Direction, Shape = shape,
                AxisLabels = labels, AxisUnits = null, NumSpatialAxes = nSpatial, NumNonSpatialAxes = nNon,
            },
            Stats = Stats(m.Stats), Bbox = Bbox(m.Bbox), IsSeg = m.IsSeg, Blosc2 = Blosc2(m.Blosc2), HasArray = m.HasArray,
            ImageMetaFormat = m.ImageMetaFormat is { } f ? new L0035.ImageMetaFormat(f.Value) : default(L0035.ImageMetaFormat?), MLArrayVersion = m.MLArrayVersion,
        };
    }

    /// <summary>v0.0.35 → v0.0.42: <c>_blosc2</c> → <c>blosc2</c> (same fields).</summary>
    public static L0042.LegacyMeta RenameBlosc2(L0035.LegacyMeta m, MigrationContext ctx, List<string> changes)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(changes);
        changes.Add("_blosc2 -> blosc2");
        return new()
        {
            Source = m.Source, Extra = m.Extra, Spatial = Spatial(m.Spatial), Stats = Stats(m.Stats), Bbox = Bbox(m.Bbox),
            IsSeg = m.IsSeg, Blosc2 = Blosc2(m.Blosc2), HasArray = m.HasArray,
            ImageMetaFormat = m.ImageMetaFormat is { } f ? new L0042.ImageMetaFormat(f.Value) : default(L0042.ImageMetaFormat?), MLArrayVersion = m.MLArrayVersion,
        };
    }

    /// <summary>v0.0.42 → v0.0.48: + <c>blosc2.cparams/dparams</c> (null: not recorded by those releases).</summary>
    public static L0048.LegacyMeta AddCParamsDParams(L0042.LegacyMeta m, MigrationContext ctx, List<string> changes)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(changes);
        changes.Add("blosc2.cparams: added (null)");
        changes.Add("blosc2.dparams: added (null)");
        var b = m.Blosc2;
        return new()
        {
            Source = m.Source, Extra = m.Extra, Spatial = Spatial(m.Spatial), Stats = Stats(m.Stats), Bbox = Bbox(m.Bbox), IsSeg = m.IsSeg,
            Blosc2 = new() { ChunkSize = b.ChunkSize, BlockSize = b.BlockSize, PatchSize = b.PatchSize, Cparams = null, Dparams = null },
            HasArray = m.HasArray,
            ImageMetaFormat = m.ImageMetaFormat is { } f ? new L0048.ImageMetaFormat(f.Value) : default(L0048.ImageMetaFormat?), MLArrayVersion = m.MLArrayVersion,
        };
    }

    /// <summary>v0.0.48 → v0.0.49: + <c>spatial.affine</c> (null).</summary>
    public static L0049.LegacyMeta AddAffine(L0048.LegacyMeta m, MigrationContext ctx, List<string> changes)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(changes);
        changes.Add("spatial.affine: added (null)");
        var sp = m.Spatial;
        return new()
        {
            Source = m.Source, Extra = m.Extra,
            Spatial = new()
            {
                Spacing = sp.Spacing, Origin = sp.Origin, Direction = sp.Direction, Affine = null, Shape = sp.Shape,
                AxisLabels = Map(sp.AxisLabels, l => new L0049.AxisLabel(l.Value)), AxisUnits = sp.AxisUnits,
                NumSpatialAxes = sp.NumSpatialAxes, NumNonSpatialAxes = sp.NumNonSpatialAxes,
            },
            Stats = Stats(m.Stats), Bbox = Bbox(m.Bbox), IsSeg = m.IsSeg, Blosc2 = Blosc2(m.Blosc2), HasArray = m.HasArray,
            ImageMetaFormat = m.ImageMetaFormat is { } f ? new L0049.ImageMetaFormat(f.Value) : default(L0049.ImageMetaFormat?), MLArrayVersion = m.MLArrayVersion,
        };
    }

    /// <summary>v0.0.49 → v0.0.50: the same records (only the pickle spelling changed: <c>_FrozenList/_FrozenDict</c>).</summary>
    public static L0050.LegacyMeta FrozenContainers(L0049.LegacyMeta m, MigrationContext ctx, List<string> changes)
    {
        ArgumentNullException.ThrowIfNull(m);
        return new()
        {
            Source = m.Source, Extra = m.Extra, Spatial = Spatial(m.Spatial), Stats = Stats(m.Stats), Bbox = Bbox(m.Bbox),
            IsSeg = m.IsSeg, Blosc2 = Blosc2(m.Blosc2), HasArray = m.HasArray,
            ImageMetaFormat = m.ImageMetaFormat is { } f ? new L0050.ImageMetaFormat(f.Value) : default(L0050.ImageMetaFormat?), MLArrayVersion = m.MLArrayVersion,
        };
    }

    /// <summary>v0.0.50–53 → current: + <c>spatial.coord_system</c> (null).</summary>
    public static MLArrayMeta AddCoordSystem(L0050.LegacyMeta m, MigrationContext ctx, List<string> changes)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(changes);
        changes.Add("spatial.coord_system: added (null)");
        var sp = m.Spatial;
        var s = m.Stats;
        var b = m.Blosc2;
        return new()
        {
            Source = m.Source, Extra = m.Extra,
            Spatial = new()
            {
                Spacing = sp.Spacing, Origin = sp.Origin, Direction = sp.Direction, Affine = sp.Affine, Shape = sp.Shape,
                AxisLabels = Map(sp.AxisLabels, l => new AxisLabel(l.Value)), CoordSystem = null, AxisUnits = sp.AxisUnits,
                NumSpatialAxes = sp.NumSpatialAxes, NumNonSpatialAxes = sp.NumNonSpatialAxes,
            },
            Stats = new()
            {
                Min = s.Min, Max = s.Max, Mean = s.Mean, Median = s.Median, Std = s.Std, PercentileMin = s.PercentileMin,
                PercentileMax = s.PercentileMax, PercentileMean = s.PercentileMean, PercentileMedian = s.PercentileMedian,
                PercentileStd = s.PercentileStd, PercentileMinKey = s.PercentileMinKey, PercentileMaxKey = s.PercentileMaxKey,
            },
            Bbox = new() { Bboxes = m.Bbox.Bboxes, Scores = m.Bbox.Scores, Labels = m.Bbox.Labels },
            IsSeg = m.IsSeg,
            Blosc2 = new() { ChunkSize = b.ChunkSize, BlockSize = b.BlockSize, PatchSize = b.PatchSize, Cparams = b.Cparams, Dparams = b.Dparams },
            HasArray = m.HasArray,
            ImageMetaFormat = m.ImageMetaFormat is { } f ? new ImageMetaFormat(f.Value) : default(ImageMetaFormat?), MLArrayVersion = m.MLArrayVersion,
        };
    }

    /// <summary>
    /// Current → canonical current, as the reference writes it after a load: a null <c>spatial.shape</c> is taken from
    /// the array, <c>_num_spatial_axes/_num_non_spatial_axes</c> are recomputed from <c>axis_labels</c>, and
    /// <c>_mlarray_version</c> is "v0".
    /// </summary>
    public static MLArrayMeta Canonicalize(MLArrayMeta m, MigrationContext ctx, List<string> changes)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(changes);
        var sp = m.Spatial with { Shape = FillShape(m.Spatial.Shape, m.HasArray, ctx, changes) };
        if (sp.AxisLabels is { } labels)
        {
            long nsp = labels.Count(l => MetaMigrator.IsSpatialLabel(l.Value));
            long non = labels.Count - nsp;
            if (sp.NumSpatialAxes != nsp || sp.NumNonSpatialAxes != non)
            {
                sp = sp with { NumSpatialAxes = nsp, NumNonSpatialAxes = non };
                changes.Add($"spatial._num_spatial_axes/_num_non_spatial_axes: recomputed from axis_labels ({nsp}, {non})");
            }
        }
        return m with { Spatial = sp, MLArrayVersion = "v0" };
    }

    // ------------------------------------------------------------------ unchanged namespaces, era to era

    private static L0023I.MetaSpatial Spatial(L0023.MetaSpatial s) =>
        new() { Spacing = s.Spacing, Origin = s.Origin, Direction = s.Direction, Shape = s.Shape, ChannelAxis = s.ChannelAxis };

    private static L0028.MetaSpatial Spatial(L0023I.MetaSpatial s) =>
        new() { Spacing = s.Spacing, Origin = s.Origin, Direction = s.Direction, Shape = s.Shape, ChannelAxis = s.ChannelAxis };

    private static L0031.MetaSpatial Spatial(L0028.MetaSpatial s) =>
        new() { Spacing = s.Spacing, Origin = s.Origin, Direction = s.Direction, Shape = s.Shape, ChannelAxis = s.ChannelAxis };

    private static L0033.MetaSpatial Spatial(L0031.MetaSpatial s) =>
        new() { Spacing = s.Spacing, Origin = s.Origin, Direction = s.Direction, Shape = s.Shape, ChannelAxis = s.ChannelAxis };

    private static L0034.MetaSpatial Spatial(L0033.MetaSpatial s) =>
        new() { Spacing = s.Spacing, Origin = s.Origin, Direction = s.Direction, Shape = s.Shape, ChannelAxis = s.ChannelAxis };

    private static L0042.MetaSpatial Spatial(L0035.MetaSpatial s) => new()
    {
        Spacing = s.Spacing, Origin = s.Origin, Direction = s.Direction, Shape = s.Shape, AxisLabels = Map(s.AxisLabels, l => new L0042.AxisLabel(l.Value)),
        AxisUnits = s.AxisUnits, NumSpatialAxes = s.NumSpatialAxes, NumNonSpatialAxes = s.NumNonSpatialAxes,
    };

    private static L0048.MetaSpatial Spatial(L0042.MetaSpatial s) => new()
    {
        Spacing = s.Spacing, Origin = s.Origin, Direction = s.Direction, Shape = s.Shape, AxisLabels = Map(s.AxisLabels, l => new L0048.AxisLabel(l.Value)),
        AxisUnits = s.AxisUnits, NumSpatialAxes = s.NumSpatialAxes, NumNonSpatialAxes = s.NumNonSpatialAxes,
    };

    private static L0050.MetaSpatial Spatial(L0049.MetaSpatial s) => new()
    {
        Spacing = s.Spacing, Origin = s.Origin, Direction = s.Direction, Affine = s.Affine, Shape = s.Shape,
        AxisLabels = Map(s.AxisLabels, l => new L0050.AxisLabel(l.Value)), AxisUnits = s.AxisUnits,
        NumSpatialAxes = s.NumSpatialAxes, NumNonSpatialAxes = s.NumNonSpatialAxes,
    };

    private static L0023I.MetaStatistics Stats(L0023.MetaStatistics s) => new()
    {
        Min = s.Min, Max = s.Max, Mean = s.Mean, Median = s.Median, Std = s.Std, PercentileMin = s.PercentileMin, PercentileMax = s.PercentileMax,
        PercentileMean = s.PercentileMean, PercentileMedian = s.PercentileMedian, PercentileStd = s.PercentileStd,
    };

    private static L0028.MetaStatistics Stats(L0023I.MetaStatistics s) => new()
    {
        Min = s.Min, Max = s.Max, Mean = s.Mean, Median = s.Median, Std = s.Std, PercentileMin = s.PercentileMin, PercentileMax = s.PercentileMax,
        PercentileMean = s.PercentileMean, PercentileMedian = s.PercentileMedian, PercentileStd = s.PercentileStd,
    };

    private static L0033.MetaStatistics Stats(L0031.MetaStatistics s) => new()
    {
        Min = s.Min, Max = s.Max, Mean = s.Mean, Median = s.Median, Std = s.Std, PercentileMin = s.PercentileMin, PercentileMax = s.PercentileMax,
        PercentileMean = s.PercentileMean, PercentileMedian = s.PercentileMedian, PercentileStd = s.PercentileStd,
        PercentileMinKey = s.PercentileMinKey, PercentileMaxKey = s.PercentileMaxKey,
    };

    private static L0034.MetaStatistics Stats(L0033.MetaStatistics s) => new()
    {
        Min = s.Min, Max = s.Max, Mean = s.Mean, Median = s.Median, Std = s.Std, PercentileMin = s.PercentileMin, PercentileMax = s.PercentileMax,
        PercentileMean = s.PercentileMean, PercentileMedian = s.PercentileMedian, PercentileStd = s.PercentileStd,
        PercentileMinKey = s.PercentileMinKey, PercentileMaxKey = s.PercentileMaxKey,
    };

    private static L0035.MetaStatistics Stats(L0034.MetaStatistics s) => new()
    {
        Min = s.Min, Max = s.Max, Mean = s.Mean, Median = s.Median, Std = s.Std, PercentileMin = s.PercentileMin, PercentileMax = s.PercentileMax,
        PercentileMean = s.PercentileMean, PercentileMedian = s.PercentileMedian, PercentileStd = s.PercentileStd,
        PercentileMinKey = s.PercentileMinKey, PercentileMaxKey = s.PercentileMaxKey,
    };

    private static L0042.MetaStatistics Stats(L0035.MetaStatistics s) => new()
    {
        Min = s.Min, Max = s.Max, Mean = s.Mean, Median = s.Median, Std = s.Std, PercentileMin = s.PercentileMin, PercentileMax = s.PercentileMax,
        PercentileMean = s.PercentileMean, PercentileMedian = s.PercentileMedian, PercentileStd = s.PercentileStd,
        PercentileMinKey = s.PercentileMinKey, PercentileMaxKey = s.PercentileMaxKey,
    };

    private static L0048.MetaStatistics Stats(L0042.MetaStatistics s) => new()
    {
        Min = s.Min, Max = s.Max, Mean = s.Mean, Median = s.Median, Std = s.Std, PercentileMin = s.PercentileMin, PercentileMax = s.PercentileMax,
        PercentileMean = s.PercentileMean, PercentileMedian = s.PercentileMedian, PercentileStd = s.PercentileStd,
        PercentileMinKey = s.PercentileMinKey, PercentileMaxKey = s.PercentileMaxKey,
    };

    private static L0049.MetaStatistics Stats(L0048.MetaStatistics s) => new()
    {
        Min = s.Min, Max = s.Max, Mean = s.Mean, Median = s.Median, Std = s.Std, PercentileMin = s.PercentileMin, PercentileMax = s.PercentileMax,
        PercentileMean = s.PercentileMean, PercentileMedian = s.PercentileMedian, PercentileStd = s.PercentileStd,
        PercentileMinKey = s.PercentileMinKey, PercentileMaxKey = s.PercentileMaxKey,
    };

    private static L0050.MetaStatistics Stats(L0049.MetaStatistics s) => new()
    {
        Min = s.Min, Max = s.Max, Mean = s.Mean, Median = s.Median, Std = s.Std, PercentileMin = s.PercentileMin, PercentileMax = s.PercentileMax,
        PercentileMean = s.PercentileMean, PercentileMedian = s.PercentileMedian, PercentileStd = s.PercentileStd,
        PercentileMinKey = s.PercentileMinKey, PercentileMaxKey = s.PercentileMaxKey,
    };

    private static L0035.MetaBbox Bbox(L0034.MetaBbox b) => new() { Bboxes = b.Bboxes, Scores = b.Scores, Labels = b.Labels };

    private static L0034.MetaBbox Bbox(L0033.MetaBbox b) => new() { Bboxes = b.Bboxes, Scores = b.Scores, Labels = b.Labels };

    private static L0042.MetaBbox Bbox(L0035.MetaBbox b) => new() { Bboxes = b.Bboxes, Scores = b.Scores, Labels = b.Labels };

    private static L0048.MetaBbox Bbox(L0042.MetaBbox b) => new() { Bboxes = b.Bboxes, Scores = b.Scores, Labels = b.Labels };

    private static L0049.MetaBbox Bbox(L0048.MetaBbox b) => new() { Bboxes = b.Bboxes, Scores = b.Scores, Labels = b.Labels };

    private static L0050.MetaBbox Bbox(L0049.MetaBbox b) => new() { Bboxes = b.Bboxes, Scores = b.Scores, Labels = b.Labels };

    private static L0023I.MetaBlosc2 Blosc2(L0023.MetaBlosc2 b) => new() { ChunkSize = b.ChunkSize, BlockSize = b.BlockSize, PatchSize = b.PatchSize };

    private static L0028.MetaBlosc2 Blosc2(L0023I.MetaBlosc2 b) => new() { ChunkSize = b.ChunkSize, BlockSize = b.BlockSize, PatchSize = b.PatchSize };

    private static L0031.MetaBlosc2 Blosc2(L0028.MetaBlosc2 b) => new() { ChunkSize = b.ChunkSize, BlockSize = b.BlockSize, PatchSize = b.PatchSize };

    private static L0033.MetaBlosc2 Blosc2(L0031.MetaBlosc2 b) => new() { ChunkSize = b.ChunkSize, BlockSize = b.BlockSize, PatchSize = b.PatchSize };

    private static L0034.MetaBlosc2 Blosc2(L0033.MetaBlosc2 b) => new() { ChunkSize = b.ChunkSize, BlockSize = b.BlockSize, PatchSize = b.PatchSize };

    private static L0035.MetaBlosc2 Blosc2(L0034.MetaBlosc2 b) => new() { ChunkSize = b.ChunkSize, BlockSize = b.BlockSize, PatchSize = b.PatchSize };

    private static L0042.MetaBlosc2 Blosc2(L0035.MetaBlosc2 b) => new() { ChunkSize = b.ChunkSize, BlockSize = b.BlockSize, PatchSize = b.PatchSize };

    private static L0049.MetaBlosc2 Blosc2(L0048.MetaBlosc2 b) =>
        new() { ChunkSize = b.ChunkSize, BlockSize = b.BlockSize, PatchSize = b.PatchSize, Cparams = b.Cparams, Dparams = b.Dparams };

    private static L0050.MetaBlosc2 Blosc2(L0049.MetaBlosc2 b) =>
        new() { ChunkSize = b.ChunkSize, BlockSize = b.BlockSize, PatchSize = b.PatchSize, Cparams = b.Cparams, Dparams = b.Dparams };

    // only public APIs here, so that tests can compile this file against records generated from changed schemas
    private static string Show(MetaValue v)
    {
        string s = MLArray.Metadata.Payload.MetaJson.Serialize(v);
        return s.Length <= 60 ? s : s[..57] + "...";
    }

    private static EquatableArray<TOut>? Map<TIn, TOut>(EquatableArray<TIn>? items, Func<TIn, TOut> f) =>
        items is null ? null : EquatableArray.From(items.Select(f));

    private static EquatableArray<long>? FillShape(EquatableArray<long>? shape, bool hasArray, MigrationContext ctx, List<string> changes)
    {
        if (shape is not null || !hasArray || ctx.ArrayShape is null) return shape;
        changes.Add($"spatial.shape: null -> {Show(new MetaList(ctx.ArrayShape.Select(x => MetaValue.From(x))))} (from the b2nd array)");
        return EquatableArray.From(ctx.ArrayShape);
    }
}
