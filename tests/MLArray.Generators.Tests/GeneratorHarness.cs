using System.Collections;
using System.Collections.Immutable;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;

namespace MLArray.Generators.Tests;

internal sealed class InMemoryAdditionalText(string path, string text) : AdditionalText
{
    private readonly SourceText _text = SourceText.From(text);

    public override string Path { get; } = path;

    public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
}

internal sealed record GeneratorRun(
    ImmutableArray<Diagnostic> GeneratorDiagnostics,
    IReadOnlyList<KeyValuePair<string, string>> Sources,
    ImmutableArray<Diagnostic> CompileDiagnostics);

/// <summary>
/// Runs <see cref="MetaSchemaGenerator"/> on a schema text, compiles the output against MLArray, and runs the driver a
/// second time on a cloned compilation asserting that every tracked step is Cached/Unchanged and that no step output
/// holds Roslyn symbols, compilations or JSON nodes.
/// </summary>
internal static class GeneratorHarness
{
    private static readonly Lazy<MetadataReference[]> References = new(() =>
    {
        var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var refs = tpa.Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "mscorlib.dll" or "netstandard.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
        refs.Add(MetadataReference.CreateFromFile(typeof(Metadata.MetaValue).Assembly.Location));
        refs.Add(MetadataReference.CreateFromFile(typeof(MLArrayException).Assembly.Location));
        return refs.ToArray();
    });

    public static GeneratorRun Run(string schemaText, string path = "/schemas/test.schema.json", bool assertCached = true)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Preview);
        var compilation = CSharpCompilation.Create("GeneratedTest", [CSharpSyntaxTree.ParseText("namespace Probe; internal static class P { }", parse)],
            References.Value, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        GeneratorDriver driver = CSharpGeneratorDriver.Create([new MetaSchemaGenerator().AsSourceGenerator()],
            [new InMemoryAdditionalText(path, schemaText)], parse,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out _);
        var result = driver.GetRunResult().Results.Single();
        if (result.Exception is not null) throw new InvalidOperationException("generator threw", result.Exception);

        if (assertCached) AssertSecondRunCached(driver, compilation);

        var sources = result.GeneratedSources.Select(s => new KeyValuePair<string, string>(s.HintName, s.SourceText.ToString())).ToList();
        var compile = output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToImmutableArray();
        return new GeneratorRun(result.Diagnostics, sources, compile);
    }

    public static IReadOnlyList<string> TrackingNames() =>
        typeof(MetaSchemaGenerator).Assembly.GetType("MLArray.Generators.TrackingNames")!
            .GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!).ToList();

    public static void AssertSecondRunCached(GeneratorDriver driver, Compilation compilation)
    {
        var second = driver.RunGenerators(compilation.Clone()).GetRunResult().Results.Single();
        foreach (var name in TrackingNames())
        {
            // A step that produced nothing (e.g. Models when the schema has errors) is not recorded.
            if (!second.TrackedSteps.TryGetValue(name, out var steps)) continue;
            foreach (var step in steps)
                foreach (var (value, reason) in step.Outputs)
                {
                    Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"step {name} was {reason} on the second run");
                    AssertNoForbiddenTypes(value, name, new HashSet<object>(ReferenceEqualityComparer.Instance));
                }
        }
    }

    private static void AssertNoForbiddenTypes(object? node, string step, HashSet<object> visited)
    {
        if (node is null || node is string || node.GetType().IsPrimitive || node.GetType().IsEnum || !visited.Add(node)) return;
        var type = node.GetType();
        Assert.False(node is Compilation or ISymbol or SyntaxNode or SemanticModel, $"step {step} output holds a {type.Name}");
        Assert.False(type.Namespace == "MLArray.Generators" && type.Name.StartsWith('J') && type.Name != "JsonSyntaxException" && char.IsUpper(type.Name[1]), $"step {step} output holds a JSON node {type.Name}");
        if (node is AdditionalText) return; // the first step's input items
        if (node is IEnumerable seq)
        {
            foreach (var item in seq) AssertNoForbiddenTypes(item, step, visited);
            return;
        }
        foreach (var f in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            AssertNoForbiddenTypes(f.GetValue(node), step, visited);
    }
}
