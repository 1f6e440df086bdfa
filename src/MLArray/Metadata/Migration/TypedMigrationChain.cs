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

namespace MLArray.Metadata.Migration;

/// <summary>
/// Runs the typed chain of <see cref="TypedMigrationSteps"/>: the mapping of the detected layout is read into that
/// layout's generated record (its schema in <c>schema/legacy/</c>, or the current schema), then each step turns it into
/// the next layout's record, up to <see cref="MLArrayMeta"/>.
/// </summary>
internal static class TypedMigrationChain
{
    /// <summary>
    /// The typed migration of <paramref name="d"/> (stored in <paramref name="layout"/>), or null when the mapping does
    /// not fit its layout's schema (unknown keys, wrong types, or for the current layout any schema error): the caller
    /// then migrates the tree as stored, so that the schema validator reports those problems on the result.
    /// </summary>
    /// <exception cref="MLArrayMetadataException">A step cannot be applied (e.g. channel_axis without a shape).</exception>
    public static MLArrayMeta? TryMigrate(MetaDict d, MetaLayout layout, MigrationContext ctx, List<string> changes) => layout switch
    {
        MetaLayout.V0023 => Read<L0023.LegacyMeta>(d, static v => L0023.LegacyMeta.FromMetaValue(v), static r => r.ToMetaValue(), changes) is { } r ? From(r, ctx, changes) : null,
        MetaLayout.V0023Image => Read<L0023I.LegacyMeta>(d, static v => L0023I.LegacyMeta.FromMetaValue(v), static r => r.ToMetaValue(), changes) is { } r ? From(r, ctx, changes) : null,
        MetaLayout.V0028 => Read<L0028.LegacyMeta>(d, static v => L0028.LegacyMeta.FromMetaValue(v), static r => r.ToMetaValue(), changes) is { } r ? From(r, ctx, changes) : null,
        MetaLayout.V0031 => Read<L0031.LegacyMeta>(d, static v => L0031.LegacyMeta.FromMetaValue(v), static r => r.ToMetaValue(), changes) is { } r ? From(r, ctx, changes) : null,
        MetaLayout.V0033 => Read<L0033.LegacyMeta>(d, static v => L0033.LegacyMeta.FromMetaValue(v), static r => r.ToMetaValue(), changes) is { } r ? From(r, ctx, changes) : null,
        MetaLayout.V0034 => Read<L0034.LegacyMeta>(d, static v => L0034.LegacyMeta.FromMetaValue(v), static r => r.ToMetaValue(), changes) is { } r ? From(r, ctx, changes) : null,
        MetaLayout.V0035 => Read<L0035.LegacyMeta>(d, static v => L0035.LegacyMeta.FromMetaValue(v), static r => r.ToMetaValue(), changes) is { } r ? From(r, ctx, changes) : null,
        MetaLayout.V0042 => Read<L0042.LegacyMeta>(d, static v => L0042.LegacyMeta.FromMetaValue(v), static r => r.ToMetaValue(), changes) is { } r ? From(r, ctx, changes) : null,
        MetaLayout.V0048 => Read<L0048.LegacyMeta>(d, static v => L0048.LegacyMeta.FromMetaValue(v), static r => r.ToMetaValue(), changes) is { } r ? From(r, ctx, changes) : null,
        MetaLayout.V0049 => Read<L0049.LegacyMeta>(d, static v => L0049.LegacyMeta.FromMetaValue(v), static r => r.ToMetaValue(), changes) is { } r ? From(r, ctx, changes) : null,
        MetaLayout.V0050 => Read<L0050.LegacyMeta>(d, static v => L0050.LegacyMeta.FromMetaValue(v), static r => r.ToMetaValue(), changes) is { } r ? From(r, ctx, changes) : null,
        MetaLayout.Current => Read<MLArrayMeta>(d, static v => MLArrayMeta.FromMetaValue(v), static r => r.ToMetaValue(), changes) is { } r ? From(r, ctx, changes) : null,
        _ => null,
    };

    // each era's record through every later step (a missing or mistyped step does not compile)
    private static MLArrayMeta From(L0023.LegacyMeta m, MigrationContext c, List<string> ch) => From(TypedMigrationSteps.WrapRawBboxes(m, c, ch), c, ch);
    private static MLArrayMeta From(L0023I.LegacyMeta m, MigrationContext c, List<string> ch) => From(TypedMigrationSteps.ImageToOriginal(m, c, ch), c, ch);
    private static MLArrayMeta From(L0028.LegacyMeta m, MigrationContext c, List<string> ch) => From(TypedMigrationSteps.AddPercentileKeys(m, c, ch), c, ch);
    private static MLArrayMeta From(L0031.LegacyMeta m, MigrationContext c, List<string> ch) => From(TypedMigrationSteps.AddBboxScoresLabels(m, c, ch), c, ch);
    private static MLArrayMeta From(L0033.LegacyMeta m, MigrationContext c, List<string> ch) => From(TypedMigrationSteps.OriginalToSource(m, c, ch), c, ch);
    private static MLArrayMeta From(L0034.LegacyMeta m, MigrationContext c, List<string> ch) => From(TypedMigrationSteps.ChannelAxisToAxisLabels(m, c, ch), c, ch);
    private static MLArrayMeta From(L0035.LegacyMeta m, MigrationContext c, List<string> ch) => From(TypedMigrationSteps.RenameBlosc2(m, c, ch), c, ch);
    private static MLArrayMeta From(L0042.LegacyMeta m, MigrationContext c, List<string> ch) => From(TypedMigrationSteps.AddCParamsDParams(m, c, ch), c, ch);
    private static MLArrayMeta From(L0048.LegacyMeta m, MigrationContext c, List<string> ch) => From(TypedMigrationSteps.AddAffine(m, c, ch), c, ch);
    private static MLArrayMeta From(L0049.LegacyMeta m, MigrationContext c, List<string> ch) => From(TypedMigrationSteps.FrozenContainers(m, c, ch), c, ch);
    private static MLArrayMeta From(L0050.LegacyMeta m, MigrationContext c, List<string> ch) => From(TypedMigrationSteps.AddCoordSystem(m, c, ch), c, ch);
    private static MLArrayMeta From(MLArrayMeta m, MigrationContext c, List<string> ch) => TypedMigrationSteps.Canonicalize(m, c, ch);

    /// <summary>
    /// Reads the stored mapping into its layout's record (null when it does not fit that schema) and records what the
    /// reading normalised, per top-level key: raw single-key values wrapped (or the version unwrapped), missing or null
    /// namespaces defaulted, namespaces completed and put in field order, keys put in the reference order.
    /// </summary>
    private static T? Read<T>(MetaDict d, Func<MetaValue, T> read, Func<T, MetaValue> canonical, List<string> changes) where T : class
    {
        T record;
        try
        {
            record = read(d);
        }
        catch (Exception e) when (e is MLArrayMetadataException or MLArrayValidationException)
        {
            return null;
        }
        var canon = (MetaDict)canonical(record);
        foreach (var (ns, value) in canon.Entries)
        {
            var stored = d[ns];
            if (stored is null)
                changes.Add($"{ns}: missing -> default {MetaMigrator.Show(value)}");
            else if (!stored.Equals(value))
                changes.Add($"{ns}: {MigrationSteps.Describe(stored, value)}");
            else if (stored is MetaDict sd && value is MetaDict vd && !sd.Entries.Select(e => e.Key).SequenceEqual(vd.Entries.Select(e => e.Key)))
                changes.Add($"{ns}: keys reordered to the reference order");
        }
        if (!d.Entries.Select(e => e.Key).SequenceEqual(canon.Entries.Select(e => e.Key)))
            changes.Add("top-level keys put in the reference order");
        return record;
    }
}
