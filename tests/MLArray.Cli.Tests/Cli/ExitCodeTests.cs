using MLArray.TestSupport;

namespace MLArray.Cli.Tests.Cli;

/// <summary>
/// docs/errors.md, command-line side: the exit code and the message of each condition, for every command that meets
/// it (the library's exception types for the same files: MLArray.Tests, ErrorsByLayerTests). Cancellation (130):
/// ConvertCancelTests.
/// </summary>
public sealed class ExitCodeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-exit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    /// <summary>Runs the command and checks its exit code and its one stderr line; returns that line.</summary>
    private static string Expect(int code, params string[] args)
    {
        var r = CliRun.Run(args);
        Assert.True(r.Code == code, $"{string.Join(' ', args)}: exit {r.Code}, expected {code}\n{r.Out}\n{r.Err}");
        string line = CliRun.Lines(r.Err)[^1];
        Assert.StartsWith("mlarray: ", line, StringComparison.Ordinal);
        return line;
    }

    [Fact]
    public void Bad_argument_or_usage_exits_1()
    {
        string npy = CliTestData.Npy("i2_c_3x4x5.npy");
        Assert.Contains("snappy", Expect(1, "convert", npy, P("x.mla"), "--codec", "snappy"), StringComparison.Ordinal);
        Assert.Contains("gzip", Expect(1, "convert", npy, P("x.mla"), "--filter", "gzip"), StringComparison.Ordinal);
        Assert.Contains("--axis-labels applies to .npy input", Expect(1, "convert", MedicalTestData.PathOf("niivue/minimal.nii.gz"), P("x.mla"), "--axis-labels", "a,b,c"), StringComparison.Ordinal);
        Assert.Contains("--codec applies to .mla output only", Expect(1, "convert", CliTestData.Blosc2("f4_3d_lz4_shuffle.mla"), P("x.npy"), "--codec", "zstd"), StringComparison.Ordinal);
        Assert.Contains("--raw applies to NIfTI/NRRD input", Expect(1, "convert", npy, P("x.mla"), "--raw"), StringComparison.Ordinal);
        Assert.Equal(1, CliRun.Run("convert").Code);
        Assert.Equal(1, CliRun.Run("header").Code);
        Assert.Equal(1, CliRun.Run("nonsense").Code);
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void Missing_file_exits_2()
    {
        Assert.Contains("missing.mla", Expect(2, "header", P("missing.mla")), StringComparison.Ordinal);
        Assert.Contains("missing.mla", Expect(2, "validate", P("missing.mla")), StringComparison.Ordinal);
        Assert.Contains("missing.mla", Expect(2, "migrate", "--dry-run", P("missing.mla")), StringComparison.Ordinal);
        Assert.Contains("missing.mla", Expect(2, "preview", P("missing.mla"), "-o", P("x.png")), StringComparison.Ordinal);
        Assert.Contains("missing.nii.gz", Expect(2, "convert", P("missing.nii.gz"), P("x.mla")), StringComparison.Ordinal);
        Assert.Contains("missing.npy", Expect(2, "convert", P("missing.npy"), P("x.mla")), StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void A_text_file_named_mla_exits_2_saying_it_is_not_an_MLArray_file()
    {
        string notes = ErrorFiles.Text(_dir, "notes.mla");
        foreach (string[] args in new[] { new[] { "header", notes }, ["validate", notes], ["migrate", "--dry-run", notes], ["convert", notes, P("x.npy")], ["convert", notes, P("x.nii.gz")], ["preview", notes, "-o", P("x.png")] })
        {
            string line = Expect(2, args);
            Assert.Contains("notes.mla' is not an MLArray/Blosc2 file", line, StringComparison.Ordinal);
            Assert.DoesNotContain("truncated", line, StringComparison.Ordinal);
        }

        Assert.Equal(["notes.mla"], Directory.GetFiles(_dir).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("corrupt_truncated_frame.mla")]
    [InlineData("corrupt_bad_chunk_offset.mla")]
    [InlineData("corrupt_wrong_trailer_len.mla")]
    public void Corrupt_file_exits_2(string file)
    {
        string p = ErrorFiles.Corpus(_dir, file);
        Assert.Contains(file, Expect(2, "validate", p), StringComparison.Ordinal);
        Assert.Contains(file, Expect(2, "convert", p, P("x.npy")), StringComparison.Ordinal);
        Assert.False(File.Exists(P("x.npy")));
    }

    [Fact]
    public void Unsupported_feature_exits_2()
    {
        string p = ErrorFiles.FutureVersion(_dir);
        Assert.Contains("format version 7", Expect(2, "header", p), StringComparison.Ordinal);
        Assert.Contains("format version 7", Expect(2, "convert", p, P("x.nii.gz")), StringComparison.Ordinal);
        Assert.Contains("|O", Expect(2, "convert", CliTestData.Npy("object_unsupported.npy"), P("x.mla")), StringComparison.Ordinal);
        Assert.Equal(["future.mla"], Directory.GetFiles(_dir).Select(Path.GetFileName));
    }

    [Fact]
    public void Invalid_metadata_exits_1_not_2()
    {
        string p = ErrorFiles.InvalidMeta(_dir);
        foreach (string[] args in new[] { new[] { "convert", p, P("x.nii.gz") }, ["convert", p, P("x.nrrd")], ["preview", p, "-o", P("x.png")], ["migrate", "--dry-run", p] })
        {
            string line = Expect(1, args);
            Assert.Contains("invalid metadata", line, StringComparison.Ordinal);
            Assert.Contains("meta.spatial.spacing must have length 3 (at /spatial/spacing, rule x-length)", line, StringComparison.Ordinal);
        }

        var v = CliRun.Run("validate", p);
        Assert.Equal(1, v.Code);
        Assert.Contains("/spatial/spacing  x-length", v.Out, StringComparison.Ordinal);
        Assert.Equal(0, CliRun.Run("header", p).Code); // header shows what is stored, valid or not
        Assert.Equal(["invalid-meta.mla"], Directory.GetFiles(_dir).Select(Path.GetFileName));
    }

    [Fact]
    public void Refused_metadata_exits_2()
    {
        string p = ErrorFiles.Corpus(_dir, "hostile_reduce_os_system.mla");
        foreach (string[] args in new[] { new[] { "header", p }, ["validate", p], ["migrate", "--dry-run", p], ["convert", p, P("x.nii.gz")], ["preview", p, "-o", P("x.png")] })
            Assert.Contains("refusing pickle global posix.system", Expect(2, args), StringComparison.Ordinal);
        Assert.Equal(["hostile_reduce_os_system.mla"], Directory.GetFiles(_dir).Select(Path.GetFileName));
    }
}
