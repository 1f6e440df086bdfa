using System.Text.Json;

namespace MLArray.Packaging.Tests;

/// <summary>
/// Every project under samples/ (found automatically) restores, builds and runs against the packed packages only,
/// as a NuGet user's project would; the CLI installs from the feed as a dotnet tool.
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

    [Fact]
    public void Cli_InstallsAsATool_AndRuns()
    {
        string tools = Path.Combine(feed.Root, "tools");
        var env = feed.ConsumerEnvironment();
        var install = Dotnet.Run(feed.WorkTree, ["tool", "install", "MLArray.Cli", "--tool-path", tools, "--version", feed.Version,
            "--add-source", feed.Feed], env);
        Assert.True(install.ExitCode == 0, install.Output);
        string exe = Path.Combine(tools, OperatingSystem.IsWindows() ? "mlarray.exe" : "mlarray");
        var header = Dotnet.Run(feed.WorkTree, ["header", Path.Combine(RepoRoot.Path, "samples", "sample_f4_3d.mla"), "--json"], env, fileName: exe);
        Assert.True(header.ExitCode == 0, header.Output);
        using var json = JsonDocument.Parse(header.Output);
        Assert.Equal("<f4", json.RootElement.GetProperty("dtype").GetString());
        Assert.Equal(3, json.RootElement.GetProperty("shape").GetArrayLength());

        // The installed package is the one for this platform: ReadyToRun code on linux-x64, the portable one elsewhere.
        string store = Path.Combine(tools, ".store", "mlarray.cli", feed.Version);
        string expected = System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier == "linux-x64" ? "mlarray.cli.linux-x64" : "mlarray.cli.any";
        Assert.True(Directory.Exists(Path.Combine(store, expected)), $"{expected} not installed; the store has: {string.Join(", ", Directory.GetDirectories(store).Select(Path.GetFileName))}");

        // It converts a NIfTI volume, and writes the same bytes as the portable package run through `dotnet`.
        string installed = ConvertNifti(exe, [], "installed.mla");
        string portable = Path.Combine(feed.Root, "cli-any");
        System.IO.Compression.ZipFile.ExtractToDirectory(feed.PackagePath("MLArray.Cli.any"), portable);
        string any = ConvertNifti("dotnet", [Path.Combine(portable, "tools", "net10.0", "any", "MLArray.Cli.dll")], "any.mla");
        Assert.Equal(File.ReadAllBytes(any), File.ReadAllBytes(installed));
    }

    /// <summary>Converts tests/data/medical/niivue/shear.nii.gz with a CLI; checks the stored shape against the NIfTI header (dims reversed).</summary>
    private string ConvertNifti(string fileName, string[] prefix, string name)
    {
        string nii = Path.Combine(RepoRoot.Path, "tests", "data", "medical", "niivue", "shear.nii.gz");
        string mla = Path.Combine(feed.Root, name);
        var env = feed.ConsumerEnvironment();
        var convert = Dotnet.Run(feed.WorkTree, [.. prefix, "convert", nii, mla], env, fileName: fileName);
        Assert.True(convert.ExitCode == 0, convert.Output);
        var header = Dotnet.Run(feed.WorkTree, [.. prefix, "header", mla, "--json"], env, fileName: fileName);
        Assert.True(header.ExitCode == 0, header.Output);
        using var json = JsonDocument.Parse(header.Output);
        Assert.Equal("<f4", json.RootElement.GetProperty("dtype").GetString());
        // NIfTI-1 header: dim[0..7] are int16 at byte 40 (little-endian here); the stored uint8 voxels have a scl_slope, so float32
        var hdr = new byte[348];
        using (var gz = new System.IO.Compression.GZipStream(File.OpenRead(nii), System.IO.Compression.CompressionMode.Decompress))
            gz.ReadExactly(hdr);
        Assert.Equal(2, BitConverter.ToInt16(hdr, 70));
        Assert.NotEqual(0f, BitConverter.ToSingle(hdr, 112));
        int nd = BitConverter.ToInt16(hdr, 40);
        long[] dims = Enumerable.Range(1, nd).Select(i => (long)BitConverter.ToInt16(hdr, 40 + (2 * i))).Reverse().ToArray();
        Assert.Equal(dims, json.RootElement.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray());
        return mla;
    }
}
