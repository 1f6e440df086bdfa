namespace MLArray.Conversion;

/// <summary>The medical formats <see cref="MedicalConverter"/> reads and writes.</summary>
public enum MedicalFormat
{
    /// <summary>Not a medical format (e.g. <c>.mla</c>, <c>.npy</c>).</summary>
    None,
    /// <summary>NIfTI-1/2: <c>.nii</c>, <c>.nii.gz</c>, <c>.hdr</c>/<c>.img</c> (optionally gzipped).</summary>
    Nifti,
    /// <summary>NRRD: <c>.nrrd</c> or a detached <c>.nhdr</c>.</summary>
    Nrrd,
}

/// <summary>
/// The one table of file formats the converter knows, by file name: every place that maps a name to a format, strips a
/// format's extension or turns a <c>--to</c> name into an extension uses it.
/// </summary>
internal static class MedicalFormats
{
    /// <summary>One output target: its <c>--to</c> name(s), the extension it writes and its format.</summary>
    private sealed record Target(string Extension, MedicalFormat Format, params string[] Names);

    // Longest extensions first: ".nii.gz" must win over ".gz"-less ".nii" matching and over the plain name.
    private static readonly (string Extension, MedicalFormat Format)[] ExtensionTable =
    [
        (".nii.gz", MedicalFormat.Nifti), (".hdr.gz", MedicalFormat.Nifti), (".img.gz", MedicalFormat.Nifti),
        (".nii", MedicalFormat.Nifti), (".hdr", MedicalFormat.Nifti), (".img", MedicalFormat.Nifti),
        (".nrrd", MedicalFormat.Nrrd), (".nhdr", MedicalFormat.Nrrd),
        (".mla", MedicalFormat.None), (".b2nd", MedicalFormat.None), (".npy", MedicalFormat.None),
    ];

    private static readonly Target[] Targets =
    [
        new(".mla", MedicalFormat.None, "mla"),
        new(".nii.gz", MedicalFormat.Nifti, "nii.gz", "niigz"),
        new(".nii", MedicalFormat.Nifti, "nii"),
        new(".hdr", MedicalFormat.Nifti, "hdr", "img"),
        new(".hdr.gz", MedicalFormat.Nifti, "hdr.gz", "img.gz"),
        new(".nrrd", MedicalFormat.Nrrd, "nrrd"),
        new(".nhdr", MedicalFormat.Nrrd, "nhdr"),
    ];

    /// <summary>The names <see cref="TargetExtension"/> accepts, in the order help screens list them.</summary>
    public static IReadOnlyList<string> TargetNames { get; } = Targets.Select(t => t.Names[0]).ToArray();

    /// <summary>
    /// The file extensions (lower case, with the dot) of a format, in the order help screens list them:
    /// <see cref="MedicalFormat.Nifti"/> <c>.nii.gz .hdr.gz .img.gz .nii .hdr .img</c>, <see cref="MedicalFormat.Nrrd"/>
    /// <c>.nrrd .nhdr</c>, <see cref="MedicalFormat.None"/> the array formats <c>.mla .b2nd .npy</c>.
    /// </summary>
    /// <param name="format">The format.</param>
    public static IReadOnlyList<string> Extensions(MedicalFormat format) =>
        Array.FindAll(ExtensionTable, e => e.Format == format).Select(e => e.Extension).ToArray();

    /// <summary>The medical format of a path, from its name (case-insensitive); <see cref="MedicalFormat.None"/> otherwise.</summary>
    /// <param name="path">A file name or path.</param>
    public static MedicalFormat FormatOf(string path) =>
        Match(path) is { } e ? e.Format : MedicalFormat.None;

    /// <summary>True for the names of files <c>convert</c> reads or writes: NIfTI, NRRD, <c>.mla</c>, <c>.b2nd</c>, <c>.npy</c>.</summary>
    /// <param name="path">A file name or path.</param>
    public static bool IsKnown(string path) => Match(path) is not null;

    /// <summary>
    /// True for a file that a batch converts on its own: NIfTI (<c>.nii</c>, <c>.nii.gz</c>, the <c>.hdr</c> of a pair),
    /// NRRD (<c>.nrrd</c>, <c>.nhdr</c>) and <c>.mla</c>; not the <c>.img</c> of a pair (read through its <c>.hdr</c>).
    /// </summary>
    /// <param name="path">A file name or path.</param>
    public static bool IsBatchInput(string path) =>
        Match(path) is { } e && e.Extension is not (".img" or ".img.gz" or ".b2nd" or ".npy");

    /// <summary>
    /// The file name without its format extension (<c>ct.nii.gz</c> → <c>ct</c>, <c>x.nhdr</c> → <c>x</c>); names of
    /// other formats lose their last extension.
    /// </summary>
    /// <param name="fileName">A file name.</param>
    public static string StripExtension(string fileName)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        return Match(fileName) is { } e ? fileName[..^e.Extension.Length] : Path.GetFileNameWithoutExtension(fileName);
    }

    /// <summary>The format extension of a file name (lower case, with the dot), or the empty string.</summary>
    /// <param name="fileName">A file name.</param>
    public static string ExtensionOf(string fileName) => Match(fileName)?.Extension ?? "";

    /// <summary>The extension written for a <c>--to</c> target name (<c>mla</c>, <c>nii.gz</c>, <c>nii</c>, <c>hdr</c>, <c>hdr.gz</c>, <c>nrrd</c>, <c>nhdr</c>; a leading dot is ignored).</summary>
    /// <param name="target">The target name.</param>
    /// <exception cref="ArgumentException">The name is not one of <see cref="TargetNames"/>.</exception>
    public static string TargetExtension(string target)
    {
        ArgumentNullException.ThrowIfNull(target);
        string t = target.TrimStart('.').ToLowerInvariant();
        return Targets.FirstOrDefault(x => x.Names.Contains(t, StringComparer.Ordinal))?.Extension
            ?? throw new ArgumentException($"unknown target format '{target}'; use {string.Join(", ", TargetNames)}.", nameof(target));
    }

    /// <summary>
    /// For the name of one file of a NIfTI header/image pair (<c>.hdr</c>, <c>.img</c>, <c>.hdr.gz</c>, <c>.img.gz</c>):
    /// the path without that extension and whether it is gzipped; null for any other name.
    /// </summary>
    /// <param name="path">A file name or path.</param>
    internal static (string Stem, bool Gzip)? NiftiPair(string path) =>
        Match(path) is { Extension: ".hdr" or ".img" or ".hdr.gz" or ".img.gz" } e
            ? (path[..^e.Extension.Length], e.Extension.EndsWith(".gz", StringComparison.Ordinal))
            : null;

    /// <summary>
    /// Every file a conversion to <paramref name="output"/> writes: the file itself, plus the image of a NIfTI pair
    /// (<c>x.hdr</c> → <c>x.img</c>, <c>x.hdr.gz</c> → <c>x.img.gz</c>) or the data file of a detached NRRD
    /// (<c>x.nhdr</c> → <c>x.raw.gz</c>, as the exporter writes it).
    /// </summary>
    /// <param name="output">The output path.</param>
    internal static IReadOnlyList<string> WrittenFiles(string output)
    {
        if (NiftiPair(output) is { } pair)
            return [pair.Stem + (pair.Gzip ? ".hdr.gz" : ".hdr"), pair.Stem + (pair.Gzip ? ".img.gz" : ".img")];
        if (IsDetachedNrrd(output))
            return [output, output[..^".nhdr".Length] + ".raw.gz"];
        return [output];
    }

    /// <summary>True for the name of a detached NRRD header (<c>.nhdr</c>).</summary>
    /// <param name="path">A file name or path.</param>
    internal static bool IsDetachedNrrd(string path) => Match(path) is { Extension: ".nhdr" };

    private static (string Extension, MedicalFormat Format)? Match(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        foreach (var e in ExtensionTable)
        {
            if (path.EndsWith(e.Extension, StringComparison.OrdinalIgnoreCase)) return e;
        }
        return null;
    }
}
