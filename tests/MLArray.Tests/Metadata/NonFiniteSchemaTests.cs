using System.Text.Json;
using MLArray.Metadata;
using MLArray.TestSupport;

namespace MLArray.Tests.Metadata;

/// <summary>
/// Non-finite numbers in metadata JSON: the schema (schema/mlarray-meta.schema.json) takes exactly the strings
/// "NaN", "Infinity" and "-Infinity" wherever a number may be, the generated C# validator takes the same, and an
/// independent validator (python-jsonschema) makes the same decision on every document.
/// </summary>
public sealed class NonFiniteSchemaTests
{
    /// <summary>(document, accepted): numbers written as the three strings in every kind of number slot, and near misses.</summary>
    private static readonly (string Json, bool Valid)[] Documents =
    [
        ("""{"stats": {"min": "NaN", "max": "Infinity", "mean": "-Infinity", "std": 1.5, "median": null}}""", true),
        ("""{"stats": {"percentile_min": "NaN", "percentile_max_key": "Infinity", "percentile_std": "-Infinity"}}""", true),
        ("""{"spatial": {"spacing": ["NaN", 1.0, "Infinity"], "origin": ["-Infinity", 0, 2.5], "direction": [[1, 0, 0], [0, "NaN", 0], [0, 0, 1]]}}""", true),
        ("""{"spatial": {"affine": [["NaN", 0, 0, 0], [0, 1, 0, "Infinity"], [0, 0, 1, 0], [0, 0, 0, 1]]}}""", true),
        ("""{"bbox": {"bboxes": [[[0, "Infinity"], [0, 1], [0, 1]]], "scores": ["NaN"], "labels": ["NaN"]}}""", true),
        ("""{"stats": {"min": "nan"}}""", false),
        ("""{"stats": {"max": "inf"}}""", false),
        ("""{"stats": {"max": "+Infinity"}}""", false),
        ("""{"stats": {"mean": "Infinity "}}""", false),
        ("""{"stats": {"std": "1.5"}}""", false),
        ("""{"spatial": {"spacing": ["-inf", 1.0, 1.0]}}""", false),
        ("""{"spatial": {"direction": [[1, 0, 0], [0, "Inf", 0], [0, 0, 1]]}}""", false),
        ("""{"bbox": {"scores": ["NaN", "-NaN"]}}""", false),
        ("""{"bbox": {"bboxes": [[[0, "infinity"]]]}}""", false),
        // integers are never non-finite
        ("""{"spatial": {"shape": ["NaN", 4, 4]}}""", false),
        ("""{"blosc2": {"chunk_size": ["Infinity"]}}""", false),
    ];

    public static TheoryData<int> DocumentIndexes() => new(Enumerable.Range(0, Documents.Length));

    [Theory]
    [MemberData(nameof(DocumentIndexes))]
    public void GeneratedValidator_TakesExactlyTheThreeStrings(int index)
    {
        var (json, valid) = Documents[index];
        var report = MLArrayMeta.ValidateJson(json);
        Assert.True(report.IsValid == valid, $"{json}: expected {(valid ? "valid" : "invalid")}, got {string.Join("; ", report.Errors)}");
        if (valid)
        {
            // the typed record reads them and writes JSON the validator takes again
            Assert.True(MLArrayMeta.ValidateJson(MLArrayMeta.FromJson(json).ToJson()).IsValid);
        }
    }

    [Fact]
    public void TypedRecord_WritesNonFiniteStats_AsTheStrings_AndReadsThemBack()
    {
        var meta = new MLArrayMeta { Stats = new MetaStatistics { Min = double.NaN, Max = double.PositiveInfinity, Mean = double.NegativeInfinity } };
        string json = meta.ToJson();
        using var doc = JsonDocument.Parse(json);
        var stats = doc.RootElement.GetProperty("stats");
        Assert.Equal("NaN", stats.GetProperty("min").GetString());
        Assert.Equal("Infinity", stats.GetProperty("max").GetString());
        Assert.Equal("-Infinity", stats.GetProperty("mean").GetString());
        Assert.True(MLArrayMeta.ValidateJson(json).IsValid);
        var back = MLArrayMeta.FromJson(json);
        Assert.True(double.IsNaN(back.Stats.Min!.Value.ToDouble()));
        Assert.True(double.IsPositiveInfinity(back.Stats.Max!.Value.ToDouble()));
        Assert.True(double.IsNegativeInfinity(back.Stats.Mean!.Value.ToDouble()));
    }

    [PythonFact("jsonschema")]
    public void PythonJsonSchema_MakesTheSameDecisions()
    {
        var verdicts = JsonSchemaCheck.Verdicts(Documents.Select(d => d.Json).ToArray());
        for (int i = 0; i < Documents.Length; i++)
            Assert.True(verdicts[i].StartsWith(Documents[i].Valid ? "valid" : "invalid", StringComparison.Ordinal),
                $"{Documents[i].Json}: python-jsonschema says {verdicts[i]}");
    }
}
