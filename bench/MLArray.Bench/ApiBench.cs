using System.Diagnostics;
using System.Globalization;
using MLArray.Blosc2;
using MLArray.Layout;

namespace MLArray.Bench;

/// <summary>
/// `api [GB] [folder]`: MLArrayFile costs. (1) Open + read the metadata (shape, spacing, meta.blosc2) of the small corpus
/// volume and of a freshly built GB-sized .mla file (incompressible float32, with an "mlarray" metadata entry): the time
/// must not depend on the file size, as no array chunk is read. (2) Load of the corpus volume (compressed chunks copied
/// as they are) against decoding it and against re-compressing it. The built file is deleted afterwards.
/// </summary>
internal static class ApiBench
{
    public static int Run(string[] args)
    {
        double gb = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 1;
        string folder = args.Length > 1 ? args[1] : Path.GetTempPath();
        string small = BenchData.Volume();
        string big = Path.Combine(folder, $"mlarray-api-bench-{Environment.ProcessId}.mla");
        const int Plane = 1024 * 1024;
        long planes = Math.Max(16, (long)(gb * 1e9 / (Plane * 4.0)) / 16 * 16);
        try
        {
            var build = Stopwatch.StartNew();
            var slab = new float[16L * Plane];
            var rnd = new Random(1);
            for (int i = 0; i < slab.Length; i++) slab[i] = rnd.NextSingle();
            using (var img = MLArrayFile.Create(big, [planes, 1024, 1024], DType.Float32, new MLArrayCreateOptions
            {
                Spacing = [1.0, 0.5, 0.5],
                Layout = LayoutOptions.Manual([16, 256, 256], [16, 64, 64]),
                Compression = new CompressionParams { Codec = Blosc2Codec.LZ4, CLevel = 0 },
            }))
            {
                for (long z = 0; z < planes; z += 16)
                    img.Write<float>([NdIndex.Slice(z, z + 16)], slab);
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"built {big}: {new FileInfo(big).Length / 1e9:F2} GB ({planes}x1024x1024 float32, mlarray metadata) in {build.Elapsed.TotalSeconds:F1} s"));

            OpenMeta(small); // warm-up (JIT)
            Report("open+meta, small", small, OpenMeta);
            Report("open+meta, large", big, OpenMeta);

            var bytes = File.ReadAllBytes(small);
            using (var l = MLArrayFile.Load(small)) _ = l.ToArray<float>();
            Report("File.ReadAllBytes", small, p => File.ReadAllBytes(p));
            Report("Load (chunks copied)", small, p => { using var l = MLArrayFile.Load(p); _ = l.Meta; });
            using var src = MLArrayFile.Load(small);
            Report("decode (ToArray)", small, _ => src.ToArray<float>());
            Report("re-compress (Compress)", small, _ => { using var c = src.Compress(LayoutOptions.Manual(src.ChunkShape, src.BlockShape)); });
            string copy = Path.Combine(folder, $"mlarray-api-bench-{Environment.ProcessId}-copy.mla");
            src.Save(copy);
            using (var a = B2ndArray.Open(small))
            using (var b = B2ndArray.Open(copy))
                Console.WriteLine($"Load+Save keeps the compressed size: {a.CBytes} -> {b.CBytes} bytes ({(a.CBytes == b.CBytes ? "identical" : "different")}); file {bytes.Length} bytes");
            File.Delete(copy);
            return 0;
        }
        finally
        {
            File.Delete(big);
        }
    }

    private static void OpenMeta(string path)
    {
        using var img = MLArrayFile.Open(path);
        _ = img.Shape;
        _ = img.Spacing;
        _ = img.Meta.Blosc2.ChunkSize;
        _ = img.Affine;
    }

    private static void Report(string what, string path, Action<string> action)
    {
        var t = new List<double>();
        for (int i = 0; i < 7; i++)
        {
            var sw = Stopwatch.StartNew();
            action(path);
            t.Add(sw.Elapsed.TotalMilliseconds);
        }
        t.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{what,-24} {Path.GetFileName(path)} ({new FileInfo(path).Length / 1e6:F1} MB): median {t[3]:F3} ms (min {t[0]:F3}, max {t[^1]:F3})"));
    }
}
