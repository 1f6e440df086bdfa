using MLArray.Training.Sampling;

namespace MLArray.Training.Data;

/// <summary>An open case: image and segmentation arrays, validated against each other, and their class locations (loaded once).</summary>
internal sealed class OpenCase
{
    private ClassLocations? _locations;
    private bool _locationsLoaded;
    private readonly object _gate = new();

    public OpenCase(int index, CaseInfo info, CaseArray image, CaseArray? segmentation)
    {
        Index = index;
        Info = info;
        Image = image;
        Segmentation = segmentation;
    }

    public int Index { get; }
    public CaseInfo Info { get; }
    public CaseArray Image { get; }
    public CaseArray? Segmentation { get; }

    // Cache bookkeeping (guarded by the cache's lock).
    internal int Refs;
    internal bool Evicted;
    internal LinkedListNode<OpenCase>? Node;

    /// <summary>The class locations stored in the segmentation (null without segmentation or index); read once.</summary>
    public ClassLocations? Locations
    {
        get
        {
            lock (_gate)
            {
                if (!_locationsLoaded)
                {
                    _locations = Segmentation is null ? null : ClassLocations.Read(Segmentation.File);
                    _locationsLoaded = true;
                }
                return _locations;
            }
        }
    }

    public void Close()
    {
        Image.File.Dispose();
        Segmentation?.File.Dispose();
    }
}

/// <summary>
/// A lease on an open case from the dataset's handle cache. Dispose it when done: a case evicted while leased is
/// closed when its last lease is released.
/// </summary>
public readonly struct CaseLease : IDisposable
{
    private readonly CaseCache? _cache;
    internal readonly OpenCase Case;

    internal CaseLease(CaseCache cache, OpenCase c)
    {
        _cache = cache;
        Case = c;
    }

    /// <summary>The case.</summary>
    public CaseInfo Info => Case.Info;

    /// <summary>The image, opened read-only (memory-mapped).</summary>
    public MLArrayFile Image => Case.Image.File;

    /// <summary>The segmentation, opened read-only, or null.</summary>
    public MLArrayFile? Segmentation => Case.Segmentation?.File;

    /// <summary>The class locations stored in the segmentation, or null (no segmentation, or not indexed).</summary>
    /// <exception cref="ClassLocationsException">The stored entry is invalid.</exception>
    public ClassLocations? ClassLocations => Case.Locations;

    /// <summary>Releases the lease.</summary>
    public void Dispose() => _cache?.Release(Case);
}

/// <summary>
/// Bounded LRU cache of open cases (thread-safe, reference counted): at most <c>capacity</c> unleased cases stay
/// open; an evicted case still leased by a worker is closed when released.
/// </summary>
internal sealed class CaseCache : IDisposable
{
    private readonly object _gate = new();
    private readonly Dictionary<int, OpenCase> _map = [];
    private readonly LinkedList<OpenCase> _lru = new();
    private readonly Func<int, OpenCase> _open;
    private int _openCount;
    private int _peakOpen;
    private bool _disposed;

    public CaseCache(int capacity, Func<int, OpenCase> open)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _open = open;
    }

    public int Capacity { get; }

    /// <summary>Cases whose files are open now (cached plus evicted-but-leased).</summary>
    public int OpenCount { get { lock (_gate) return _openCount; } }

    /// <summary>The most cases ever open at once.</summary>
    public int PeakOpenCount { get { lock (_gate) return _peakOpen; } }

    public CaseLease Acquire(int index)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_map.TryGetValue(index, out var hit))
            {
                hit.Refs++;
                _lru.Remove(hit.Node!);
                _lru.AddFirst(hit.Node!);
                return new CaseLease(this, hit);
            }
        }
        var opened = _open(index); // outside the lock: other workers keep reading
        OpenCase? duplicate = null;
        List<OpenCase>? close = null;
        CaseLease lease;
        lock (_gate)
        {
            if (_disposed)
            {
                opened.Close();
                throw new ObjectDisposedException(nameof(CaseCache));
            }
            if (_map.TryGetValue(index, out var raced))
            {
                duplicate = opened;
                raced.Refs++;
                _lru.Remove(raced.Node!);
                _lru.AddFirst(raced.Node!);
                lease = new CaseLease(this, raced);
            }
            else
            {
                opened.Refs = 1;
                opened.Node = _lru.AddFirst(opened);
                _map[index] = opened;
                _openCount++;
                close = EvictOverCapacity();
                _peakOpen = Math.Max(_peakOpen, _openCount);
                lease = new CaseLease(this, opened);
            }
        }
        duplicate?.Close();
        if (close is not null) foreach (var c in close) c.Close();
        return lease;
    }

    // Evicts least recently used cases until the cache holds at most Capacity: unleased ones are closed (by the
    // caller, outside the lock), leased ones are marked and closed on their last release.
    private List<OpenCase>? EvictOverCapacity()
    {
        List<OpenCase>? close = null;
        var node = _lru.Last;
        while (_map.Count > Capacity && node is not null)
        {
            var prev = node.Previous;
            var c = node.Value;
            if (c.Refs == 0)
            {
                Remove(c);
                (close ??= []).Add(c);
                _openCount--;
            }
            node = prev;
        }
        // Still over: every remaining case is leased; mark the oldest evicted (closed when released).
        node = _lru.Last;
        while (_map.Count > Capacity && node is not null)
        {
            var prev = node.Previous;
            Remove(node.Value);
            node.Value.Evicted = true;
            node = prev;
        }
        return close;
    }

    private void Remove(OpenCase c)
    {
        _map.Remove(c.Index);
        _lru.Remove(c.Node!);
        c.Node = null;
    }

    public void Release(OpenCase c)
    {
        bool close = false;
        lock (_gate)
        {
            if (c.Refs <= 0) throw new InvalidOperationException("a case lease was released twice.");
            c.Refs--;
            if (c.Refs == 0 && (c.Evicted || _disposed))
            {
                close = true;
                _openCount--;
            }
        }
        if (close) c.Close();
    }

    public void Dispose()
    {
        List<OpenCase> close;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            close = _map.Values.Where(c => c.Refs == 0).ToList();
            foreach (var c in _map.Values) c.Evicted = true;
            _openCount -= close.Count;
            _map.Clear();
            _lru.Clear();
        }
        foreach (var c in close) c.Close();
    }
}
