using System.Runtime.InteropServices;
using MLArray.Blosc2;
using MLArray.Remote;

namespace MLArray.Tests.Remote;

/// <summary>
/// Block-granular reads of large chunks over a real nginx: a 160³ float32 file with 80³ chunks (about 2 MB each
/// compressed, 125 blocks of 16³) written by our writer, one all-zero chunk (a special offset) and one all-zero block
/// inside a chunk (zero-run streams).
/// </summary>
public sealed class BlockReadTests(NginxServer nginx) : IClassFixture<NginxServer>, IDisposable
{
    private const int N = 160;
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-blocks-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string MakeFile(string name, IReadOnlyList<Blosc2Filter>? filters = null, int seed = 42)
    {
        var data = new float[N * N * N];
        var rng = new Random(seed);
        for (int i = 0; i < data.Length; i++)
            data[i] = (float)rng.NextDouble();
        for (int z = 80; z < N; z++) // chunk 7 (the last one) all zero
            for (int y = 80; y < N; y++)
                Array.Clear(data, (z * N + y) * N + 80, 80);
        for (int z = 64; z < 80; z++) // block (4,4,4) of chunk 0 all zero
            for (int y = 64; y < 80; y++)
                Array.Clear(data, (z * N + y) * N + 64, 16);
        string path = Path.Combine(_dir, name);
        var compression = new CompressionParams { Codec = Blosc2Codec.LZ4, CLevel = 5 };
        if (filters is not null)
            compression = compression with { Filters = filters, FiltersMeta = filters.Select(_ => (byte)0).ToArray() };
        B2ndWriter.Write(path, MemoryMarshal.AsBytes(data.AsSpan()), [N, N, N], DType.Float32,
            new B2ndWriteOptions { ChunkShape = [80, 80, 80], BlockShape = [16, 16, 16], Compression = compression });
        return path;
    }

    private static NdIndex[] Box(int z, int y, int x, int size) =>
        [NdIndex.Slice(z, z + size), NdIndex.Slice(y, y + size), NdIndex.Slice(x, x + size)];

    [Fact]
    public async Task A_small_patch_fetches_the_block_table_then_only_its_blocks_and_decodes_like_the_local_file()
    {
        string path = MakeFile("blocks.mla");
        using var local = B2ndArray.Open(path);
        Assert.True(local.GetChunkInfo(0).StoredBytes >= 1 << 20, $"chunk 0 is {local.GetChunkInfo(0).StoredBytes} bytes: the test needs ≥ 1 MiB chunks");
        Assert.Equal(ChunkKind.Zeros, local.GetChunkInfo(7).Kind);
        var touched = new TouchedBlocks(path);
        using var remote = await B2ndArray.OpenAsync(nginx.Serve(path, "blocks/blocks.mla"));
        var traffic = remote.RemoteSource!.Traffic;

        // 32³ inside chunk 0 ([40, 72) on each axis), across the zero block: 3×3×3 blocks of 125.
        var box = Box(40, 40, 40, 32);
        var (want, blocks) = touched.Of(local, box);
        Assert.Equal(27, blocks);
        long r0 = traffic.Requests, b0 = traffic.Bytes;
        Assert.Equal(local.Read<float>(box), remote.Read<float>(box));
        long requests = traffic.Requests - r0, bytes = traffic.Bytes - b0;
        // The header + block starts (here inside the 8 KiB head already held: chunk 0 starts there), then one merged
        // range per run of adjacent blocks (9 rows of 3 blocks).
        Assert.InRange(requests, 1, 1 + 9);
        Assert.True(bytes <= 1.25 * want, $"{bytes} bytes transferred for {want} compressed bytes of the blocks touched");
        Assert.True(bytes < local.GetChunkInfo(0).StoredBytes / 3, $"{bytes} bytes: not a block-granular read");

        // The same patch again: everything cached. A neighbouring patch in the same chunk: no second block-table request.
        r0 = traffic.Requests;
        Assert.Equal(local.Read<float>(box), remote.Read<float>(box));
        Assert.Equal(r0, traffic.Requests);
        var next = Box(10, 10, 10, 20);
        r0 = traffic.Requests;
        b0 = traffic.Bytes;
        Assert.Equal(local.Read<float>(next), remote.Read<float>(next));
        Assert.True(traffic.Bytes - b0 <= 1.25 * touched.Of(local, next).Bytes);
        Assert.InRange(traffic.Requests - r0, 1, touched.Of(local, next).Blocks);

        // The zero chunk costs no request; a patch spanning 8 chunks matches too.
        r0 = traffic.Requests;
        Assert.Equal(local.Read<float>(Box(90, 90, 90, 64)), remote.Read<float>(Box(90, 90, 90, 64)));
        Assert.Equal(r0, traffic.Requests);
        Assert.Equal(local.Read<float>(Box(48, 48, 48, 64)), remote.Read<float>(Box(48, 48, 48, 64)));
        Assert.Equal(0, traffic.Retries);
    }

    [Fact]
    public async Task The_gap_threshold_merges_block_ranges_and_majority_or_small_chunks_are_fetched_whole()
    {
        string path = MakeFile("gaps.mla");
        using var local = B2ndArray.Open(path);
        var url = nginx.Serve(path, "blocks/gaps.mla");
        var box = Box(40, 40, 120, 32); // 3×3×3 blocks of chunk 1
        long chunk1 = local.GetChunkInfo(1).StoredBytes;

        // A gap threshold larger than the chunk: the 27 blocks come in one range after the block table.
        using (var merged = await B2ndArray.OpenAsync(url, options: new RemoteReadOptions { BlockGapBytes = 4 << 20 }))
        {
            var t = merged.RemoteSource!.Traffic;
            long r0 = t.Requests;
            Assert.Equal(local.Read<float>(box), merged.Read<float>(box));
            Assert.Equal(2, t.Requests - r0);
        }
        // A patch needing most blocks of chunk 1 (4×5×5 = 100 of 125): the whole chunk, one request.
        using (var most = await B2ndArray.OpenAsync(url))
        {
            var t = most.RemoteSource!.Traffic;
            long r0 = t.Requests, b0 = t.Bytes;
            var big = new[] { NdIndex.Slice(0, 64), NdIndex.Slice(0, 80), NdIndex.Slice(80, 160) };
            Assert.Equal(local.Read<float>(big), most.Read<float>(big));
            Assert.Equal(1, t.Requests - r0);
            Assert.True(t.Bytes - b0 >= chunk1);
        }
        // A threshold above the chunk size: whole chunks as before.
        using (var whole = await B2ndArray.OpenAsync(url, options: new RemoteReadOptions { BlockReadMinChunkBytes = long.MaxValue }))
        {
            var t = whole.RemoteSource!.Traffic;
            long r0 = t.Requests, b0 = t.Bytes;
            Assert.Equal(local.Read<float>(box), whole.Read<float>(box));
            Assert.Equal(1, t.Requests - r0);
            Assert.True(t.Bytes - b0 >= chunk1);
        }
    }

    [Fact]
    public async Task A_failing_block_request_gives_the_remote_error_and_a_replaced_object_is_detected()
    {
        string path = MakeFile("faults.mla");
        var url = nginx.Serve(path, "blocks/faults.mla");
        var box = Box(40, 40, 120, 32); // chunk 1: block table, then block ranges
        var handler = new FaultHandler
        {
            Rule = (n, req, resp) => Task.FromResult(n > 3 ? new HttpResponseMessage(System.Net.HttpStatusCode.ServiceUnavailable) : resp),
        };
        using var client = new HttpClient(handler);
        var source = await HttpRangeSource.OpenAsync(url, new HttpRangeSourceOptions { Client = client, RetryDelay = TimeSpan.FromMilliseconds(1) });
        using (var failing = await B2ndArray.OpenAsync(source))
        {
            var e = Assert.Throws<MLArrayRemoteException>(() => failing.Read<float>(box)); // request 3 (block table) passes, the blocks fail
            Assert.Contains("failed 5 times", e.Message);
        }

        using var remote = await B2ndArray.OpenAsync(url);
        using var local = B2ndArray.Open(path);
        Assert.Equal(local.Read<float>(Box(40, 40, 40, 16)), remote.Read<float>(Box(40, 40, 40, 16)));
        File.SetLastWriteTimeUtc(Path.Combine(nginx.Root, "blocks", "faults.mla"), DateTime.UtcNow.AddMinutes(5)); // new ETag
        Assert.Throws<MLArrayRemoteChangedException>(() => remote.Read<float>(box));
    }

    [Fact]
    public async Task Delta_chunks_fetch_block_zero_too_and_decode_exactly()
    {
        string path = MakeFile("delta.mla", [Blosc2Filter.None, Blosc2Filter.None, Blosc2Filter.None, Blosc2Filter.None, Blosc2Filter.Delta, Blosc2Filter.Shuffle]);
        using var local = B2ndArray.Open(path);
        using var remote = await B2ndArray.OpenAsync(nginx.Serve(path, "blocks/delta.mla"));
        var box = Box(50, 50, 50, 16);
        Assert.Equal(local.Read<float>(box), remote.Read<float>(box));
        var (want, _) = new TouchedBlocks(path).Of(local, box);
        var block0 = new TouchedBlocks(path).Of(local, Box(0, 0, 0, 1)).Bytes;
        long bytes = remote.RemoteSource!.Traffic.Bytes - (8 << 10) - (64 << 10);
        Assert.True(bytes <= 1.25 * (want + block0), $"{bytes} bytes for {want} + {block0} (block 0) compressed bytes");
    }

    [Fact]
    public async Task Once_the_block_tables_are_known_a_patch_costs_one_multi_range_request_and_concurrent_readers_share_fetches()
    {
        string path = MakeFile("wave.mla");
        using var local = B2ndArray.Open(path);
        var touched = new TouchedBlocks(path);
        using var remote = await B2ndArray.OpenAsync(nginx.Serve(path, "blocks/wave.mla"));
        var t = remote.RemoteSource!.Traffic;

        // A patch across 8 chunks: the block tables of all chunks (one multi-range request), then every block
        // range of the 8 chunks in one multi-range request.
        var first = Box(60, 60, 60, 40);
        long r0 = t.Requests, b0 = t.Bytes;
        Assert.Equal(local.Read<float>(first), remote.Read<float>(first));
        Assert.Equal(2, t.Requests - r0);
        Assert.True(t.Bytes - b0 <= 1.25 * touched.Of(local, first).Bytes + (8 << 10), $"{t.Bytes - b0} bytes for {touched.Of(local, first).Bytes}");

        // Another patch: one request.
        var second = Box(10, 100, 20, 30);
        r0 = t.Requests;
        b0 = t.Bytes;
        Assert.Equal(local.Read<float>(second), remote.Read<float>(second));
        Assert.Equal(1, t.Requests - r0);
        Assert.True(t.Bytes - b0 <= 1.25 * touched.Of(local, second).Bytes);

        // 8 readers of one new patch at once: its blocks are fetched once, the readers waiting for each other's fetches.
        var shared = Box(100, 20, 100, 30);
        var expected = local.Read<float>(shared);
        r0 = t.Requests;
        b0 = t.Bytes;
        var results = new float[8][];
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => results[i] = remote.Read<float>(shared));
        Assert.All(results, r => Assert.Equal(expected, r));
        Assert.True(t.Bytes - b0 <= 1.25 * touched.Of(local, shared).Bytes, $"{t.Bytes - b0} bytes for {touched.Of(local, shared).Bytes}: fetched more than once");
        Assert.InRange(t.Requests - r0, 1, 8);
    }

    [Fact]
    public async Task Concurrent_readers_with_small_memory_pools_read_exactly_the_local_values_while_pooled_images_are_evicted_and_reused()
    {
        // Blocks are received straight into pooled packed images, which the memory pools keep slices of; with pools
        // far smaller than the working set, images are evicted and reused by other reads all the time while other
        // readers copy blocks out of them or decode them.
        string path = MakeFile("churn.mla", seed: 11);
        using var local = B2ndArray.Open(path);
        var url = nginx.Serve(path, "blocks/churn.mla");
        var rng = new Random(3);
        var patches = Enumerable.Range(0, 64).Select(_ => Box(rng.Next(0, N - 24), rng.Next(0, N - 24), rng.Next(0, N - 24), 24)).ToArray();
        var expected = patches.Select(p => local.Read<float>(p)).ToArray();
        var shared = new RemoteMemoryCache(1 << 20);
        using var own = await B2ndArray.OpenAsync(url, options: new RemoteReadOptions { ChunkCacheBytes = 1 << 20 });
        using var first = await B2ndArray.OpenAsync(url, options: new RemoteReadOptions { MemoryCache = shared });
        using var second = await B2ndArray.OpenAsync(url, options: new RemoteReadOptions { MemoryCache = shared });
        var arrays = new[] { own, first, second };
        var wrong = new System.Collections.Concurrent.ConcurrentBag<string>();
        for (int round = 0; round < 2; round++)
        {
            Parallel.For(0, patches.Length * arrays.Length, new ParallelOptions { MaxDegreeOfParallelism = 12 }, i =>
            {
                int p = (i * 7 + round) % patches.Length;
                if (!arrays[i % arrays.Length].Read<float>(patches[p]).AsSpan().SequenceEqual(expected[p]))
                    wrong.Add($"round {round}, array {i % arrays.Length}, patch {p}");
            });
        }
        Assert.Empty(wrong);
        Assert.InRange(shared.Bytes, 1, (1 << 20) + (256 << 10)); // bounded (the newest entry may exceed it by one block)
        Assert.True(own.RemoteSource!.Traffic.Requests > patches.Length / 2, "the small pool was expected to evict and refetch");
    }

    [Fact]
    public async Task A_second_epoch_reads_blocks_from_the_disk_cache_into_the_images_and_fetches_only_what_it_lacks()
    {
        string path = MakeFile("disk.mla", seed: 5);
        using var local = B2ndArray.Open(path);
        var url = nginx.Serve(path, "blocks/disk.mla");
        var cache = new RemoteDiskCache(Path.Combine(_dir, "cache"));
        var options = new RemoteReadOptions { DiskCache = cache };
        var patches = new[] { Box(40, 40, 40, 32), Box(10, 100, 20, 30), Box(60, 60, 60, 40) };
        using (var first = await B2ndArray.OpenAsync(url, options: options))
            foreach (var p in patches)
                Assert.Equal(local.Read<float>(p), first.Read<float>(p));

        // A new array (empty memory pool): runs of adjacent blocks come from the disk cache, no data request.
        using (var second = await B2ndArray.OpenAsync(url, options: options))
        {
            foreach (var p in patches.Reverse())
                Assert.Equal(local.Read<float>(p), second.Read<float>(p));
            Assert.Equal(2, second.RemoteSource!.Traffic.Requests);
        }
        // Patches overlapping the cached ones: the cached blocks from disk, the others fetched, all decoded exactly.
        using var third = await B2ndArray.OpenAsync(url, options: options);
        var overlapping = new[] { Box(40, 40, 56, 32), Box(20, 100, 20, 30) };
        foreach (var p in overlapping)
            Assert.Equal(local.Read<float>(p), third.Read<float>(p));
        Assert.InRange(third.RemoteSource!.Traffic.Requests, 3, 2 + overlapping.Length);
    }

    [Fact]
    public async Task A_shared_memory_pool_serves_a_reopened_object_without_requests_and_never_an_old_version()
    {
        string path = MakeFile("pooled.mla");
        string served = Path.Combine(nginx.Root, "blocks", "pooled.mla");
        var url = nginx.Serve(path, "blocks/pooled.mla");
        using var local = B2ndArray.Open(path);
        var patches = new[] { Box(0, 0, 0, 32), Box(60, 60, 60, 40), Box(120, 10, 70, 30) };
        var pool = new RemoteMemoryCache(256L << 20);
        var options = new RemoteReadOptions { MemoryCache = pool };
        using (var a = await B2ndArray.OpenAsync(url, options: options))
            foreach (var p in patches)
                Assert.Equal(local.Read<float>(p), a.Read<float>(p));
        Assert.True(pool.Bytes > 0);
        using (var b = await B2ndArray.OpenAsync(url, options: options))
        {
            foreach (var p in patches)
                Assert.Equal(local.Read<float>(p), b.Read<float>(p));
            Assert.Equal(2, b.RemoteSource!.Traffic.Requests); // the open; every chunk and block from the pool
        }

        // The object is replaced (other values, new ETag): a new open reads the new values, never the pooled old ones.
        string changed = MakeFile("pooled-v2.mla", seed: 7);
        File.Copy(changed, served, overwrite: true);
        File.SetLastWriteTimeUtc(served, DateTime.UtcNow.AddMinutes(5));
        using var newLocal = B2ndArray.Open(changed);
        using var c = await B2ndArray.OpenAsync(url, options: options);
        foreach (var p in patches)
            Assert.Equal(newLocal.Read<float>(p), c.Read<float>(p));
        Assert.True(c.RemoteSource!.Traffic.Requests > 2);
    }

    [Fact]
    public async Task Prefetched_patches_arrive_in_one_wave_and_are_then_read_without_requests_exactly_as_the_local_file()
    {
        string path = MakeFile("ahead.mla", seed: 8);
        using var local = B2ndArray.Open(path);
        var touched = new TouchedBlocks(path);
        using var remote = await B2ndArray.OpenAsync(nginx.Serve(path, "blocks/ahead.mla"));
        var t = remote.RemoteSource!.Traffic;
        var rng = new Random(4);
        var patches = Enumerable.Range(0, 6).Select(_ => Box(rng.Next(0, N - 24), rng.Next(0, N - 24), rng.Next(0, N - 24), 24)).ToArray();
        Assert.Equal(local.Read<float>(patches[0]), remote.Read<float>(patches[0])); // learns the block tables

        long r0 = t.Requests, b0 = t.Bytes;
        await remote.PrefetchAsync(patches[1..]);
        long requests = t.Requests - r0, bytes = t.Bytes - b0;
        // One wave: the blocks of 5 patches, adjacent blocks as one part, at most 64 parts per multi-range request.
        Assert.InRange(requests, 1, 3);
        long want = patches[1..].Sum(p => touched.Of(local, p).Bytes);
        Assert.True(bytes <= 1.25 * want, $"{bytes} bytes for {want} compressed bytes of the blocks touched");
        Assert.True(bytes >= want / 2, $"{bytes} bytes: the prefetch did not fetch the patches' blocks ({want} bytes)");

        r0 = t.Requests;
        foreach (var p in patches[1..])
            Assert.Equal(local.Read<float>(p), remote.Read<float>(p));
        Assert.Equal(0, t.Requests - r0);

        // Prefetching what is held costs nothing; local arrays complete at once; bad selections fail at the call.
        await remote.PrefetchAsync(patches[1..]);
        Assert.Equal(0, t.Requests - r0);
        Assert.True(local.PrefetchAsync(patches).IsCompletedSuccessfully);
        Assert.Throws<ArgumentException>(() => { _ = remote.PrefetchAsync([[.. Box(0, 0, 0, 8), NdIndex.Slice(0, 1)]]); }); // 4 axes of 3: at the call
        Assert.Throws<ArgumentException>(() => { _ = local.PrefetchAsync([null!]); });
    }

    [Fact]
    public async Task Readers_that_prefetch_ahead_read_exactly_the_local_values_and_fetch_every_block_once()
    {
        string path = MakeFile("ahead2.mla", seed: 9);
        using var local = B2ndArray.Open(path);
        var touched = new TouchedBlocks(path);
        using var latency = new LatencyHandler(TimeSpan.FromMilliseconds(5));
        using var client = new HttpClient(latency);
        using var remote = await B2ndArray.OpenAsync(nginx.Serve(path, "blocks/ahead2.mla"), new HttpRangeSourceOptions { Client = client },
            new RemoteReadOptions { MaxConcurrency = 4, ChunkCacheBytes = 256L << 20 });
        var t = remote.RemoteSource!.Traffic;
        var rng = new Random(6);
        var patches = Enumerable.Range(0, 48).Select(_ => Box(rng.Next(0, N - 20), rng.Next(0, N - 20), rng.Next(0, N - 20), 20)).ToArray();
        var expected = patches.Select(p => local.Read<float>(p)).ToArray();
        long b0 = t.Bytes;
        int next = -1, issued = 0;
        var gate = new object();
        var prefetches = new System.Collections.Concurrent.ConcurrentBag<Task>();
        var wrong = new System.Collections.Concurrent.ConcurrentBag<int>();
        Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, _ =>
        {
            for (int i = Interlocked.Increment(ref next); i < patches.Length; i = Interlocked.Increment(ref next))
            {
                lock (gate)
                    for (; issued < Math.Min(patches.Length, i + 8); issued += 2)
                        prefetches.Add(remote.PrefetchAsync(patches[issued..Math.Min(patches.Length, issued + 2)]));
                if (!remote.Read<float>(patches[i]).AsSpan().SequenceEqual(expected[i]))
                    wrong.Add(i);
            }
        });
        await Task.WhenAll(prefetches);
        Assert.Empty(wrong);
        // Distinct blocks once (patches overlap; the tables come on top).
        var blocks = new HashSet<(long, long)>();
        long distinct = 0;
        foreach (var p in patches)
            foreach (var (offset, length) in touched.Extents(local, p))
                if (blocks.Add((offset, length)))
                    distinct += length;
        Assert.True(t.Bytes - b0 <= 1.25 * distinct + (64 << 10), $"{t.Bytes - b0} bytes for {distinct} distinct block bytes: blocks fetched twice");
        Assert.InRange(latency.MaxInFlight, 2, 4);
    }

    [Fact]
    public async Task Blocks_fetched_ahead_outlive_the_blocks_already_read_in_a_small_pool_and_overlapping_patches_do_not_pin_old_buffers()
    {
        // A pool of 3 MiB for a window of 4 to 6 patches of 24³ (up to 27 blocks of 16 KB each): plain LRU would evict
        // the blocks fetched ahead first (the blocks of the patches just read were used more recently), and a block shared
        // by two patches would keep the first patch's whole buffer in the pool.
        string path = MakeFile("window.mla", seed: 12);
        using var local = B2ndArray.Open(path);
        using var remote = await B2ndArray.OpenAsync(nginx.Serve(path, "blocks/window.mla"), options: new RemoteReadOptions { ChunkCacheBytes = 3 << 20 });
        var t = remote.RemoteSource!.Traffic;
        var rng = new Random(13);
        var patches = Enumerable.Range(0, 40).Select(_ => Box(rng.Next(0, N - 24), rng.Next(0, N - 24), rng.Next(0, N - 24), 24)).ToArray();
        Assert.Equal(local.Read<float>(patches[0]), remote.Read<float>(patches[0])); // the block tables
        const int Window = 4;
        var prefetches = new List<Task>();
        for (int i = 0; i < patches.Length; i++)
        {
            if (i % 2 == 0 && i + Window < patches.Length)
                prefetches.Add(remote.PrefetchAsync(patches[(i + Window)..Math.Min(patches.Length, i + Window + 2)]));
            if (i == 0)
                prefetches.Add(remote.PrefetchAsync(patches[1..Window]));
            await Task.WhenAll(prefetches); // every patch up to i + Window is in the pool before patch i is read
            long r0 = t.Requests;
            Assert.Equal(local.Read<float>(patches[i]), remote.Read<float>(patches[i]));
            if (i > 0)
                Assert.True(t.Requests == r0, $"patch {i} needed {t.Requests - r0} requests after its prefetch; evictions {remote.RemoteMemoryPool!.Evictions}, pool {remote.RemoteMemoryPool.Bytes} bytes");
        }
        var (evicted, evictedAhead) = remote.RemoteMemoryPool!.Evictions;
        Assert.True(evicted > 0, "the pool was meant to be too small for all patches");
        Assert.Equal(0, evictedAhead);
    }

    [Fact]
    public async Task A_cancelled_prefetch_fails_with_its_token_and_a_read_waiting_for_its_blocks_fetches_them_itself()
    {
        string path = MakeFile("cancel.mla", seed: 10);
        using var local = B2ndArray.Open(path);
        using var latency = new LatencyHandler(TimeSpan.FromMilliseconds(400));
        using var client = new HttpClient(latency);
        using var remote = await B2ndArray.OpenAsync(nginx.Serve(path, "blocks/cancel.mla"), new HttpRangeSourceOptions { Client = client });
        var box = Box(30, 30, 30, 24);
        Assert.Equal(local.Read<float>(Box(0, 0, 0, 8)), remote.Read<float>(Box(0, 0, 0, 8))); // block tables known

        using (var cancelled = new CancellationTokenSource())
        {
            cancelled.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => remote.PrefetchAsync([box], cancelled.Token));
        }
        using var cts = new CancellationTokenSource();
        var prefetch = remote.PrefetchAsync([box], cts.Token);
        var read = Task.Run(() => remote.Read<float>(box)); // waits for the prefetch's blocks
        await Task.Delay(100);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => prefetch);
        Assert.Equal(local.Read<float>(box), await read);
    }
}
