using System.Globalization;
using System.Text.Json;

namespace MLArray.TestSupport;

/// <summary>The medical corpus copied into tests/data/medical and its MANIFEST.jsonl (see tests/data/README.md).</summary>
internal static class MedicalTestData
{
    private static readonly Lazy<string> DirLazy = new(FindDir);
    private static readonly Lazy<List<JsonElement>> ManifestLazy = new(LoadManifest);

    public static string Dir => DirLazy.Value;

    public static IReadOnlyList<JsonElement> Manifest => ManifestLazy.Value;

    public static string PathOf(string id) => Path.Combine(Dir, id.Replace('/', Path.DirectorySeparatorChar));

    public static JsonElement Record(string id) => Manifest.Single(r => r.GetProperty("id").GetString() == id);

    public static IEnumerable<object[]> Ids(string kind, bool errors = false) =>
        Manifest.Where(r => r.GetProperty("expect_error").GetBoolean() == errors &&
                            (errors ? r.GetProperty("id").GetString()!.Contains(kind == "nrrd" ? "nrrd" : ".h", StringComparison.Ordinal) || kind == "any"
                                    : r.TryGetProperty("kind", out JsonElement k) && k.GetString() == kind))
            .Select(r => new object[] { r.GetProperty("id").GetString()! });

    private static string FindDir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "data", "medical");
            if (File.Exists(Path.Combine(candidate, "MANIFEST.jsonl")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException($"tests/data/medical not found above {AppContext.BaseDirectory}");
    }

    private static List<JsonElement> LoadManifest() =>
        File.ReadAllLines(Path.Combine(Dir, "MANIFEST.jsonl"))
            .Where(l => l.Trim().Length > 0)
            .Select(l => JsonDocument.Parse(l).RootElement.Clone())
            .ToList();

    /// <summary>FNV-1a 64 as the manifest prints it (16 lowercase hex digits).</summary>
    public static string Fnv1a64(ReadOnlySpan<byte> data)
    {
        ulong h = 0xcbf29ce484222325UL;
        foreach (byte b in data)
        {
            h ^= b;
            h *= 0x100000001b3UL;
        }

        return h.ToString("x16", CultureInfo.InvariantCulture);
    }

    public static double Num(JsonElement e) => e.ValueKind == JsonValueKind.String
        ? e.GetString() switch
        {
            "NaN" => double.NaN,
            "Infinity" => double.PositiveInfinity,
            "-Infinity" => double.NegativeInfinity,
            var s => throw new FormatException($"not a number: {s}"),
        }
        : e.GetDouble();

    public static double[,] Matrix(JsonElement e)
    {
        int rows = e.GetArrayLength();
        int cols = e[0].GetArrayLength();
        var m = new double[rows, cols];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                m[i, j] = Num(e[i][j]);
            }
        }

        return m;
    }

    public static void AssertMatrix(double[,] expected, ReadOnlyMatrix actual, double tol, string what) => AssertMatrix(expected, actual.ToArray(), tol, what);

    public static void AssertMatrix(double[,] expected, double[,] actual, double tol, string what)
    {
        Assert.True(expected.GetLength(0) == actual.GetLength(0) && expected.GetLength(1) == actual.GetLength(1),
            $"{what}: shape {expected.GetLength(0)}x{expected.GetLength(1)} expected, got {actual.GetLength(0)}x{actual.GetLength(1)}");
        for (int i = 0; i < expected.GetLength(0); i++)
        {
            for (int j = 0; j < expected.GetLength(1); j++)
            {
                Assert.True(Math.Abs(expected[i, j] - actual[i, j]) <= tol,
                    $"{what}[{i},{j}]: expected {expected[i, j]}, got {actual[i, j]}\n{Show(actual)}");
            }
        }
    }

    public static string Show(double[,] m)
    {
        var rows = new List<string>();
        for (int i = 0; i < m.GetLength(0); i++)
        {
            rows.Add(string.Join(", ", Enumerable.Range(0, m.GetLength(1)).Select(j => m[i, j].ToString("R", CultureInfo.InvariantCulture))));
        }

        return "[" + string.Join("; ", rows) + "]";
    }

    /// <summary>
    /// Compares one header value we expose with the manifest's JSON value: numbers within a relative 1e-6 (NaN equal
    /// NaN), strings exactly, arrays element-wise.
    /// </summary>
    public static string? Compare(JsonElement expected, object? actual, string key)
    {
        switch (expected.ValueKind)
        {
            case JsonValueKind.Null:
                return actual is null ? null : $"{key}: expected null, got {Fmt(actual)}";
            case JsonValueKind.Number:
            case JsonValueKind.String when expected.GetString() is "NaN" or "Infinity" or "-Infinity":
            {
                double e = Num(expected);
                double? a = actual switch
                {
                    long l => l,
                    int i => i,
                    double d => d,
                    _ => null,
                };
                if (a is null)
                {
                    return $"{key}: expected number {e}, got {Fmt(actual)}";
                }

                bool ok = double.IsNaN(e) ? double.IsNaN(a.Value) : e == a.Value || Math.Abs(e - a.Value) <= 1e-6 * Math.Max(1, Math.Abs(e));
                return ok ? null : $"{key}: expected {e}, got {a}";
            }

            case JsonValueKind.String:
                return actual is string s && s == expected.GetString() ? null : $"{key}: expected \"{expected.GetString()}\", got {Fmt(actual)}";
            case JsonValueKind.Array:
            {
                if (actual is not System.Collections.IList list)
                {
                    return $"{key}: expected array, got {Fmt(actual)}";
                }

                if (list.Count != expected.GetArrayLength())
                {
                    return $"{key}: expected {expected.GetArrayLength()} items, got {list.Count} ({Fmt(actual)})";
                }

                for (int i = 0; i < list.Count; i++)
                {
                    string? r = Compare(expected[i], list[i], $"{key}[{i}]");
                    if (r is not null)
                    {
                        return r;
                    }
                }

                return null;
            }

            default:
                return $"{key}: unsupported expected kind {expected.ValueKind}";
        }
    }

    private static string Fmt(object? o) => o switch
    {
        null => "null",
        string s => $"\"{s}\"",
        System.Collections.IEnumerable e => "[" + string.Join(", ", e.Cast<object?>().Select(Fmt)) + "]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => o.ToString() ?? "",
    };
}
