using System.Buffers.Binary;
using System.Text;
using CsCheck;
using MLArray.Blosc2.Codecs;
using Xunit.Abstractions;

namespace MLArray.Blosc2.Tests.Codecs;

public sealed class BloscLzTests
{
    private readonly ITestOutputHelper _output;

    public BloscLzTests(ITestOutputHelper output) => _output = output;

    // ------------------------------------------------------------------------------------------------------------
    // Round trips
    // ------------------------------------------------------------------------------------------------------------

    private static readonly int[] Sizes =
        [0, 1, 15, 16, 17, 31, 32, 33, 64, 100, 1000, 4096, 8191, 8192, 8193, 16384, 65536, 100_000];

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

    [Theory]
    [MemberData(nameof(RoundTripCases))]
    public void RoundTrip_VariedData(string kind, int size)
    {
        byte[] data = MakeData(kind, size, seed: size * 31 + kind.Length);
        foreach (int clevel in new[] { 1, 2, 3, 5, 9 })
        {
            int n = CompressAndVerify(data, clevel);
            if (size < 16)
            {
                Assert.Equal(0, n);
                continue;
            }

            switch (kind)
            {
                case "random":
                    // Uniform random bytes cannot shrink by the literal-run overhead.
                    Assert.Equal(0, n);
                    break;
                case "zeros":
                    Assert.InRange(n, 1, Math.Max(12, size / 50));
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

    [Fact]
    public void Compress_ReturnsZero_WhenDestinationTooSmall()
    {
        byte[] data = MakeData("text", 10_000, 1);
        var full = new byte[data.Length];
        int n = BloscLz.Compress(data, full, 5);
        Assert.InRange(n, 100, data.Length / 2);

        // One byte short of the real size: the encoder must give up, not overrun.
        var tight = new byte[n + 64];
        Array.Fill(tight, (byte)0xCD);
        Assert.Equal(0, BloscLz.Compress(data, tight.AsSpan(0, n - 1), 5));
        Assert.All(tight.AsSpan(n - 1).ToArray(), b => Assert.Equal(0xCD, b));

        // Exactly enough: same output as with a large buffer.
        var exact = new byte[n];
        Assert.Equal(n, BloscLz.Compress(data, exact, 5));
        Assert.Equal(full.AsSpan(0, n).ToArray(), exact);
    }

    [Fact]
    public void Compress_OutputStructure_FollowsSpec()
    {
        // Zeros then text then zeros: output must start with a marked literal run and end with a literal run.
        byte[] data = [.. new byte[500], .. MakeData("text", 3000, 2), .. new byte[700]];
        var dst = new byte[data.Length];
        int n = BloscLz.Compress(data, dst, 5);
        Assert.True(n > 0);
        List<Token> tokens = ParseTokens(dst.AsSpan(0, n));
        Assert.Equal(0x20, dst[0] & 0xE0);
        Assert.False(tokens[0].IsMatch);
        Assert.False(tokens[^1].IsMatch);
        Assert.Contains(tokens, t => t.IsMatch && t.Distance == 1 && t.Length > 262); // long run with extension bytes
        Assert.All(tokens.Where(t => !t.IsMatch), t => Assert.InRange(t.Length, 1, 32));
    }

    [Theory]
    [InlineData(8191, false)]
    [InlineData(8192, true)]
    [InlineData(20_000, true)]
    [InlineData(73_725, true)]
    public void Compress_UsesNearAndFarMatches(int distance, bool far)
    {
        byte[] block = MakeData("random", 300, distance);
        var data = new byte[distance + block.Length + 40];
        block.CopyTo(data, 0);
        block.CopyTo(data, distance);
        foreach (int clevel in new[] { 1, 5, 9 })
        {
            var dst = new byte[data.Length];
            int n = BloscLz.Compress(data, dst, clevel);
            Assert.True(n > 0);
            List<Token> tokens = ParseTokens(dst.AsSpan(0, n));
            Token match = Assert.Single(tokens, t => t.IsMatch && t.Distance == distance);
            Assert.Equal(far, match.Far);
            Assert.True(match.Length >= 290, $"match length {match.Length}");
            AssertDecodes(dst.AsSpan(0, n), data);
            Assert.True(n < 400 + data.Length / 200, $"compressed {n}");
        }
    }

    [Fact]
    public void Compress_DoesNotMatchBeyondMaximumDistance()
    {
        const int distance = 73_727;
        byte[] block = MakeData("random", 300, 7);
        var data = new byte[distance + block.Length + 40];
        block.CopyTo(data, 0);
        block.CopyTo(data, distance);
        var dst = new byte[data.Length];
        int n = BloscLz.Compress(data, dst, 9);
        Assert.True(n > 0);
        List<Token> tokens = ParseTokens(dst.AsSpan(0, n));
        Assert.All(tokens.Where(t => t.IsMatch), t => Assert.True(t.Distance <= 8191 + 65535));
        Assert.DoesNotContain(tokens, t => t.IsMatch && t.Distance > 8191);
        AssertDecodes(dst.AsSpan(0, n), data);
    }

    [Fact]
    public void RoundTrip_Property_RepeatedSegments()
    {
        Gen<(byte[] Literals, int[] Ops, int Clevel)> gen = Gen.Select(
            Gen.Byte.Array[1, 400], Gen.Int.Array[0, 60], Gen.Int[1, 9]);
        gen.Sample((literals, ops, clevel) =>
        {
            byte[] data = BuildFromRecipe(literals, ops);
            var dst = new byte[data.Length + 8];
            int n = BloscLz.Compress(data, dst, clevel);
            if (n == 0)
            {
                return true; // refusing is always legal (the stream is then stored raw); compression ratio is tested elsewhere
            }

            if (n >= data.Length)
            {
                return false;
            }

            var back = new byte[data.Length];
            byte[] reference = new byte[data.Length];
            return BloscLz.TryDecompress(dst.AsSpan(0, n), back)
                && back.AsSpan().SequenceEqual(data)
                && ReferenceDecode(dst.AsSpan(0, n), reference)
                && reference.AsSpan().SequenceEqual(data);
        }, iter: 3000);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Hand-built streams
    // ------------------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(1, 3)]
    [InlineData(1, 300)]
    [InlineData(2, 9)]
    [InlineData(3, 100)]
    [InlineData(5, 37)]
    [InlineData(7, 8)]
    [InlineData(8, 70)]
    [InlineData(15, 16)]
    [InlineData(16, 17)]
    [InlineData(100, 1000)]
    [InlineData(8190, 5)]
    [InlineData(8191, 9)]   // largest near distance (hi = 31, lo = 254)
    [InlineData(8192, 4)]   // smallest far distance (BE16 0)
    [InlineData(8192, 600)]
    [InlineData(73_727, 20)] // largest distance the format can express (BE16 0xFFFF)
    public void Decode_HandBuiltMatch(int distance, int length)
    {
        byte[] prefix = MakeData("random", distance, distance + length);
        var expected = new List<byte>(prefix);
        for (int k = 0; k < length; k++)
        {
            expected.Add(expected[expected.Count - distance]);
        }

        expected.Add(0x42);
        var stream = new List<byte>();
        AppendLiterals(stream, prefix);
        AppendMatch(stream, length, distance);
        AppendLiterals(stream, [0x42]);
        stream[0] |= 0x20;

        AssertDecodes(stream.ToArray(), expected.ToArray());
        // Decoding into a buffer with lots of slack must give the same bytes (wide copies must not corrupt).
        var big = new byte[expected.Count + 100];
        Assert.False(BloscLz.TryDecompress(stream.ToArray(), big));
    }

    [Fact]
    public void Decode_AcceptsUnmarkedFirstByteAndEmptyStream()
    {
        var dst = new byte[3];
        Assert.True(BloscLz.TryDecompress([0x02, 1, 2, 3], dst));
        Assert.Equal(new byte[] { 1, 2, 3 }, dst);
        Assert.True(BloscLz.TryDecompress([0x22, 1, 2, 3], dst));
        Assert.Equal(new byte[] { 1, 2, 3 }, dst);
        Assert.True(BloscLz.TryDecompress([], []));
        Assert.False(BloscLz.TryDecompress([], dst));
    }

    public static TheoryData<byte[], int> MalformedStreams() => new()
    {
        // match before the start of the output: 1 literal, then distance 2
        { new byte[] { 0x20, 0x61, 0x20, 0x01, 0x00, 0x62 }, 5 },
        // far match before the start: distance 8192 after 1 literal
        { new byte[] { 0x20, 0x61, 0x3F, 0xFF, 0x00, 0x00, 0x00, 0x62 }, 5 },
        // truncated literal run (says 4 bytes, has 2)
        { new byte[] { 0x23, 0x61, 0x62 }, 4 },
        // match token missing its distance byte
        { new byte[] { 0x20, 0x61, 0x20 }, 4 },
        // length extension running past the end of the input
        { new byte[] { 0x20, 0x61, 0xE0, 0xFF, 0xFF }, 600 },
        // far form missing its 16-bit distance
        { new byte[] { 0x20, 0x61, 0x3F, 0xFF, 0x00 }, 10 },
        // stream ending with a match (the reference decoder never executes it)
        { new byte[] { 0x20, 0x61, 0x20, 0x00 }, 4 },
        // output overrun by a literal run
        { new byte[] { 0x23, 1, 2, 3, 4 }, 3 },
        // output overrun by a match
        { new byte[] { 0x20, 0x61, 0x40, 0x00, 0x00, 0x62 }, 4 },
        // output too short at the end (wrong final size)
        { new byte[] { 0x21, 0x61, 0x62 }, 3 },
        // huge length extension: must stop as soon as it exceeds the output
        { [0x20, 0x61, 0xE0, .. Enumerable.Repeat((byte)0xFF, 5000), 0x00, 0x00, 0x62], 1000 },
    };

    [Theory]
    [MemberData(nameof(MalformedStreams))]
    public void Decode_RejectsMalformed(byte[] stream, int outputSize)
    {
        var dst = new byte[outputSize];
        Assert.False(BloscLz.TryDecompress(stream, dst));
        Assert.False(ReferenceDecode(stream, new byte[outputSize]));
    }

    [Fact]
    public void Decode_RejectsEveryTruncation()
    {
        byte[] data = MakeData("gen-f4-shuffled", 20_000, 3);
        var dst = new byte[data.Length];
        int n = BloscLz.Compress(data, dst, 5);
        Assert.True(n > 0);
        var back = new byte[data.Length];
        for (int cut = 0; cut < n; cut++)
        {
            Assert.False(BloscLz.TryDecompress(dst.AsSpan(0, cut), back));
        }

        Assert.True(BloscLz.TryDecompress(dst.AsSpan(0, n), back));
        Assert.False(BloscLz.TryDecompress(dst.AsSpan(0, n), back.AsSpan(0, back.Length - 1)));
        Assert.False(BloscLz.TryDecompress(dst.AsSpan(0, n), new byte[back.Length + 1]));
    }

    [Fact]
    public void Decode_Property_RandomGarbageNeverThrows()
    {
        Gen.Select(Gen.Byte.Array[0, 400], Gen.Int[0, 3000]).Sample((garbage, outSize) =>
        {
            var ours = new byte[outSize];
            var reference = new byte[outSize];
            bool ok = BloscLz.TryDecompress(garbage, ours);
            bool refOk = ReferenceDecode(garbage, reference);
            return ok == refOk && (!ok || ours.AsSpan().SequenceEqual(reference));
        }, iter: 20_000);
    }

    [Fact]
    public void Decode_Property_MutatedStreamsAgreeWithReference()
    {
        byte[] data = [.. MakeData("gen-f4-shuffled", 6000, 4), .. MakeData("text", 3000, 5), .. new byte[400]];
        var compressed = new byte[data.Length];
        int n = BloscLz.Compress(data, compressed, 9);
        Assert.True(n > 0);
        byte[] stream = compressed[..n];

        Gen.Select(Gen.Int[0, n - 1].Array[1, 4], Gen.Byte.Array[4], Gen.Int[-3, 3]).Sample((positions, values, sizeDelta) =>
        {
            byte[] mutated = (byte[])stream.Clone();
            for (int k = 0; k < positions.Length; k++)
            {
                mutated[positions[k]] = values[k];
            }

            var ours = new byte[data.Length + sizeDelta];
            var reference = new byte[data.Length + sizeDelta];
            bool ok = BloscLz.TryDecompress(mutated, ours);
            bool refOk = ReferenceDecode(mutated, reference);
            return ok == refOk && (!ok || ours.AsSpan().SequenceEqual(reference));
        }, iter: 5000);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Real C-Blosc2 streams (corpus written by C-Blosc2 3.3)
    // ------------------------------------------------------------------------------------------------------------

    [Fact]
    public void Corpus_NoShuffleChunk0_MatchesGenerator()
    {
        // f4, shape (25,30,21), chunks (12,16,10), blocks (5,7,4), not split: one stream per block.
        byte[] file = ReadCorpus("f4_3d_blosclz_noshuffle.mla");
        int chunkPos = FrameHeaderLength(file);
        ChunkInfo chunk = ParseChunk(file, chunkPos);
        Assert.Equal(0, chunk.Flags >> 5);          // BloscLZ
        Assert.NotEqual(0, chunk.Flags & 0x10);     // dont_split
        Assert.Equal(27, chunk.Blocks.Count);
        Assert.Equal(560, chunk.BlockSize);

        int codecStreams = 0;
        for (int b = 0; b < chunk.Blocks.Count; b++)
        {
            StreamRef s = Assert.Single(chunk.Blocks[b]);
            byte[] decoded = DecodeStream(file, s);
            byte[] expected = ExpectedF4Block(b, shape: [25, 30, 21], chunkStart: [0, 0, 0], chunkShape: [12, 16, 10],
                blockShape: [5, 7, 4]);
            Assert.Equal(expected, decoded);
            if (s.IsCodec)
            {
                codecStreams++;
            }
        }

        // Block 0 itself is stored raw by C-Blosc2 (incompressible float noise); blocks with padding are BloscLZ.
        Assert.True(codecStreams >= 15, $"only {codecStreams} BloscLZ streams");
    }

    [Fact]
    public void Corpus_ShuffleChunk0_MatchesGenerator()
    {
        byte[] file = ReadCorpus("f4_3d_blosclz_shuffle.mla");
        ChunkInfo chunk = ParseChunk(file, FrameHeaderLength(file));
        Assert.Equal(0, chunk.Flags & 0x10); // split: 4 byte-plane streams per block
        int codecStreams = 0;
        for (int b = 0; b < chunk.Blocks.Count; b++)
        {
            Assert.Equal(4, chunk.Blocks[b].Count);
            byte[] expected = Shuffle(ExpectedF4Block(b, [25, 30, 21], [0, 0, 0], [12, 16, 10], [5, 7, 4]), 4);
            var got = new List<byte>();
            foreach (StreamRef s in chunk.Blocks[b])
            {
                got.AddRange(DecodeStream(file, s));
                codecStreams += s.IsCodec ? 1 : 0;
            }

            Assert.Equal(expected, got.ToArray());
        }

        Assert.True(codecStreams >= 20, $"only {codecStreams} BloscLZ streams");
    }

    [Fact]
    public void Corpus_OffsetsIndexChunks_Decode()
    {
        // Every frame's chunk offsets index is a BloscLZ + shuffle chunk, whatever the data codec.
        int files = 0, codecStreams = 0;
        foreach (string path in Directory.EnumerateFiles(CorpusDir, "*.mla").Order(StringComparer.Ordinal))
        {
            byte[] file = File.ReadAllBytes(path);
            long[]? offsets = ReadOffsetsIndex(file, ref codecStreams);
            if (offsets is null)
            {
                continue;
            }

            files++;
            int headerLen = FrameHeaderLength(file);
            long chunksBytes = BinaryPrimitives.ReadInt64BigEndian(file.AsSpan(39));
            var stored = offsets.Where(o => o >= 0).Distinct().Order().ToArray();
            if (stored.Length == 0)
            {
                _output.WriteLine($"{Path.GetFileName(path)}: only special chunks");
                continue;
            }

            Assert.Equal(0, stored[0]);
            for (int k = 0; k < stored.Length; k++)
            {
                int pos = checked(headerLen + (int)stored[k]);
                int cbytes = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(pos + 12));
                long next = k + 1 < stored.Length ? stored[k + 1] : chunksBytes;
                Assert.Equal(next, stored[k] + cbytes);
            }
        }

        _output.WriteLine($"{files} frames, {codecStreams} BloscLZ index streams decoded");
        Assert.True(files >= 40);
        Assert.True(codecStreams >= 10);
    }

    [Theory]
    [InlineData("f4_3d_blosclz_noshuffle.mla")]
    [InlineData("f4_3d_blosclz_shuffle.mla")]
    [InlineData("f4_3d_blosclz_bitshuffle.mla")]
    [InlineData("f4_3d_blosclz_delta-shuffle.mla")]
    [InlineData("f8_4d_blosclz_noshuffle.mla")]
    [InlineData("f8_4d_blosclz_shuffle.mla")]
    [InlineData("f8_4d_blosclz_bitshuffle.mla")]
    [InlineData("i2_2d_blosclz_noshuffle.mla")]
    [InlineData("i2_2d_blosclz_shuffle.mla")]
    [InlineData("i2_2d_blosclz_bitshuffle.mla")]
    [InlineData("u1_1d_blosclz_noshuffle.mla")]
    [InlineData("u1_1d_blosclz_bitshuffle.mla")]
    [InlineData("i8_1d_blosclz_delta.mla")]
    public void Corpus_ReencodedStreams_AreAsSmallAsCBlosc2(string name)
    {
        byte[] file = ReadCorpus(name);
        int clevel = file[27] >> 4;
        int codecStreams = 0;
        long theirs = 0, ours = 0, block0Theirs = 0, block0Ours = 0;
        long[] offsets = ReadOffsetsIndex(file, ref codecStreams)!;
        int headerLen = FrameHeaderLength(file);
        foreach (long offset in offsets.Where(o => o >= 0).Distinct())
        {
            ChunkInfo chunk = ParseChunk(file, checked(headerLen + (int)offset));
            for (int b = 0; b < chunk.Blocks.Count; b++)
            {
                foreach (StreamRef s in chunk.Blocks[b])
                {
                    if (s.CSize <= 0)
                    {
                        continue; // zero / byte-run streams are decided before the codec runs
                    }

                    byte[] input = DecodeStream(file, s);
                    int n = CompressAndVerify(input, clevel);
                    int mine = n == 0 ? input.Length : n;
                    theirs += s.CSize;
                    ours += mine;
                    if (b == 0)
                    {
                        block0Theirs += s.CSize;
                        block0Ours += mine;
                    }
                }
            }
        }

        _output.WriteLine($"{name} clevel {clevel}: C-Blosc2 {theirs} bytes, ours {ours} bytes ({(double)ours / theirs:P1}); "
            + $"block 0: {block0Theirs} vs {block0Ours}");
        Assert.True(theirs > 0);
        Assert.True(ours <= theirs * 1.10, $"ours {ours} > 1.10 x {theirs}");
        Assert.True(block0Ours <= block0Theirs * 1.10, $"block 0: ours {block0Ours} > 1.10 x {block0Theirs}");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Helpers: data
    // ------------------------------------------------------------------------------------------------------------

    private static ulong SplitMix64(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The corpus "gen" value t for dtype number d at C-order index i.</summary>
    private static ulong GenT(int d, long i)
    {
        ulong r = SplitMix64(0x243F6A8885A308D3UL + (ulong)d + (ulong)i);
        return ((ulong)i >> 2) + (r >> 61);
    }

    private static float GenF4(long i) => (GenT(8, i) % 65536) * 0.25f;

    internal static byte[] MakeData(string kind, int size, int seed)
    {
        var data = new byte[size];
        var rng = new Random(seed);
        switch (kind)
        {
            case "zeros":
                break;
            case "random":
                rng.NextBytes(data);
                break;
            case "runs":
                for (int p = 0; p < size;)
                {
                    int len = Math.Min(size - p, rng.Next(1, 200));
                    data.AsSpan(p, len).Fill((byte)rng.Next(4));
                    p += len;
                }

                break;
            case "gen-f4":
                for (int k = 0; k + 4 <= size; k += 4)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(k), GenF4(k / 4));
                }

                break;
            case "gen-f4-shuffled":
            {
                byte[] plain = MakeData("gen-f4", size, seed);
                Shuffle(plain, 4).CopyTo(data, 0);
                break;
            }

            case "gen-i2":
                for (int k = 0; k + 2 <= size; k += 2)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(k), (ushort)GenT(3, k / 2));
                }

                break;
            case "text":
            {
                string[] words = ["blosc", "chunk", "frame", "stream", "the", "of", "compression", "array", "block",
                    "shuffle", "and", "a", "to", "float32", "metalayer", "offsets", "index", "decoder"];
                var sb = new StringBuilder();
                while (sb.Length < size)
                {
                    sb.Append(words[rng.Next(words.Length)]).Append(rng.Next(10) == 0 ? ".\n" : " ");
                }

                Encoding.ASCII.GetBytes(sb.ToString(0, size)).CopyTo(data, 0);
                break;
            }

            case "sawtooth":
                for (int k = 0; k < size; k++)
                {
                    data[k] = (byte)(k % 251 + (k / 5000));
                }

                break;
            default:
                throw new ArgumentException(kind, nameof(kind));
        }

        return data;
    }

    private static byte[] Shuffle(byte[] block, int typesize)
    {
        int n = block.Length / typesize;
        var dst = (byte[])block.Clone();
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < typesize; j++)
            {
                dst[j * n + i] = block[i * typesize + j];
            }
        }

        return dst;
    }

    private static byte[] Unshuffle(byte[] block, int typesize)
    {
        int n = block.Length / typesize;
        var dst = (byte[])block.Clone();
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < typesize; j++)
            {
                dst[i * typesize + j] = block[j * n + i];
            }
        }

        return dst;
    }

    /// <summary>Data = literals and back-references described by <paramref name="ops"/>.</summary>
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
                int length = 1 + (int)((u >> 18) % ((u & 3) == 1 ? 1200u : 40u));
                for (int k = 0; k < length; k++)
                {
                    data.Add(data[data.Count - distance]);
                }
            }
        }

        return [.. data];
    }

    /// <summary>True when few 8-byte sequences occur twice (then refusing to compress is plausible).</summary>
    // ------------------------------------------------------------------------------------------------------------
    // Helpers: codec checks and an independent byte-by-byte decoder written from the spec
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>Compresses, and when that succeeds checks size, token structure and decoding by both decoders.</summary>
    private static int CompressAndVerify(byte[] data, int clevel)
    {
        var dst = new byte[data.Length + 16];
        int n = BloscLz.Compress(data, dst, clevel);
        if (n == 0)
        {
            return 0;
        }

        Assert.InRange(n, 1, data.Length - 1);
        Assert.Equal(0x20, dst[0] & 0xE0);
        List<Token> tokens = ParseTokens(dst.AsSpan(0, n));
        Assert.False(tokens[^1].IsMatch);
        AssertDecodes(dst.AsSpan(0, n), data);
        return n;
    }

    private static void AssertDecodes(ReadOnlySpan<byte> stream, byte[] expected)
    {
        var ours = new byte[expected.Length];
        Assert.True(BloscLz.TryDecompress(stream, ours));
        Assert.True(ours.AsSpan().SequenceEqual(expected), "fast decoder output differs");
        var reference = new byte[expected.Length];
        Assert.True(ReferenceDecode(stream, reference));
        Assert.True(reference.AsSpan().SequenceEqual(expected), "reference decoder output differs");
    }

    private readonly record struct Token(bool IsMatch, long Length, int Distance, bool Far);

    /// <summary>Splits a stream into tokens (throws on truncation).</summary>
    private static List<Token> ParseTokens(ReadOnlySpan<byte> s)
    {
        var tokens = new List<Token>();
        int ip = 0;
        while (ip < s.Length)
        {
            int ctrl = ip == 0 ? s[ip++] & 31 : s[ip++];
            if (ctrl < 32)
            {
                tokens.Add(new Token(false, ctrl + 1, 0, false));
                ip += ctrl + 1;
                Assert.True(ip <= s.Length, "truncated literal run");
                continue;
            }

            long len = (ctrl >> 5) - 1;
            if (len == 6)
            {
                int code;
                do
                {
                    code = s[ip++];
                    len += code;
                }
                while (code == 255);
            }

            int lo = s[ip++];
            int hi = ctrl & 31;
            int d = (hi << 8) + lo + 1;
            bool far = hi == 31 && lo == 255;
            if (far)
            {
                d = (s[ip] << 8) + s[ip + 1] + 8192;
                ip += 2;
            }

            tokens.Add(new Token(true, len + 3, d, far));
        }

        return tokens;
    }

    /// <summary>Straightforward decoder following spec §6.1 (including: a stream must not end with a match).</summary>
    private static bool ReferenceDecode(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        if (src.IsEmpty)
        {
            return dst.IsEmpty;
        }

        int ip = 0, op = 0;
        int ctrl = src[ip++] & 31;
        while (true)
        {
            if (ctrl < 32)
            {
                int n = ctrl + 1;
                if (ip + n > src.Length || op + n > dst.Length)
                {
                    return false;
                }

                for (int k = 0; k < n; k++)
                {
                    dst[op++] = src[ip++];
                }

                if (ip >= src.Length)
                {
                    break;
                }

                ctrl = src[ip++];
            }
            else
            {
                long len = (ctrl >> 5) - 1;
                int hi = ctrl & 31;
                if (len == 6)
                {
                    int code;
                    do
                    {
                        if (ip >= src.Length)
                        {
                            return false;
                        }

                        code = src[ip++];
                        len += code;
                    }
                    while (code == 255);
                }

                if (ip >= src.Length)
                {
                    return false;
                }

                int lo = src[ip++];
                len += 3;
                long d = (hi << 8) + lo + 1;
                if (lo == 255 && hi == 31)
                {
                    if (ip + 2 > src.Length)
                    {
                        return false;
                    }

                    d = (src[ip] << 8) + src[ip + 1] + 8192;
                    ip += 2;
                }

                if (ip >= src.Length || d > op || op + len > dst.Length)
                {
                    return false;
                }

                for (long k = 0; k < len; k++)
                {
                    dst[op] = dst[(int)(op - d)];
                    op++;
                }

                ctrl = src[ip++];
            }
        }

        return op == dst.Length;
    }

    private static void AppendLiterals(List<byte> stream, ReadOnlySpan<byte> literals)
    {
        for (int p = 0; p < literals.Length; p += 32)
        {
            int n = Math.Min(32, literals.Length - p);
            stream.Add((byte)(n - 1));
            stream.AddRange(literals.Slice(p, n).ToArray());
        }
    }

    private static void AppendMatch(List<byte> stream, int length, int distance)
    {
        int code = length - 2;
        int d = distance - 1;
        bool far = d >= 8191;
        int hi = far ? 31 : d >> 8;
        stream.Add((byte)((Math.Min(code, 7) << 5) | hi));
        if (code >= 7)
        {
            int rest = code - 7;
            for (; rest >= 255; rest -= 255)
            {
                stream.Add(255);
            }

            stream.Add((byte)rest);
        }

        if (far)
        {
            stream.Add(255);
            stream.Add((byte)((d - 8191) >> 8));
            stream.Add((byte)(d - 8191));
        }
        else
        {
            stream.Add((byte)d);
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Helpers: minimal frame / chunk parsing (spec §2, §3, §5)
    // ------------------------------------------------------------------------------------------------------------

    private static string CorpusDir
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "tests", "data", "blosc2");
                if (Directory.Exists(candidate))
                {
                    return candidate;
                }
            }

            throw new DirectoryNotFoundException("tests/data/blosc2 not found above " + AppContext.BaseDirectory);
        }
    }

    private static byte[] ReadCorpus(string name) => File.ReadAllBytes(Path.Combine(CorpusDir, name));

    private static int FrameHeaderLength(byte[] file) => BinaryPrimitives.ReadInt32BigEndian(file.AsSpan(11));

    private sealed record StreamRef(int PayloadPos, int CSize, int NeBlock, byte RunByte)
    {
        public bool IsCodec => CSize > 0 && CSize != NeBlock;
    }

    private sealed record ChunkInfo(byte Flags, int TypeSize, int NBytes, int BlockSize, byte[] Filters,
        List<List<StreamRef>> Blocks, int PayloadPos);

    private static ChunkInfo ParseChunk(byte[] file, int pos)
    {
        ReadOnlySpan<byte> h = file.AsSpan(pos, 32);
        byte flags = h[2];
        int typesize = h[3];
        int nbytes = BinaryPrimitives.ReadInt32LittleEndian(h[4..]);
        int blocksize = Math.Min(BinaryPrimitives.ReadInt32LittleEndian(h[8..]), nbytes);
        byte[] filters = h.Slice(16, 6).ToArray();
        var blocks = new List<List<StreamRef>>();
        Assert.Equal(0, (h[31] >> 4) & 7); // not a special chunk
        if ((flags & 0x02) != 0 || nbytes == 0)
        {
            return new ChunkInfo(flags, typesize, nbytes, blocksize, filters, blocks, pos + 32);
        }

        Assert.Equal(0, h[31] & 0x01); // no dictionary
        int nblocks = (nbytes + blocksize - 1) / blocksize;
        for (int b = 0; b < nblocks; b++)
        {
            int bsize = Math.Min(blocksize, nbytes - b * blocksize);
            bool leftover = bsize != blocksize;
            int nstreams = (flags & 0x10) != 0 || leftover ? 1 : typesize;
            int p = pos + BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(pos + 32 + 4 * b));
            var streams = new List<StreamRef>();
            for (int k = 0; k < nstreams; k++)
            {
                int csize = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(p));
                p += 4;
                if (csize < 0)
                {
                    Assert.Equal(1, file[p] & 1);
                    streams.Add(new StreamRef(p, csize, bsize / nstreams, (byte)(-csize)));
                    p += 1;
                }
                else
                {
                    streams.Add(new StreamRef(p, csize, bsize / nstreams, 0));
                    p += csize;
                }
            }

            blocks.Add(streams);
        }

        return new ChunkInfo(flags, typesize, nbytes, blocksize, filters, blocks, pos + 32);
    }

    private static byte[] DecodeStream(byte[] file, StreamRef s)
    {
        var dst = new byte[s.NeBlock];
        if (s.CSize < 0)
        {
            Array.Fill(dst, s.RunByte);
        }
        else if (s.CSize == s.NeBlock)
        {
            file.AsSpan(s.PayloadPos, s.CSize).CopyTo(dst);
        }
        else if (s.CSize > 0)
        {
            ReadOnlySpan<byte> payload = file.AsSpan(s.PayloadPos, s.CSize);
            Assert.True(BloscLz.TryDecompress(payload, dst), "C-Blosc2 BloscLZ stream rejected");
            var reference = new byte[s.NeBlock];
            Assert.True(ReferenceDecode(payload, reference));
            Assert.Equal(reference, dst);
        }

        return dst;
    }

    /// <summary>Decodes the offsets index chunk (BloscLZ, filters none/shuffle); null for frames without one.</summary>
    private static long[]? ReadOffsetsIndex(byte[] file, ref int codecStreams)
    {
        long nbytes = BinaryPrimitives.ReadInt64BigEndian(file.AsSpan(30));
        if (nbytes == 0)
        {
            return null;
        }

        long cbytes = BinaryPrimitives.ReadInt64BigEndian(file.AsSpan(39));
        int pos = checked(FrameHeaderLength(file) + (int)cbytes);
        if (((file[pos + 31] >> 4) & 7) != 0)
        {
            return null; // repeated-value special index (arrays created by b2nd_zeros & co., spec §3.2)
        }

        ChunkInfo chunk = ParseChunk(file, pos);
        var raw = new byte[chunk.NBytes];
        if ((chunk.Flags & 0x02) != 0)
        {
            file.AsSpan(chunk.PayloadPos, chunk.NBytes).CopyTo(raw);
        }
        else
        {
            Assert.Equal(0, chunk.Flags >> 5); // the index is always BloscLZ
            for (int b = 0; b < chunk.Blocks.Count; b++)
            {
                var block = new List<byte>();
                foreach (StreamRef s in chunk.Blocks[b])
                {
                    block.AddRange(DecodeStream(file, s));
                    codecStreams += s.IsCodec ? 1 : 0;
                }

                byte[] bytes = [.. block];
                for (int f = 5; f >= 0; f--)
                {
                    Assert.True(chunk.Filters[f] is 0 or 1, $"unexpected index filter {chunk.Filters[f]}");
                    if (chunk.Filters[f] == 1)
                    {
                        bytes = Unshuffle(bytes, chunk.TypeSize);
                    }
                }

                bytes.CopyTo(raw, b * chunk.BlockSize);
            }
        }

        var offsets = new long[raw.Length / 8];
        for (int k = 0; k < offsets.Length; k++)
        {
            offsets[k] = BinaryPrimitives.ReadInt64LittleEndian(raw.AsSpan(8 * k));
        }

        return offsets;
    }

    /// <summary>Expected bytes of one block of a float32 "gen" chunk (padding = 0), items in C order over blockShape.</summary>
    private static byte[] ExpectedF4Block(int block, int[] shape, int[] chunkStart, int[] chunkShape, int[] blockShape)
    {
        int nd = shape.Length;
        var nblocks = new int[nd];
        for (int d = 0; d < nd; d++)
        {
            nblocks[d] = (chunkShape[d] + blockShape[d] - 1) / blockShape[d];
        }

        var bidx = new int[nd];
        for (int d = nd - 1, rem = block; d >= 0; d--)
        {
            bidx[d] = rem % nblocks[d];
            rem /= nblocks[d];
        }

        int items = blockShape.Aggregate(1, (a, x) => a * x);
        var result = new byte[items * 4];
        for (int q = 0; q < items; q++)
        {
            long linear = 0;
            bool padding = false;
            for (int d = nd - 1, rem = q, stride = 1; d >= 0; d--)
            {
                int inBlock = rem % blockShape[d];
                rem /= blockShape[d];
                int inChunk = bidx[d] * blockShape[d] + inBlock;
                int x = chunkStart[d] + inChunk;
                padding |= inChunk >= chunkShape[d] || x >= shape[d];
                linear += (long)x * stride;
                stride *= shape[d];
            }

            if (!padding)
            {
                BinaryPrimitives.WriteSingleLittleEndian(result.AsSpan(q * 4), GenF4(linear));
            }
        }

        return result;
    }
}
