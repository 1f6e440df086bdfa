using System.Buffers.Binary;
using MLArray.Blosc2;
using MLArray.Blosc2.Format;

namespace MLArray.Remote;

/// <summary>
/// An <see cref="IFrameSource"/> over an <see cref="IByteRangeSource"/>: the head and the tail of the frame (header,
/// metalayers, offsets index, trailer with the vlmeta) are fetched once when opening (2 requests), small chunks are
/// fetched whole (one range per chunk, bounded by the next chunk's offset or the index), large chunks block by block
/// (<see cref="FetchForRead"/>); both kept in a bounded LRU cache.
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
    private readonly DiskCachedObject? _disk;
    private readonly object _lock = new();
    private readonly Dictionary<long, LinkedListNode<(long Start, byte[] Data)>> _cache = [];
    private readonly LinkedList<(long Start, byte[] Data)> _lru = new();
    private readonly Dictionary<long, Task<byte[]>> _inFlight = [];
    private readonly Dictionary<long, Task<BlockTable?>> _blockTables = []; // by chunk start; small, kept while open
    private readonly Dictionary<long, BlockImage> _blockImages = []; // by chunk start; evicted with the LRU (key ~start)
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
        _disk = options.DiskCache?.For(source);
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

    /// <summary>Bytes inside a chunk held in the cache, without copying (the span keeps the cached array alive).</summary>
    public bool TryGetSpan(long offset, int length, out ReadOnlySpan<byte> span)
    {
        span = default;
        if (ChunkExtent(offset) is not var (start, end) || offset + length > end)
            return false;
        lock (_lock)
        {
            if (!_cache.TryGetValue(start, out var node))
                return false;
            _lru.Remove(node);
            _lru.AddFirst(node);
            span = node.Value.Data.AsSpan((int)(offset - start), length);
            return true;
        }
    }

    /// <summary>Fetches the listed chunks concurrently (those not cached yet, within half the cache budget).</summary>
    public void PrefetchChunks(IReadOnlyList<long> chunks)
    {
        if (chunks.Count < 2 || _disposed != 0)
            return;
        var tasks = new List<Task>();
        long budget = _options.ChunkCacheBytes / 2;
        foreach (long c in chunks)
            if (Fetchable(c) is var (start, end) && !StartWhole(start, end, tasks, ref budget))
                break;
        if (tasks.Count > 0)
            Wait(Task.WhenAll(tasks));
    }

    /// <summary>The extent of chunk <paramref name="c"/> when it has bytes outside the head and tail already held.</summary>
    private (long Start, long End)? Fetchable(long c)
    {
        if (_chunkStart is null || c < 0 || c >= _chunkStart.Length || _chunkStart[c] < 0 || ChunkExtent(_chunkStart[c]) is not var (start, end))
            return null; // special chunk: no bytes
        return end <= _head.Length || start >= _tailStart ? null : (start, end);
    }

    /// <summary>Starts fetching a whole chunk (false once half the cache budget is used: the rest is fetched when read).</summary>
    private bool StartWhole(long start, long end, List<Task> tasks, ref long budget)
    {
        budget -= end - start;
        if (budget < 0)
            return false;
        tasks.Add(GetChunkAsync(start, end));
        return true;
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
                    Evict();
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

    /// <summary>Drops least recently used entries until the cache fits its budget (caller holds the lock).</summary>
    private void Evict()
    {
        while (_cachedBytes > _options.ChunkCacheBytes && _lru.Count > 1)
        {
            var last = _lru.Last!;
            _lru.RemoveLast();
            _cache.Remove(last.Value.Start);
            _cachedBytes -= last.Value.Data.Length;
            if (last.Value.Start < 0) // a chunk read block by block (its block table stays)
                _blockImages.Remove(~last.Value.Start);
        }
    }

    // ------------------------------------------------------------------ block-granular reads of large chunks

    /// <summary>A large chunk's header and block starts (as stored) and every block's byte extent in the chunk.</summary>
    private sealed class BlockTable(long start, int cbytes, byte[] head, int[] blockStart, int[] blockEnd, bool delta)
    {
        public readonly long Start = start;
        public readonly int CBytes = cbytes;
        public readonly byte[] Head = head;
        public readonly int[] BlockStart = blockStart;
        public readonly int[] BlockEnd = blockEnd;
        public readonly bool Delta = delta;
    }

    /// <summary>
    /// A large chunk read block by block: its image (cbytes long) holds the header, the block starts and the fetched
    /// blocks; the bytes of the other blocks are not defined (never read: the decoder reads only the blocks asked for).
    /// </summary>
    private sealed class BlockImage
    {
        public BlockImage(BlockTable table)
        {
            Table = table;
            Image = GC.AllocateUninitializedArray<byte>(table.CBytes);
            table.Head.AsSpan(0, Math.Min(table.Head.Length, Image.Length)).CopyTo(Image);
            Present = new bool[table.BlockStart.Length];
        }

        public readonly BlockTable Table;
        public readonly byte[] Image;
        public readonly bool[] Present;
        public readonly SemaphoreSlim Gate = new(1, 1);
    }

    public ReadOnlyMemory<byte>[] FetchForRead(IReadOnlyList<long> chunks, int blocksPerChunk, int blockNBytes, Func<long, int, bool> blockNeeded)
    {
        var result = new ReadOnlyMemory<byte>[chunks.Count];
        if (_disposed != 0)
            return result;
        var tasks = new List<Task>();
        long budget = _options.ChunkCacheBytes / 2;
        for (int k = 0; k < chunks.Count; k++)
        {
            long c = chunks[k];
            if (Fetchable(c) is not var (start, end))
                continue;
            List<int>? needed = null;
            if (end - start >= _options.BlockReadMinChunkBytes && blocksPerChunk > 1 && !IsCachedWhole(start))
            {
                needed = [];
                for (int b = 0; b < blocksPerChunk && needed.Count * 2 < blocksPerChunk; b++)
                    if (blockNeeded(c, b))
                        needed.Add(b);
                if (needed.Count * 2 >= blocksPerChunk)
                    needed = null; // most blocks: the whole chunk is cheaper
            }
            if (needed is null)
            {
                StartWhole(start, end, tasks, ref budget); // beyond the budget: fetched when read
                continue;
            }
            // Chunks that turn out not to be readable block by block get an empty result: read (whole) as usual.
            tasks.Add(Fill(k, FetchBlocksAsync(start, end, blocksPerChunk, blockNBytes, needed)));
        }
        if (tasks.Count > 0)
            Wait(Task.WhenAll(tasks));
        return result;

        async Task Fill(int slot, Task<byte[]?> image)
        {
            if (await image.ConfigureAwait(false) is { } bytes)
                result[slot] = bytes;
        }
    }

    private bool IsCachedWhole(long start)
    {
        lock (_lock)
            return _cache.ContainsKey(start);
    }

    /// <summary>
    /// The image of the chunk at <paramref name="start"/> holding at least the <paramref name="needed"/> blocks, or null
    /// when the chunk is not a regular chunk with the expected blocks (then it is read whole, and checked, as usual).
    /// </summary>
    private async Task<byte[]?> FetchBlocksAsync(long start, long end, int blocksPerChunk, int blockNBytes, List<int> needed)
    {
        Task<BlockTable?> tableTask;
        lock (_lock)
        {
            if (!_blockTables.TryGetValue(start, out tableTask!))
                _blockTables[start] = tableTask = FetchBlockTableAsync(start, end, blocksPerChunk, blockNBytes);
        }
        var table = await tableTask.ConfigureAwait(false);
        if (table is null)
            return null;
        if (table.Delta && !needed.Contains(0))
            needed.Add(0);
        BlockImage? chunk;
        lock (_lock)
        {
            if (_blockImages.TryGetValue(start, out chunk) && _cache.TryGetValue(~start, out var node))
            {
                _lru.Remove(node);
                _lru.AddFirst(node);
            }
            else
            {
                chunk = new BlockImage(table);
                _blockImages[start] = chunk;
                _cache[~start] = _lru.AddFirst((~start, chunk.Image));
                _cachedBytes += chunk.Image.Length;
                Evict(); // keeps the entry just added (the most recent)
            }
        }
        await chunk.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            var missing = needed.Where(b => !chunk.Present[b]).OrderBy(b => table.BlockStart[b]).ToList();
            if (missing.Count == 0)
                return chunk.Image;
            // Merge the ranges of blocks closer than the gap: one request each, all concurrently.
            var groups = new List<List<int>> { new() { missing[0] } };
            for (int i = 1; i < missing.Count; i++)
            {
                var group = groups[^1];
                if (table.BlockStart[missing[i]] - table.BlockEnd[group[^1]] <= _options.BlockGapBytes)
                    group.Add(missing[i]);
                else
                    groups.Add([missing[i]]);
            }
            var ok = await Task.WhenAll(groups.Select(g => FetchBlockGroupAsync(chunk, g))).ConfigureAwait(false);
            if (ok.Contains(false))
                return null;
            foreach (int b in missing)
                chunk.Present[b] = true;
            return chunk.Image;
        }
        finally
        {
            chunk.Gate.Release();
        }
    }

    /// <summary>Fetches one merged range of blocks into the image; false when a block's streams run outside its extent.</summary>
    private async Task<bool> FetchBlockGroupAsync(BlockImage image, List<int> group)
    {
        var table = image.Table;
        int from = group.Min(b => table.BlockStart[b]), to = group.Max(b => table.BlockEnd[b]);
        var buffer = GC.AllocateUninitializedArray<byte>(to - from);
        await Fetch(table.Start + from, buffer).ConfigureAwait(false);
        var h = ChunkHeader.Parse(table.Head, new ChunkLocation(Name, "chunk", table.Start), requireWholeChunk: false);
        foreach (int b in group)
        {
            var block = buffer.AsSpan(table.BlockStart[b] - from, table.BlockEnd[b] - table.BlockStart[b]);
            if (!h.IsMemcpyed && !StreamsFit(h, b, block))
                return false;
            block.CopyTo(image.Image.AsSpan(table.BlockStart[b]));
        }
        return true;
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
    /// Fetches the chunk header and block starts (one request) and derives every block's byte extent, or null when
    /// the chunk is special, memcpyed with another block size, uses a dictionary or does not match the layout.
    /// </summary>
    private async Task<BlockTable?> FetchBlockTableAsync(long start, long end, int blocksPerChunk, int blockNBytes)
    {
        await Task.Yield(); // never run the request under the caller's lock
        var head = new byte[(int)Math.Min(ChunkFormat.ExtendedHeaderLength + 4L * blocksPerChunk, end - start)];
        try
        {
            await Fetch(start, head).ConfigureAwait(false);
        }
        catch
        {
            lock (_lock)
                _blockTables.Remove(start); // a later read tries again
            throw;
        }
        var where = new ChunkLocation(Name, "chunk", start);
        if (head.Length < ChunkFormat.ExtendedHeaderLength)
            return null;
        ChunkHeader h;
        try
        {
            h = ChunkHeader.Parse(head, where, requireWholeChunk: false);
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
        return new BlockTable(start, h.CBytes, head, blockStart, blockEnd, h.HasDelta && !h.IsMemcpyed);
    }

    private async Task Fetch(long offset, byte[] destination)
    {
        bool cacheable = _disk is not null && offset + destination.Length > _head.Length && offset < _tailStart;
        if (cacheable && _disk!.TryRead(offset, destination))
            return;
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            await _source.ReadAsync(offset, destination).ConfigureAwait(false);
            if (cacheable)
                _disk!.Store(offset, destination);
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
