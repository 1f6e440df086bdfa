using System.Buffers.Binary;
using K4os.Compression.LZ4;
using MLArray.Blosc2.Codecs;
using MLArray.Blosc2.Format;
using Xunit.Abstractions;

namespace MLArray.Blosc2.Tests.Format;

/// <summary>
/// Chunk-level coverage of every header version (spec §5): hand-built Blosc1 and Blosc2 chunks decoded with
/// <see cref="ChunkHeader"/>/<see cref="ChunkDecoder"/>, and what <see cref="ChunkEncoder"/> writes.
/// The filters and stream layouts are recomputed here from the spec, independently of the engine.
/// </summary>
public sealed class ChunkFormatTests(ITestOutputHelper output)
{
    private static readonly ChunkLocation Where = new("test-chunk", "chunk", 0);

    // ------------------------------------------------------------------------------------------------------------
    // Helpers (independent reference implementations)

    private static ChunkHeader Parse(byte[] chunk) => ChunkHeader.Parse(chunk, Where);

    private static byte[] Decode(byte[] chunk)
    {
        var h = Parse(chunk);
        var dst = new byte[h.NBytes];
        using var ctx = new CodecContext();
        ChunkDecoder.Decompress(chunk, h, dst, ctx, Where);
        return dst;
    }

    /// <summary>Spec §7.1 forward byte shuffle.</summary>
    private static byte[] ShuffleRef(byte[] src, int w)
    {
        int n = src.Length / w;
        var dst = (byte[])src.Clone();
        for (int i = 0; i < n; i++)
            for (int j = 0; j < w; j++)
                dst[j * n + i] = src[i * w + j];
        return dst;
    }

    /// <summary>Spec §7.2 forward bit shuffle.</summary>
    private static byte[] BitShuffleRef(byte[] src, int w)
    {
        int n = src.Length / w;
        int m = n - n % 8;
        var dst = (byte[])src.Clone();
        Array.Clear(dst, 0, m * w);
        int rowBytes = m / 8;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < w; j++)
                for (int k = 0; k < 8; k++)
                    if ((src[i * w + j] >> k & 1) != 0)
                        dst[(8 * j + k) * rowBytes + i / 8] |= (byte)(1 << (i % 8));
        return dst;
    }

    /// <summary>An LZ4 block for <paramref name="src"/>, or null when LZ4 cannot shrink it.</summary>
    private static byte[]? Lz4(ReadOnlySpan<byte> src)
    {
        var dst = new byte[LZ4Codec.MaximumOutputSize(src.Length)];
        int n = LZ4Codec.Encode(src, dst, LZ4Level.L00_FAST);
        return n > 0 && n < src.Length ? dst[..n] : null;
    }

    private static byte[] Blosc1Header(byte version, byte flags, int typesize, int nbytes, int blocksize, int cbytes)
    {
        var h = new byte[16];
        h[0] = version;
        h[1] = 1;
        h[2] = flags;
        h[3] = (byte)typesize;
        BinaryPrimitives.WriteInt32LittleEndian(h.AsSpan(4), nbytes);
        BinaryPrimitives.WriteInt32LittleEndian(h.AsSpan(8), blocksize);
        BinaryPrimitives.WriteInt32LittleEndian(h.AsSpan(12), cbytes);
        return h;
    }

    private static byte[] Blosc2Header(byte version, byte flags, int typesize, int nbytes, int blocksize, int cbytes,
        byte[]? filters = null, byte[]? filtersMeta = null, byte udcodec = 0, byte flags2 = 0, byte blosc2Flags = 0)
    {
        var h = new byte[32];
        h[0] = version;
        h[1] = 1;
        h[2] = flags;
        h[3] = (byte)typesize;
        BinaryPrimitives.WriteInt32LittleEndian(h.AsSpan(4), nbytes);
        BinaryPrimitives.WriteInt32LittleEndian(h.AsSpan(8), blocksize);
        BinaryPrimitives.WriteInt32LittleEndian(h.AsSpan(12), cbytes);
        (filters ?? new byte[6]).CopyTo(h, 16);
        h[22] = udcodec;
        (filtersMeta ?? new byte[6]).CopyTo(h, 24);
        h[30] = flags2;
        h[31] = blosc2Flags;
        return h;
    }

    private static void SetCBytes(byte[] chunk) => BinaryPrimitives.WriteInt32LittleEndian(chunk.AsSpan(12), chunk.Length);

    /// <summary>Appends a stream (int32 csize + payload): LZ4 when it shrinks, raw (csize = neblock) otherwise.</summary>
    private static void AppendLz4OrRaw(List<byte> chunk, byte[] stream)
    {
        byte[]? c = Lz4(stream);
        byte[] payload = c ?? stream;
        var len = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(len, payload.Length);
        chunk.AddRange(len);
        chunk.AddRange(payload);
    }

    private static byte[] Pattern(int n, int seed)
    {
        var b = new byte[n];
        for (int i = 0; i < n; i++)
            b[i] = (byte)(((i / 4) * 3 + seed) % 97);
        return b;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Blosc1 (16-byte header)

    [Fact]
    public void Blosc1_chunk_with_byte_shuffle_lz4_and_split_streams_decodes()
    {
        const int typesize = 4, blocksize = 256, leftover = 100;
        byte[] data = Pattern(2 * blocksize + leftover, 5);
        int nblocks = 3;
        var chunk = new List<byte>(Blosc1Header(2, 0x01 | (1 << 5), typesize, data.Length, blocksize, 0));
        chunk.AddRange(new byte[4 * nblocks]);
        for (int b = 0; b < nblocks; b++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(chunk).Slice(16 + 4 * b), chunk.Count);
            int bsize = Math.Min(blocksize, data.Length - b * blocksize);
            byte[] shuffled = ShuffleRef(data[(b * blocksize)..(b * blocksize + bsize)], typesize);
            bool isLeftover = bsize != blocksize;
            int nstreams = isLeftover ? 1 : typesize; // leftover blocks are never split
            int neblock = bsize / nstreams;
            for (int s = 0; s < nstreams; s++)
                AppendLz4OrRaw(chunk, shuffled[(s * neblock)..((s + 1) * neblock)]);
        }
        byte[] c = [.. chunk];
        SetCBytes(c);

        var h = Parse(c);
        Assert.Equal(16, h.HeaderLength);
        Assert.Equal(3, h.NBlocks);
        Assert.Equal(Blosc2Filter.Shuffle, h.Filter(5));
        Assert.Equal(ChunkFormat.CodecFormatLz4, h.CodecFormat);
        Assert.False(h.DontSplit);
        Assert.Equal(data, Decode(c));

        // single blocks decode the same (block 2 is the leftover)
        using var ctx = new CodecContext();
        var one = new byte[leftover];
        ChunkDecoder.DecodeBlock(c, h, 2, one, default, ctx, Where);
        Assert.Equal(data[(2 * blocksize)..], one);
    }

    [Theory]
    [InlineData(1, 0x02)]
    [InlineData(2, 0x03)]
    [InlineData(2, 0x02 | 0x04 | (1 << 5))]
    public void Blosc1_memcpyed_chunk_decodes_without_filters(byte version, byte flags)
    {
        byte[] data = Pattern(300, 9);
        byte[] c = [.. Blosc1Header(version, flags, 4, data.Length, 128, data.Length + 16), .. data];
        var h = Parse(c);
        Assert.True(h.IsMemcpyed);
        Assert.Equal(16, h.HeaderLength);
        Assert.Equal(data, Decode(c));
        // cbytes must be nbytes + 16
        BinaryPrimitives.WriteInt32LittleEndian(c.AsSpan(12), data.Length + 15);
        var e = Assert.Throws<MLArrayFormatException>(() => Parse(c[..^1]));
        Assert.Contains("test-chunk", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(8 * 6, 4)]   // n = 12 items: 12 % 8 != 0 → version 2 leaves the block unshuffled (spec §7.2 quirk)
    [InlineData(8 * 8, 4)]   // n = 16 items: regular bit shuffle
    [InlineData(40, 1)]      // n = 40 items of 1 byte
    public void Blosc1_bitshuffle_chunk_follows_the_version_2_rule(int bsize, int typesize)
    {
        byte[] data = Pattern(bsize, 3);
        int n = bsize / typesize;
        byte[] stream = n % 8 != 0 ? data : BitShuffleRef(data, typesize);
        byte[] c = [.. Blosc1Header(2, 0x04 | 0x10, typesize, bsize, bsize, 0), .. new byte[4], .. new byte[4], .. stream];
        BinaryPrimitives.WriteInt32LittleEndian(c.AsSpan(16), 20);
        BinaryPrimitives.WriteInt32LittleEndian(c.AsSpan(20), bsize); // raw stream (csize == neblock)
        SetCBytes(c);
        Assert.Equal(Blosc2Filter.BitShuffle, Parse(c).Filter(5));
        Assert.Equal(data, Decode(c));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Blosc2 alpha/beta (versions 3 and 4) and stable (5)

    [Theory]
    [InlineData(3, Blosc2Codec.LZ4)]
    [InlineData(4, Blosc2Codec.Zstd)]
    [InlineData(4, Blosc2Codec.BloscLZ)]
    [InlineData(3, Blosc2Codec.Zlib)]
    [InlineData(5, Blosc2Codec.LZ4HC)]
    public void Extended_header_versions_3_to_5_decode(byte version, Blosc2Codec codec)
    {
        byte[] data = Pattern(4096 + 96, 1);
        foreach (var filters in new[]
                 {
                     CompressionParams.Pipeline(Blosc2Filter.Shuffle),
                     CompressionParams.Pipeline(Blosc2Filter.Delta, Blosc2Filter.Shuffle),
                     CompressionParams.Pipeline(Blosc2Filter.BitShuffle),
                 })
        {
            var p = new CompressionParams { Codec = codec, CLevel = 5, Filters = filters, SplitMode = Blosc2SplitMode.Auto };
            var buf = new byte[ChunkEncoder.MaxChunkSize(data.Length)];
            using var ctx = new CodecContext();
            int n = ChunkEncoder.Compress(data, 4, 1024, p, buf, ctx);
            byte[] c = buf[..n];
            c[0] = version;
            var h = Parse(c);
            Assert.Equal(32, h.HeaderLength);
            Assert.Equal(version, h.Version);
            Assert.Equal(5, h.NBlocks); // 4 full blocks and a leftover of 96 bytes
            Assert.Equal(data, Decode(c));
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Special chunks (header flags)

    [Fact]
    public void Special_zero_nan_uninit_chunks_decode()
    {
        byte[] zeros = Blosc2Header(5, 0x05, 4, 4000, 4000, 32, blosc2Flags: 0x10);
        Assert.Equal(new byte[4000], Decode(zeros));

        byte[] nan4 = Blosc2Header(5, 0x05, 4, 400, 400, 32, blosc2Flags: 0x20);
        byte[] d4 = Decode(nan4);
        for (int i = 0; i < 400; i += 4)
            Assert.Equal(0x7FC00000u, BinaryPrimitives.ReadUInt32LittleEndian(d4.AsSpan(i)));

        byte[] nan8 = Blosc2Header(5, 0x05, 8, 800, 800, 32, blosc2Flags: 0x20);
        byte[] d8 = Decode(nan8);
        for (int i = 0; i < 800; i += 8)
            Assert.Equal(0x7FF8000000000000UL, BinaryPrimitives.ReadUInt64LittleEndian(d8.AsSpan(i)));

        byte[] uninit = Blosc2Header(5, 0x05, 2, 64, 64, 32, blosc2Flags: 0x40);
        Assert.Equal(ChunkFormat.SpecialUninit, Parse(uninit).SpecialType);
        Assert.Equal(64, Decode(uninit).Length);

        // NaN is only defined for 4- and 8-byte items
        var e = Assert.Throws<MLArrayFormatException>(() => Parse(Blosc2Header(5, 0x05, 2, 64, 64, 32, blosc2Flags: 0x20)));
        Assert.Contains("test-chunk", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1, new byte[] { 0x42 })]
    [InlineData(4, new byte[] { 1, 2, 3, 4 })]
    [InlineData(8, new byte[] { 0, 0, 0, 0, 0, 0, 0xF0, 0x3F })]
    [InlineData(1, new byte[] { 9, 8, 7 })] // the value width comes from cbytes, not from the typesize
    public void Repeated_value_special_chunk_decodes(int typesize, byte[] value)
    {
        int nbytes = value.Length * 50;
        byte[] c = [.. Blosc2Header(5, 0x05, typesize, nbytes, nbytes, 32 + value.Length, blosc2Flags: 0x30), .. value];
        var h = Parse(c);
        Assert.Equal(ChunkFormat.SpecialValue, h.SpecialType);
        byte[] expected = Enumerable.Repeat(value, 50).SelectMany(v => v).ToArray();
        Assert.Equal(expected, Decode(c));
        // a part starting mid-value keeps the phase
        var part = new byte[nbytes - 1];
        ChunkDecoder.FillSpecial(c, h, part, 1);
        Assert.Equal(expected[1..], part);

        // a value that does not tile nbytes is corrupt
        byte[] bad = [.. Blosc2Header(5, 0x05, typesize, nbytes + 1, nbytes + 1, 32 + value.Length, blosc2Flags: 0x30), .. value];
        if (value.Length > 1)
            Assert.Throws<MLArrayFormatException>(() => Parse(bad));
        Assert.Throws<MLArrayFormatException>(() => Parse(Blosc2Header(5, 0x05, typesize, nbytes, nbytes, 32, blosc2Flags: 0x30)));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Dictionaries

    [Fact]
    public void Zstd_chunk_with_a_dictionary_decodes()
    {
        // Random bytes: incompressible on their own, so every block only shrinks thanks to the dictionary.
        var dict = new byte[4096];
        new Random(5).NextBytes(dict);
        const int nblocks = 3, blocksize = 1024;
        byte[] data = new byte[nblocks * blocksize];
        for (int b = 0; b < nblocks; b++)
            dict.AsSpan(700 * b + 13, blocksize).CopyTo(data.AsSpan(b * blocksize));
        using var comp = new ZstdSharp.Compressor(3);
        comp.LoadDictionary(dict);
        var streams = Enumerable.Range(0, nblocks).Select(b => comp.Wrap(data.AsSpan(b * blocksize, blocksize)).ToArray()).ToArray();
        Assert.All(streams, s => Assert.True(s.Length < 100, $"stream of {s.Length} bytes: the dictionary was not used"));

        byte[] c = BuildDictChunk(0x95, 1, data.Length, blocksize, dict, streams);
        var h = Parse(c);
        Assert.Equal(dict.Length, h.DictSize);
        Assert.Equal(32 + 4 * nblocks + 4, h.DictOffset);
        Assert.Equal(data, Decode(c));

        // without the dictionary flag the streams do not decode
        c[31] &= 0xFE;
        Assert.Throws<MLArrayFormatException>(() => Decode(c));
    }

    [Fact]
    public void Lz4_chunk_with_a_dictionary_decodes()
    {
        // K4os.Compression.LZ4 1.3.8 has no dictionary overload of LZ4Codec.Encode, so the LZ4 block is built by hand:
        // one sequence with no literals and an 18-byte match 20 bytes back (inside the dictionary), then 14 literals.
        output.WriteLine("LZ4Codec.Encode has no dictionary overload in K4os.Compression.LZ4 1.3.8: the LZ4 stream is hand-built.");
        byte[] dict = Enumerable.Range(0, 64).Select(i => (byte)(100 + i)).ToArray();
        byte[] literals = Enumerable.Range(0, 14).Select(i => (byte)(200 + i)).ToArray();
        byte[] stream = [0x0E, 20, 0, 0xE0, .. literals]; // token(lit 0, match 18-4=14), offset 20 LE, token(lit 14)
        byte[] expected = [.. dict[44..62], .. literals];
        Assert.Equal(32, expected.Length);
        // sanity: the stream only decodes with the dictionary
        var probe = new byte[32];
        Assert.Equal(32, LZ4Codec.Decode(stream, probe, dict));
        Assert.Equal(expected, probe);

        byte[] c = BuildDictChunk(0x35, 1, 32, 32, dict, [stream]);
        Assert.Equal(expected, Decode(c));
        c[31] &= 0xFE;
        Assert.Throws<MLArrayFormatException>(() => Decode(c));
    }

    [Fact]
    public void Dictionary_chunk_with_a_bad_dictionary_size_is_rejected()
    {
        byte[] dict = new byte[16];
        byte[] literalsOnly = [0xF0, 0x11, .. new byte[16]];
        byte[] c = BuildDictChunk(0x35, 1, 32, 32, dict, [literalsOnly]);
        foreach (int size in new[] { 0, -1, 1 << 20 })
        {
            byte[] bad = (byte[])c.Clone();
            BinaryPrimitives.WriteInt32LittleEndian(bad.AsSpan(36), size);
            Assert.Throws<MLArrayFormatException>(() => Parse(bad));
        }
        byte[] zlib = (byte[])c.Clone();
        zlib[2] = 0x75; // zlib has no dictionary support
        Assert.Throws<MLArrayNotSupportedException>(() => Parse(zlib));
    }

    /// <summary>header | bstarts | int32 dict size | dict | per block one stream (int32 csize + payload).</summary>
    private static byte[] BuildDictChunk(byte flags, int typesize, int nbytes, int blocksize, byte[] dict, byte[][] streams)
    {
        var c = new List<byte>(Blosc2Header(5, flags, typesize, nbytes, blocksize, 0, udcodec: (byte)(flags >> 5 == 4 ? 5 : 1), blosc2Flags: 0x01));
        c.AddRange(new byte[4 * streams.Length]);
        var len = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(len, dict.Length);
        c.AddRange(len);
        c.AddRange(dict);
        for (int b = 0; b < streams.Length; b++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(c).Slice(32 + 4 * b), c.Count);
            BinaryPrimitives.WriteInt32LittleEndian(len, streams[b].Length);
            c.AddRange(len);
            c.AddRange(streams[b]);
        }
        byte[] r = [.. c];
        SetCBytes(r);
        return r;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Stream layouts

    [Theory]
    [InlineData(Blosc2Codec.LZ4, false)]
    [InlineData(Blosc2Codec.Zstd, true)]
    [InlineData(Blosc2Codec.BloscLZ, true)]
    public void Block_streams_in_any_physical_order_decode(Blosc2Codec codec, bool delta)
    {
        byte[] data = Pattern(16 * 512, 11);
        var rng = new Random(3);
        for (int i = 0; i < data.Length; i += 37)
            data[i] = (byte)rng.Next(256);
        var p = new CompressionParams
        {
            Codec = codec,
            CLevel = 5,
            Filters = delta ? CompressionParams.Pipeline(Blosc2Filter.Delta, Blosc2Filter.Shuffle) : CompressionParams.Pipeline(Blosc2Filter.Shuffle),
            SplitMode = Blosc2SplitMode.Always,
        };
        var buf = new byte[ChunkEncoder.MaxChunkSize(data.Length)];
        using var ctx = new CodecContext();
        int n = ChunkEncoder.Compress(data, 4, 512, p, buf, ctx);
        byte[] c = buf[..n];
        var h = Parse(c);
        Assert.Equal(16, h.NBlocks);
        Assert.False(h.IsMemcpyed);

        // Extents from the sorted bstarts (spec §5.2), then lay the blocks out in a scrambled order.
        int[] bstarts = Enumerable.Range(0, 16).Select(b => BinaryPrimitives.ReadInt32LittleEndian(c.AsSpan(32 + 4 * b))).ToArray();
        int[] sorted = bstarts.Order().ToArray();
        int End(int start) => Array.IndexOf(sorted, start) + 1 < sorted.Length ? sorted[Array.IndexOf(sorted, start) + 1] : n;
        int[] order = Enumerable.Range(0, 16).OrderBy(_ => rng.Next()).ToArray();
        var scrambled = new List<byte>(c[..(32 + 4 * 16)]);
        var newStarts = new int[16];
        foreach (int b in order)
        {
            newStarts[b] = scrambled.Count;
            scrambled.AddRange(c[bstarts[b]..End(bstarts[b])]);
        }
        byte[] s = [.. scrambled];
        for (int b = 0; b < 16; b++)
            BinaryPrimitives.WriteInt32LittleEndian(s.AsSpan(32 + 4 * b), newStarts[b]);
        Assert.Equal(n, s.Length);
        Assert.Contains(Enumerable.Range(1, 15), b => newStarts[b] < newStarts[b - 1]); // really not increasing
        Assert.Equal(data, Decode(s));

        // block by block too (DELTA blocks need the decoded block 0)
        var hs = Parse(s);
        var block0 = new byte[512];
        ChunkDecoder.DecodeBlock(s, hs, 0, block0, default, ctx, Where);
        var one = new byte[512];
        foreach (int b in new[] { 15, 3, 0, 9 })
        {
            ChunkDecoder.DecodeBlock(s, hs, b, one, block0, ctx, Where);
            Assert.Equal(data[(b * 512)..((b + 1) * 512)], one);
        }
    }

    [Fact]
    public void Run_length_zero_raw_and_compressed_streams_decode()
    {
        const int typesize = 4, bsize = 256, neblock = bsize / typesize;
        byte[] plane0 = Enumerable.Repeat((byte)0x07, neblock).ToArray();                           // run of 0x07
        byte[] plane1 = new byte[neblock];                                                           // zeros
        byte[] plane2 = Enumerable.Range(0, neblock).Select(i => (byte)(i * 151 % 256)).ToArray(); // stored raw
        byte[] plane3 = Enumerable.Range(0, neblock).Select(i => (byte)(i / 16)).ToArray();        // LZ4
        byte[]? lz = Lz4(plane3);
        Assert.NotNull(lz);
        // the block bytes are the un-shuffled planes
        byte[] shuffled = [.. plane0, .. plane1, .. plane2, .. plane3];
        var expected = new byte[bsize];
        for (int i = 0; i < neblock; i++)
            for (int j = 0; j < typesize; j++)
                expected[i * typesize + j] = shuffled[j * neblock + i];
        Assert.Equal(shuffled, ShuffleRef(expected, typesize));

        var c = new List<byte>(Blosc2Header(5, 0x25, typesize, bsize, bsize, 0, CompressionParams.Pipeline(Blosc2Filter.Shuffle).Select(f => (byte)f).ToArray(), udcodec: 1));
        c.AddRange(BitConverter.GetBytes(36));
        c.AddRange(BitConverter.GetBytes(-7)); c.Add(0x01);                  // run-length: 0x07 repeated, token bit 0
        c.AddRange(BitConverter.GetBytes(0));                                 // zero stream
        c.AddRange(BitConverter.GetBytes(neblock)); c.AddRange(plane2);       // raw
        c.AddRange(BitConverter.GetBytes(lz!.Length)); c.AddRange(lz);        // compressed
        byte[] chunk = [.. c];
        SetCBytes(chunk);
        Assert.Equal(expected, Decode(chunk));

        // other token bits are reserved
        byte[] bad = (byte[])chunk.Clone();
        bad[36 + 4] = 0x02;
        var e = Assert.Throws<MLArrayFormatException>(() => Decode(bad));
        Assert.Contains("token", e.Message, StringComparison.Ordinal);
        Assert.Contains("test-chunk", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Vl_blocks_chunk_is_not_supported_and_lazy_chunk_is_corrupt()
    {
        byte[] data = Pattern(512, 2);
        var buf = new byte[ChunkEncoder.MaxChunkSize(data.Length)];
        using var ctx = new CodecContext();
        int n = ChunkEncoder.Compress(data, 4, 256, new CompressionParams { Codec = Blosc2Codec.LZ4 }, buf, ctx);
        byte[] c = buf[..n];

        byte[] vl = (byte[])c.Clone();
        vl[0] = 6;
        vl[30] |= 0x01;
        var e1 = Assert.Throws<MLArrayNotSupportedException>(() => Parse(vl));
        Assert.Contains("variable-length blocks", e1.Message, StringComparison.Ordinal);
        Assert.Contains("test-chunk", e1.Message, StringComparison.Ordinal);

        byte[] lazy = (byte[])c.Clone();
        lazy[31] |= 0x08;
        var e2 = Assert.Throws<MLArrayFormatException>(() => Parse(lazy));
        Assert.Contains("lazy", e2.Message, StringComparison.Ordinal);

        // version 6 without VL blocks is an ordinary chunk
        byte[] v6 = (byte[])c.Clone();
        v6[0] = 6;
        Assert.Equal(data, Decode(v6));
    }

    // ------------------------------------------------------------------------------------------------------------
    // ChunkEncoder

    private static byte[] Encode(byte[] data, int typesize, int blocksize, CompressionParams p)
    {
        var buf = new byte[ChunkEncoder.MaxChunkSize(data.Length)];
        using var ctx = new CodecContext();
        int n = ChunkEncoder.Compress(data, typesize, blocksize, p, buf, ctx);
        return buf[..n];
    }

    [Theory]
    [InlineData(Blosc2Codec.LZ4, 0, 4096)]
    [InlineData(Blosc2Codec.Zstd, 0, 100)]
    [InlineData(Blosc2Codec.Zstd, 9, 31)]
    [InlineData(Blosc2Codec.BloscLZ, 5, 1)]
    [InlineData(Blosc2Codec.Zlib, 1, 0)]
    public void Encoder_writes_memcpyed_chunks_for_clevel_0_and_small_buffers(Blosc2Codec codec, int clevel, int nbytes)
    {
        byte[] data = Pattern(nbytes, 4);
        var p = new CompressionParams { Codec = codec, CLevel = clevel, Filters = CompressionParams.Pipeline(Blosc2Filter.Delta, Blosc2Filter.Shuffle) };
        byte[] c = Encode(data, 4, 0, p);
        Assert.Equal(5, c[0]);
        Assert.Equal(0x07, c[2]);                      // codec and split bits all 0 (decided before compressing)
        Assert.Equal(nbytes + 32, BinaryPrimitives.ReadInt32LittleEndian(c.AsSpan(12)));
        Assert.Equal(p.Filters.Select(f => (byte)f), c[16..22]); // filters still recorded
        Assert.Equal(data, c[32..]);                   // and not applied
        Assert.Equal(data, Decode(c));
    }

    [Theory]
    [InlineData(Blosc2Codec.BloscLZ, 5, 4)]
    [InlineData(Blosc2Codec.LZ4, 5, 4)]
    [InlineData(Blosc2Codec.LZ4HC, 8, 4)]
    [InlineData(Blosc2Codec.Zlib, 6, 2)]
    [InlineData(Blosc2Codec.Zstd, 3, 8)]
    [InlineData(Blosc2Codec.Zstd, 9, 4)]
    public void Encoder_falls_back_to_memcpyed_keeping_the_codec_bits_for_incompressible_data(Blosc2Codec codec, int clevel, int typesize)
    {
        var data = new byte[1 << 15];
        new Random(77).NextBytes(data);
        var p = new CompressionParams { Codec = codec, CLevel = clevel };
        byte[] c = Encode(data, typesize, 8192, p);
        bool split = ExpectedSplit(p, typesize, 8192);
        byte expectedFlags = (byte)(0x05 | (split ? 0 : 0x10) | (ChunkFormat.CodecFormatOf(codec) << 5) | 0x02);
        Assert.Equal(expectedFlags, c[2]);
        Assert.Equal(data.Length + 32, c.Length);
        Assert.Equal(data, Decode(c));
    }

    [Theory]
    [InlineData(Blosc2Codec.LZ4, 4, 0x25)]
    [InlineData(Blosc2Codec.LZ4HC, 4, 0x35)]
    [InlineData(Blosc2Codec.Zstd, 8, 0x85)]
    [InlineData(Blosc2Codec.BloscLZ, 2, 0x05)]
    [InlineData(Blosc2Codec.Zlib, 1, 0x75)]
    public void Encoder_turns_all_zero_data_into_a_special_zeros_chunk(Blosc2Codec codec, int typesize, byte flags)
    {
        var data = new byte[16384];
        byte[] c = Encode(data, typesize, 4096, new CompressionParams { Codec = codec, CLevel = 5 });
        Assert.Equal(32, c.Length);
        Assert.Equal(32, BinaryPrimitives.ReadInt32LittleEndian(c.AsSpan(12)));
        Assert.Equal(0x10, c[31]);
        Assert.Equal(flags, c[2]); // the flags byte as computed for compression
        Assert.Equal(ChunkFormat.SpecialZeros, Parse(c).SpecialType);
        Assert.Equal(data, Decode(c));
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(4, true)]
    [InlineData(8, false)]
    public void Encoder_writes_constant_bytes_as_run_length_streams(int typesize, bool split)
    {
        var data = Enumerable.Repeat((byte)0x42, 8192).ToArray();
        var p = new CompressionParams { Codec = Blosc2Codec.LZ4, CLevel = 5, SplitMode = split ? Blosc2SplitMode.Always : Blosc2SplitMode.Never };
        byte[] c = Encode(data, typesize, 2048, p);
        var h = Parse(c);
        Assert.Equal(4, h.NBlocks);
        int nstreams = split ? typesize : 1;
        Assert.Equal(32 + 4 * 4 + 4 * nstreams * 5, c.Length);
        for (int b = 0; b < 4; b++)
        {
            int at = BinaryPrimitives.ReadInt32LittleEndian(c.AsSpan(32 + 4 * b));
            for (int s = 0; s < nstreams; s++, at += 5)
            {
                Assert.Equal(-0x42, BinaryPrimitives.ReadInt32LittleEndian(c.AsSpan(at)));
                Assert.Equal(0x01, c[at + 4]);
            }
        }
        Assert.Equal(data, Decode(c));
    }

    /// <summary>Spec §5.6, restated.</summary>
    private static bool ExpectedSplit(CompressionParams p, int typesize, int blocksize) => p.SplitMode switch
    {
        Blosc2SplitMode.Always => true,
        Blosc2SplitMode.Never => false,
        _ => (p.Codec is Blosc2Codec.BloscLZ or Blosc2Codec.LZ4 || (p.Codec == Blosc2Codec.Zstd && p.CLevel <= 5))
             && p.Filters.Contains(Blosc2Filter.Shuffle) && typesize <= 16 && blocksize / typesize >= 32,
    };

    [Fact]
    public void Split_decision_follows_the_spec_table()
    {
        var pipelines = new[]
        {
            CompressionParams.Pipeline(),
            CompressionParams.Pipeline(Blosc2Filter.Shuffle),
            CompressionParams.Pipeline(Blosc2Filter.BitShuffle),
            CompressionParams.Pipeline(Blosc2Filter.Delta),
            CompressionParams.Pipeline(Blosc2Filter.Delta, Blosc2Filter.Shuffle),
            CompressionParams.Pipeline(Blosc2Filter.Shuffle, Blosc2Filter.Delta),
            CompressionParams.Pipeline(Blosc2Filter.TruncPrec, Blosc2Filter.Shuffle),
        };
        int checkedCases = 0;
        foreach (Blosc2Codec codec in Enum.GetValues<Blosc2Codec>())
            for (int clevel = 0; clevel <= 9; clevel++)
                foreach (var filters in pipelines)
                    foreach (Blosc2SplitMode mode in Enum.GetValues<Blosc2SplitMode>())
                        foreach (int typesize in new[] { 1, 2, 4, 8, 12, 16, 17, 32 })
                            foreach (int items in new[] { 1, 31, 32, 33, 1000 })
                            {
                                var p = new CompressionParams { Codec = codec, CLevel = clevel, Filters = filters, SplitMode = mode };
                                Assert.Equal(ExpectedSplit(p, typesize, items * typesize), ChunkFormat.ShouldSplit(p, typesize, items * typesize));
                                checkedCases++;
                            }
        // a few cases written out
        Assert.True(ChunkFormat.ShouldSplit(new CompressionParams { Codec = Blosc2Codec.Zstd, CLevel = 5 }, 4, 4096));
        Assert.False(ChunkFormat.ShouldSplit(new CompressionParams { Codec = Blosc2Codec.Zstd, CLevel = 6 }, 4, 4096));
        Assert.False(ChunkFormat.ShouldSplit(new CompressionParams { Codec = Blosc2Codec.LZ4HC, CLevel = 1 }, 4, 4096));
        Assert.False(ChunkFormat.ShouldSplit(new CompressionParams { Codec = Blosc2Codec.LZ4, Filters = CompressionParams.Pipeline(Blosc2Filter.BitShuffle) }, 4, 4096));
        Assert.False(ChunkFormat.ShouldSplit(new CompressionParams { Codec = Blosc2Codec.LZ4 }, 4, 124));
        Assert.True(ChunkFormat.ShouldSplit(new CompressionParams { Codec = Blosc2Codec.LZ4 }, 4, 128));
        Assert.False(ChunkFormat.ShouldSplit(new CompressionParams { Codec = Blosc2Codec.LZ4 }, 32, 32 * 64));
        Assert.True(ChunkFormat.ShouldSplit(new CompressionParams { Codec = Blosc2Codec.LZ4HC, SplitMode = Blosc2SplitMode.Always }, 32, 32));
        Assert.False(ChunkFormat.ShouldSplit(new CompressionParams { Codec = Blosc2Codec.LZ4, SplitMode = Blosc2SplitMode.Never }, 4, 4096));
        output.WriteLine($"{checkedCases} split decisions checked");
    }

    [Fact]
    public void Encoder_split_decision_shows_in_the_stream_count()
    {
        byte[] data = Pattern(4096, 8);
        foreach (var (codec, clevel, split) in new[] { (Blosc2Codec.LZ4, 5, true), (Blosc2Codec.LZ4HC, 5, false), (Blosc2Codec.Zstd, 5, true), (Blosc2Codec.Zstd, 6, false) })
        {
            byte[] c = Encode(data, 4, 1024, new CompressionParams { Codec = codec, CLevel = clevel });
            var h = Parse(c);
            Assert.Equal(!split, h.DontSplit);
            Assert.Equal(data, Decode(c));
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Flags byte of the encoder vs the C-Blosc2 corpus

    [Theory]
    [InlineData("f4_3d_lz4_shuffle.mla", 0x25)]
    [InlineData("f4_3d_lz4hc_shuffle.mla", 0x35)]
    [InlineData("f4_3d_zstd_shuffle.mla", 0x85)]
    [InlineData("f4_3d_zstd9_shuffle.mla", 0x95)]
    [InlineData("f4_3d_zlib_shuffle.mla", 0x75)]
    [InlineData("f4_3d_blosclz_shuffle.mla", 0x05)]
    [InlineData("f4_3d_blosclz_delta-shuffle.mla", 0x0D)]
    [InlineData("f4_3d_zstd_delta-shuffle.mla", 0x8D)]
    [InlineData("f4_3d_lz4_delta-shuffle.mla", 0x2D)]
    [InlineData("f4_3d_lz4_bitshuffle.mla", 0x35)]
    [InlineData("f4_3d_lz4hc_shuffle_alwayssplit.mla", 0x25)]
    [InlineData("f4_3d_lz4_shuffle_neversplit.mla", 0x35)]
    [InlineData("f4_3d_zlib_trunc_prec-shuffle.mla", 0x75)]
    [InlineData("i8_1d_blosclz_delta.mla", 0x1D)]
    [InlineData("u1_1d_zstd_shuffle.mla", 0x85)]
    [InlineData("dtype_b1_2d_zstd_bitshuffle.mla", 0x95)]
    public void Encoder_flags_byte_matches_the_C_Blosc2_corpus_chunk(string file, int expectedFlags)
    {
        using var a = B2ndArray.Open(TestData.Blosc2(file));
        byte[] buffer = [];
        var chunk = a.Frame.ReadChunk(0, ref buffer, out var where).ToArray();
        Assert.Equal(expectedFlags, chunk[2]); // what C-Blosc2 wrote

        var h = ChunkHeader.Parse(chunk, where);
        var raw = new byte[h.NBytes];
        using var ctx = new CodecContext();
        ChunkDecoder.Decompress(chunk, h, raw, ctx, where);
        var p = new CompressionParams
        {
            Codec = a.Codec,
            CLevel = a.CLevel,
            Filters = Enumerable.Range(0, 6).Select(h.Filter).ToArray(),
            FiltersMeta = Enumerable.Range(0, 6).Select(h.FilterMeta).ToArray(),
            SplitMode = a.SplitMode,
        };
        byte[] ours = Encode(raw, h.TypeSize, h.BlockSize, p);
        Assert.Equal(expectedFlags, ours[2]);
        Assert.Equal(chunk[16..22], ours[16..22]);   // filters
        Assert.Equal(chunk[24..30], ours[24..30]);   // filters meta
        Assert.Equal(chunk[3], ours[3]);             // typesize
        Assert.Equal(chunk[4..12], ours[4..12]);     // nbytes, blocksize
        if (!p.Filters.Contains(Blosc2Filter.TruncPrec))
            Assert.Equal(raw, Decode(ours));
    }
}
