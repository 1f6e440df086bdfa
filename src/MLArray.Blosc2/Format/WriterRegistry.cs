namespace MLArray.Blosc2;

/// <summary>
/// One writer per file inside this process. The advisory byte-range lock that refuses a second writing process is
/// per process on POSIX, so it cannot see a second writer handle in the same process; this table does, and refuses it
/// with the same message. Keys are full paths with the final symbolic link resolved (hard links to one file under two
/// names are not detected). Process-wide by nature: it is the in-process half of a file lock, not configuration.
/// </summary>
internal static class WriterRegistry
{
    private static readonly HashSet<string> Writers = new(StringComparer.Ordinal);

    /// <summary>The refusal for a second writer, in this process or another.</summary>
    internal static string AlreadyOpenMessage(string path) =>
        $"'{path}' is already open for writing (by this process or another); close that writer first (one writer at a time, any number of readers).";

    /// <summary>Registers a writer of <paramref name="path"/>; dispose the result to release it.</summary>
    /// <exception cref="IOException">The file is already open for writing in this process.</exception>
    public static IDisposable Acquire(string path)
    {
        string key = Key(path);
        lock (Writers)
        {
            if (!Writers.Add(key))
                throw new IOException(AlreadyOpenMessage(path));
        }
        return new Registration(key);
    }

    /// <summary>
    /// Throws when <paramref name="path"/> is open for writing in this process or in another one (before replacing it:
    /// a replaced file's writer would go on writing into the old, unlinked file, and its writes would be lost).
    /// </summary>
    /// <exception cref="IOException">The file is open for writing.</exception>
    public static void ThrowIfOpen(string path)
    {
        string key = Key(path);
        lock (Writers) // also keeps this process's writers from locking the file while the probe below holds it open
        {
            if (Writers.Contains(key) || LockedByAnotherProcess(path))
                throw new IOException(AlreadyOpenMessage(path));
        }
    }

    /// <summary>The byte a writer locks (advisory, far beyond any real frame, so the data stays readable).</summary>
    internal const long LockOffset = 1L << 62;

    /// <summary>
    /// True when another process holds the writer lock of <paramref name="path"/>: a shared lock on the writer's byte
    /// is refused while a writer holds its exclusive one. Only called when this process holds no writer of the file
    /// (closing the probe's handle drops this process's POSIX locks on the file). False where the lock is not
    /// enforced (macOS/iOS) and for a file that does not exist or cannot be opened (the replace reports that itself).
    /// </summary>
    private static bool LockedByAnotherProcess(string path)
    {
        if (OperatingSystem.IsMacOS() || OperatingSystem.IsIOS() || OperatingSystem.IsTvOS() || OperatingSystem.IsMacCatalyst())
            return false;
        FileStream probe;
        try
        {
            probe = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
        using (probe)
        {
            try
            {
                probe.Lock(LockOffset, 1);
            }
            catch (IOException)
            {
                return true;
            }
            try { probe.Unlock(LockOffset, 1); } catch (IOException) { }
            return false;
        }
    }

    private static string Key(string path)
    {
        string full = Path.GetFullPath(path);
        try
        {
            return new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? full;
        }
        catch (IOException)
        {
            return full; // a link loop or an unreadable link: the path itself
        }
    }

    private sealed class Registration(string key) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) != 0) return;
            lock (Writers)
                Writers.Remove(key);
        }
    }
}
