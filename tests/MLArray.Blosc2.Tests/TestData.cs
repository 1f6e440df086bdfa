namespace MLArray.Blosc2.Tests;

/// <summary>Locates the repository's committed test data (tests/data).</summary>
internal static class TestData
{
    private static readonly Lazy<string> Root = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, "tests", "data");
            if (Directory.Exists(candidate) && File.Exists(System.IO.Path.Combine(candidate, "blosc2", "MANIFEST.tsv")))
                return candidate;
            dir = dir.Parent;
        }
        throw new DirectoryNotFoundException("tests/data not found above " + AppContext.BaseDirectory);
    });

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root.Value, .. parts]);

    public static string Blosc2(string file) => Path("blosc2", file);

    /// <summary>FNV-1a 64 as used by the corpus manifests.</summary>
    public static ulong Fnv1a64(ReadOnlySpan<byte> data)
    {
        ulong h = 0xcbf29ce484222325;
        foreach (byte b in data)
        {
            h ^= b;
            h *= 0x100000001b3;
        }
        return h;
    }
}

/// <summary>One row of tests/data/blosc2/MANIFEST.tsv.</summary>
internal sealed record CorpusEntry(string File, string DType, long[] Shape, int[] ChunkShape, int[] BlockShape,
    string Codec, int CLevel, string Filter, string Env, IReadOnlyDictionary<string, string> Read)
{
    public string? Hash => Read.TryGetValue("hash", out var h) ? h : null;

    public override string ToString() => File;

    public static IReadOnlyList<CorpusEntry> Load()
    {
        var rows = new List<CorpusEntry>();
        foreach (var line in System.IO.File.ReadLines(TestData.Blosc2("MANIFEST.tsv")))
        {
            if (line.StartsWith('#') || line.StartsWith("file\t", StringComparison.Ordinal) || line.Length == 0)
                continue;
            var f = line.Split('\t');
            var read = new Dictionary<string, string>();
            foreach (var part in f[11].Split("; "))
                foreach (var kv in part.Split(' '))
                {
                    int eq = kv.IndexOf('=');
                    if (eq > 0) read[kv[..eq]] = kv[(eq + 1)..];
                }
            rows.Add(new CorpusEntry(f[0], f[1], ParseLongs(f[2]), ParseLongs(f[3]).Select(x => (int)x).ToArray(),
                ParseLongs(f[4]).Select(x => (int)x).ToArray(), f[5], int.Parse(f[6], System.Globalization.CultureInfo.InvariantCulture), f[7], f[8], read));
        }
        return rows;
    }

    private static long[] ParseLongs(string s) => s.Split(',').Select(x => long.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
}
