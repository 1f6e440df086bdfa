using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using MLArray.Blosc2;
using MLArray.Blosc2.Codecs;
using MLArray.Blosc2.Format;

namespace MLArray.Bench;

/// <summary>
/// `lz4-streams [file] [dump] [reps]`: the LZ4 block decoder alone, on every LZ4/LZ4HC stream of a file (default: the
/// corpus volume). Prints the streams' shape (sequences, literal and match bytes, share of matches with an offset
/// under 16) and the median time of decoding all of them once; with <c>dump</c> also writes the streams as
/// <c>[u32 csize][u32 dsize][csize bytes]...</c> so an external program can time a native LZ4 on exactly the same
/// input (separates the codec from the rest of a read).
/// </summary>
internal static class Lz4StreamBench
{
    public static int Run(string[] args)
    {
        string file = args.Length > 0 ? args[0] : BenchData.Volume();
        string? dump = args.Length > 1 && args[1] != "-" ? args[1] : null;
        int reps = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 21;
        var streams = new List<(byte[] Src, int DSize)>();
        using (var a = B2ndArray.Open(file))
        {
            byte[] buf = [];
            for (long c = 0; c < a.NChunks; c++)
            {
                var chunk = a.RawChunk(c, ref buf);
                var h = ChunkHeader.Parse(chunk, new ChunkLocation(file, "chunk", 0, c));
                if (h.IsSpecial || h.IsMemcpyed || h.CodecFormat != 1 || h.DictOffset != 0)
                    continue;
                for (int b = 0; b < h.NBlocks; b++)
                {
                    int bsize = h.BlockBytes(b);
                    bool leftover = b == h.NBlocks - 1 && h.NBytes % h.BlockSize != 0;
                    int ns = h.DontSplit || leftover ? 1 : h.TypeSize;
                    int pos = BinaryPrimitives.ReadInt32LittleEndian(chunk.Slice(h.HeaderLength + 4 * b));
                    for (int s = 0; s < ns; s++)
                    {
                        int csize = BinaryPrimitives.ReadInt32LittleEndian(chunk.Slice(pos));
                        pos += 4;
                        if (csize <= 0)
                        {
                            pos += csize < 0 ? 1 : 0;
                            continue;
                        }
                        if (csize != bsize / ns)
                            streams.Add((chunk.Slice(pos, csize).ToArray(), bsize / ns));
                        pos += csize;
                    }
                }
            }
        }
        long csum = streams.Sum(s => (long)s.Src.Length), dsum = streams.Sum(s => (long)s.DSize);
        var (seqs, lit, mat, shortOff) = Shape(streams);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Path.GetFileName(file)}: {streams.Count} LZ4 streams, {csum} -> {dsum} bytes; {seqs} sequences, literals {lit} B, matches {mat} B (avg {(double)mat / Math.Max(1, seqs):F1} B), offset<16 {100.0 * shortOff / Math.Max(1, seqs):F1}%"));
        if (dump is not null)
        {
            using var w = new BinaryWriter(File.Create(dump));
            foreach (var (src, dsize) in streams)
            {
                w.Write(src.Length);
                w.Write(dsize);
                w.Write(src);
            }
        }
        var dst = new byte[streams.Max(s => s.DSize)];
        var t = new double[reps];
        void Pass()
        {
            foreach (var (src, dsize) in streams)
                if (!Lz4Decoder.TryDecode(src, dst.AsSpan(0, dsize)))
                    throw new InvalidOperationException("stream does not decode");
        }
        var warm = Stopwatch.StartNew();
        do Pass(); while (warm.ElapsedMilliseconds < 1500); // past tiered compilation
        for (int r = 0; r < reps; r++)
        {
            long start = Stopwatch.GetTimestamp();
            Pass();
            t[r] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(t);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ours: {t[reps / 2]:F3} ms per pass, {dsum / 1e6 / (t[reps / 2] / 1e3):F0} MB/s"));
        return 0;
    }

    private static (long, long, long, long) Shape(List<(byte[] Src, int DSize)> streams)
    {
        long seqs = 0, lit = 0, mat = 0, shortOff = 0;
        foreach (var (s, _) in streams)
        {
            int i = 0;
            while (i < s.Length)
            {
                int token = s[i++];
                long ll = token >> 4;
                if (ll == 15) { int b; do { b = s[i++]; ll += b; } while (b == 255); }
                i += (int)ll;
                lit += ll;
                seqs++;
                if (i >= s.Length) break;
                int off = s[i] | (s[i + 1] << 8);
                i += 2;
                long ml = token & 15;
                if (ml == 15) { int b; do { b = s[i++]; ml += b; } while (b == 255); }
                mat += ml + 4;
                if (off < 16) shortOff++;
            }
        }
        return (seqs, lit, mat, shortOff);
    }
}
