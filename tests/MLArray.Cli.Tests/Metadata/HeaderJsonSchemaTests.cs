using System.Text.Json;
using MLArray.Blosc2;
using MLArray.Cli.Tests.Cli;
using MLArray.Metadata;
using MLArray.Metadata.Migration;
using MLArray.TestSupport;

namespace MLArray.Cli.Tests.Metadata;

/// <summary>
/// The <c>meta</c> object that <c>mlarray header --json</c> prints conforms to schema/mlarray-meta.schema.json as an
/// independent validator (python-jsonschema) reads it: for every file of the MLArray corpus the command accepts, and
/// for files whose statistics, spacing and box scores are NaN or ±Infinity (printed as "NaN", "Infinity", "-Infinity").
/// </summary>
public sealed class HeaderJsonSchemaTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-hdrjson-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string NonFiniteFile(string name, Func<MLArrayMeta, MLArrayMeta> edit)
    {
        string path = Path.Combine(_dir, name);
        MLArrayMeta meta;
        using (var img = MLArrayFile.FromArray(new float[4 * 5 * 6], [4, 5, 6]))
        {
            meta = edit(img.Meta);
            img.Save(path);
        }
        // written as the Python reference writes it: MLArrayFile refuses a non-finite spacing or origin
        using var a = B2ndArray.Open(path, B2ndOpenMode.ReadWrite);
        a.SetVlMeta(MLArrayMetadata.VlMetaName, MLArrayMetadata.Encode(meta));
        return path;
    }

    [PythonFact("jsonschema")]
    public void HeaderJson_Meta_IsAcceptedByPythonJsonSchema_ForTheCorpusAndNonFiniteNumbers()
    {
        var files = MlaCorpus.Entries.Select(e => MlaCorpus.PathOf(e.File)).ToList();
        files.Add(NonFiniteFile("stats.mla", m => m with
        {
            Stats = new MetaStatistics { Min = double.NaN, Max = double.PositiveInfinity, Mean = double.NegativeInfinity, Std = 2.5 },
        }));
        files.Add(NonFiniteFile("geometry.mla", m => m with
        {
            Spatial = m.Spatial with { Spacing = [double.PositiveInfinity, 1.0, 2.0], Origin = [double.NegativeInfinity, double.NaN, 0.0] },
            Bbox = new MetaBbox { Bboxes = [[[0, 1], [0, 2], [0, 3]]], Scores = [double.NaN] },
        }));

        var metas = new List<(string File, string Json)>();
        foreach (string f in files)
        {
            var (code, stdout, _) = CliRun.Run("header", f, "--json");
            if (code != 0) continue; // hostile and corrupt corpus files: refused, nothing printed to validate
            using var doc = JsonDocument.Parse(stdout);
            var meta = doc.RootElement.GetProperty("meta");
            if (meta.ValueKind != JsonValueKind.Null) metas.Add((Path.GetFileName(f), meta.GetRawText()));
        }
        int valid = MlaCorpus.Entries.Count(e => e.Kind == "valid");
        Assert.True(metas.Count >= valid + 2, $"only {metas.Count} files printed metadata");
        Assert.Contains(metas, m => m.File == "stats.mla" && m.Json.Contains("\"NaN\"", StringComparison.Ordinal)
            && m.Json.Contains("\"Infinity\"", StringComparison.Ordinal) && m.Json.Contains("\"-Infinity\"", StringComparison.Ordinal));

        var verdicts = JsonSchemaCheck.Verdicts(metas.Select(m => m.Json).ToArray());
        var rejected = metas.Zip(verdicts).Where(p => p.Second != "valid").Select(p => $"{p.First.File}: {p.Second}").ToList();
        Assert.True(rejected.Count == 0, string.Join("\n", rejected));
        // the generated validator takes the same JSON
        foreach (var (file, json) in metas)
            Assert.True(MLArrayMeta.ValidateJson(json).IsValid, $"{file}: {string.Join("; ", MLArrayMeta.ValidateJson(json).Errors)}");
    }
}
