using System.CommandLine;
using MLArray.Blosc2;
using MLArray.Metadata;
using MLArray.Metadata.Migration;
using MLArray.Metadata.Payload;

namespace MLArray.Cli.Commands;

/// <summary>
/// <c>mlarray validate FILE…</c>: checks the metadata of each file. Exit 0 when all are valid (legacy layouts count as
/// valid when they migrate cleanly), 1 when some metadata is invalid, 2 when a file is unreadable, corrupt or its
/// metadata is refused (hostile or beyond a limit).
/// </summary>
internal static class ValidateCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var files = new Argument<string[]>("files") { Description = "The .mla files to check.", Arity = ArgumentArity.OneOrMore };
        var cache = CliInput.CacheOption();
        var cmd = new Command("validate", "Check the metadata of .mla files against the current schema (exit 0 valid, 1 invalid, 2 unreadable or refused).")
        {
            files,
            cache,
        };
        cmd.SetAction(pr =>
        {
            int worst = CliApp.Ok;
            foreach (var path in pr.GetValue(files)!)
                worst = Math.Max(worst, CliApp.Guard(stderr, [path], () => ValidateOne(path, stdout, pr.GetValue(cache))));
            return worst;
        });
        return cmd;
    }

    /// <summary>Validates one file, writing its report; returns its exit code (exceptions are mapped by the caller).</summary>
    internal static int ValidateOne(string input, TextWriter stdout, string? cacheDir = null)
    {
        using var a = CliInput.OpenArray(input, cacheDir);
        string path = CliInput.Display(input); // printed: a URL without user info and query string (credentials)
        for (long c = 0; c < a.NChunks; c++)
            a.GetChunkInfo(c); // every index entry must point at a readable chunk header
        MetaReadResult? meta;
        try
        {
            meta = MLArrayMetadata.Read(a);
        }
        catch (MLArrayMetadataException e)
        {
            stdout.WriteLine($"{path}: refused: {e.Message}");
            throw;
        }
        if (meta is null)
        {
            stdout.WriteLine($"{path}: invalid");
            stdout.WriteLine($"  /  missing  the file has no \"{MLArrayMetadata.VlMetaName}\" metadata entry");
            return CliApp.InvalidInput;
        }
        var report = MLArrayMetadata.Validate(meta, a.Shape);
        string layout = MetaLayouts.Id(meta.Layout);
        if (report.IsValid)
        {
            if (meta.Layout == MetaLayout.Current)
                stdout.WriteLine($"{path}: valid (layout {layout})");
            else if (MetaLayouts.IsLegacy(meta.Layout))
                stdout.WriteLine($"{path}: valid (legacy layout {layout}, which the current Python reference cannot read; it migrates cleanly with {meta.Migration.Changes.Count} change(s): run mlarray migrate)");
            else
                stdout.WriteLine($"{path}: valid (layout {layout}; migrates cleanly with {meta.Migration.Changes.Count} change(s))");
            WriteIssues(stdout, report);
            return CliApp.Ok;
        }
        stdout.WriteLine($"{path}: invalid (layout {layout}, {report.Errors.Count()} problem(s))");
        WriteIssues(stdout, report);
        return CliApp.InvalidInput;
    }

    /// <summary>One line per issue of the generated validator: JSON pointer, code, message (warnings marked).</summary>
    internal static void WriteIssues(TextWriter stdout, ValidationReport report)
    {
        foreach (var i in report)
            stdout.WriteLine($"  {(i.Path.Length == 0 ? "/" : i.Path)}  {i.Code}  {(i.Severity == ValidationSeverity.Warning ? "warning: " : "")}{i.Message}");
    }
}
