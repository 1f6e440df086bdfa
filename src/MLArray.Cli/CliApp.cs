using System.CommandLine;
using MLArray.Cli.Commands;

namespace MLArray.Cli;

/// <summary>Entry point of the mlarray command, callable from tests with redirected output.</summary>
internal static class CliApp
{
    /// <summary>Exit code: success.</summary>
    public const int Ok = 0;
    /// <summary>Exit code: invalid input or usage.</summary>
    public const int InvalidInput = 1;
    /// <summary>Exit code: unreadable or corrupt file.</summary>
    public const int Unreadable = 2;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => Run(args, stdout, stderr, null);

    /// <summary>
    /// <see cref="Run(string[], TextWriter, TextWriter)"/> with every output file of convert, migrate and preview written
    /// through <paramref name="steps"/> (fault-injection tests; null for the real file system).
    /// </summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, MLArray.Blosc2.AtomicFileSteps? steps)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        // --- medical conversion hook (NIfTI/NRRD, batch mode): see Commands/MedicalConvert.cs ---
        if (MedicalConvert.Wants(args))
            return MedicalConvert.Run(args, stdout, stderr);
        // --- end hook ---
        if (TrainingCommands.WantsBenchLoader(args))
            return TrainingCommands.RunBenchLoader(args, stdout, stderr);
        var root = new RootCommand("mlarray: inspect and convert MLArray (.mla) files, Blosc2 N-dimensional arrays with standardized metadata.")
        {
            HeaderCommand.Create(stdout, stderr),
            ConvertCommand.Create(stdout, stderr, steps),
            ValidateCommand.Create(stdout, stderr),
            MigrateCommand.Create(stdout, stderr, steps),
            BenchCommand.Create(stdout, stderr),
            PreviewCommand.Create(stdout, stderr, steps),
            TrainingCommands.CreateIndex(stdout, stderr),
            TrainingCommands.CreateSample(stdout, stderr),
        };
        var parse = root.Parse(args);
        return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
    }

    /// <summary>Runs a command body and maps library exceptions to exit codes and one-sentence messages on stderr.</summary>
    public static int Guard(TextWriter stderr, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"mlarray: {e.Message}");
            return InvalidInput;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // MLArrayException (corrupt or unsupported data) and file-system errors: the file cannot be used.
            stderr.WriteLine($"mlarray: {e.Message}");
            return Unreadable;
        }
    }
}
