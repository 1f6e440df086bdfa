using System.Diagnostics;
using System.Globalization;
using MLArray.Blosc2;

namespace MLArray.Bench;

/// <summary>
/// `open-large [GB] [folder]`: builds a real file of about GB gigabytes (incompressible float32 data, written slab by
/// slab through B2ndArray.Create), then measures how long opening it takes and how much memory the open costs.
/// The file is deleted afterwards.
/// </summary>
internal static class LargeFileBench
{
    public static int Run(string[] args)
    {
        double gb = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 10;
        string folder = args.Length > 1 ? args[1] : Path.GetTempPath();
        string path = Path.Combine(folder, $"mlarray-open-large-{Environment.ProcessId}.mla");
        const int Plane = 1024 * 1024; // items per z-plane
        long planes = Math.Max(16, (long)(gb * 1e9 / (Plane * 4.0)) / 16 * 16);
        try
        {
            var build = Stopwatch.StartNew();
            var slab = new byte[16L * Plane * 4];
            new Random(1).NextBytes(slab);
            using (var a = B2ndArray.Create(path, [planes, 1024, 1024], DType.Float32, new B2ndWriteOptions
            {
                ChunkShape = [16, 256, 256],
                BlockShape = [16, 64, 64],
                Compression = new CompressionParams { Codec = Blosc2Codec.LZ4, CLevel = 0 },
            }))
            {
                for (long z = 0; z < planes; z += 16)
                    a.Write([NdIndex.Slice(z, z + 16)], slab, threads: 0);
            }
            long size = new FileInfo(path).Length;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"built {path}: {size / 1e9:F2} GB ({planes}x1024x1024 float32) in {build.Elapsed.TotalSeconds:F1} s"));

            // Warm the code paths on a small file so the measurement is the open itself, not JIT.
            using (B2ndArray.Open(BenchData.Volume())) { }
            var times = new List<double>();
            long ws0 = 0, ws1 = 0;
            for (int i = 0; i < 5; i++)
            {
                GC.Collect();
                using var proc = Process.GetCurrentProcess();
                proc.Refresh();
                ws0 = proc.WorkingSet64;
                var sw = Stopwatch.StartNew();
                using var a = B2ndArray.Open(path);
                _ = a.Shape;
                _ = a.VlMetaNames;
                times.Add(sw.Elapsed.TotalMilliseconds);
                proc.Refresh();
                ws1 = proc.WorkingSet64;
            }
            times.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"open: median {times[2]:F2} ms (min {times[0]:F2}, max {times[^1]:F2}); resident memory added by one open: {(ws1 - ws0) / 1e6:F1} MB"));
            return 0;
        }
        finally
        {
            File.Delete(path);
        }
    }
}
