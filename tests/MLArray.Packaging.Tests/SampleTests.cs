using System.Text.Json;

namespace MLArray.Packaging.Tests;

/// <summary>
/// Every project under samples/ (found automatically) restores, builds and runs against the packed packages only,
/// as a NuGet user's project would (the installed tool: <see cref="InstalledToolTests"/>).
/// </summary>
[Collection(PackedFeedCollection.Name)]
public sealed class SampleTests(PackedFeed feed)
{
    /// <summary>Every project under samples/, relative to samples/ (a new sample folder is picked up automatically).</summary>
    private static List<string> SampleProjects() =>
        Directory.GetFiles(Path.Combine(RepoRoot.Path, "samples"), "*.csproj", SearchOption.AllDirectories)
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !p.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(p => Path.GetRelativePath(Path.Combine(RepoRoot.Path, "samples"), p).Replace('\\', '/'))
            .Order(StringComparer.Ordinal).ToList();

    public static TheoryData<string> Samples() => new(SampleProjects());

    [Fact]
    public void TheSamplesFolderHasTheExtensionSample() =>
        Assert.Contains("ExtensionSample/ExtensionSample.csproj", SampleProjects());

    [Theory]
    [MemberData(nameof(Samples))]
    public void Sample_BuildsAndRuns_FromThePackagesOnly(string sample)
    {
        string project = Path.Combine(feed.WorkTree, "samples", sample);
        string dir = Path.GetDirectoryName(project)!;
        var env = feed.ConsumerEnvironment();

        var build = Dotnet.Run(dir, ["build", project, "-c", "Release", "-nodeReuse:false"], env);
        Assert.True(build.ExitCode == 0, $"build of {sample} failed:\n{build.Output}");

        // Restored from the packages: MLArray (and MLArray.Blosc2 through it) at the packed version, no project references.
        using var assets = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "obj", "project.assets.json")));
        var libraries = assets.RootElement.GetProperty("libraries").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetProperty("type").GetString());
        Assert.Equal("package", libraries["MLArray/" + feed.Version]);
        Assert.Equal("package", libraries["MLArray.Blosc2/" + feed.Version]);
        Assert.DoesNotContain(libraries, kv => kv.Value == "project");
        Assert.True(File.Exists(Path.Combine(feed.PackagesFolder, "mlarray", feed.Version, $"mlarray.{feed.Version}.nupkg")),
            "MLArray must come from the isolated packages folder");

        var run = Dotnet.Run(dir, ["run", "--no-build", "-c", "Release", "--project", project], env);
        Assert.True(run.ExitCode == 0, $"{sample} exited with {run.ExitCode}:\n{run.Output}");
    }

    [Fact]
    public void ExtensionSample_GetsItsRecordsFromThePackagedGenerator()
    {
        // The sample's own schema is compiled by the analyzer inside the MLArray package: the generated file exists.
        string dir = Path.Combine(feed.WorkTree, "samples", "ExtensionSample");
        var env = feed.ConsumerEnvironment();
        var build = Dotnet.Run(dir, ["build", "ExtensionSample.csproj", "-c", "Release", "-nodeReuse:false", "--no-incremental",
            "-p:EmitCompilerGeneratedFiles=true", "-p:CompilerGeneratedFilesOutputPath=generated"], env);
        Assert.True(build.ExitCode == 0, build.Output);
        var generated = Directory.GetFiles(Path.Combine(dir, "generated"), "*.g.cs", SearchOption.AllDirectories);
        Assert.Contains(generated, f => Path.GetFileName(f) == "ExtensionSample.Lab.LabAnnotations.g.cs"
            && f.Replace('\\', '/').Contains("/MLArray.Generators/", StringComparison.Ordinal));
        Assert.Contains(Path.Combine(feed.PackagesFolder, "mlarray", feed.Version, "analyzers", "dotnet", "cs", "MLArray.Generators.dll"),
            Directory.GetFiles(feed.PackagesFolder, "MLArray.Generators.dll", SearchOption.AllDirectories));
    }
}
