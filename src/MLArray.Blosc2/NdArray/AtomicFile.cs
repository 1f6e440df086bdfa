namespace MLArray.Blosc2;

/// <summary>
/// Atomic file replacement, the one routine every writer of a whole output file goes through (saves, conversions,
/// migrations, exports, previews): content goes to a temporary file <c>.NAME.GUID.tmp</c> in the target's folder, is
/// flushed to the storage device and renamed over the target by <see cref="Commit"/>. Disposing without committing
/// (for example after an exception) removes the temporary file and leaves the target untouched.
/// </summary>
/// <remarks>
/// Guarantee: after a failure at any step (a write, the flush or the rename throws) the target holds its old bytes
/// (or still does not exist) and the temporary file is gone. If the process is killed (or the machine loses power)
/// the target holds either its old bytes or the complete new content, never a mix; a temporary file
/// <c>.NAME.GUID.tmp</c> may then remain next to the target. The next <see cref="Begin(string)"/> of the same target
/// removes such stale temporary files of that target: those not locked by a live writer and not written to for 30
/// seconds (see docs/concurrency.md).
/// </remarks>
/// <example><code>
/// using var tx = AtomicFile.Begin(path);
/// Write(tx.Stream);
/// tx.Commit();
/// </code></example>
internal sealed class AtomicFile : IDisposable
{
    private readonly string _target;
    private readonly string _temp;
    private readonly AtomicFileSteps _steps;
    private FileStream? _file;
    private Stream? _stream;
    private bool _committed;

    private AtomicFile(string target, string temp, AtomicFileSteps steps, FileStream file, Stream stream)
    {
        _target = target;
        _temp = temp;
        _steps = steps;
        _file = file;
        _stream = stream;
    }

    /// <summary>Starts replacing <paramref name="path"/>.</summary>
    /// <exception cref="DirectoryNotFoundException">The target folder does not exist.</exception>
    public static AtomicFile Begin(string path) => Begin(path, null);

    /// <summary>Starts replacing <paramref name="path"/> with the file-system steps of <paramref name="steps"/> (tests inject failures with it).</summary>
    /// <param name="path">The target.</param>
    /// <param name="steps">File-system steps, or null for the real ones.</param>
    /// <param name="ownWriter">The caller itself holds the target open for writing (an image saved onto its own file).</param>
    /// <exception cref="IOException">The target is open for writing by another handle of this process: replacing it would cut that writer off.</exception>
    internal static AtomicFile Begin(string path, AtomicFileSteps? steps, bool ownWriter = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        steps ??= AtomicFileSteps.Default;
        string full = Path.GetFullPath(path);
        if (!ownWriter)
            WriterRegistry.ThrowIfOpen(full);
        string dir = Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException($"the folder '{dir}' does not exist; create it first.");
        if (Directory.Exists(full))
            throw new IOException($"'{full}' is a folder; give a file name to write.");
        RemoveStaleTemps(full, StaleAfter);
        string tmp = TempPathFor(full);
        FileStream fs;
        try
        {
            fs = steps.CreateTemp(tmp);
        }
        catch (UnauthorizedAccessException e)
        {
            // .NET names the temporary file, which the user never asked for: name the target and the folder.
            throw new UnauthorizedAccessException($"cannot write '{full}': no permission to create files in the folder '{dir}'; choose another output folder or make it writable (nothing was written).", e);
        }
        try
        {
            var tx = new AtomicFile(full, tmp, steps, fs, null!);
            tx._stream = new WriteErrors(steps.Wrap(fs), tx);
            return tx;
        }
        catch
        {
            fs.Dispose();
            steps.TryDelete(tmp);
            throw;
        }
    }

    /// <summary>
    /// Writes <paramref name="path"/> atomically: <paramref name="write"/> fills the stream of the temporary file, which
    /// then replaces the target. On any exception the target is untouched and the temporary file removed.
    /// </summary>
    public static void Write(string path, Action<Stream> write) => Write(path, write, null);

    /// <summary><see cref="Write(string, Action{Stream})"/> with the file-system steps of <paramref name="steps"/>.</summary>
    internal static void Write(string path, Action<Stream> write, AtomicFileSteps? steps)
    {
        ArgumentNullException.ThrowIfNull(write);
        using var tx = Begin(path, steps);
        write(tx.Stream);
        tx.Commit();
    }

    /// <summary>The name pattern of temporary files: <c>.NAME.GUID.tmp</c> in the target folder (GUID: 32 lowercase hex digits).</summary>
    internal static string TempPathFor(string fullTarget) =>
        Path.Combine(Path.GetDirectoryName(fullTarget) ?? ".", $".{Path.GetFileName(fullTarget)}.{Guid.NewGuid():N}.tmp");

    /// <summary>
    /// How long a temporary file must have gone unwritten before it counts as stale (in addition to not being locked).
    /// The grace covers the instant between a writer creating its temporary file and locking it, and the one between
    /// closing it and renaming it; a writer that is alive keeps its file locked the whole time it writes.
    /// </summary>
    internal static readonly TimeSpan StaleAfter = TimeSpan.FromSeconds(30);

    /// <summary>True when <paramref name="fileName"/> is exactly a temporary-file name of the target named <paramref name="targetName"/>.</summary>
    internal static bool IsTempNameOf(string fileName, string targetName)
    {
        // "." + target + "." + 32 lowercase hex + ".tmp"
        if (fileName.Length != targetName.Length + 38 || fileName[0] != '.'
            || !fileName.AsSpan(1, targetName.Length).SequenceEqual(targetName) || fileName[targetName.Length + 1] != '.'
            || !fileName.EndsWith(".tmp", StringComparison.Ordinal))
            return false;
        foreach (char c in fileName.AsSpan(targetName.Length + 2, 32))
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c)) return false;
        return true;
    }

    /// <summary>
    /// Removes the temporary files a killed writer of <paramref name="fullTarget"/> left behind: only names of exactly
    /// the pattern <c>.NAME.GUID.tmp</c> for this target, only when not written to for <paramref name="staleAfter"/>,
    /// and only when no live writer holds them (each writer keeps its temporary file open with an exclusive lock, so
    /// a file that can be opened exclusively belongs to nobody). Best effort: a file that cannot be checked or
    /// removed is left alone, and no failure here stops the write. Returns how many files were removed.
    /// </summary>
    internal static int RemoveStaleTemps(string fullTarget, TimeSpan staleAfter)
    {
        string dir = Path.GetDirectoryName(fullTarget) ?? ".";
        string name = Path.GetFileName(fullTarget);
        // the enumeration pattern is only a pre-filter (its wildcards cannot be escaped); IsTempNameOf decides
        string pattern = name.AsSpan().IndexOfAny("*?") >= 0 ? "*.tmp" : $".{name}.*.tmp";
        int removed = 0;
        try
        {
            foreach (string path in Directory.EnumerateFiles(dir, pattern, new EnumerationOptions { MatchType = MatchType.Simple, AttributesToSkip = 0 }))
            {
                if (!IsTempNameOf(Path.GetFileName(path), name)) continue;
                try
                {
                    if (DateTime.UtcNow - File.GetLastWriteTimeUtc(path) < staleAfter) continue;
                    // An exclusive open fails while the writer's handle (FileShare.None: an flock on Unix) is open.
                    // The file is deleted while the probe holds it, so no writer can take it over in between.
                    if (OperatingSystem.IsWindows())
                    {
                        using (File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose)) { }
                    }
                    else
                    {
                        using var probe = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
                        File.Delete(path);
                    }
                    removed++;
                }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return removed;
    }

    /// <summary>The stream of the temporary file (seekable, readable and writable), starting at position 0.</summary>
    public Stream Stream => _stream ?? throw new ObjectDisposedException(nameof(AtomicFile));

    /// <summary>The temporary file's path.</summary>
    public string TempPath => _temp;

    /// <summary>The target's full path.</summary>
    public string TargetPath => _target;

    /// <summary>Flushes to disk and renames the temporary file over the target.</summary>
    /// <exception cref="IOException">Flushing or renaming failed; the target is untouched (the temporary file is removed on <see cref="Dispose"/>).</exception>
    public void Commit()
    {
        var stream = Stream;
        var fs = _file!;
        try
        {
            if (!ReferenceEquals(stream, fs))
                stream.Flush();
            _steps.Flush(fs);
        }
        catch (IOException e) when (!ReferenceEquals(e, _writeFailure))
        {
            throw new IOException($"could not write '{_target}': flushing the new content to disk failed ({Reason(e)}); the existing file is unchanged.", e);
        }
        if (!ReferenceEquals(stream, fs))
            stream.Dispose();
        fs.Dispose();
        _stream = null;
        _file = null;
        try
        {
            _steps.Replace(_temp, _target);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"could not replace '{_target}' with the new content ({e.Message}); the existing file is unchanged. Check that it is not open in another program and that the folder is writable.", e);
        }
        _committed = true;
    }

    /// <summary>The message of a file-system error without the temporary file's name (which the user never asked for).</summary>
    private string Reason(Exception e) => e.Message.Replace($" : '{_temp}'", "", StringComparison.Ordinal).Replace(_temp, _target, StringComparison.Ordinal).TrimEnd('.');

    /// <summary>The exception <see cref="WriteErrors"/> raised for a failing write (passed on as it is, not wrapped again).</summary>
    private IOException? _writeFailure;

    /// <summary>
    /// The stream handed to writers: passes everything through, and turns a failing write or flush of the temporary
    /// file (disk full, I/O error) into an <see cref="IOException"/> that names the target and says it is unchanged.
    /// </summary>
    private sealed class WriteErrors(Stream inner, AtomicFile owner) : Stream
    {
        private IOException Failed(IOException e) => ReferenceEquals(e, owner._writeFailure) ? e : owner._writeFailure = new IOException(
            $"could not write '{owner._target}': {owner.Reason(e)}; nothing was replaced (an existing file keeps its content). Check the free space and the folder.", e);

        public override bool CanRead => inner.CanRead;
        public override bool CanSeek => inner.CanSeek;
        public override bool CanWrite => inner.CanWrite;
        public override long Length => inner.Length;
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => inner.Read(buffer);

        // A buffered file stream writes its buffer out when it seeks: that write can fail too.
        public override long Position
        {
            get => inner.Position;
            set
            {
                try { inner.Position = value; }
                catch (IOException e) { throw Failed(e); }
            }
        }

        public override long Seek(long offset, SeekOrigin origin)
        {
            try { return inner.Seek(offset, origin); }
            catch (IOException e) { throw Failed(e); }
        }

        public override void SetLength(long value)
        {
            try { inner.SetLength(value); }
            catch (IOException e) { throw Failed(e); }
        }

        public override void Flush()
        {
            try { inner.Flush(); }
            catch (IOException e) { throw Failed(e); }
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            try { inner.Write(buffer, offset, count); }
            catch (IOException e) { throw Failed(e); }
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            try { inner.Write(buffer); }
            catch (IOException e) { throw Failed(e); }
        }

        public override void WriteByte(byte value)
        {
            try { inner.WriteByte(value); }
            catch (IOException e) { throw Failed(e); }
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try { await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false); }
            catch (IOException e) { throw Failed(e); }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async Task FlushAsync(CancellationToken cancellationToken)
        {
            try { await inner.FlushAsync(cancellationToken).ConfigureAwait(false); }
            catch (IOException e) { throw Failed(e); }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                inner.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>Discards the temporary file unless <see cref="Commit"/> succeeded.</summary>
    public void Dispose()
    {
        if (_stream is not null && !ReferenceEquals(_stream, _file))
        {
            try { _stream.Dispose(); } catch (IOException) { } catch (NotSupportedException) { }
        }
        _stream = null;
        _file?.Dispose();
        _file = null;
        if (!_committed)
            _steps.TryDelete(_temp);
    }
}

/// <summary>
/// The file-system steps of <see cref="AtomicFile"/>: create the temporary file, wrap its stream, flush it, rename it
/// over the target, delete it. The default does the real thing; tests derive from it to make any step fail.
/// Instances are passed explicitly (no global state), so tests running in parallel do not see each other's faults.
/// </summary>
internal class AtomicFileSteps
{
    /// <summary>The real file system.</summary>
    public static readonly AtomicFileSteps Default = new();

    /// <summary>Creates the temporary file (it must not exist).</summary>
    public virtual FileStream CreateTemp(string tempPath) =>
        new(tempPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);

    /// <summary>The stream writers get; the default is the file stream itself.</summary>
    public virtual Stream Wrap(FileStream temp) => temp;

    /// <summary>Forces the temporary file's content to the storage device.</summary>
    public virtual void Flush(FileStream temp) => temp.Flush(flushToDisk: true);

    /// <summary>Renames the temporary file over the target (atomic on one volume).</summary>
    public virtual void Replace(string tempPath, string targetPath) => File.Move(tempPath, targetPath, overwrite: true);

    /// <summary>Deletes the temporary file, ignoring failures (best effort after an error).</summary>
    public virtual void TryDelete(string tempPath)
    {
        try { File.Delete(tempPath); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
