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
/// and ≤ 1.05× the size of one whole write).
/// </summary>
internal static class WriteBench
{
    public static int Run(string[] args)
    {
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
        return 0;
    }

    private static double Median(List<double> v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
