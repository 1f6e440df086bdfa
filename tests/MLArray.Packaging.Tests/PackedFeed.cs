using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Xml.Linq;

namespace MLArray.Packaging.Tests;

/// <summary>
/// Once per test run: packs the solution with a unique version into a temporary folder feed, and copies samples/ with
/// the build settings (Directory.* files) to a temporary folder without src/, so that the samples can only build
/// against the packages. Consumers restore through a NuGet.config that has that feed plus the
/// normal sources, into an empty packages folder (NUGET_PACKAGES), so no stale copy is ever used.
/// </summary>
public sealed class PackedFeed : IDisposable
{
    public static readonly string[] LibraryPackages = ["MLArray", "MLArray.Blosc2", "MLArray.Training", "MLArray.Onnx"];

    public string Root { get; }
    public string Feed { get; }
    public string Version { get; }
    public string WorkTree { get; }
    public string PackagesFolder { get; }
    public string PackLog { get; } = "";

    public PackedFeed()
    {
        Root = Path.Combine(Path.GetTempPath(), "mla-packtest-" + Guid.NewGuid().ToString("N")[..12]);
        Feed = Path.Combine(Root, "feed");
        WorkTree = Path.Combine(Root, "repo");
        PackagesFolder = Path.Combine(Root, "packages");
        Version = "0.0.1-packtest.g" + Guid.NewGuid().ToString("N");
        _tool = new Lazy<InstalledTool>(InstallTool);
        try
        {
            Directory.CreateDirectory(Feed);
            Directory.CreateDirectory(PackagesFolder);
            string repo = RepoRoot.Path;

            // `dotnet pack` of the solution, from the binaries the build of this test project made (it references every
            // packable src/ project for build order only), so the pack takes seconds and rebuilds nothing in the tree.
            var pack = Dotnet.Run(repo, ["pack", "MLArray.sln", "-c", BuildConfiguration, "--no-build", "--no-restore", "-o", Feed,
                "-p:Version=" + Version], env: null);
            PackLog = pack.Output;
            if (pack.ExitCode != 0) throw new InvalidOperationException("dotnet pack failed:\n" + pack.Output);

            // The consumers: samples/ and the build settings, in a folder without src/ (a ProjectReference cannot resolve).
            CopyTree(Path.Combine(repo, "samples"), Path.Combine(WorkTree, "samples"));
            foreach (var file in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props", "global.json" })
                if (File.Exists(Path.Combine(repo, file))) File.Copy(Path.Combine(repo, file), Path.Combine(WorkTree, file));
            File.WriteAllText(Path.Combine(WorkTree, "NuGet.config"), NuGetConfig());
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The configuration this test assembly (and so the src/ projects it depends on) was built in.</summary>
    private static string BuildConfiguration =>
        typeof(PackedFeed).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>().Single(a => a.Key == "BuildConfiguration").Value!;

    private string NuGetConfig()
    {
        var sb = new StringBuilder();
        sb.AppendLine("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
        sb.AppendLine("<configuration>");
        sb.AppendLine("  <packageSources>");
        // added to the normal sources (user/machine NuGet.config), not replacing them
        sb.AppendLine($"    <add key=\"mlarray-packtest\" value=\"{Feed}\" />");
        sb.AppendLine("  </packageSources>");
        sb.AppendLine("</configuration>");
        return sb.ToString();
    }

    /// <summary>The environment for a consumer build: the packed version, and an empty packages folder.</summary>
    public Dictionary<string, string> ConsumerEnvironment() => new()
    {
        ["MLArrayPackageVersion"] = Version,
        ["NUGET_PACKAGES"] = PackagesFolder,
    };

    /// <summary>The tool installed from the feed with <c>dotnet tool install</c> (once per run), and the portable package's
    /// MLArray.Cli.dll extracted, to be run through <c>dotnet</c> as the reference the installed tool is compared with.</summary>
    public InstalledTool Tool => _tool.Value;

    private readonly Lazy<InstalledTool> _tool;

    private InstalledTool InstallTool()
    {
        string tools = Path.Combine(Root, "tools");
        var install = Dotnet.Run(WorkTree, ["tool", "install", "MLArray.Cli", "--tool-path", tools, "--version", Version, "--add-source", Feed],
            ConsumerEnvironment());
        if (install.ExitCode != 0) throw new InvalidOperationException("dotnet tool install failed:\n" + install.Output);
        string portable = Path.Combine(Root, "cli-any");
        ZipFile.ExtractToDirectory(PackagePath("MLArray.Cli.any"), portable);
        return new InstalledTool(Path.Combine(tools, OperatingSystem.IsWindows() ? "mlarray.exe" : "mlarray"),
            Path.Combine(tools, ".store", "mlarray.cli", Version), Path.Combine(portable, "tools", "net10.0", "any", "MLArray.Cli.dll"));
    }

    public string PackagePath(string id, string extension = ".nupkg") => Path.Combine(Feed, $"{id}.{Version}{extension}");

    public XDocument Nuspec(string id)
    {
        using var zip = ZipFile.OpenRead(PackagePath(id));
        var entry = zip.Entries.Single(e => e.FullName == id + ".nuspec");
        using var s = entry.Open();
        return XDocument.Load(s);
    }

    public IReadOnlyList<string> Entries(string id, string extension = ".nupkg")
    {
        using var zip = ZipFile.OpenRead(PackagePath(id, extension));
        return zip.Entries.Select(e => e.FullName).ToList();
    }

    public string ReadEntry(string id, string entryName)
    {
        using var zip = ZipFile.OpenRead(PackagePath(id));
        using var reader = new StreamReader(zip.GetEntry(entryName)!.Open());
        return reader.ReadToEnd();
    }

    private static void CopyTree(string from, string to)
    {
        if (!Directory.Exists(from)) return;
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (var dir in Directory.GetDirectories(from))
        {
            string name = Path.GetFileName(dir);
            if (name is "bin" or "obj" or ".vs") continue;
            CopyTree(dir, Path.Combine(to, name));
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class PackedFeedCollection : ICollectionFixture<PackedFeed>
{
    public const string Name = "packed feed";
}

internal static class RepoRoot
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "MLArray.sln"))) return dir.FullName;
        throw new InvalidOperationException("repository root (MLArray.sln) not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>The installed <c>mlarray</c> (<see cref="Exe"/>; its package under <see cref="Store"/>) and the portable package's entry assembly.</summary>
public sealed record InstalledTool(string Exe, string Store, string PortableDll);

internal sealed record ProcessResult(int ExitCode, string Output);

internal static class Dotnet
{
    /// <summary>Runs <c>dotnet</c> (or another program) with a timeout; output and error interleaved.</summary>
    public static ProcessResult Run(string workingDirectory, IEnumerable<string> args, Dictionary<string, string>? env,
        string fileName = "dotnet", int timeoutSeconds = 600)
    {
        var psi = new ProcessStartInfo(fileName) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        // no build servers or MSBuild nodes left running after the test
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["UseSharedCompilation"] = "false";
        if (env is not null) foreach (var kv in env) psi.Environment[kv.Key] = kv.Value;
        using var p = Process.Start(psi)!;
        var output = new StringBuilder();
        var lockObj = new object();
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (lockObj) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (lockObj) output.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', args)} did not finish in {timeoutSeconds} s:\n{output}");
        }
        p.WaitForExit();
        lock (lockObj) return new ProcessResult(p.ExitCode, output.ToString());
    }
}
