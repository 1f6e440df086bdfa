using MLArray.Blosc2;

namespace MLArray;

/// <summary>
/// The Python reference's open/create argument rules (mlarray-spec §3.2), mapped to <see cref="B2ndOpenMode"/>.
/// Messages keep the reference's wording; the exception types are the .NET ones
/// (<see cref="ArgumentException"/> for bad arguments, <see cref="FileNotFoundException"/> for a missing file).
/// </summary>
internal static class OpenModes
{
    /// <summary>The file suffix MLArray requires (case-sensitive, as in the reference).</summary>
    public const string Suffix = ".mla";

    /// <summary>
    /// Checks <c>MLArray.open(path, mode, mmap_mode)</c> arguments in the reference's order and returns how to open the
    /// file: <c>mmap_mode</c> 'r' → read-only, 'r+' → read/write, 'c' → copy-on-write; without <c>mmap_mode</c>,
    /// <c>mode</c> 'r' → read-only and 'a' → read/write.
    /// </summary>
    public static B2ndOpenMode ResolveOpen(string path, string mode = "r", string? mmapMode = "r")
    {
        CheckSuffix(path);
        ThrowIfMissing(path);
        if (mode is not ("r" or "a"))
            throw new ArgumentException("mode must be one of the following: 'r', 'a'", nameof(mode));
        return mmapMode switch
        {
            "r" => B2ndOpenMode.Read,
            "r+" => B2ndOpenMode.ReadWrite,
            "c" => B2ndOpenMode.CopyOnWrite,
            null => mode == "a" ? B2ndOpenMode.ReadWrite : B2ndOpenMode.Read,
            _ => throw new ArgumentException("mmap_mode must be one of the following: 'r', 'r+', 'c', None", nameof(mmapMode)),
        };
    }

    /// <summary>Checks <c>MLArray.create(path, ..., mode, mmap_mode)</c> arguments in the reference's order.</summary>
    public static void ValidateCreate(string path, string mode = "w", string? mmapMode = "w+")
    {
        CheckSuffix(path);
        if (mode != "w")
            throw new ArgumentException("mode must be 'w'.", nameof(mode));
        if (mmapMode is not ("w+" or null))
            throw new ArgumentException("mmap_mode must be one of the following: 'w+', None", nameof(mmapMode));
    }

    /// <summary>The reference's "No MLArray file exists" for a missing file; a folder is named as such.</summary>
    /// <exception cref="FileNotFoundException">Nothing exists under <paramref name="path"/>.</exception>
    /// <exception cref="IOException"><paramref name="path"/> is a folder.</exception>
    public static void ThrowIfMissing(string path)
    {
        if (File.Exists(path))
            return;
        B2ndArray.ThrowIfFolder(path);
        throw new FileNotFoundException($"No MLArray file exists under {path}.", path);
    }

    /// <summary>Checks the <c>.mla</c> suffix (load, save, open, create).</summary>
    public static void CheckSuffix(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!path.EndsWith(Suffix, StringComparison.Ordinal))
            throw new ArgumentException("MLArray requires '.mla' as extension.", nameof(path));
    }
}
