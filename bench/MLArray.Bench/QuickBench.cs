using System.Diagnostics;
using System.Globalization;
using MLArray.Blosc2;

namespace MLArray.Bench;

/// <summary>A fast Stopwatch bench (medians of repeated runs) for the numbers reported in issue notes.</summary>
internal static class QuickBench
{
    public static int Run(string[] args)
    {
        string path = args.Length > 0 ? args[0] : BenchData.Volume();
        int reps = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 15;
        using var src = B2ndArray.Open(path);
        var data = src.ReadBytes(1);
        var outBuf = new byte[data.Length];
        double mb = data.Length / 1e6;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Path.GetFileName(path)}: {src.DType.Name} ({string.Join(",", src.Shape)}), chunks ({string.Join(",", src.ChunkShape)}), blocks ({string.Join(",", src.BlockShape)}), {mb:F1} MB"));
        double fileDecode = Median(reps, () => src.Read(outBuf, threads: 1));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"decode file as stored ({src.Codec} {src.CLevel}), 1 thread: {fileDecode:F2} ms  {mb / fileDecode * 1000:F0} MB/s"));
        double par = Median(reps, () => src.Read(outBuf, threads: 0));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"decode file as stored, {Environment.ProcessorCount} threads: {par:F2} ms  {mb / par * 1000:F0} MB/s"));
        Console.WriteLine("codec    clevel  encode_ms  encode_MB/s  decode_ms  decode_MB/s  cbytes");
        foreach (var codec in new[] { Blosc2Codec.LZ4HC, Blosc2Codec.LZ4, Blosc2Codec.BloscLZ, Blosc2Codec.Zlib, Blosc2Codec.Zstd })
        {
            int clevel = codec == Blosc2Codec.LZ4HC ? 8 : 5;
            var options = new B2ndWriteOptions
            {
                ChunkShape = src.ChunkShape,
                BlockShape = src.BlockShape,
                Compression = new CompressionParams { Codec = codec, CLevel = clevel, Threads = 1 },
            };
            byte[] frame = [];
            double enc = Median(Math.Max(3, reps / 3), () => frame = B2ndWriter.WriteToArray(data, src.Shape, src.DType, options));
            using var a = B2ndArray.Open(frame, codec.ToString());
            double dec = Median(reps, () => a.Read(outBuf, threads: 1));
            if (!outBuf.AsSpan().SequenceEqual(data))
                throw new InvalidOperationException($"round trip failed for {codec}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{codec,-8} {clevel,6}  {enc,9:F1}  {mb / enc * 1000,11:F0}  {dec,9:F2}  {mb / dec * 1000,11:F0}  {a.CBytes}"));
        }
        return 0;
    }

    private static double Median(int reps, Action action)
    {
        // Warm up for at least 1 s so tiered JIT has promoted the hot paths (as a long-running pipeline would).
        var warm = Stopwatch.StartNew();
        do action(); while (warm.ElapsedMilliseconds < 1000);
        var times = new double[reps];
        var sw = new Stopwatch();
        for (int i = 0; i < reps; i++)
        {
            sw.Restart();
            action();
            times[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return times[reps / 2];
    }
}
