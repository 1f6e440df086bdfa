using System.Diagnostics;
using System.Globalization;
using MLArray.Blosc2;
using MLArray.Remote;
using MLArray.Tests.Remote;

namespace MLArray.Bench;

/// <summary>
/// <c>remote [file.mla] [count] [latencyMs] [cacheMiB]</c>: the file served by a real nginx on 127.0.0.1 with an added
/// latency per request (a DelegatingHandler delay, default 20 ms): open + metadata (requests, time), then the same
/// random 64³ patches read locally (memory-mapped) and remotely with 1/4/8/16 concurrent readers and as many
/// concurrent requests, each level on a freshly opened array with a small chunk cache (default 1 MiB, so patches
/// mostly miss it); bytes transferred vs the compressed bytes of the chunks the patches touch.
/// </summary>
internal static class RemoteBench
{
    private sealed class Latency(TimeSpan delay) : DelegatingHandler(new SocketsHttpHandler { AllowAutoRedirect = false, MaxConnectionsPerServer = 64 })
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            await Task.Delay(delay, cancellationToken);
            return await base.SendAsync(request, cancellationToken);
        }
    }

    public static int Run(string[] args)
    {
        string file = args.Length > 0 ? args[0] : BenchData.Volume();
        int count = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 64;
        int latencyMs = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 20;
        long cache = (args.Length > 3 ? long.Parse(args[3], CultureInfo.InvariantCulture) : 1) << 20;
        using var nginx = new NginxServer();
        var url = nginx.Serve(file, "bench/" + Path.GetFileName(file));
        using var client = new HttpClient(new Latency(TimeSpan.FromMilliseconds(latencyMs)));
        var http = new HttpRangeSourceOptions { Client = client };
        Console.WriteLine($"file {file} ({new FileInfo(file).Length} bytes), nginx 127.0.0.1:{nginx.Port}, +{latencyMs} ms per request, chunk cache {cache >> 20} MiB");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, shared with other builds (numbers are noisy)");

        var openTimes = new List<double>();
        long openRequests = 0;
        for (int i = 0; i < 5; i++)
        {
            var sw = Stopwatch.StartNew();
            using var f = MLArrayFile.OpenAsync(url, http: http).GetAwaiter().GetResult();
            _ = f.Meta.ToMetaValue().ToJson();
            _ = f.Shape;
            openTimes.Add(sw.Elapsed.TotalMilliseconds);
            openRequests = f.RemoteTraffic!.Requests;
        }
        openTimes.Sort();
        Console.WriteLine($"open + metadata: {openRequests} requests, median {openTimes[2]:F1} ms (= {openTimes[2] / latencyMs:F1} × the added latency)");

        using var local = B2ndArray.Open(file);
        var patches = Patches(local.Shape, count, new Random(7));
        long touched = patches.Sum(p => TouchedCBytes(local, p));
        double localRate = Rate(local, patches, 1);
        Console.WriteLine($"local mmap, 1 reader: {localRate:F1} patches/s; {count} patches touch {touched} compressed chunk bytes");
        Console.WriteLine("readers | remote patches/s | vs local (same readers) | requests | bytes | bytes / touched");
        foreach (int p in new[] { 1, 4, 8, 16 })
        {
            double localP = Rate(local, patches, p);
            using var remote = B2ndArray.OpenAsync(url, http, new RemoteReadOptions { MaxConcurrency = p, ChunkCacheBytes = cache }).GetAwaiter().GetResult();
            var t = remote.RemoteSource!.Traffic;
            long r0 = t.Requests, b0 = t.Bytes;
            double rate = Rate(remote, patches, p);
            Console.WriteLine($"{p,7} | {rate,16:F1} | {rate / localP,23:F3} | {t.Requests - r0,8} | {t.Bytes - b0,9} | {(double)(t.Bytes - b0) / touched:F2}");
        }
        return 0;
    }

    private static NdIndex[][] Patches(long[] shape, int count, Random rng) =>
        Enumerable.Range(0, count).Select(_ => shape.Select(n =>
        {
            long size = Math.Min(64, n), start = rng.NextInt64(0, n - size + 1);
            return NdIndex.Slice(start, start + size);
        }).ToArray()).ToArray();

    private static long TouchedCBytes(B2ndArray a, NdIndex[] sel)
    {
        var cs = a.ChunkShape;
        long[] shape = a.Shape;
        int nd = shape.Length;
        var lo = new long[nd];
        var hi = new long[nd];
        var perDim = new long[nd];
        for (int d = 0; d < nd; d++)
        {
            lo[d] = sel[d].Start!.Value / cs[d];
            hi[d] = (sel[d].Stop!.Value - 1) / cs[d];
            perDim[d] = (shape[d] + cs[d] - 1) / cs[d];
        }
        long total = 0;
        var idx = (long[])lo.Clone();
        while (true)
        {
            long linear = 0;
            for (int d = 0; d < nd; d++)
                linear = linear * perDim[d] + idx[d];
            total += a.GetChunkInfo(linear).StoredBytes;
            int k = nd - 1;
            while (k >= 0 && ++idx[k] > hi[k])
                idx[k--] = lo[k + 1];
            if (k < 0)
                return total;
        }
    }

    /// <summary>Patches per second with <paramref name="readers"/> threads sharing the patches.</summary>
    private static double Rate(B2ndArray a, NdIndex[][] patches, int readers)
    {
        long n = patches[0].Select((s, d) => s.Stop!.Value - s.Start!.Value).Aggregate(1L, (x, y) => x * y);
        var sw = Stopwatch.StartNew();
        Parallel.For(0, readers, new ParallelOptions { MaxDegreeOfParallelism = readers }, r =>
        {
            var buffer = new byte[n * a.DType.ItemSize];
            for (int i = r; i < patches.Length; i += readers)
                a.Read(patches[i], buffer, 1);
        });
        return patches.Length / sw.Elapsed.TotalSeconds;
    }
}
