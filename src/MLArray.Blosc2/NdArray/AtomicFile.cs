namespace MLArray.Blosc2;

/// <summary>
/// Atomic file replacement: content goes to a temporary file in the target's folder, is flushed to disk and renamed
/// over the target by <see cref="Commit"/>. Disposing without committing (for example after an exception) removes the
/// temporary file and leaves the target untouched.
/// </summary>
/// <example><code>
/// using var tx = AtomicFile.Begin(path);
/// Write(tx.Stream);
/// tx.Commit();
/// </code></example>
public sealed class AtomicFile : IDisposable
{
    private readonly string _target;
    private readonly string _temp;
    private FileStream? _stream;
    private bool _committed;

    private AtomicFile(string target, string temp, FileStream stream)
    {
        _target = target;
        _temp = temp;
        _stream = stream;
    }

    /// <summary>Starts replacing <paramref name="path"/>.</summary>
    /// <exception cref="DirectoryNotFoundException">The target folder does not exist.</exception>
    public static AtomicFile Begin(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException($"the folder '{dir}' does not exist; create it first.");
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
        return new AtomicFile(full, tmp, fs);
    }

    /// <summary>The stream of the temporary file (seekable, readable and writable).</summary>
    public FileStream Stream => _stream ?? throw new ObjectDisposedException(nameof(AtomicFile));

    /// <summary>The temporary file's path.</summary>
    public string TempPath => _temp;

    /// <summary>Flushes to disk and renames the temporary file over the target.</summary>
    public void Commit()
    {
        var fs = Stream;
        fs.Flush(flushToDisk: true);
        fs.Dispose();
        _stream = null;
        File.Move(_temp, _target, overwrite: true);
        _committed = true;
    }

    /// <summary>Discards the temporary file unless <see cref="Commit"/> succeeded.</summary>
    public void Dispose()
    {
        _stream?.Dispose();
        _stream = null;
        if (!_committed)
        {
            try { File.Delete(_temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
