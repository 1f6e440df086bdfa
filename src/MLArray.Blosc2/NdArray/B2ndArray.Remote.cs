using MLArray.Blosc2.Format;
using MLArray.Remote;

namespace MLArray.Blosc2;

public sealed partial class B2ndArray
{
    /// <summary>
    /// Opens a remote array read-only over <paramref name="source"/> (which the array then owns and disposes): 2 range
    /// requests (head, then offsets index + trailer); chunks are fetched on demand, whole, and cached.
    /// </summary>
    /// <exception cref="MLArrayFormatException">The object is not a valid b2nd frame.</exception>
    /// <exception cref="MLArrayRemoteException">A read failed.</exception>
    public static async Task<B2ndArray> OpenAsync(IByteRangeSource source, RemoteReadOptions? options = null, FrameLimits? limits = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        RangeFrameSource frameSource;
        try
        {
            frameSource = await RangeFrameSource.OpenAsync(source, options, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            source.Dispose();
            throw;
        }
        try
        {
            var frame = FrameReader.Open(frameSource, limits);
            frameSource.AttachLayout(frame);
            return new B2ndArray(frame, null, copyOnWrite: false);
        }
        catch
        {
            frameSource.Dispose();
            throw;
        }
    }

    /// <summary>Opens an http:// or https:// URL read-only (see <see cref="OpenAsync(IByteRangeSource, RemoteReadOptions?, FrameLimits?, CancellationToken)"/>).</summary>
    /// <exception cref="FileNotFoundException">HTTP 404.</exception>
    /// <exception cref="MLArrayRemoteException">Access denied, no Range support, ...</exception>
    public static async Task<B2ndArray> OpenAsync(Uri url, HttpRangeSourceOptions? http = null, RemoteReadOptions? options = null,
        FrameLimits? limits = null, CancellationToken cancellationToken = default)
    {
        var source = await HttpRangeSource.OpenAsync(url, http, cancellationToken).ConfigureAwait(false);
        return await OpenAsync(source, options, limits, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Read-ahead for remote arrays: fetches what reads of <paramref name="selections"/> will need (their chunks, or only
    /// the needed blocks of large chunks) into the array's memory pool, in one wave of concurrent requests (several
    /// ranges per request where the server takes them), so that those reads then decode without waiting on the network.
    /// Call it for the next patches while reading the current ones: the requests of several patches are then in flight
    /// at once, up to <see cref="RemoteReadOptions.MaxConcurrency"/>, and the latency is hidden.
    /// </summary>
    /// <param name="selections">The selections that will be read (per axis an index or a slice, as for <see cref="Read(ReadOnlySpan{NdIndex}, Span{byte}, int)"/>).</param>
    /// <param name="cancellationToken">Cancels the requests (reads waiting for them then fetch again themselves).</param>
    /// <returns>
    /// A task that completes when the bytes are in the memory pool. Bytes already in the memory pool or the disk cache,
    /// or being fetched, are not fetched again. At most half of the memory pool (<see cref="RemoteReadOptions.ChunkCacheBytes"/>,
    /// or the shared <see cref="RemoteReadOptions.MemoryCache"/>) is filled per call; the reads fetch what lies beyond.
    /// Arrays in files or memory need nothing fetched: the task is complete at once (the selections are still checked).
    /// </returns>
    /// <exception cref="ArgumentException">A selection does not fit the array (thrown at once).</exception>
    /// <exception cref="MLArrayRemoteException">A request failed (reported by the task).</exception>
    public Task PrefetchAsync(IReadOnlyList<NdIndex[]> selections, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(selections);
        ThrowIfDisposed();
        var plans = new List<ReadPlan>(selections.Count);
        foreach (var selection in selections)
        {
            if (selection is null)
                throw new ArgumentException("a selection is null; pass one NdIndex[] per read.", nameof(selections));
            var plan = new ReadPlan(_layout.NDim);
            plan.Selection.Set(_layout.Shape, selection);
            ChunksOf(plan.Selection, plan);
            OutStrides(plan.Selection, plan.OutStrides);
            plans.Add(plan);
        }
        if (Prefetcher is not { } prefetcher || cancellationToken.IsCancellationRequested)
            return cancellationToken.IsCancellationRequested ? Task.FromCanceled(cancellationToken) : Task.CompletedTask;
        // Per chunk, the blocks any of the selections touches.
        int nd = _layout.NDim, perChunk = _layout.BlocksPerChunk;
        var needed = new Dictionary<long, bool[]>();
        var chunks = new List<long>();
        Span<long> chunkCoords = stackalloc long[nd];
        Span<int> blockCoords = stackalloc int[nd];
        Span<long> extent = stackalloc long[nd];
        Span<long> strides = stackalloc long[nd];
        foreach (var plan in plans)
            foreach (long c in plan.Chunks)
            {
                if (!needed.TryGetValue(c, out var blocks))
                {
                    needed[c] = blocks = new bool[perChunk];
                    chunks.Add(c);
                }
                _layout.ChunkCoords(c, chunkCoords);
                for (int b = 0; b < perChunk; b++)
                    blocks[b] = blocks[b] || IntersectBlock(plan.Selection, chunkCoords, b, blockCoords, plan.OutStrides, extent, strides, out _, out _);
            }
        return prefetcher.PrefetchAsync(chunks, perChunk, _layout.BlockNBytes, (c, b) => needed[c][b], cancellationToken);
    }

    /// <summary>The remote source (traffic counters), or null for files and memory.</summary>
    internal IByteRangeSource? RemoteSource => (_frame.Source as RangeFrameSource)?.Source;

    /// <summary>The memory pool of a remote array (shared or private), or null for files and memory.</summary>
    internal RemoteMemoryCache? RemoteMemoryPool => (_frame.Source as RangeFrameSource)?.Cache;

    private static B2ndArray OpenUrl(string url, B2ndOpenMode mode, FrameLimits? limits)
    {
        var uri = new Uri(url);
        if (mode != B2ndOpenMode.Read)
            throw new ArgumentException($"'{HttpRangeSource.Redact(uri)}' is a URL: remote arrays open read-only (B2ndOpenMode.Read); download the file to change it.", nameof(mode));
        // Blocking door for synchronous callers; use OpenAsync where a thread must not wait on the network.
        return Task.Run(() => OpenAsync(uri, null, null, limits)).GetAwaiter().GetResult();
    }
}
