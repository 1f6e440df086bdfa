using System.Text.RegularExpressions;

namespace MLArray.Tests.Api;

/// <summary>
/// Every C# snippet of README.md, the package READMEs (src/*/README.md) and docs/ is compiled and run: each <c>```csharp</c> block must be, line for line, a region
/// marked <c>// README:begin NAME</c> … <c>// README:end</c> in a compiled file (samples/ or tests/), and the seed
/// examples (samples/SeedExamples) run here.
/// </summary>
public sealed partial class ReadmeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-readme-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MLArray.sln")) && File.Exists(Path.Combine(dir.FullName, "README.md")))
                return dir.FullName;
        throw new DirectoryNotFoundException($"the repository root (MLArray.sln, README.md) not found above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex(@"^```csharp\n(.*?)^```", RegexOptions.Singleline | RegexOptions.Multiline)]
    private static partial Regex CSharpBlock();

    [GeneratedRegex(@"^[ \t]*// README:begin (\S+)[^\n]*\n(.*?)^[ \t]*// README:end", RegexOptions.Singleline | RegexOptions.Multiline)]
    private static partial Regex Region();

    private static string Normalise(string code)
    {
        var lines = code.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n').Select(l => l.TrimEnd()).ToList();
        while (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        while (lines.Count > 0 && lines[0].Length == 0) lines.RemoveAt(0);
        int indent = lines.Where(l => l.Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return string.Join("\n", lines.Select(l => l.Length >= indent ? l[indent..] : l));
    }

    /// <summary>All README regions of the compiled sources (samples and tests), by name.</summary>
    internal static Dictionary<string, string> Regions()
    {
        string root = RepoRoot();
        var regions = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string top in new[] { "samples", "tests" })
            foreach (string file in Directory.EnumerateFiles(Path.Combine(root, top), "*.cs", SearchOption.AllDirectories)
                         .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                                  && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
                foreach (Match m in Region().Matches(File.ReadAllText(file).Replace("\r\n", "\n", StringComparison.Ordinal)))
                    Assert.True(regions.TryAdd(m.Groups[1].Value, Normalise(m.Groups[2].Value)), $"README region '{m.Groups[1].Value}' is defined twice ({file})");
        return regions;
    }

    [GeneratedRegex(@"\A(?:using [A-Za-z0-9_.]+;\n)+\n?")]
    private static partial Regex LeadingUsingDirectives();

    /// <summary>Every Markdown file with C# snippets users read: the README, the package READMEs and docs/.</summary>
    public static TheoryData<string> MarkdownFiles()
    {
        string root = RepoRoot();
        var files = new TheoryData<string>("README.md");
        foreach (string file in Directory.EnumerateFiles(Path.Combine(root, "src"), "README.md", SearchOption.AllDirectories)
                     .Concat(Directory.EnumerateFiles(Path.Combine(root, "docs"), "*.md", SearchOption.AllDirectories))
                     .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                              && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
                     .Order(StringComparer.Ordinal))
            files.Add(Path.GetRelativePath(root, file).Replace(Path.DirectorySeparatorChar, '/'));
        return files;
    }

    [Theory]
    [MemberData(nameof(MarkdownFiles))]
    public void Every_csharp_snippet_is_a_compiled_region(string markdown)
    {
        var regions = Regions().Values.ToHashSet(StringComparer.Ordinal);
        string text = File.ReadAllText(Path.Combine(RepoRoot(), markdown)).Replace("\r\n", "\n", StringComparison.Ordinal);
        // a snippet may start with the using directives it needs; the rest is a region, line for line
        var blocks = CSharpBlock().Matches(text).Select(m => LeadingUsingDirectives().Replace(Normalise(m.Groups[1].Value), "")).ToList();
        if (markdown == "README.md") Assert.NotEmpty(blocks);
        foreach (string block in blocks)
            Assert.True(regions.Contains(block), $"this C# snippet of {markdown} is not a '// README:begin' region of a compiled file (copy it from there):\n" + block);
    }

    [Fact]
    public void The_seed_examples_run()
    {
        var output = new StringWriter();
        int code = SeedExamples.Examples.Run(output, _dir);
        Assert.True(code == 0, output.ToString());
        Assert.Contains("all seed examples ran", output.ToString(), StringComparison.Ordinal);
    }
}
