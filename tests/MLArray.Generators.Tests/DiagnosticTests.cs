using Microsoft.CodeAnalysis;

namespace MLArray.Generators.Tests;

public class DiagnosticTests
{
    private const string Head = """
        "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "https://example.org/t/1.0.0",
        "x-csharp-namespace": "T", "x-csharp-type": "Root", "type": "object", "additionalProperties": false,
        """;

    public static TheoryData<string, string, DiagnosticSeverity> Cases() => new()
    {
        // MLAG0001 malformed JSON
        { "MLAG0001", "{ \"type\": \"object\", \"properties\": { \"a\": } }", DiagnosticSeverity.Error },
        // MLAG0002 schema that cannot become C#: no x-csharp-namespace
        { "MLAG0002", """{ "$id": "https://example.org/t/1.0.0", "x-csharp-type": "Root", "type": "object" }""", DiagnosticSeverity.Error },
        // MLAG0003 unknown x- keyword (typo of x-length)
        { "MLAG0003", "{" + Head + """ "properties": { "a": { "type": "array", "x-lenght": "n" } } }""", DiagnosticSeverity.Error },
        // MLAG0004 name clash: has_array and _has_array both become HasArray
        { "MLAG0004", "{" + Head + """ "properties": { "has_array": { "type": "boolean" }, "_has_array": { "type": "boolean" } } }""", DiagnosticSeverity.Error },
        // MLAG0005 unresolvable $ref
        { "MLAG0005", "{" + Head + """ "properties": { "a": { "$ref": "#/$defs/Missing" } } }""", DiagnosticSeverity.Error },
        // MLAG0006 unsupported keyword
        { "MLAG0006", "{" + Head + """ "properties": { "a": { "type": "string", "pattern": "^a" } } }""", DiagnosticSeverity.Warning },
        // MLAG0007 invalid x- rule: x-length over an undeclared dimension
        { "MLAG0007", "{" + Head + """ "properties": { "a": { "type": "array", "x-length": "ndim" } } }""", DiagnosticSeverity.Error },
        // MLAG0008 $id without version
        { "MLAG0008", """{ "$id": "https://example.org/t", "x-csharp-namespace": "T", "x-csharp-type": "Root", "type": "object", "properties": { "a": { "type": "string" } } }""", DiagnosticSeverity.Warning },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MalformedSchema_ReportsDiagnostic(string id, string schema, DiagnosticSeverity severity)
    {
        const string path = "/schemas/bad.schema.json";
        var run = GeneratorHarness.Run(schema, path);
        var d = Assert.Single(run.GeneratorDiagnostics, x => x.Id == id);
        Assert.Equal(severity, d.Severity);
        Assert.Equal(path, d.Location.GetLineSpan().Path);
        Assert.DoesNotContain(run.GeneratorDiagnostics, x => x.Id != id && x.Severity == DiagnosticSeverity.Error);
        if (severity == DiagnosticSeverity.Error) Assert.Empty(run.Sources); // nothing half-generated
        else Assert.NotEmpty(run.Sources);
    }

    [Fact]
    public void EveryDiagnosticIsDocumented()
    {
        var doc = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "docs", "diagnostics.md"));
        foreach (var id in Cases().Select(c => (string)c[0]))
            Assert.Contains("| " + id + " |", doc, StringComparison.Ordinal);
    }

    [Fact]
    public void Vocabulary_ValueNameClash_IsReported()
    {
        var run = GeneratorHarness.Run("{" + Head + """ "properties": { "a": { "type": "string", "x-vocabulary": true, "examples": ["ras", "RAS"] } } }""");
        Assert.Contains(run.GeneratorDiagnostics, d => d.Id == "MLAG0004");
    }
}
