using System.Diagnostics;
using System.Globalization;
using MLArray.Blosc2;
using MLArray.Display;
using MLArray.Layout;

namespace MLArray.Bench;

/// <summary>
/// `display [GB] [folder]`: builds a file of about GB gigabytes (int16 [planes, 1024, 1024], noise, chunks
/// 16×256×256, LZ4) and times what `mlarray view` does for its first picture: open the image, derive the display
/// geometry, read and render the middle axial slice; then the middle coronal and sagittal slices (which cut across
/// every chunk row). Cold (first open in the process, JIT included) and warm medians of 5. The file is deleted afterwards.
/// </summary>
internal static class DisplayBench
{
    public static int Run(string[] args)
    {
        double gb = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 10;
        string folder = args.Length > 1 ? args[1] : Path.GetTempPath();
        string path = Path.Combine(folder, $"mlarray-display-{Environment.ProcessId}.mla");
        const int Plane = 1024 * 1024;
        long planes = Math.Max(16, (long)(gb * 1e9 / (Plane * 2.0)) / 16 * 16);
        try
        {
            var build = Stopwatch.StartNew();
            var slab = new byte[16L * Plane * 2];
            new Random(1).NextBytes(slab);
            using (var a = MLArrayFile.Create(path, [planes, 1024, 1024], DType.Int16, new MLArrayCreateOptions
            {
                Spacing = [1.0, 0.5, 0.5],
                Layout = LayoutOptions.Manual([16, 256, 256], [16, 64, 64]),
                Compression = new CompressionParams { Codec = Blosc2Codec.LZ4, CLevel = 1 },
            }))
            {
                for (long z = 0; z < planes; z += 16)
                    a.Write<short>([NdIndex.Slice(z, z + 16)], System.Runtime.InteropServices.MemoryMarshal.Cast<byte, short>(slab));
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"built {path}: {new FileInfo(path).Length / 1e9:F2} GB ({planes}x1024x1024 int16) in {build.Elapsed.TotalSeconds:F1} s"));
            for (int round = 0; round < 6; round++)
            {
                var sw = Stopwatch.StartNew();
                using var img = MLArrayFile.Open(path);
                var g = DisplayGeometry.Of(img);
                var ax = g.Layout(SliceView.Axial);
                var plane = SliceRenderer.Read(img, g, ax, ax.Slices / 2, []);
                var (lo, hi) = Window.Percentiles(plane.Values, 0.01, 0.99);
                byte[] png = SliceRenderer.Render(plane, ax, RenderMode.Grey, lo, hi).ToPng();
                double first = sw.Elapsed.TotalMilliseconds;
                var co = g.Layout(SliceView.Coronal);
                SliceRenderer.Render(SliceRenderer.Read(img, g, co, co.Slices / 2, []), co, RenderMode.Grey, lo, hi).ToPng();
                double coronal = sw.Elapsed.TotalMilliseconds - first;
                var sa = g.Layout(SliceView.Sagittal);
                SliceRenderer.Render(SliceRenderer.Read(img, g, sa, sa.Slices / 2, []), sa, RenderMode.Grey, lo, hi).ToPng();
                double sagittal = sw.Elapsed.TotalMilliseconds - first - coronal;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{(round == 0 ? "cold" : "warm")}: open + first axial slice {first:F0} ms ({png.Length / 1024} KiB PNG), coronal {coronal:F0} ms, sagittal {sagittal:F0} ms"));
            }

            return 0;
        }
        finally
        {
            File.Delete(path);
        }
    }
}
