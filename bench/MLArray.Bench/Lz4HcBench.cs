using System.Diagnostics;
using System.Globalization;
using K4os.Compression.LZ4;
using MLArray.Blosc2;
using MLArray.Blosc2.Codecs;
using MLArray.Blosc2.Filters;

namespace MLArray.Bench;

/// <summary>
/// `lz4hc [file.mla] [level] [reps] [--dump blocks.bin]`: the LZ4 HC block encoders alone (ours and K4os) on the
/// shuffled blocks of a 3-D array, as the chunk encoder feeds them (full blocks, chunk by chunk). `--dump` writes the
/// blocks as a u32 block size followed by the blocks, for benchmarking native LZ4 on exactly the same input.
/// Also times writing the whole array (LZ4HC, shuffle, 1 thread). Times are thread CPU time (best of reps).
/// </summary>
internal static class Lz4HcBench
{
    public static int Run(string[] args)
    {
        string? dump = null;
        var rest = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--dump" && i + 1 < args.Length) dump = args[++i];
            else rest.Add(args[i]);
        }
        string path = rest.Count > 0 ? rest[0] : BenchData.Volume();
        int level = rest.Count > 1 ? int.Parse(rest[1], CultureInfo.InvariantCulture) : 8;
        int reps = rest.Count > 2 ? int.Parse(rest[2], CultureInfo.InvariantCulture) : 9;
        List<byte[]> blocks = ShuffledBlocks(path);
        long total = blocks.Sum(b => (long)b.Length);
        if (dump is not null)
        {
            using var f = File.Create(dump);
            f.Write(BitConverter.GetBytes(blocks[0].Length));
            foreach (var b in blocks) f.Write(b);
        }

        var dst = new byte[blocks[0].Length * 2];
        var back = new byte[blocks[0].Length];
        var state = new Lz4HcState();
        var k4Level = (LZ4Level)Math.Clamp(level, 3, 12);
        long oursBytes = 0, k4Bytes = 0;
        foreach (var b in blocks)
        {
            int n = Lz4Hc.Compress(b, dst, level, state);
            if (n == 0 || LZ4Codec.Decode(dst.AsSpan(0, n), back.AsSpan(0, b.Length)) != b.Length || !back.AsSpan(0, b.Length).SequenceEqual(b))
                throw new InvalidOperationException("round trip failed");
            oursBytes += n;
            k4Bytes += LZ4Codec.Encode(b, dst, k4Level);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{blocks.Count} blocks of {blocks[0].Length} B, level {level}: ours {oursBytes} B, K4os {k4Bytes} B ({(double)oursBytes / k4Bytes - 1:P3})"));
        using var array = B2ndArray.Open(path);
        byte[] whole = array.ReadBytes(1);
        var options = new B2ndWriteOptions
        {
            ChunkShape = array.ChunkShape,
            BlockShape = array.BlockShape,
            Compression = new CompressionParams { Codec = Blosc2Codec.LZ4HC, CLevel = level, Threads = 1 },
        };
        for (int r = 0; r < 3; r++)
        {
            double ours = Best(reps, () => { foreach (var b in blocks) Lz4Hc.Compress(b, dst, level, state); });
            double k4 = Best(reps, () => { foreach (var b in blocks) LZ4Codec.Encode(b, dst, k4Level); });
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"ours {ours,7:F1} ms ({total / ours / 1000,5:F0} MB/s)   K4os {k4,7:F1} ms ({total / k4 / 1000,5:F0} MB/s)   ours/K4os time {ours / k4:F3}"));
            long cbytes = 0;
            double wall = double.MaxValue;
            double write = Best(reps, () =>
            {
                long t0 = Stopwatch.GetTimestamp();
                cbytes = B2ndWriter.WriteToArray(whole, array.Shape, array.DType, options).Length;
                wall = Math.Min(wall, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            });
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"whole array write (LZ4HC {level}, shuffle, 1 thread): {write,7:F1} ms CPU ({whole.Length / write / 1000,5:F0} MB/s), best wall {wall:F1} ms, frame {cbytes} B"));
        }
        return 0;
    }

    /// <summary>The array's full blocks, shuffled (typesize = item size), in chunk order then block order.</summary>
    private static List<byte[]> ShuffledBlocks(string path)
    {
        using var a = B2ndArray.Open(path);
        if (a.Shape.Length != 3) throw new ArgumentException("3-D arrays only");
        byte[] data = a.ReadBytes(1);
        long[] shape = a.Shape;
        int[] cs = a.ChunkShape, bs = a.BlockShape;
        int item = a.DType.ItemSize;
        var blocks = new List<byte[]>();
        var plain = new byte[bs[0] * bs[1] * bs[2] * item];
        for (long c0 = 0; c0 < shape[0]; c0 += cs[0])
        for (long c1 = 0; c1 < shape[1]; c1 += cs[1])
        for (long c2 = 0; c2 < shape[2]; c2 += cs[2])
        for (long b0 = c0; b0 < c0 + cs[0]; b0 += bs[0])
        for (long b1 = c1; b1 < c1 + cs[1]; b1 += bs[1])
        for (long b2 = c2; b2 < c2 + cs[2]; b2 += bs[2])
        {
            if (b0 + bs[0] > shape[0] || b1 + bs[1] > shape[1] || b2 + bs[2] > shape[2]) continue;
            int o = 0;
            for (long i = b0; i < b0 + bs[0]; i++)
            for (long j = b1; j < b1 + bs[1]; j++)
            {
                long start = ((i * shape[1] + j) * shape[2] + b2) * item;
                data.AsSpan((int)start, bs[2] * item).CopyTo(plain.AsSpan(o));
                o += bs[2] * item;
            }
            var shuffled = new byte[plain.Length];
            Shuffle.Forward(item, plain, shuffled);
            blocks.Add(shuffled);
        }
        return blocks;
    }

    /// <summary>Best of <paramref name="reps"/> runs in thread CPU time where available (robust on a shared,
    /// oversubscribed machine: time spent waiting for a core is not counted), else wall time.</summary>
    private static double Best(int reps, Action action)
    {
        var warm = Stopwatch.StartNew();
        do action(); while (warm.ElapsedMilliseconds < 500);
        double best = double.MaxValue;
        for (int i = 0; i < reps; i++)
        {
            double t0 = ThreadCpuMs();
            action();
            best = Math.Min(best, ThreadCpuMs() - t0);
        }
        return best;
    }

    private static double ThreadCpuMs()
    {
        if (OperatingSystem.IsLinux() && NativeMethods.clock_gettime(3 /* CLOCK_THREAD_CPUTIME_ID */, out var ts) == 0)
            return ts.Seconds * 1e3 + ts.Nanoseconds / 1e6;
        return Stopwatch.GetTimestamp() * 1e3 / Stopwatch.Frequency;
    }

    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    private static class NativeMethods
    {
        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
        [System.Runtime.InteropServices.DefaultDllImportSearchPaths(System.Runtime.InteropServices.DllImportSearchPath.SafeDirectories)]
        public static extern int clock_gettime(int clock, out Timespec ts);
    }
}
