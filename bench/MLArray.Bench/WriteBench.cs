using System.Diagnostics;
using System.Globalization;
using MLArray.Blosc2;
using MLArray.Layout;

namespace MLArray.Bench;

/// <summary>
/// `writes [runs] [folder]`: writing the corpus volume (float32 128×192×160, its chunk/block layout, LZ4HC 8 + shuffle)
/// three ways, interleaved, medians of the runs: FromArray + Save, Create + one whole-array Write (+ Dispose), and
/// Create + one Write per plane along axis 0 (+ Dispose, the way a DICOM series or slab predictions are assembled);
/// the file sizes of each (issue 16 targets: Create + Write ≤ 1.2× FromArray + Save; plane by plane ≤ 1.5× the time
/// and ≤ 1.05× the size of one whole write). With <c>--native PATH</c> also our single-threaded writer against a native
/// C-Blosc2 writer program (LZ4HC 8 + shuffle ≥ 1.2× native, size within 0.5 %; see <c>CompareNative</c>);
/// <c>--clock cpu</c> times that comparison by thread CPU time on both sides.
/// </summary>
internal static class WriteBench
{
    public static int Run(string[] args)
    {
        int ci = Array.IndexOf(args, "--clock");
        bool cpu = ci >= 0 && ci + 1 < args.Length && args[ci + 1] == "cpu";
        if (ci >= 0)
            args = args.Take(ci).Concat(args.Skip(ci + 2)).ToArray();
        int ni = Array.IndexOf(args, "--native");
        string? native = ni >= 0 && ni + 1 < args.Length ? args[ni + 1] : Environment.GetEnvironmentVariable("MLARRAY_NATIVE_WRITE");
        if (ni >= 0)
            args = args.Take(ni).Concat(args.Skip(ni + 2)).ToArray();
        int runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5;
        string folder = args.Length > 1 ? args[1] : Path.GetTempPath();
        float[] data;
        long[] shape;
        int[] chunks, blocks;
        using (var src = B2ndArray.Open(BenchData.Volume()))
        {
            data = src.ToArray<float>();
            shape = src.Shape;
            chunks = src.ChunkShape;
            blocks = src.BlockShape;
        }
        var options = new MLArrayCreateOptions { Layout = LayoutOptions.Manual(chunks, blocks) };
        long plane = shape[1] * shape[2];
        string saved = Path.Combine(folder, $"mla-wbench-{Environment.ProcessId}-saved.mla");
        string whole = Path.Combine(folder, $"mla-wbench-{Environment.ProcessId}-whole.mla");
        string planes = Path.Combine(folder, $"mla-wbench-{Environment.ProcessId}-planes.mla");
        var t = new List<double>[3] { [], [], [] };
        try
        {
            for (int r = 0; r <= runs; r++) // run 0 warms up
            {
                var sw = Stopwatch.StartNew();
                using (var img = MLArrayFile.FromArray(data, shape, options))
                    img.Save(saved);
                double a = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                using (var img = MLArrayFile.Create(whole, shape, DType.Float32, options))
                    img.Write<float>(data);
                double b = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                using (var img = MLArrayFile.Create(planes, shape, DType.Float32, options))
                    for (long z = 0; z < shape[0]; z++)
                        img.Write<float>([z], data.AsSpan((int)(z * plane), (int)plane));
                double c = sw.Elapsed.TotalMilliseconds;
                if (r == 0) continue;
                t[0].Add(a); t[1].Add(b); t[2].Add(c);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"run {r}: FromArray+Save {a:F0} ms, Create+Write {b:F0} ms, plane by plane {c:F0} ms"));
            }
            double ms0 = Median(t[0]), ms1 = Median(t[1]), ms2 = Median(t[2]);
            long s0 = new FileInfo(saved).Length, s1 = new FileInfo(whole).Length, s2 = new FileInfo(planes).Length;
            using (var check = MLArrayFile.Open(planes))
                if (!check.ToArray<float>().AsSpan().SequenceEqual(data))
                    throw new InvalidOperationException("the plane-by-plane file does not hold the volume");
            Console.WriteLine($"load average {File.ReadAllText("/proc/loadavg").Trim()}");
            Console.WriteLine("| figure | time (ms, median) | size (bytes) | ratio |");
            Console.WriteLine("|---|---|---|---|");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| FromArray + Save | {ms0:F0} | {s0} | — |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| Create + whole Write | {ms1:F0} | {s1} | {ms1 / ms0:F2}× the time of FromArray + Save |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| Create + {shape[0]} plane Writes | {ms2:F0} | {s2} | {ms2 / ms1:F2}× the time, {(double)s2 / s1:F3}× the size of one whole Write |"));
        }
        finally
        {
            foreach (var f in new[] { saved, whole, planes })
                File.Delete(f);
        }
        if (native is not null)
            CompareNative(native, data, shape, chunks, blocks, Math.Max(runs, 10), folder, cpu);
        return 0;
    }

    /// <summary>
    /// <c>--native PATH</c>: our single-threaded writer (<see cref="B2ndWriter.Write(string, ReadOnlySpan{byte}, long[], DType, B2ndWriteOptions?)"/>,
    /// LZ4HC 8 + shuffle, the volume's chunks and blocks) against an external native program run in interleaved
    /// pairs. The program is called as <c>PATH RAW 4 SHAPE CHUNKS BLOCKS lz4hc 8 1 REPS OUT</c> (lists like
    /// 128,192,160) plus "cpu" or "wall", compresses the raw float32 C-order data REPS times into the frame file OUT and
    /// prints <c>write_ms=X cbytes=Y</c> (median ms by that clock, compressed bytes of the array).
    /// </summary>
    private static void CompareNative(string native, float[] data, long[] shape, int[] chunks, int[] blocks, int pairs, string folder, bool cpu)
    {
        string raw = Path.Combine(folder, $"mla-wbench-{Environment.ProcessId}.raw");
        string nativeOut = Path.Combine(folder, $"mla-wbench-{Environment.ProcessId}-native.b2nd");
        string ours = Path.Combine(folder, $"mla-wbench-{Environment.ProcessId}-ours.b2nd");
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan());
        var options = new B2ndWriteOptions
        {
            ChunkShape = chunks,
            BlockShape = blocks,
            Compression = new CompressionParams { Codec = Blosc2Codec.LZ4HC, CLevel = 8, Threads = 1 },
        };
        try
        {
            File.WriteAllBytes(raw, bytes.ToArray());
            var nat = new List<double>();
            var our = new List<double>();
            long nativeCBytes = 0;
            B2ndWriter.Write(ours, bytes, shape, DType.Float32, options); // warm-up
            for (int p = 0; p < pairs; p++)
            {
                string output = RunProcess(native, raw, "4", string.Join(",", shape), string.Join(",", chunks), string.Join(",", blocks), "lz4hc", "8", "1", "3", nativeOut, cpu ? "cpu" : "wall");
                nat.Add(Field(output, "write_ms"));
                nativeCBytes = (long)Field(output, "cbytes");
                var t = new List<double>();
                for (int r = 0; r < 3; r++)
                {
                    double start = Clock.Ms(cpu);
                    B2ndWriter.Write(ours, bytes, shape, DType.Float32, options);
                    t.Add(Clock.Ms(cpu) - start);
                }
                our.Add(Median(t));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"pair {p + 1,2}: ours {our[^1],7:F1} ms   native {nat[^1],7:F1} ms"));
            }
            long ourCBytes;
            using (var check = B2ndArray.Open(ours))
            {
                ourCBytes = check.CBytes;
                if (!check.ReadBytes(1).AsSpan().SequenceEqual(bytes))
                    throw new InvalidOperationException("our written file does not hold the volume");
            }
            double n = Median(nat), o = Median(our);
            var ratios = our.Zip(nat, (a, b) => b / a).Order().ToArray();
            Console.WriteLine($"load average {File.ReadAllText("/proc/loadavg").Trim()}");
            Console.WriteLine("| figure | native | ours | ratio |");
            Console.WriteLine("|---|---|---|---|");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| write LZ4HC-8 + shuffle, 1 thread ({(cpu ? "thread CPU" : "wall")} ms, median of {pairs} pairs) | {n:F1} | {o:F1} | {n / o:F2}× (pairs {ratios[0]:F2}–{ratios[^1]:F2}×) |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| compressed bytes (array cbytes) | {nativeCBytes} | {ourCBytes} | {(double)ourCBytes / nativeCBytes:F4}× |"));
        }
        finally
        {
            foreach (var f in new[] { raw, nativeOut, ours })
                File.Delete(f);
        }
    }

    internal static string RunProcess(string exe, params string[] args)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
            psi.ArgumentList.Add(arg);
        using var proc = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {exe}");
        string output = proc.StandardOutput.ReadToEnd();
        string error = proc.StandardError.ReadToEnd();
        proc.WaitForExit();
        if (proc.ExitCode != 0)
            throw new InvalidOperationException($"{exe} exited with {proc.ExitCode}: {error}");
        return output;
    }

    internal static double Field(string output, string key)
    {
        int i = output.IndexOf(key + "=", StringComparison.Ordinal);
        if (i < 0) throw new InvalidOperationException($"the native program printed no {key}=: {output}");
        i += key.Length + 1;
        int j = i;
        while (j < output.Length && !char.IsWhiteSpace(output[j])) j++;
        return double.Parse(output.AsSpan(i, j - i), CultureInfo.InvariantCulture);
    }

    private static double Median(List<double> v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
