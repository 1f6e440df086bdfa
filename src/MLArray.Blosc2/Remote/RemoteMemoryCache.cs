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
/// and adding past the bound evicts the least recently used entries down to 90 % of it in one pass). Blocks of large
/// chunks are kept as slices of the pooled buffers they were received into (the packed images the reads decode); such
/// a buffer returns to the shared array pool once the read is over and all its blocks are evicted. The bound counts
/// the memory held: a pooled buffer counts whole (its rented length) while any of its slices is kept, so one hot block
/// cannot keep a large image alive outside the bound.
/// </remarks>
public sealed class RemoteMemoryCache
{
    private readonly object _evictLock = new();
    private readonly ConcurrentDictionary<(string Object, long Offset), Entry> _map = new();
    private long _bytes;
    private long _clock;
    private long _evicted, _evictedAhead;

    /// <summary>Entries evicted so far, and of them entries fetched ahead that were not read yet (a read-ahead window larger than the pool).</summary>
    internal (long Evicted, long EvictedAhead) Evictions => (Interlocked.Read(ref _evicted), Interlocked.Read(ref _evictedAhead));

    /// <summary>
    /// Cached bytes: a whole array of their own (chunks, chunk headers), or a slice of a pooled buffer shared with other
    /// entries and with the read that received them (blocks, in the packed image they were fetched into).
    /// </summary>
    private sealed class Entry(byte[] array, int start, int length, SharedBuffer? owner, long use)
    {
        public readonly byte[] Array = array;
        public readonly int Start = start;
        public readonly int Length = length;
        public readonly SharedBuffer? Owner = owner;
        public long LastUse = use;

        /// <summary>
        /// Reads announced by read-aheads (each prefetch that fetched or found the entry) and not done yet: while above 0
        /// the entry is evicted only after every entry without such reads. A read takes one off.
        /// </summary>
        public int Ahead;

        /// <summary>One announced read done (never below 0: reads without a read-ahead count nothing).</summary>
        public void ReadOnce()
        {
            int n = Volatile.Read(ref Ahead);
            while (n > 0)
            {
                int seen = Interlocked.CompareExchange(ref Ahead, n - 1, n);
                if (seen == n)
                    return;
                n = seen;
            }
        }
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

    /// <summary>
    /// The entry at <paramref name="offset"/> when it holds at least <paramref name="length"/> bytes (it may hold more)
    /// in an array of its own (never reused: the caller may keep it).
    /// </summary>
    internal bool TryGet(string obj, long offset, int length, out byte[] data)
    {
        if (_map.TryGetValue((obj, offset), out var entry) && entry.Owner is null && entry.Length >= length)
        {
            // A plain store: use times only order evictions, a lost race costs nothing.
            entry.LastUse = Interlocked.Increment(ref _clock);
            entry.ReadOnce();
            data = entry.Array;
            return true;
        }
        data = [];
        return false;
    }

    /// <summary>True when an entry of its own at <paramref name="offset"/> holds at least <paramref name="length"/> bytes (no use counted).</summary>
    internal bool Holds(string obj, long offset, int length) =>
        _map.TryGetValue((obj, offset), out var entry) && entry.Owner is null && entry.Length >= length;

    /// <summary>
    /// For a read-ahead: 0 when no entry at <paramref name="offset"/> holds <paramref name="length"/> bytes; 1 when one
    /// does in an array of its own (it then counts one more announced read: kept as if fetched ahead, evicted after
    /// the entries without announced reads); 2 when one does as a slice of a pooled buffer (move it with
    /// <see cref="MoveInto"/>: kept where it is, it would pin that whole buffer).
    /// </summary>
    internal int Reserve(string obj, long offset, int length)
    {
        if (!_map.TryGetValue((obj, offset), out var entry) || entry.Length < length)
            return 0;
        if (entry.Owner is not null)
            return 2;
        Interlocked.Increment(ref entry.Ahead);
        entry.LastUse = Interlocked.Increment(ref _clock);
        return 1;
    }

    /// <summary>
    /// Copies the entry at <paramref name="offset"/> into <paramref name="owner"/> at <paramref name="start"/> and keeps
    /// that copy instead, with one more announced read than the entry had, so the buffer the entry was in is not pinned
    /// by it; false when the entry is gone (fetch it). The caller holds <paramref name="owner"/>.
    /// </summary>
    internal bool MoveInto(string obj, long offset, SharedBuffer owner, int start, int length)
    {
        if (!TryCopy(obj, offset, owner.Array.AsSpan(start, length), read: false) || !owner.TryAddRef())
            return false;
        Add(obj, offset, owner.Array, start, length, owner, ahead: true, replace: true);
        return true;
    }

    /// <summary>
    /// Copies the entry at <paramref name="offset"/> into <paramref name="destination"/> when it holds at least as many
    /// bytes (a pooled entry is held while it is copied, so an eviction meanwhile cannot hand its buffer to another read).
    /// </summary>
    internal bool TryCopy(string obj, long offset, Span<byte> destination) => TryCopy(obj, offset, destination, read: true);

    /// <summary>Copies the entry out: for a read (<paramref name="read"/>: it takes one announced read off and counts as a use) or a move of the entry.</summary>
    private bool TryCopy(string obj, long offset, Span<byte> destination, bool read)
    {
        if (!_map.TryGetValue((obj, offset), out var entry) || entry.Length < destination.Length)
            return false;
        if (entry.Owner is { } owner)
        {
            if (!owner.TryAddRef())
                return false; // evicted and given back meanwhile
            try
            {
                owner.Array.AsSpan(entry.Start, destination.Length).CopyTo(destination);
            }
            finally
            {
                owner.Release();
            }
        }
        else
        {
            entry.Array.AsSpan(entry.Start, destination.Length).CopyTo(destination);
        }
        if (read)
        {
            entry.LastUse = Interlocked.Increment(ref _clock);
            entry.ReadOnce();
        }
        return true;
    }

    /// <summary>Keeps <paramref name="data"/> (the object's bytes at <paramref name="offset"/>) unless a longer entry is there already.</summary>
    internal void Add(string obj, long offset, byte[] data, bool ahead = false) => Add(obj, offset, data, 0, data.Length, null, ahead, replace: false);

    /// <summary>
    /// Keeps <paramref name="length"/> bytes of <paramref name="owner"/> from <paramref name="start"/> (the object's bytes
    /// at <paramref name="offset"/>), holding a reference on the buffer until the entry is evicted; the caller must hold
    /// one itself during the call.
    /// </summary>
    internal void Add(string obj, long offset, SharedBuffer owner, int start, int length, bool ahead = false)
    {
        if (length > 0 && owner.TryAddRef())
            Add(obj, offset, owner.Array, start, length, owner, ahead, replace: false);
    }

    /// <remarks>
    /// <paramref name="replace"/>: the new entry replaces one already there, even a longer one.
    /// <paramref name="ahead"/>: fetched by a read-ahead; such entries are evicted after all others until they are read
    /// (plain LRU would evict them first: the entries of the patches just read are used more recently).
    /// </remarks>
    private void Add(string obj, long offset, byte[] array, int start, int length, SharedBuffer? owner, bool ahead, bool replace)
    {
        if (length == 0)
        {
            owner?.Release();
            return;
        }
        lock (_evictLock)
        {
            var key = (obj, offset);
            int carried = 0; // announced reads of the entry replaced
            if (_map.TryGetValue(key, out var old))
            {
                if (old.Length >= length && !replace)
                {
                    owner?.Release();
                    return;
                }
                carried = Volatile.Read(ref old.Ahead);
                Remove(key, old);
            }
            _map[key] = new Entry(array, start, length, owner, Interlocked.Increment(ref _clock)) { Ahead = (ahead ? 1 : 0) + carried };
            Interlocked.Add(ref _bytes, Held(owner, length, +1));
            if (_bytes <= MaxBytes || _map.Count <= 1)
                return;
            // Least recently used first (entries fetched ahead and not read yet last), down to 90 % of the bound; the
            // entry just added stays, whatever its size.
            long target = MaxBytes * 9 / 10;
            foreach (var (k, e) in _map.OrderBy(kv => kv.Value.Ahead > 0).ThenBy(kv => kv.Value.LastUse).ToList())
            {
                if (_bytes <= target)
                    break;
                if (k != key && Remove(k, e))
                {
                    _evicted++;
                    if (e.Ahead > 0)
                        _evictedAhead++;
                }
            }
        }
    }

    /// <summary>Removes an entry (caller holds the eviction lock) and lets go of its buffer; false when it was gone already.</summary>
    private bool Remove((string, long) key, Entry entry)
    {
        if (!_map.TryRemove(new KeyValuePair<(string, long), Entry>(key, entry)))
            return false;
        Interlocked.Add(ref _bytes, -Held(entry.Owner, entry.Length, -1));
        entry.Owner?.Release();
        return true;
    }

    /// <summary>
    /// The bytes an entry adds to (<paramref name="change"/> +1) or frees from (−1) the memory held: its length for an
    /// array of its own; for a slice of a pooled buffer the buffer's whole capacity when it is the buffer's first (last)
    /// entry, else nothing. Caller holds the eviction lock.
    /// </summary>
    private static long Held(SharedBuffer? owner, int length, int change)
    {
        if (owner is null)
            return length;
        int before = owner.CacheEntries;
        owner.CacheEntries = before + change;
        return (change > 0 ? before == 0 : before == 1) ? owner.Capacity : 0;
    }

    /// <summary>Drops every entry (a private pool whose array is closed), giving pooled buffers back.</summary>
    internal void Clear()
    {
        lock (_evictLock)
            foreach (var (k, e) in _map.ToList())
                Remove(k, e);
    }
}
