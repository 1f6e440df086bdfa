namespace MLArray.TestSupport;

/// <summary>The tiny ONNX models of tests/data/onnx (provenance and functions in its README.md).</summary>
internal static class OnnxTestModels
{
    private static readonly Lazy<string> DirLazy = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "data", "onnx");
            if (File.Exists(Path.Combine(candidate, "seg_pointwise.onnx")))
                return candidate;
        }
        throw new DirectoryNotFoundException($"tests/data/onnx not found above {AppContext.BaseDirectory}");
    });

    /// <summary>The path of tests/data/onnx/<paramref name="name"/>.onnx.</summary>
    public static string PathOf(string name) => Path.Combine(DirLazy.Value, name + ".onnx");
}
