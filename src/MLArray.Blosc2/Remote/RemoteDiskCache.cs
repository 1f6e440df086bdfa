using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MLArray.Blosc2;

namespace MLArray.Remote;

/// <summary>
/// A local folder keeping the byte ranges read from remote objects, so that a second pass over the same data (the
/// next training epoch, another process) reads them from disk instead of the network. Set it in
/// <see cref="RemoteReadOptions.DiskCache"/>; one instance may serve many arrays, and processes may share the folder.
/// </summary>
/// <remarks>
/// Entries are keyed by the object's name without credentials (<see cref="IByteRangeSource.DisplayName"/>: an URL
/// without its query string, hashed) and its version tag (ETag): opening an object still costs its requests (they
/// learn the current tag), and the entries of any other version of that object are deleted then. Objects without a
/// version tag are not cached (a replaced object could not be told apart). Each entry is written to a temporary file
/// and renamed into place, so a reader (in this or another process) sees whole entries or none; an entry of the
/// wrong length is ignored. The folder is kept under <see cref="MaxBytes"/> by deleting the least recently used
/// entries (use refreshes an entry's modification time).
/// </remarks>
public sealed class RemoteDiskCache
{
    private const string EntrySuffix = ".bin";
    private const string TempPrefix = ".tmp-";
    private readonly object _sweepLock = new();
    private long _bytes = -1; // estimate of the folder's entry bytes; -1 until first counted

    /// <summary>Creates (if needed) the cache folder.</summary>
    /// <param name="directory">The folder (created if missing).</param>
    /// <param name="maxBytes">Bound on the bytes of the entries in the folder. Default 10 GiB.</param>
    /// <exception cref="ArgumentException">Empty directory or a bound below 1 MiB.</exception>
    public RemoteDiskCache(string directory, long maxBytes = 10L << 30)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (maxBytes < 1 << 20)
            throw new ArgumentException($"the disk cache bound must be at least 1 MiB (got {maxBytes} bytes).", nameof(maxBytes));
        Directory = Path.GetFullPath(directory);
        MaxBytes = maxBytes;
        System.IO.Directory.CreateDirectory(Directory);
    }

    /// <summary>The cache folder.</summary>
    public string Directory { get; }

    /// <summary>Bound on the bytes of the entries kept.</summary>
    public long MaxBytes { get; }

    /// <summary>Bytes of the entries in the folder, counted now.</summary>
    public long CountBytes() => Entries().Sum(f => f.Length);

    /// <summary>The entries of <paramref name="source"/>'s current version, or null when it has no version tag.</summary>
    internal DiskCachedObject? For(IByteRangeSource source)
    {
        if (string.IsNullOrEmpty(source.VersionTag))
            return null;
        string objectDir = Path.Combine(Directory, Hash(source.DisplayName));
        string versionDir = Path.Combine(objectDir, Hash(source.VersionTag + "|" + source.Length.ToString(CultureInfo.InvariantCulture)));
        if (System.IO.Directory.Exists(objectDir))
        {
            foreach (string other in System.IO.Directory.EnumerateDirectories(objectDir))
            {
                if (other == versionDir)
                    continue;
                try
                {
                    System.IO.Directory.Delete(other, recursive: true); // another version of the object: stale
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                }
            }
        }
        System.IO.Directory.CreateDirectory(versionDir);
        return new DiskCachedObject(this, versionDir);
    }

    private static string Hash(string s) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s)))[..32];

    private IEnumerable<FileInfo> Entries() =>
        new DirectoryInfo(Directory).EnumerateFiles("*" + EntrySuffix, SearchOption.AllDirectories);

    /// <summary>Counts a new entry; over the bound, deletes the least recently used entries down to 90 % of it.</summary>
    internal void Added(long bytes)
    {
        lock (_sweepLock)
        {
            if (_bytes < 0)
                _bytes = CountBytes();
            else
                _bytes += bytes;
            if (_bytes <= MaxBytes)
                return;
            var files = new List<FileInfo>();
            foreach (var f in new DirectoryInfo(Directory).EnumerateFiles("*", SearchOption.AllDirectories))
            {
                if (f.Name.EndsWith(EntrySuffix, StringComparison.Ordinal))
                    files.Add(f);
                else if (f.Name.StartsWith(TempPrefix, StringComparison.Ordinal) && f.LastWriteTimeUtc < DateTime.UtcNow.AddHours(-1))
                    TryDelete(f.FullName); // left by a process that died while writing
            }
            long total = files.Sum(f => f.Length);
            foreach (var f in files.OrderBy(f => f.LastWriteTimeUtc))
            {
                if (total <= MaxBytes * 9 / 10)
                    break;
                if (TryDelete(f.FullName))
                    total -= f.Length;
            }
            _bytes = total;
        }
    }

    private static bool TryDelete(string path)
    {
        try
        {
            File.Delete(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    internal static string EntryName(long offset, int length) =>
        offset.ToString(CultureInfo.InvariantCulture) + "-" + length.ToString(CultureInfo.InvariantCulture) + EntrySuffix;

    internal static bool TryParseEntryName(string name, out long offset, out int length)
    {
        offset = 0;
        length = 0;
        if (!name.EndsWith(EntrySuffix, StringComparison.Ordinal))
            return false;
        int dash = name.IndexOf('-');
        return dash > 0
            && long.TryParse(name.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out offset)
            && int.TryParse(name.AsSpan(dash + 1, name.Length - dash - 1 - EntrySuffix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out length)
            && length > 0;
    }

    internal static string TempName() => TempPrefix + Guid.NewGuid().ToString("N");
}

/// <summary>
/// The cached ranges of one version of one object: an in-memory list of the entries (loaded from the folder when
/// opened, extended by this process's writes); a read is served from disk when entries cover it entirely.
/// </summary>
internal sealed class DiskCachedObject
{
    private readonly RemoteDiskCache _cache;
    private readonly string _dir;
    private readonly object _lock = new();
    private readonly SortedList<long, int> _entries = []; // offset → longest entry length at that offset

    public DiskCachedObject(RemoteDiskCache cache, string dir)
    {
        _cache = cache;
        _dir = dir;
        foreach (string file in System.IO.Directory.EnumerateFiles(dir))
            if (RemoteDiskCache.TryParseEntryName(Path.GetFileName(file), out long offset, out int length))
                Remember(offset, length);
    }

    private void Remember(long offset, int length)
    {
        lock (_lock)
            if (!_entries.TryGetValue(offset, out int old) || old < length)
                _entries[offset] = length;
    }

    /// <summary>Fills <paramref name="destination"/> from entries covering [offset, offset + length); false when they do not (nothing is fetched).</summary>
    public bool TryRead(long offset, Span<byte> destination)
    {
        var pieces = new List<(long Offset, int Length)>();
        lock (_lock)
        {
            long pos = offset, end = offset + destination.Length;
            var keys = _entries.Keys;
            while (pos < end)
            {
                // The entries starting at or before pos (a few back: ranges rarely overlap) that reach furthest past it.
                int i = LastAtOrBefore(keys, pos);
                (long Offset, int Length) best = (-1, 0);
                for (int j = i; j >= 0 && j > i - 16; j--)
                {
                    long o = keys[j];
                    int l = _entries.GetValueAtIndex(j);
                    if (o + l > pos && (best.Offset < 0 || o + l > best.Offset + best.Length))
                        best = (o, l);
                }
                if (best.Offset < 0)
                    return false;
                pieces.Add(best);
                pos = best.Offset + best.Length;
            }
        }
        foreach (var (o, l) in pieces)
        {
            string path = Path.Combine(_dir, RemoteDiskCache.EntryName(o, l));
            try
            {
                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                if (RandomAccess.GetLength(handle) != l)
                    return Forget(o, l);
                long from = Math.Max(o, offset), to = Math.Min(o + l, offset + destination.Length);
                var part = destination.Slice((int)(from - offset), (int)(to - from));
                if (RandomAccess.Read(handle, part, from - o) != part.Length)
                    return Forget(o, l);
                Touch(handle);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return Forget(o, l); // evicted (maybe by another process), or unreadable: fetched again
            }
        }
        return true;
    }

    /// <summary>Marks an entry recently used (its modification time orders the eviction).</summary>
    private static void Touch(Microsoft.Win32.SafeHandles.SafeFileHandle handle)
    {
        try
        {
            File.SetLastWriteTimeUtc(handle, DateTime.UtcNow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static int LastAtOrBefore(IList<long> keys, long pos)
    {
        int lo = 0, hi = keys.Count - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (keys[mid] <= pos)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return found;
    }

    private bool Forget(long offset, int length)
    {
        lock (_lock)
            if (_entries.TryGetValue(offset, out int l) && l == length)
                _entries.Remove(offset);
        return false;
    }

    /// <summary>Stores the bytes fetched at <paramref name="offset"/> as an entry (written aside, then renamed into place).</summary>
    public void Store(long offset, ReadOnlySpan<byte> data)
    {
        if (data.Length == 0)
            return;
        string temp = Path.Combine(_dir, RemoteDiskCache.TempName());
        try
        {
            System.IO.Directory.CreateDirectory(_dir); // the version folder may have been removed by another process
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
                stream.Write(data);
            File.Move(temp, Path.Combine(_dir, RemoteDiskCache.EntryName(offset, data.Length)), overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try
            {
                File.Delete(temp);
            }
            catch (Exception e2) when (e2 is IOException or UnauthorizedAccessException)
            {
            }
            return; // a full or read-only disk: the read itself succeeded, only caching is skipped
        }
        Remember(offset, data.Length);
        _cache.Added(data.Length);
    }
}
