namespace MLArray.Metadata.Payload;

/// <summary>
/// The stored metadata layouts of the Python reference, oldest first (spec §6). <c>_mlarray_version</c> is "v0" in
/// every release, so the layout is recognised from structure (<see cref="MetaLayouts.Detect"/>).
/// </summary>
public enum MetaLayout
{
    /// <summary>v0.0.23–v0.0.27: msgpack map; raw <c>image</c>, raw bbox list, raw single-key values, <c>_blosc2</c>, <c>spatial.channel_axis</c>.</summary>
    V0023,
    /// <summary>Untagged 6777f95: as v0.0.28 but with <c>image{data}</c>.</summary>
    V0023Image,
    /// <summary>v0.0.28–v0.0.30: <c>original{data}</c>, wrapped namespaces, 10 stats keys, <c>bbox{bboxes}</c>.</summary>
    V0028,
    /// <summary>v0.0.31–v0.0.32: + <c>stats.percentile_min_key/percentile_max_key</c>.</summary>
    V0031,
    /// <summary>v0.0.33: + <c>bbox.scores/labels</c>.</summary>
    V0033,
    /// <summary>v0.0.34: <c>original</c> renamed <c>source</c>.</summary>
    V0034,
    /// <summary>v0.0.35–v0.0.41: <c>channel_axis</c> replaced by <c>axis_labels</c>, <c>axis_units</c>, <c>_num_*</c>.</summary>
    V0035,
    /// <summary>v0.0.42–v0.0.47: <c>_blosc2</c> renamed <c>blosc2</c>.</summary>
    V0042,
    /// <summary>v0.0.48: + <c>blosc2.cparams/dparams</c> (last msgpack-map release).</summary>
    V0048,
    /// <summary>v0.0.49: gzip(pickle) payload, + <c>spatial.affine</c>, plain containers.</summary>
    V0049,
    /// <summary>v0.0.50–v0.0.53: as v0.0.49 with <c>_FrozenList/_FrozenDict</c> globals in the pickle.</summary>
    V0050,
    /// <summary>Current (main after v0.0.53): + <c>spatial.coord_system</c>.</summary>
    Current,
}

/// <summary>Names and detection of <see cref="MetaLayout"/>.</summary>
internal static class MetaLayouts
{
    /// <summary>The releases that wrote a layout, e.g. "v0.0.28-v0.0.30" (used as <c>meta_layout</c> in JSON).</summary>
    public static string Id(MetaLayout layout) => layout switch
    {
        MetaLayout.V0023 => "v0.0.23-v0.0.27",
        MetaLayout.V0023Image => "6777f95",
        MetaLayout.V0028 => "v0.0.28-v0.0.30",
        MetaLayout.V0031 => "v0.0.31-v0.0.32",
        MetaLayout.V0033 => "v0.0.33",
        MetaLayout.V0034 => "v0.0.34",
        MetaLayout.V0035 => "v0.0.35-v0.0.41",
        MetaLayout.V0042 => "v0.0.42-v0.0.47",
        MetaLayout.V0048 => "v0.0.48",
        MetaLayout.V0049 => "v0.0.49",
        MetaLayout.V0050 => "v0.0.50-v0.0.53",
        MetaLayout.Current => "current",
        _ => throw new ArgumentOutOfRangeException(nameof(layout)),
    };

    /// <summary>True for layouts that the current Python reference cannot read as stored (msgpack maps).</summary>
    public static bool IsLegacy(MetaLayout layout) => layout < MetaLayout.V0049;

    /// <summary>Recognises the layout of a decoded payload from its structure (key names, wrapping, payload format).</summary>
    public static MetaLayout Detect(DecodedPayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        if (payload.Value is not MetaDict top)
            throw new MLArrayMetadataException($"the mlarray metadata is a {payload.Value.Kind}, not a mapping");
        var spatial = top["spatial"] as MetaDict;
        if (top["image"] is not null)
            return top["_has_array"] is MetaDict ? MetaLayout.V0023Image : MetaLayout.V0023;
        if (top["original"] is not null)
        {
            if (top["bbox"] is MetaDict bb && bb["scores"] is not null) return MetaLayout.V0033;
            return top["stats"] is MetaDict st && st["percentile_min_key"] is not null ? MetaLayout.V0031 : MetaLayout.V0028;
        }
        if (spatial?["channel_axis"] is not null) return MetaLayout.V0034;
        if (top["_blosc2"] is not null) return MetaLayout.V0035;
        if (spatial?["coord_system"] is not null) return MetaLayout.Current;
        if (payload.Format == PayloadFormat.GzipPickle)
        {
            if (spatial is null) return MetaLayout.Current;
            return (payload.Features & PickleFeatures.FrozenContainers) != 0 ? MetaLayout.V0050 : MetaLayout.V0049;
        }
        if (spatial?["affine"] is not null) return MetaLayout.V0049;
        return top["blosc2"] is MetaDict b2 && b2["cparams"] is not null ? MetaLayout.V0048 : MetaLayout.V0042;
    }
}
