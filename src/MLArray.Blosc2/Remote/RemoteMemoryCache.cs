using MLArray.Blosc2;

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
/// entries private to the array that fetched them. Thread-safe.
/// </remarks>
public sealed class RemoteMemoryCache
{
    private readonly object _lock = new();
    private readonly Dictionary<(string Object, long Offset), LinkedListNode<Entry>> _map = [];
    private readonly LinkedList<Entry> _lru = new();
    private long _bytes;

    private readonly record struct Entry(string Object, long Offset, byte[] Data);

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

    /// <summary>The pool of one array (<see cref="RemoteReadOptions.ChunkCacheBytes"/>, any size; 0 keeps nothing).</summary>
    internal static RemoteMemoryCache Private(long maxBytes) => new(maxBytes, false);

    /// <summary>Bound on the bytes held.</summary>
    public long MaxBytes { get; }

    /// <summary>Bytes held now.</summary>
    public long Bytes
    {
        get
        {
            lock (_lock)
                return _bytes;
        }
    }

    /// <summary>The cache identity of <paramref name="source"/>'s current version (unique per call when it has no version tag).</summary>
    internal static string ObjectKey(IByteRangeSource source) =>
        string.IsNullOrEmpty(source.VersionTag)
            ? "untagged\n" + Guid.NewGuid().ToString("N")
            : source.DisplayName + "\n" + source.VersionTag + "\n" + source.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The entry at <paramref name="offset"/> when it holds at least <paramref name="length"/> bytes (it may hold more).</summary>
    internal bool TryGet(string obj, long offset, int length, out byte[] data)
    {
        lock (_lock)
        {
            if (_map.TryGetValue((obj, offset), out var node) && node.Value.Data.Length >= length)
            {
                _lru.Remove(node);
                _lru.AddFirst(node);
                data = node.Value.Data;
                return true;
            }
        }
        data = [];
        return false;
    }

    /// <summary>Keeps <paramref name="data"/> (the object's bytes at <paramref name="offset"/>) unless a longer entry is there already.</summary>
    internal void Add(string obj, long offset, byte[] data)
    {
        if (data.Length == 0)
            return;
        lock (_lock)
        {
            if (_map.TryGetValue((obj, offset), out var old))
            {
                if (old.Value.Data.Length >= data.Length)
                    return;
                _lru.Remove(old);
                _bytes -= old.Value.Data.Length;
            }
            _map[(obj, offset)] = _lru.AddFirst(new Entry(obj, offset, data));
            _bytes += data.Length;
            while (_bytes > MaxBytes && _lru.Count > 1 && _lru.Last is { } last) // the newest entry stays, whatever its size
            {
                _lru.RemoveLast();
                _map.Remove((last.Value.Object, last.Value.Offset));
                _bytes -= last.Value.Data.Length;
            }
        }
    }
}
