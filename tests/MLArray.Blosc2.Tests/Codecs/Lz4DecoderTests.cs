using CsCheck;
using K4os.Compression.LZ4;
using MLArray.Blosc2.Codecs;

namespace MLArray.Blosc2.Tests.Codecs;

/// <summary>
/// Our LZ4 block decoder against two independent encoders (K4os fast and HC, and our own LZ4 HC encoder), against
/// the structural check <see cref="Lz4Block.IsWellFormed"/> on damaged streams, and on hand-made hostile blocks.
/// </summary>
public sealed class Lz4DecoderTests
{
    /// <summary>Data with the match structure LZ4 meets in Blosc2 blocks: runs, short periods, repeats far back, noise.</summary>
    private static byte[] MakeData(int kind, int length, int seed)
    {
        var rng = new Random(seed);
        var data = new byte[length];
        switch (kind)
        {
            case 0: // random bytes from a small alphabet: many short matches with small offsets
                for (int i = 0; i < length; i++) data[i] = (byte)(rng.Next(3) * 40);
                break;
            case 1: // runs of one byte (offset-1 matches) and short periodic patterns (offsets 2..15)
                for (int i = 0; i < length;)
                {
                    int period = rng.Next(1, 16), run = rng.Next(1, 300);
                    var pattern = new byte[period];
                    rng.NextBytes(pattern);
                    for (int k = 0; k < run && i < length; k++, i++) data[i] = pattern[k % period];
                }
                break;
            case 2: // copies of earlier pieces at every distance, with noise in between
                rng.NextBytes(data.AsSpan(0, Math.Min(length, 64)));
                for (int i = Math.Min(length, 64); i < length;)
                {
                    int len = rng.Next(4, 400), back = rng.Next(1, i + 1);
                    for (int k = 0; k < len && i < length; k++, i++) data[i] = data[i - back];
                    if (i < length && rng.Next(3) == 0) data[i++] = (byte)rng.Next();
                }
                break;
            default: // incompressible
                rng.NextBytes(data);
                break;
        }
        return data;
    }

    private static byte[] EncodeK4os(byte[] data, LZ4Level level)
    {
        var dst = new byte[LZ4Codec.MaximumOutputSize(data.Length)];
        int n = LZ4Codec.Encode(data, dst, level);
        if (n == 0 && data.Length == 0)
            return [0x00]; // K4os's HC levels write nothing for empty input; the empty LZ4 block is one zero token
        Assert.True(n > 0);
        return dst.AsSpan(0, n).ToArray();
    }

    /// <summary>
    /// Decodes into a destination pre-filled twice with different bytes: both results must equal the data (no byte
    /// left unwritten), and the 64 bytes after the destination (same buffer) must keep their fill (no wild copy past it).
    /// </summary>
    private static void AssertDecodes(byte[] stream, byte[] expected)
    {
        foreach (byte fill in new byte[] { 0x00, 0xA5 })
        {
            var buffer = new byte[expected.Length + 64];
            buffer.AsSpan().Fill(fill);
            Assert.True(Lz4Decoder.TryDecode(stream, buffer.AsSpan(0, expected.Length)));
            Assert.True(expected.AsSpan().SequenceEqual(buffer.AsSpan(0, expected.Length)));
            Assert.True(buffer.AsSpan(expected.Length).IndexOfAnyExcept(fill) < 0, "bytes past the destination were written");
        }
    }

    [Fact]
    public void Decodes_what_k4os_fast_and_hc_encode()
    {
        Gen.Select(Gen.Int[0, 3], Gen.Int[0, 5000], Gen.Int[0, 3], Gen.Int).Sample((kind, length, level, seed) =>
        {
            var data = MakeData(kind, length, seed);
            var stream = EncodeK4os(data, level == 0 ? LZ4Level.L00_FAST : level == 1 ? LZ4Level.L03_HC : level == 2 ? LZ4Level.L09_HC : LZ4Level.L12_MAX);
            AssertDecodes(stream, data);
        }, iter: 400);
    }

    [Fact]
    public void Decodes_what_our_hc_encoder_writes()
    {
        Gen.Select(Gen.Int[0, 2], Gen.Int[16, 20000], Gen.Int[1, 12], Gen.Int).Sample((kind, length, level, seed) =>
        {
            var data = MakeData(kind, length, seed);
            var dst = new byte[LZ4Codec.MaximumOutputSize(length)];
            int n = Lz4Hc.Compress(data, dst, level, new Lz4HcState()); // CsCheck samples on several threads
            if (n == 0)
                return; // did not shrink: Blosc2 would store the stream raw
            AssertDecodes(dst.AsSpan(0, n).ToArray(), data);
        }, iter: 200);
    }

    [Fact]
    public void Every_proper_prefix_of_a_block_is_refused()
    {
        Gen.Select(Gen.Int[0, 2], Gen.Int[1, 600], Gen.Int).Sample((kind, length, seed) =>
        {
            var data = MakeData(kind, length, seed);
            var stream = EncodeK4os(data, LZ4Level.L09_HC);
            var dst = new byte[length];
            for (int cut = 0; cut < stream.Length; cut++)
                Assert.False(Lz4Decoder.TryDecode(stream.AsSpan(0, cut), dst));
            // A destination one byte too short or too long is refused too.
            Assert.False(Lz4Decoder.TryDecode(stream, new byte[length - 1]));
            Assert.False(Lz4Decoder.TryDecode(stream, new byte[length + 1]));
        }, iter: 60);
    }

    /// <summary>
    /// Damaged blocks: the decoder accepts exactly the blocks the structural walk accepts (offsets inside the output,
    /// lengths inside both buffers, exact output size), and whatever it accepts decodes as K4os decodes it.
    /// </summary>
    [Fact]
    public void Damaged_blocks_are_refused_unless_well_formed_and_then_decode_like_k4os()
    {
        Gen.Select(Gen.Int[0, 2], Gen.Int[1, 3000], Gen.Int, Gen.Int[1, 4]).Sample((kind, length, seed, flips) =>
        {
            var data = MakeData(kind, length, seed);
            var stream = EncodeK4os(data, LZ4Level.L00_FAST);
            var rng = new Random(seed ^ 0x5eed);
            for (int f = 0; f < flips; f++)
                stream[rng.Next(stream.Length)] = (byte)rng.Next(256);
            var ours = new byte[length];
            bool ok = Lz4Decoder.TryDecode(stream, ours);
            Assert.Equal(Lz4Block.IsWellFormed(stream, length), ok);
            if (ok)
            {
                var reference = new byte[length];
                int n = LZ4Codec.Decode(stream, reference);
                if (n == length) // K4os applies the format's end-of-block rules, which a damaged block may break
                    Assert.True(reference.AsSpan().SequenceEqual(ours));
            }
        }, iter: 2000);
    }

    [Fact]
    public void Hostile_blocks_are_refused()
    {
        // 8 literals, a 4-byte match at offset 0, 12 final literals: offset 0 would copy the destination onto itself.
        byte[] zeroOffset = [0x80, .. "abcdefgh"u8, 0x00, 0x00, 0xC0, .. "ijklmnopqrst"u8];
        Assert.False(Lz4Decoder.TryDecode(zeroOffset, new byte[24]));
        zeroOffset[9] = 9; // 9 > the 8 bytes written: before the output start
        Assert.False(Lz4Decoder.TryDecode(zeroOffset, new byte[24]));
        zeroOffset[9] = 8;
        var ok = new byte[24];
        Assert.True(Lz4Decoder.TryDecode(zeroOffset, ok));
        Assert.Equal("abcdefghabcdijklmnopqrst"u8.ToArray(), ok);

        // A literal length extended past the input; a match length extended past the output; a match at the very end.
        Assert.False(Lz4Decoder.TryDecode([0xF0, 0xFF, 0xFF, 0x10, 1, 2, 3], new byte[600]));
        Assert.False(Lz4Decoder.TryDecode([0x1F, 7, 0x01, 0x00, 0xFF, 0xFF, 0x00, 0x00], new byte[100]));
        Assert.False(Lz4Decoder.TryDecode([0x10, 7, 0x01, 0x00], new byte[5]));
        // A length extension cut off at the end of the input.
        Assert.False(Lz4Decoder.TryDecode([0xF0, 0xFF], new byte[300]));
        Assert.False(Lz4Decoder.TryDecode([], []));
        Assert.True(Lz4Decoder.TryDecode([0x00], []));
    }

    [Fact]
    public void Long_overlapping_matches_with_every_short_offset_repeat_their_pattern()
    {
        for (int offset = 1; offset <= 40; offset++)
        {
            foreach (int matchLength in new[] { 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 1000 })
            {
                // offset literals, one match of matchLength at that offset, then final literals: 5 (the match ends
                // near the end: exact copies), 31 to 33 (at the edge of the wild-copy margin) or 40.
                foreach (int tail in new[] { 5, 31, 32, 33, 40 })
                {
                    var expected = new byte[offset + matchLength + tail];
                    for (int i = 0; i < offset; i++) expected[i] = (byte)(i * 37 + 1);
                    for (int i = offset; i < offset + matchLength; i++) expected[i] = expected[i - offset];
                    for (int i = offset + matchLength; i < expected.Length; i++) expected[i] = (byte)(200 + i % 50);
                    var s = new List<byte>();
                    int ml = matchLength - 4;
                    s.Add((byte)((Math.Min(offset, 15) << 4) | Math.Min(ml, 15)));
                    if (offset >= 15) AddLength(s, offset - 15);
                    s.AddRange(expected.AsSpan(0, offset).ToArray());
                    s.Add((byte)offset);
                    s.Add(0);
                    if (ml >= 15) AddLength(s, ml - 15);
                    s.Add((byte)(Math.Min(tail, 15) << 4));
                    if (tail >= 15) AddLength(s, tail - 15);
                    s.AddRange(expected.AsSpan(offset + matchLength).ToArray());
                    AssertDecodes(s.ToArray(), expected);
                }
            }
        }
    }

    private static void AddLength(List<byte> s, int rest)
    {
        while (rest >= 255)
        {
            s.Add(255);
            rest -= 255;
        }
        s.Add((byte)rest);
    }
}
