using MLArray.Cli.Tests.Cli;
using MLArray.TestSupport;

namespace MLArray.Cli.Tests.Conversion;

/// <summary>
/// Hostile NIfTI/NRRD inputs through <c>mlarray convert</c>: exit code 2 with a message that names the file and what is
/// wrong, nothing written; in a batch each bad file is listed and the good one is converted. (The library's exception
/// types for the same inputs: MLArray.Tests.)
/// </summary>
public sealed class BadInputConversionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-badin-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    public static TheoryData<string> Cases() => BadMedicalInputs.Cases();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Cli_exits_2_with_the_reason_and_writes_nothing(string name)
    {
        (string input, _, string[] parts) = BadMedicalInputs.Make(_dir, name);
        string outDir = Directory.CreateDirectory(P("cli-" + name)).FullName;
        string outPath = Path.Combine(outDir, "x.mla");
        var r = CliRun.Run(["convert", input, outPath]);
        Assert.Equal(2, r.Code);
        Assert.StartsWith("mlarray: ", r.Err, StringComparison.Ordinal);
        foreach (string part in parts) Assert.Contains(part, r.Err, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(outDir));
    }

    [Fact]
    public void Batch_with_every_bad_input_reports_each_and_writes_only_the_good_one()
    {
        string inDir = Directory.CreateDirectory(P("batch-in")).FullName;
        var names = new List<string>();
        foreach (string name in new[] { "truncated-nii-gz", "gzip-crc-mismatch", "zero-dim", "unknown-datatype", "nrrd-missing-sizes", "nrrd-attached-too-short" })
        {
            (string input, _, _) = BadMedicalInputs.Make(_dir, name);
            string dest = Path.Combine(inDir, name + Path.GetFileName(input)[Path.GetFileName(input).IndexOf('.', StringComparison.Ordinal)..]);
            File.Copy(input, dest);
            names.Add(Path.GetFileName(dest));
        }

        File.Copy(MedicalTestData.PathOf("niivue/minimal.nii.gz"), Path.Combine(inDir, "good.nii.gz"));
        string outDir = P("batch-out");
        var r = CliRun.Run(["convert", inDir, outDir, "--to", "mla", "--jobs", "2"]);
        Assert.Equal(1, r.Code);
        Assert.Contains($"1 of {names.Count + 1} converted, {names.Count} failed", r.Out, StringComparison.Ordinal);
        foreach (string n in names) Assert.Contains(n, r.Err, StringComparison.Ordinal);
        Assert.Equal(["good.mla"], Directory.GetFiles(outDir).Select(Path.GetFileName));
    }
}
