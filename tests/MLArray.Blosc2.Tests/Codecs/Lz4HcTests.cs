using System.Buffers.Binary;
using CsCheck;
using K4os.Compression.LZ4;
using MLArray.Blosc2.Codecs;
using MLArray.Blosc2.Filters;
using Xunit.Abstractions;

namespace MLArray.Blosc2.Tests.Codecs;

public sealed class Lz4HcTests
{
    private readonly ITestOutputHelper _output;

    public Lz4HcTests(ITestOutputHelper output) => _output = output;

    private static readonly int[] Sizes =
        [0, 1, 5, 11, 12, 13, 14, 16, 17, 20, 31, 64, 100, 1000, 4096, 16383, 16384, 16385, 65535, 65536, 65537, 70_000, 100_000];

    private static readonly string[] Kinds =
        ["zeros", "random", "runs", "gen-f4", "gen-f4-shuffled", "gen-i2", "text", "sawtooth"];

    public static TheoryData<string, int> RoundTripCases()
    {
        var data = new TheoryData<string, int>();
        foreach (string kind in Kinds)
        {
            foreach (int size in Sizes)
            {
                data.Add(kind, size);
            }
        }

        return data;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Round trips and format rules
    // ------------------------------------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(RoundTripCases))]
    public void RoundTrip_VariedData_AllLevels(string kind, int size)
    {
        byte[] data = BloscLzTests.MakeData(kind, size, seed: size * 17 + kind.Length);
        var state = new Lz4HcState();
        for (int level = 1; level <= 9; level++)
        {
            int n = CompressAndVerify(data, level, state);
            if (size < 13)
            {
                // All literals: 1 token + the bytes, never smaller than the input.
                Assert.Equal(0, n);
                continue;
            }

            switch (kind)
            {
                case "random":
                    if (size >= 64)
                    {
                        Assert.Equal(0, n);
                    }

                    break;
                case "zeros":
                    Assert.InRange(n, 1, 12 + size / 200);
                    break;
                case "runs":
                case "text":
                case "sawtooth":
                case "gen-f4-shuffled":
                    if (size >= 1000)
                    {
                        Assert.InRange(n, 1, size * 3 / 4);
                    }

                    break;
            }
        }
    }

    [Theory]
    [InlineData(13)]
    [InlineData(14)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(24)]
    public void SmallestCompressibleInputs_FollowEndRules(int size)
    {
        // Constant data: the only possible match starts at 1 and must stop 5 bytes before the end.
        var data = new byte[size];
        Array.Fill(data, (byte)'a');
        var state = new Lz4HcState();
        var dst = new byte[size];
        int n = Lz4Hc.Compress(data, dst, 9, state);
        // 1 literal + match (token + offset) + 5 literals = 9 bytes: smaller than the input from 13 bytes on.
        Assert.InRange(n, 1, size - 1);
        List<Sequence> seqs = Parse(dst.AsSpan(0, n), data.Length);
        Assert.Equal(2, seqs.Count);
        Assert.Equal(1, seqs[0].Literals);
        Assert.Equal(1, seqs[0].Offset);
        Assert.Equal(size - 6, seqs[0].MatchLength);
        Assert.Equal(5, seqs[1].Literals);
        AssertDecodes(dst.AsSpan(0, n), data);
    }

    [Fact]
    public void Compress_ReturnsZero_WhenDestinationTooSmall()
    {
        byte[] data = BloscLzTests.MakeData("text", 20_000, 1);
        var state = new Lz4HcState();
        var full = new byte[data.Length];
        int n = Lz4Hc.Compress(data, full, 8, state);
        Assert.InRange(n, 100, data.Length / 2);

        // One byte short: must give up without writing past the destination.
        var tight = new byte[n + 64];
        Array.Fill(tight, (byte)0xCD);
        Assert.Equal(0, Lz4Hc.Compress(data, tight.AsSpan(0, n - 1), 8, state));
        Assert.All(tight.AsSpan(n - 1).ToArray(), b => Assert.Equal(0xCD, b));

        // Exactly enough: the same bytes as with a roomy destination.
        var exact = new byte[n];
        Assert.Equal(n, Lz4Hc.Compress(data, exact, 8, state));
        Assert.Equal(full.AsSpan(0, n).ToArray(), exact);

        // Every shorter destination fails cleanly (the last-literals check and the sequence checks).
        for (int room = n - 40; room < n; room++)
        {
            Assert.Equal(0, Lz4Hc.Compress(data, new byte[room], 8, state));
        }
    }

    [Fact]
    public void Compress_ReturnsZero_WhenNotSmallerThanInput()
    {
        // Half random, half zeros, all sizes from the smallest compressible one: never an output ≥ the input.
        var state = new Lz4HcState();
        var rng = new Random(5);
        for (int size = 13; size < 300; size++)
        {
            var data = new byte[size];
            rng.NextBytes(data.AsSpan(0, size / 2));
            var dst = new byte[size * 2];
            int n = Lz4Hc.Compress(data, dst, 8, state);
            Assert.True(n < size);
            if (n > 0)
            {
                AssertDecodes(dst.AsSpan(0, n), data);
            }
        }
    }

    [Theory]
    [InlineData(65_535, true)]
    [InlineData(65_536, false)]
    [InlineData(70_000, false)]
    public void Matches_ReachExactlyTheMaximumOffset(int distance, bool reachable)
    {
        byte[] block = BloscLzTests.MakeData("random", 400, distance);
        byte[] filler = BloscLzTests.MakeData("random", distance, distance + 1);
        var data = new byte[distance + block.Length + 40];
        filler.CopyTo(data, 0);
        block.CopyTo(data, 0);
        block.CopyTo(data, distance);
        var dst = new byte[data.Length];
        int n = Lz4Hc.Compress(data, dst, 9, new Lz4HcState());
        if (!reachable)
        {
            // The copy is out of the window and everything else is random: nothing to gain.
            Assert.Equal(0, n);
            return;
        }

        Assert.True(n > 0);
        List<Sequence> seqs = Parse(dst.AsSpan(0, n), data.Length);
        Assert.Contains(seqs, s => s.Offset == distance && s.MatchLength >= 390);
        AssertDecodes(dst.AsSpan(0, n), data);
    }

    [Fact]
    public void LongLengths_UseExtensionBytes()
    {
        // A literal run of 1000 and a match of 5000: both lengths need several 255 extension bytes.
        byte[] lit = BloscLzTests.MakeData("random", 1000, 3);
        var data = new byte[1000 + 5000 + 300];
        lit.CopyTo(data, 0);
        for (int k = 1000; k < 6000; k++)
        {
            data[k] = data[k - 1000];
        }

        BloscLzTests.MakeData("random", 300, 4).CopyTo(data, 6000);
        var dst = new byte[data.Length];
        int n = Lz4Hc.Compress(data, dst, 8, new Lz4HcState());
        List<Sequence> seqs = Parse(dst.AsSpan(0, n), data.Length);
        Assert.Equal(1000, seqs[0].Literals);
        Assert.Equal(1000, seqs[0].Offset);
        Assert.InRange(seqs[0].MatchLength, 5000, 5003); // the random tail may continue the match by chance
        AssertDecodes(dst.AsSpan(0, n), data);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Reused state: tables are never cleared, stale entries must not leak
    // ------------------------------------------------------------------------------------------------------------

    [Fact]
    public void ReusedState_GivesTheSameBytesAsAFreshState()
    {
        string[] kinds = ["gen-f4-shuffled", "text", "runs", "zeros", "random", "sawtooth", "gen-i2"];
        int[] sizes = [16384, 13, 100_000, 777, 65_536, 16384, 40_000, 20];
        var shared = new Lz4HcState();
        var rng = new Random(11);
        for (int round = 0; round < 60; round++)
        {
            string kind = kinds[rng.Next(kinds.Length)];
            int size = sizes[rng.Next(sizes.Length)];
            int level = rng.Next(1, 10);
            // Same content family every time: stale positions from earlier inputs look like perfect matches.
            byte[] data = BloscLzTests.MakeData(kind, size, seed: round % 3);
            var fresh = new byte[size + 16];
            var reused = new byte[size + 16];
            int a = Lz4Hc.Compress(data, fresh, level, new Lz4HcState());
            int b = Lz4Hc.Compress(data, reused, level, shared);
            Assert.Equal(a, b);
            Assert.Equal(fresh.AsSpan(0, a).ToArray(), reused.AsSpan(0, b).ToArray());
            if (b > 0)
            {
                AssertDecodes(reused.AsSpan(0, b), data);
            }
        }
    }

    [Fact]
    public void ReusedState_PositionWrapAround_ClearsAndStaysCorrect()
    {
        byte[] data = BloscLzTests.MakeData("gen-f4-shuffled", 16384, 1);
        var expected = new byte[data.Length];
        int n = Lz4Hc.Compress(data, expected, 8, new Lz4HcState());

        var state = new Lz4HcState();
        Assert.Equal(n, Lz4Hc.Compress(data, new byte[data.Length], 8, state));
        // Jump the position counter close to the int limit: the next inputs must restart the numbering.
        state.NextBase = int.MaxValue - 20_000;
        for (int k = 0; k < 3; k++)
        {
            var dst = new byte[data.Length];
            Assert.Equal(n, Lz4Hc.Compress(data, dst, 8, state));
            Assert.Equal(expected.AsSpan(0, n).ToArray(), dst.AsSpan(0, n).ToArray());
            Assert.InRange(state.NextBase, 1, int.MaxValue - 1);
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Compression ratio against K4os (a port of the reference LZ4 HC) on the corpus volume
    // ------------------------------------------------------------------------------------------------------------

    [Fact]
    public void CorpusVolume_ShuffledBlocks_RatioMatchesK4os()
    {
        List<byte[]> blocks = CorpusVolumeShuffledBlocks();
        Assert.Equal(960, blocks.Count);
        var state = new Lz4HcState();
        var dst = new byte[16384 * 2];
        var back = new byte[16384];
        long ours = 0, k4 = 0;
        int identical = 0;
        var theirs = new byte[16384 * 2];
        foreach (byte[] b in blocks)
        {
            int n = Lz4Hc.Compress(b, dst, 8, state);
            Assert.True(n > 0);
            Assert.Equal(b.Length, LZ4Codec.Decode(dst.AsSpan(0, n), back.AsSpan(0, b.Length)));
            Assert.True(back.AsSpan(0, b.Length).SequenceEqual(b));
            int m = LZ4Codec.Encode(b, theirs, LZ4Level.L08_HC);
            ours += n;
            k4 += m;
            identical += n == m && dst.AsSpan(0, n).SequenceEqual(theirs.AsSpan(0, m)) ? 1 : 0;
        }

        _output.WriteLine($"ours {ours} B, K4os L08_HC {k4} B, {identical}/{blocks.Count} blocks byte-identical");
        Assert.True(ours <= k4 * 1.01, $"ours {ours} vs K4os {k4}");
    }

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(7)]
    [InlineData(9)]
    public void MixedData_RatioMatchesK4osAtEveryLevel(int level)
    {
        var state = new Lz4HcState();
        long ours = 0, k4 = 0;
        foreach (string kind in Kinds)
        {
            byte[] data = BloscLzTests.MakeData(kind, 50_000, level);
            var dst = new byte[LZ4Codec.MaximumOutputSize(data.Length)];
            int n = Lz4Hc.Compress(data, dst, level, state);
            int m = LZ4Codec.Encode(data, dst, (LZ4Level)level);
            ours += n == 0 ? data.Length : n;
            k4 += m >= data.Length ? data.Length : m;
        }

        _output.WriteLine($"level {level}: ours {ours} B, K4os {k4} B");
        Assert.True(ours <= k4 * 1.01, $"ours {ours} vs K4os {k4}");
    }

    [Fact]
    public void Levels_TradeSpeedForRatio()
    {
        byte[] data = [.. BloscLzTests.MakeData("gen-f4-shuffled", 65_536, 2), .. BloscLzTests.MakeData("text", 30_000, 3)];
        var state = new Lz4HcState();
        var sizes = new int[10];
        for (int level = 1; level <= 9; level++)
        {
            var dst = new byte[data.Length];
            sizes[level] = Lz4Hc.Compress(data, dst, level, state);
            AssertDecodes(dst.AsSpan(0, sizes[level]), data);
        }

        _output.WriteLine(string.Join(" ", sizes.Skip(1)));
        Assert.Equal(sizes[3], sizes[1]); // levels 1 and 2 are encoded as level 3
        Assert.Equal(sizes[3], sizes[2]);
        Assert.True(sizes[9] < sizes[3], $"level 9 {sizes[9]} vs level 3 {sizes[3]}");
        Assert.True(sizes[8] <= sizes[3]);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Property test and the codec context
    // ------------------------------------------------------------------------------------------------------------

    [Fact]
    public void RoundTrip_Property_RepeatedSegments()
    {
        // CsCheck samples on several threads: one reused state per thread.
        using var states = new ThreadLocal<Lz4HcState>(() => new Lz4HcState());
        Gen.Select(Gen.Byte.Array[1, 400], Gen.Int.Array[0, 80], Gen.Int[1, 9]).Sample((literals, ops, level) =>
        {
            byte[] data = BuildFromRecipe(literals, ops);
            var dst = new byte[data.Length + 8];
            int n = Lz4Hc.Compress(data, dst, level, states.Value!);
            if (n == 0)
            {
                // Not smaller than the input: the reference encoder must not do better either.
                var reference = new byte[LZ4Codec.MaximumOutputSize(data.Length)];
                return LZ4Codec.Encode(data, reference, (LZ4Level)Math.Max(level, 3)) >= data.Length;
            }

            var back = new byte[data.Length];
            return n < data.Length
                && LZ4Codec.Decode(dst.AsSpan(0, n), back) == data.Length
                && back.AsSpan().SequenceEqual(data)
                && SpecDecode(dst.AsSpan(0, n), data.Length).AsSpan().SequenceEqual(data);
        }, iter: 2000);
    }

    [Fact]
    public void CodecContext_EncodesLz4HcWithTheManagedEncoder()
    {
        byte[] data = BloscLzTests.MakeData("gen-f4-shuffled", 16384, 9);
        using var ctx = new CodecContext();
        var dst = new byte[data.Length];
        int n = ctx.Encode(Blosc2Codec.LZ4HC, 8, data, dst);
        var expected = new byte[data.Length];
        Assert.Equal(Lz4Hc.Compress(data, expected, 8, new Lz4HcState()), n);
        Assert.Equal(expected.AsSpan(0, n).ToArray(), dst.AsSpan(0, n).ToArray());
        var back = new byte[data.Length];
        Assert.True(ctx.TryDecode(global::MLArray.Blosc2.Format.ChunkFormat.CodecFormatLz4, dst.AsSpan(0, n), back));
        Assert.Equal(data, back);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------------------------

    private static int CompressAndVerify(byte[] data, int level, Lz4HcState state)
    {
        var dst = new byte[data.Length + 16];
        int n = Lz4Hc.Compress(data, dst, level, state);
        if (n == 0)
        {
            return 0;
        }

        Assert.InRange(n, 1, data.Length - 1);
        AssertDecodes(dst.AsSpan(0, n), data);
        return n;
    }

    /// <summary>Decodes with K4os and with the spec decoder below, which also checks the end-of-block rules.</summary>
    private static void AssertDecodes(ReadOnlySpan<byte> block, byte[] expected)
    {
        var k4 = new byte[expected.Length];
        Assert.Equal(expected.Length, LZ4Codec.Decode(block, k4));
        Assert.Equal(expected, k4);
        Assert.Equal(expected, SpecDecode(block, expected.Length));
    }

    private readonly record struct Sequence(int Literals, int Offset, int MatchLength, int Position);

    /// <summary>Parses an LZ4 block, asserting the format rules (offsets, minimum match, end rules).</summary>
    private static List<Sequence> Parse(ReadOnlySpan<byte> block, int outputLength)
    {
        var seqs = new List<Sequence>();
        int ip = 0, op = 0;
        while (true)
        {
            Assert.True(ip < block.Length, "block ends inside a sequence");
            int token = block[ip++];
            int lit = token >> 4;
            if (lit == 15)
            {
                int b;
                do
                {
                    b = block[ip++];
                    lit += b;
                }
                while (b == 255);
            }

            ip += lit;
            op += lit;
            Assert.True(ip <= block.Length);
            if (ip == block.Length)
            {
                // Last sequence: literals only, at least 5 of them (unless the whole block is literals).
                Assert.True(lit >= 5 || seqs.Count == 0, $"last literals {lit}");
                Assert.Equal(0, token & 15);
                seqs.Add(new Sequence(lit, 0, 0, op - lit));
                Assert.Equal(outputLength, op);
                return seqs;
            }

            int offset = block[ip] | (block[ip + 1] << 8);
            ip += 2;
            int ml = token & 15;
            if (ml == 15)
            {
                int b;
                do
                {
                    b = block[ip++];
                    ml += b;
                }
                while (b == 255);
            }

            ml += 4;
            Assert.InRange(offset, 1, Math.Min(op, 65_535));
            Assert.True(op <= outputLength - 12, $"match starts {outputLength - op} bytes before the end");
            Assert.True(op + ml <= outputLength - 5, "match reaches into the last 5 bytes");
            seqs.Add(new Sequence(lit, offset, ml, op));
            op += ml;
        }
    }

    private static byte[] SpecDecode(ReadOnlySpan<byte> block, int outputLength)
    {
        List<Sequence> seqs = Parse(block, outputLength);
        var outBuf = new byte[outputLength];
        int ip = 0, op = 0;
        foreach (Sequence s in seqs)
        {
            // Re-read the literals from the block (skip token and extension bytes).
            int token = block[ip++];
            if (token >> 4 == 15)
            {
                while (block[ip++] == 255)
                {
                }
            }

            block.Slice(ip, s.Literals).CopyTo(outBuf.AsSpan(op));
            ip += s.Literals;
            op += s.Literals;
            if (s.MatchLength == 0)
            {
                break;
            }

            ip += 2;
            if ((token & 15) == 15)
            {
                while (block[ip++] == 255)
                {
                }
            }

            for (int k = 0; k < s.MatchLength; k++, op++)
            {
                outBuf[op] = outBuf[op - s.Offset];
            }
        }

        return outBuf;
    }

    /// <summary>Data = literals and back-references (near, far and beyond the 64 KiB window) described by <paramref name="ops"/>.</summary>
    private static byte[] BuildFromRecipe(byte[] literals, int[] ops)
    {
        var data = new List<byte>();
        int li = 0;
        foreach (int op in ops)
        {
            uint u = (uint)op;
            if ((u & 3) == 0 || data.Count == 0)
            {
                int count = 1 + (int)((u >> 2) % 64);
                for (int k = 0; k < count; k++)
                {
                    data.Add(literals[li++ % literals.Length]);
                }
            }
            else
            {
                int maxDistance = Math.Min(data.Count, (u & 3) == 3 ? 100_000 : 40);
                int distance = 1 + (int)((u >> 2) % (uint)maxDistance);
                int length = 1 + (int)((u >> 18) % ((u & 3) == 1 ? 3000u : 40u));
                for (int k = 0; k < length; k++)
                {
                    data.Add(data[data.Count - distance]);
                }
            }
        }

        return [.. data];
    }

    /// <summary>The 960 full 16×16×16 float32 blocks of the corpus volume, shuffled as the chunk encoder feeds them.</summary>
    private static List<byte[]> CorpusVolumeShuffledBlocks()
    {
        using var a = B2ndArray.Open(TestData.Blosc2("mlarray_big_f4_volume_lz4hc8.mla"));
        byte[] data = a.ReadBytes();
        long[] shape = a.Shape;
        int[] bs = a.BlockShape;
        int item = a.DType.ItemSize;
        var blocks = new List<byte[]>();
        var plain = new byte[bs[0] * bs[1] * bs[2] * item];
        for (long i0 = 0; i0 + bs[0] <= shape[0]; i0 += bs[0])
        {
            for (long i1 = 0; i1 + bs[1] <= shape[1]; i1 += bs[1])
            {
                for (long i2 = 0; i2 + bs[2] <= shape[2]; i2 += bs[2])
                {
                    int o = 0;
                    for (long i = i0; i < i0 + bs[0]; i++)
                    {
                        for (long j = i1; j < i1 + bs[1]; j++)
                        {
                            int start = (int)(((i * shape[1] + j) * shape[2] + i2) * item);
                            data.AsSpan(start, bs[2] * item).CopyTo(plain.AsSpan(o));
                            o += bs[2] * item;
                        }
                    }

                    var shuffled = new byte[plain.Length];
                    Shuffle.Forward(item, plain, shuffled);
                    blocks.Add(shuffled);
                }
            }
        }

        return blocks;
    }
}
