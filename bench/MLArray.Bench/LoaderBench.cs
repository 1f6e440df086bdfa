using System.Diagnostics;
using System.Globalization;
using MLArray.Metadata;
using MLArray.Training.Data;
using MLArray.Training;
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
        int rounds = Arg(args, "--rounds", 5);
        if (args.Contains("--parts")) { Parts(ds, patch, args.Contains("--align64")); return 0; }
        var rawFiles = ds.Cases.Select(c => (Image: MLArrayFile.Open(c.ImagePath), Seg: MLArrayFile.Open(c.SegmentationPath!))).ToArray();
        foreach (var (i, sg) in rawFiles) { i.DecodeThreads = 1; sg.DecodeThreads = 1; }
        double rawBatchSeconds = 0;
        foreach (int t in new[] { 1, 2 })
        {
            var options = baseOptions with { Workers = t, BatchCount = batches };
            // Warm-up (JIT, page cache) with another seed.
            Consume(ds, options with { Seed = 99, BatchCount = 6 }, out _, out _, out _);
            // Interleaved rounds: the loader, then raw reads of exactly the boxes it read; medians reported.
            var loaderRates = new List<double>();
            var rawRates = new List<double>();
            var ratios = new List<double>();
            var gcs = new List<double>();
            var cpuRatios = new List<double>();
            for (int r = 0; r < rounds; r++)
            {
                double loaderSec = Consume(ds, options with { Seed = 1 + r }, out double gcPerBatch, out double loaderCpu, out var samples);
                var (rawSec, rawCpu) = Raw(rawFiles, samples, t, baseOptions.PatchSize);
                cpuRatios.Add(rawCpu / loaderCpu);
                loaderRates.Add(samples.Count / loaderSec);
                rawRates.Add(samples.Count / rawSec);
                ratios.Add(rawSec / loaderSec);
                gcs.Add(gcPerBatch);
                if (t == 1) rawBatchSeconds = Math.Max(rawBatchSeconds, rawSec * options.BatchSize / samples.Count);
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"T={t} (median of {rounds} interleaved rounds): loader {Median(loaderRates),7:F1} patches/s | raw MLArrayFile.Read of the same boxes {Median(rawRates),7:F1} patches/s | ratio {Median(ratios):F2} (rounds {string.Join(" ", ratios.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))}) | CPU time raw/loader {Median(cpuRatios):F2} | GC {Median(gcs):F0} B/batch"));
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
        foreach (var (i, sg) in rawFiles) { i.Dispose(); sg.Dispose(); }
        return 0;
    }

    // Per-patch cost of the pieces, interleaved patch by patch on one thread: raw Read<short> of an in-bounds box,
    // the patch reader into int16 (same type: a strided copy) and into float32 (converting rows while decoding).
    private static unsafe void Parts(PatchDataset ds, int patch, bool args64)
    {
        var files = ds.Cases.Select(c => MLArrayFile.Open(c.ImagePath)).ToArray();
        foreach (var f in files) f.DecodeThreads = 1;
        var arrays = files.Select(f => new CaseArray(f)).ToArray();
        long n = (long)patch * patch * patch;
        var raw = new short[n];
        var asShort = new short[n];
        var floatStore = GC.AllocateUninitializedArray<float>((int)n + 16, pinned: true);
        int skew = args64 ? (int)((64 - ((long)System.Runtime.CompilerServices.Unsafe.AsPointer(ref floatStore[0]) & 63)) & 63) / 4 : 0;
        var asFloat = new Memory<float>(floatStore, skew, (int)n);
        Console.WriteLine($"float destination at address mod 64 = {((long)System.Runtime.CompilerServices.Unsafe.AsPointer(ref floatStore[skew]) & 63)}");
        var reader = new PatchReader();
        var rng = new Random(3);
        var sel = new NdIndex[3];
        var t = new double[4];
        const int Count = 60;
        long[] size = [patch, patch, patch];
        for (int k = -5; k < Count; k++)
        {
            int c = rng.Next(files.Length);
            var shape = files[c].Shape;
            long[] start = shape.Select(s => (long)rng.Next(0, (int)(s - patch + 1))).ToArray();
            for (int d = 0; d < 3; d++) sel[d] = NdIndex.Slice(start[d], start[d] + patch);
            for (int which = 0; which < 4; which++)
            {
                int w = (which + k) % 4; // rotate the order
                double cpu0 = ThreadCpu.Milliseconds();
                if (w == 0) files[c].Read<short>(sel, raw);
                else if (w == 1) reader.Read(arrays[c], start, size, asShort.AsSpan(), PadMode.Constant, (short)0);
                else if (w == 2) reader.Read(arrays[c], start, size, asFloat.Span, PadMode.Constant, 0f);
                else
                {
                    files[c].Read<short>(sel, raw);
                    System.Numerics.Tensors.TensorPrimitives.ConvertTruncating<short, float>(raw, asFloat.Span);
                }
                if (k >= 0) t[w] += ThreadCpu.Milliseconds() - cpu0;
            }
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"thread CPU per {patch}³ image patch (mean of {Count}, interleaved): raw Read<short> {t[0] / Count:F2} ms | PatchReader → int16 {t[1] / Count:F2} ms | PatchReader → float32 {t[2] / Count:F2} ms | Read<short> + convert {t[3] / Count:F2} ms"));
        foreach (var f in files) f.Dispose();
        RowMicro(raw, new float[n]);
    }

    private static unsafe void RowMicro(short[] src, float[] dst)
    {
        for (int rep = 0; rep < 3; rep++)
        {
            var sw = Stopwatch.StartNew();
            fixed (short* s = src)
            fixed (float* d = dst)
                for (int i = 0; i + 16 <= src.Length; i += 16)
                    RowConverter<short, float>.Run((byte*)(s + i), 0, (byte*)(d + i), 0, 16, 1);
            double rows = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            System.Numerics.Tensors.TensorPrimitives.ConvertTruncating<short, float>(src, dst);
            double whole = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            // strided: rows of 16 spread as in a 128³ patch decoded block by block (blocks 32×16×16)
            fixed (short* s = src)
            fixed (float* d = dst)
                for (int bz = 0; bz < 128; bz += 32)
                    for (int by = 0; by < 128; by += 16)
                        for (int bx = 0; bx < 128; bx += 16)
                            for (int z = bz; z < bz + 32; z++)
                            {
                                int o = (z * 128 + by) * 128 + bx;
                                RowConverter<short, float>.Run((byte*)(s + o), 256, (byte*)(d + o), 512, 16, 16);
                            }
            double strided = sw.Elapsed.TotalMilliseconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"int16→float32 of {src.Length} elements: rows of 16 in order {rows:F2} ms | one call {whole:F2} ms | rows in block order {strided:F2} ms"));
        }
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    // Runs the loader; returns the wall seconds and process CPU seconds of the steady-state batches (after the first
    // ones: cases opening, the pool's buffers first touched), GC bytes per steady-state batch, and the samples of those
    // batches (recorded into preallocated arrays so the record itself allocates nothing).
    private static double Consume(PatchDataset ds, PatchLoaderOptions options, out double gcPerBatch, out double cpuSeconds, out List<(int Case, long[] Start)> samples)
    {
        int batches = (int)(options.BatchCount ?? 0);
        int skip = Math.Min(8, batches / 3);
        var list = new List<(int, long[])>((batches - skip) * options.BatchSize);
        for (int i = 0; i < (batches - skip) * options.BatchSize; i++) list.Add((0, new long[options.PatchSize!.Length]));
        using var loader = new PatchLoader<float, short>(ds, options);
        var proc = Process.GetCurrentProcess();
        var sw = new Stopwatch();
        TimeSpan cpu0 = default;
        long gc0 = 0, n = 0, k = 0;
        var task = Task.Run(async () =>
        {
            await foreach (var b in loader)
                using (b)
                {
                    if (n++ == skip)
                    {
                        gc0 = GC.GetTotalAllocatedBytes(true);
                        proc.Refresh();
                        cpu0 = proc.TotalProcessorTime;
                        sw.Start();
                    }
                    if (n <= skip) continue;
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
        gcPerBatch = (GC.GetTotalAllocatedBytes(true) - gc0) / (double)Math.Max(1, n - skip - 1);
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
    // Reads the in-bounds boxes of the same patches (image as int16, seg as uint8) with T threads, no padding or
    // conversion; returns wall seconds and the process CPU seconds of the reads alone.
    private static (double Wall, double Cpu) Raw((MLArrayFile Image, MLArrayFile Seg)[] files, List<(int Case, long[] Start)> samples, int threads, long[] size)
    {
        long n = size.Aggregate(1L, (a, b) => a * b);
        var proc = Process.GetCurrentProcess();
        proc.Refresh();
        var cpu0 = proc.TotalProcessorTime;
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
