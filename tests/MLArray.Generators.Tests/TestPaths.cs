namespace MLArray.Generators.Tests;

internal static class TestPaths
{
    public static string RepoRoot { get; } = FindUp("MLArray.sln");

    public static string ProjectDir { get; } = Path.Combine(RepoRoot, "tests", "MLArray.Generators.Tests");

    public static string SchemaDir => Path.Combine(RepoRoot, "schema");

    public static string RealSchema => Path.Combine(SchemaDir, "mlarray-meta.schema.json");

    private static string FindUp(string marker)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, marker))) return dir.FullName;
        throw new InvalidOperationException($"{marker} not found above {AppContext.BaseDirectory}");
    }
}
