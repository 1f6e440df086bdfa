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

    /// <summary>Throws when <paramref name="path"/> is open for writing in this process (before replacing or truncating it).</summary>
    /// <exception cref="IOException">The file is open for writing.</exception>
    public static void ThrowIfOpen(string path)
    {
        string key = Key(path);
        lock (Writers)
        {
            if (Writers.Contains(key))
                throw new IOException(AlreadyOpenMessage(path));
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
