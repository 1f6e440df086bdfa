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
/// to point at the fetched blocks laid out one after the other (and its compressed size at their end). The synchronous
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
    private readonly string _key;
    private readonly ConcurrentDictionary<long, BlockTable?> _tables = new(); // by chunk start; null: read the chunk whole
    private readonly ConcurrentDictionary<Unit, Task<byte[]>> _inFlight = new();
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
        _cache = options.MemoryCache ?? RemoteMemoryCache.Private(options.ChunkCacheBytes);
        _key = RemoteMemoryCache.ObjectKey(source);
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
            var data = Wait(GetUnitsAsync([new Unit(start, (int)(end - start))]))[0];
            data.Span.Slice((int)(offset - start), destination.Length).CopyTo(destination);
            return;
        }
        var buffer = new byte[destination.Length];
        Wait(FetchAsync([new Unit(offset, buffer.Length)], [buffer]));
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
    /// The bytes of every unit (at least the unit's length, starting at its offset): from the memory cache, else the
    /// disk cache, else the network; the fetched ones are cached.
    /// </summary>
    /// <param name="units">The units.</param>
    /// <param name="scratch">
    /// Buffers of the calling read for units served from the disk cache (valid until that thread's next read); null:
    /// new arrays.
    /// </param>
    private async Task<ReadOnlyMemory<byte>[]> GetUnitsAsync(IReadOnlyList<Unit> units, ImageBuffers? scratch = null)
    {
        var result = new ReadOnlyMemory<byte>[units.Count];
        var missing = new List<int>();
        for (int i = 0; i < units.Count; i++)
        {
            var u = units[i];
            if (_cache.TryGet(_key, u.Offset, u.Length, out var data))
            {
                result[i] = data;
                continue;
            }
            if (_disk is not null && Cacheable(u))
            {
                // A positioned read (no per-read open). Whole chunks, which the next patches are likely to touch again,
                // go to the memory pool too; blocks go into reused buffers (no fresh pages to fault in).
                bool keep = scratch is null || IsWholeChunk(u);
                var buffer = keep ? GC.AllocateUninitializedArray<byte>(u.Length) : scratch!.Get(u.Length);
                if (_disk.TryRead(u.Offset, buffer.AsSpan(0, u.Length)))
                {
                    if (keep)
                        _cache.Add(_key, u.Offset, buffer);
                    result[i] = buffer.AsMemory(0, u.Length);
                    continue;
                }
            }
            missing.Add(i);
        }
        if (missing.Count == 0)
            return result;
        // Units another read is fetching right now are awaited, not fetched twice (concurrent readers of one chunk).
        var mine = new List<(int Slot, TaskCompletionSource<byte[]> Done)>();
        var theirs = new List<(int Slot, Task<byte[]> Task)>();
        foreach (int i in missing)
        {
            var done = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
            var running = _inFlight.GetOrAdd(units[i], done.Task);
            if (running == done.Task)
                mine.Add((i, done));
            else
                theirs.Add((i, running));
        }
        if (mine.Count > 0)
        {
            var fetchUnits = mine.Select(m => units[m.Slot]).ToArray();
            var buffers = fetchUnits.Select(u => GC.AllocateUninitializedArray<byte>(u.Length)).ToArray();
            try
            {
                await FetchAsync(fetchUnits, buffers).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                foreach (var (slot, done) in mine)
                {
                    _inFlight.TryRemove(units[slot], out _);
                    done.SetException(e);
                    _ = done.Task.Exception; // observed: the caller rethrows it
                }
                throw;
            }
            for (int k = 0; k < mine.Count; k++)
            {
                var (slot, done) = mine[k];
                result[slot] = buffers[k];
                _cache.Add(_key, fetchUnits[k].Offset, buffers[k]);
                if (_disk is not null && Cacheable(fetchUnits[k]))
                    _disk.Store(fetchUnits[k].Offset, buffers[k]);
                _inFlight.TryRemove(units[slot], out _);
                done.SetResult(buffers[k]);
            }
        }
        foreach (var (slot, task) in theirs)
            result[slot] = await task.ConfigureAwait(false);
        return result;
    }

    private bool IsWholeChunk(Unit u) => ChunkExtent(u.Offset) is var (start, end) && start == u.Offset && end - start == u.Length;

    private bool Cacheable(Unit u) => u.Offset + u.Length > _head.Length && u.Offset < _tailStart;

    /// <summary>
    /// Fetches the units into their buffers in one wave: sorted, merged into ranges where they are closer than the
    /// gap threshold (across chunks too), the ranges grouped into requests of up to
    /// <see cref="IByteRangeSource.MaxRangesPerRequest"/>, all requests concurrent (bounded by MaxConcurrency).
    /// </summary>
    private async Task FetchAsync(IReadOnlyList<Unit> units, byte[][] buffers)
    {
        var order = Enumerable.Range(0, units.Count).OrderBy(i => units[i].Offset).ToArray();
        int perRequest = Math.Max(1, _source.MaxRangesPerRequest);
        bool multiRange = perRequest > 1;
        var ranges = new List<(long From, long To, int First, int Count)>(); // over `order`
        for (int k = 0; k < order.Length; k++)
        {
            var u = units[order[k]];
            // Multi-range sources take every unit as a part of its own (read straight into its buffer, no gap bytes).
            if (!multiRange && ranges.Count > 0 && ranges[^1] is var last && u.Offset - last.To <= _options.BlockGapBytes && u.Offset >= last.From
                && Math.Max(last.To, u.Offset + u.Length) - last.From <= MaxMergedRange)
                ranges[^1] = (last.From, Math.Max(last.To, u.Offset + u.Length), last.First, last.Count + 1);
            else
                ranges.Add((u.Offset, u.Offset + u.Length, k, 1));
        }
        // A range holding exactly one unit is read straight into the unit's buffer; merged ranges into a scratch.
        var targets = ranges.Select(r => r.Count == 1 && units[order[r.First]].Length == r.To - r.From
            ? buffers[order[r.First]]
            : GC.AllocateUninitializedArray<byte>((int)(r.To - r.From))).ToArray();
        var requests = new List<Task>();
        for (int g = 0; g < ranges.Count; g += perRequest)
        {
            var group = new ByteRangeRead[Math.Min(perRequest, ranges.Count - g)];
            for (int i = 0; i < group.Length; i++)
                group[i] = new ByteRangeRead(ranges[g + i].From, targets[g + i]);
            requests.Add(SendAsync(group));
        }
        await Task.WhenAll(requests).ConfigureAwait(false);
        for (int r = 0; r < ranges.Count; r++)
        {
            if (ReferenceEquals(targets[r], buffers[order[ranges[r].First]]))
                continue;
            for (int k = ranges[r].First; k < ranges[r].First + ranges[r].Count; k++)
                targets[r].AsSpan((int)(units[order[k]].Offset - ranges[r].From), units[order[k]].Length).CopyTo(buffers[order[k]]);
        }
    }

    /// <summary>One request (a multi-range one when the group has several ranges), within the concurrency bound.</summary>
    private async Task SendAsync(ByteRangeRead[] group)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (group.Length == 1)
                await _source.ReadAsync(group[0].Offset, group[0].Destination).ConfigureAwait(false);
            else
                await _source.ReadRangesAsync(group).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    // ------------------------------------------------------------------ reads: one wave per selection

    /// <remarks>
    /// The images of chunks read block by block live in buffers of the calling thread, reused by its next call: they
    /// are valid until then (the array decodes them before it reads again).
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
    /// Buffers for the packed images (and disk-cached units) of one thread's read, rented from the shared array pool and
    /// returned at that thread's next read (so arrays opened for a few patches each, as a training loop does, reuse
    /// the same buffers instead of allocating new ones).
    /// </summary>
    private sealed class ImageBuffers
    {
        private readonly List<byte[]> _rented = [];

        public void Reset()
        {
            foreach (var b in _rented)
                System.Buffers.ArrayPool<byte>.Shared.Return(b);
            _rented.Clear();
        }

        public byte[] Get(int size)
        {
            var b = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(size, 1));
            _rented.Add(b);
            return b;
        }
    }

    private async Task FetchForReadAsync(IReadOnlyList<long> chunks, int blocksPerChunk, int blockNBytes, Func<long, int, bool> blockNeeded,
        ReadOnlyMemory<byte>[] result, ImageBuffers images)
    {
        // Which chunks are read block by block (large, a minority of their blocks needed, not cached whole).
        var blockMode = new List<(int Slot, long Start, long End, List<int> Needed)>();
        var whole = new List<(int Slot, Unit Unit)>();
        long budget = _options.ChunkCacheBytes / 2;
        for (int k = 0; k < chunks.Count; k++)
        {
            long c = chunks[k];
            if (Fetchable(c) is not var (start, end))
                continue;
            var u = new Unit(start, (int)(end - start));
            if (end - start >= _options.BlockReadMinChunkBytes && blocksPerChunk > 1 && !_cache.TryGet(_key, start, u.Length, out _)
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
                whole.Add((k, u)); // beyond the budget: fetched when read
        }
        if (blockMode.Count > 0)
            await LoadTablesAsync(blockMode.Select(m => (m.Start, m.End)).ToList(), blocksPerChunk, blockNBytes).ConfigureAwait(false);

        // Chunks that turned out not to be readable block by block are fetched whole, in the same wave.
        foreach (var m in blockMode)
            if (_tables[m.Start] is null && (budget -= m.End - m.Start) >= 0)
                whole.Add((m.Slot, new Unit(m.Start, (int)(m.End - m.Start))));
        // The data wave: whole chunks and the missing blocks of all block-read chunks together.
        var units = whole.Select(w => w.Unit).ToList();
        var blockUnits = new List<(int Mode, int Block, int Unit)>();
        for (int i = 0; i < blockMode.Count; i++)
        {
            var m = blockMode[i];
            if (_tables[m.Start] is not { } table)
                continue;
            if (table.Delta && !m.Needed.Contains(0))
                m.Needed.Insert(0, 0);
            var seen = new HashSet<int>();
            foreach (int b in m.Needed)
                if (seen.Add(table.BlockStart[b]))
                {
                    blockUnits.Add((i, b, units.Count));
                    units.Add(new Unit(m.Start + table.BlockStart[b], table.BlockEnd[b] - table.BlockStart[b]));
                }
        }
        if (units.Count == 0)
            return;
        var data = await GetUnitsAsync(units, images).ConfigureAwait(false);
        int unitIndex = 0;
        foreach (var (slot, _) in whole)
            result[slot] = data[unitIndex++];
        foreach (var group in blockUnits.GroupBy(x => x.Mode))
        {
            var m = blockMode[group.Key];
            var table = _tables[m.Start]!;
            // Chunks whose blocks do not check out get an empty result: read (whole) and checked as usual.
            if (PackedImage(table, group.Select(x => (x.Block, data[x.Unit])).ToList(), images) is { } image)
                result[m.Slot] = image;
        }
    }

    /// <summary>
    /// Makes sure the block tables of <paramref name="chunks"/> are known: where the source takes multi-range
    /// requests and they are small enough, the tables of every large chunk of the array, once; else those asked.
    /// </summary>
    private async Task LoadTablesAsync(List<(long Start, long End)> chunks, int blocksPerChunk, int blockNBytes)
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
                    await load.ConfigureAwait(false);
                }
                catch
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
            await FetchTablesAsync(missing, blocksPerChunk, blockNBytes).ConfigureAwait(false);
    }

    private async Task FetchTablesAsync(List<(long Start, long End)> chunks, int blocksPerChunk, int blockNBytes)
    {
        await Task.Yield(); // never run the requests under the caller's lock
        int tableBytes = ChunkFormat.ExtendedHeaderLength + 4 * blocksPerChunk;
        var units = chunks.Select(c => new Unit(c.Start, (int)Math.Min(tableBytes, c.End - c.Start))).ToList();
        var heads = await GetUnitsAsync(units).ConfigureAwait(false);
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
    /// The image handed to the decoder for a chunk read block by block, or null when a block's streams run outside its
    /// extent (the chunk is then read whole, and checked, as usual). Regular chunks: the header and block starts
    /// followed by the fetched blocks packed, starts rewritten to point at them (blocks not fetched point at the first
    /// fetched one: never decoded), the compressed size set to the packed length. Memcpyed chunks (blocks at fixed
    /// places): an image of the chunk's size with the fetched blocks in place.
    /// </summary>
    private static ReadOnlyMemory<byte>? PackedImage(BlockTable table, List<(int Block, ReadOnlyMemory<byte> Data)> blocks, ImageBuffers images)
    {
        var h = table.Header;
        if (table.Memcpyed)
        {
            var full = images.Get(table.CBytes);
            table.Head.AsSpan(0, Math.Min(table.Head.Length, table.CBytes)).CopyTo(full);
            foreach (var (b, data) in blocks)
                data.Span[..(table.BlockEnd[b] - table.BlockStart[b])].CopyTo(full.AsSpan(table.BlockStart[b]));
            return full.AsMemory(0, table.CBytes);
        }
        int afterStarts = table.HeaderLength + 4 * table.BlockStart.Length;
        int size = (int)(afterStarts + blocks.Sum(x => (long)(table.BlockEnd[x.Block] - table.BlockStart[x.Block])));
        var buffer = images.Get(size);
        var image = buffer.AsSpan(0, size);
        table.Head.AsSpan(0, afterStarts).CopyTo(image);
        var placed = new Dictionary<int, int>(); // stored start → packed start
        int pos = afterStarts;
        foreach (var (b, data) in blocks)
        {
            var block = data.Span[..(table.BlockEnd[b] - table.BlockStart[b])];
            if (!StreamsFit(h, b, block))
                return null;
            block.CopyTo(image[pos..]);
            placed[table.BlockStart[b]] = pos;
            pos += block.Length;
        }
        for (int b = 0; b < table.BlockStart.Length; b++)
            BinaryPrimitives.WriteInt32LittleEndian(image[(table.HeaderLength + 4 * b)..], placed.GetValueOrDefault(table.BlockStart[b], afterStarts));
        BinaryPrimitives.WriteInt32LittleEndian(image[12..], size); // cbytes
        return buffer.AsMemory(0, size);
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
        _gate.Dispose();
        _images.Dispose();
    }
}
