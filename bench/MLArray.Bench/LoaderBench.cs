using System.Diagnostics;
using System.Globalization;
using MLArray.Metadata;
using MLArray.Training.Data;
using MLArray.Training.Sampling;

namespace MLArray.Bench;

/// <summary>
/// <c>loader [--cases 20] [--shape 256,256,200] [--patch 128] [--batches 24] [--dir DIR]</c>: the training loader
/// (MLArray.Training.PatchLoader, batch 2 × patch³, foreground 0.33, int16 → float32) against raw
/// <c>MLArrayFile.Read</c> of the same patches with T = 1 and 2 threads; GC bytes per batch; and whether the prefetch
/// queue hides the read latency from a consumer that spends as long per batch as reading takes. The synthetic dataset
/// (CT-like int16 images, uint8 segmentations of spheres, default layout for the patch) is built once in DIR
/// (default: a folder under the temp directory) and reused.
/// </summary>
public static class LoaderBench
{
    public static int Run(string[] args)
    {
        int cases = Arg(args, "--cases", 20), batches = Arg(args, "--batches", 24), patch = Arg(args, "--patch", 128);
        long[] shape = (ArgS(args, "--shape") ?? "256,256,200").Split(',').Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        string dir = ArgS(args, "--dir") ?? Path.Combine(Path.GetTempPath(), $"mla-loader-bench-{cases}-{string.Join("x", shape)}-p{patch}");
        Build(dir, cases, shape, patch);
        using var ds = PatchDataset.FromFolder(dir);
        Console.WriteLine($"dataset: {cases} cases {string.Join("×", shape)} int16 + uint8 seg, layout for patch {patch} ({dir}); batch 2 × {patch}³, foreground 0.33, int16 → float32");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores (shared with other jobs: numbers are noisy)");
        // Open every case once (what the first epoch does): opening parses the segmentation's metadata, class locations included.
        var open = Stopwatch.StartNew();
        for (int i = 0; i < ds.Count; i++)
            using (var lease = ds.Acquire(i))
                _ = lease.ClassLocations;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"first open of every case (image + seg, class locations parsed and validated): {open.Elapsed.TotalMilliseconds / ds.Count:F0} ms per case"));
        var baseOptions = new PatchLoaderOptions { PatchSize = [patch, patch, patch], BatchSize = 2, ForegroundFraction = 0.33, Seed = 1, PrefetchDepth = 4 };
        double rawBatchSeconds = 0;
        foreach (int t in new[] { 1, 2 })
        {
            var options = baseOptions with { Workers = t, BatchCount = batches };
            // Warm-up (JIT, page cache) with another seed.
            Consume(ds, options with { Seed = 99, BatchCount = 4 }, 0, out _, out _);
            var (loaderSec, gcPerBatch, samples) = (0.0, 0L, new List<(int, long[])>());
            loaderSec = Consume(ds, options, 0, out gcPerBatch, out samples);
            double rawSec = Raw(ds, samples, t, baseOptions.PatchSize);
            if (t == 1) rawBatchSeconds = rawSec / batches;
            int patches = samples.Count;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"T={t}: loader {patches / loaderSec,7:F1} patches/s | raw MLArrayFile.Read of the same patches {patches / rawSec,7:F1} patches/s | ratio {rawSec / loaderSec:F2} | GC {gcPerBatch} B/batch"));
        }
        foreach (int t in new[] { 1, 2 })
        {
            var options = baseOptions with { Workers = t, BatchCount = batches };
            var sw = Stopwatch.StartNew();
            double waited = ConsumeSlow(ds, options, TimeSpan.FromSeconds(rawBatchSeconds));
            double total = sw.Elapsed.TotalSeconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"prefetch T={t}: consumer works {rawBatchSeconds * 1000:F0} ms/batch (= raw read time of a batch, T=1); waited {waited / batches * 1000:F1} ms/batch for data; total {total:F2} s vs {batches * rawBatchSeconds:F2} s of consumer work"));
        }
        return 0;
    }

    private static double Consume(PatchDataset ds, PatchLoaderOptions options, int _, out long gcPerBatch, out List<(int Case, long[] Start)> samples)
    {
        var list = new List<(int, long[])>((int)(options.BatchCount ?? 0) * options.BatchSize);
        using var loader = new PatchLoader<float, short>(ds, options);
        var sw = Stopwatch.StartNew();
        long gc0 = 0, n = 0;
        const int Skip = 4; // cases opening and the first batches are not steady state
        var task = Task.Run(async () =>
        {
            await foreach (var b in loader)
                using (b)
                {
                    if (++n == Skip) gc0 = GC.GetTotalAllocatedBytes(true);
                    foreach (var s in b.Samples) list.Add((s.CaseIndex, s.Start.ToArray()));
                }
        });
        task.GetAwaiter().GetResult();
        double sec = sw.Elapsed.TotalSeconds;
        // Includes the bench's own record of the samples (one small long[] per sample).
        gcPerBatch = (GC.GetTotalAllocatedBytes(true) - gc0) / Math.Max(1, n - Skip);
        samples = list;
        return sec;
    }

    private static double ConsumeSlow(PatchDataset ds, PatchLoaderOptions options, TimeSpan work)
    {
        using var loader = new PatchLoader<float, short>(ds, options);
        double waited = 0;
        Task.Run(async () =>
        {
            var e = loader.GetAsyncEnumerator();
            try
            {
                while (true)
                {
                    var sw = Stopwatch.StartNew();
                    if (!await e.MoveNextAsync()) break;
                    waited += sw.Elapsed.TotalSeconds;
                    using (e.Current) Thread.Sleep(work);
                }
            }
            finally
            {
                await e.DisposeAsync();
            }
        }).GetAwaiter().GetResult();
        return waited;
    }

    // Reads the in-bounds boxes of the same patches (image as int16, seg as uint8) with T threads, no padding or conversion.
    private static double Raw(PatchDataset ds, List<(int Case, long[] Start)> samples, int threads, long[] size)
    {
        var files = ds.Cases.Select(c => (Image: MLArrayFile.Open(c.ImagePath), Seg: MLArrayFile.Open(c.SegmentationPath!))).ToArray();
        try
        {
            foreach (var (i, s) in files) { i.DecodeThreads = 1; s.DecodeThreads = 1; }
            long n = size.Aggregate(1L, (a, b) => a * b);
            var sw = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                var img = new short[n];
                var seg = new byte[n];
                var sel = new NdIndex[size.Length];
                for (int k = t; k < samples.Count; k += threads)
                {
                    var (c, start) = samples[k];
                    var shape = files[c].Image.Shape;
                    long count = 1;
                    for (int d = 0; d < size.Length; d++)
                    {
                        long lo = Math.Max(0, start[d]), hi = Math.Min(shape[d], start[d] + size[d]);
                        sel[d] = NdIndex.Slice(lo, hi);
                        count *= hi - lo;
                    }
                    files[c].Image.Read<short>(sel, img.AsSpan(0, (int)count));
                    files[c].Seg.Read<byte>(sel, seg.AsSpan(0, (int)count));
                }
            });
            return sw.Elapsed.TotalSeconds;
        }
        finally
        {
            foreach (var (i, s) in files) { i.Dispose(); s.Dispose(); }
        }
    }

    private static void Build(string dir, int cases, long[] shape, int patch)
    {
        Directory.CreateDirectory(dir);
        long n = shape.Aggregate(1L, (a, b) => a * b);
        var layout = LayoutOptions.Patch(patch, patch, patch);
        for (int k = 0; k < cases; k++)
        {
            string img = Path.Combine(dir, $"case_{k:D4}.mla"), segPath = Path.Combine(dir, $"case_{k:D4}_seg.mla");
            if (File.Exists(img) && File.Exists(segPath)) continue;
            var sw = Stopwatch.StartNew();
            var image = new short[n];
            var seg = new byte[n];
            var rng = new Random(k);
            var spheres = Enumerable.Range(0, 3).Select(b => (c: shape.Select(s => (double)rng.Next((int)(s / 5), (int)(s * 4 / 5))).ToArray(), r: 6 + rng.NextDouble() * 14, l: (byte)(b % 2 + 1))).ToArray();
            Parallel.For(0, (int)shape[0], x =>
            {
                uint h = (uint)(x * 7919 + k * 104729);
                for (long y = 0; y < shape[1]; y++)
                    for (long z = 0; z < shape[2]; z++)
                    {
                        long i = (x * shape[1] + y) * shape[2] + z;
                        double ex = (x - shape[0] / 2.0) / (shape[0] * 0.42), ey = (y - shape[1] / 2.0) / (shape[1] * 0.36);
                        h = h * 1664525 + 1013904223;
                        short v = (short)((ex * ex + ey * ey < 1 ? 40 : -1000) + (int)(h >> 27) - 16);
                        foreach (var (c, r, l) in spheres)
                        {
                            double dx = x - c[0], dy = y - c[1], dz = z - c[2];
                            if (dx * dx + dy * dy + dz * dz <= r * r) { seg[i] = l; v = (short)(200 + 100 * l + (int)(h >> 28)); }
                        }
                        image[i] = v;
                    }
            });
            using (var f = MLArrayFile.FromArray(image, shape, new MLArrayCreateOptions { Spacing = [0.8, 0.8, 1.5], Layout = layout }))
                f.Save(img + ".tmp.mla");
            using (var f = MLArrayFile.FromArray(seg, shape, new MLArrayCreateOptions { Spacing = [0.8, 0.8, 1.5], Layout = layout, Meta = new MLArrayMeta { IsSeg = true } }))
                f.Save(segPath + ".tmp.mla");
            ClassLocations loc;
            using (var f = MLArrayFile.Open(segPath + ".tmp.mla")) loc = ClassLocations.Compute(f);
            loc.Store(segPath + ".tmp.mla");
            File.Move(segPath + ".tmp.mla", segPath, true);
            File.Move(img + ".tmp.mla", img, true);
            Console.WriteLine($"built case {k} in {sw.Elapsed.TotalSeconds:F1} s");
        }
    }

    private static int Arg(string[] args, string name, int def)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : def;
    }

    private static string? ArgS(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
