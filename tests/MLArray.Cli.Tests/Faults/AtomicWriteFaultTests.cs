using MLArray.TestSupport;
using System.Globalization;
using MLArray.Blosc2;
using MLArray.Cli.Tests.Cli;
using MLArray.IO;
using MLArray.Medical.Nifti;
using MLArray.Medical.Nrrd;
using MLArray.Metadata.Migration;
using MLArray.Metadata.Payload;
using MLArray.Tests.Faults;
using NpyIO = MLArray.IO.Npy;

namespace MLArray.Cli.Tests.Faults;

/// <summary>
/// Saves, conversions, migrations and exports all replace their output through <see cref="AtomicFile"/>: under a
/// write failing after N bytes (many N spread over the whole output), a failing flush and a failing rename the
/// target stays byte-identical, no <c>.*.tmp</c> file remains and the error says what happened.
/// </summary>
public sealed class AtomicWriteFaultTests : IDisposable
{
    private readonly CliTestData.TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static float[] Values(int n, float offset) => Enumerable.Range(0, n).Select(i => (i % 251) * 0.5f + offset).ToArray();

    private static void AnyMessage(string m) => Assert.False(string.IsNullOrWhiteSpace(m));

    private static void CliMessage(string m)
    {
        Assert.StartsWith("exit 2: mlarray: ", m, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", m, StringComparison.Ordinal); // one sentence, no stack trace
    }

    /// <summary>Runs the CLI with the steps; a non-zero exit becomes an IOException carrying the exit code and stderr.</summary>
    private static Action<AtomicFileSteps> Cli(params string[] args) => steps =>
    {
        using var o = new StringWriter(CultureInfo.InvariantCulture);
        using var e = new StringWriter(CultureInfo.InvariantCulture);
        int code = CliApp.Run(args, o, e, steps);
        if (code != 0)
            throw new IOException($"exit {code}: {e.ToString().Trim()}");
        Assert.Equal("", e.ToString());
    };

    private string NewMla(string name, float offset)
    {
        string p = _dir.File(name);
        using var img = MLArrayFile.FromArray(Values(12 * 40 * 40, offset), [12, 40, 40]);
        img.Save(p);
        return p;
    }

    private string NewNpy(string name, float offset)
    {
        string p = _dir.File(name);
        var data = Values(12 * 40 * 40, offset);
        NpyIO.Write(p, new NpyArray("<f4", [12, 40, 40], System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()).ToArray()));
        return p;
    }

    private static void AssertMlaHolds(string path, float offset)
    {
        using var f = MLArrayFile.Open(path);
        Assert.Equal(Values(12 * 40 * 40, offset), f.ToArray<float>());
    }

    [Fact]
    public void MLArrayFile_Save_over_an_existing_file()
    {
        string target = NewMla("a.mla", 0);
        using var img = MLArrayFile.FromArray(Values(12 * 40 * 40, 5), [12, 40, 40]);
        int tried = FaultHarness.Run(target, steps => img.Save(target, steps), p => AssertMlaHolds(p, 5), AnyMessage);
        Assert.True(tried >= 100, $"only {tried} failure points");
    }

    [Fact]
    public void MLArrayFile_Save_onto_its_own_open_file_keeps_file_and_instance_usable()
    {
        string target = NewMla("own.mla", 1);
        byte[] original = File.ReadAllBytes(target);
        using var f = MLArrayFile.Open(target, MLArrayMode.ReadWrite);
        f.Meta = f.Meta with { IsSeg = true };
        var probe = new FaultySteps();
        f.Save(_dir.File("probe.mla"), probe);
        long total = probe.BytesWritten;
        for (long n = 0; n < total; n += Math.Max(1, total / 120))
        {
            var steps = new FaultySteps { FailAfterBytes = n };
            var e = Assert.Throws<IOException>(() => f.Save(target, steps));
            Assert.Contains("No space left on device", e.Message, StringComparison.Ordinal);
            Assert.Equal(original, File.ReadAllBytes(target));
            FaultHarness.AssertNoTemps(_dir.Path, steps);
        }
        var rename = new FaultySteps { FailRename = true };
        Assert.Throws<IOException>(() => f.Save(target, rename));
        Assert.Equal(original, File.ReadAllBytes(target));
        FaultHarness.AssertNoTemps(_dir.Path, rename);
        Assert.Equal(Values(12 * 40 * 40, 1), f.ToArray<float>()); // the instance still reads its file
        f.Save(target);
        using var back = MLArrayFile.Open(target);
        Assert.True(back.Meta.IsSeg);
    }

    [Fact]
    public void Npy_Write_over_an_existing_file_at_every_byte()
    {
        string target = _dir.File("t.npy");
        File.Copy(CliTestData.Npy("dtype_f4_2x3.npy"), target);
        var array = new NpyArray("<i4", [2, 5], Enumerable.Range(0, 40).Select(i => (byte)i).ToArray());
        int tried = FaultHarness.Run(target, steps => NpyIO.Write(target, array, steps), p =>
        {
            var back = NpyIO.Read(p);
            Assert.Equal(array.Data, back.Data);
            Assert.Equal(array.Shape, back.Shape);
        }, AnyMessage, maxPoints: 400);
        Assert.True(tried > 168, $"every byte of the 168-byte output should be a failure point, got {tried}");
    }

    [Theory]
    [InlineData("niftijs/5D_small.nii", "out.nii")]
    [InlineData("niftijs/little.nii.gz", "out.nii.gz")]
    public void Nifti_Write_over_an_existing_file(string source, string name)
    {
        var image = Nifti.Read(MedicalTestData.PathOf(source));
        string target = _dir.File(name);
        File.WriteAllBytes(target, [1, 2, 3, 4]);
        FaultHarness.Run(target, steps => Nifti.WriteWith(target, image, null, steps), p =>
        {
            var back = Nifti.Read(p);
            Assert.Equal(image.Data, back.Data);
            Assert.Equal(image.FileShape, back.FileShape);
        }, AnyMessage);
    }

    [Fact]
    public void Nrrd_Write_over_an_existing_file()
    {
        var image = Nrrd.Read(MedicalTestData.PathOf("nrrdjl/small_time.nrrd"));
        string target = _dir.File("out.nrrd");
        File.Copy(MedicalTestData.PathOf("nrrdjl/smallgz.nrrd"), target);
        FaultHarness.Run(target, steps => Nrrd.WriteWith(target, image, null, steps), p => Assert.Equal(image.Data, Nrrd.Read(p).Data), AnyMessage);
    }

    [Fact]
    public void Cli_convert_npy_to_mla()
    {
        string npy = NewNpy("in.npy", 3);
        string target = NewMla("out.mla", 0);
        int tried = FaultHarness.Run(target, Cli("convert", npy, target, "--codec", "zstd", "--overwrite"), p => AssertMlaHolds(p, 3), CliMessage, maxPoints: 110);
        Assert.True(tried >= 100);
    }

    [Fact]
    public void Cli_convert_into_a_folder_without_write_permission_names_the_output_and_the_folder_not_the_temporary_file()
    {
        string npy = NewNpy("in.npy", 3);
        string target = _dir.File("out.mla");
        using var e = new StringWriter(CultureInfo.InvariantCulture);
        int code = CliApp.Run(["convert", npy, target], TextWriter.Null, e, new FaultySteps { DenyCreate = true });
        Assert.Equal(2, code);
        string line = Assert.Single(e.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"mlarray: cannot write '{target}': no permission to create files in the folder '{Path.GetDirectoryName(target)}'; "
            + "choose another output folder or make it writable (nothing was written).", line);
        Assert.False(File.Exists(target));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(target)!, ".*.tmp"));
    }

    [Fact]
    public void Cli_convert_npy_to_b2nd()
    {
        string npy = NewNpy("in.npy", 4);
        string target = _dir.File("out.b2nd");
        File.WriteAllBytes(target, [9, 9, 9]);
        FaultHarness.Run(target, Cli("convert", npy, target, "--overwrite"), p =>
        {
            using var a = B2ndArray.Open(p);
            Assert.Equal(Values(12 * 40 * 40, 4), a.ToArray<float>());
        }, CliMessage);
    }

    [Fact]
    public void Cli_convert_mla_to_npy()
    {
        string mla = NewMla("in.mla", 6);
        string target = NewNpy("out.npy", 0);
        FaultHarness.Run(target, Cli("convert", mla, target, "--overwrite"), p =>
            Assert.Equal(System.Runtime.InteropServices.MemoryMarshal.AsBytes(Values(12 * 40 * 40, 6).AsSpan()).ToArray(), NpyIO.Read(p).Data), CliMessage);
    }

    [Fact]
    public void Cli_migrate_in_place()
    {
        string target = _dir.File("old.mla");
        File.Copy(Path.Combine(Path.GetDirectoryName(CliTestData.Npy("x"))!, "..", "mla", "v0023_image_f32_3d.mla"), target);
        byte[] data;
        using (var a = B2ndArray.Open(target)) data = a.ReadBytes();
        FaultHarness.Run(target, Cli("migrate", target, "--in-place"), p =>
        {
            using var a = B2ndArray.Open(p);
            Assert.Equal(data, a.ReadBytes());
            Assert.Equal(MetaLayout.Current, MLArrayMetadata.Read(a)!.Layout);
        }, CliMessage);
    }

    [Fact]
    public void Cli_preview()
    {
        string mla = NewMla("in.mla", 2);
        string reference = _dir.File("ref.png");
        Cli("preview", mla, "-o", reference)(AtomicFileSteps.Default);
        string target = _dir.File("out.png");
        Cli("preview", mla, "--index", "0", "-o", target)(AtomicFileSteps.Default);
        byte[] expected = File.ReadAllBytes(reference);
        File.Delete(reference);
        FaultHarness.Run(target, Cli("preview", mla, "-o", target), p => Assert.Equal(expected, File.ReadAllBytes(p)), CliMessage);
    }
}
