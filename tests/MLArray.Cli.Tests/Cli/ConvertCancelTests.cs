using System.Diagnostics;
using System.Globalization;
using MLArray.Blosc2;
using MLArray.Medical.Nifti;
using Xunit.Abstractions;

namespace MLArray.Cli.Tests.Cli;

/// <summary>
/// Ctrl+C in <c>mlarray convert</c>: the real command in a child process gets SIGINT while it converts. Whenever the
/// signal lands, every output is either complete (same voxels as its input) or absent, and no temporary file is left;
/// when the signal interrupted work, the exit code is 130 and a line says so. The outcome does not depend on timing.
/// </summary>
public sealed class ConvertCancelTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-cancel-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A CT-like int16 volume (air, a noisy soft-tissue ellipsoid, a bone shell) as .nii.gz; returns its voxels.</summary>
    internal static short[] WriteCtLike(string path, int nx, int ny, int nz, uint seed)
    {
        var v = new short[nx * ny * nz];
        uint s = seed;
        for (int z = 0; z < nz; z++)
        {
            for (int y = 0; y < ny; y++)
            {
                for (int x = 0; x < nx; x++)
                {
                    double dx = (x - (nx / 2.0)) / (nx * 0.42), dy = (y - (ny / 2.0)) / (ny * 0.36), dz = (z - (nz / 2.0)) / (nz * 0.45);
                    double r = Math.Sqrt((dx * dx) + (dy * dy) + (dz * dz));
                    s = (s * 1664525) + 1013904223;
                    int noise = (int)(s >> 27) - 16;
                    v[x + (nx * (y + (ny * z)))] = (short)(r > 1 ? -1000 + (noise / 4) : r > 0.9 ? 700 + (noise * 3) : 40 + noise);
                }
            }
        }

        var affine = new double[,] { { -0.8, 0, 0, 100 }, { 0, -0.8, 0, 120 }, { 0, 0, 1.5, -80 }, { 0, 0, 0, 1 } };
        var bytes = new byte[v.Length * 2];
        Buffer.BlockCopy(v, 0, bytes, 0, bytes.Length);
        Nifti.Write(path, NiftiImage.Create(bytes, DType.Int16, [nx, ny, nz], affine));
        return v;
    }

    private static string CliDll => Path.Combine(AppContext.BaseDirectory, "MLArray.Cli.dll");

    /// <summary>Starts the CLI, waits until it is writing a temporary output (or has finished), sends SIGINT, waits for exit.</summary>
    private (int Code, string Out, string Err, bool Signalled) RunAndInterrupt(string outDir, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(CliDll);
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        Task<string> so = p.StandardOutput.ReadToEndAsync();
        Task<string> se = p.StandardError.ReadToEndAsync();
        // Wait (at most 2 minutes) for a temporary output file: the conversion is then under way and the handler installed.
        var sw = Stopwatch.StartNew();
        while (!p.HasExited && sw.Elapsed < TimeSpan.FromMinutes(2) &&
               !(Directory.Exists(outDir) && Directory.EnumerateFiles(outDir, "*.tmp").Any()))
        {
            Thread.Sleep(5);
        }

        bool signalled = false;
        if (!p.HasExited)
        {
            using var kill = Process.Start("kill", ["-INT", p.Id.ToString(CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
            signalled = kill.ExitCode == 0;
        }

        p.WaitForExit();
        string o = so.GetAwaiter().GetResult(), e = se.GetAwaiter().GetResult();
        output.WriteLine($"exit {p.ExitCode}, signalled {signalled}\n--- stdout\n{o}\n--- stderr\n{e}");
        return (p.ExitCode, o, e, signalled);
    }

    private static void AssertCompleteOrAbsent(string mla, short[] expected)
    {
        if (!File.Exists(mla)) return;
        using var f = MLArrayFile.Open(mla);
        Assert.Equal(expected, f.ToArray<short>());
    }

    private static void AssertNoTemporaryFiles(string dir) =>
        Assert.DoesNotContain(Directory.GetFiles(dir), f => f.EndsWith(".tmp", StringComparison.Ordinal));

    [Fact]
    public void Batch_interrupted_by_sigint_leaves_complete_outputs_or_none()
    {
        string inDir = Directory.CreateDirectory(Path.Combine(_dir, "in")).FullName;
        string outDir = Path.Combine(_dir, "out");
        var expected = new Dictionary<string, short[]>();
        for (int i = 0; i < 4; i++)
            expected[$"ct{i}.mla"] = WriteCtLike(Path.Combine(inDir, $"ct{i}.nii.gz"), 192, 192, 160, (uint)(i + 1));

        var r = RunAndInterrupt(outDir, "convert", inDir, outDir, "--to", "mla", "--jobs", "1", "--threads", "1");
        Assert.True(r.Code is 0 or 130, $"exit code {r.Code}: {r.Err}");
        if (r.Code == 130)
        {
            Assert.True(r.Signalled);
            Assert.Contains("cancelled", r.Out + r.Err, StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains("4 of 4 converted", r.Out, StringComparison.Ordinal);
        }

        Assert.True(Directory.Exists(outDir));
        AssertNoTemporaryFiles(outDir);
        foreach ((string name, short[] v) in expected) AssertCompleteOrAbsent(Path.Combine(outDir, name), v);
        if (r.Code == 0)
            Assert.All(expected.Keys, k => Assert.True(File.Exists(Path.Combine(outDir, k))));
    }

    [Fact]
    public void Single_file_interrupted_by_sigint_leaves_the_complete_output_or_none()
    {
        string input = Path.Combine(_dir, "big.nii.gz");
        short[] v = WriteCtLike(input, 256, 256, 200, 7);
        string outDir = Directory.CreateDirectory(Path.Combine(_dir, "single")).FullName;
        string mla = Path.Combine(outDir, "big.mla");
        var r = RunAndInterrupt(outDir, "convert", input, mla, "--threads", "1", "--clevel", "9");
        Assert.True(r.Code is 0 or 130, $"exit code {r.Code}: {r.Err}");
        if (r.Code == 130)
        {
            Assert.Contains("cancelled", r.Err, StringComparison.Ordinal);
            Assert.False(File.Exists(mla));
        }
        else
        {
            Assert.True(File.Exists(mla));
        }

        AssertNoTemporaryFiles(outDir);
        AssertCompleteOrAbsent(mla, v);
    }
}
