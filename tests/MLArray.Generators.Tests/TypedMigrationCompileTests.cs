using System.Text.Json.Nodes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace MLArray.Generators.Tests;

/// <summary>
/// The compile-time guarantee of the typed migration: the real <c>TypedMigrationSteps.cs</c> is compiled against the
/// records generated from the real schemas (current + schema/legacy) and compiles cleanly; after a schema change that
/// breaks a step (a field removed, a field retyped), the same file no longer compiles.
/// </summary>
public sealed class TypedMigrationCompileTests
{
    private static string StepsFile => Path.Combine(TestPaths.RepoRoot, "src", "MLArray", "Metadata", "Migration", "TypedMigrationSteps.cs");

    private static Dictionary<string, string> RealSchemas() =>
        Directory.GetFiles(Path.Combine(TestPaths.SchemaDir, "legacy"), "*.schema.json").Append(TestPaths.RealSchema)
            .ToDictionary(p => "/schemas/" + Path.GetFileName(p), File.ReadAllText);

    private static List<Diagnostic> CompileSteps(Dictionary<string, string> schemas)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Preview);
        var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var refs = tpa.Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "mscorlib.dll" or "netstandard.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
        refs.Add(MetadataReference.CreateFromFile(typeof(Metadata.MetaValue).Assembly.Location));
        refs.Add(MetadataReference.CreateFromFile(typeof(MLArrayException).Assembly.Location));
        string usings = "global using System; global using System.Linq; global using System.Collections.Generic;";
        // Named like this test assembly: MLArray grants it InternalsVisibleTo, and the steps use MLArray internals.
        var compilation = CSharpCompilation.Create("MLArray.Generators.Tests",
            [CSharpSyntaxTree.ParseText(usings, parse), CSharpSyntaxTree.ParseText(File.ReadAllText(StepsFile), parse, path: StepsFile)],
            refs, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        GeneratorDriver driver = CSharpGeneratorDriver.Create([new MetaSchemaGenerator().AsSourceGenerator()],
            schemas.Select(kv => (AdditionalText)new InMemoryAdditionalText(kv.Key, kv.Value)), parse);
        driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out var genDiagnostics);
        Assert.Empty(genDiagnostics.Where(d => d.Severity == DiagnosticSeverity.Error));
        // the generated types shadow the same types in MLArray.dll (CS0436), so the steps bind to the probe's records
        return output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
    }

    private static string Edit(string schema, Action<JsonObject> edit)
    {
        var root = JsonNode.Parse(schema)!.AsObject();
        edit(root);
        return root.ToJsonString();
    }

    [Fact]
    public void Steps_CompileAgainstTheRecordsOfTheRealSchemas()
    {
        var errors = CompileSteps(RealSchemas());
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public void RemovingAFieldFromTheCurrentSchema_BreaksTheLastStep()
    {
        var schemas = RealSchemas();
        string key = "/schemas/mlarray-meta.schema.json";
        schemas[key] = Edit(schemas[key], r => r["$defs"]!["MetaSpatial"]!["properties"]!.AsObject().Remove("affine"));
        var errors = CompileSteps(schemas);
        Assert.Contains(errors, e => e.Id == "CS0117" && e.GetMessage().Contains("Affine", StringComparison.Ordinal));
    }

    [Fact]
    public void RetypingALegacyField_BreaksItsStep()
    {
        var schemas = RealSchemas();
        string key = "/schemas/mlarray-meta-v0034.schema.json";
        schemas[key] = Edit(schemas[key], r => r["$defs"]!["MetaSpatial"]!["properties"]!["channel_axis"]!["type"] = new JsonArray("string", "null"));
        var errors = CompileSteps(schemas);
        Assert.NotEmpty(errors);
        Assert.All(errors, e => Assert.EndsWith("TypedMigrationSteps.cs", e.Location.SourceTree?.FilePath ?? "", StringComparison.Ordinal));
    }

    [Fact]
    public void RenamingALegacyNamespaceKey_BreaksItsStep()
    {
        var schemas = RealSchemas();
        string key = "/schemas/mlarray-meta-v0033.schema.json";
        schemas[key] = Edit(schemas[key], r => r["properties"]!["original"]!["x-csharp-name"] = "Source");
        var errors = CompileSteps(schemas);
        Assert.Contains(errors, e => e.GetMessage().Contains("Original", StringComparison.Ordinal));
    }
}
