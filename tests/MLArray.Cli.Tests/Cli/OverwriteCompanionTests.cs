using MLArray.TestSupport;

namespace MLArray.Cli.Tests.Cli;

/// <summary>A NIfTI pair or a detached NRRD is two files: an existing companion is never replaced without --overwrite.</summary>
public sealed class OverwriteCompanionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-companion-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("x.hdr", "x.img")]
    [InlineData("x.hdr.gz", "x.img.gz")]
    [InlineData("x.nhdr", "x.raw.gz")]
    public void An_existing_companion_file_is_refused_without_overwrite(string output, string companion)
    {
        string input = MlaCorpus.PathOf("head_cli_nifti.mla");
        string companionPath = Path.Combine(_dir, companion);
        File.WriteAllText(companionPath, "keep me");
        var r = CliRun.Run("convert", input, Path.Combine(_dir, output));
        Assert.Equal(1, r.Code);
        Assert.Contains(companion, r.Err, StringComparison.Ordinal);
        Assert.Contains("--overwrite", r.Err, StringComparison.Ordinal);
        Assert.Equal("keep me", File.ReadAllText(companionPath));
        Assert.False(File.Exists(Path.Combine(_dir, output)));

        r = CliRun.Run("convert", input, Path.Combine(_dir, output), "--overwrite");
        Assert.True(r.Code == 0, r.Err);
        Assert.NotEqual("keep me"u8.ToArray(), File.ReadAllBytes(companionPath)); // replaced by the exported data
    }
}
