using System.Xml.Linq;

namespace MLArray.Packaging.Tests;

/// <summary>What is inside the packed packages: metadata, dependencies, analyzer, tool settings, symbols.</summary>
[Collection(PackedFeedCollection.Name)]
public sealed class PackageContentTests(PackedFeed feed)
{
    private static IEnumerable<XElement> Elements(XDocument nuspec, string name) => nuspec.Descendants().Where(e => e.Name.LocalName == name);

    private static string? Value(XDocument nuspec, string name) => Elements(nuspec, name).FirstOrDefault()?.Value;

    public static TheoryData<string> AllPackages() => new(PackedFeed.LibraryPackages.Append("MLArray.Cli").Concat(CliRidPackages));

    /// <summary>The tool's RID-specific packages: a Native AOT executable for linux-x64, and the portable fallback.</summary>
    private static readonly string[] CliRidPackages = ["MLArray.Cli.linux-x64", "MLArray.Cli.any"];

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
        bool cli = id.StartsWith("MLArray.Cli", StringComparison.Ordinal);
        Assert.StartsWith("# " + (cli ? "MLArray.Cli" : id), readme, StringComparison.Ordinal);
        Assert.DoesNotContain("does not have a readme", feed.PackLog, StringComparison.OrdinalIgnoreCase);

        // symbols: a .snupkg with the portable PDB next to every package with IL code (the tool's pointer package has no
        // code; its Native AOT package has native code, which IL PDBs do not describe)
        if (id is "MLArray.Cli" or "MLArray.Cli.linux-x64")
        {
            Assert.False(File.Exists(feed.PackagePath(id, ".snupkg")), id + " has no IL code, so no symbols package");
            return;
        }
        Assert.True(File.Exists(feed.PackagePath(id, ".snupkg")), id + ".snupkg missing");
        Assert.Contains(feed.Entries(id, ".snupkg"), e => e.EndsWith("/" + (cli ? "MLArray.Cli" : id) + ".pdb", StringComparison.Ordinal));
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
    public void Cli_IsADotnetTool_NamedMlarray_PointingToItsRidPackages()
    {
        var nuspec = feed.Nuspec("MLArray.Cli");
        Assert.Equal("DotnetTool", Assert.Single(Elements(nuspec, "packageType")).Attribute("name")?.Value);
        var entries = feed.Entries("MLArray.Cli");
        Assert.DoesNotContain(entries, e => e.EndsWith(".dll", StringComparison.Ordinal)); // a pointer: code is in the RID packages
        var settings = ToolSettings("MLArray.Cli");
        Assert.Equal("mlarray", Assert.Single(settings.Descendants("Command")).Attribute("Name")?.Value);
        var rids = settings.Descendants("RuntimeIdentifierPackage").ToDictionary(e => e.Attribute("RuntimeIdentifier")!.Value, e => e.Attribute("Id")!.Value);
        Assert.Equal(new Dictionary<string, string> { ["linux-x64"] = "MLArray.Cli.linux-x64", ["any"] = "MLArray.Cli.any" }, rids);
    }

    [Fact]
    public void Cli_LinuxX64Package_IsTheNativeAotExecutable()
    {
        const string id = "MLArray.Cli.linux-x64";
        AssertRidToolPackage(id, "MLArray.Cli", "executable");
        if (System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier != "linux-x64")
        {
            // Native AOT does not cross-compile: packed elsewhere, the package carries ReadyToRun code (see MLArray.Cli.csproj).
            Assert.True(HasReadyToRunCode(id, "tools/net10.0/linux-x64/MLArray.dll"), "packed on another platform: ReadyToRun code expected");
            return;
        }

        // One ELF executable with everything compiled in, and the ONNX Runtime libraries it loads for `mlarray predict`;
        // no managed assemblies, runtimeconfig, IL symbols, XML docs or native debug file.
        var files = feed.Entries(id).Where(e => e.StartsWith("tools/", StringComparison.Ordinal)).Order(StringComparer.Ordinal);
        Assert.Equal(["tools/any/linux-x64/DotnetToolSettings.xml", "tools/any/linux-x64/MLArray.Cli", "tools/any/linux-x64/libonnxruntime.so",
            "tools/any/linux-x64/libonnxruntime_providers_shared.so"], files);
        using var zip = System.IO.Compression.ZipFile.OpenRead(feed.PackagePath(id));
        var magic = new byte[4];
        using (var s = zip.GetEntry("tools/any/linux-x64/MLArray.Cli")!.Open()) s.ReadExactly(magic);
        Assert.Equal("\u007fELF"u8.ToArray(), magic);
    }

    [Fact]
    public void Cli_AnyPackage_IsThePortableFrameworkDependentTool()
    {
        const string id = "MLArray.Cli.any";
        AssertRidToolPackage(id, "MLArray.Cli.dll", "dotnet");
        // framework-dependent (the shared runtime is not shipped), IL only (no ReadyToRun code: it runs on every platform)
        var entries = feed.Entries(id);
        Assert.DoesNotContain(entries, e => e.EndsWith("/System.Private.CoreLib.dll", StringComparison.Ordinal));
        foreach (string assembly in (string[])["MLArray.Cli.dll", "MLArray.dll", "MLArray.Blosc2.dll"])
            Assert.False(HasReadyToRunCode(id, $"tools/net10.0/any/{assembly}"), assembly + " has ReadyToRun code");
    }

    /// <summary>Whether a package's assembly carries ReadyToRun code (a managed native header in its PE headers).</summary>
    private bool HasReadyToRunCode(string id, string entry)
    {
        using var zip = System.IO.Compression.ZipFile.OpenRead(feed.PackagePath(id));
        using var copy = new MemoryStream();
        using (var s = zip.GetEntry(entry)!.Open()) s.CopyTo(copy);
        copy.Position = 0;
        using var pe = new System.Reflection.PortableExecutable.PEReader(copy);
        Assert.True(pe.PEHeaders.CorHeader is not null, entry + " is not a .NET assembly");
        return pe.PEHeaders.CorHeader!.ManagedNativeHeaderDirectory.Size > 0;
    }

    /// <summary>A RID-specific tool package whose one command <c>mlarray</c> starts <paramref name="entryPoint"/> with <paramref name="runner"/>.</summary>
    private void AssertRidToolPackage(string id, string entryPoint, string runner)
    {
        Assert.Equal("DotnetToolRidPackage", Assert.Single(Elements(feed.Nuspec(id), "packageType")).Attribute("name")?.Value);
        var command = Assert.Single(ToolSettings(id).Descendants("Command"));
        Assert.Equal("mlarray", command.Attribute("Name")?.Value);
        Assert.Equal(entryPoint, command.Attribute("EntryPoint")?.Value);
        Assert.Equal(runner, command.Attribute("Runner")?.Value);
    }

    private XDocument ToolSettings(string id) =>
        XDocument.Parse(feed.ReadEntry(id, Assert.Single(feed.Entries(id), e => e.EndsWith("/DotnetToolSettings.xml", StringComparison.Ordinal))));

    [Fact]
    public void EverySrcProjectButTheGenerator_IsAPackage()
    {
        // a new src/ project must be packable (and in MLArray.sln): the generator is the one that ships inside MLArray
        var expected = Directory.GetDirectories(Path.Combine(RepoRoot.Path, "src")).Select(Path.GetFileName)
            .Where(n => n != "MLArray.Generators" && File.Exists(Path.Combine(RepoRoot.Path, "src", n!, n + ".csproj")))
            .Concat(CliRidPackages) // the tool's RID-specific packages
            .Select(n => $"{n}.{feed.Version}.nupkg").Order(StringComparer.Ordinal);
        var ids = Directory.GetFiles(feed.Feed, "*.nupkg").Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.Equal(expected, ids);
    }
}
