using MLArray.Metadata.Payload;

namespace MLArray.Metadata.Migration;

/// <summary>
/// The rewrites of spec §6 on the tree, each from one stored layout to the next: the fallback of
/// <see cref="MetaMigrator.Migrate(MetaValue, MetaLayout, MigrationContext)"/> for mappings that do not fit their
/// layout's schema (the typed chain, <see cref="TypedMigrationSteps"/>, handles the others).
/// </summary>
internal static class MigrationSteps
{
    private static MetaDict EmptyDict => new([]);

    /// <summary>The unwrapping rule of SingleKeyBaseMeta.from_mapping: a dict whose key set is exactly {key} is unwrapped, anything else is the raw value.</summary>
    public static MetaValue Unwrap(MetaValue? v, string key) =>
        v is MetaDict d && d.Entries.Count == 1 && d.Entries[0].Key == key ? d.Entries[0].Value : v ?? MetaValue.Null;

    private static MetaDict Wrap(string key, MetaValue v) => new([new(key, v)]);

    private static bool IsWrapped(MetaValue? v, string key) => v is MetaDict d && d.Entries.Count == 1 && d.Entries[0].Key == key;

    private static MetaDict NullDict(IEnumerable<string> keys) => new(keys.Select(k => new KeyValuePair<string, MetaValue>(k, MetaValue.Null)));

    /// <summary>v0.0.23–27 → 6777f95: raw <c>image</c>/<c>extra</c>/<c>is_seg</c>/<c>_has_array</c>/<c>_image_meta_format</c> wrapped, raw bbox list → {bboxes}, null stats → default.</summary>
    public static MetaDict WrapRawValues(MetaDict d, MigrationContext ctx, List<string> changes)
    {
        var b = new MetaDictBuilder(d);
        foreach (var (ns, key) in new[] { ("image", "data"), ("extra", "data"), ("is_seg", "is_seg"), ("_has_array", "has_array"), ("_image_meta_format", "image_meta_format") })
        {
            if (!b.Contains(ns) || IsWrapped(b.Get(ns), key)) continue;
            var raw = b.Get(ns)!;
            if (key == "data" && raw is MetaNull) raw = EmptyDict;
            b.Set(ns, Wrap(key, raw));
            changes.Add($"{ns}: raw value wrapped as {{\"{key}\": ...}}");
        }
        if (b.Get("bbox") is MetaList or MetaNull)
        {
            b.Set("bbox", Wrap("bboxes", b.Get("bbox")!));
            changes.Add("bbox: raw list of boxes -> {\"bboxes\": [...]}");
        }
        if (b.Get("stats") is MetaNull)
        {
            b.Set("stats", NullDict(MetaMigrator.StatsKeys.Take(10)));
            changes.Add("stats: null -> default statistics");
        }
        return b.Build();
    }

    /// <summary>6777f95 → v0.0.28: <c>image</c> → <c>original</c>.</summary>
    public static MetaDict ImageToOriginal(MetaDict d, MigrationContext ctx, List<string> changes)
    {
        var b = new MetaDictBuilder(d);
        if (b.Rename("image", "original")) changes.Add("image -> original");
        return b.Build();
    }

    /// <summary>v0.0.28 → v0.0.31: + <c>stats.percentile_min_key/percentile_max_key</c>.</summary>
    public static MetaDict AddPercentileKeys(MetaDict d, MigrationContext ctx, List<string> changes) =>
        AddFields(d, "stats", ["percentile_min_key", "percentile_max_key"], changes);

    /// <summary>v0.0.31 → v0.0.33: + <c>bbox.scores/labels</c>.</summary>
    public static MetaDict AddBboxScoresLabels(MetaDict d, MigrationContext ctx, List<string> changes) =>
        AddFields(d, "bbox", ["scores", "labels"], changes);

    /// <summary>v0.0.33 → v0.0.34: <c>original</c> → <c>source</c>.</summary>
    public static MetaDict OriginalToSource(MetaDict d, MigrationContext ctx, List<string> changes)
    {
        var b = new MetaDictBuilder(d);
        if (b.Rename("original", "source")) changes.Add("original -> source");
        return b.Build();
    }

    /// <summary>
    /// v0.0.34 → v0.0.35: a null <c>spatial.shape</c> (bug of v0.0.28–30) is taken from the array; <c>channel_axis</c>
    /// k becomes <c>axis_labels</c> ("spatial" everywhere, "channel" at k) with <c>axis_units</c> and <c>_num_*</c>.
    /// </summary>
    public static MetaDict ChannelAxisToAxisLabels(MetaDict d, MigrationContext ctx, List<string> changes)
    {
        if (d["spatial"] is not MetaDict sp) return d;
        var s = new MetaDictBuilder(sp);
        FillShape(d, s, ctx, changes);
        MetaValue labels = MetaValue.Null, nSpatial = MetaValue.Null, nNon = MetaValue.Null;
        var ca = s.Get("channel_axis");
        if (ca is MetaInt k)
        {
            if (s.Get("shape") is not MetaList shape)
                throw new MLArrayMetadataException($"cannot migrate spatial.channel_axis={k.Value} without a known array shape");
            int ndim = shape.Items.Count;
            var idx = k.Value < 0 ? k.Value + ndim : k.Value;
            if (idx < 0 || idx >= ndim)
                throw new MLArrayMetadataException($"cannot migrate spatial.channel_axis={k.Value}: out of range for {ndim} dimensions");
            labels = new MetaList(Enumerable.Range(0, ndim).Select(i => MetaValue.From(i == idx ? "channel" : "spatial")));
            nSpatial = MetaValue.From(ndim - 1);
            nNon = MetaValue.From(1);
            changes.Add($"spatial.channel_axis={k.Value} -> axis_labels {MetaMigrator.Show(labels)}");
        }
        else if (ca is not null and not MetaNull)
        {
            throw new MLArrayMetadataException($"cannot migrate spatial.channel_axis={MetaMigrator.Show(ca)}: not an int");
        }
        else if (ca is not null)
        {
            changes.Add("spatial.channel_axis=null dropped");
        }
        s.Remove("channel_axis");
        s.InsertAfter("shape", "axis_labels", labels);
        s.InsertAfter("axis_labels", "axis_units", MetaValue.Null);
        s.InsertAfter("axis_units", "_num_spatial_axes", nSpatial);
        s.InsertAfter("_num_spatial_axes", "_num_non_spatial_axes", nNon);
        var b = new MetaDictBuilder(d);
        b.Set("spatial", s.Build());
        return b.Build();
    }

    /// <summary>v0.0.35 → v0.0.42: <c>_blosc2</c> → <c>blosc2</c>.</summary>
    public static MetaDict RenameBlosc2(MetaDict d, MigrationContext ctx, List<string> changes)
    {
        var b = new MetaDictBuilder(d);
        if (b.Rename("_blosc2", "blosc2")) changes.Add("_blosc2 -> blosc2");
        return b.Build();
    }

    /// <summary>v0.0.42 → v0.0.48: + <c>blosc2.cparams/dparams</c> (null: not recorded by those releases).</summary>
    public static MetaDict AddCParamsDParams(MetaDict d, MigrationContext ctx, List<string> changes) =>
        AddFields(d, "blosc2", ["cparams", "dparams"], changes);

    /// <summary>v0.0.48 → v0.0.49: + <c>spatial.affine</c> after <c>direction</c>.</summary>
    public static MetaDict AddAffine(MetaDict d, MigrationContext ctx, List<string> changes) =>
        InsertField(d, "spatial", "direction", "affine", changes);

    /// <summary>v0.0.50–53 → current: + <c>spatial.coord_system</c> after <c>axis_labels</c>.</summary>
    public static MetaDict AddCoordSystem(MetaDict d, MigrationContext ctx, List<string> changes) =>
        InsertField(d, "spatial", "axis_labels", "coord_system", changes);

    private static MetaDict AddFields(MetaDict d, string ns, string[] fields, List<string> changes)
    {
        if (d[ns] is not MetaDict sub) return d;
        var s = new MetaDictBuilder(sub);
        foreach (var f in fields)
            if (!s.Contains(f))
            {
                s.Set(f, MetaValue.Null);
                changes.Add($"{ns}.{f}: added (null)");
            }
        var b = new MetaDictBuilder(d);
        b.Set(ns, s.Build());
        return b.Build();
    }

    private static MetaDict InsertField(MetaDict d, string ns, string after, string field, List<string> changes)
    {
        if (d[ns] is not MetaDict sub || sub[field] is not null) return d;
        var s = new MetaDictBuilder(sub);
        s.InsertAfter(after, field, MetaValue.Null);
        changes.Add($"{ns}.{field}: added (null)");
        var b = new MetaDictBuilder(d);
        b.Set(ns, s.Build());
        return b.Build();
    }

    private static bool HasArray(MetaDict d) => Unwrap(d["_has_array"], "has_array") is MetaBool { Value: true };

    private static void FillShape(MetaDict top, MetaDictBuilder spatial, MigrationContext ctx, List<string> changes)
    {
        if (spatial.Get("shape") is not (null or MetaNull) || !HasArray(top) || ctx.ArrayShape is null) return;
        var shape = new MetaList(ctx.ArrayShape.Select(x => MetaValue.From(x)));
        spatial.Set("shape", shape);
        changes.Add($"spatial.shape: null -> {MetaMigrator.Show(shape)} (from the b2nd array)");
    }

    /// <summary>
    /// The current layout as the Python reference writes it after a load: all ten namespaces in order, complete and
    /// in field order, single-key namespaces wrapped (unwrapping rule of from_mapping first), <c>_mlarray_version</c>
    /// bare "v0", <c>_num_*</c> recomputed from <c>axis_labels</c>, a null shape filled from the array. Unknown keys
    /// and namespaces of the wrong type are kept as stored (unknown keys after the known ones) for the schema validator.
    /// </summary>
    public static MetaDict Canonicalize(MetaDict d, MigrationContext ctx, List<string> changes)
    {
        var outp = new MetaDictBuilder();
        foreach (var ns in MetaMigrator.TopLevelKeys)
        {
            var stored = d[ns];
            MetaValue value = ns switch
            {
                "spatial" => Namespace(stored, MetaMigrator.SpatialKeys),
                "stats" => Namespace(stored, MetaMigrator.StatsKeys),
                "bbox" => Namespace(stored, MetaMigrator.BboxKeys),
                "blosc2" => Namespace(stored, MetaMigrator.Blosc2Keys),
                "_mlarray_version" => MetaValue.From("v0"),
                _ => SingleKey(ns, stored),
            };
            outp.Set(ns, value);
            if (stored is null)
                changes.Add($"{ns}: missing -> default {MetaMigrator.Show(value)}");
            else if (!stored.Equals(value))
                changes.Add($"{ns}: {Describe(stored, value)}");
            else if (stored is MetaDict sd && value is MetaDict vd && !sd.Entries.Select(e => e.Key).SequenceEqual(vd.Entries.Select(e => e.Key)))
                changes.Add($"{ns}: keys reordered to the reference order");
        }
        // unknown keys are kept (after the known ones) for the schema validator to report; a file with them is invalid
        foreach (var (k, v) in d.Entries)
            if (!MetaMigrator.TopLevelKeys.Contains(k))
                outp.Set(k, v);
        var top = outp.Build();
        // spatial.shape from the array and _num_* from axis_labels, as the reference does on load
        if (top["spatial"] is not MetaDict spatialDict) return top;
        var sp = new MetaDictBuilder(spatialDict);
        var before = sp.Build();
        FillShape(top, sp, ctx, changes);
        if (sp.Get("axis_labels") is MetaList labels && labels.Items.All(l => l is MetaString))
        {
            int nsp = labels.Items.Count(l => MetaMigrator.IsSpatialLabel(((MetaString)l).Value));
            var want1 = MetaValue.From(nsp);
            var want2 = MetaValue.From(labels.Items.Count - nsp);
            if (!want1.Equals(sp.Get("_num_spatial_axes")) || !want2.Equals(sp.Get("_num_non_spatial_axes")))
            {
                sp.Set("_num_spatial_axes", want1);
                sp.Set("_num_non_spatial_axes", want2);
                changes.Add($"spatial._num_spatial_axes/_num_non_spatial_axes: recomputed from axis_labels ({nsp}, {labels.Items.Count - nsp})");
            }
        }
        var after = sp.Build();
        if (!after.Equals(before))
        {
            outp.Set("spatial", after);
            top = outp.Build();
        }
        return top;
    }

    internal static string Describe(MetaValue stored, MetaValue now)
    {
        if (stored is MetaNull) return $"null -> default {MetaMigrator.Show(now)}";
        if (now is MetaDict nd && nd.Entries.Count == 1 && nd.Entries[0].Value.Equals(stored)) return $"{MetaMigrator.Show(stored)} -> wrapped {MetaMigrator.Show(now)}";
        if (stored is MetaDict sd && sd.Entries.Count == 1 && sd.Entries[0].Value.Equals(now)) return $"{MetaMigrator.Show(stored)} -> bare {MetaMigrator.Show(now)}";
        if (stored is MetaDict s2 && now is MetaDict n2)
        {
            var added = n2.Entries.Select(e => e.Key).Where(k => s2[k] is null).ToArray();
            var dropped = s2.Entries.Select(e => e.Key).Where(k => n2[k] is null).ToArray();
            var parts = new List<string>();
            if (added.Length > 0) parts.Add("added " + string.Join(", ", added) + " (null)");
            if (dropped.Length > 0) parts.Add("dropped " + string.Join(", ", dropped));
            if (parts.Count > 0) return string.Join("; ", parts);
        }
        return $"{MetaMigrator.Show(stored)} -> {MetaMigrator.Show(now)}";
    }

    private static MetaValue SingleKey(string ns, MetaValue? stored)
    {
        string key = MetaMigrator.SingleKeyNamespaces[ns];
        var raw = Unwrap(stored, key);
        if (raw is MetaNull)
            raw = ns switch
            {
                "source" or "extra" => EmptyDict,
                "_has_array" => MetaValue.From(false),
                _ => MetaValue.Null,
            };
        return Wrap(key, raw);
    }

    private static MetaValue Namespace(MetaValue? stored, IReadOnlyList<string> keys)
    {
        if (stored is null or MetaNull) return NullDict(keys);
        if (stored is not MetaDict d) return stored; // the schema validator reports the wrong type
        var unknown = d.Entries.Where(e => !keys.Contains(e.Key));
        return new MetaDict(keys.Select(k => new KeyValuePair<string, MetaValue>(k, d[k] ?? MetaValue.Null)).Concat(unknown));
    }
}
