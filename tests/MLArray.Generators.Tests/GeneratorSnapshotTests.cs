using Microsoft.CodeAnalysis;

namespace MLArray.Generators.Tests;

public class GeneratorSnapshotTests
{
    public static TheoryData<string> FeatureSchemas() =>
        new(Directory.GetFiles(Path.Combine(TestPaths.ProjectDir, "FeatureSchemas"), "*.schema.json").Select(Path.GetFileName).Order(StringComparer.Ordinal)!);

    [Fact]
    public void RealSchema_GeneratesCleanCode_MatchingSnapshot()
    {
        var run = GeneratorHarness.Run(File.ReadAllText(TestPaths.RealSchema), TestPaths.RealSchema);
        Assert.Empty(run.GeneratorDiagnostics);
        // The test compilation references MLArray, which already holds these types (CS0436 is expected there).
        var compile = run.CompileDiagnostics.Where(d => d.Id != "CS0436").ToList();
        Assert.True(compile.Count == 0, string.Join("\n", compile));
        Assert.Equal(
            ["MLArray.Metadata.AxisLabel.g.cs", "MLArray.Metadata.CoordSystem.g.cs", "MLArray.Metadata.ImageMetaFormat.g.cs", "MLArray.Metadata.MLArrayMeta.g.cs",
             "MLArray.Metadata.MetaBbox.g.cs", "MLArray.Metadata.MetaBlosc2.g.cs", "MLArray.Metadata.MetaSpatial.g.cs", "MLArray.Metadata.MetaStatistics.g.cs"],
            run.Sources.Select(s => s.Key).Order(StringComparer.Ordinal));
        Snapshot.Match("RealSchema", run.Sources);
    }

    [Theory]
    [MemberData(nameof(FeatureSchemas))]
    public void FeatureSchema_GeneratesCleanCode_MatchingSnapshot(string file)
    {
        var path = Path.Combine(TestPaths.ProjectDir, "FeatureSchemas", file);
        var run = GeneratorHarness.Run(File.ReadAllText(path), path);
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.True(run.CompileDiagnostics.IsEmpty, string.Join("\n", run.CompileDiagnostics));
        Snapshot.Match(file.Replace(".schema.json", "", StringComparison.Ordinal), run.Sources);
    }

    [Fact]
    public void Snapshot_Diff_ShowsChangedLines()
    {
        var diff = Snapshot.Diff("a\nb\nc", "a\nB\nc");
        Assert.Contains("-     2: b", diff, StringComparison.Ordinal);
        Assert.Contains("+     2: B", diff, StringComparison.Ordinal);
    }
}
