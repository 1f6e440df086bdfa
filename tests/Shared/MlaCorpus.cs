using System.Text.Json;
using MLArray.Metadata;

namespace MLArray.TestSupport;

/// <summary>The MLArray conformance corpus copied into tests/data/mla (see tests/data/README.md).</summary>
internal static class MlaCorpus
{
    private static readonly Lazy<string> DirLazy = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "data", "mla");
            if (File.Exists(Path.Combine(candidate, "MANIFEST.jsonl")))
                return candidate;
        }
        throw new DirectoryNotFoundException($"tests/data/mla not found above {AppContext.BaseDirectory}");
    });

    private static readonly Lazy<IReadOnlyList<MlaEntry>> EntriesLazy = new(() =>
        File.ReadLines(Path.Combine(DirLazy.Value, "MANIFEST.jsonl"))
            .Where(l => l.Length > 0)
            .Select(l => new MlaEntry(JsonDocument.Parse(l).RootElement.Clone()))
            .ToArray());

    public static string Dir => DirLazy.Value;

    public static string PathOf(string file) => Path.Combine(Dir, file);

    public static IReadOnlyList<MlaEntry> Entries => EntriesLazy.Value;

    public static MlaEntry Get(string file) => Entries.Single(e => e.File == file);

    public static TheoryData<string> Files(string? kind = null)
    {
        var d = new TheoryData<string>();
        foreach (var e in Entries)
            if (kind is null || e.Kind == kind)
                d.Add(e.File);
        return d;
    }
}

/// <summary>One record of MANIFEST.jsonl.</summary>
internal sealed record MlaEntry(JsonElement Json)
{
    public string File => Json.GetProperty("file").GetString()!;
    public string Kind => Json.GetProperty("kind").GetString()!;
    public string? Layout => Json.TryGetProperty("layout", out var l) ? l.GetString() : null;
    public string Version => Json.GetProperty("mlarray_version").GetString()!;
    public string? RejectStage => Json.TryGetProperty("reject_stage", out var r) ? r.GetString() : null;
    public MetaValue Metadata => MetaValue.FromJson(Json.GetProperty("metadata"));
    public MetaValue Migrated => MetaValue.FromJson(Json.GetProperty("migrated"));
    public long[] Shape => Json.GetProperty("array").GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
    public string ArrayHash => Json.GetProperty("array").GetProperty("hash_fnv1a64").GetString()!;
    public override string ToString() => File;
}

/// <summary>Comparison helpers for metadata trees.</summary>
internal static class MetaAssert
{
    /// <summary>The form the manifest uses: NaN/±Infinity as the strings "NaN"/"Infinity"/"-Infinity".</summary>
    public static MetaValue ManifestForm(MetaValue v) => v switch
    {
        MetaFloat f when double.IsNaN(f.Value) => MetaValue.From("NaN"),
        MetaFloat f when double.IsPositiveInfinity(f.Value) => MetaValue.From("Infinity"),
        MetaFloat f when double.IsNegativeInfinity(f.Value) => MetaValue.From("-Infinity"),
        MetaList l => new MetaList(l.Items.Select(ManifestForm)),
        MetaDict d => new MetaDict(d.Entries.Select(e => new KeyValuePair<string, MetaValue>(e.Key, ManifestForm(e.Value)))),
        _ => v,
    };

    /// <summary>Asserts equal values, equal kinds (int ≠ float) and equal key order everywhere, naming the first difference.</summary>
    public static void SameOrdered(MetaValue expected, MetaValue actual, string path = "")
    {
        string p = path.Length == 0 ? "/" : path;
        Assert.True(expected.Kind == actual.Kind, $"{p}: expected {expected.Kind} {Short(expected)}, got {actual.Kind} {Short(actual)}");
        switch (expected)
        {
            case MetaDict e:
            {
                var a = (MetaDict)actual;
                var ek = e.Entries.Select(x => x.Key).ToArray();
                var ak = a.Entries.Select(x => x.Key).ToArray();
                Assert.True(ek.SequenceEqual(ak), $"{p}: keys differ: expected [{string.Join(", ", ek)}], got [{string.Join(", ", ak)}]");
                foreach (var (k, v) in e.Entries) SameOrdered(v, a[k]!, $"{path}/{k}");
                break;
            }
            case MetaList e:
            {
                var a = (MetaList)actual;
                Assert.True(e.Items.Count == a.Items.Count, $"{p}: expected {e.Items.Count} items, got {a.Items.Count}");
                for (int i = 0; i < e.Items.Count; i++) SameOrdered(e.Items[i], a.Items[i], $"{path}/{i}");
                break;
            }
            default:
                Assert.True(expected.Equals(actual), $"{p}: expected {Short(expected)}, got {Short(actual)}");
                break;
        }
    }

    private static string Short(MetaValue v)
    {
        string s = v.ToJson();
        return s.Length > 120 ? s[..117] + "..." : s;
    }
}
