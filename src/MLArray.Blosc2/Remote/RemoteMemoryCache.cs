using System.Collections.Concurrent;

namespace MLArray.Remote;

/// <summary>
/// A bounded in-memory pool (least recently used out first) of the compressed bytes fetched from remote objects:
/// whole chunks, single blocks of large chunks and chunk headers. One instance may serve many arrays (set it in
/// <see cref="RemoteReadOptions.MemoryCache"/>), so a training loop that reopens its cases every epoch, or several
/// readers of one object, fetch a working set that fits once.
/// </summary>
/// <remarks>
/// Entries are keyed by the object's name without credentials, its version tag and its length, and the offset:
/// a replaced object (another tag) never sees the entries of its old version. Objects without a version tag get
/// entries private to the array that fetched them. Thread-safe; lookups take no lock (each entry records its last use,
/// and adding past the bound evicts the least recently used entries down to 90 % of it in one pass).
/// </remarks>
public sealed class RemoteMemoryCache
{
    private readonly object _evictLock = new();
    private readonly ConcurrentDictionary<(string Object, long Offset), Entry> _map = new();
    private long _bytes;
    private long _clock;

    private sealed class Entry(byte[] data, long use)
    {
        public readonly byte[] Data = data;
        public long LastUse = use;
    }

    /// <summary>Creates an empty pool.</summary>
    /// <param name="maxBytes">Bound on the bytes held (at least 1 MiB).</param>
    /// <exception cref="ArgumentException">A bound below 1 MiB.</exception>
    public RemoteMemoryCache(long maxBytes)
    {
        if (maxBytes < 1 << 20)
            throw new ArgumentException($"the memory cache bound must be at least 1 MiB (got {maxBytes} bytes).", nameof(maxBytes));
        MaxBytes = maxBytes;
    }

    private RemoteMemoryCache(long maxBytes, bool _) => MaxBytes = Math.Max(0, maxBytes);

    /// <summary>The pool of one array (<see cref="RemoteReadOptions.ChunkCacheBytes"/>, any size; 0 keeps only the newest entry).</summary>
    internal static RemoteMemoryCache Private(long maxBytes) => new(maxBytes, false);

    /// <summary>Bound on the bytes held.</summary>
    public long MaxBytes { get; }

    /// <summary>Bytes held now.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>The cache identity of <paramref name="source"/>'s current version (unique per call when it has no version tag).</summary>
    internal static string ObjectKey(IByteRangeSource source) =>
        string.IsNullOrEmpty(source.VersionTag)
            ? "untagged\n" + Guid.NewGuid().ToString("N")
            : source.DisplayName + "\n" + source.VersionTag + "\n" + source.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The entry at <paramref name="offset"/> when it holds at least <paramref name="length"/> bytes (it may hold more).</summary>
    internal bool TryGet(string obj, long offset, int length, out byte[] data)
    {
        if (_map.TryGetValue((obj, offset), out var entry) && entry.Data.Length >= length)
        {
            // A plain store: use times only order evictions, a lost race costs nothing.
            entry.LastUse = Interlocked.Increment(ref _clock);
            data = entry.Data;
            return true;
        }
        data = [];
        return false;
    }

    /// <summary>Keeps <paramref name="data"/> (the object's bytes at <paramref name="offset"/>) unless a longer entry is there already.</summary>
    internal void Add(string obj, long offset, byte[] data)
    {
        if (data.Length == 0)
            return;
        lock (_evictLock)
        {
            var key = (obj, offset);
            if (_map.TryGetValue(key, out var old))
            {
                if (old.Data.Length >= data.Length)
                    return;
                Interlocked.Add(ref _bytes, -old.Data.Length);
            }
            _map[key] = new Entry(data, Interlocked.Increment(ref _clock));
            Interlocked.Add(ref _bytes, data.Length);
            if (_bytes <= MaxBytes || _map.Count <= 1)
                return;
            // Least recently used first, down to 90 % of the bound; the entry just added stays, whatever its size.
            long target = MaxBytes * 9 / 10;
            foreach (var (k, e) in _map.OrderBy(kv => kv.Value.LastUse).ToList())
            {
                if (_bytes <= target)
                    break;
                if (k == key)
                    continue;
                if (_map.TryRemove(k, out _))
                    Interlocked.Add(ref _bytes, -e.Data.Length);
            }
        }
    }
}
