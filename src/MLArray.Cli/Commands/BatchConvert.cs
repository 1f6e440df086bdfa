using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using MLArray.Conversion;
using Spectre.Console;

namespace MLArray.Cli.Commands;

/// <summary>
/// Batch mode of <c>mlarray convert</c> (<c>IN… OUTDIR --to FORMAT</c>): expands folders and globs, refuses output
/// names that two inputs share and existing outputs (without <c>--overwrite</c>) before converting anything, then
/// converts in parallel with live progress on a terminal and plain lines when redirected, and prints a summary.
/// The output folder may be an object-store prefix (<c>s3://bucket/prefix/</c>, <c>az://container/prefix/</c>): each
/// output is then written locally and uploaded by the conversion delegate, existing objects found by one listing.
/// </summary>
internal static class BatchConvert
{
    /// <summary>Converts one file; writes progress lines to the writer it is given.</summary>
    public delegate string ConvertOne(string input, string output, TextWriter progress);

    /// <summary>Output names compare as the file system does (case-insensitive on Windows and macOS).</summary>
    private static StringComparer PathComparer => OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;

    public static bool IsGlob(string arg) =>
        !MLArray.Remote.HttpRangeSource.IsHttpUrl(arg) // a URL's '?' starts its query string
        && (arg.Contains('*', StringComparison.Ordinal) || arg.Contains('?', StringComparison.Ordinal));

    /// <summary>
    /// The jobs of a batch: each input file (folders and globs expanded) with its output in <paramref name="outDir"/>
    /// (a local folder, or an <c>s3://bucket/prefix/</c> or <c>az://container/prefix/</c> URL: outputs named under it).
    /// </summary>
    /// <exception cref="ArgumentException">No input, no <c>--to</c>, or two inputs map to one output (all such collisions are listed).</exception>
    public static List<(string In, string Out)> Plan(IEnumerable<string> inputs, string outDir, string? toFormat)
    {
        string ext = MedicalFormats.TargetExtension(toFormat ?? throw new ArgumentException($"batch conversion needs --to {string.Join("|", MedicalFormats.TargetNames)}."));
        bool store = CliInput.IsObjectStoreUrl(outDir);
        string Output(string input)
        {
            string name = MedicalFormats.StripExtension(Path.GetFileName(input)) + ext;
            return store ? CliInput.Prefix(outDir) + name : Path.Combine(outDir, name);
        }
        var jobs = inputs.SelectMany(Expand).Distinct(StringComparer.Ordinal).Select(input => (In: input, Out: Output(input))).ToList();
        if (jobs.Count == 0) throw new ArgumentException("no input files found.");
        var collisions = jobs.GroupBy(j => store ? j.Out : Path.GetFullPath(j.Out), store ? StringComparer.Ordinal : PathComparer).Where(g => g.Count() > 1).ToList();
        if (collisions.Count > 0)
        {
            throw new ArgumentException(
                $"{collisions.Count} output name{(collisions.Count == 1 ? " is" : "s are")} shared by several inputs, so one would overwrite the other; nothing was converted: "
                + string.Join("; ", collisions.Select(g => $"{g.First().Out} <- {string.Join(", ", g.Select(j => j.In))}"))
                + ". Convert those inputs into separate folders, or rename them.");
        }

        return jobs;
    }

    /// <summary>Refuses outputs that exist unless <paramref name="overwrite"/> (all of them are listed).</summary>
    /// <exception cref="ArgumentException">An output exists and <paramref name="overwrite"/> is false.</exception>
    /// <param name="outputs">Local paths, or object-store URLs under <paramref name="storePrefix"/>.</param>
    /// <param name="overwrite">--overwrite.</param>
    /// <param name="storePrefix">The object-store prefix the outputs are under (listed once), or null for local outputs.</param>
    public static void CheckNotExisting(IReadOnlyList<string> outputs, bool overwrite, string? storePrefix = null)
    {
        if (overwrite) return;
        // A pair or a detached NRRD is two files: either one existing is a file that would be replaced.
        var listed = storePrefix is null ? null : CliInput.List(storePrefix).ToHashSet(StringComparer.Ordinal);
        var existing = outputs.SelectMany(MedicalFormats.WrittenFiles).Distinct(StringComparer.Ordinal)
            .Where(o => listed?.Contains(o) ?? (File.Exists(o) || Directory.Exists(o))).ToList();
        if (existing.Count == 1)
            throw new ArgumentException($"{existing[0]} already exists; pass --overwrite to replace it.");
        if (existing.Count > 1)
            throw new ArgumentException($"{existing.Count} output files already exist ({string.Join(", ", existing)}); pass --overwrite to replace them. Nothing was converted.");
    }

    /// <summary>Runs a batch; returns the exit code (1 when a file failed, 130 when cancelled).</summary>
    public static int Run(string[] inputs, string outDir, string? toFormat, int jobs, ConvertOne convert, bool overwrite, TextWriter stdout, TextWriter stderr, CancellationToken ct,
        Shard? shard = null)
    {
        var files = Plan(inputs, outDir, toFormat);
        if (shard is { } sh)
        {
            int all = files.Count;
            files = sh.Select(files, f => f.In);
            stdout.WriteLine($"shard {sh}: {files.Count} of {all} inputs");
            if (files.Count == 0)
                return CliApp.Ok;
        }
        bool store = CliInput.IsObjectStoreUrl(outDir);
        CheckNotExisting(files.Select(f => f.Out).ToList(), overwrite, store ? outDir : null);
        if (!store)
            Directory.CreateDirectory(outDir);
        var results = new ConcurrentDictionary<int, Result>();
        bool live = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        var output = TextWriter.Synchronized(stdout);
        TextWriter progress = live ? TextWriter.Null : output;
        long totalBytes = files.Sum(f => SizeOf(f.In));
        var sw = Stopwatch.StartNew();
        int done = 0;

        Result Do(int i)
        {
            var (input, outPath) = files[i];
            var t = Stopwatch.StartNew();
            long size = SizeOf(input);
            try
            {
                convert(input, outPath, progress);
                return new Result(input, outPath, Status.Ok, "ok", size, t.Elapsed);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return new Result(input, outPath, Status.Cancelled, "cancelled", size, t.Elapsed);
            }
            catch (Exception e) when (CliApp.ExitCodeOf(e) is not null)
            {
                return new Result(input, outPath, Status.Failed, CliApp.Message(e), size, t.Elapsed);
            }
        }

        var po = new ParallelOptions { MaxDegreeOfParallelism = jobs, CancellationToken = ct };
        try
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
                Parallel.For(0, files.Count, po, i =>
                {
                    var r = Do(i);
                    results[i] = r;
                    int n = Interlocked.Increment(ref done);
                    string status = r.Status switch { Status.Ok => "ok    ", Status.Cancelled => "CANCELLED", _ => "FAILED" };
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"[{n}/{files.Count}] {status} {r.In} -> {r.Out} ({r.Time.TotalSeconds:0.00} s){(r.Status == Status.Ok ? "" : ": " + r.Message)}"));
                });
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Parallel.For stops handing out files; the ones running have stopped and cleaned up.
        }

        if (ct.IsCancellationRequested)
        {
            int finished = results.Values.Count(r => r.Status == Status.Ok);
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"cancelled: {finished} of {files.Count} converted before the interrupt; unfinished outputs were not written (no partial or temporary files left)."));
            stderr.WriteLine("mlarray: cancelled.");
            return CliApp.Cancelled;
        }

        return Summarise(files.Count, results, live, totalBytes, sw, stdout, stderr);
    }

    private enum Status { Ok, Failed, Cancelled }

    private sealed record Result(string In, string Out, Status Status, string Message, long InBytes, TimeSpan Time);

    private static int Summarise(int count, ConcurrentDictionary<int, Result> results, bool live, long totalBytes, Stopwatch sw, TextWriter stdout, TextWriter stderr)
    {
        var table = new Table().AddColumns("input", "output", "status", "time (s)");
        foreach (var r in results.OrderBy(k => k.Key).Select(k => k.Value))
            table.AddRow(Markup.Escape(r.In), Markup.Escape(r.Out), r.Status == Status.Ok ? "ok" : Markup.Escape("FAILED: " + r.Message), r.Time.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture));
        var console = live ? AnsiConsole.Console : AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No,
        });
        console.Write(table);
        var failed = results.OrderBy(k => k.Key).Select(k => k.Value).Where(r => r.Status != Status.Ok).ToList();
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{count - failed.Count} of {count} converted, {failed.Count} failed, {sw.Elapsed.TotalSeconds:0.0} s, {totalBytes / 1e6 / Math.Max(1e-9, sw.Elapsed.TotalSeconds):0.0} MB/s"));
        foreach (var r in failed)
            stderr.WriteLine($"mlarray: {r.In}: {r.Message}");
        return failed.Count > 0 ? CliApp.InvalidInput : CliApp.Ok;
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
            return Directory.EnumerateFiles(arg).Where(MedicalFormats.IsBatchInput).Order(StringComparer.Ordinal);
        if (IsGlob(arg))
        {
            string dir = Path.GetDirectoryName(arg) is { Length: > 0 } d ? d : ".";
            return Directory.Exists(dir) ? Directory.EnumerateFiles(dir, Path.GetFileName(arg)).Where(MedicalFormats.IsBatchInput).Order(StringComparer.Ordinal) : [];
        }

        return [arg];
    }
}
