using System.Buffers;
using MLArray.Blosc2.Codecs;
using MLArray.Blosc2.Format;

namespace MLArray.Blosc2;

// Write-back cache of an array being filled after Create (docs/concurrency.md, "Arrays from Create").
public sealed partial class B2ndArray
{
    /// <summary>Decoded chunks of partial writes, held until complete (arrays from <see cref="Create"/> only; null otherwise).</summary>
    private WriteBackCache? _writeCache;

    /// <summary>The bound on the decoded bytes the write-back cache holds (tests lower it to exercise eviction).</summary>
    internal long WriteCacheLimit { get; set; } = 256L << 20;

    /// <summary>Chunks held in the write-back cache (diagnostics and tests).</summary>
    internal int CachedChunks
    {
        get
        {
            lock (_writeLock)
                return _writeCache?.Entries.Count ?? 0;
        }
    }

    private sealed class WriteBackCache
    {
        public readonly Dictionary<long, CachedChunk> Entries = [];
        public long Bytes;
        public long Clock;
    }

    private sealed class CachedChunk(byte[] data, long valid)
    {
        public byte[] Data { get; } = data;
        public long Valid { get; } = valid;
        public long Covered { get; set; }
        public long LastUse { get; set; }
    }

    /// <summary>
    /// A write on an array from <see cref="Create"/> (called under the write lock): chunks the selection covers whole
    /// are compressed and appended at once; the others are updated in the cache, decoded once, and compressed when
    /// every element has been written (or when evicted, flushed or disposed). Nothing is committed to the file's header
    /// here: the file switches to the new content at <see cref="Flush"/> or <see cref="Dispose"/>.
    /// </summary>
    private unsafe void WriteCached(List<long> chunks, NdSelection sel, long[] outStrides, ReadOnlySpan<byte> source, CompressionParams p, int maxChunk, int workers)
    {
        var cache = _writeCache!;
        var full = new List<long>();
        var partial = new List<long>();
        foreach (long c in chunks)
            (CoveredItems(c, sel, out long valid) == valid ? full : partial).Add(c);
        if (full.Count > 0)
        {
            var snapshot = _store.Snapshot(full);
            try
            {
                WriteBatches(full, sel, outStrides, source, p, maxChunk, workers);
            }
            catch
            {
                _store.Restore(snapshot);
                throw;
            }
            foreach (long c in full)
                Drop(cache, c); // superseded by the new payload
        }
        if (partial.Count == 0)
            return;

        int n = _layout.ChunkNBytes;
        var ctx = _contexts.Rent();
        try
        {
            // Decode the chunks not cached yet first: a failure there leaves every entry as it was.
            var created = new List<long>();
            try
            {
                foreach (long c in partial)
                {
                    if (cache.Entries.ContainsKey(c))
                        continue;
                    var data = ArrayPool<byte>.Shared.Rent(n);
                    cache.Entries[c] = new CachedChunk(data, ValidItems(c));
                    cache.Bytes += n;
                    created.Add(c);
                    DecodeChunkForUpdate(c, data.AsSpan(0, n), ctx);
                }
            }
            catch
            {
                foreach (long c in created)
                    Drop(cache, c);
                throw;
            }
        }
        finally
        {
            _contexts.Return(ctx);
        }
        var complete = new List<long>();
        fixed (byte* src = source)
        {
            foreach (long c in partial)
            {
                var e = cache.Entries[c];
                fixed (byte* pc = e.Data)
                    CopyIntoChunk(c, sel, outStrides, src, pc);
                e.Covered += CoveredItems(c, sel, out _);
                e.LastUse = ++cache.Clock;
                if (e.Covered >= e.Valid) // overlapping writes may count twice: an early write-back only costs a recompression
                    complete.Add(c);
            }
        }
        WriteBack(cache, complete, p, maxChunk, workers);
        if (cache.Bytes > WriteCacheLimit)
        {
            // Evict the least recently written chunks down to half the bound.
            var victims = new List<long>();
            long bytes = cache.Bytes;
            foreach (var (c, _) in cache.Entries.OrderBy(kv => kv.Value.LastUse))
            {
                if (bytes <= WriteCacheLimit / 2)
                    break;
                victims.Add(c);
                bytes -= n;
            }
            WriteBack(cache, victims, p, maxChunk, workers);
        }
    }

    /// <summary>Number of array elements (not padding) in chunk <paramref name="c"/>.</summary>
    private long ValidItems(long c)
    {
        CoveredItems(c, NdSelection.Full(_layout.Shape), out long valid);
        return valid;
    }

    /// <summary>Compresses cached chunks, appends them (uncommitted) and drops them from the cache.</summary>
    private void WriteBack(WriteBackCache cache, List<long> chunks, CompressionParams p, int maxChunk, int workers)
    {
        int n = _layout.ChunkNBytes;
        CompressAndAppend(chunks, workers, (c, ctx) => CompressChunk(c, cache.Entries[c].Data.AsSpan(0, n), p, maxChunk, ctx), c => Drop(cache, c));
    }

    private void Drop(WriteBackCache cache, long c)
    {
        if (cache.Entries.Remove(c, out var e))
        {
            cache.Bytes -= _layout.ChunkNBytes;
            ArrayPool<byte>.Shared.Return(e.Data);
        }
    }

    /// <summary>
    /// Compresses and appends every cached chunk (reads, <see cref="Save(Stream, IReadOnlyDictionary{string, byte[]})"/>)
    /// and, with <paramref name="commit"/>, switches the file's header to the new content (<see cref="Flush"/>, <see cref="Dispose"/>).
    /// </summary>
    private void WriteBackAll(bool commit)
    {
        if (_writeCache is null)
            return;
        lock (_writeLock)
        {
            var cache = _writeCache;
            if (cache.Entries.Count > 0)
            {
                var p = CompressionParams with { Threads = 1 };
                WriteBack(cache, cache.Entries.Keys.Order().ToList(), p, ChunkEncoder.MaxChunkSize(_layout.ChunkNBytes), Environment.ProcessorCount);
            }
            if (commit)
                _store.Commit();
        }
    }
}
