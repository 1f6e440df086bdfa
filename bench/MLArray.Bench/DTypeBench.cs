using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using MLArray.Blosc2;
using MLArray.Kernels;

namespace MLArray.Bench;

/// <summary>
/// `dtypes [reps]`: what the new dtypes cost. A 64×256×256 float32 volume (16 MiB, LZ4 + shuffle) read whole on one
/// thread as <c>&lt;f4</c> and as <c>&gt;f4</c> (the byte swap at the read boundary), the byte swap alone, and float16 →
/// float32 widening (vectorised kernel vs a scalar cast loop). Median of reps wall-clock runs.
/// </summary>
internal static class DTypeBench
{
    public static int Run(string[] args)
    {
        int reps = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 9;
        long[] shape = [64, 256, 256];
        int n = 64 * 256 * 256;
        var f = new float[n];
        for (int i = 0; i < n; i++) f[i] = (float)Math.Sin(i * 0.001) * 100;
        byte[] data = MemoryMarshal.AsBytes(f.AsSpan()).ToArray();
        var opt = new B2ndWriteOptions
        {
            ChunkShape = [16, 256, 256], BlockShape = [4, 64, 256],
            Compression = new CompressionParams { Codec = Blosc2Codec.LZ4, CLevel = 5, Threads = 1 },
        };
        var buf = new byte[data.Length];
        foreach (var dt in new[] { DType.Float32, DType.Float32.AsBigEndian() })
        {
            using var a = B2ndArray.Open(B2ndWriter.WriteToArray(data, shape, dt, opt), dt.Name);
            a.Read(buf, threads: 1);
            double ms = Median(reps, () => a.Read(buf, threads: 1));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"read {dt.Name} 16 MiB (LZ4, shuffle, 1 thread): {ms:F1} ms, {data.Length / 1e6 / (ms / 1e3):F0} MB/s"));
        }
        double swap = Median(reps, () => ByteOrder.SwapInPlace(buf, 4));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"byte swap alone, 16 MiB of 4-byte items: {swap:F2} ms, {data.Length / 1e6 / (swap / 1e3):F0} MB/s"));
        var h = new Half[n];
        ElementConvert.SingleToHalf(f, h);
        var back = new float[n];
        double vec = Median(reps, () => ElementConvert.HalfToSingle(h, back));
        double scalar = Median(reps, () =>
        {
            for (int i = 0; i < n; i++) back[i] = (float)h[i];
        });
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"float16 -> float32, 4 Mi items: vectorised {vec:F2} ms ({n / 1e6 / (vec / 1e3):F0} M items/s), scalar cast loop {scalar:F2} ms ({n / 1e6 / (scalar / 1e3):F0} M items/s)"));
        return 0;
    }

    private static double Median(int reps, Action run)
    {
        var t = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            var sw = Stopwatch.StartNew();
            run();
            t[r] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(t);
        return t[reps / 2];
    }
}
