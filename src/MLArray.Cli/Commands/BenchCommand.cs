using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Text;
using System.Text.Json;
using MLArray.Blosc2;

namespace MLArray.Cli.Commands;

/// <summary>
/// <c>mlarray bench FILE --patch 64,64,64 --count 200 --threads 1 [--seed S] [--json]</c>: random patch reads, the
/// access pattern of patch-based training, to choose a layout.
/// </summary>
internal static class BenchCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var file = new Argument<string>("file") { Description = "The .mla file to benchmark." };
        var patch = new Option<string>("--patch") { Description = "Patch size: one number for every axis or one per axis (clipped to the shape).", DefaultValueFactory = _ => "64" };
        var count = new Option<int>("--count") { Description = "Number of random patches.", DefaultValueFactory = _ => 200 };
        var threads = new Option<int>("--threads") { Description = "Concurrent readers; each reads its share of the patches from the same open file.", DefaultValueFactory = _ => 1 };
        var seed = new Option<int>("--seed") { Description = "Seed of the patch positions.", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var cache = CliInput.CacheOption();
        var cmd = new Command("bench", "Time random patch reads and a full decode of a file (after one warm-up). For the training loader over a dataset use: mlarray bench --loader DATASET (see mlarray bench --loader DATASET --help).")
        {
            file, patch, count, threads, seed, json, cache,
        };
        cmd.SetAction(pr => CliApp.Guard(stderr, () =>
        {
            int n = pr.GetValue(count), t = pr.GetValue(threads);
            if (n <= 0) throw new ArgumentException($"--count must be positive, got {n}.");
            if (t <= 0) throw new ArgumentException($"--threads must be positive, got {t}.");
            return CliApp.Guard(stderr, [pr.GetValue(file)!], () =>
            {
                using var a = CliInput.OpenArray(pr.GetValue(file)!, pr.GetValue(cache));
                if (a.Length == 0) throw new ArgumentException($"'{a.Name}' holds no array data (shape ({string.Join(", ", a.Shape)})); nothing to benchmark.");
                var result = Run(a, ParsePatch(pr.GetValue(patch)!, a.Shape), n, t, pr.GetValue(seed));
                stdout.WriteLine(pr.GetValue(json) ? CliInput.WithTraffic(result.ToJson(), a) : result.ToText() + (CliInput.TrafficLine(a) is { } tl ? "\n" + tl : ""));
                return CliApp.Ok;
            });
        }));
        return cmd;
    }

    internal static long[] ParsePatch(string s, long[] shape)
    {
        var parts = s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var values = new long[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!long.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out values[i]) || values[i] <= 0)
                throw new ArgumentException($"--patch '{s}' must be positive integers separated by commas.");
        if (values.Length != 1 && values.Length != shape.Length)
            throw new ArgumentException($"--patch '{s}' has {values.Length} values; give one, or one per axis ({shape.Length}).");
        return shape.Select((n, d) => Math.Min(n, values.Length == 1 ? values[0] : values[d])).ToArray();
    }

    internal sealed record BenchResult(string File, long[] Shape, string DType, long[] Patch, int Count, int Threads, int Seed,
        double MedianUs, double MeanUs, double P95Us, double MbPerS, double FullDecodeMs)
    {
        /// <summary>
        /// How this process runs the library's code: widest SIMD vectors its kernels use and whether it is a Native AOT
        /// build (the linux-x64 tool package: x86-64 baseline, 128-bit paths) or JIT-compiled (AVX2/AVX-512 picked at run
        /// time), so that numbers from the tool and from an application can be compared.
        /// </summary>
        public static string Simd => Vector512.IsHardwareAccelerated ? "512-bit" : Vector256.IsHardwareAccelerated ? "256-bit" : Vector128.IsHardwareAccelerated ? "128-bit" : "none";

        /// <summary>True in a Native AOT build (no JIT: SIMD width fixed when the tool was compiled).</summary>
        public static bool NativeAot => !RuntimeFeature.IsDynamicCodeSupported;

        public string ToJson()
        {
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                w.WriteStartObject();
                w.WriteString("file", File);
                w.WriteStartArray("shape"); foreach (var x in Shape) w.WriteNumberValue(x); w.WriteEndArray();
                w.WriteString("dtype", DType);
                w.WriteStartArray("patch"); foreach (var x in Patch) w.WriteNumberValue(x); w.WriteEndArray();
                w.WriteNumber("count", Count);
                w.WriteNumber("threads", Threads);
                w.WriteNumber("seed", Seed);
                w.WriteNumber("median_us", Math.Round(MedianUs, 1));
                w.WriteNumber("mean_us", Math.Round(MeanUs, 1));
                w.WriteNumber("p95_us", Math.Round(P95Us, 1));
                w.WriteNumber("mb_per_s", Math.Round(MbPerS, 1));
                w.WriteNumber("full_decode_ms", Math.Round(FullDecodeMs, 3));
                w.WriteString("simd", Simd);
                w.WriteBoolean("native_aot", NativeAot);
                w.WriteEndObject();
            }
            return Encoding.UTF8.GetString(ms.ToArray());
        }

        public string ToText()
        {
            var c = CultureInfo.InvariantCulture;
            return string.Create(c, $"""
                file            {File}
                shape           ({string.Join(", ", Shape)}) {DType}
                patch           ({string.Join(", ", Patch)}) x {Count}, {Threads} thread(s), seed {Seed}
                patch median    {MedianUs:F1} µs
                patch mean      {MeanUs:F1} µs (p95 {P95Us:F1} µs)
                throughput      {MbPerS:F1} MB/s of decoded patch data
                full decode     {FullDecodeMs:F2} ms
                code            {(NativeAot ? "Native AOT (x86-64 baseline)" : "JIT-compiled")}, SIMD vectors up to {Simd}{(NativeAot ? " (an application's JIT-compiled library uses the CPU's widest vectors)" : "")}
                """);
        }
    }

    internal static BenchResult Run(B2ndArray a, long[] patch, int count, int threads, int seed)
    {
        var shape = a.Shape;
        var rng = new Random(seed);
        var starts = new long[count][];
        for (int i = 0; i < count; i++)
            starts[i] = shape.Select((n, d) => rng.NextInt64(0, n - patch[d] + 1)).ToArray();
        long patchItems = patch.Aggregate(1L, (x, y) => x * y);
        int patchBytes = checked((int)(patchItems * a.DType.ItemSize));
        var selections = starts.Select(s => s.Select((x, d) => NdIndex.Slice(x, x + patch[d])).ToArray()).ToArray();

        // Warm-up (so the JIT has optimised the hot paths, as in a long-running pipeline): at least one pass over the
        // patches and one full decode, for at least half a second.
        var buffers = Enumerable.Range(0, threads).Select(_ => new byte[patchBytes]).ToArray();
        var full = new byte[a.NBytes];
        var warm = Stopwatch.StartNew();
        int w = 0;
        do
        {
            a.Read(selections[w % count], buffers[0]);
            if (++w % count == 0) a.Read(full, threads);
        }
        while (w < count || warm.ElapsedMilliseconds < 500);
        a.Read(full, threads);

        var times = new double[count];
        var wall = Stopwatch.StartNew();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, r =>
        {
            var sw = new Stopwatch();
            for (int i = r; i < count; i += threads)
            {
                sw.Restart();
                a.Read(selections[i], buffers[r]);
                times[i] = sw.Elapsed.TotalMicroseconds;
            }
        });
        double wallUs = wall.Elapsed.TotalMicroseconds;
        Array.Sort(times);
        double fullMs = double.MaxValue;
        for (int i = 0; i < 3; i++)
        {
            var sw = Stopwatch.StartNew();
            a.Read(full, threads);
            fullMs = Math.Min(fullMs, sw.Elapsed.TotalMilliseconds);
        }
        return new BenchResult(a.Name ?? "", shape, a.DType.Name, patch, count, threads, seed,
            times[count / 2], times.Average(), times[Math.Min(count - 1, (int)(count * 0.95))],
            (double)patchBytes * count / wallUs, fullMs);
    }
}
