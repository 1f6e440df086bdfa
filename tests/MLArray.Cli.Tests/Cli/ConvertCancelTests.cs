using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using MLArray.Medical.Nifti;
using MLArray.TestSupport;
using Xunit.Abstractions;

namespace MLArray.Cli.Tests.Cli;

/// <summary>
/// Cancelling <c>mlarray convert</c>, deterministically: the cancellation is requested only once a progress line
/// ("converting IN -> OUT: dtype (shape)", printed when the input's header is read and the data are about to be
/// decoded) shows that a conversion is running, and every test asserts the cancelled outcome: exit 130, the message,
/// no output and no temporary file. In process through an injected token; in a child process through SIGINT.
/// </summary>
/// <remarks>
/// The SIGINT tests start the child with SIGINT reset to its default action (see <c>RunAndInterrupt</c>): a test run
/// started as a background job of a non-interactive shell inherits SIGINT as ignored, and so would the child. They run
/// in their own non-parallel collection so that the machine's other tests do not slow the child down.
/// </remarks>
[Collection(nameof(ConvertCancelTests))]
public sealed partial class ConvertCancelTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-cancel-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string CliDll => Path.Combine(AppContext.BaseDirectory, "MLArray.Cli.dll");

    /// <summary>Captures stdout and cancels <paramref name="cts"/> when the first "converting" progress line is written.</summary>
    private sealed class CancelOnProgress(CancellationTokenSource cts) : StringWriter(CultureInfo.InvariantCulture)
    {
        public int ProgressLines { get; private set; }

        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value is not null && value.StartsWith("converting ", StringComparison.Ordinal))
            {
                ProgressLines++;
                cts.Cancel();
            }
        }
    }

    private static void AssertNoFiles(string dir) => Assert.Empty(Directory.GetFiles(dir));

    [Fact]
    public void Single_file_cancelled_after_the_header_is_read_exits_130_and_writes_nothing()
    {
        string input = Path.Combine(_dir, "ct.nii.gz");
        SyntheticCt.Write(input, 96, 96, 64, 5);
        string outDir = Directory.CreateDirectory(Path.Combine(_dir, "out")).FullName;
        string mla = Path.Combine(outDir, "ct.mla");
        using var cts = new CancellationTokenSource();
        using var stdout = new CancelOnProgress(cts);
        using var stderr = new StringWriter(CultureInfo.InvariantCulture);
        int code = CliApp.Run(["convert", input, mla], stdout, stderr, null, cts.Token);
        output.WriteLine($"exit {code}\n{stdout}\n{stderr}");
        Assert.Equal(1, stdout.ProgressLines);
        Assert.Equal(CliApp.Cancelled, code);
        Assert.Contains($"cancelled; {mla} was not written", stderr.ToString(), StringComparison.Ordinal);
        AssertNoFiles(outDir);
    }

    [Fact]
    public void Batch_cancelled_during_its_first_file_exits_130_and_writes_nothing()
    {
        string inDir = Directory.CreateDirectory(Path.Combine(_dir, "in")).FullName;
        for (int i = 0; i < 3; i++) SyntheticCt.Write(Path.Combine(inDir, $"ct{i}.nii.gz"), 64, 64, 48, (uint)(i + 1));
        string outDir = Path.Combine(_dir, "out");
        using var cts = new CancellationTokenSource();
        using var stdout = new CancelOnProgress(cts);
        using var stderr = new StringWriter(CultureInfo.InvariantCulture);
        int code = CliApp.Run(["convert", inDir, outDir, "--to", "mla", "--jobs", "1"], stdout, stderr, null, cts.Token);
        output.WriteLine($"exit {code}\n{stdout}\n{stderr}");
        Assert.Equal(1, stdout.ProgressLines);
        Assert.Equal(CliApp.Cancelled, code);
        Assert.Contains("cancelled: 0 of 3 converted before the interrupt", stdout.ToString(), StringComparison.Ordinal);
        Assert.Contains("[1/3] CANCELLED", stdout.ToString(), StringComparison.Ordinal);
        Assert.Equal("mlarray: cancelled.", stderr.ToString().Trim());
        AssertNoFiles(outDir);
    }

    private const int SigInt = 2;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>Uncompressed NIfTI of uniform random int16 (incompressible: LZ4HC level 9 takes seconds on it).</summary>
    private static void WriteNoise(string path, int nx, int ny, int nz, int seed)
    {
        var bytes = new byte[nx * ny * nz * 2];
        new Random(seed).NextBytes(bytes);
        var eye = new double[4, 4];
        for (int i = 0; i < 4; i++) eye[i, i] = 1;
        Nifti.Write(path, NiftiImage.Create(bytes, DType.Int16, [nx, ny, nz], eye));
    }

    /// <summary>
    /// Starts the CLI with its output going to files, waits until its stdout holds the "converting" progress line or a
    /// (temporary) file appears in <paramref name="outDir"/> (either way the conversion is running and the signal
    /// handler installed; in the full CI run the child's stdout was seen only after it exited), sends SIGINT, waits for
    /// the exit.
    /// </summary>
    private (int Code, string Out, string Err) RunAndInterrupt(string outDir, params string[] args)
    {
        string so = Path.Combine(_dir, "child.out"), se = Path.Combine(_dir, "child.err");
        // env resets SIGINT to its default action: a process inherits an ignored SIGINT across fork and exec, and a
        // test run started as a background job of a non-interactive shell (`bash .ci/run &`, nohup) has it ignored, so
        // the child would ignore the signal as any Unix program must (that was why these tests failed in such runs).
        // sh then execs dotnet (same pid) with stdout/stderr on files, which the test polls.
        var psi = new ProcessStartInfo("/usr/bin/env") { UseShellExecute = false };
        foreach (string a in (string[])["--default-signal=INT", "/bin/sh", "-c", "exec \"$0\" \"$@\" > \"$MLA_OUT\" 2> \"$MLA_ERR\"", "dotnet", CliDll, .. args])
            psi.ArgumentList.Add(a);
        psi.Environment["MLA_OUT"] = so;
        psi.Environment["MLA_ERR"] = se;
        using var p = Process.Start(psi)!;
        string Read(string f)
        {
            using var fs = new FileStream(f, FileMode.OpenOrCreate, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            return new StreamReader(fs).ReadToEnd();
        }

        var sw = Stopwatch.StartNew();
        while (!Read(so).Split('\n').Any(l => l.StartsWith("converting ", StringComparison.Ordinal))
            && !(Directory.Exists(outDir) && Directory.EnumerateFiles(outDir, "*", SearchOption.AllDirectories).Any()))
        {
            Assert.False(p.HasExited, $"the command ended before it printed a progress line: {Read(so)}\n{Read(se)}");
            Assert.True(sw.Elapsed < TimeSpan.FromMinutes(2), "no progress line after 2 minutes");
            Thread.Sleep(2);
        }

        Assert.True(Kill(p.Id, SigInt) == 0, $"kill({p.Id}, SIGINT) failed");
        p.WaitForExit();
        string o = Read(so), e = Read(se);
        File.Delete(so);
        File.Delete(se);
        output.WriteLine($"exit {p.ExitCode}, signal sent {sw.ElapsedMilliseconds} ms after start\n--- stdout\n{o}\n--- stderr\n{e}");
        return (p.ExitCode, o, e);
    }

    // The signal goes out once the progress line is seen; should a fast machine finish the work before it arrives, the
    // correct outcome is a complete output and exit 0. Each attempt's outcome is checked either way, and the work
    // doubles until one attempt is interrupted mid-conversion.
    [Fact]
    public void Sigint_during_a_single_file_exits_130_and_leaves_no_output()
    {
        string outDir = Directory.CreateDirectory(Path.Combine(_dir, "single")).FullName;
        string mla = Path.Combine(outDir, "big.mla");
        foreach (int nz in (int[])[400, 800, 1600])
        {
            // random int16 compressed with ZSTD level 9 on one thread: seconds of work after the progress line
            string input = Path.Combine(_dir, "big.nii");
            WriteNoise(input, 256, 256, nz, 7);
            var r = RunAndInterrupt(outDir, "convert", input, mla, "--threads", "1", "--codec", "zstd", "--clevel", "9");
            File.Delete(input);
            if (r.Code == 0)
            {
                CompletedDespiteTheSignal(mla, nz);
                continue;
            }
            Assert.Equal(CliApp.Cancelled, r.Code);
            Assert.Contains($"cancelled; {mla} was not written", r.Err, StringComparison.Ordinal);
            AssertNoFiles(outDir);
            return;
        }
        Assert.Fail("every conversion finished before the test could send SIGINT (see the output).");
    }

    [Fact]
    public void Sigint_during_a_batch_exits_130_and_leaves_no_output()
    {
        string inDir = Directory.CreateDirectory(Path.Combine(_dir, "in")).FullName;
        string outDir = Path.Combine(_dir, "out");
        foreach (int nz in (int[])[320, 640, 1280])
        {
            for (int i = 0; i < 2; i++) WriteNoise(Path.Combine(inDir, $"noise{i}.nii"), 256, 256, nz, i + 1);
            var r = RunAndInterrupt(outDir, "convert", inDir, outDir, "--to", "mla", "--jobs", "1", "--threads", "1", "--codec", "zstd", "--clevel", "9");
            if (r.Code == 0)
            {
                for (int i = 0; i < 2; i++) CompletedDespiteTheSignal(Path.Combine(outDir, $"noise{i}.mla"), nz);
                continue;
            }
            Assert.Equal(CliApp.Cancelled, r.Code);
            Assert.Contains("cancelled: 0 of 2 converted before the interrupt", r.Out, StringComparison.Ordinal);
            Assert.Contains("mlarray: cancelled.", r.Err, StringComparison.Ordinal);
            AssertNoFiles(outDir);
            return;
        }
        Assert.Fail("every batch finished before the test could send SIGINT (see the output).");
    }

    // A conversion that ended before the signal arrived must have written its whole output; removed for the next attempt.
    private static void CompletedDespiteTheSignal(string mla, int nz)
    {
        using (var f = MLArrayFile.Open(mla))
            Assert.Equal([nz, 256L, 256L], f.Shape);
        File.Delete(mla);
    }
}

/// <summary>Runs <see cref="ConvertCancelTests"/> without other test classes in parallel.</summary>
[CollectionDefinition(nameof(ConvertCancelTests), DisableParallelization = true)]
public sealed class ConvertCancelCollection;
