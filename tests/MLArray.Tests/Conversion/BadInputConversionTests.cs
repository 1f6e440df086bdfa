using MLArray.Conversion;
using MLArray.TestSupport;
using Xunit.Abstractions;

namespace MLArray.Tests.Conversion;

/// <summary>
/// Hostile NIfTI/NRRD inputs through <see cref="MedicalConverter"/>: a typed exception whose message names the file and
/// what is wrong, and no output file or temporary file left behind. (The command line's exit codes for the same inputs:
/// MLArray.Cli.Tests.)
/// </summary>
public sealed class BadInputConversionTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-badin-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> Cases() => BadMedicalInputs.Cases();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Converter_throws_a_typed_error_and_writes_nothing(string name)
    {
        (string input, Type expected, string[] parts) = BadMedicalInputs.Make(_dir, name);
        string outDir = Directory.CreateDirectory(Path.Combine(_dir, "out-" + name)).FullName;
        string outPath = Path.Combine(outDir, "x.mla");
        var ex = Assert.ThrowsAny<MLArrayException>(() => MedicalConverter.ToMLArray(input, outPath));
        output.WriteLine($"{name}: {ex.GetType().Name}: {ex.Message}");
        Assert.IsType(expected, ex);
        foreach (string part in parts) Assert.Contains(part, ex.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(outDir));
    }
}
