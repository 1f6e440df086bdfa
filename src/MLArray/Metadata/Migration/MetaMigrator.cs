using System.Globalization;
using MLArray.Metadata.Payload;

namespace MLArray.Metadata.Migration;

/// <summary>What a migration knows about the file besides its metadata.</summary>
/// <param name="ArrayShape">The b2nd shape of the array, or null when unknown.</param>
internal sealed record MigrationContext(long[]? ArrayShape);

/// <summary>The result of migrating a mapping to the current layout.</summary>
/// <param name="From">The layout the mapping was stored in.</param>
/// <param name="Current">The mapping in the canonical current layout (what the Python reference writes after load + save).</param>
/// <param name="Changes">One line per change made, in order (empty when the stored mapping already was canonical).</param>
/// <remarks>
/// A mapping that fits its layout's schema goes through the typed chain (<see cref="TypedMigrationSteps"/>) and
/// <see cref="Record"/> is its result. One that does not (unknown keys, wrong types) is migrated as a tree instead,
/// keeping unknown keys and namespaces of the wrong type as stored, so that the schema validator reports them.
/// </remarks>
public sealed record MigrationResult(MetaLayout From, MetaDict Current, IReadOnlyList<string> Changes)
{
    /// <summary>The record produced by the typed chain, or null when the mapping was migrated as a tree (it did not fit its layout's schema).</summary>
    public MLArrayMeta? Record { get; init; }

    /// <summary>True when the typed chain of generated records migrated the mapping (see <see cref="Record"/>).</summary>
    public bool Typed => Record is not null;
}

/// <summary>One step of the layout history: rewrites a mapping of layout <see cref="From"/> into layout <see cref="To"/>.</summary>
internal sealed record MigrationStep(MetaLayout From, MetaLayout To, Func<MetaDict, MigrationContext, List<string>, MetaDict> Apply);

/// <summary>
/// Migrates a decoded mapping step by step (spec §6) from its stored layout to the current one, then canonicalises it:
/// all ten top-level keys in the reference order, every namespace complete and in field order, single-key namespaces
/// wrapped, <c>_mlarray_version</c> the bare string <c>"v0"</c> (as the reference writes it after a load).
/// </summary>
internal static class MetaMigrator
{
    /// <summary>Top-level keys of the current layout, in the reference order.</summary>
    public static IReadOnlyList<string> TopLevelKeys { get; } =
        ["source", "extra", "spatial", "stats", "bbox", "is_seg", "blosc2", "_has_array", "_image_meta_format", "_mlarray_version"];

    /// <summary>Fields of <c>spatial</c> in the current layout.</summary>
    public static IReadOnlyList<string> SpatialKeys { get; } =
        ["spacing", "origin", "direction", "affine", "shape", "axis_labels", "coord_system", "axis_units", "_num_spatial_axes", "_num_non_spatial_axes"];

    /// <summary>Fields of <c>stats</c> in the current layout.</summary>
    public static IReadOnlyList<string> StatsKeys { get; } =
        ["min", "max", "mean", "median", "std", "percentile_min", "percentile_max", "percentile_mean", "percentile_median", "percentile_std", "percentile_min_key", "percentile_max_key"];

    /// <summary>Fields of <c>bbox</c> in the current layout.</summary>
    public static IReadOnlyList<string> BboxKeys { get; } = ["bboxes", "scores", "labels"];

    /// <summary>Fields of <c>blosc2</c> in the current layout.</summary>
    public static IReadOnlyList<string> Blosc2Keys { get; } = ["chunk_size", "block_size", "patch_size", "cparams", "dparams"];

    /// <summary>Single-key namespaces and their key.</summary>
    public static IReadOnlyDictionary<string, string> SingleKeyNamespaces { get; } = new Dictionary<string, string>
    {
        ["source"] = "data", ["extra"] = "data", ["is_seg"] = "is_seg", ["_has_array"] = "has_array",
        ["_image_meta_format"] = "image_meta_format", ["_mlarray_version"] = "mlarray_version",
    };

    /// <summary>
    /// The unwrapping rule of the reference's single-key namespaces: a dict whose key set is exactly
    /// {<paramref name="key"/>} gives its value; anything else is the raw value (null gives <see cref="MetaValue.Null"/>).
    /// </summary>
    public static MetaValue UnwrapSingleKey(MetaValue? value, string key) => MigrationSteps.Unwrap(value, key);

    /// <summary>Spatial axis labels (everything else is non-spatial).</summary>
    public static bool IsSpatialLabel(string label) => label is "spatial" or "spatial_x" or "spatial_y" or "spatial_z";

    internal static IReadOnlyList<MigrationStep> Steps { get; } =
    [
        new(MetaLayout.V0023, MetaLayout.V0023Image, MigrationSteps.WrapRawValues),
        new(MetaLayout.V0023Image, MetaLayout.V0028, MigrationSteps.ImageToOriginal),
        new(MetaLayout.V0028, MetaLayout.V0031, MigrationSteps.AddPercentileKeys),
        new(MetaLayout.V0031, MetaLayout.V0033, MigrationSteps.AddBboxScoresLabels),
        new(MetaLayout.V0033, MetaLayout.V0034, MigrationSteps.OriginalToSource),
        new(MetaLayout.V0034, MetaLayout.V0035, MigrationSteps.ChannelAxisToAxisLabels),
        new(MetaLayout.V0035, MetaLayout.V0042, MigrationSteps.RenameBlosc2),
        new(MetaLayout.V0042, MetaLayout.V0048, MigrationSteps.AddCParamsDParams),
        new(MetaLayout.V0048, MetaLayout.V0049, MigrationSteps.AddAffine),
        new(MetaLayout.V0049, MetaLayout.V0050, (d, _, _) => d),
        new(MetaLayout.V0050, MetaLayout.Current, MigrationSteps.AddCoordSystem),
    ];

    /// <summary>Detects the layout of <paramref name="payload"/> and migrates it.</summary>
    public static MigrationResult Migrate(DecodedPayload payload, MigrationContext context)
    {
        ArgumentNullException.ThrowIfNull(payload);
        return Migrate(payload.Value, MetaLayouts.Detect(payload), context);
    }

    /// <summary>
    /// Migrates <paramref name="mapping"/>, stored in layout <paramref name="from"/>, to the canonical current layout:
    /// through the typed chain of generated records when it fits its layout's schema, else as a tree (<see cref="MigrateTree"/>).
    /// </summary>
    /// <exception cref="MLArrayMetadataException">The mapping is not a dict, or a step cannot be applied (e.g. channel_axis without a shape).</exception>
    public static MigrationResult Migrate(MetaValue mapping, MetaLayout from, MigrationContext context)
    {
        ArgumentNullException.ThrowIfNull(mapping);
        ArgumentNullException.ThrowIfNull(context);
        if (mapping is not MetaDict d)
            throw new MLArrayMetadataException($"the mlarray metadata is a {mapping.Kind}, not a mapping");
        var changes = new List<string>();
        if (TypedMigrationChain.TryMigrate(d, from, context, changes) is { } record)
            return new MigrationResult(from, (MetaDict)record.ToMetaValue(), changes) { Record = record };
        return MigrateTree(d, from, context);
    }

    /// <summary>
    /// The tree migration (<see cref="MigrationSteps"/>): the fallback for mappings that do not fit their layout's
    /// schema. Unknown keys and namespaces of the wrong type are kept as stored for the schema validator.
    /// </summary>
    internal static MigrationResult MigrateTree(MetaDict d, MetaLayout from, MigrationContext context)
    {
        var changes = new List<string>();
        var layout = from;
        foreach (var step in Steps)
        {
            if (step.From != layout) continue;
            d = step.Apply(d, context, changes);
            layout = step.To;
        }
        var current = MigrationSteps.Canonicalize(d, context, changes);
        return new MigrationResult(from, current, changes);
    }

    /// <summary>
    /// The generated typed record (<see cref="MLArrayMeta"/>, from the schema) of a migrated mapping; validates it
    /// against the schema with <c>ndim</c> taken from <paramref name="arrayShape"/> when the file has an array.
    /// </summary>
    /// <exception cref="MLArrayValidationException">The mapping violates the schema.</exception>
    public static MLArrayMeta ToRecord(MetaDict current, long[]? arrayShape)
    {
        ArgumentNullException.ThrowIfNull(current);
        var ctx = MetaValidationContext.Empty;
        if (arrayShape is not null && UnwrapSingleKey(current["_has_array"], "has_array") is MetaBool { Value: true })
            ctx = ctx.WithDimension("ndim", arrayShape.Length);
        return MLArrayMeta.FromMetaValue(current, ctx);
    }

    internal static string Show(MetaValue v)
    {
        string s = MetaJson.Serialize(v);
        return s.Length <= 60 ? s : s[..57] + "...";
    }

    internal static string Int(long v) => v.ToString(CultureInfo.InvariantCulture);
}
