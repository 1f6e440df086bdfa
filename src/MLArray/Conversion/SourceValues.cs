using System.Globalization;
using MLArray.Metadata;

namespace MLArray.Conversion;

/// <summary>Header fields ↔ <c>meta.source</c> values (the JSON forms pynrrd and nibabel give them).</summary>
internal static class SourceValues
{
    /// <summary>Header values (long, int, double, string, arrays, nested arrays) as a <c>meta.source</c> dict.</summary>
    internal static MetaDict HeaderToSource(IEnumerable<KeyValuePair<string, object>> header) =>
        new(header.Select(kv => new KeyValuePair<string, MetaValue>(kv.Key, ToMeta(kv.Value))));

    internal static MetaDict Append(MetaDict d, string key, MetaValue v) => new(d.Entries.Append(new(key, v)));

    internal static MetaValue ToMeta(object? v) => v switch
    {
        null => MetaValue.Null,
        MetaValue m => m,
        string s => MetaValue.From(s),
        bool b => MetaValue.From(b),
        long l => MetaValue.From(l),
        int i => MetaValue.From(i),
        short i => MetaValue.From(i),
        byte i => MetaValue.From(i),
        double d => MetaValue.From(d),
        float d => MetaValue.From(d),
        byte[] bs => MetaValue.From(System.Text.Encoding.UTF8.GetString(bs)),
        System.Collections.IEnumerable e => MetaValue.List(e.Cast<object?>().Select(ToMeta)),
        _ => MetaValue.From(Convert.ToString(v, CultureInfo.InvariantCulture)),
    };

    internal static double? ToDouble(MetaValue v) => v switch
    {
        MetaFloat f => f.Value,
        MetaInt i => (double)i.Value,
        MetaString s when s.Value == "NaN" => double.NaN,
        _ => null,
    };

    /// <summary>A NRRD field value from its JSON form (as pynrrd types it).</summary>
    internal static object? FromMeta(MetaValue v, string key)
    {
        switch (v)
        {
            case MetaString s: return s.Value;
            case MetaInt i: return (long)i.Value;
            case MetaFloat f: return f.Value;
            case MetaList l when l.Items.Count == 0: return null;
            case MetaList l when l.Items.All(x => x is MetaList):
                return l.Items.Select(x => ((MetaList)x).Items.Select(y => ToDouble(y) ?? double.NaN).ToArray()).ToArray();
            case MetaList l when l.Items.All(x => x is MetaString): return l.Items.Select(x => ((MetaString)x).Value).ToArray();
            case MetaList l when l.Items.All(x => x is MetaInt) && key is "sizes" or "block size": return l.Items.Select(x => (long)((MetaInt)x).Value).ToArray();
            case MetaList l: return l.Items.Select(x => ToDouble(x) ?? double.NaN).ToArray();
            default: return null;
        }
    }

    internal static long? Source(MLArrayMeta meta, string key) =>
        meta.Source.TryGetValue(key, out MetaValue? v) && v is MetaInt i ? (long)i.Value : null;

    internal static double SourceDouble(MLArrayMeta meta, string key) =>
        meta.Source.TryGetValue(key, out MetaValue? v) ? ToDouble(v) ?? double.NaN : double.NaN;
}
