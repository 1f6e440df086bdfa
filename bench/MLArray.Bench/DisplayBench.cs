using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using MLArray.Display;

namespace MLArray.Bench;

/// <summary>
/// `display [GB] [folder]`: builds a file holding an array of about GB gigabytes (int16 [planes, 1024, 1024], a
/// CT-like phantom with noise, the default layout and compression) and times what `mlarray view` does before its
/// first picture: open the image, derive the display geometry, read the middle axial slice (only the blocks it
/// touches, on all cores), take the initial window (metadata statistics or a sampled estimate of that slice) and
/// render it to PNG; then the middle coronal and sagittal slices, which cut across every chunk row.
/// Rounds: "cold" = first open in the process (JIT) with the file dropped from the page cache
/// (posix_fadvise DONTNEED after fsync; no root needed), "cold cache" = the same with warm JIT, then warm rounds.
/// The file is deleted afterwards unless a third argument says `keep`.
/// </summary>
internal static partial class DisplayBench
{
    private const int Side = 1024;

    public static int Run(string[] args)
    {
        double gb = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 10;
        string folder = args.Length > 1 ? args[1] : Path.GetTempPath();
        bool keep = args.Length > 2 && args[2] == "keep";
        string path = Path.Combine(folder, $"mlarray-display-{Environment.ProcessId}.mla");
        const long Plane = (long)Side * Side;
        long planes = Math.Max(16, (long)(gb * 1e9 / (Plane * 2.0)));
        try
        {
            Build(path, planes);
            if (File.Exists("/proc/loadavg"))
                Console.WriteLine($"{Environment.ProcessorCount} cores, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]} before the rounds");
            string[] names = ["cold", "cold cache", "warm", "warm", "warm", "warm", "warm"];
            for (int round = 0; round < names.Length; round++)
            {
                string dropped = round < 2 ? DropFromPageCache(path) : "";
                var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                using var img = MLArrayFile.Open(path);
                double open = sw.Elapsed.TotalMilliseconds;
                img.DecodeThreads = 0; // as the viewer does for local files
                var g = DisplayGeometry.Of(img);
                var ax = g.Layout(SliceView.Axial);
                var plane = SliceRenderer.Read(img, g, ax, ax.Slices / 2, []);
                double read = sw.Elapsed.TotalMilliseconds;
                var (lo, hi, source) = Window.Initial(img, () => plane.Values);
                byte[] png = SliceRenderer.Render(plane, ax, RenderMode.Grey, lo, hi).ToPng();
                double first = sw.Elapsed.TotalMilliseconds;
                double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds;
                var co = g.Layout(SliceView.Coronal);
                SliceRenderer.Render(SliceRenderer.Read(img, g, co, co.Slices / 2, []), co, RenderMode.Grey, lo, hi).ToPng();
                double coronal = sw.Elapsed.TotalMilliseconds - first;
                var sa = g.Layout(SliceView.Sagittal);
                SliceRenderer.Render(SliceRenderer.Read(img, g, sa, sa.Slices / 2, []), sa, RenderMode.Grey, lo, hi).ToPng();
                double sagittal = sw.Elapsed.TotalMilliseconds - first - coronal;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{names[round],-10}: open + first axial slice {first:F0} ms, {cpu:F0} ms CPU (open {open:F0} ms, read {read - open:F0} ms; window from {source}; {png.Length / 1024} KiB PNG), coronal {coronal:F0} ms, sagittal {sagittal:F0} ms{dropped}"));
            }

            return 0;
        }
        finally
        {
            if (!keep) File.Delete(path);
            else if (File.Exists(path)) Console.WriteLine($"kept {path} (e.g. to time `mlarray view` on it)");
            else Console.WriteLine($"nothing kept: {path} was not written");
        }
    }

    /// <summary>Writes the phantom chunk row by chunk row (the default layout's chunk depth), so no chunk is rewritten.</summary>
    private static void Build(string path, long planes)
    {
        var build = Stopwatch.StartNew();
        using (var a = MLArrayFile.Create(path, [planes, Side, Side], DType.Int16, new MLArrayCreateOptions { Spacing = [1.0, 0.5, 0.5] }))
        {
            int depth = a.ChunkShape[0];
            Console.WriteLine($"layout: chunks {string.Join("x", a.ChunkShape)}, blocks {string.Join("x", a.BlockShape)}");
            // four phantom slabs of one chunk depth, cycled: a body ellipse (~40 HU) in air (-1000), a bright spine, noise
            var slabs = new short[4][];
            var rng = new Random(1);
            for (int s = 0; s < slabs.Length; s++)
            {
                var v = slabs[s] = new short[(long)depth * Side * Side];
                for (int z = 0; z < depth; z++)
                    for (int y = 0; y < Side; y++)
                        for (int x = 0; x < Side; x++)
                        {
                            double ex = (x - 512) / 420.0, ey = (y - 540) / 300.0, sx = (x - 512) / 40.0, sy = (y - 700) / 40.0;
                            int baseValue = (sx * sx) + (sy * sy) < 1 ? 700 : (ex * ex) + (ey * ey) < 1 ? 40 : -1000;
                            v[(((long)z * Side) + y) * Side + x] = (short)(baseValue + rng.Next(-24, 25));
                        }
            }

            for (long z = 0, k = 0; z < planes; z += depth, k++)
            {
                long n = Math.Min(depth, planes - z);
                a.Write<short>([NdIndex.Slice(z, z + n)], slabs[k % slabs.Length].AsSpan(0, (int)(n * Side * Side)));
            }
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"built {path}: array {planes * Side * Side * 2 / 1e9:F2} GB ({planes}x{Side}x{Side} int16), file {new FileInfo(path).Length / 1e9:F2} GB, in {build.Elapsed.TotalSeconds:F0} s"));
    }

    /// <summary>fsync, then ask the kernel to drop the file's cached pages; returns a note when that is not possible.</summary>
    private static string DropFromPageCache(string path)
    {
        if (!OperatingSystem.IsLinux()) return " (page cache not dropped: Linux only)";
        using var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        fs.Flush(flushToDisk: true);
        int rc = PosixFadvise((int)fs.SafeFileHandle.DangerousGetHandle(), 0, 0, 4 /* POSIX_FADV_DONTNEED */);
        return rc == 0 ? "" : $" (posix_fadvise failed: {rc}; the page cache may be warm)";
    }

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int PosixFadvise(int fd, long offset, long length, int advice);
}
