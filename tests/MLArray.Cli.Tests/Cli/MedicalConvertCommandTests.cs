using MLArray.Blosc2;
using MLArray.Conversion;
using MLArray.TestSupport;
using MLArray.Medical.Nifti;
using MLArray.Medical.Nrrd;

namespace MLArray.Cli.Tests.Cli;

/// <summary><c>mlarray convert</c> with NIfTI/NRRD files: single files and batch mode.</summary>
public sealed class MedicalConvertCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-cli-conv-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    [Fact]
    public void SingleFileBothWaysWithLayoutOptions()
    {
        string mla = P("ball.mla");
        var r = CliRun.Run(["convert", MedicalTestData.PathOf("pynrrd/BallBinary30x30x30_gz.nrrd"), mla, "--patch-size", "24", "--codec", "zstd", "--clevel", "3"]);
        Assert.True(r.Code == 0, r.Err);
        using (var f = MLArrayFile.Open(mla))
        {
            Assert.Equal([30L, 30, 30], f.Shape);
            Assert.Equal("LPS", f.Meta.Spatial.CoordSystem?.Value);
            Assert.Equal(Blosc2Codec.Zstd, f.Compression.Codec);
        }

        r = CliRun.Run(["convert", mla, P("ball.nrrd")]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(Nrrd.Read(MedicalTestData.PathOf("pynrrd/BallBinary30x30x30_gz.nrrd")).Data, Nrrd.Read(P("ball.nrrd")).Data);
        r = CliRun.Run(["convert", mla, P("ball.nii.gz")]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal([30L, 30, 30], Nifti.Read(P("ball.nii.gz")).FileShape);
    }

    [Fact]
    public void RawKeepsStoredIntegers()
    {
        string mla = P("spm.mla");
        var r = CliRun.Run(["convert", MedicalTestData.PathOf("niivue/spmMotor.nii.gz"), mla, "--raw"]);
        Assert.True(r.Code == 0, r.Err);
        using var f = MLArrayFile.Open(mla);
        Assert.Equal(DType.Int16, f.DType);
    }

    [Fact]
    public void BatchWithOneCorruptInputConvertsTheOthersAndExitsOne()
    {
        string inDir = P("in");
        Directory.CreateDirectory(inDir);
        File.Copy(MedicalTestData.PathOf("pynrrd/BallBinary30x30x30_gz.nrrd"), Path.Combine(inDir, "a.nrrd"));
        File.Copy(MedicalTestData.PathOf("dipy/aniso_vox.nii.gz"), Path.Combine(inDir, "b.nii.gz"));
        File.Copy(MedicalTestData.PathOf("niivue/minimal.nii.gz"), Path.Combine(inDir, "c.nii.gz"));
        byte[] good = File.ReadAllBytes(MedicalTestData.PathOf("dipy/aniso_vox.nii.gz"));
        File.WriteAllBytes(Path.Combine(inDir, "corrupt.nii.gz"), good[..(good.Length / 2)]); // truncated gzip
        string outDir = P("out");
        var r = CliRun.Run(["convert", inDir, outDir, "--to", "mla", "--jobs", "3"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("3 of 4 converted, 1 failed", r.Out, StringComparison.Ordinal);
        Assert.Contains("corrupt.nii.gz", r.Err, StringComparison.Ordinal);
        Assert.Contains("FAILED", r.Out, StringComparison.Ordinal);
        Assert.Equal(["a.mla", "b.mla", "c.mla"], Directory.GetFiles(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (string f in Directory.GetFiles(outDir))
        {
            using var img = MLArrayFile.Open(f);
            Assert.Equal("spatial_x", img.AxisLabels![^1]);
        }

        // and back, with a glob
        r = CliRun.Run(["convert", Path.Combine(outDir, "*.mla"), P("back"), "--to", "nii.gz"]);
        Assert.True(r.Code == 0, r.Out + r.Err);
        Assert.Equal(3, Directory.GetFiles(P("back"), "*.nii.gz").Length);
        Assert.Equal(Nifti.Read(MedicalTestData.PathOf("dipy/aniso_vox.nii.gz")).Data, Nifti.Read(Path.Combine(P("back"), "b.nii.gz")).Data);
    }

    [Fact]
    public void UnsupportedPairIsAUsageError()
    {
        var r = CliRun.Run(["convert", MedicalTestData.PathOf("niivue/minimal.nii.gz"), P("x.nrrd")]);
        Assert.Equal(1, r.Code);
        Assert.False(File.Exists(P("x.nrrd")));
    }

    [Fact]
    public void Batch_exports_to_pairs_and_detached_nrrd()
    {
        string inDir = Directory.CreateDirectory(P("in")).FullName;
        File.Copy(MedicalTestData.PathOf("dipy/aniso_vox.nii.gz"), Path.Combine(inDir, "a.nii.gz"));
        File.Copy(MedicalTestData.PathOf("pynrrd/BallBinary30x30x30.nhdr"), Path.Combine(inDir, "b.nhdr"));
        File.Copy(MedicalTestData.PathOf("pynrrd/BallBinary30x30x30.raw"), Path.Combine(inDir, "BallBinary30x30x30.raw"));
        var r = CliRun.Run(["convert", inDir, P("mla"), "--to", "mla"]);
        Assert.True(r.Code == 0, r.Out + r.Err);
        r = CliRun.Run(["convert", P("mla"), P("hdr"), "--to", "hdr"]);
        Assert.True(r.Code == 0, r.Out + r.Err);
        Assert.Equal(["a.hdr", "a.img", "b.hdr", "b.img"], Directory.GetFiles(P("hdr")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(Nifti.Read(Path.Combine(inDir, "a.nii.gz")).Data, Nifti.Read(Path.Combine(P("hdr"), "a.hdr")).Data);
        r = CliRun.Run(["convert", P("mla"), P("nhdr"), "--to", "nhdr"]);
        Assert.True(r.Code == 0, r.Out + r.Err);
        Assert.Equal(["a.nhdr", "a.raw.gz", "b.nhdr", "b.raw.gz"], Directory.GetFiles(P("nhdr")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(Nrrd.Read(Path.Combine(inDir, "b.nhdr")).Data, Nrrd.Read(Path.Combine(P("nhdr"), "b.nhdr")).Data);
        Assert.Equal(DType.Int16, Nrrd.Read(Path.Combine(P("nhdr"), "b.nhdr")).DType);
    }

    [Fact]
    public void Batch_refuses_inputs_that_share_an_output_name_before_converting_anything()
    {
        string inDir = Directory.CreateDirectory(P("scans")).FullName;
        File.Copy(MedicalTestData.PathOf("pynrrd/BallBinary30x30x30.nhdr"), Path.Combine(inDir, "x.nhdr"));
        File.Copy(MedicalTestData.PathOf("pynrrd/BallBinary30x30x30.raw"), Path.Combine(inDir, "BallBinary30x30x30.raw"));
        File.Copy(MedicalTestData.PathOf("pynrrd/BallBinary30x30x30_gz.nrrd"), Path.Combine(inDir, "x.nrrd"));
        File.Copy(MedicalTestData.PathOf("dipy/aniso_vox.nii.gz"), Path.Combine(inDir, "x.nii.gz"));
        File.Copy(MedicalTestData.PathOf("niivue/minimal.nii.gz"), Path.Combine(inDir, "y.nii.gz"));
        File.Copy(MedicalTestData.PathOf("niivue/minimal.nii.gz"), Path.Combine(inDir, "y.nii"));
        string outDir = P("out");
        var r = CliRun.Run(["convert", inDir, outDir, "--to", "mla"]);
        Assert.Equal(1, r.Code);
        string err = CliRun.Lines(r.Err).Single();
        Assert.Contains("2 output names are shared by several inputs", err, StringComparison.Ordinal);
        string In(string f) => Path.Combine(inDir, f);
        Assert.Contains($"{Path.Combine(outDir, "x.mla")} <- {In("x.nhdr")}, {In("x.nii.gz")}, {In("x.nrrd")}", err, StringComparison.Ordinal);
        Assert.Contains($"{Path.Combine(outDir, "y.mla")} <- {In("y.nii")}, {In("y.nii.gz")}", err, StringComparison.Ordinal);
        Assert.Equal("", r.Out);
        Assert.False(Directory.Exists(outDir));

        // the same inputs in separate folders convert, one output each
        File.Delete(In("x.nrrd"));
        File.Delete(In("x.nii.gz"));
        File.Delete(In("y.nii"));
        r = CliRun.Run(["convert", inDir, outDir, "--to", "mla"]);
        Assert.True(r.Code == 0, r.Out + r.Err);
        Assert.Equal(["x.mla", "y.mla"], Directory.GetFiles(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Existing_outputs_are_replaced_only_with_overwrite()
    {
        string inDir = Directory.CreateDirectory(P("in")).FullName;
        File.Copy(MedicalTestData.PathOf("niivue/minimal.nii.gz"), Path.Combine(inDir, "a.nii.gz"));
        File.Copy(MedicalTestData.PathOf("dipy/aniso_vox.nii.gz"), Path.Combine(inDir, "b.nii.gz"));
        string outDir = Directory.CreateDirectory(P("out")).FullName;
        File.WriteAllText(Path.Combine(outDir, "b.mla"), "keep me");

        // batch: refused before anything is converted, the existing file named
        var r = CliRun.Run(["convert", inDir, outDir, "--to", "mla"]);
        Assert.Equal(1, r.Code);
        Assert.Equal($"mlarray: {Path.Combine(outDir, "b.mla")} already exists; pass --overwrite to replace it.", CliRun.Lines(r.Err).Single());
        Assert.Equal(["b.mla"], Directory.GetFiles(outDir).Select(Path.GetFileName));
        Assert.Equal("keep me", File.ReadAllText(Path.Combine(outDir, "b.mla")));
        r = CliRun.Run(["convert", inDir, outDir, "--to", "mla", "--overwrite"]);
        Assert.True(r.Code == 0, r.Out + r.Err);
        using (var f = MLArrayFile.Open(Path.Combine(outDir, "b.mla")))
            Assert.Equal(Enumerable.Reverse(Nifti.Read(Path.Combine(inDir, "b.nii.gz")).FileShape).ToArray(), f.Shape);

        // single file, both directions
        string back = P("back.nii.gz");
        File.WriteAllText(back, "keep me too");
        r = CliRun.Run(["convert", Path.Combine(outDir, "a.mla"), back]);
        Assert.Equal(1, r.Code);
        Assert.Contains("already exists; pass --overwrite", r.Err, StringComparison.Ordinal);
        Assert.Equal("keep me too", File.ReadAllText(back));
        r = CliRun.Run(["convert", Path.Combine(outDir, "a.mla"), back, "--overwrite"]);
        Assert.True(r.Code == 0, r.Out + r.Err);
        Assert.Equal(Nifti.Read(Path.Combine(inDir, "a.nii.gz")).Data, Nifti.Read(back).Data);
    }

    [Theory]
    [InlineData("none")]
    [InlineData("noshuffle")]
    [InlineData("nofilter")]
    [InlineData("NoShuffle")]
    public void Filter_none_and_its_blosc2_aliases_store_an_empty_pipeline(string spec)
    {
        string mla = P("ball.mla");
        var r = CliRun.Run(["convert", MedicalTestData.PathOf("pynrrd/BallBinary30x30x30_gz.nrrd"), mla, "--filter", spec]);
        Assert.True(r.Code == 0, r.Err);
        using var a = B2ndArray.Open(mla);
        Assert.Equal(new Blosc2Filter[6], a.Filters);
        Assert.Equal(Nrrd.Read(MedicalTestData.PathOf("pynrrd/BallBinary30x30x30_gz.nrrd")).Data, a.ReadBytes());
    }

    [Fact]
    public void Every_help_screen_is_mlarrays_and_prints_each_default_once()
    {
        foreach (string[] args in new[] { new[] { "--help" }, ["convert", "--help"], ["header", "--help"], ["validate", "--help"], ["migrate", "--help"], ["bench", "--help"], ["preview", "--help"] })
        {
            var r = CliRun.Run(args);
            Assert.True(r.Code == 0, string.Join(' ', args) + ": " + r.Err);
            Assert.Contains("Usage:\n  mlarray", r.Out.Replace("\r\n", "\n", StringComparison.Ordinal), StringComparison.Ordinal);
            Assert.DoesNotContain("MLArray.Cli", r.Out, StringComparison.Ordinal);
            foreach (string line in r.Out.Split('\n').Where(l => l.Contains("[default:", StringComparison.Ordinal)))
                Assert.DoesNotContain("(default", line, StringComparison.Ordinal);
        }

        string help = CliRun.Run("convert", "--help").Out;
        Assert.Contains("-j, --jobs ", help, StringComparison.Ordinal);
        foreach (string option in (string[])["--to", "--overwrite", "--raw", "--canonical", "--codec", "--clevel", "--filter", "--split", "--patch-size", "--chunk-size", "--block-size", "--axis-labels", "--threads"])
            Assert.Contains("  " + option + " ", help, StringComparison.Ordinal);
        foreach (string format in MedicalFormats.TargetNames.Concat(MedicalFormats.Extensions(MedicalFormat.Nifti)).Concat(MedicalFormats.Extensions(MedicalFormat.Nrrd)))
            Assert.Contains(format, help, StringComparison.Ordinal);
        foreach (string name in CompressionNames.CodecNames.Concat(CompressionNames.NoFilterNames))
            Assert.Contains(name, help, StringComparison.Ordinal);
    }
}
