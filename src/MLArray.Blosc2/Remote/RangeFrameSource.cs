using System.Buffers.Binary;
using System.Collections.Concurrent;
using MLArray.Blosc2;
using MLArray.Blosc2.Format;

namespace MLArray.Remote;

/// <summary>
/// An <see cref="IFrameSource"/> over an <see cref="IByteRangeSource"/>: the head and the tail of the frame (header,
/// metalayers, offsets index, trailer with the vlmeta) are fetched once when opening (2 requests); a read fetches
/// what it needs in one wave (<see cref="FetchForRead"/>): small chunks whole, large chunks block by block (their
/// headers with the block starts first, all of them in one request where the source takes multi-range requests),
/// the ranges of all chunks sorted, merged across chunks when closer than the gap threshold, and sent concurrently
/// (several ranges per request where the source allows it). Fetched bytes go to a <see cref="RemoteMemoryCache"/>
/// (shared, or private to the array) and the optional disk cache, as units: whole chunks, single blocks, chunk headers.
/// </summary>
/// <remarks>
/// A large chunk read block by block reaches the decoder as a packed image: its header and block starts, rewritten
/// to point at the fetched blocks laid out one after the other (and its compressed size at their end). The image is a
/// pooled, reference-counted buffer laid out before the request: the blocks are received from the network (or read from
/// the disk cache) straight into their places, and the memory pool keeps slices of it. The synchronous
/// <see cref="Read"/> of the frame reader blocks on the asynchronous source when the bytes are not cached yet.
/// </remarks>
internal sealed class RangeFrameSource : IFrameSource, IChunkPrefetch
{
    /// <summary>Block tables of all chunks are fetched at once (multi-range sources) while they take at most this many bytes.</summary>
    private const long AllTablesMaxBytes = 1 << 20;

    /// <summary>Units are merged into ranges of at most this many bytes, so a large wave still goes out as concurrent requests.</summary>
    private const long MaxMergedRange = 4 << 20;

    private readonly IByteRangeSource _source;
    private readonly RemoteReadOptions _options;
    private readonly SemaphoreSlim _gate;
    private readonly byte[] _head;
    private readonly byte[] _tail;
    private readonly long _tailStart;
    private readonly DiskCachedObject? _disk;
    private readonly RemoteMemoryCache _cache;
    private readonly bool _privateCache;
    private readonly string _key;
    private readonly ConcurrentDictionary<long, BlockTable?> _tables = new(); // by chunk start; null: read the chunk whole
    private readonly ConcurrentDictionary<Unit, Task<byte[]?>> _inFlight = new(); // the array for whole units, null for blocks
    private readonly ThreadLocal<ImageBuffers> _images = new(() => new ImageBuffers());
    private readonly object _lock = new();
    private Task? _allTables;
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
        _disk = options.DiskCache?.For(source);
        _privateCache = options.MemoryCache is null;
        _cache = options.MemoryCache ?? RemoteMemoryCache.Private(options.ChunkCacheBytes);
        _key = RemoteMemoryCache.ObjectKey(source);
    }

    public string? Name => _source.DisplayName;

    public long Length => _source.Length;

    public IByteRangeSource Source => _source;

    /// <summary>The memory pool the fetched units go to (shared, or private to the array).</summary>
    public RemoteMemoryCache Cache => _cache;

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
            var data = Wait(GetUnitsAsync([new Unit(start, (int)(end - start))]))[0];
            data.Span.Slice((int)(offset - start), destination.Length).CopyTo(destination);
            return;
        }
        var buffer = new byte[destination.Length];
        Wait(FetchAsync([new Unit(offset, buffer.Length)], [buffer], default));
        buffer.CopyTo(destination);
    }

    /// <summary>Bytes inside a chunk held in the cache, without copying (the span keeps the cached array alive).</summary>
    public bool TryGetSpan(long offset, int length, out ReadOnlySpan<byte> span)
    {
        span = default;
        if (ChunkExtent(offset) is not var (start, end) || offset + length > end)
            return false;
        if (_cache.TryGet(_key, start, (int)(end - start), out var data))
        {
            span = data.AsSpan((int)(offset - start), length);
            return true;
        }
        return false; // disk-cached bytes are copied by Read
    }

    /// <summary>Fetches the listed chunks whole, in one wave (those not cached yet, within half the cache budget).</summary>
    public void PrefetchChunks(IReadOnlyList<long> chunks)
    {
        if (chunks.Count < 2 || _disposed != 0)
            return;
        var units = new List<Unit>();
        long budget = _options.ChunkCacheBytes / 2;
        foreach (long c in chunks)
        {
            if (Fetchable(c) is not var (start, end) || (budget -= end - start) < 0)
                continue;
            units.Add(new Unit(start, (int)(end - start)));
        }
        if (units.Count > 0)
            Wait(GetUnitsAsync(units));
    }

    /// <summary>The extent of chunk <paramref name="c"/> when it has bytes outside the head and tail already held.</summary>
    private (long Start, long End)? Fetchable(long c)
    {
        if (_chunkStart is null || c < 0 || c >= _chunkStart.Length || _chunkStart[c] < 0 || ChunkExtent(_chunkStart[c]) is not var (start, end))
            return null; // special chunk: no bytes
        return end <= _head.Length || start >= _tailStart ? null : (start, end);
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

    // ------------------------------------------------------------------ units: cache, disk cache, network

    /// <summary>A range of the object fetched and cached as one piece: a whole chunk, one block, a chunk header.</summary>
    private readonly record struct Unit(long Offset, int Length);

    /// <summary>
    /// A unit a read needs. Without <see cref="Owner"/>: its bytes in an array of their own (<see cref="Result"/>, the
    /// cached array itself when cached: whole chunks, chunk headers). With one: the bytes go into the pooled packed image
    /// <see cref="Owner"/> at <see cref="Start"/> (blocks: received there straight from the network), and the memory
    /// pool keeps that slice.
    /// </summary>
    private sealed class Target(Unit unit, SharedBuffer? owner = null, int start = 0)
    {
        public readonly Unit Unit = unit;
        public readonly SharedBuffer? Owner = owner;
        public readonly int Start = start;
        public byte[]? Result;

        public Span<byte> Slot => Owner!.Array.AsSpan(Start, Unit.Length);
    }

    /// <summary>The bytes of whole units (at least the unit's length, starting at its offset), in arrays of their own.</summary>
    private async Task<ReadOnlyMemory<byte>[]> GetUnitsAsync(IReadOnlyList<Unit> units, CancellationToken ct = default)
    {
        var targets = units.Select(u => new Target(u)).ToList();
        await LoadAsync(targets, ct).ConfigureAwait(false);
        return targets.Select(t => (ReadOnlyMemory<byte>)t.Result!).ToArray();
    }

    /// <summary>
    /// Brings every target's bytes from the memory pool, else the disk cache, else the network (one wave for all the
    /// fetched ones, which are then cached).
    /// </summary>
    private async Task LoadAsync(List<Target> targets, CancellationToken ct = default)
    {
        var fetch = new List<Target>();
        var onDisk = new List<Target>();
        foreach (var t in targets)
        {
            var u = t.Unit;
            if (t.Owner is null)
            {
                if (_cache.TryGet(_key, u.Offset, u.Length, out var data))
                {
                    t.Result = data;
                    continue;
                }
                if (_disk is not null && Cacheable(u) && _disk.Covers(u.Offset, u.Length))
                {
                    // Whole chunks, which the next patches are likely to touch again, go to the memory pool too.
                    var buffer = GC.AllocateUninitializedArray<byte>(u.Length);
                    if (_disk.TryRead(u.Offset, buffer))
                    {
                        _cache.Add(_key, u.Offset, buffer);
                        t.Result = buffer;
                        continue;
                    }
                }
            }
            else if (_cache.TryCopy(_key, u.Offset, t.Slot))
            {
                continue;
            }
            else if (_disk is not null && Cacheable(u))
            {
                onDisk.Add(t);
                continue;
            }
            fetch.Add(t);
        }
        // Blocks from the disk cache: positioned reads straight into the image (no copy, no request), one per run of
        // blocks adjacent both in the object and in the image.
        for (int i = 0; i < onDisk.Count;)
        {
            int j = i + 1;
            while (j < onDisk.Count && onDisk[j].Owner == onDisk[i].Owner && onDisk[j].Unit.Offset == onDisk[j - 1].Unit.Offset + onDisk[j - 1].Unit.Length
                   && onDisk[j].Start == onDisk[j - 1].Start + onDisk[j - 1].Unit.Length)
                j++;
            var last = onDisk[j - 1];
            int runLength = (int)(last.Unit.Offset + last.Unit.Length - onDisk[i].Unit.Offset);
            if (!_disk!.TryRead(onDisk[i].Unit.Offset, onDisk[i].Owner!.Array.AsSpan(onDisk[i].Start, runLength)))
                for (int k = i; k < j; k++)
                    if (!_disk.TryRead(onDisk[k].Unit.Offset, onDisk[k].Slot))
                        fetch.Add(onDisk[k]);
            i = j;
        }
        if (fetch.Count > 0)
            await FetchTargetsAsync(fetch, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Fetches the targets in one wave and caches them. Units another read is fetching right now are awaited, not fetched
    /// twice (concurrent readers of one chunk): whole ones are shared, blocks copied from the memory pool (fetched again
    /// if evicted meanwhile).
    /// </summary>
    private async Task FetchTargetsAsync(List<Target> targets, CancellationToken ct = default, bool ahead = false)
    {
        var mine = new List<(Target Target, TaskCompletionSource<byte[]?> Done)>();
        var theirs = new List<(Target Target, Task<byte[]?> Task)>();
        foreach (var t in targets)
        {
            var done = new TaskCompletionSource<byte[]?>(TaskCreationOptions.RunContinuationsAsynchronously);
            var running = _inFlight.GetOrAdd(t.Unit, done.Task);
            if (running == done.Task)
                mine.Add((t, done));
            else
                theirs.Add((t, running));
        }
        if (mine.Count > 0)
        {
            var units = new Unit[mine.Count];
            var destinations = new Memory<byte>[mine.Count];
            for (int k = 0; k < mine.Count; k++)
            {
                var t = mine[k].Target;
                units[k] = t.Unit;
                destinations[k] = t.Owner is { } owner ? owner.Array.AsMemory(t.Start, t.Unit.Length) : t.Result = GC.AllocateUninitializedArray<byte>(t.Unit.Length);
            }
            try
            {
                await FetchAsync(units, destinations, ct).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                foreach (var (t, done) in mine)
                {
                    _inFlight.TryRemove(t.Unit, out _);
                    done.SetException(e);
                    _ = done.Task.Exception; // observed: the caller rethrows it
                }
                throw;
            }
            try
            {
                for (int k = 0; k < mine.Count; k++)
                {
                    var t = mine[k].Target;
                    if (t.Owner is { } owner)
                        _cache.Add(_key, t.Unit.Offset, owner, t.Start, t.Unit.Length, ahead);
                    else
                        _cache.Add(_key, t.Unit.Offset, t.Result!, ahead);
                    if (_disk is not null && Cacheable(t.Unit))
                        _disk.Store(t.Unit.Offset, destinations[k].Span);
                }
            }
            finally
            {
                // Whatever happened while caching, the waiting readers go on (blocks not cached are fetched by them again).
                foreach (var (t, done) in mine)
                {
                    _inFlight.TryRemove(t.Unit, out _);
                    done.TrySetResult(t.Result);
                }
            }
        }
        List<Target>? again = null;
        foreach (var (t, task) in theirs)
        {
            byte[]? data;
            try
            {
                data = await task.ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                (again ??= []).Add(t); // the other fetch (a prefetch) was cancelled, not this read
                continue;
            }
            if (t.Owner is null && data is not null)
                t.Result = data;
            else if (t.Owner is null || !_cache.TryCopy(_key, t.Unit.Offset, t.Slot))
                (again ??= []).Add(t);
        }
        if (again is not null)
            await FetchTargetsAsync(again, ct, ahead).ConfigureAwait(false);
    }

    private bool Cacheable(Unit u) => u.Offset + u.Length > _head.Length && u.Offset < _tailStart;

    /// <summary>
    /// Fetches the units into their destinations in one wave: sorted, merged into ranges where they are closer than the
    /// gap threshold (across chunks too), the ranges grouped into requests of up to
    /// <see cref="IByteRangeSource.MaxRangesPerRequest"/>, all requests concurrent (bounded by MaxConcurrency).
    /// </summary>
    private async Task FetchAsync(Unit[] units, Memory<byte>[] destinations, CancellationToken ct)
    {
        var order = Enumerable.Range(0, units.Length).OrderBy(i => units[i].Offset).ToArray();
        int perRequest = Math.Max(1, _source.MaxRangesPerRequest);
        bool multiRange = perRequest > 1;
        // Per range: the units it covers (over `order`), and whether they are laid out one after the other in one
        // destination array (then the range is received straight into them: no scratch, no copy).
        var ranges = new List<(long From, long To, int First, int Count, bool Direct)>();
        for (int k = 0; k < order.Length; k++)
        {
            var u = units[order[k]];
            if (ranges.Count > 0 && ranges[^1] is var last)
            {
                long to = Math.Max(last.To, u.Offset + u.Length);
                if (last.Direct && u.Offset == last.To && to - last.From <= MaxMergedRange
                    && Follows(destinations[order[last.First + last.Count - 1]], destinations[order[k]]))
                {
                    ranges[^1] = (last.From, to, last.First, last.Count + 1, true);
                    continue;
                }
                // Single-range sources also merge units closer than the gap threshold (through a scratch buffer); multi-range
                // sources take every other unit as a part of its own (no gap bytes).
                if (!multiRange && u.Offset - last.To <= _options.BlockGapBytes && u.Offset >= last.From && to - last.From <= MaxMergedRange)
                {
                    ranges[^1] = (last.From, to, last.First, last.Count + 1, false);
                    continue;
                }
            }
            ranges.Add((u.Offset, u.Offset + u.Length, k, 1, true));
        }
        // A direct range is read straight into its units' destinations; merged ranges into a pooled scratch.
        var scratch = new byte[]?[ranges.Count];
        try
        {
            var targets = new Memory<byte>[ranges.Count];
            for (int r = 0; r < ranges.Count; r++)
            {
                int length = (int)(ranges[r].To - ranges[r].From);
                if (ranges[r].Direct)
                    targets[r] = Spanning(destinations[order[ranges[r].First]], length);
                else
                    targets[r] = (scratch[r] = System.Buffers.ArrayPool<byte>.Shared.Rent(length)).AsMemory(0, length);
            }
            var requests = new List<Task>();
            for (int g = 0; g < ranges.Count; g += perRequest)
            {
                var group = new ByteRangeRead[Math.Min(perRequest, ranges.Count - g)];
                for (int i = 0; i < group.Length; i++)
                    group[i] = new ByteRangeRead(ranges[g + i].From, targets[g + i]);
                requests.Add(SendAsync(group, ct));
            }
            await Task.WhenAll(requests).ConfigureAwait(false);
            for (int r = 0; r < ranges.Count; r++)
            {
                if (scratch[r] is not { } merged)
                    continue;
                for (int k = ranges[r].First; k < ranges[r].First + ranges[r].Count; k++)
                    merged.AsSpan((int)(units[order[k]].Offset - ranges[r].From), units[order[k]].Length).CopyTo(destinations[order[k]].Span);
            }
        }
        finally
        {
            foreach (var b in scratch)
                if (b is not null)
                    System.Buffers.ArrayPool<byte>.Shared.Return(b);
        }
    }

    /// <summary>True when <paramref name="next"/> starts right where <paramref name="previous"/> ends, in the same array.</summary>
    private static bool Follows(Memory<byte> previous, Memory<byte> next) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray<byte>(previous, out var a)
        && System.Runtime.InteropServices.MemoryMarshal.TryGetArray<byte>(next, out var b)
        && ReferenceEquals(a.Array, b.Array) && a.Offset + a.Count == b.Offset;

    /// <summary><paramref name="length"/> bytes of the array behind <paramref name="first"/>, from its start (a direct range's units).</summary>
    private static Memory<byte> Spanning(Memory<byte> first, int length)
    {
        if (first.Length == length)
            return first;
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray<byte>(first, out var a);
        return a.Array.AsMemory(a.Offset, length);
    }

    /// <summary>One request (a multi-range one when the group has several ranges), within the concurrency bound.</summary>
    private async Task SendAsync(ByteRangeRead[] group, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (group.Length == 1)
                await _source.ReadAsync(group[0].Offset, group[0].Destination, ct).ConfigureAwait(false);
            else
                await _source.ReadRangesAsync(group, ct).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    // ------------------------------------------------------------------ reads: one wave per selection

    /// <remarks>
    /// The images of chunks read block by block live in pooled buffers held by the calling thread until its next call:
    /// they are valid until then (the array decodes them before it reads again).
    /// </remarks>
    public ReadOnlyMemory<byte>[] FetchForRead(IReadOnlyList<long> chunks, int blocksPerChunk, int blockNBytes, Func<long, int, bool> blockNeeded)
    {
        var result = new ReadOnlyMemory<byte>[chunks.Count];
        if (_disposed != 0)
            return result;
        var images = _images.Value!;
        images.Reset();
        Wait(FetchForReadAsync(chunks, blocksPerChunk, blockNBytes, blockNeeded, result, images));
        return result;
    }

    /// <summary>
    /// The packed images of one thread's read (pooled buffers, <see cref="SharedBuffer"/>), let go at that thread's
    /// next read. The memory pool holds the fetched blocks' slices of them, so an image goes back to the shared array
    /// pool once the read is over and its blocks are evicted; arrays opened for a few patches each, as a training loop
    /// does, receive into reused memory instead of fresh pages.
    /// </summary>
    private sealed class ImageBuffers
    {
        private readonly List<SharedBuffer> _held = [];

        public void Reset()
        {
            foreach (var b in _held)
                b.Release();
            _held.Clear();
        }

        public SharedBuffer Get(int size)
        {
            var b = SharedBuffer.Rent(size);
            _held.Add(b);
            return b;
        }
    }

    /// <summary>
    /// How a read of <paramref name="chunks"/> fetches them: whole (small chunks, chunks cached whole or of which the read
    /// needs half the blocks or more, chunks whose block table does not check out), or block by block (with their
    /// block tables loaded); chunks without bytes to fetch are in neither list. Whole chunks count against
    /// <paramref name="budget"/>; those beyond it are left to the frame reads.
    /// </summary>
    private async Task<(List<(int Slot, long Start, BlockTable Table, List<int> Needed)> Blocks, List<(int Slot, Target Target)> Whole)> PlanAsync(
        IReadOnlyList<long> chunks, int blocksPerChunk, int blockNBytes, Func<long, int, bool> blockNeeded, long budget, CancellationToken ct)
    {
        var blockMode = new List<(int Slot, long Start, long End, List<int> Needed)>();
        var whole = new List<(int Slot, Target Target)>();
        for (int k = 0; k < chunks.Count; k++)
        {
            long c = chunks[k];
            if (Fetchable(c) is not var (start, end))
                continue;
            var u = new Unit(start, (int)(end - start));
            if (end - start >= _options.BlockReadMinChunkBytes && blocksPerChunk > 1 && !_cache.Holds(_key, start, u.Length)
                && !(_disk is not null && Cacheable(u) && _disk.Covers(start, u.Length)))
            {
                var needed = new List<int>();
                for (int b = 0; b < blocksPerChunk && needed.Count * 2 < blocksPerChunk; b++)
                    if (blockNeeded(c, b))
                        needed.Add(b);
                if (needed.Count * 2 < blocksPerChunk)
                {
                    blockMode.Add((k, start, end, needed));
                    continue;
                }
            }
            if ((budget -= u.Length) >= 0)
                whole.Add((k, new Target(u))); // beyond the budget: fetched when read
        }
        var blocks = new List<(int Slot, long Start, BlockTable Table, List<int> Needed)>(blockMode.Count);
        if (blockMode.Count == 0)
            return (blocks, whole);
        await LoadTablesAsync(blockMode.Select(m => (m.Start, m.End)).ToList(), blocksPerChunk, blockNBytes, ct).ConfigureAwait(false);
        foreach (var m in blockMode)
        {
            if (_tables[m.Start] is { } table)
            {
                if (table.Delta && !m.Needed.Contains(0))
                    m.Needed.Insert(0, 0);
                blocks.Add((m.Slot, m.Start, table, m.Needed));
            }
            else if ((budget -= m.End - m.Start) >= 0)
            {
                whole.Add((m.Slot, new Target(new Unit(m.Start, (int)(m.End - m.Start))))); // not readable block by block
            }
        }
        return (blocks, whole);
    }

    private async Task FetchForReadAsync(IReadOnlyList<long> chunks, int blocksPerChunk, int blockNBytes, Func<long, int, bool> blockNeeded,
        ReadOnlyMemory<byte>[] result, ImageBuffers images)
    {
        var (blockMode, whole) = await PlanAsync(chunks, blocksPerChunk, blockNBytes, blockNeeded, _options.ChunkCacheBytes / 2, default).ConfigureAwait(false);
        // The data wave: whole chunks and the blocks of all block-read chunks together, each block received into its
        // place in the chunk's packed image.
        var targets = whole.Select(w => w.Target).ToList();
        var packed = new List<(int Slot, BlockTable Table, SharedBuffer Image, int Size, List<(int Block, int Pos)> Blocks)>();
        foreach (var m in blockMode)
        {
            var table = m.Table;
            var (image, size, blocks) = PackedImage(table, m.Needed, images);
            foreach (var (b, pos) in blocks)
                targets.Add(new Target(new Unit(m.Start + table.BlockStart[b], table.BlockEnd[b] - table.BlockStart[b]), image, pos));
            packed.Add((m.Slot, table, image, size, blocks));
        }
        if (targets.Count == 0)
            return;
        await LoadAsync(targets).ConfigureAwait(false);
        foreach (var (slot, target) in whole)
            result[slot] = target.Result;
        // Chunks whose blocks do not check out get an empty result: read (whole) and checked as usual.
        foreach (var (slot, table, image, size, blocks) in packed)
            if (table.Memcpyed || blocks.All(x => StreamsFit(table.Header, x.Block, image.Array.AsSpan(x.Pos, table.BlockEnd[x.Block] - table.BlockStart[x.Block]))))
                result[slot] = image.Array.AsMemory(0, size);
    }

    /// <summary>
    /// Read-ahead: fetches into the memory pool what reads of <paramref name="chunks"/> will need, in one wave, within
    /// half the pool's bound; units held in memory or on disk, or being fetched, are skipped. The blocks are received
    /// into one pooled buffer, laid out in object order (so adjacent blocks go out as one range), whose slices the pool
    /// keeps, marked as fetched ahead (evicted after what was read); the reads then copy them into their packed images
    /// without a request.
    /// </summary>
    public async Task PrefetchAsync(IReadOnlyList<long> chunks, int blocksPerChunk, int blockNBytes, Func<long, int, bool> blockNeeded,
        CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        long budget = _cache.MaxBytes / 2;
        var (blockMode, whole) = await PlanAsync(chunks, blocksPerChunk, blockNBytes, blockNeeded, budget, cancellationToken).ConfigureAwait(false);
        var targets = new List<Target>();
        foreach (var (_, t) in whole)
            if (!Held(t.Unit))
            {
                targets.Add(t);
                budget -= t.Unit.Length;
            }
        // The blocks go into one pooled buffer in object order: those to fetch, and those the pool holds as slices of
        // other buffers, moved here (left where they are, each would pin its whole buffer while it waits to be read).
        var blocks = new List<(Unit Unit, bool Move)>();
        long size = 0;
        foreach (var m in blockMode)
        {
            int before = blocks.Count;
            long chunkBytes = 0;
            foreach (int b in m.Needed)
            {
                var u = new Unit(m.Start + m.Table.BlockStart[b], m.Table.BlockEnd[b] - m.Table.BlockStart[b]);
                int held = _cache.Reserve(_key, u.Offset, u.Length);
                if (held == 1 || (held == 0 && HeldElsewhere(u)) || blocks.FindIndex(before, x => x.Unit == u) >= 0)
                    continue;
                blocks.Add((u, held == 2));
                chunkBytes += u.Length;
            }
            if ((budget -= chunkBytes) < 0 || size + chunkBytes > int.MaxValue / 2)
            {
                blocks.RemoveRange(before, blocks.Count - before);
                break;
            }
            size += chunkBytes;
        }
        SharedBuffer? buffer = null;
        try
        {
            if (blocks.Count > 0)
            {
                blocks.Sort((a, b) => a.Unit.Offset.CompareTo(b.Unit.Offset));
                buffer = SharedBuffer.Rent((int)size);
                int pos = 0;
                foreach (var (u, move) in blocks)
                {
                    if (!move || !_cache.MoveInto(_key, u.Offset, buffer, pos, u.Length))
                        targets.Add(new Target(u, buffer, pos));
                    pos += u.Length;
                }
            }
            if (targets.Count > 0)
                await FetchTargetsAsync(targets, cancellationToken, ahead: true).ConfigureAwait(false);
        }
        finally
        {
            buffer?.Release(); // the memory pool holds the slices it keeps
        }
    }

    /// <summary>True when <paramref name="u"/> needs no request: in the memory pool (kept there until read), on disk, or being fetched.</summary>
    private bool Held(Unit u) => _cache.Reserve(_key, u.Offset, u.Length) != 0 || HeldElsewhere(u);

    /// <summary>True when <paramref name="u"/> is being fetched or is in the disk cache.</summary>
    private bool HeldElsewhere(Unit u) => _inFlight.ContainsKey(u) || (_disk is not null && Cacheable(u) && _disk.Covers(u.Offset, u.Length));

    /// <summary>
    /// Makes sure the block tables of <paramref name="chunks"/> are known: where the source takes multi-range
    /// requests and they are small enough, the tables of every large chunk of the array, once; else those asked.
    /// </summary>
    private async Task LoadTablesAsync(List<(long Start, long End)> chunks, int blocksPerChunk, int blockNBytes, CancellationToken ct = default)
    {
        int tableBytes = ChunkFormat.ExtendedHeaderLength + 4 * blocksPerChunk;
        if (chunks.All(c => _tables.ContainsKey(c.Start)))
            return;
        if (_source.MaxRangesPerRequest > 1 && _chunkStart is { } all)
        {
            Task? load;
            lock (_lock)
            {
                load = _allTables;
                if (load is null)
                {
                    var large = new List<(long, long)>();
                    for (long c = 0; c < all.Length; c++)
                        if (Fetchable(c) is var (s, e) && e - s >= _options.BlockReadMinChunkBytes)
                            large.Add((s, e));
                    if (large.Count * (long)tableBytes <= AllTablesMaxBytes)
                        _allTables = load = FetchTablesAsync(large, blocksPerChunk, blockNBytes);
                }
            }
            if (load is not null)
            {
                try
                {
                    await load.WaitAsync(ct).ConfigureAwait(false);
                }
                catch when (load.IsFaulted || load.IsCanceled)
                {
                    lock (_lock)
                        if (_allTables == load)
                            _allTables = null; // a later read tries again
                    throw;
                }
            }
        }
        var missing = chunks.Where(c => !_tables.ContainsKey(c.Start)).Distinct().ToList();
        if (missing.Count > 0)
            await FetchTablesAsync(missing, blocksPerChunk, blockNBytes, ct).ConfigureAwait(false);
    }

    private async Task FetchTablesAsync(List<(long Start, long End)> chunks, int blocksPerChunk, int blockNBytes, CancellationToken ct = default)
    {
        await Task.Yield(); // never run the requests under the caller's lock
        int tableBytes = ChunkFormat.ExtendedHeaderLength + 4 * blocksPerChunk;
        var units = chunks.Select(c => new Unit(c.Start, (int)Math.Min(tableBytes, c.End - c.Start))).ToList();
        var heads = await GetUnitsAsync(units, ct).ConfigureAwait(false);
        for (int i = 0; i < chunks.Count; i++)
            _tables[chunks[i].Start] = ParseTable(chunks[i].Start, chunks[i].End, heads[i].Span[..units[i].Length].ToArray(), blocksPerChunk, blockNBytes);
    }

    /// <summary>A large chunk's header and block starts (as stored) and every block's byte extent in the chunk.</summary>
    private sealed class BlockTable(ChunkHeader header, byte[] head, int headerLength, int[] blockStart, int[] blockEnd, bool delta, bool memcpyed, int cbytes)
    {
        public readonly ChunkHeader Header = header;
        public readonly byte[] Head = head;
        public readonly int HeaderLength = headerLength;
        public readonly int[] BlockStart = blockStart;
        public readonly int[] BlockEnd = blockEnd;
        public readonly bool Delta = delta;
        public readonly bool Memcpyed = memcpyed;
        public readonly int CBytes = cbytes;
    }

    /// <summary>
    /// The image handed to the decoder for a chunk read block by block, laid out before any block arrives (a pooled
    /// buffer held by the reading thread), and where each needed block goes in it (blocks with the same stored start
    /// once). Regular chunks: the header and block starts followed by the needed blocks packed, starts rewritten to point
    /// at them (blocks not fetched point at the first fetched one: never decoded), the compressed size set to the packed
    /// length. Memcpyed chunks (blocks at fixed places): an image of the chunk's size with the blocks in place.
    /// </summary>
    private static (SharedBuffer Image, int Size, List<(int Block, int Pos)> Blocks) PackedImage(BlockTable table, List<int> needed, ImageBuffers images)
    {
        var blocks = new List<(int Block, int Pos)>(needed.Count);
        if (table.Memcpyed)
        {
            var full = images.Get(table.CBytes);
            table.Head.AsSpan(0, Math.Min(table.Head.Length, table.CBytes)).CopyTo(full.Array);
            foreach (int b in needed)
                blocks.Add((b, table.BlockStart[b]));
            return (full, table.CBytes, blocks);
        }
        int afterStarts = table.HeaderLength + 4 * table.BlockStart.Length;
        var placed = new Dictionary<int, int>(); // stored start → packed start
        int pos = afterStarts;
        foreach (int b in needed)
        {
            if (placed.ContainsKey(table.BlockStart[b]))
                continue;
            placed[table.BlockStart[b]] = pos;
            blocks.Add((b, pos));
            pos += table.BlockEnd[b] - table.BlockStart[b];
        }
        int size = pos;
        var buffer = images.Get(size);
        var image = buffer.Array.AsSpan(0, size);
        table.Head.AsSpan(0, afterStarts).CopyTo(image);
        for (int b = 0; b < table.BlockStart.Length; b++)
            BinaryPrimitives.WriteInt32LittleEndian(image[(table.HeaderLength + 4 * b)..], placed.GetValueOrDefault(table.BlockStart[b], afterStarts));
        BinaryPrimitives.WriteInt32LittleEndian(image[12..], size); // cbytes
        return (buffer, size, blocks);
    }

    /// <summary>True when the streams of block <paramref name="b"/> (spec §5.2) end inside its extent <paramref name="block"/>.</summary>
    private static bool StreamsFit(in ChunkHeader h, int b, ReadOnlySpan<byte> block)
    {
        bool leftover = b == h.NBlocks - 1 && h.NBytes % h.BlockSize != 0;
        int nstreams = h.DontSplit || leftover ? 1 : h.TypeSize;
        int pos = 0;
        for (int s = 0; s < nstreams; s++)
        {
            if (pos > block.Length - 4)
                return false;
            int csize = BinaryPrimitives.ReadInt32LittleEndian(block[pos..]);
            pos += 4;
            pos += csize < 0 ? 1 : csize;
            if (csize > block.Length || pos > block.Length)
                return false;
        }
        return true;
    }

    /// <summary>
    /// Every block's byte extent from the chunk header and block starts, or null when the chunk is special, uses a
    /// dictionary or does not match the layout (it is then read whole, and checked, as usual).
    /// </summary>
    private BlockTable? ParseTable(long start, long end, byte[] head, int blocksPerChunk, int blockNBytes)
    {
        if (head.Length < ChunkFormat.ExtendedHeaderLength)
            return null;
        ChunkHeader h;
        try
        {
            h = ChunkHeader.Parse(head, new ChunkLocation(Name, "chunk", start), requireWholeChunk: false);
        }
        catch (MLArrayException)
        {
            return null; // the whole-chunk read reports it, with the chunk's index
        }
        if (h.IsSpecial || h.NBlocks != blocksPerChunk || h.BlockSize != blockNBytes || h.CBytes > end - start || (h.Blosc2Flags & ChunkFormat.Blosc2FlagDict) != 0
            || (!h.IsMemcpyed && head.Length < h.HeaderLength + 4 * h.NBlocks))
            return null;
        var blockStart = new int[h.NBlocks];
        var blockEnd = new int[h.NBlocks];
        if (h.IsMemcpyed)
        {
            for (int b = 0; b < h.NBlocks; b++)
            {
                blockStart[b] = h.HeaderLength + b * h.BlockSize;
                blockEnd[b] = blockStart[b] + h.BlockBytes(b);
            }
        }
        else
        {
            // A block runs from its start to the next larger start, or cbytes (spec §5.2: starts need not increase).
            int minStart = h.HeaderLength + 4 * h.NBlocks;
            for (int b = 0; b < h.NBlocks; b++)
            {
                blockStart[b] = BinaryPrimitives.ReadInt32LittleEndian(head.AsSpan(h.HeaderLength + 4 * b));
                if (blockStart[b] < minStart || blockStart[b] >= h.CBytes)
                    return null;
            }
            var sorted = blockStart.Distinct().Order().ToArray();
            for (int b = 0; b < h.NBlocks; b++)
            {
                int i = Array.BinarySearch(sorted, blockStart[b]);
                blockEnd[b] = i + 1 < sorted.Length ? sorted[i + 1] : h.CBytes;
            }
        }
        return new BlockTable(h, head, h.HeaderLength, blockStart, blockEnd, h.HasDelta && !h.IsMemcpyed, h.IsMemcpyed, h.CBytes);
    }

    private static void Wait(Task task) => task.GetAwaiter().GetResult();

    private static T Wait<T>(Task<T> task) => task.GetAwaiter().GetResult();

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _source.Dispose();
        _disk?.Dispose();
        if (_privateCache)
            _cache.Clear(); // its pooled images go back for the next array's reads
        _gate.Dispose();
        _images.Dispose();
    }
}
