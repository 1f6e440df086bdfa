using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace MLArray.Generators.Tests;

public class IncrementalityTests
{
    private static (GeneratorDriver Driver, Compilation Compilation) FirstRun(AdditionalText text)
    {
        var compilation = CSharpCompilation.Create("Inc", [CSharpSyntaxTree.ParseText("class P { }")]);
        GeneratorDriver driver = CSharpGeneratorDriver.Create([new MetaSchemaGenerator().AsSourceGenerator()],
            [text],
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));
        return (driver.RunGenerators(compilation), compilation);
    }

    [Fact]
    public void SecondRun_WithUnchangedInputs_IsCachedAtEveryTrackedStep()
    {
        var (driver, compilation) = FirstRun(new InMemoryAdditionalText("/s/meta.schema.json", File.ReadAllText(TestPaths.RealSchema)));
        GeneratorHarness.AssertSecondRunCached(driver, compilation);
        Assert.Equal(5, GeneratorHarness.TrackingNames().Count);
        var second = driver.RunGenerators(compilation.Clone()).GetRunResult().Results[0];
        Assert.All(GeneratorHarness.TrackingNames(), n => Assert.True(second.TrackedSteps.ContainsKey(n), n));
    }

    [Fact]
    public void EditingTheSchema_ModifiesTheParseStep()
    {
        var text = File.ReadAllText(TestPaths.RealSchema);
        var original = new InMemoryAdditionalText("/s/meta.schema.json", text);
        var (driver, compilation) = FirstRun(original);
        var edited = text.Replace("Intensity statistics of the array.", "Intensity statistics.", StringComparison.Ordinal);
        driver = driver.ReplaceAdditionalText(original, new InMemoryAdditionalText("/s/meta.schema.json", edited));
        var result = driver.RunGenerators(compilation).GetRunResult().Results[0];
        Assert.Equal(IncrementalStepRunReason.Modified, result.TrackedSteps[TrackingNames.ParseResults][0].Outputs[0].Reason);
        Assert.Equal(IncrementalStepRunReason.Modified, result.TrackedSteps[TrackingNames.Models][0].Outputs[0].Reason);
        Assert.Equal(IncrementalStepRunReason.Unchanged, result.TrackedSteps[TrackingNames.Diagnostics][0].Outputs[0].Reason);
    }

    [Fact]
    public void ParsingTwice_GivesEqualModels()
    {
        var file = new SchemaFile("/s/meta.schema.json", File.ReadAllText(TestPaths.RealSchema));
        var a = SchemaParser.Parse(file);
        var b = SchemaParser.Parse(file with { });
        Assert.NotNull(a.Model);
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
    }
}
