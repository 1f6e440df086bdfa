using System.CommandLine;
using System.CommandLine.Help;
using System.Runtime.InteropServices;
using MLArray.Blosc2;
using MLArray.Cli.Commands;

namespace MLArray.Cli;

/// <summary>
/// Entry point of the mlarray command, callable from tests with redirected output. The commands parse arguments, call
/// the library and print; <see cref="Guard(TextWriter, Func{int})"/> maps the library's exceptions to exit codes (docs/errors.md).
/// </summary>
internal static class CliApp
{
    /// <summary>Exit code: success.</summary>
    public const int Ok = 0;
    /// <summary>Exit code: invalid input or usage, or invalid metadata.</summary>
    public const int InvalidInput = 1;
    /// <summary>Exit code: unreadable or corrupt file, unsupported feature, refused metadata.</summary>
    public const int Unreadable = 2;
    /// <summary>Exit code after Ctrl+C or SIGTERM (128 + SIGINT, as shells report it).</summary>
    public const int Cancelled = 130;

    /// <summary>The command name shown in every help screen and usage line.</summary>
    public const string Name = "mlarray";

    /// <summary>
    /// Runs the command line. When it writes to the real console (the installed tool), Ctrl+C (SIGINT) and SIGTERM
    /// cancel it cleanly: running conversions stop, their temporary files are deleted, finished outputs stay, exit
    /// code <see cref="Cancelled"/>.
    /// </summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (!ReferenceEquals(stdout, Console.Out))
            return Run(args, stdout, stderr, null, CancellationToken.None);
        using var cts = new CancellationTokenSource();
        void OnSignal(PosixSignalContext c)
        {
            // First signal: keep the process alive until the work has cleaned up. A second one terminates.
            if (cts.IsCancellationRequested) return;
            c.Cancel = true;
            stderr.WriteLine("mlarray: cancelling (press Ctrl+C again to terminate at once) ...");
            cts.Cancel();
        }

        // Kept until the process exits: a signal that arrives after the work is done must not kill a finishing process.
        _signals = [PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal), PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal)];
        return Run(args, stdout, stderr, null, cts.Token);
    }

    private static PosixSignalRegistration[]? _signals;

    /// <summary>
    /// <see cref="Run(string[], TextWriter, TextWriter)"/> with every output file of convert, migrate and preview written
    /// through <paramref name="steps"/> (fault-injection tests; null for the real file system) and an external
    /// cancellation token (tests; the console entry wires Ctrl+C to it).
    /// </summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, AtomicFileSteps? steps, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        if (TrainingCommands.WantsBenchLoader(args))
            return TrainingCommands.RunBenchLoader(args, stdout, stderr);
        Command root = BuildRoot(args, stdout, stderr, steps, cancellationToken, onlyInvoked: true);
        return root.Parse(args).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
    }

    /// <summary>
    /// The command tree. With <paramref name="onlyInvoked"/>, when the first argument names a command, only that command
    /// is built (its parsing, help and errors are the same: a subcommand's help and usage do not list its siblings), so
    /// the options of the other nine commands are never constructed, which shortens the start of every command (a
    /// conversion starts decoding sooner). Anything else (no arguments, --help, --version, an unknown or misspelt
    /// command, a response file) gets the whole tree.
    /// </summary>
    internal static Command BuildRoot(string[] args, TextWriter stdout, TextWriter stderr, AtomicFileSteps? steps, CancellationToken cancellationToken, bool onlyInvoked)
    {
        (string Name, Func<Command> Create)[] commands =
        [
            ("header", () => HeaderCommand.Create(stdout, stderr)),
            ("convert", () => ConvertCommand.Create(stdout, stderr, steps, cancellationToken)),
            ("validate", () => ValidateCommand.Create(stdout, stderr)),
            ("migrate", () => MigrateCommand.Create(stdout, stderr, steps)),
            ("bench", () => BenchCommand.Create(stdout, stderr)),
            ("preview", () => PreviewCommand.Create(stdout, stderr, steps)),
            ("view", () => ViewCommand.Create(stdout, stderr, cancellationToken)),
            ("index", () => TrainingCommands.CreateIndex(stdout, stderr)),
            ("sample", () => TrainingCommands.CreateSample(stdout, stderr)),
            ("predict", () => PredictCommand.Create(stdout, stderr)),
        ];
        string? invoked = onlyInvoked && args.Length > 0 && Array.Exists(commands, c => c.Name == args[0]) ? args[0] : null;
        // A plain command named "mlarray" rather than RootCommand, whose name is the executable's (MLArray.Cli).
        var root = new Command(Name, "Inspect and convert MLArray (.mla) files: Blosc2 N-dimensional arrays with standardized metadata.")
        {
            new HelpOption(),
            new VersionOption(),
        };
        foreach (var (name, create) in commands)
        {
            if (invoked is not null && name != invoked) continue;
            Command c = create();
            if (c.Name != name) throw new InvalidOperationException($"command table: '{name}' creates '{c.Name}'.");
            root.Add(c);
        }
        return root;
    }

    /// <summary>The exit code for an exception thrown by the library (docs/errors.md); null for one that is a bug.</summary>
    public static int? ExitCodeOf(Exception e) => e switch
    {
        OperationCanceledException => Cancelled,
        // Bad arguments, invalid metadata, and requests the data cannot satisfy (a write through a read-only handle).
        ArgumentException or MLArrayValidationException or InvalidOperationException or NotSupportedException => InvalidInput,
        // The MLArrayException family (corrupt, unsupported, refused metadata), missing files, file-system errors.
        IOException or UnauthorizedAccessException or OutOfMemoryException => Unreadable,
        _ => null,
    };

    /// <summary>Runs a command body and maps library exceptions to exit codes and one-sentence messages on stderr.</summary>
    public static int Guard(TextWriter stderr, Func<int> body) => Guard(stderr, [], body);

    /// <summary>
    /// <see cref="Guard(TextWriter, Func{int})"/> for work on <paramref name="files"/> (the input first): a message that
    /// names none of them gets the first one in front (<c>mlarray: FILE: message</c>), so every refusal says which
    /// file it concerns.
    /// </summary>
    public static int Guard(TextWriter stderr, IReadOnlyList<string> files, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (ExitCodeOf(e) is { } code)
        {
            stderr.WriteLine(code == Cancelled ? "mlarray: cancelled." : $"mlarray: {NamingFile(Message(e), files)}");
            return code;
        }
    }

    /// <summary><paramref name="message"/>, prefixed with the first of <paramref name="files"/> unless it names one of them (path or file name).</summary>
    internal static string NamingFile(string message, IReadOnlyList<string> files)
    {
        if (files.Count == 0) return message;
        foreach (string f in files)
        {
            string name = Path.GetFileName(CliInput.PathPart(f));
            if (message.Contains(f, StringComparison.Ordinal) || (name.Length > 0 && message.Contains(name, StringComparison.Ordinal)))
                return message;
        }
        return $"{files[0]}: {message}";
    }

    /// <summary>
    /// The one-sentence message of a library exception (invalid metadata says so). An argument exception's message
    /// without what .NET appends for programmers: " (Parameter 'options')" and, on a second line, "Actual value was 3.".
    /// </summary>
    public static string Message(Exception e) => e switch
    {
        MLArrayValidationException => $"invalid metadata: {e.Message}",
        ArgumentException a => WithoutParameter(a),
        _ => e.Message,
    };

    private static string WithoutParameter(ArgumentException a)
    {
        string m = a.Message;
        if (a is ArgumentOutOfRangeException { ActualValue: not null })
        {
            int line = m.LastIndexOf(Environment.NewLine, StringComparison.Ordinal);
            if (line >= 0) m = m[..line];
        }
        string suffix = $" (Parameter '{a.ParamName}')";
        return a.ParamName is not null && m.EndsWith(suffix, StringComparison.Ordinal) ? m[..^suffix.Length] : m;
    }
}
