using System.Buffers.Binary;
using MLArray.Blosc2;
using MLArray.Blosc2.Format;

namespace MLArray.Remote;

/// <summary>
/// An <see cref="IFrameSource"/> over an <see cref="IByteRangeSource"/>: the head and the tail of the frame (header,
/// metalayers, offsets index, trailer with the vlmeta) are fetched once when opening (2 requests), chunks are fetched
/// whole (one range per chunk, bounded by the next chunk's offset or the index) and kept in a bounded LRU cache.
/// </summary>
/// <remarks>
/// The synchronous <see cref="Read"/> of the frame reader blocks on the asynchronous source when the bytes are not
/// cached yet; <see cref="PrefetchChunks"/> (called by array reads with the chunks a selection needs) fetches them
/// concurrently first, up to <see cref="RemoteReadOptions.MaxConcurrency"/> requests at a time.
/// </remarks>
internal sealed class RangeFrameSource : IFrameSource, IChunkPrefetch
{
    private readonly IByteRangeSource _source;
    private readonly RemoteReadOptions _options;
    private readonly SemaphoreSlim _gate;
    private readonly byte[] _head;
    private readonly byte[] _tail;
    private readonly long _tailStart;
    private readonly object _lock = new();
    private readonly Dictionary<long, LinkedListNode<(long Start, byte[] Data)>> _cache = [];
    private readonly LinkedList<(long Start, byte[] Data)> _lru = new();
    private readonly Dictionary<long, Task<byte[]>> _inFlight = [];
    private long _cachedBytes;
    private long[]? _starts;       // sorted distinct chunk starts (absolute), then the index start as sentinel
    private long[]? _chunkStart;   // per chunk index: absolute start, or -1 for special chunks
    private int _disposed;

    private RangeFrameSource(IByteRangeSource source, RemoteReadOptions options, byte[] head, byte[] tail, long tailStart)
    {
        _source = source;
        _options = options;
        _gate = new SemaphoreSlim(Math.Max(1, options.MaxConcurrency));
        _head = head;
        _tail = tail;
        _tailStart = tailStart;
    }

    public string? Name => _source.DisplayName;

    public long Length => _source.Length;

    public IByteRangeSource Source => _source;

    /// <summary>Fetches the head and the tail of the frame: 2 requests (1 for objects that fit in the head read).</summary>
    public static async Task<RangeFrameSource> OpenAsync(IByteRangeSource source, RemoteReadOptions? options, CancellationToken ct)
    {
        options ??= RemoteReadOptions.Default;
        long length = source.Length;
        var head = new byte[(int)Math.Min(Math.Max(options.HeadPrefetchBytes, FrameReader.MinHeaderLength), length)];
        await source.ReadAsync(0, head, ct).ConfigureAwait(false);
        if (head.Length >= FrameReader.MinHeaderLength && head[0] == 0x9E && head[1] == 0xA8)
        {
            long headerLength = BinaryPrimitives.ReadInt32BigEndian(head.AsSpan(11));
            if (headerLength > head.Length && headerLength <= length)
            {
                var bigger = new byte[headerLength];
                head.CopyTo(bigger, 0);
                await source.ReadAsync(head.Length, bigger.AsMemory(head.Length), ct).ConfigureAwait(false);
                head = bigger;
            }
        }
        // The tail covers the offsets index and the trailer: sized from the header (header length + cbytes = index start).
        long tailStart = Math.Max(head.Length, length - options.TailPrefetchBytes);
        if (head.Length >= FrameReader.MinHeaderLength)
        {
            long indexStart = BinaryPrimitives.ReadInt32BigEndian(head.AsSpan(11)) + BinaryPrimitives.ReadInt64BigEndian(head.AsSpan(39));
            if (indexStart >= head.Length && indexStart < tailStart && length - indexStart <= Math.Max(options.ChunkCacheBytes, 16L << 20))
                tailStart = indexStart;
        }
        var tail = new byte[length - tailStart];
        if (tail.Length > 0)
            await source.ReadAsync(tailStart, tail, ct).ConfigureAwait(false);
        return new RangeFrameSource(source, options, head, tail, tailStart);
    }

    /// <summary>Learns the chunk extents from the parsed frame (chunk reads then fetch whole chunks).</summary>
    public void AttachLayout(FrameReader frame)
    {
        long n = frame.NChunks;
        long indexStart = frame.HeaderLength + frame.CBytes;
        var perChunk = new long[n];
        var starts = new List<long>();
        for (long i = 0; i < n; i++)
        {
            long off = frame.GetOffset(i);
            perChunk[i] = off >= 0 && frame.HeaderLength + off < indexStart ? frame.HeaderLength + off : -1;
            if (perChunk[i] >= 0)
                starts.Add(perChunk[i]);
        }
        starts.Sort();
        var distinct = new List<long>(starts.Count + 1);
        foreach (long s in starts)
            if (distinct.Count == 0 || distinct[^1] != s)
                distinct.Add(s);
        distinct.Add(indexStart);
        _chunkStart = perChunk;
        _starts = [.. distinct];
    }

    public void Read(long offset, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (offset < 0 || offset > Length - destination.Length)
            throw new MLArrayFormatException($"'{Name}': read of {destination.Length} bytes at offset {offset} is outside the object ({Length} bytes). The file is corrupt or truncated.");
        if (offset + destination.Length <= _head.Length)
        {
            _head.AsSpan((int)offset, destination.Length).CopyTo(destination);
            return;
        }
        if (offset >= _tailStart)
        {
            _tail.AsSpan((int)(offset - _tailStart), destination.Length).CopyTo(destination);
            return;
        }
        if (ChunkExtent(offset) is var (start, end) && offset + destination.Length <= end)
        {
            var data = GetChunk(start, end);
            data.AsSpan((int)(offset - start), destination.Length).CopyTo(destination);
            return;
        }
        var buffer = new byte[destination.Length];
        Wait(Fetch(offset, buffer));
        buffer.CopyTo(destination);
    }

    public bool TryGetSpan(long offset, int length, out ReadOnlySpan<byte> span)
    {
        span = default;
        return false;
    }

    /// <summary>Fetches the listed chunks concurrently (those not cached yet, within half the cache budget).</summary>
    public void PrefetchChunks(IReadOnlyList<long> chunks)
    {
        if (_chunkStart is null || _starts is null || chunks.Count < 2 || _disposed != 0)
            return;
        var tasks = new List<Task>();
        long budget = _options.ChunkCacheBytes / 2;
        foreach (long c in chunks)
        {
            if (c < 0 || c >= _chunkStart.Length || _chunkStart[c] < 0 || _chunkStart[c] < _head.Length || _chunkStart[c] >= _tailStart)
                continue;
            if (ChunkExtent(_chunkStart[c]) is not var (start, end))
                continue;
            budget -= end - start;
            if (budget < 0)
                break;
            tasks.Add(GetChunkAsync(start, end));
        }
        if (tasks.Count > 0)
            Wait(Task.WhenAll(tasks));
    }

    private (long Start, long End)? ChunkExtent(long offset)
    {
        var starts = _starts;
        if (starts is null || starts.Length < 2 || offset < starts[0] || offset >= starts[^1])
            return null;
        int k = Array.BinarySearch(starts, offset);
        if (k < 0)
            k = ~k - 1;
        long start = starts[k], end = starts[k + 1]; // may overlap the tail prefetch: still one range, cached
        if (end - start > int.MaxValue / 2)
            return null;
        return (start, end);
    }

    private byte[] GetChunk(long start, long end)
    {
        lock (_lock)
        {
            if (_cache.TryGetValue(start, out var node))
            {
                _lru.Remove(node);
                _lru.AddFirst(node);
                return node.Value.Data;
            }
        }
        return Wait(GetChunkAsync(start, end));
    }

    private Task<byte[]> GetChunkAsync(long start, long end)
    {
        lock (_lock)
        {
            if (_cache.TryGetValue(start, out var node))
                return Task.FromResult(node.Value.Data);
            if (_inFlight.TryGetValue(start, out var running))
                return running;
            var task = FetchChunkAsync(start, end);
            _inFlight[start] = task;
            return task;
        }
    }

    private async Task<byte[]> FetchChunkAsync(long start, long end)
    {
        await Task.Yield(); // never run the request under the caller's lock
        try
        {
            var data = GC.AllocateUninitializedArray<byte>((int)(end - start));
            await Fetch(start, data).ConfigureAwait(false);
            lock (_lock)
            {
                if (!_cache.ContainsKey(start))
                {
                    _cache[start] = _lru.AddFirst((start, data));
                    _cachedBytes += data.Length;
                    while (_cachedBytes > _options.ChunkCacheBytes && _lru.Count > 1)
                    {
                        var last = _lru.Last!;
                        _lru.RemoveLast();
                        _cache.Remove(last.Value.Start);
                        _cachedBytes -= last.Value.Data.Length;
                    }
                }
            }
            return data;
        }
        finally
        {
            lock (_lock)
                _inFlight.Remove(start);
        }
    }

    private async Task Fetch(long offset, byte[] destination)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            await _source.ReadAsync(offset, destination).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private static void Wait(Task task) => task.GetAwaiter().GetResult();

    private static T Wait<T>(Task<T> task) => task.GetAwaiter().GetResult();

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _source.Dispose();
        _gate.Dispose();
    }
}
