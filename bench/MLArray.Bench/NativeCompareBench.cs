using System.Diagnostics;
using System.Globalization;
using MLArray.Blosc2;

namespace MLArray.Bench;

/// <summary>
/// `native [options]`: random N-d patch reads and the full decode of one file, ours against an external native
/// C-Blosc2 bench program run in interleaved pairs (issue 16). This repository does not build the native side: pass
/// the path of a program you built yourself with <c>--native PATH</c> (or the environment variable
/// <c>MLARRAY_NATIVE_BENCH</c>). The program is called as <c>PATH FILE PATCHLIST PATCH REPS [EXTRA]</c>, reads the
/// patch origins (one line per patch, one number per axis) from PATCHLIST, reads each patch of edge PATCH
/// single-threaded, decodes the whole array single-threaded, and prints one line containing
/// <c>patch_mbps=X full_ms=Y</c> (medians over REPS passes after a 1 s warm-up). Without a native program only our
/// side runs. Options: <c>--file F</c> (default: the corpus volume), <c>--patch 64</c>, <c>--count 100</c> (patches
/// in the list), <c>--seed 1</c>, <c>--pairs 10</c>, <c>--reps 9</c>, <c>--patches FILE</c> (use this list instead
/// of generating one), <c>--native-arg X</c> (EXTRA, e.g. "mem"), <c>--clock cpu</c> (single-thread passes timed by
/// thread CPU time on both sides; the native program gets "cpu" in EXTRA), <c>--make ct256</c> (a CT-like int16 256³
/// volume with the default layout for 128³ patches instead of --file; patch default 128), <c>--recode zstd:5</c> (the
/// file rewritten with another codec and level first).
/// </summary>
internal static class NativeCompareBench
{
    public static int Run(string[] args)
    {
        string file = Option(args, "--file") ?? BenchData.Volume();
        string? make = Option(args, "--make");
        string? recode = Option(args, "--recode");
        var temporary = new List<string>();
        try
        {
            if (make is not null)
                temporary.Add(file = MakeCtLike(make));
            if (recode is not null)
                temporary.Add(file = Recode(file, recode));
            return Run(args, file, patchDefault: make is null ? "64" : "128");
        }
        finally
        {
            foreach (string t in temporary)
                File.Delete(t);
        }
    }

    /// <summary>
    /// <c>--make ctN</c>: a CT-like int16 volume of N³ (the one the convert bench writes as NIfTI) saved as .mla with
    /// the default layout for 128³ patches (<see cref="LayoutOptions.Patch"/>) and default compression.
    /// </summary>
    private static string MakeCtLike(string spec)
    {
        if (!spec.StartsWith("ct", StringComparison.Ordinal) || !int.TryParse(spec.AsSpan(2), CultureInfo.InvariantCulture, out int edge) || edge < 8)
            throw new ArgumentException($"--make {spec}: expected ctN, e.g. ct256");
        string path = Path.Combine(Path.GetTempPath(), $"mlarray-native-ct{edge}-{Environment.ProcessId}.mla");
        short[] v = ConvertBench.CtLikeVolume(edge, edge, edge);
        var options = new MLArrayCreateOptions { Layout = LayoutOptions.Patch(128, 128, 128) };
        using (var f = MLArrayFile.FromArray(v, [edge, edge, edge], options))
            f.Save(path);
        return path;
    }

    /// <summary><c>--recode codec:level</c>: the file rewritten with that codec and level (same chunks, blocks and shuffle), e.g. zstd:5.</summary>
    private static string Recode(string file, string spec)
    {
        string[] parts = spec.Split(':');
        if (parts.Length != 2 || !Enum.TryParse(parts[0], ignoreCase: true, out Blosc2Codec codec) || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out int level))
            throw new ArgumentException($"--recode {spec}: expected codec:level, e.g. zstd:5");
        using var src = B2ndArray.Open(file);
        var options = new B2ndWriteOptions
        {
            ChunkShape = src.ChunkShape,
            BlockShape = src.BlockShape,
            Compression = new CompressionParams { Codec = codec, CLevel = level, Threads = 0 },
        };
        string path = Path.Combine(Path.GetTempPath(), $"mlarray-native-{codec}{level}-{Environment.ProcessId}.b2nd");
        File.WriteAllBytes(path, B2ndWriter.WriteToArray(src.ReadBytes(0), src.Shape, src.DType, options));
        return path;
    }

    private static int Run(string[] args, string file, string patchDefault)
    {
        int patch = int.Parse(Option(args, "--patch") ?? patchDefault, CultureInfo.InvariantCulture);
        int count = int.Parse(Option(args, "--count") ?? "100", CultureInfo.InvariantCulture);
        int seed = int.Parse(Option(args, "--seed") ?? "1", CultureInfo.InvariantCulture);
        int pairs = int.Parse(Option(args, "--pairs") ?? "10", CultureInfo.InvariantCulture);
        int reps = int.Parse(Option(args, "--reps") ?? "9", CultureInfo.InvariantCulture);
        string? native = Option(args, "--native") ?? Environment.GetEnvironmentVariable("MLARRAY_NATIVE_BENCH");
        string? nativeArg = Option(args, "--native-arg");
        // --clock cpu: both sides time single-threaded passes by the thread's CPU time (less noisy than the wall clock
        // on a shared machine); the native program gets "cpu" in its option list.
        bool cpu = Option(args, "--clock") == "cpu";
        if (cpu)
            nativeArg = nativeArg is null ? "cpu" : nativeArg + ",cpu";

        using var a = B2ndArray.Open(file);
        long[] shape = a.Shape;
        long[] edge = shape.Select(n => Math.Min(n, patch)).ToArray();
        string listPath = Option(args, "--patches") ?? WritePatchList(shape, edge, count, seed);
        long[][] origins = File.ReadAllLines(listPath).Where(l => l.Trim().Length > 0)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray())
            .ToArray();
        long patchBytes = edge.Aggregate(1L, (x, y) => x * y) * a.DType.ItemSize;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Path.GetFileName(file)}: {a.DType.Name} ({string.Join(",", shape)}), chunks ({string.Join(",", a.ChunkShape)}), blocks ({string.Join(",", a.BlockShape)}), {a.Codec} {a.CLevel}; {origins.Length} patches of ({string.Join(",", edge)}) from {listPath}"));
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores; load average {LoadAverage()}; single-thread timings by {(cpu ? "thread CPU time" : "wall clock")}");

        var ours = new OursBench(a, origins, edge, patchBytes, cpu);
        var nat = new List<(double Mbps, double FullMs)>();
        var our = new List<(double Mbps, double FullMs)>();
        for (int p = 0; p < pairs; p++)
        {
            if (native is not null)
                nat.Add(RunNative(native, file, listPath, patch, reps, nativeArg));
            our.Add((ours.PatchMbps(reps, readers: 1), ours.FullMs(reps)));
            string line = string.Create(CultureInfo.InvariantCulture, $"pair {p + 1,2}: ours {our[^1].Mbps,7:F0} MB/s {our[^1].FullMs,7:F2} ms");
            if (native is not null)
                line += string.Create(CultureInfo.InvariantCulture, $"   native {nat[^1].Mbps,7:F0} MB/s {nat[^1].FullMs,7:F2} ms");
            Console.WriteLine(line);
        }
        double two = ours.PatchMbps(reps, readers: 2);
        var (allocSpan, allocArray, p50Array, p95Array) = ours.Allocations();

        double oursMbps = Median(our.Select(x => x.Mbps)), oursFull = Median(our.Select(x => x.FullMs));
        Console.WriteLine();
        Console.WriteLine("| figure | native | ours | ratio |");
        Console.WriteLine("|---|---|---|---|");
        if (native is not null)
        {
            double natMbps = Median(nat.Select(x => x.Mbps)), natFull = Median(nat.Select(x => x.FullMs));
            var ratios = our.Zip(nat, (o, n) => o.Mbps / n.Mbps).Order().ToArray();
            var fullRatios = our.Zip(nat, (o, n) => n.FullMs / o.FullMs).Order().ToArray();
            Console.WriteLine(Row($"{patch}-edge patch, 1 thread (MB/s, median of {pairs} pairs)", natMbps, oursMbps,
                $"{oursMbps / natMbps:F2}× (pairs {ratios[0]:F2}–{ratios[^1]:F2}×)"));
            Console.WriteLine(Row($"{patch}-edge patch, 2 readers vs native 1 thread (MB/s)", natMbps, two, $"{two / natMbps:F2}×"));
            Console.WriteLine(Row("full decode, 1 thread (ms)", natFull, oursFull,
                $"{natFull / oursFull:F2}× (pairs {fullRatios[0]:F2}–{fullRatios[^1]:F2}×)"));
        }
        else
        {
            Console.WriteLine(Row($"{patch}-edge patch, 1 thread (MB/s)", double.NaN, oursMbps, "—"));
            Console.WriteLine(Row($"{patch}-edge patch, 2 readers (MB/s)", double.NaN, two, "—"));
            Console.WriteLine(Row("full decode, 1 thread (ms)", double.NaN, oursFull, "—"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"allocated per patch: span path {allocSpan:F0} B, array-returning path {allocArray:F0} B (result {patchBytes + 24} B); array path per patch p50 {p50Array:F3} ms, p95 {p95Array:F3} ms"));
        return 0;
    }

    private static string Row(string figure, double native, double ours, string ratio) => string.Create(CultureInfo.InvariantCulture,
        $"| {figure} | {(double.IsNaN(native) ? "—" : native.ToString(native > 100 ? "F0" : "F2", CultureInfo.InvariantCulture))} | {ours.ToString(ours > 100 ? "F0" : "F2", CultureInfo.InvariantCulture)} | {ratio} |");

    private static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    private static string WritePatchList(long[] shape, long[] edge, int count, int seed)
    {
        var rng = new Random(seed);
        string path = Path.Combine(Path.GetTempPath(), $"mlarray-patches-{string.Join("x", shape)}-{edge[0]}-{count}-{seed}.txt");
        using var w = new StreamWriter(path);
        for (int i = 0; i < count; i++)
            w.WriteLine(string.Join(' ', shape.Select((n, d) => rng.NextInt64(0, n - edge[d] + 1).ToString(CultureInfo.InvariantCulture))));
        return path;
    }

    private static (double, double) RunNative(string exe, string file, string list, int patch, int reps, string? extra)
    {
        var args = new List<string> { file, list, patch.ToString(CultureInfo.InvariantCulture), reps.ToString(CultureInfo.InvariantCulture) };
        if (extra is not null)
            args.Add(extra);
        string output = WriteBench.RunProcess(exe, args.ToArray());
        return (WriteBench.Field(output, "patch_mbps"), WriteBench.Field(output, "full_ms"));
    }

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Trim(); }
        catch (IOException) { return "unknown"; }
        catch (UnauthorizedAccessException) { return "unknown"; }
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length == 0 ? double.NaN : v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    /// <summary>Our side: the same passes over the patch list as the native program (1 s warm-up, median pass).</summary>
    private sealed class OursBench(B2ndArray a, long[][] origins, long[] edge, long patchBytes, bool cpu)
    {
        private readonly NdIndex[][] _selections = origins.Select(o => o.Select((s, d) => NdIndex.Slice(s, s + edge[d])).ToArray()).ToArray();
        private readonly byte[] _full = new byte[a.NBytes];

        public double PatchMbps(int reps, int readers)
        {
            var buffers = Enumerable.Range(0, readers).Select(_ => new byte[patchBytes]).ToArray();
            void Pass()
            {
                if (readers == 1)
                {
                    foreach (var s in _selections)
                        a.Read(s, buffers[0], threads: 1);
                    return;
                }
                // Each reader takes every readers-th patch, like a data loader with that many workers.
                Parallel.For(0, readers, new ParallelOptions { MaxDegreeOfParallelism = readers }, r =>
                {
                    for (int i = r; i < _selections.Length; i += readers)
                        a.Read(_selections[i], buffers[r], threads: 1);
                });
            }
            double ms = MedianMs(reps, Pass, cpuClock: readers == 1);
            return _selections.Length * patchBytes / 1e6 / (ms / 1e3);
        }

        public double FullMs(int reps)
        {
            for (int i = 0; i < 3; i++)
                a.Read(_full, threads: 1);
            var t = new double[reps];
            for (int i = 0; i < reps; i++)
            {
                double start = Clock.Ms(cpu);
                a.Read(_full, threads: 1);
                t[i] = Clock.Ms(cpu) - start;
            }
            return Median(t);
        }

        /// <summary>Bytes allocated per patch on the span path and on the array-returning path; the latter's per-patch p50 and p95.</summary>
        public (double, double, double, double) Allocations()
        {
            var buffer = new byte[patchBytes];
            foreach (var s in _selections)
                a.Read(s, buffer, threads: 1);
            long before = GC.GetAllocatedBytesForCurrentThread();
            foreach (var s in _selections)
                a.Read(s, buffer, threads: 1);
            double span = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)_selections.Length;
            var times = new List<double>();
            for (int pass = 0; pass < 3; pass++)
            {
                before = GC.GetAllocatedBytesForCurrentThread();
                foreach (var s in _selections)
                {
                    long start = Stopwatch.GetTimestamp();
                    _ = ReadArray(s);
                    times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
            }
            double array = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)_selections.Length;
            var sorted = times.Order().ToArray();
            return (span, array, sorted[sorted.Length / 2], sorted[(int)(sorted.Length * 0.95)]);
        }

        private Array ReadArray(NdIndex[] s) => a.DType.ItemSize switch
        {
            1 => a.Read<byte>(s, threads: 1),
            2 => a.Read<short>(s, threads: 1),
            4 => a.Read<float>(s, threads: 1),
            8 => a.Read<double>(s, threads: 1),
            _ => throw new NotSupportedException($"item size {a.DType.ItemSize}"),
        };

        private double MedianMs(int reps, Action pass, bool cpuClock)
        {
            var warm = Stopwatch.StartNew();
            do pass(); while (warm.ElapsedMilliseconds < 1000);
            var t = new double[reps];
            for (int i = 0; i < reps; i++)
            {
                double start = Clock.Ms(cpu && cpuClock);
                pass();
                t[i] = Clock.Ms(cpu && cpuClock) - start;
            }
            return Median(t);
        }
    }
}

/// <summary>Milliseconds by the wall clock, or by the calling thread's CPU time (Linux <c>CLOCK_THREAD_CPUTIME_ID</c>).</summary>
internal static partial class Clock
{
    public static double Ms(bool threadCpu)
    {
        if (!threadCpu || !OperatingSystem.IsLinux())
            return Stopwatch.GetTimestamp() * 1e3 / Stopwatch.Frequency;
        ClockGetTime(3, out var t); // CLOCK_THREAD_CPUTIME_ID
        return t.Seconds * 1e3 + t.Nanoseconds / 1e6;
    }

    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec t);
}
