using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace MLArray.Generators.Tests;

/// <summary><c>x-csharp-accessibility</c>: the accessibility of the generated types, at the root and per definition.</summary>
public class AccessibilityTests
{
    private static string Schema(string rootAccessibility, string defAccessibility = "") => $$"""
        {
          "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "https://example.org/acc/1.0.0",
          "x-csharp-namespace": "Acc", "x-csharp-type": "Root", {{rootAccessibility}}
          "type": "object", "additionalProperties": false,
          "properties": {
            "part": { "$ref": "#/$defs/Part" },
            "system": { "$ref": "#/$defs/CoordSystem" }
          },
          "$defs": {
            "Part": { "type": "object", {{defAccessibility}} "properties": { "n": { "type": ["integer", "null"] } } },
            "CoordSystem": { "type": ["string", "null"], "x-vocabulary": true, "examples": ["RAS", "LPS"] }
          }
        }
        """;

    /// <summary>Type name -> the modifiers of its generated declaration.</summary>
    private static Dictionary<string, string> Declarations(GeneratorRun run) =>
        run.Sources.SelectMany(s => CSharpSyntaxTree.ParseText(s.Value).GetRoot().DescendantNodes().OfType<TypeDeclarationSyntax>())
            .ToDictionary(t => t.Identifier.Text, t => t.Modifiers.ToString());

    [Fact]
    public void Default_IsPublic()
    {
        var run = GeneratorHarness.Run(Schema(""));
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.Empty(run.CompileDiagnostics);
        var decl = Declarations(run);
        Assert.Equal(["CoordSystem", "Part", "Root"], decl.Keys.Order());
        Assert.All(decl.Values, m => Assert.StartsWith("public ", m, StringComparison.Ordinal));
    }

    [Fact]
    public void RootInternal_MakesEveryTypeOfTheFileInternal()
    {
        var run = GeneratorHarness.Run(Schema("\"x-csharp-accessibility\": \"internal\","));
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.Empty(run.CompileDiagnostics);
        var decl = Declarations(run);
        Assert.Equal(3, decl.Count);
        Assert.All(decl.Values, m => Assert.StartsWith("internal ", m, StringComparison.Ordinal));
    }

    [Fact]
    public void DefinitionOverride_ChangesOnlyThatType()
    {
        // an internal file with one public record: allowed (an internal type may use a public one)
        var run = GeneratorHarness.Run(Schema("\"x-csharp-accessibility\": \"internal\",", "\"x-csharp-accessibility\": \"public\","));
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.Empty(run.CompileDiagnostics);
        var decl = Declarations(run);
        Assert.StartsWith("public ", decl["Part"], StringComparison.Ordinal);
        Assert.StartsWith("internal ", decl["Root"], StringComparison.Ordinal);
        Assert.StartsWith("internal ", decl["CoordSystem"], StringComparison.Ordinal);
    }

    [Fact]
    public void PublicRecordExposingAnInternalType_IsReportedNotLeftToTheCompiler()
    {
        var run = GeneratorHarness.Run(Schema("", "\"x-csharp-accessibility\": \"internal\","));
        var d = Assert.Single(run.GeneratorDiagnostics);
        Assert.Equal("MLAG0007", d.Id);
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        string message = d.GetMessage(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains("'Root'", message, StringComparison.Ordinal);
        Assert.Contains("'Part'", message, StringComparison.Ordinal);
        Assert.Contains("#/properties/part", message, StringComparison.Ordinal);
        Assert.Empty(run.Sources);
    }

    [Theory]
    [InlineData("\"private\"")]
    [InlineData("\"Internal\"")]
    [InlineData("true")]
    public void BadValue_IsReportedAtTheKeyword(string value)
    {
        string schema = Schema($"\"x-csharp-accessibility\": {value},");
        var run = GeneratorHarness.Run(schema);
        var d = Assert.Single(run.GeneratorDiagnostics);
        Assert.Equal("MLAG0007", d.Id);
        Assert.Contains("x-csharp-accessibility", d.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Assert.Equal(schema.IndexOf(value, StringComparison.Ordinal), d.Location.SourceSpan.Start);
        Assert.Empty(run.Sources);
    }

    [Fact]
    public void ChangingTheAccessibility_ModifiesTheModel_AndTheOutput()
    {
        var original = new InMemoryAdditionalText("/s/acc.schema.json", Schema(""));
        var compilation = CSharpCompilation.Create("Inc", [CSharpSyntaxTree.ParseText("class P { }")]);
        GeneratorDriver driver = CSharpGeneratorDriver.Create([new MetaSchemaGenerator().AsSourceGenerator()], [original],
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));
        driver = driver.RunGenerators(compilation);
        driver = driver.ReplaceAdditionalText(original, new InMemoryAdditionalText("/s/acc.schema.json", Schema("\"x-csharp-accessibility\": \"internal\",")));
        var result = driver.RunGenerators(compilation).GetRunResult().Results[0];
        Assert.Equal(IncrementalStepRunReason.Modified, result.TrackedSteps[TrackingNames.Models][0].Outputs[0].Reason);
        Assert.All(result.GeneratedSources, s => Assert.Contains("internal ", s.SourceText.ToString(), StringComparison.Ordinal));
    }

    [Fact]
    public void RealSchemas_LegacyRecordsAreInternal_TheCurrentOnesPublic()
    {
        var assembly = typeof(Metadata.MLArrayMeta).Assembly;
        var all = assembly.GetTypes();
        var legacy = all.Where(t => t.Namespace?.StartsWith("MLArray.Metadata.Legacy.", StringComparison.Ordinal) == true).ToList();
        Assert.Equal(11, legacy.Count(t => t.Name == "LegacyMeta"));
        Assert.All(legacy, t => Assert.False(t.IsPublic, t.FullName));
        foreach (var name in new[] { "MetaSpatial", "MetaStatistics", "MetaBlosc2", "ImageMetaFormat", "MetaBbox" })
        {
            var pub = Assert.Single(assembly.GetExportedTypes(), t => t.Name == name);
            Assert.Equal("MLArray.Metadata", pub.Namespace);
            Assert.True(all.Count(t => t.Name == name) > 1, name + " exists in the legacy eras too");
        }
    }

    [Fact]
    public void PublicSurface_NoTypeNameInTwoNamespaces()
    {
        var exported = new[] { typeof(Metadata.MLArrayMeta).Assembly, typeof(MLArrayException).Assembly }
            .SelectMany(a => a.GetExportedTypes()).Where(t => !t.IsNested).ToList();
        var clashes = exported.GroupBy(t => t.Name).Where(g => g.Select(t => t.Namespace).Distinct().Count() > 1)
            .Select(g => g.Key + ": " + string.Join(", ", g.Select(t => t.Namespace))).ToList();
        Assert.True(clashes.Count == 0, string.Join("\n", clashes));
    }
}
