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
}
