using System.Xml.Linq;

namespace MLArray.Packaging.Tests;

/// <summary>What is inside the packed packages: metadata, dependencies, analyzer, tool settings, symbols.</summary>
[Collection(PackedFeedCollection.Name)]
public sealed class PackageContentTests(PackedFeed feed)
{
    private static IEnumerable<XElement> Elements(XDocument nuspec, string name) => nuspec.Descendants().Where(e => e.Name.LocalName == name);

    private static string? Value(XDocument nuspec, string name) => Elements(nuspec, name).FirstOrDefault()?.Value;

    public static TheoryData<string> AllPackages() => new(PackedFeed.LibraryPackages.Append("MLArray.Cli"));

    [Theory]
    [MemberData(nameof(AllPackages))]
    public void EveryPackage_HasVersionReadmeLicenseAndSymbols(string id)
    {
        var nuspec = feed.Nuspec(id);
        Assert.Equal(id, Value(nuspec, "id"));
        Assert.Equal(feed.Version, Value(nuspec, "version"));
        Assert.False(string.IsNullOrWhiteSpace(Value(nuspec, "description")));
        var license = Assert.Single(Elements(nuspec, "license"));
        Assert.Equal("expression", license.Attribute("type")?.Value);
        Assert.Equal("MIT", license.Value);
        Assert.Equal("README.md", Value(nuspec, "readme"));
        var entries = feed.Entries(id);
        Assert.Contains("README.md", entries);
        string readme = feed.ReadEntry(id, "README.md");
        Assert.StartsWith("# " + id, readme, StringComparison.Ordinal);
        Assert.DoesNotContain("does not have a readme", feed.PackLog, StringComparison.OrdinalIgnoreCase);

        // symbols: a .snupkg with the portable PDB next to the package
        Assert.True(File.Exists(feed.PackagePath(id, ".snupkg")), id + ".snupkg missing");
        Assert.Contains(feed.Entries(id, ".snupkg"), e => e.EndsWith("/" + (id == "MLArray.Cli" ? "MLArray.Cli" : id) + ".pdb", StringComparison.Ordinal));
    }

    [Fact]
    public void MLArray_DependsOnBlosc2_AndShipsTheGeneratorAsAnAnalyzer()
    {
        var nuspec = feed.Nuspec("MLArray");
        var deps = Elements(nuspec, "dependency").ToDictionary(e => e.Attribute("id")!.Value, e => e.Attribute("version")!.Value);
        Assert.True(deps.TryGetValue("MLArray.Blosc2", out var blosc2), "MLArray must depend on the MLArray.Blosc2 package");
        Assert.Equal(feed.Version, blosc2);
        Assert.DoesNotContain("MLArray.Generators", deps.Keys); // shipped inside, not a dependency
        var entries = feed.Entries("MLArray");
        Assert.Contains("lib/net10.0/MLArray.dll", entries);
        Assert.Contains("lib/net10.0/MLArray.xml", entries);
        Assert.Contains("analyzers/dotnet/cs/MLArray.Generators.dll", entries);
        Assert.DoesNotContain(entries, e => e.StartsWith("lib/", StringComparison.Ordinal) && e.Contains("Generators", StringComparison.Ordinal));
    }

    [Fact]
    public void TrainingAndOnnx_DependOnTheLayersBelow()
    {
        static Dictionary<string, string> Deps(XDocument n) => Elements(n, "dependency").ToDictionary(e => e.Attribute("id")!.Value, e => e.Attribute("version")!.Value);
        Assert.Equal(feed.Version, Deps(feed.Nuspec("MLArray.Training"))["MLArray"]);
        Assert.Equal(feed.Version, Deps(feed.Nuspec("MLArray.Onnx"))["MLArray.Training"]);
        Assert.DoesNotContain(Deps(feed.Nuspec("MLArray.Blosc2")).Keys, k => k.StartsWith("MLArray", StringComparison.Ordinal));
    }

    [Fact]
    public void Cli_IsADotnetTool_NamedMlarray()
    {
        var nuspec = feed.Nuspec("MLArray.Cli");
        var type = Assert.Single(Elements(nuspec, "packageType"));
        Assert.Equal("DotnetTool", type.Attribute("name")?.Value);
        var entries = feed.Entries("MLArray.Cli");
        string settingsEntry = Assert.Single(entries, e => e.EndsWith("/DotnetToolSettings.xml", StringComparison.Ordinal));
        var settings = XDocument.Parse(feed.ReadEntry("MLArray.Cli", settingsEntry));
        var command = Assert.Single(settings.Descendants("Command"));
        Assert.Equal("mlarray", command.Attribute("Name")?.Value);
        Assert.Equal("MLArray.Cli.dll", command.Attribute("EntryPoint")?.Value);
    }

    [Fact]
    public void EverySrcProjectButTheGenerator_IsAPackage()
    {
        // a new src/ project must be packable (and in MLArray.sln): the generator is the one that ships inside MLArray
        var expected = Directory.GetDirectories(Path.Combine(RepoRoot.Path, "src")).Select(Path.GetFileName)
            .Where(n => n != "MLArray.Generators" && File.Exists(Path.Combine(RepoRoot.Path, "src", n!, n + ".csproj")))
            .Select(n => $"{n}.{feed.Version}.nupkg").Order(StringComparer.Ordinal);
        var ids = Directory.GetFiles(feed.Feed, "*.nupkg").Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.Equal(expected, ids);
    }
}
