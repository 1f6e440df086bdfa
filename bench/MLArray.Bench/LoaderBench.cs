using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Globalization;
using MLArray.Metadata;
using MLArray.Training.Data;
using MLArray.Training;
using MLArray.Training.Sampling;

namespace MLArray.Bench;

/// <summary>
/// <c>loader [--cases 20] [--shape 256,256,200] [--patch 128] [--batches 100] [--rounds 5] [--warm 150] [--threads 1,2]
/// [--seg int16|int8] [--image float32|int16] [--profile] [--dir DIR]</c>: the training loader (MLArray.Training.PatchLoader, batch 2 × patch³, foreground 0.33,
/// int16 → float32 image, uint8 → int16 segmentation padded with −1) against raw <c>MLArrayFile.Read</c> of exactly the
/// same boxes (image as int16, segmentation as uint8, the in-bounds part of every patch; one buffer per thread,
/// allocated and touched before the timing) with T = 1 and 2 threads, and against a second baseline that reads the same
/// boxes into as many rotating buffers as the loader's pool holds patches, and a third that calls <c>Read&lt;T&gt;(selection)</c> (a new array per patch).
/// Both paths are first warmed past JIT tiering (<c>--warm</c> batches each); then loader and raw runs alternate in
/// pairs (the order flips every pair) and the medians of wall time and process CPU time are reported with the load
/// average. Also: GC bytes per steady-state batch, and whether the prefetch queue hides the read latency from a
/// consumer that spends as long per batch as reading takes. <c>--profile</c>: thread CPU per patch of each piece of
/// the loader's work, on one thread, on the same samples, and of whole jobs (patch reader with and without slab
/// staging, raw reads into rotating or one reused buffer) in alternating runs. <c>--kernels</c>: the unshuffle
/// kernels alone on a cached block. <c>--alloc</c>: which types the steady-state loader allocates.
/// <c>--breakdown</c>: the image read of in-bounds patches split into slab decode and conversion pass, against raw
/// reads and a minimal conversion loop (with and without non-temporal stores).
/// <c>--seg int8</c>: segmentation batches as int8 (<c>PatchLoader&lt;float, sbyte&gt;</c>: the uint8 labels are checked
/// to fit once per case, the −1 padding fits too) instead of int16, in the main bench, <c>--alloc</c> and <c>--profile</c>.
/// <c>--depth N</c>: the loader's prefetch depth (default 4). <c>--prefetch-only</c>: only the prefetch check.
/// <c>--patchlist FILE</c>: the loader's boxes in case 0 (clamped inside) for <c>bench native --patches FILE</c>.
/// The synthetic dataset (CT-like int16 images, uint8
/// segmentations of spheres, default layout for the patch) is built once in DIR (default: a folder under the temp
/// directory) and reused.
/// </summary>
public static class LoaderBench
{
    // Segmentation batch type of the loader runs: int8 (`--seg int8`) or int16 (default).
    private static bool s_int8Seg;

    // Image batch type of the main runs: float32 (default: int16 → float32 on read) or the stored int16 (`--image int16`:
    // no conversion, the loader writes as many image bytes as the raw reads; to see what the conversion's stores cost).
    private static bool s_storedImage;

    public static int Run(string[] args)
    {
        s_int8Seg = ArgS(args, "--seg") switch
        {
            null or "int16" => false,
            "int8" => true,
            var other => throw new ArgumentException($"--seg takes int16 or int8, not '{other}'."),
        };
        s_storedImage = ArgS(args, "--image") switch
        {
            null or "float32" => false,
            "int16" => true,
            var other => throw new ArgumentException($"--image takes float32 or int16, not '{other}'."),
        };
        if (args.Contains("--alloc"))
        {
            AllocationReport(args);
            return 0;
        }
        if (args.Contains("--kernels"))
        {
            Kernels();
            return 0;
        }
        int cases = Arg(args, "--cases", 20), batches = Arg(args, "--batches", 100), patch = Arg(args, "--patch", 128);
        int rounds = Arg(args, "--rounds", 5), warm = Arg(args, "--warm", 150);
        long[] shape = (ArgS(args, "--shape") ?? "256,256,200").Split(',').Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        int[] threads = (ArgS(args, "--threads") ?? "1,2").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        string dir = ArgS(args, "--dir") ?? Path.Combine(Path.GetTempPath(), $"mla-loader-bench-{cases}-{string.Join("x", shape)}-p{patch}");
        Build(dir, cases, shape, patch);
        using var ds = PatchDataset.FromFolder(dir);
        Console.WriteLine($"dataset: {cases} cases {string.Join("×", shape)} int16 + uint8 seg, layout for patch {patch} ({dir}); batch 2 × {patch}³, foreground 0.33, int16 → {(s_storedImage ? "int16 (as stored)" : "float32")}, uint8 → {(s_int8Seg ? "int8" : "int16")} (pad −1)");
        using (var f = MLArrayFile.Open(ds.Cases[0].ImagePath))
        using (var g = MLArrayFile.Open(ds.Cases[0].SegmentationPath!))
            Console.WriteLine($"layout: image chunks ({string.Join(",", f.ChunkShape)}) blocks ({string.Join(",", f.BlockShape)}) {f.Compression.Codec} {f.Compression.CLevel} [{string.Join(",", f.Compression.Filters)}]; seg chunks ({string.Join(",", g.ChunkShape)}) blocks ({string.Join(",", g.BlockShape)}) {g.Compression.Codec} {g.Compression.CLevel} [{string.Join(",", g.Compression.Filters)}]");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores (shared with other jobs: numbers are noisy); load average {LoadAverage()}");
        // Open every case once (what the first epoch does): opening parses the segmentation's metadata, class locations included.
        var open = Stopwatch.StartNew();
        for (int i = 0; i < ds.Count; i++)
            using (var lease = ds.Acquire(i))
                _ = lease.ClassLocations;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"first open of every case (image + seg, class locations parsed and validated): {open.Elapsed.TotalMilliseconds / ds.Count:F0} ms per case"));
        var baseOptions = new PatchLoaderOptions { PatchSize = [patch, patch, patch], BatchSize = 2, ForegroundFraction = 0.33, Seed = 1, PrefetchDepth = Arg(args, "--depth", 4) };
        var rawFiles = ds.Cases.Select(c => (Image: MLArrayFile.Open(c.ImagePath), Seg: MLArrayFile.Open(c.SegmentationPath!))).ToArray();
        foreach (var (i, sg) in rawFiles) { i.DecodeThreads = 1; sg.DecodeThreads = 1; }
        try
        {
            if (ArgS(args, "--patchlist") is { } listPath)
            {
                // The loader's boxes in case 0 (clamped inside the image: a native reader has no padding), one line
                // per patch, for `bench native --file <case 0> --patches LIST --patch 128`.
                var planned = Planned(ds, baseOptions with { BatchCount = Arg(args, "--batches", 100) * 10 }, 0);
                var lines = planned.Where(p => p.Case == 0).Select(p => string.Join(" ", p.Start.Select((v, d) =>
                    Math.Clamp(v, 0, rawFiles[0].Image.Shape[d] - patch).ToString(CultureInfo.InvariantCulture)))).ToArray();
                File.WriteAllLines(listPath, lines);
                Console.WriteLine($"{lines.Length} patches of case 0 ({ds.Cases[0].ImagePath}) written to {listPath}");
                return 0;
            }
            if (args.Contains("--breakdown"))
            {
                Breakdown(ds, baseOptions with { Workers = 1, BatchCount = warm + batches }, warm);
                return 0;
            }
            if (args.Contains("--profile"))
            {
                Profile(ds, rawFiles, baseOptions with { Workers = 1, BatchCount = warm + batches }, warm);
                return 0;
            }
            double rawBatchSeconds = 0;
            var loaderBatchSeconds = new Dictionary<int, double>(); // the loader's own time per batch (no consumer work) per T
            if (args.Contains("--prefetch-only"))
            {
                // Only the prefetch check: the consumer's time per batch is the raw T=1 read time of a warm batch.
                var opt1 = baseOptions with { Workers = 1, BatchCount = warm };
                Consume(ds, opt1, out _, out _, out var warmSamples);
                var one = RawBuffers(1, 1, baseOptions.PatchSize);
                rawBatchSeconds = Enumerable.Range(0, 3).Select(_ => Raw(rawFiles, warmSamples, baseOptions.PatchSize, one).Wall)
                    .Order().ElementAt(1) * baseOptions.BatchSize / warmSamples.Count;
                foreach (int t in threads)
                {
                    var opt = baseOptions with { Workers = t, BatchCount = batches };
                    Consume(ds, opt with { Seed = 99 }, out _, out _, out _);
                    loaderBatchSeconds[t] = Enumerable.Range(0, 3).Select(r => Consume(ds, opt with { Seed = 1 + r }, out _, out _, out _))
                        .Order().ElementAt(1) / (batches - Skip(batches) - 1); // the batches Consume times
                }
            }
            else foreach (int t in threads)
            {
                var options = baseOptions with { Workers = t, BatchCount = batches };
                // Warm-up past JIT tiering (both paths; another seed), untimed.
                Consume(ds, options with { Seed = 99, BatchCount = warm }, out _, out _, out var warmSamples);
                // The baseline reads into one buffer per thread (it stays in cache); a second baseline reads into as
                // many rotating buffers as the loader's pool holds patches (its destinations leave the cache as the
                // loader's do), so the share of the gap that is destination residency shows.
                int rotate = Math.Max(1, (baseOptions.PrefetchDepth + 1) * baseOptions.BatchSize / t);
                var oneBuffer = RawBuffers(t, 1, baseOptions.PatchSize);
                var rotating = RawBuffers(t, rotate, baseOptions.PatchSize);
                Raw(rawFiles, warmSamples, baseOptions.PatchSize, oneBuffer);
                Raw(rawFiles, warmSamples, baseOptions.PatchSize, rotating);
                Raw(rawFiles, warmSamples, baseOptions.PatchSize, oneBuffer, allocate: true);
                var wall = new List<double>();
                var wallRot = new List<double>();
                var wallAlloc = new List<double>();
                var allocRates = new List<double>();
                var rotRates = new List<double>();
                var cpu = new List<double>();
                var gcs = new List<double>();
                var loaderRates = new List<double>();
                var rawRates = new List<double>();
                var rawCpuMs = new List<double>();
                var loaderCpuMs = new List<double>();
                var workerMs = new List<double>();
                var poolMs = new List<double>();
                var otherMs = new List<double>();
                var otherByName = new Dictionary<string, double>();
                int grew = 0;
                string load0 = LoadAverage();
                for (int r = 0; r < rounds; r++)
                {
                    // One pair: the loader, and raw reads of exactly the boxes it produced; the order flips every pair.
                    var opt = options with { Seed = 1 + r };
                    List<(int Case, long[] Start)> samples;
                    double loaderSec, loaderCpu, gcPerBatch, rawSec, rawCpu, rotSec, allocSec;
                    Dictionary<string, double> groups;
                    int growth;
                    if (r % 2 == 0)
                    {
                        loaderSec = Consume(ds, opt, out gcPerBatch, out loaderCpu, out samples, out groups, out growth);
                        (rawSec, rawCpu) = Raw(rawFiles, samples, baseOptions.PatchSize, oneBuffer);
                        rotSec = Raw(rawFiles, samples, baseOptions.PatchSize, rotating).Wall;
                        allocSec = Raw(rawFiles, samples, baseOptions.PatchSize, oneBuffer, allocate: true).Wall;
                    }
                    else
                    {
                        // Raw first: the boxes the loader will produce (the sampler is deterministic; checked below).
                        samples = Planned(ds, opt, Skip(batches) + 1);
                        allocSec = Raw(rawFiles, samples, baseOptions.PatchSize, oneBuffer, allocate: true).Wall;
                        rotSec = Raw(rawFiles, samples, baseOptions.PatchSize, rotating).Wall;
                        (rawSec, rawCpu) = Raw(rawFiles, samples, baseOptions.PatchSize, oneBuffer);
                        loaderSec = Consume(ds, opt, out gcPerBatch, out loaderCpu, out var again, out groups, out growth);
                        CheckSame(samples, again);
                    }
                    wall.Add(rawSec / loaderSec);
                    wallRot.Add(rotSec / loaderSec);
                    wallAlloc.Add(allocSec / loaderSec);
                    allocRates.Add(samples.Count / allocSec);
                    rotRates.Add(samples.Count / rotSec);
                    cpu.Add(rawCpu / loaderCpu);
                    if (growth == 0) gcs.Add(gcPerBatch); // a new batch buffer (the pool reaching its peak) is not steady state
                    grew += growth;
                    workerMs.Add(groups.GetValueOrDefault("workers") * 1000 / samples.Count);
                    poolMs.Add(groups.GetValueOrDefault("thread pool") * 1000 / samples.Count);
                    otherMs.Add(groups.GetValueOrDefault("other") * 1000 / samples.Count);
                    foreach (var (key, v) in groups.Where(kv => kv.Key.StartsWith("other: ", StringComparison.Ordinal)))
                        otherByName[key[7..]] = otherByName.GetValueOrDefault(key[7..]) + v * 1000 / samples.Count / rounds;
                    loaderRates.Add(samples.Count / loaderSec);
                    rawRates.Add(samples.Count / rawSec);
                    loaderCpuMs.Add(loaderCpu * 1000 / samples.Count);
                    rawCpuMs.Add(rawCpu * 1000 / samples.Count);
                    if (t == 1) rawBatchSeconds = Math.Max(rawBatchSeconds, rawSec * options.BatchSize / samples.Count);
                }
                loaderBatchSeconds[t] = options.BatchSize / Median(loaderRates);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"T={t} (medians of {rounds} interleaved pairs, {batches} batches each, after {warm} warm-up batches; load {load0} → {LoadAverage()}):"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  wall: loader {Median(loaderRates),6:F1} patches/s, raw {Median(rawRates),6:F1} patches/s, loader/raw {Median(wall):F2} (pairs {Join(wall)})"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  wall, second baseline: raw into {rotate} rotating buffers per thread (the pool's footprint) {Median(rotRates),6:F1} patches/s, loader/raw-rotating {Median(wallRot):F2} (pairs {Join(wallRot)})"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  wall, third baseline: raw `Read<T>(selection)`, a new array per patch (what a loop over MLArrayFile.Read gets) {Median(allocRates),6:F1} patches/s, loader/raw-allocating {Median(wallAlloc):F2} (pairs {Join(wallAlloc)})"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  CPU:  loader {Median(loaderCpuMs):F2} ms/patch, raw {Median(rawCpuMs):F2} ms/patch (process CPU, all threads), raw/loader {Median(cpu):F2} (pairs {Join(cpu)})"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  loader threads: workers {Median(workerMs):F2} ms/patch, thread pool (consumer) {Median(poolMs):F2}, other {Median(otherMs):F2}; GC {(gcs.Count > 0 ? Median(gcs).ToString("F0", CultureInfo.InvariantCulture) : "n/a")} B/batch (median of the {gcs.Count} pairs in which the pool did not grow; {grew} batch buffers added in all)"));
                Console.WriteLine("  other threads (mean ms/patch): " + string.Join(", ", otherByName.OrderByDescending(kv => kv.Value).Take(4).Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value:F2}"))));
            }
            if (rawBatchSeconds == 0) return 0;
            // A consumer that works as long per batch as a raw T=1 read of a batch takes: the steady total against the
            // ideal max(consumer work, loader alone) per batch (what a queue that overlaps work and reads fully gives).
            foreach (int t in threads)
            {
                var options = baseOptions with { Workers = t, BatchCount = batches };
                double work = rawBatchSeconds;
                foreach (bool busy in new[] { false, true })
                {
                    var pause0 = GC.GetTotalPauseDuration();
                    int gen2 = GC.CollectionCount(2);
                    List<double> waits = ConsumeSlow(ds, options, TimeSpan.FromSeconds(work), busy, out double worked);
                    // The first batch waits for the loader to start (its pool allocated and touched, the workers
                    // started): reported apart from the steady state.
                    var steady = waits.Skip(1).ToList();
                    double ideal = (batches - 1) * Math.Max(worked / batches, loaderBatchSeconds[t]);
                    double total = steady.Sum() + worked * (batches - 1) / batches;
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"prefetch T={t}, consumer {(busy ? "computes (spins a core)" : "waits (sleeps, e.g. on a GPU)")} {work * 1000:F1} ms/batch (= raw read time of a batch, T=1; the loader alone {loaderBatchSeconds[t] * 1000:F1}): first batch waited {waits[0] * 1000:F0} ms (start-up; GC pauses {(GC.GetTotalPauseDuration() - pause0).TotalMilliseconds:F0} ms, {GC.CollectionCount(2) - gen2} gen-2); then waited {steady.Sum() / steady.Count * 1000:F2} ms/batch (median {Median(steady) * 1000:F2}, {steady.Count(w => w > 0.0005)} of {steady.Count} batches > 0.5 ms); steady total {total:F2} s against the ideal max(work, loader alone) {ideal:F2} s ({total / ideal:F2}×); load {LoadAverage()}"));
                }
            }
            return 0;
        }
        finally
        {
            foreach (var (i, sg) in rawFiles) { i.Dispose(); sg.Dispose(); }
        }
    }

    // `--alloc [--workers 2] [--busy 0] [--batches 100] [--rounds 3]`: GC bytes per steady-state batch, with `--busy N`
    // threads of this process spinning (a loaded machine), and which types and threads allocate (GC allocation ticks:
    // one per ~100 KB, with the allocating thread), plus the thread pool's and the process's thread counts.
    private static void AllocationReport(string[] args)
    {
        string dirA = Path.Combine(Path.GetTempPath(), "mla-loader-bench-20-256x256x200-p128");
        using var dsA = PatchDataset.FromFolder(dirA);
        int batches = Arg(args, "--batches", 100), busy = Arg(args, "--busy", 0), rounds = Arg(args, "--rounds", 3);
        var o = new PatchLoaderOptions { PatchSize = [128, 128, 128], BatchSize = 2, ForegroundFraction = 0.33, Seed = 1, PrefetchDepth = 4, Workers = Arg(args, "--workers", 2), BatchCount = batches };
        Consume(dsA, o with { Seed = 99, BatchCount = 100 }, out _, out _, out _);
        using var spin = new BusyThreads(busy);
        using var listener = args.Contains("--ticks") ? new AllocationListener() : null;
        for (int r = 0; r < rounds; r++)
        {
            int tp0 = ThreadPool.ThreadCount, pr0 = Directory.GetDirectories("/proc/self/task").Length;
            long items0 = ThreadPool.CompletedWorkItemCount;
            Consume(dsA, o with { Seed = 1 + r }, out double gcPer, out _, out _, out _, out int growth);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"round {r}: GC {gcPer:F0} B/batch (pool grew by {growth}); thread pool threads {tp0} → {ThreadPool.ThreadCount}, process threads {pr0} → {Directory.GetDirectories("/proc/self/task").Length}, work items {ThreadPool.CompletedWorkItemCount - items0}; load {LoadAverage()}"));
        }
        if (listener is not null)
            Console.WriteLine("allocation ticks by type and thread: " + string.Join(", ", listener.Ticks.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} ×{kv.Value}")));
    }

    // The unshuffle kernels alone on one cache-resident block (32×16×16 int16, rows of 16): copy vs fused conversions.
    private static unsafe void Kernels()
    {
        const int Items = 32 * 16 * 16, Reps = 4000;
        var planes = GC.AllocateUninitializedArray<byte>(Items * 2 + 64, pinned: true);
        new Random(1).NextBytes(planes);
        var dst = GC.AllocateUninitializedArray<byte>(Items * 4 + 64, pinned: true);
        fixed (byte* p = planes)
        fixed (byte* d = dst)
        {
            for (int round = 0; round < 3; round++)
            {
                var line = new List<string>();
                foreach (var (name, level, kind) in new (string, MLArray.Blosc2.Filters.Shuffle.ConvertLevel, MLArray.Kernels.RowConversionKind)[]
                {
                    ("copy", MLArray.Blosc2.Filters.Shuffle.ConvertLevel.Avx2, MLArray.Kernels.RowConversionKind.Copy),
                    ("i16→f32 avx2", MLArray.Blosc2.Filters.Shuffle.ConvertLevel.Avx2, MLArray.Kernels.RowConversionKind.Int16ToSingle),
                    ("i16→f32 v128", MLArray.Blosc2.Filters.Shuffle.ConvertLevel.Vector128, MLArray.Kernels.RowConversionKind.Int16ToSingle),
                    ("f16→f32 avx2", MLArray.Blosc2.Filters.Shuffle.ConvertLevel.Avx2, MLArray.Kernels.RowConversionKind.HalfToSingle),
                    ("i16→f32 scalar", MLArray.Blosc2.Filters.Shuffle.ConvertLevel.Scalar, MLArray.Kernels.RowConversionKind.Int16ToSingle),
                })
                {
                    var conv = kind == MLArray.Kernels.RowConversionKind.Copy ? default : MLArray.Kernels.RowConversion.Fused(kind);
                    double t0 = ThreadCpu.Milliseconds();
                    for (int r = 0; r < Reps; r++)
                        for (int z = 0; z < 32; z++)
                            if (kind == MLArray.Kernels.RowConversionKind.Copy)
                                MLArray.Blosc2.Filters.Shuffle.InverseRows(2, p, Items, z * 256, 16, 16, 16, d + z * 512, 32);
                            else
                                conv.ShuffledRows(p, Items, z * 256, 16, 16, 16, d + z * 1024, 64, level);
                    double ns = (ThreadCpu.Milliseconds() - t0) * 1e6 / ((double)Reps * Items);
                    line.Add(string.Create(CultureInfo.InvariantCulture, $"{name} {ns:F3} ns/item"));
                }
                Console.WriteLine(string.Join(" | ", line));
            }
        }
    }

    private static void CheckSame(List<(int Case, long[] Start)> a, List<(int Case, long[] Start)> b)
    {
        if (a.Count != b.Count || a.Zip(b).Any(p => p.First.Case != p.Second.Case || !p.First.Start.AsSpan().SequenceEqual(p.Second.Start)))
            throw new InvalidOperationException("the loader's samples differ between two runs of the same seed");
    }

    private static string Join(List<double> xs) => string.Join(" ", xs.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)));

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    /// <summary>
    /// Thread CPU per patch of each piece of the loader's work on one thread, over the samples of a loader run (after
    /// <paramref name="warm"/> batches of warm-up): leasing the case, planning (sampler, class locations), the image read
    /// into float32 and the segmentation read into int16 (patch reader, padding included), padding alone (re-run on the
    /// finished patch), and the raw reads of the same in-bounds boxes into int16 / uint8, each into one of 4 rotating
    /// destinations as the loader's pool (and raw also into one reused buffer). The pieces are interleaved patch by
    /// patch (order rotating), so load changes hit them alike.
    /// </summary>
    private static void Profile(PatchDataset ds, (MLArrayFile Image, MLArrayFile Seg)[] rawFiles, PatchLoaderOptions options, int warm)
    {
        var samples = Planned(ds, options, 0);
        var size = options.PatchSize!;
        int n = (int)size.Aggregate(1L, (a, b) => a * b), sn = size.Length;
        const int Rot = 4;
        var images = Enumerable.Range(0, Rot).Select(_ => new float[n]).ToArray();
        var segs = Enumerable.Range(0, Rot).Select(_ => new short[n]).ToArray();
        var segs8 = Enumerable.Range(0, Rot).Select(_ => new sbyte[n]).ToArray();
        var rawImg = Enumerable.Range(0, Rot).Select(_ => new short[n]).ToArray();
        var rawSeg = Enumerable.Range(0, Rot).Select(_ => new byte[n]).ToArray();
        var oneImg = new short[n];
        var oneSeg = new byte[n];
        var reader = new PatchReader();
        var direct = new PatchReader { Staging = false }; // conversion straight from each block into the patch
        var sampler = new PatchSampler(options, ds.Count);
        var sel = new NdIndex[sn];
        long[] lo = new long[sn], hi = new long[sn], blo = new long[sn], bhi = new long[sn], start = new long[sn];
        string[] names = ["lease", "plan", "image→f32", "seg→i16", "pad (both)", "raw img (rot)", "raw seg (rot)", "raw img (1 buf)", "raw seg (1 buf)", "image→i16 (copy)", "image→f32 no staging", "seg→i8"];
        var t = new double[names.Length];
        int counted = 0;
        int warmPatches = warm * options.BatchSize;
        for (int k = 0; k < samples.Count; k++)
        {
            var (c, s) = samples[k];
            int dst = k % Rot;
            var cs = rawFiles[c].Image.Shape;
            long count = 1;
            bool inside = true;
            for (int d = 0; d < sn; d++)
            {
                lo[d] = Math.Max(0, s[d]);
                hi[d] = Math.Min(cs[d], s[d] + size[d]);
                blo[d] = lo[d] - s[d];
                bhi[d] = hi[d] - s[d];
                inside &= blo[d] == 0 && bhi[d] == size[d];
                sel[d] = NdIndex.Slice(lo[d], hi[d]);
                count *= hi[d] - lo[d];
            }
            int i = k % options.BatchSize;
            long sample = k; // the loader's sample index (the planned list starts at batch 0)
            for (int p = 0; p < names.Length; p++)
            {
                int w = (p + k) % names.Length;
                double cpu0 = ThreadCpu.Milliseconds();
                switch (w)
                {
                    case 0:
                        using (ds.Acquire(c)) { }
                        break;
                    case 1:
                        using (var lease = ds.Acquire(c))
                        {
                            var (_, epoch, pos) = sampler.CaseOf(sample);
                            var rng = sampler.SampleRng(epoch, pos, 0);
                            bool forced = sampler.Forced(i, ref rng);
                            sampler.Plan(ref rng, forced, lease.Case.Image.SpatialShape, forced ? lease.Case.Locations : null, true, start, "");
                        }
                        break;
                    case 2:
                        using (var lease = ds.Acquire(c))
                            reader.Read(lease.Case.Image, s, size, images[dst].AsSpan(), PadMode.Constant, 0f);
                        break;
                    case 3:
                        using (var lease = ds.Acquire(c))
                            reader.Read(lease.Case.Segmentation!, s, size, segs[dst].AsSpan(), PadMode.Constant, (short)-1);
                        break;
                    case 4:
                        if (!inside)
                        {
                            PatchReader.Pad(images[dst].AsSpan(), size, blo, bhi, PadMode.Constant, 0f);
                            PatchReader.Pad(segs[dst].AsSpan(), size, blo, bhi, PadMode.Constant, (short)-1);
                        }
                        break;
                    case 5: rawFiles[c].Image.Read<short>(sel, rawImg[dst].AsSpan(0, (int)count)); break;
                    case 6: rawFiles[c].Seg.Read<byte>(sel, rawSeg[dst].AsSpan(0, (int)count)); break;
                    case 7: rawFiles[c].Image.Read<short>(sel, oneImg.AsSpan(0, (int)count)); break;
                    case 8: rawFiles[c].Seg.Read<byte>(sel, oneSeg.AsSpan(0, (int)count)); break;
                    case 9:
                        using (var lease = ds.Acquire(c))
                            reader.Read(lease.Case.Image, s, size, rawImg[dst].AsSpan(), PadMode.Constant, (short)0);
                        break;
                    case 10:
                        using (var lease = ds.Acquire(c))
                            direct.Read(lease.Case.Image, s, size, images[dst].AsSpan(), PadMode.Constant, 0f);
                        break;
                    case 11:
                        using (var lease = ds.Acquire(c))
                            reader.Read(lease.Case.Segmentation!, s, size, segs8[dst].AsSpan(), PadMode.Constant, (sbyte)-1);
                        break;
                }
                if (k >= warmPatches) t[w] += ThreadCpu.Milliseconds() - cpu0;
            }
            if (k >= warmPatches) counted++;
        }
        // Whole jobs as the loader and the raw bench run them: runs of 50 patches each (a cold source for every job),
        // the jobs in rotating order, one thread. Destinations: 4 rotating ones (as the loader's pool) or one reused.
        var variants = new (string Name, PatchReader? Reader)[]
        {
            ("patch reader f32+i16 (as the loader)", reader),
            ("patch reader f32+i8 (int8 seg)", reader),
            ("patch reader f32+i16, no staging", direct),
            ("patch reader f32+i16, one buffer", reader),
            ("raw i16+u8, 4 rotating buffers", null),
            ("raw i16+u8, one buffer", null),
        };
        string[] jobs = variants.Select(v => v.Name).ToArray();
        var runs = new double[jobs.Length];
        int runPatches = 0;
        for (int from = warmPatches; from + 50 <= samples.Count; from += 50)
        {
            for (int job = 0; job < jobs.Length; job++)
            {
                int which = (job + from / 50) % jobs.Length;
                double cpu0 = ThreadCpu.Milliseconds();
                for (int k = from; k < from + 50; k++)
                {
                    var (c, s) = samples[k];
                    int dst = k % Rot;
                    if (variants[which].Reader is { } r)
                    {
                        using var lease = ds.Acquire(c);
                        int to = variants[which].Name.EndsWith("one buffer", StringComparison.Ordinal) ? 0 : dst;
                        r.Read(lease.Case.Image, s, size, images[to].AsSpan(), PadMode.Constant, 0f);
                        if (variants[which].Name.Contains("i8", StringComparison.Ordinal))
                            r.Read(lease.Case.Segmentation!, s, size, segs8[to].AsSpan(), PadMode.Constant, (sbyte)-1);
                        else
                            r.Read(lease.Case.Segmentation!, s, size, segs[to].AsSpan(), PadMode.Constant, (short)-1);
                    }
                    else
                    {
                        bool rot = variants[which].Name.Contains("rotating", StringComparison.Ordinal);
                        var cs = rawFiles[c].Image.Shape;
                        long count = 1;
                        for (int d = 0; d < sn; d++)
                        {
                            long l = Math.Max(0, s[d]), h = Math.Min(cs[d], s[d] + size[d]);
                            sel[d] = NdIndex.Slice(l, h);
                            count *= h - l;
                        }
                        rawFiles[c].Image.Read<short>(sel, (rot ? rawImg[dst] : oneImg).AsSpan(0, (int)count));
                        rawFiles[c].Seg.Read<byte>(sel, (rot ? rawSeg[dst] : oneSeg).AsSpan(0, (int)count));
                    }
                }
                runs[which] += ThreadCpu.Milliseconds() - cpu0;
            }
            runPatches += 50;
        }
        Console.WriteLine($"runs of 50 patches per job, jobs in rotating order, one thread ({runPatches} patches each); load {LoadAverage()}:");
        for (int j = 0; j < jobs.Length; j++)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {jobs[j],-40} {runs[j] / runPatches:F3} ms/patch"));
        Console.WriteLine($"thread CPU per {string.Join("×", size)} patch, one thread, mean of {counted} patches after {warmPatches} warm-up patches (pieces interleaved); load {LoadAverage()}:");
        for (int p = 0; p < names.Length; p++)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {names[p],-16} {t[p] / counted,6:F3} ms"));
        double loader = t[0] + t[1] + t[2] + t[3], raw = t[5] + t[6];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  loader pieces (lease + plan + image + seg) {loader / counted:F3} ms vs raw (rotating) {raw / counted:F3} ms: raw/loader {raw / loader:F2}"));
    }

    /// <summary>
    /// The image read of the in-bounds patches of a loader run, split into its pieces on one thread (thread CPU per
    /// patch, pieces interleaved patch by patch): raw <c>Read&lt;short&gt;</c> into one or 10 rotating buffers (10: the
    /// loader's pool of 5 batches × 2), the staged read's decode into the block-deep slabs alone, its conversion pass
    /// alone (from a slab that stays hot, into one or 10 rotating float32 patches), both together, and the fused
    /// conversion straight from each block (no staging).
    /// </summary>
    private static unsafe void Breakdown(PatchDataset ds, PatchLoaderOptions options, int warm)
    {
        var size = options.PatchSize!;
        var samples = Planned(ds, options, 0).Where(p =>
        {
            using var lease = ds.Acquire(p.Case);
            var shape = lease.Case.Image.SpatialShape;
            return p.Start.Select((v, d) => v >= 0 && v + size[d] <= shape[d]).All(b => b);
        }).ToList();
        int n = (int)size.Aggregate(1L, (a, b) => a * b), sn = size.Length;
        const int Rot = 10;
        var floats = Enumerable.Range(0, Rot).Select(_ => GC.AllocateUninitializedArray<float>(n, pinned: true)).ToArray();
        var shorts = Enumerable.Range(0, Rot).Select(_ => GC.AllocateUninitializedArray<short>(n, pinned: true)).ToArray();
        foreach (var f in floats) f.AsSpan().Clear();
        foreach (var f in shorts) f.AsSpan().Clear();
        var oneShort = shorts[0];
        var oneFloat = floats[0];
        var reader = new PatchReader();
        var direct = new PatchReader { Staging = false };
        var sel = new NdIndex[sn];
        string[] names = ["raw i16 (1 buf)", "raw i16 (10 rot)", "slab decode only", "convert pass (1 buf)", "convert pass (10 rot)", "staged f32 (10 rot)", "direct f32 (10 rot)", "staged f32 (1 buf)", "convert NT (10 rot)", "convert plain loop (10 rot)"];
        var t = new double[names.Length];
        int counted = 0, warmPatches = Math.Min(warm * options.BatchSize, samples.Count / 2);
        var conv = MLArray.Kernels.RowConversion.Fused(MLArray.Kernels.RowConversionKind.Int16ToSingle);
        var copy = MLArray.Kernels.RowConversion.Copy(2);
        int slabDepth;
        using (var first = ds.Acquire(0)) slabDepth = first.Case.Image.BlockDepth;
        var slab = GC.AllocateUninitializedArray<short>((int)(slabDepth * size[1] * size[2]), pinned: true);
        for (int k = 0; k < samples.Count; k++)
        {
            var (c, s) = samples[k];
            int dst = k % Rot;
            using var lease = ds.Acquire(c);
            var file = lease.Case.Image.File;
            for (int d = 0; d < sn; d++) sel[d] = NdIndex.Slice(s[d], s[d] + size[d]);
            long depth = lease.Case.Image.BlockDepth;
            for (int p = 0; p < names.Length; p++)
            {
                int w = (p + k) % names.Length;
                double cpu0 = ThreadCpu.Milliseconds();
                switch (w)
                {
                    case 0: file.Read<short>(sel, oneShort); break;
                    case 1: file.Read<short>(sel, shorts[dst]); break;
                    case 2:
                    case 3:
                    case 4:
                        {
                            long inner = size[1] * size[2];
                            long[] natural = [inner, size[2], 1], srcBytes = [inner * 2, size[2] * 2, 2], dstBytes = [inner * 4, size[2] * 4, 4];
                            var sub = (NdIndex[])sel.Clone();
                            fixed (short* src = slab)
                            fixed (float* to = w == 3 ? oneFloat : floats[dst])
                                for (long z0 = s[0]; z0 < s[0] + size[0];)
                                {
                                    long z1 = Math.Min(s[0] + size[0], (z0 / depth + 1) * depth);
                                    if (w == 2)
                                    {
                                        sub[0] = NdIndex.Slice(z0, z1);
                                        file.ReadStrided<short>(sub, slab.AsSpan(0, (int)((z1 - z0) * inner)), natural, copy);
                                    }
                                    else
                                    {
                                        long[] ext = [z1 - z0, size[1], size[2]];
                                        MLArray.Blosc2.NdCopy.ConvertRows((byte*)src, srcBytes, (byte*)(to + (z0 - s[0]) * inner), dstBytes, ext, conv);
                                    }
                                    z0 = z1;
                                }
                            break;
                        }
                    case 5: reader.Read(lease.Case.Image, s, size, floats[dst].AsSpan(), PadMode.Constant, 0f); break;
                    case 6: direct.Read(lease.Case.Image, s, size, floats[dst].AsSpan(), PadMode.Constant, 0f); break;
                    case 7: reader.Read(lease.Case.Image, s, size, oneFloat.AsSpan(), PadMode.Constant, 0f); break;
                    case 8:
                    case 9:
                        fixed (short* src = slab)
                        fixed (float* to0 = floats[dst])
                        {
                            long inner = size[1] * size[2];
                            for (long z0 = 0; z0 < size[0]; z0 += slabDepth)
                                FlatConvert(src, to0 + z0 * inner, (int)(Math.Min(slabDepth, size[0] - z0) * inner), w == 8);
                        }
                        break;
                }
                if (k >= warmPatches) t[w] += ThreadCpu.Milliseconds() - cpu0;
            }
            if (k >= warmPatches) counted++;
        }
        fixed (short* src = slab)
        fixed (float* to = oneFloat)
        {
            for (int round = 0; round < 3; round++)
            {
                double a0 = ThreadCpu.Milliseconds();
                for (int r = 0; r < 20000; r++) conv.Rows((byte*)src, 0, (byte*)to, 0, 8192, 1);
                double a1 = ThreadCpu.Milliseconds();
                for (int r = 0; r < 20000; r++) FlatConvert(src, to, 8192, false);
                double a2 = ThreadCpu.Milliseconds();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"hot 8192 items: engine {(a1 - a0) * 1e6 / 20000 / 8192:F3} ns/item, plain loop {(a2 - a1) * 1e6 / 20000 / 8192:F3} ns/item"));
            }
        }
        Console.WriteLine($"image 128³ int16 → float32, inside patches only, thread CPU per patch, mean of {counted} patches after {warmPatches} (pieces interleaved); load {LoadAverage()}:");
        for (int p = 0; p < names.Length; p++)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {names[p],-22} {t[p] / counted,6:F3} ms"));
    }

    private static unsafe void FlatConvert(short* src, float* dst, int count, bool nt)
    {
        int i = 0;
        while (i < count && ((nint)(dst + i) & 31) != 0) { dst[i] = src[i]; i++; }
        for (; i + 16 <= count; i += 16)
        {
            var a = System.Runtime.Intrinsics.X86.Avx.ConvertToVector256Single(System.Runtime.Intrinsics.X86.Avx2.ConvertToVector256Int32(Vector128.Load(src + i)));
            var b = System.Runtime.Intrinsics.X86.Avx.ConvertToVector256Single(System.Runtime.Intrinsics.X86.Avx2.ConvertToVector256Int32(Vector128.Load(src + i + 8)));
            if (nt)
            {
                System.Runtime.Intrinsics.X86.Avx.StoreAlignedNonTemporal(dst + i, a);
                System.Runtime.Intrinsics.X86.Avx.StoreAlignedNonTemporal(dst + i + 8, b);
            }
            else
            {
                a.Store(dst + i);
                b.Store(dst + i + 8);
            }
        }
        for (; i < count; i++) dst[i] = src[i];
        if (nt) System.Runtime.Intrinsics.X86.Sse.StoreFence();
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    // Batches at the start of a loader run that are not timed (cases first read, the pool's buffers first touched).
    private static int Skip(long batches) => (int)Math.Min(20, batches / 4);

    // Runs the loader; returns the wall seconds and process CPU seconds of the steady-state batches (those after batch
    // Skip arrived), GC bytes per steady-state batch, and the samples of exactly those batches (recorded into
    // preallocated arrays so the record itself allocates nothing).
    private static double Consume(PatchDataset ds, PatchLoaderOptions options, out double gcPerBatch, out double cpuSeconds, out List<(int Case, long[] Start)> samples) =>
        Consume(ds, options, out gcPerBatch, out cpuSeconds, out samples, out _, out _);

    // ... and the CPU seconds of each group of threads (loader workers, thread pool, others: /proc schedstat) over the
    // same window, and how many batch buffers the pool created during it.
    private static double Consume(PatchDataset ds, PatchLoaderOptions options, out double gcPerBatch, out double cpuSeconds, out List<(int Case, long[] Start)> samples,
        out Dictionary<string, double> threadSeconds, out int poolGrowth) =>
        (s_storedImage, s_int8Seg) switch
        {
            (false, true) => Consume<float, sbyte>(ds, options, out gcPerBatch, out cpuSeconds, out samples, out threadSeconds, out poolGrowth),
            (false, false) => Consume<float, short>(ds, options, out gcPerBatch, out cpuSeconds, out samples, out threadSeconds, out poolGrowth),
            (true, true) => Consume<short, sbyte>(ds, options, out gcPerBatch, out cpuSeconds, out samples, out threadSeconds, out poolGrowth),
            (true, false) => Consume<short, short>(ds, options, out gcPerBatch, out cpuSeconds, out samples, out threadSeconds, out poolGrowth),
        };

    private static double Consume<TImage, TSeg>(PatchDataset ds, PatchLoaderOptions options, out double gcPerBatch, out double cpuSeconds, out List<(int Case, long[] Start)> samples,
        out Dictionary<string, double> threadSeconds, out int poolGrowth)
        where TImage : unmanaged, System.Numerics.INumberBase<TImage> where TSeg : unmanaged, System.Numerics.INumberBase<TSeg>
    {
        int batches = (int)(options.BatchCount ?? 0);
        int skip = Skip(batches);
        int timed = batches - skip - 1;
        var list = new List<(int, long[])>(timed * options.BatchSize);
        for (int i = 0; i < timed * options.BatchSize; i++) list.Add((0, new long[options.PatchSize!.Length]));
        using var loader = new PatchLoader<TImage, TSeg>(ds, options);
        var proc = Process.GetCurrentProcess();
        var sw = new Stopwatch();
        TimeSpan cpu0 = default;
        long gc0 = 0, n = 0, k = 0, gcProbe = 0;
        int created0 = 0;
        Dictionary<string, double> threads0 = [], threads1 = [];
        var task = Task.Run(async () =>
        {
            await foreach (var b in loader)
                using (b)
                {
                    if (n++ == skip)
                    {
                        // The collection that the pool's prefill (120 MB of new batch buffers per loader) and the
                        // bench's own bookkeeping between runs call for is finished here, before the window, so no
                        // background GC thread shares the cores with the workers in it (a one-off of each run, not
                        // of the steady state); the raw runs start the same way.
                        GC.Collect();
                        threads0 = ThreadGroups();
                        created0 = loader.BuffersCreated;
                        proc.Refresh();
                        cpu0 = proc.TotalProcessorTime;
                        gc0 = GC.GetTotalAllocatedBytes(true); // after reading the process's CPU time (which allocates)
                        sw.Start();
                    }
                    if (n == batches - Math.Min(8, batches / 4))
                    {
                        long g = GC.GetTotalAllocatedBytes(true);
                        threads1 = ThreadGroups(); // the workers are still alive (they end when the last batches are planned)
                        gcProbe = GC.GetTotalAllocatedBytes(true) - g; // (not the loader's)
                    }
                    if (n <= skip + 1) continue;
                    for (int j = 0; j < b.Samples.Count; j++) // indexed: foreach over IReadOnlyList would allocate an enumerator
                    {
                        var s = b.Samples[j];
                        var (_, start) = list[(int)k];
                        s.Start.CopyTo(start);
                        list[(int)k++] = (s.CaseIndex, start);
                    }
                }
        });
        task.GetAwaiter().GetResult();
        double sec = sw.Elapsed.TotalSeconds;
        proc.Refresh();
        cpuSeconds = (proc.TotalProcessorTime - cpu0).TotalSeconds;
        gcPerBatch = (GC.GetTotalAllocatedBytes(true) - gc0 - gcProbe) / (double)Math.Max(1, timed);
        samples = list;
        poolGrowth = loader.BuffersCreated - created0;
        // Shares of the window up to threads1, scaled to the whole timed window's process CPU.
        var delta = threads1.ToDictionary(kv => kv.Key, kv => kv.Value - threads0.GetValueOrDefault(kv.Key));
        double sum = delta.Where(kv => !kv.Key.StartsWith("other: ", StringComparison.Ordinal)).Sum(kv => kv.Value);
        double cpu = cpuSeconds;
        threadSeconds = delta.ToDictionary(kv => kv.Key, kv => sum > 0 ? kv.Value / sum * cpu : 0);
        return sec;
    }

    // CPU seconds so far of this process's threads by group (Linux /proc/self/task/*/schedstat; empty elsewhere).
    // Threads that ended in between are lost, so compare groups of threads that live through the window.
    private static Dictionary<string, double> ThreadGroups()
    {
        var groups = new Dictionary<string, double>();
        if (!Directory.Exists("/proc/self/task")) return groups;
        foreach (var task in Directory.GetDirectories("/proc/self/task"))
        {
            try
            {
                string comm = File.ReadAllText(Path.Combine(task, "comm")).Trim();
                string group = comm.StartsWith("PatchLoader", StringComparison.Ordinal) ? "workers" : comm.StartsWith(".NET TP", StringComparison.Ordinal) ? "thread pool" : "other";
                if (group == "other") groups["other: " + comm] = groups.GetValueOrDefault("other: " + comm) + double.Parse(File.ReadAllText(Path.Combine(task, "schedstat")).Split(' ')[0], CultureInfo.InvariantCulture) / 1e9;
                double ns = double.Parse(File.ReadAllText(Path.Combine(task, "schedstat")).Split(' ')[0], CultureInfo.InvariantCulture);
                groups[group] = groups.GetValueOrDefault(group) + ns / 1e9;
            }
            catch (IOException)
            {
                // the thread ended while we looked
            }
        }
        return groups;
    }

    // The samples the loader will produce for these options (the sampler is a function of seed, epoch, rank and
    // position), from batch `from` on, without reading any patch: what the loader's worker plans, step by step.
    private static List<(int Case, long[] Start)> Planned(PatchDataset ds, PatchLoaderOptions options, int from)
    {
        var sampler = new PatchSampler(options, ds.Count);
        var list = new List<(int, long[])>();
        long batches = options.BatchCount ?? 0;
        for (long k = from; k < batches; k++)
            for (int i = 0; i < options.BatchSize; i++)
            {
                var (c, epoch, pos) = sampler.CaseOf(k * options.BatchSize + i);
                var rng = sampler.SampleRng(epoch, pos, 0);
                bool forced = sampler.Forced(i, ref rng);
                var start = new long[sampler.ReadSize.Length];
                using (var lease = ds.Acquire(c))
                    sampler.Plan(ref rng, forced, lease.Case.Image.SpatialShape, forced ? lease.Case.Locations : null, true, start, lease.Info.Id);
                list.Add((c, start));
            }
        return list;
    }

    // A consumer that spends `work` per batch, asleep (a training step waiting on a GPU) or spinning a core (a step
    // computing on the CPU); returns the seconds it waited for data before each batch.
    private static List<double> ConsumeSlow(PatchDataset ds, PatchLoaderOptions options, TimeSpan work, bool busy, out double worked) =>
        s_int8Seg ? ConsumeSlow<sbyte>(ds, options, work, busy, out worked) : ConsumeSlow<short>(ds, options, work, busy, out worked);

    private static List<double> ConsumeSlow<TSeg>(PatchDataset ds, PatchLoaderOptions options, TimeSpan work, bool busy, out double worked)
        where TSeg : unmanaged, System.Numerics.INumberBase<TSeg>
    {
        using var loader = new PatchLoader<float, TSeg>(ds, options);
        var waited = new List<double>((int)Math.Min(options.BatchCount ?? 16, 1 << 16));
        double done = 0;
        Task.Run(async () =>
        {
            var e = loader.GetAsyncEnumerator();
            try
            {
                while (true)
                {
                    var sw = Stopwatch.StartNew();
                    if (!await e.MoveNextAsync()) break;
                    waited.Add(sw.Elapsed.TotalSeconds);
                    using (e.Current)
                    {
                        var spin = Stopwatch.StartNew();
                        if (!busy && work > TimeSpan.FromMilliseconds(2))
                            Thread.Sleep(work - TimeSpan.FromMilliseconds(1)); // then the last ms by yielding (Sleep rounds down to ms)
                        while (spin.Elapsed < work)
                        {
                            if (busy) Thread.SpinWait(64);
                            else Thread.Yield();
                        }
                        done += spin.Elapsed.TotalSeconds;
                    }
                }
            }
            finally
            {
                await e.DisposeAsync();
            }
        }).GetAwaiter().GetResult();
        worked = done;
        return waited;
    }

    // Reads the in-bounds boxes of the same patches (image as int16, seg as uint8) with T threads, no padding or
    // conversion; returns wall seconds and the process CPU seconds of the reads alone.
    private static (double Wall, double Cpu) Raw((MLArrayFile Image, MLArrayFile Seg)[] files, List<(int Case, long[] Start)> samples, int threads, long[] size) =>
        Raw(files, samples, size, RawBuffers(threads, 1, size));

    // Destinations of the raw reads: per thread `rotate` image (int16) and segmentation (uint8) patches, allocated and
    // touched before the timing starts (as the loader's pool is prefilled before its workers start).
    private static (short[][] Image, byte[][] Seg)[] RawBuffers(int threads, int rotate, long[] size)
    {
        int n = (int)size.Aggregate(1L, (a, b) => a * b);
        return Enumerable.Range(0, threads).Select(_ => (
            Enumerable.Range(0, rotate).Select(_ => { var a = GC.AllocateUninitializedArray<short>(n, pinned: true); a.AsSpan().Fill(1); return a; }).ToArray(),
            Enumerable.Range(0, rotate).Select(_ => { var a = GC.AllocateUninitializedArray<byte>(n, pinned: true); a.AsSpan().Fill(1); return a; }).ToArray())).ToArray();
    }

    // Reads the in-bounds boxes of the same patches (image as int16, seg as uint8) with one thread per entry of
    // `buffers`, no padding or conversion, thread t cycling through its buffers (one: a destination that stays in
    // cache); returns wall seconds and the process CPU seconds of the reads alone.
    private static (double Wall, double Cpu) Raw((MLArrayFile Image, MLArrayFile Seg)[] files, List<(int Case, long[] Start)> samples, long[] size,
        (short[][] Image, byte[][] Seg)[] buffers, bool allocate = false)
    {
        int threads = buffers.Length;
        GC.Collect(); // as the loader's window: no background collection of earlier runs' garbage inside it
        var proc = Process.GetCurrentProcess();
        proc.Refresh();
        var cpu0 = proc.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var (imgs, segs) = buffers[t];
            var sel = new NdIndex[size.Length];
            for (int k = t, j = 0; k < samples.Count; k += threads, j++)
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
                if (allocate)
                {
                    // As a loop over `Read<T>(selection)` would: a new array per patch.
                    GC.KeepAlive(files[c].Image.Read<short>(sel));
                    GC.KeepAlive(files[c].Seg.Read<byte>(sel));
                    continue;
                }
                files[c].Image.Read<short>(sel, imgs[j % imgs.Length].AsSpan(0, (int)count));
                files[c].Seg.Read<byte>(sel, segs[j % segs.Length].AsSpan(0, (int)count));
            }
        });
        double wall = sw.Elapsed.TotalSeconds;
        proc.Refresh();
        return (wall, (proc.TotalProcessorTime - cpu0).TotalSeconds);
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

/// <summary>Counts GC allocation ticks (about one per 100 KB allocated) by type name.</summary>
internal sealed class AllocationListener : System.Diagnostics.Tracing.EventListener
{
    public System.Collections.Concurrent.ConcurrentDictionary<string, int> Ticks { get; } = new();

    protected override void OnEventSourceCreated(System.Diagnostics.Tracing.EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
            EnableEvents(source, System.Diagnostics.Tracing.EventLevel.Verbose, (System.Diagnostics.Tracing.EventKeywords)0x1);
    }

    protected override void OnEventWritten(System.Diagnostics.Tracing.EventWrittenEventArgs e)
    {
        if (e.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) != true || e.PayloadNames is null) return;
        int i = e.PayloadNames.IndexOf("TypeName");
        string type = i >= 0 ? e.Payload![i]?.ToString() ?? "?" : "?";
        string thread;
        try
        {
            thread = File.ReadAllText($"/proc/self/task/{e.OSThreadId}/comm").Trim();
        }
        catch (IOException)
        {
            thread = "?";
        }
        Ticks.AddOrUpdate($"{type} on '{thread}'", 1, (_, v) => v + 1);
    }
}

/// <summary>Threads that spin at normal priority until disposed (a loaded machine).</summary>
internal sealed class BusyThreads : IDisposable
{
    private readonly Thread[] _threads;
    private volatile bool _stop;

    public BusyThreads(int count)
    {
        _threads = Enumerable.Range(0, count).Select(i => new Thread(() => { while (!_stop) Thread.SpinWait(100); }) { IsBackground = true, Name = "busy " + i }).ToArray();
        foreach (var t in _threads) t.Start();
    }

    public void Dispose()
    {
        _stop = true;
        foreach (var t in _threads) t.Join();
    }
}

/// <summary>The calling thread's CPU time (Linux <c>CLOCK_THREAD_CPUTIME_ID</c>): steadier than wall time on a shared machine.</summary>
internal static partial class ThreadCpu
{
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Sec;
        public long NSec;
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out Timespec ts);

    public static double Milliseconds()
    {
        if (!OperatingSystem.IsLinux() || ClockGetTime(3, out var ts) != 0) // 3 = CLOCK_THREAD_CPUTIME_ID
            return Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;
        return ts.Sec * 1000.0 + ts.NSec / 1e6;
    }
}
