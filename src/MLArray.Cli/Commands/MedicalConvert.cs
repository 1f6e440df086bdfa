using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using MLArray.Blosc2;
using MLArray.Conversion;
using MLArray.Layout;
using Spectre.Console;

namespace MLArray.Cli.Commands;

/// <summary>
/// <c>mlarray convert</c> for medical formats: NIfTI/NRRD → .mla and .mla → NIfTI/NRRD, one file
/// (<c>convert IN OUT</c>) or a batch (<c>convert IN… OUTDIR --to mla|nii.gz|nrrd</c>, inputs may be folders or globs),
/// converted in parallel (<c>--jobs</c>) with live progress on a terminal and plain lines when redirected.
/// </summary>
internal static class MedicalConvert
{
    /// <summary>True when <c>convert</c> arguments are for this command (a medical file, a folder, a glob or <c>--to</c>).</summary>
    public static bool Wants(string[] args)
    {
        if (args.Length == 0 || args[0] != "convert") return false;
        foreach (string a in args.Skip(1))
        {
            if (a == "--to" || a.StartsWith("--to=", StringComparison.Ordinal) || a == "--jobs" || a == "--raw" || a == "--canonical") return true;
            if (a.StartsWith('-')) continue;
            if (MedicalConverter.FormatOf(a) != MedicalFormat.None || a.Contains('*', StringComparison.Ordinal) || Directory.Exists(a)) return true;
        }

        return false;
    }

    /// <summary>Exit code after Ctrl+C (128 + SIGINT, as shells report it).</summary>
    public const int Cancelled = 130;

    /// <summary>
    /// Runs the command. When it writes to the real console, Ctrl+C (SIGINT) and SIGTERM cancel it cleanly: running
    /// conversions stop, their temporary files are deleted, finished outputs stay, exit code <see cref="Cancelled"/>.
    /// </summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (!ReferenceEquals(stdout, Console.Out))
            return Run(args, stdout, stderr, CancellationToken.None);
        var cts = new CancellationTokenSource();
        void OnSignal(PosixSignalContext c)
        {
            // First signal: keep the process alive until the conversions have cleaned up. A second one terminates.
            if (cts.IsCancellationRequested) return;
            c.Cancel = true;
            stderr.WriteLine("mlarray: cancelling (press Ctrl+C again to terminate at once) ...");
            cts.Cancel();
        }

        // Kept until the process exits: a signal that arrives after the work is done must not kill a finishing process.
        _signals = [PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal), PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal)];
        return Run(args, stdout, stderr, cts.Token);
    }

    private static PosixSignalRegistration[]? _signals;

    /// <summary>Runs the command with an external cancellation token (tests; <see cref="Run(string[], TextWriter, TextWriter)"/> wires Ctrl+C to it).</summary>
    internal static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var paths = new Argument<string[]>("paths") { Description = "IN OUT, or IN… OUTDIR (inputs may be folders or globs) with --to.", Arity = ArgumentArity.OneOrMore };
        var to = new Option<string?>("--to") { Description = "Batch output format: mla, nii.gz, nii, hdr (.hdr/.img pair), hdr.gz, nrrd or nhdr (+ .raw.gz)." };
        var jobs = new Option<int>("--jobs", "-j") { Description = "Files converted in parallel (default: cores / 2, at least 1).", DefaultValueFactory = _ => Math.Max(1, Environment.ProcessorCount / 2) };
        var raw = new Option<bool>("--raw") { Description = "Keep the stored integers of scaled NIfTI data (the scaling stays in meta.source)." };
        var codec = new Option<string>("--codec") { Description = "Codec for .mla output (default lz4hc).", DefaultValueFactory = _ => "lz4hc" };
        var clevel = new Option<int>("--clevel") { Description = "Compression level 0-9 (default 8).", DefaultValueFactory = _ => 8 };
        var filter = new Option<string>("--filter") { Description = "Filter pipeline (default shuffle).", DefaultValueFactory = _ => "shuffle" };
        var split = new Option<string>("--split") { Description = "Split mode: auto, always, never.", DefaultValueFactory = _ => "auto" };
        var patch = new Option<string?>("--patch-size") { Description = "Patch size for the layout optimizer (default 192), e.g. 128 or 128,128,64." };
        var chunk = new Option<string?>("--chunk-size") { Description = "Chunk shape (with --block-size)." };
        var block = new Option<string?>("--block-size") { Description = "Block shape (with --chunk-size)." };
        var threads = new Option<int>("--threads") { Description = "Compression threads per file (0 = all cores).", DefaultValueFactory = _ => 0 };
        var canonical = new Option<string?>("--canonical") { Description = "ras: reorient to the closest RAS+ orientation, XYZ order, affine stored, coord_system RAS+ (the reference's later layout)." };
        var cmd = new Command("convert", "Convert NIfTI/NRRD ↔ .mla, one file or a batch.")
        {
            paths, to, jobs, raw, codec, clevel, filter, split, patch, chunk, block, threads, canonical,
        };
        cmd.SetAction(pr => CliApp.Guard(stderr, () =>
        {
            string[] ps = pr.GetValue(paths)!;
            if (ps.Length < 2) throw new ArgumentException("convert needs an input and an output.");
            string? toFmt = pr.GetValue(to);
            string outArg = ps[^1];
            bool batch = toFmt is not null || ps.Length > 2 || Directory.Exists(ps[0]) || ps[0].Contains('*', StringComparison.Ordinal);
            var jobsList = new List<(string In, string Out)>();
            if (!batch)
            {
                jobsList.Add((ps[0], outArg));
            }
            else
            {
                string ext = MedicalFormats.TargetExtension(toFmt ?? throw new ArgumentException($"batch conversion needs --to {string.Join("|", MedicalFormats.TargetNames)}."));
                Directory.CreateDirectory(outArg);
                foreach (string input in ps[..^1].SelectMany(Expand).Distinct(StringComparer.Ordinal))
                    jobsList.Add((input, Path.Combine(outArg, StripExt(Path.GetFileName(input)) + ext)));
                if (jobsList.Count == 0) throw new ArgumentException("no input files found.");
            }

            var compression = new CompressionParams
            {
                Codec = ConvertCommand.ParseCodec(pr.GetValue(codec)!),
                CLevel = pr.GetValue(clevel),
                SplitMode = ConvertCommand.ParseSplit(pr.GetValue(split)!),
                Threads = pr.GetValue(threads),
            };
            string filterSpec = pr.GetValue(filter)!;
            string? patchSpec = pr.GetValue(patch), chunkSpec = pr.GetValue(chunk), blockSpec = pr.GetValue(block);
            bool rawValues = pr.GetValue(raw);
            string? canon = pr.GetValue(canonical);
            if (canon is not null && !canon.Equals("ras", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"--canonical '{canon}' is not supported; use --canonical ras.");
            if ((chunkSpec is null) != (blockSpec is null)) throw new ArgumentException("--chunk-size and --block-size must be given together.");

            void ConvertOne(string input, string output)
            {
                ct.ThrowIfCancellationRequested();
                var inFmt = MedicalConverter.FormatOf(input);
                var outFmt = MedicalConverter.FormatOf(output);
                bool outMla = output.EndsWith(".mla", StringComparison.OrdinalIgnoreCase);
                bool inMla = input.EndsWith(".mla", StringComparison.OrdinalIgnoreCase);
                if (inFmt != MedicalFormat.None && outMla)
                {
                    var opts = new MedicalToMLArrayOptions
                    {
                        Raw = rawValues,
                        CanonicalRas = canon is not null,
                        Configure = (dtype, shape) =>
                        {
                            var (filters, fmeta) = ConvertCommand.ParseFilters(filterSpec, dtype);
                            var comp = compression with { Filters = filters, FiltersMeta = fmeta };
                            comp.Validate();
                            LayoutOptions? layout = chunkSpec is not null
                                ? LayoutOptions.Manual(ConvertCommand.ParseShape(chunkSpec, shape.Length, "--chunk-size")!, ConvertCommand.ParseShape(blockSpec, shape.Length, "--block-size")!)
                                : patchSpec is not null ? LayoutOptions.Patch(ParseInts(patchSpec, "--patch-size")) : null;
                            return (layout, comp);
                        },
                    };
                    MedicalConverter.ToMLArray(input, output, opts, ct);
                }
                else if (inMla && outFmt != MedicalFormat.None)
                {
                    MedicalConverter.FromMLArray(input, output, ct);
                }
                else
                {
                    throw new ArgumentException($"cannot convert '{Path.GetFileName(input)}' to '{Path.GetFileName(output)}': supported are NIfTI/NRRD → .mla and .mla → NIfTI (.nii, .nii.gz, .hdr/.img)/NRRD (.nrrd, .nhdr).");
                }
            }

            if (!batch)
            {
                try
                {
                    ConvertOne(jobsList[0].In, jobsList[0].Out);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    stderr.WriteLine($"mlarray: cancelled; {jobsList[0].Out} was not written.");
                    return Cancelled;
                }

                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {jobsList[0].Out}: {new FileInfo(jobsList[0].Out).Length} bytes"));
                return CliApp.Ok;
            }

            return RunBatch(jobsList, Math.Max(1, pr.GetValue(jobs)), ConvertOne, stdout, stderr, ct);
        }));
        var root = new RootCommand("mlarray") { cmd };
        return root.Parse(args).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
    }

    private sealed record Result(string In, string Out, bool Ok, string Message, long InBytes, TimeSpan Time);

    private static int RunBatch(List<(string In, string Out)> files, int jobs, Action<string, string> convert, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var results = new ConcurrentDictionary<int, Result>();
        bool live = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        long totalBytes = files.Sum(f => SizeOf(f.In));
        var sw = Stopwatch.StartNew();
        int done = 0;

        Result Do(int i)
        {
            var (input, output) = files[i];
            var t = Stopwatch.StartNew();
            long size = SizeOf(input);
            try
            {
                convert(input, output);
                return new Result(input, output, true, "ok", size, t.Elapsed);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return new Result(input, output, false, Interrupted, size, t.Elapsed);
            }
            catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException or NotSupportedException or InvalidOperationException or OutOfMemoryException)
            {
                return new Result(input, output, false, e.Message, size, t.Elapsed);
            }
        }

        var po = new ParallelOptions { MaxDegreeOfParallelism = jobs, CancellationToken = ct };
        try
        {
            Convert();
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Parallel.For stops handing out files; the ones running have stopped and cleaned up.
        }

        if (ct.IsCancellationRequested)
        {
            int finished = results.Values.Count(r => r.Ok);
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"cancelled: {finished} of {files.Count} converted before the interrupt; unfinished outputs were not written (no partial or temporary files left)."));
            stderr.WriteLine("mlarray: cancelled.");
            return Cancelled;
        }

        return Summarise(files, results, live, totalBytes, sw, stdout, stderr);

        void Convert()
        {
            if (live)
            {
                AnsiConsole.Progress()
                    .AutoClear(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask($"converting {files.Count} files", maxValue: Math.Max(1, totalBytes));
                        Parallel.For(0, files.Count, po, i =>
                        {
                            var r = Do(i);
                            results[i] = r;
                            task.Increment(Math.Max(0, r.InBytes));
                            Interlocked.Increment(ref done);
                        });
                    });
            }
            else
            {
                var gate = new object();
                Parallel.For(0, files.Count, po, i =>
                {
                    var r = Do(i);
                    results[i] = r;
                    int n = Interlocked.Increment(ref done);
                    lock (gate)
                        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"[{n}/{files.Count}] {(r.Ok ? "ok    " : ReferenceEquals(r.Message, Interrupted) ? "CANCELLED" : "FAILED")} {r.In} -> {r.Out} ({r.Time.TotalSeconds:0.00} s){(r.Ok ? "" : ": " + r.Message)}"));
                });
            }
        }
    }

    private const string Interrupted = "cancelled";

    private static int Summarise(List<(string In, string Out)> files, ConcurrentDictionary<int, Result> results, bool live, long totalBytes, Stopwatch sw, TextWriter stdout, TextWriter stderr)
    {
        // summary table
        var table = new Table().AddColumns("input", "output", "status", "time (s)");
        foreach (var r in results.OrderBy(k => k.Key).Select(k => k.Value))
            table.AddRow(Markup.Escape(r.In), Markup.Escape(r.Out), r.Ok ? "ok" : Markup.Escape("FAILED: " + r.Message), r.Time.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture));
        var console = live ? AnsiConsole.Console : AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No,
        });
        console.Write(table);
        int failed = results.Values.Count(r => !r.Ok);
        string summary = string.Create(CultureInfo.InvariantCulture,
            $"{files.Count - failed} of {files.Count} converted, {failed} failed, {sw.Elapsed.TotalSeconds:0.0} s, {totalBytes / 1e6 / Math.Max(1e-9, sw.Elapsed.TotalSeconds):0.0} MB/s");
        stdout.WriteLine(summary);
        foreach (var r in results.Values.Where(r => !r.Ok))
            stderr.WriteLine($"mlarray: {r.In}: {r.Message}");
        return failed > 0 ? CliApp.InvalidInput : CliApp.Ok;
    }

    private static long SizeOf(string path)
    {
        try
        {
            return new FileInfo(path).Length;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private static IEnumerable<string> Expand(string arg)
    {
        if (Directory.Exists(arg))
            return Directory.EnumerateFiles(arg).Where(IsConvertible).Order(StringComparer.Ordinal);
        if (arg.Contains('*', StringComparison.Ordinal) || arg.Contains('?', StringComparison.Ordinal))
        {
            string dir = Path.GetDirectoryName(arg) is { Length: > 0 } d ? d : ".";
            return Directory.Exists(dir) ? Directory.EnumerateFiles(dir, Path.GetFileName(arg)).Where(IsConvertible).Order(StringComparer.Ordinal) : [];
        }

        return [arg];
    }

    private static bool IsConvertible(string p) => MedicalFormats.IsBatchInput(p);

    private static string StripExt(string name) => MedicalFormats.StripExtension(name);

    private static int[] ParseInts(string s, string option)
    {
        var parts = s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var r = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out r[i]) || r[i] <= 0)
                throw new ArgumentException($"{option} '{s}' must be positive integers separated by commas.");
        }

        return r;
    }
}
