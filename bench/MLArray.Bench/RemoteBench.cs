using System.Diagnostics;
using System.Globalization;
using MLArray.Blosc2;
using MLArray.Remote;
using MLArray.Tests.Remote;

namespace MLArray.Bench;

/// <summary>
/// <c>remote [--file F.mla | --big GB [--out F.mla]] [--count N] [--latency MS] [--levels 1,4,8,16] [--chunk-cache-mb 64] [--epochs-only | --curve-only | --readahead-only] [--no-readahead]
/// [--decode-threads 1,2] [--group 4] [--window W] [--pool-mb MB]</c>: the file (default: the corpus volume; with
/// <c>--big</c> a file of about GB gigabytes of float32 built here with 128³ chunks and 16×32×32 blocks, deleted
/// afterwards) served by a real nginx on 127.0.0.1, each request delayed by MS ms (default 20; a DelegatingHandler).
/// Reports open + metadata (requests, time in round trips), then N random 64³ patches: read locally (memory-mapped)
/// and remotely with 1/4/8/16 concurrent readers and as many concurrent requests (each level on a freshly opened
/// array, default options), bytes transferred vs the compressed bytes of the blocks the patches touch; the same
/// patches read in order by 1 and 2 decode threads with read-ahead (<see cref="B2ndArray.PrefetchAsync"/> of the next
/// patches, the levels now being MaxConcurrency; <c>MLA_BENCH_AHEAD_STATS=1</c> prints where the readers waited); and
/// second epochs from a shared memory pool and through the disk cache vs local.
/// </summary>
internal static class RemoteBench
{
    public static int Run(string[] args)
    {
        string? file = Arg(args, "--file");
        double big = double.Parse(Arg(args, "--big") ?? "0", CultureInfo.InvariantCulture);
        int count = int.Parse(Arg(args, "--count") ?? "64", CultureInfo.InvariantCulture);
        int latencyMs = int.Parse(Arg(args, "--latency") ?? "20", CultureInfo.InvariantCulture);
        string temp = Directory.CreateTempSubdirectory("mla-remote-bench-").FullName;
        try
        {
            if (big > 0)
                file = Build(Arg(args, "--out") ?? Path.Combine(temp, "big.mla"), big); // --out: kept for later --file runs
            file ??= BenchData.Volume();
            return Measure(file, count, latencyMs, temp, args);
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }

    private static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>A float32 volume of about <paramref name="gb"/> GB stored (12-bit noise: LZ4 + shuffle keeps about 60 %), written slab by slab.</summary>
    private static string Build(string path, double gb)
    {
        const int Edge = 1024, Depth = 128;
        long slabs = Math.Max(1, (long)Math.Round(gb * 1e9 / 0.6 / (Depth * (long)Edge * Edge * 4)));
        var sw = Stopwatch.StartNew();
        var slab = new float[Depth * Edge * Edge];
        var rng = new Random(5);
        using (var a = B2ndArray.Create(path, [slabs * Depth, Edge, Edge], DType.Float32, new B2ndWriteOptions
        {
            ChunkShape = [128, 128, 128],
            BlockShape = [16, 32, 32],
            Compression = new CompressionParams { Codec = Blosc2Codec.LZ4, CLevel = 5, Threads = 0 },
        }))
        {
            for (long s = 0; s < slabs; s++)
            {
                for (int i = 0; i < slab.Length; i++)
                    slab[i] = rng.Next(0, 4096);
                a.Write([NdIndex.Slice(s * Depth, (s + 1) * Depth)], System.Runtime.InteropServices.MemoryMarshal.AsBytes(slab.AsSpan()), threads: 0);
            }
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"built {slabs * Depth}x{Edge}x{Edge} float32, {new FileInfo(path).Length / 1e9:F2} GB stored, in {sw.Elapsed.TotalSeconds:F0} s"));
        return path;
    }

    private static int Measure(string file, int count, int latencyMs, string temp, string[] args)
    {
        using var nginx = new NginxServer();
        var url = nginx.Serve(file, "bench/" + Path.GetFileName(file));
        using var latency = new LatencyHandler(TimeSpan.FromMilliseconds(latencyMs));
        using var client = new HttpClient(latency);
        var http = new HttpRangeSourceOptions { Client = client };
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"file {file} ({new FileInfo(file).Length} bytes), nginx 127.0.0.1:{nginx.Port}, +{latencyMs} ms per request; {Environment.ProcessorCount} cores, load average {LoadAverage()}"));

        var openTimes = new List<double>();
        long openRequests = 0;
        for (int i = 0; i < 7; i++)
        {
            var sw = Stopwatch.StartNew();
            using var f = MLArrayFile.OpenAsync(url, http: http).GetAwaiter().GetResult();
            _ = f.Meta.ToMetaValue().ToJson();
            _ = f.Shape;
            openTimes.Add(sw.Elapsed.TotalMilliseconds);
            openRequests = f.RemoteTraffic!.Requests;
        }
        var warm = openTimes.Skip(1).Order().ToList(); // the first open also pays JIT and the connection setup
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"open + metadata: {openRequests} requests, median {warm[warm.Count / 2]:F1} ms = {warm[warm.Count / 2] / latencyMs:F2} round trips (first open {openTimes[0]:F1} ms)"));

        using var local = B2ndArray.Open(file);
        var patches = Patches(local.Shape, count, new Random(7));
        if (Arg(args, "--loop") is { } loopSeconds)
            return Loop(url, http, nginx.ProcessId, patches, int.Parse(Arg(args, "--levels") ?? "8", CultureInfo.InvariantCulture), double.Parse(loopSeconds, CultureInfo.InvariantCulture),
                args.Contains("--readahead-only") ? int.Parse((Arg(args, "--decode-threads") ?? "1").Split(',')[0], CultureInfo.InvariantCulture) : 0);
        var touched = new TouchedBlocks(file);
        long touchedBytes = patches.Sum(p => touched.Of(local, p).Bytes);
        Rate(local, patches, 1); // warm-up (JIT, page cache)
        double local1 = Best(() => Rate(local, patches, 1));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{count} random 64³ patches touch {touchedBytes} compressed block bytes; local mmap, 1 reader: {local1:F1} patches/s (best of {Reps})"));
        // Each level: a freshly opened array (empty private memory cache: every byte from the network), measured Reps
        // times alternating with the local file (the machine is shared: the ratio of neighbouring runs is the signal).
        if (args.Contains("--epochs-only"))
            goto Epochs;
        if (args.Contains("--readahead-only"))
            goto ReadAhead;
        Console.WriteLine("concurrency | remote patches/s | local patches/s (same readers) | remote/local (median) | vs local 1 reader | requests/patch | bytes / touched | bound N/(latency*req/patch) | CPU ms/patch: client, nginx, local");
        long cacheBytes = long.Parse(Arg(args, "--chunk-cache-mb") ?? "64", CultureInfo.InvariantCulture) << 20; // RemoteReadOptions.ChunkCacheBytes
        var levels = (Arg(args, "--levels") ?? "1,4,8,16").Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture));
        // Warm-up of the remote path (JIT, connections) as the local one had: an array of its own, so every measured
        // run still starts with nothing cached.
        using (var warmRemote = B2ndArray.OpenAsync(url, http, new RemoteReadOptions { MaxConcurrency = 8 }).GetAwaiter().GetResult())
            for (int i = 0; i < 2; i++)
                Rate(warmRemote, patches, 8);
        foreach (int p in levels)
        {
            var runs = new List<(double Remote, double Local, long Requests, long Bytes, double ClientCpu, double NginxCpu, double LocalCpu)>();
            for (int rep = 0; rep < Reps; rep++)
            {
                using var remote = B2ndArray.OpenAsync(url, http, new RemoteReadOptions { MaxConcurrency = p, ChunkCacheBytes = cacheBytes }).GetAwaiter().GetResult();
                var t = remote.RemoteSource!.Traffic;
                long r0 = t.Requests, b0 = t.Bytes;
                double nginx0 = CpuMs(nginx.ProcessId);
                long alloc0 = GC.GetTotalAllocatedBytes(), gc0 = GC.CollectionCount(0), gc2 = GC.CollectionCount(2);
                double rate = Rate(remote, patches, p, out double clientCpu);
                double nginxCpu = (CpuMs(nginx.ProcessId) - nginx0) / count;
                if (rep == 0 && args.Contains("--gc"))
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  remote, {p} readers: {(GC.GetTotalAllocatedBytes() - alloc0) / 1e6 / count:F2} MB allocated per patch, {GC.CollectionCount(0) - gc0} gen0 and {GC.CollectionCount(2) - gc2} gen2 collections for {count} patches, client CPU {clientCpu:F2} ms/patch"));
                double localRate = Rate(local, patches, p, out double localCpu);
                runs.Add((rate, localRate, t.Requests - r0, t.Bytes - b0, clientCpu, nginxCpu, localCpu));
            }
            var mid = runs.OrderBy(r => r.Remote / r.Local).ElementAt(Reps / 2);
            double perPatch = (double)mid.Requests / count;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{p,11} | {mid.Remote,16:F1} | {mid.Local,30:F1} | {mid.Remote / mid.Local,21:F3} | {mid.Remote / local1,17:F3} | {perPatch,14:F2} | {(double)mid.Bytes / touchedBytes,15:F3} | {p / (latencyMs / 1000.0 * perPatch),8:F0} | {Median(runs.Select(r => r.ClientCpu)):F2}, {Median(runs.Select(r => r.NginxCpu)):F2}, {Median(runs.Select(r => r.LocalCpu)):F2}"));
        }

    ReadAhead:
        if (!args.Contains("--no-readahead"))
            ReadAheadCurve(url, http, nginx.ProcessId, local, patches, local1, touchedBytes, latencyMs, args);

        if (args.Contains("--curve-only"))
        {
            Console.WriteLine($"load average at the end: {LoadAverage()}");
            return 0;
        }

    Epochs:
        // A second epoch from a shared memory pool: a new array, no data request.
        var pool = new RemoteMemoryCache(2L << 30);
        using (var first = B2ndArray.OpenAsync(url, http, new RemoteReadOptions { MaxConcurrency = 8, MemoryCache = pool }).GetAwaiter().GetResult())
            Rate(first, patches, 8);
        Epoch2("memory pool", () => B2ndArray.OpenAsync(url, http, new RemoteReadOptions { MaxConcurrency = 8, MemoryCache = pool }).GetAwaiter().GetResult(), file, patches);

        // Two epochs through the disk cache; the second on new arrays (private memory caches: every byte from disk).
        var cache = new RemoteDiskCache(Path.Combine(temp, "cache"));
        using (var first = B2ndArray.OpenAsync(url, http, new RemoteReadOptions { MaxConcurrency = 8, DiskCache = cache }).GetAwaiter().GetResult())
        {
            var t = first.RemoteSource!.Traffic;
            double rate = Rate(first, patches, 8);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"disk cache epoch 1, 8 readers: {rate:F1} patches/s; {t.Requests} requests (2 to open), {t.Bytes} bytes; cache holds {cache.CountBytes()} bytes"));
        }
        Epoch2("disk cache", () => B2ndArray.OpenAsync(url, http, new RemoteReadOptions { MaxConcurrency = 8, DiskCache = cache }).GetAwaiter().GetResult(), file, patches);
        Console.WriteLine($"load average at the end: {LoadAverage()}");
        return 0;
    }

    /// <summary>
    /// Read-ahead: T decode threads read the patches in order while <see cref="B2ndArray.PrefetchAsync"/> keeps the next
    /// patches (groups of <c>--group</c>, default 4, one wave each; a window of 4 × the level patches) in flight, up to MaxConcurrency requests (the level):
    /// what a training loader does, which knows its next patches. Against the local memory-mapped rate with 1 reader
    /// and with T readers.
    /// </summary>
    private static void ReadAheadCurve(Uri url, HttpRangeSourceOptions http, int nginxPid, B2ndArray local, NdIndex[][] patches, double local1,
        long touchedBytes, int latencyMs, string[] args)
    {
        int group = int.Parse(Arg(args, "--group") ?? "4", CultureInfo.InvariantCulture);
        var levels = (Arg(args, "--levels") ?? "1,4,8,16").Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray();
        var threads = (Arg(args, "--decode-threads") ?? "1,2").Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray();
        int count = patches.Length;
        Console.WriteLine($"read-ahead (PrefetchAsync of the next patches in groups of {group}, window 4 x requests patches):");
        Console.WriteLine("requests | decode threads | remote patches/s | local patches/s (same threads) | remote/local same threads | vs local 1 reader | requests/patch | bytes / touched | CPU ms/patch: client, nginx");
        // Warm-up past JIT tiering (at least 6 passes and 6 s, as a long training run is; fresh arrays, so every measured
        // run still starts with nothing cached).
        var warmup = Stopwatch.StartNew();
        for (int i = 0; i < 6 || warmup.Elapsed.TotalSeconds < 6; i++)
            using (var warm = B2ndArray.OpenAsync(url, http, new RemoteReadOptions { MaxConcurrency = 8 }).GetAwaiter().GetResult())
                RateAhead(warm, patches, 1 + i % 2, 16, group, out _);
        foreach (int t in threads)
            foreach (int p in levels)
            {
                int window = Arg(args, "--window") is { } w ? int.Parse(w, CultureInfo.InvariantCulture) : 4 * p;
                long pool = Arg(args, "--pool-mb") is { } mb ? long.Parse(mb, CultureInfo.InvariantCulture) << 20 : Math.Max(64L << 20, window * (4L << 20));
                var runs = new List<(double Remote, double Local, long Requests, long Bytes, double ClientCpu, double NginxCpu)>();
                for (int rep = 0; rep < Reps; rep++)
                {
                    using var remote = B2ndArray.OpenAsync(url, http, new RemoteReadOptions { MaxConcurrency = p, ChunkCacheBytes = pool })
                        .GetAwaiter().GetResult();
                    var traffic = remote.RemoteSource!.Traffic;
                    long r0 = traffic.Requests, b0 = traffic.Bytes;
                    double nginx0 = CpuMs(nginxPid);
                    double rate = RateAhead(remote, patches, t, window, group, out double clientCpu);
                    double nginxCpu = (CpuMs(nginxPid) - nginx0) / count;
                    runs.Add((rate, Rate(local, patches, t), traffic.Requests - r0, traffic.Bytes - b0, clientCpu, nginxCpu));
                }
                var mid = runs.OrderBy(r => r.Remote / r.Local).ElementAt(Reps / 2);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{p,8} | {t,14} | {mid.Remote,16:F1} | {mid.Local,30:F1} | {mid.Remote / mid.Local,25:F3} | {mid.Remote / local1,17:F3} | {(double)mid.Requests / count,14:F2} | {(double)mid.Bytes / touchedBytes,15:F3} | {Median(runs.Select(r => r.ClientCpu)):F2}, {Median(runs.Select(r => r.NginxCpu)):F2}"));
            }
        Console.WriteLine($"load average: {LoadAverage()}");
    }

    /// <summary>
    /// Patches per second read in order by <paramref name="threads"/> threads, each read preceded by the prefetch of
    /// the patches up to <paramref name="window"/> ahead (groups of <paramref name="group"/>, one call each).
    /// </summary>
    private static double RateAhead(B2ndArray a, NdIndex[][] patches, int threads, int window, int group, out double cpuMsPerPatch)
    {
        long n = patches[0].Select((s, d) => s.Stop!.Value - s.Start!.Value).Aggregate(1L, (x, y) => x * y);
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        int issued = 0, next = -1;
        var gate = new object();
        var prefetches = new List<Task>();
        var durations = new List<double>();
        var ready = new int[patches.Length];
        int stallReady = 0, stallNotReady = 0;
        bool stats = Environment.GetEnvironmentVariable("MLA_BENCH_AHEAD_STATS") == "1";
        void Ahead(int upTo)
        {
            lock (gate)
                while (issued < Math.Min(upTo, patches.Length))
                {
                    int from = issued, to = Math.Min(patches.Length, from + group);
                    var issuedAt = Stopwatch.GetTimestamp();
                    prefetches.Add(a.PrefetchAsync(patches[from..to]).ContinueWith(t => { lock (durations) durations.Add(Stopwatch.GetElapsedTime(issuedAt).TotalMilliseconds); for (int k = from; k < to; k++) Volatile.Write(ref ready[k], 1); t.GetAwaiter().GetResult(); }, TaskScheduler.Default));
                    issued = to;
                }
        }
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
        {
            var buffer = new byte[n * a.DType.ItemSize];
            var w = new Stopwatch();
            double ahead = 0, read = 0, slow = 0;
            int slowCount = 0;
            for (int i = Interlocked.Increment(ref next); i < patches.Length; i = Interlocked.Increment(ref next))
            {
                w.Restart();
                Ahead(i + 1 + window);
                ahead += w.Elapsed.TotalMilliseconds;
                w.Restart();
                bool wasReady = Volatile.Read(ref ready[i]) == 1;
                a.Read(patches[i], buffer, 1);
                double ms = w.Elapsed.TotalMilliseconds;
                if (ms > 10) Interlocked.Increment(ref wasReady ? ref stallReady : ref stallNotReady);
                read += ms;
                if (ms > 10) { slow += ms; slowCount++; }
            }
            if (stats)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"   thread: ahead {ahead:F0} ms, read {read:F0} ms, of which {slowCount} reads over 10 ms: {slow:F0} ms"));
        });
        double seconds = sw.Elapsed.TotalSeconds;
        cpuMsPerPatch = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / patches.Length;
        Task.WaitAll(prefetches); // every prefetch has finished (a failure would show here)
        if (stats)
        {
            durations.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"   stalls with the prefetch done {stallReady}, not done {stallNotReady}; evictions {a.RemoteMemoryPool?.Evictions}; prefetch calls: {durations.Count}, duration p10 {durations[durations.Count / 10]:F1} p50 {durations[durations.Count / 2]:F1} p90 {durations[durations.Count * 9 / 10]:F1} max {durations[^1]:F1} ms"));
        }
        return patches.Length / seconds;
    }

    private const int Reps = 3;

    /// <summary>
    /// <c>--loop S</c>: only remote first-epoch reads (fresh arrays, <c>--levels</c> readers, or with <c>--readahead-only</c>
    /// the first <c>--decode-threads</c> value reading ahead with <c>--levels</c> requests) for about S seconds, one
    /// line per pass with the process's CPU, page faults, context switches and allocations per patch (for profilers
    /// attached to the process; nothing local is read).
    /// </summary>
    private static int Loop(Uri url, HttpRangeSourceOptions http, int nginxPid, NdIndex[][] patches, int readers, double seconds, int aheadThreads)
    {
        bool cold = Environment.GetEnvironmentVariable("MLA_BENCH_COLD") == "1"; // no warm-up: the thread pool as a new process has it
        if (!cold)
            using (var warm = B2ndArray.OpenAsync(url, http, new RemoteReadOptions { MaxConcurrency = readers }).GetAwaiter().GetResult())
                for (int i = 0; i < 2; i++)
                    Rate(warm, patches, readers);
        Console.WriteLine($"loop start, pid {Environment.ProcessId}");
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < seconds)
        {
            using var remote = B2ndArray.OpenAsync(url, http, new RemoteReadOptions { MaxConcurrency = readers }).GetAwaiter().GetResult();
            var (faults0, switches0) = ProcessCounters();
            long alloc0 = GC.GetTotalAllocatedBytes(), gc0 = GC.CollectionCount(0), items0 = ThreadPool.CompletedWorkItemCount;
            double nginx0 = CpuMs(nginxPid);
            double rate = aheadThreads > 0 ? RateAhead(remote, patches, aheadThreads, 4 * readers, 4, out double cpu) : Rate(remote, patches, readers, out cpu);
            var (faults1, switches1) = ProcessCounters();
            int n = patches.Length;
            double nginxCpu = (CpuMs(nginxPid) - nginx0) / n;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{readers} readers: {rate:F1} patches/s, CPU {cpu:F2} ms (nginx {nginxCpu:F2} ms), {(double)(faults1 - faults0) / n:F0} page faults, {(double)(switches1 - switches0) / n:F1} context switches, {(GC.GetTotalAllocatedBytes() - alloc0) / 1e6 / n:F2} MB allocated per patch; {GC.CollectionCount(0) - gc0} gen0 collections; {(double)(ThreadPool.CompletedWorkItemCount - items0) / n:F1} thread-pool work items per patch, {ThreadPool.ThreadCount} pool threads; load {LoadAverage()}"));
        }
        return 0;
    }

    /// <summary>Minor page faults and context switches (voluntary + involuntary, of the threads alive now) of this process so far (Linux /proc; 0 elsewhere).</summary>
    private static (long Faults, long Switches) ProcessCounters()
    {
        if (!File.Exists("/proc/self/stat"))
            return (0, 0);
        var fields = File.ReadAllText("/proc/self/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        long switches = 0;
        foreach (string task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                foreach (string line in File.ReadLines(Path.Combine(task, "status")))
                    if (line.Contains("ctxt_switches", StringComparison.Ordinal))
                        switches += long.Parse(line.Split(':')[1].Trim(), CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                // the thread ended meanwhile
            }
        }
        return (long.Parse(fields[7], CultureInfo.InvariantCulture), switches);
    }

    private static double Best(Func<double> run) => Enumerable.Range(0, Reps).Max(_ => run());

    /// <summary>
    /// Second-epoch rate with 1 and 8 readers on new arrays vs the local file, also opened anew each time (an epoch of
    /// a training loop reopens its cases; median ratio of alternating runs).
    /// </summary>
    private static void Epoch2(string what, Func<B2ndArray> open, string file, NdIndex[][] patches)
    {
        foreach (int readers in new[] { 1, 8 })
        {
            var runs = new List<(double Remote, double Local, long Requests, double RemoteCpu, double LocalCpu)>();
            for (int rep = 0; rep < Reps; rep++)
            {
                using var remote = open();
                var t = remote.RemoteSource!.Traffic;
                long r0 = t.Requests;
                double rate = Rate(remote, patches, readers, out double remoteCpu);
                using var local = B2ndArray.Open(file);
                runs.Add((rate, Rate(local, patches, readers, out double localCpu), t.Requests - r0, remoteCpu, localCpu));
            }
            var mid = runs.OrderBy(r => r.Remote / r.Local).ElementAt(Reps / 2);
            var cpu = runs.OrderBy(r => r.LocalCpu / r.RemoteCpu).ElementAt(Reps / 2);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{what} epoch 2, {readers} readers: {mid.Remote:F1} patches/s vs local {mid.Local:F1} = {mid.Remote / mid.Local:F3} (median of {Reps}); {mid.Requests} data requests; CPU ms/patch {cpu.RemoteCpu:F2} vs local {cpu.LocalCpu:F2} = {cpu.LocalCpu / cpu.RemoteCpu:F3}"));
        }
    }

    private static double Median(IEnumerable<double> xs) => xs.Order().ElementAt(Reps / 2);

    /// <summary>User + system CPU time of a process in ms (from /proc; NaN where there is none).</summary>
    private static double CpuMs(int pid)
    {
        string stat = $"/proc/{pid}/stat";
        if (!File.Exists(stat))
            return double.NaN;
        var fields = File.ReadAllText(stat).Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) * 10.0; // utime, stime in 1/100 s
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    private static NdIndex[][] Patches(long[] shape, int count, Random rng) =>
        Enumerable.Range(0, count).Select(_ => shape.Select(n =>
        {
            long size = Math.Min(64, n), start = rng.NextInt64(0, n - size + 1);
            return NdIndex.Slice(start, start + size);
        }).ToArray()).ToArray();

    /// <summary>Patches per second with <paramref name="readers"/> threads sharing the patches.</summary>
    private static double Rate(B2ndArray a, NdIndex[][] patches, int readers) => Rate(a, patches, readers, out _);

    /// <summary>Patches per second, and the process CPU time per patch (ms: less sensitive to the load of a shared machine than the rate).</summary>
    private static double Rate(B2ndArray a, NdIndex[][] patches, int readers, out double cpuMsPerPatch)
    {
        long n = patches[0].Select((s, d) => s.Stop!.Value - s.Start!.Value).Aggregate(1L, (x, y) => x * y);
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        Parallel.For(0, readers, new ParallelOptions { MaxDegreeOfParallelism = readers }, r =>
        {
            var buffer = new byte[n * a.DType.ItemSize];
            for (int i = r; i < patches.Length; i += readers)
                a.Read(patches[i], buffer, 1);
        });
        double seconds = sw.Elapsed.TotalSeconds;
        cpuMsPerPatch = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / patches.Length;
        return patches.Length / seconds;
    }
}
