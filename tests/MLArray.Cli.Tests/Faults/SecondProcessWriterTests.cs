using System.Diagnostics;
using MLArray.Blosc2;

namespace MLArray.Cli.Tests.Faults;

/// <summary>
/// A file that another process holds open for writing is never replaced under it (docs/concurrency.md): the
/// replaced writer would go on writing into the old, unlinked file and every later write would be lost without a
/// word. Before the fix only a writer of this process was seen; a writer in a child process (<see cref="FaultChild"/>
/// "hold") lost its write to <c>convert --overwrite</c>, <c>MLArrayFile.Save</c> and <c>Create</c> (every whole-file
/// replace goes through <c>AtomicFile</c>, which now checks the writer lock).
/// </summary>
[Collection(nameof(KillTests))] // one child at a time: the machine has few cores
public sealed class SecondProcessWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-holder-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly long[] Shape = [3, 8, 8];

    [Fact]
    public async Task Replacing_a_file_another_process_writes_is_refused_and_the_writer_keeps_its_write()
    {
        string target = Path.Combine(_dir, "held.mla");
        var zeros = new float[3 * 8 * 8];
        using (var img = MLArrayFile.FromArray(zeros, Shape))
            img.Save(target);
        string npy = Path.Combine(_dir, "ones.npy");
        using (var ones = MLArrayFile.FromArray(Enumerable.Repeat(1f, zeros.Length).ToArray(), Shape))
            ones.Save(Path.Combine(_dir, "ones.mla"));
        Assert.Equal(0, CliApp.Run(["convert", Path.Combine(_dir, "ones.mla"), npy], TextWriter.Null, TextWriter.Null));
        byte[] before = File.ReadAllBytes(target);

        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(typeof(FaultChild).Assembly.Location);
        psi.ArgumentList.Add("hold");
        psi.ArgumentList.Add(target);
        using var child = Process.Start(psi)!;
        var childErr = child.StandardError.ReadToEndAsync();
        try
        {
            Assert.Equal("ready", child.StandardOutput.ReadLine());

            // the CLI: exit 2, one line naming the file and what to do; nothing replaced, no temporary file left
            var err = new StringWriter();
            int code = CliApp.Run(["convert", npy, target, "--overwrite"], TextWriter.Null, err);
            Assert.True(code == 2, $"convert --overwrite: exit {code}, {err}");
            string line = Assert.Single(err.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
            Assert.Equal($"mlarray: {WriterRegistry.AlreadyOpenMessage(target)}", line);
            // the library doors
            using (var img = MLArrayFile.FromArray(zeros, Shape))
                Assert.Contains("already open for writing", Assert.Throws<IOException>(() => img.Save(target)).Message, StringComparison.Ordinal);
            Assert.Throws<IOException>(() => MLArrayFile.Create(target, Shape, DType.Float32).Dispose());
            Assert.Throws<IOException>(() => B2ndArray.Open(target, B2ndOpenMode.ReadWrite).Dispose());
            Assert.Equal(before, File.ReadAllBytes(target));
            Assert.Empty(Directory.GetFiles(_dir, ".*.tmp"));
            using (var reader = MLArrayFile.Open(target)) // readers are welcome
                Assert.Equal(zeros, reader.ToArray<float>());

            child.StandardInput.WriteLine("go");
            Assert.Equal("written", child.StandardOutput.ReadLine());
            Assert.True(child.WaitForExit(60_000), "the child did not exit");
            string stderr = await childErr;
            Assert.True(child.ExitCode == 0, $"child exit {child.ExitCode}: {stderr}");
        }
        finally
        {
            if (!child.HasExited) child.Kill(entireProcessTree: true);
        }
        using (var after = MLArrayFile.Open(target))
        {
            var plane0 = after.Read<float>(NdIndex.At(0));
            Assert.All(plane0, v => Assert.Equal(-1f, v)); // the writer's write reached the file everyone opens
            Assert.All(after.Read<float>(NdIndex.Slice(1, null)), v => Assert.Equal(0f, v));
        }
        // once the writer is gone, replacing works again
        Assert.Equal(0, CliApp.Run(["convert", npy, target, "--overwrite"], TextWriter.Null, TextWriter.Null));
        using (var replaced = MLArrayFile.Open(target))
            Assert.All(replaced.ToArray<float>(), v => Assert.Equal(1f, v));
    }
}
