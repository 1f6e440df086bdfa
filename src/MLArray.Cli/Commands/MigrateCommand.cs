using System.CommandLine;
using MLArray.Blosc2;
using MLArray.Metadata;
using MLArray.Metadata.Payload;

namespace MLArray.Cli.Commands;

/// <summary>
/// <c>mlarray migrate FILE… [-o OUT | --in-place] [--dry-run]</c>: rewrites the metadata entry in the current layout.
/// The work is <see cref="MetadataMigration.MigrateFile(string, string?, bool)"/>: only the <c>"mlarray"</c> vlmeta entry
/// changes; header, chunks and index are copied byte for byte, and the output is written atomically.
/// </summary>
internal static class MigrateCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr, AtomicFileSteps? steps = null)
    {
        var files = new Argument<string[]>("files") { Description = "The .mla files to migrate.", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string?>("--output", "-o") { Description = "Write the migrated file here (a directory when several files are given)." };
        var inPlace = new Option<bool>("--in-place") { Description = "Replace each file (atomically)." };
        var dryRun = new Option<bool>("--dry-run") { Description = "Only print what would change; write nothing." };
        var cmd = new Command("migrate", "Rewrite the metadata of .mla files in the current layout (array chunks are copied, not recompressed).")
        {
            files, output, inPlace, dryRun,
        };
        cmd.SetAction(pr => CliApp.Guard(stderr, () =>
        {
            var paths = pr.GetValue(files)!;
            string? outPath = pr.GetValue(output);
            bool inplace = pr.GetValue(inPlace), dry = pr.GetValue(dryRun);
            if (outPath is not null && inplace)
                throw new ArgumentException("give either -o OUT or --in-place, not both.");
            if (outPath is null && !inplace && !dry)
                throw new ArgumentException("give -o OUT, --in-place or --dry-run.");
            if (outPath is not null && paths.Length > 1 && !Directory.Exists(outPath))
                throw new ArgumentException($"-o must be an existing directory when several files are given: {outPath}");
            int worst = CliApp.Ok;
            foreach (var path in paths)
            {
                string? dest = inplace ? path
                    : outPath is null ? null
                    : Directory.Exists(outPath) ? Path.Combine(outPath, Path.GetFileName(path))
                    : outPath;
                worst = Math.Max(worst, CliApp.Guard(stderr, [path], () => MigrateOne(path, dest, dry, stdout, steps)));
            }
            return worst;
        }));
        return cmd;
    }

    /// <summary>Migrates one file through <see cref="MetadataMigration"/> and prints its report; invalid metadata is listed, one line per problem.</summary>
    internal static int MigrateOne(string path, string? destination, bool dryRun, TextWriter stdout, AtomicFileSteps? steps = null)
    {
        MetadataMigrationReport report;
        try
        {
            report = MetadataMigration.MigrateFile(path, destination, dryRun, steps);
        }
        catch (MLArrayValidationException e)
        {
            stdout.WriteLine($"{path}: not migrated: the metadata is invalid");
            ValidateCommand.WriteIssues(stdout, e.Issues);
            throw;
        }
        catch (MLArrayMetadataException e)
        {
            // the refusal's message does not name the file: with several files, this line does
            stdout.WriteLine($"{path}: not migrated: refused: {e.Message}");
            throw;
        }

        if (report.IsCurrent)
            stdout.WriteLine($"{path}: already in the current layout; nothing to change");
        else
        {
            stdout.WriteLine(report.Layout == MetaLayout.Current
                ? $"{path}: layout current, normalised to the canonical form with {report.Changes.Count} change(s):"
                : $"{path}: layout {MetaLayouts.Id(report.Layout)} -> {MetaLayouts.Id(MetaLayout.Current)}, {report.Changes.Count} change(s):");
            foreach (var c in report.Changes) stdout.WriteLine($"  - {c}");
        }

        if (dryRun)
            stdout.WriteLine("  (dry run: nothing written)");
        else if (report.Written is { } written)
            stdout.WriteLine($"  wrote {written}");
        return CliApp.Ok;
    }
}
