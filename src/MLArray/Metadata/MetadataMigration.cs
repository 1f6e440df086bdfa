using MLArray.Blosc2;
using MLArray.Metadata.Migration;
using MLArray.Metadata.Payload;

namespace MLArray.Metadata;

/// <summary>What <see cref="MetadataMigration.MigrateFile(string, string?, bool)"/> found and did for one file.</summary>
/// <param name="Input">The file read.</param>
/// <param name="Layout">The metadata layout detected in the file.</param>
/// <param name="Changes">The changes that bring the metadata to the canonical current layout, in order; empty when it already is.</param>
/// <param name="Written">The file written, or null when nothing was written (dry run, or a file already current migrated in place).</param>
public sealed record MetadataMigrationReport(string Input, MetaLayout Layout, IReadOnlyList<string> Changes, string? Written)
{
    /// <summary>True when the file's metadata already is in the canonical current layout.</summary>
    public bool IsCurrent => Changes.Count == 0;
}

/// <summary>
/// Migrates the metadata of <c>.mla</c> files to the current layout. Only the <c>"mlarray"</c> vlmeta entry changes:
/// header, chunks and offsets index are copied byte for byte (no recompression), and the output is written atomically
/// (temporary file in the target folder, then renamed over it), so a failure leaves the target as it was.
/// </summary>
public static class MetadataMigration
{
    /// <summary>
    /// Reads <paramref name="input"/>, migrates its metadata and checks it against the schema, then writes the file with
    /// the migrated metadata to <paramref name="output"/> (which may be <paramref name="input"/> itself: in place, and
    /// then only when something changes). With <paramref name="dryRun"/> nothing is written.
    /// </summary>
    /// <param name="input">The <c>.mla</c> file to migrate.</param>
    /// <param name="output">The file to write; <paramref name="input"/> for in place; null only with <paramref name="dryRun"/>.</param>
    /// <param name="dryRun">Only report what would change.</param>
    /// <returns>The detected layout, the changes and the file written.</returns>
    /// <exception cref="ArgumentException"><paramref name="output"/> is null without <paramref name="dryRun"/>.</exception>
    /// <exception cref="FileNotFoundException"><paramref name="input"/> does not exist.</exception>
    /// <exception cref="MLArrayFormatException"><paramref name="input"/> is not a valid Blosc2 frame.</exception>
    /// <exception cref="MLArrayMetadataException">The metadata entry is refused (hostile, beyond a limit) or cannot be migrated.</exception>
    /// <exception cref="MLArrayValidationException">The file has no metadata entry, or its migrated metadata violates the schema; nothing is written.</exception>
    public static MetadataMigrationReport MigrateFile(string input, string? output, bool dryRun = false) =>
        MigrateFile(input, output, dryRun, null);

    /// <summary><see cref="MigrateFile(string, string?, bool)"/> with the output written through <paramref name="steps"/> (fault injection).</summary>
    internal static MetadataMigrationReport MigrateFile(string input, string? output, bool dryRun, AtomicFileSteps? steps)
    {
        ArgumentException.ThrowIfNullOrEmpty(input);
        if (output is null && !dryRun)
            throw new ArgumentException("give an output path (the input itself to migrate in place) or ask for a dry run.", nameof(output));
        if (!File.Exists(input))
            throw new FileNotFoundException($"{input}: no such file.", input);
        MetaReadResult meta;
        long[] shape;
        using (var a = B2ndArray.Open(input))
        {
            meta = MLArrayMetadata.Read(a) ?? throw new MLArrayValidationException(new ValidationReport(
                [new ValidationIssue(ValidationSeverity.Error, "", "missing", $"the file has no \"{MLArrayMetadata.VlMetaName}\" metadata entry to migrate")]),
                $"{input}: ");
            shape = a.Shape;
        }

        var report = MLArrayMetadata.Validate(meta, shape);
        if (!report.IsValid)
            throw new MLArrayValidationException(report, $"{input}: the metadata (layout {MetaLayouts.Id(meta.Layout)}) is invalid and was not migrated: ");
        var changes = meta.Migration.Changes;
        bool inPlace = output is not null && Path.GetFullPath(output) == Path.GetFullPath(input);
        if (dryRun || output is null || (inPlace && changes.Count == 0))
            return new MetadataMigrationReport(input, meta.Layout, changes, null);
        var content = MLArrayMetadata.EncodeValidated(meta.Current, shape);
        B2ndFrameEditor.RewriteVlMeta(input, output, new Dictionary<string, byte[]?> { [MLArrayMetadata.VlMetaName] = content }, steps);
        return new MetadataMigrationReport(input, meta.Layout, changes, output);
    }
}
