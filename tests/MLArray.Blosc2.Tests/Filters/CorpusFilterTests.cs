using System.Buffers.Binary;
using System.IO.Compression;
using K4os.Compression.LZ4;
using MLArray.Blosc2.Filters;

namespace MLArray.Blosc2.Tests.Filters;

/// <summary>
/// Known vectors from files written by C-Blosc2 3.3: the first chunk of a frame is parsed by hand, its blocks are
/// decompressed with LZ4 / zstd / zlib and unfiltered with our kernels, and the result is compared with the
/// deterministic generator of the corpus README. The forward pipeline is also checked bit-exactly against the
/// stored (filtered) streams.
/// </summary>
public class CorpusFilterTests
{
    public static TheoryData<string> Files() =>
    [
        "f4_3d_lz4_shuffle.mla",
        "f4_3d_lz4_bitshuffle.mla",
        "f4_3d_lz4_delta-shuffle.mla",
        "f4_3d_lz4_trunc_prec-shuffle.mla",
        "f4_3d_lz4_noshuffle.mla",
        "f4_3d_lz4_shuffle_neversplit.mla",
        "f4_3d_lz4hc_shuffle.mla",
        "f4_3d_lz4hc_shuffle_alwayssplit.mla",
        "f4_3d_lz4hc_delta-shuffle.mla",
        "f4_3d_lz4hc_trunc_prec-shuffle.mla",
        "f4_3d_zlib_bitshuffle.mla",
        "f4_3d_zlib_delta-shuffle.mla",
        "f4_3d_zstd_shuffle.mla",
        "f4_3d_zstd_bitshuffle.mla",
        "f4_3d_zstd_delta-shuffle.mla",
        "f4_3d_zstd9_shuffle.mla",
        "i2_2d_lz4_shuffle.mla",
        "i2_2d_lz4_bitshuffle.mla",
        "i2_2d_lz4_delta-shuffle.mla",
        "u1_1d_lz4_shuffle.mla",
        "u1_1d_lz4_bitshuffle.mla",
        "u1_1d_lz4_delta-shuffle.mla",
        "u1_1d_zstd_bitshuffle.mla",
        "u1_1d_tiny_lz4_shuffle.mla",
        "f8_4d_lz4_shuffle.mla",
        "f8_4d_lz4_bitshuffle.mla",
        "f8_4d_lz4_delta-shuffle.mla",
        "f8_4d_lz4_trunc_prec-shuffle.mla",
        "f8_4d_zstd_bitshuffle.mla",
        "f8_4d_zstd_delta-shuffle.mla",
        "f8_4d_zstd_trunc_prec-shuffle.mla",
        "dtype_u1_2d_lz4_shuffle.mla",
        "dtype_i1_2d_lz4_shuffle.mla",
        "dtype_u2_2d_lz4_shuffle.mla",
        "dtype_i2_2d_lz4_shuffle.mla",
        "dtype_i4_2d_lz4_shuffle.mla",
        "dtype_u8_2d_lz4_shuffle.mla",
        "dtype_i8_2d_lz4_shuffle.mla",
        "dtype_f4_2d_lz4_shuffle.mla",
        "dtype_f8_2d_lz4_shuffle.mla",
        "dtype_b1_2d_lz4_shuffle.mla",
        "dtype_b1_2d_zstd_bitshuffle.mla",
        "mlarray_big_f4_volume_lz4hc8.mla",
    ];

    [Theory]
    [MemberData(nameof(Files))]
    public void First_chunk_unfilters_to_generator_data(string file)
    {
        Manifest meta = Manifest.Load(file);
        byte[] frame = File.ReadAllBytes(Path.Combine(Corpus.Directory, file));
        int headerLen = BinaryPrimitives.ReadInt32BigEndian(frame.AsSpan(11));
        var chunk = new Chunk(frame.AsSpan(headerLen));
        Assert.Equal(meta.ChunkNBytes, chunk.NBytes);

        byte[] expected = meta.ExpectedChunk0(out bool[] valid, chunk.Filters, chunk.FiltersMeta);
        if (chunk.Memcpyed)
        {
            AssertValidEqual(expected, chunk.Raw.ToArray(), valid, 0, file);
            return;
        }

        byte[]? decodedBlock0 = null;
        int checkedFilters = 0;
        for (int b = 0; b < chunk.NBlocks; b++)
        {
            int bsize = Math.Min(chunk.BlockSize, chunk.NBytes - b * chunk.BlockSize);
            byte[] filtered = chunk.DecompressBlock(b, bsize);
            byte[] data = (byte[])filtered.Clone();
            var tmp = new byte[bsize];
            for (int slot = 5; slot >= 0; slot--)
            {
                switch (chunk.Filters[slot])
                {
                    case 0:
                    case 4:   // TRUNC_PREC: nothing to undo
                        break;
                    case 1:
                    {
                        int w = chunk.FiltersMeta[slot] != 0 ? chunk.FiltersMeta[slot] : chunk.TypeSize;
                        Shuffle.Inverse(w, data, tmp);
                        var scalar = new byte[bsize];
                        Shuffle.InverseScalar(w, data, scalar);
                        Assert.Equal(scalar, tmp);
                        (data, tmp) = (tmp, data);
                        checkedFilters++;
                        break;
                    }

                    case 2:
                    {
                        BitShuffle.Inverse(chunk.TypeSize, data, tmp);
                        var scalar = new byte[bsize];
                        BitShuffle.InverseScalar(chunk.TypeSize, data, scalar);
                        Assert.Equal(scalar, tmp);
                        (data, tmp) = (tmp, data);
                        checkedFilters++;
                        break;
                    }

                    case 3:
                        Delta.Decode(decodedBlock0, data, data, chunk.TypeSize, isFirstBlock: b == 0);
                        if (b == 0)
                        {
                            decodedBlock0 = (byte[])data.Clone();
                        }

                        checkedFilters++;
                        break;
                    default:
                        Assert.Fail($"unexpected filter {chunk.Filters[slot]} in {file}");
                        break;
                }
            }

            AssertValidEqual(expected, data, valid, b * chunk.BlockSize, file);

            // Forward pipeline on the expected block (padding = zeros, as b2nd writes it) must reproduce the
            // filtered bytes C-Blosc2 stored.
            byte[] fwd = expected.AsSpan(b * chunk.BlockSize, bsize).ToArray();
            for (int slot = 0; slot < 6; slot++)
            {
                var outBuf = new byte[bsize];
                switch (chunk.Filters[slot])
                {
                    case 0:
                        continue;
                    case 1:
                        Shuffle.Forward(chunk.FiltersMeta[slot] != 0 ? chunk.FiltersMeta[slot] : chunk.TypeSize, fwd, outBuf);
                        break;
                    case 2:
                        BitShuffle.Forward(chunk.TypeSize, fwd, outBuf);
                        break;
                    case 3:
                        // C-Blosc2 references the original (unfiltered) block 0 of the chunk.
                        Delta.Encode(expected.AsSpan(0, chunk.BlockSize), fwd, outBuf, chunk.TypeSize, isFirstBlock: b == 0);
                        break;
                    case 4:
                        // The expected data is already truncated; truncating again must be a no-op.
                        Assert.True(TruncPrec.TryApply((sbyte)chunk.FiltersMeta[slot], chunk.TypeSize, fwd, outBuf));
                        Assert.Equal(fwd, outBuf);
                        break;
                }

                fwd = outBuf;
            }

            Assert.True(filtered.AsSpan().SequenceEqual(fwd), $"{file}: forward pipeline differs from the stored streams in block {b}");
        }

        bool hasFilters = chunk.Filters.Any(f => f is 1 or 2 or 3);
        Assert.True(!hasFilters || checkedFilters > 0);
    }

    [Fact]
    public void Trunc_prec_file_equals_our_truncation_of_generator_data()
    {
        const string file = "f4_3d_lz4_trunc_prec-shuffle.mla";
        Manifest meta = Manifest.Load(file);
        byte[] frame = File.ReadAllBytes(Path.Combine(Corpus.Directory, file));
        var chunk = new Chunk(frame.AsSpan(BinaryPrimitives.ReadInt32BigEndian(frame.AsSpan(11))));
        Assert.Equal(4, chunk.Filters[4]);
        Assert.Equal(10, chunk.FiltersMeta[4]);

        // Walk the chunks section (C-Blosc2 appends chunks in order) and check every chunk.
        int pos = BinaryPrimitives.ReadInt32BigEndian(frame.AsSpan(11));
        bool anyTruncated = false;
        for (int c = 0; c < meta.NChunks; c++)
        {
            chunk = new Chunk(frame.AsSpan(pos));
            pos += BinaryPrimitives.ReadInt32LittleEndian(frame.AsSpan(pos + 12));
            byte[] gen = meta.ExpectedChunk(c, out bool[] valid, new byte[6], new byte[6]);   // untruncated
            var truncated = new byte[gen.Length];
            Assert.True(TruncPrec.TryApply(10, 4, gen, truncated));
            anyTruncated |= !gen.AsSpan().SequenceEqual(truncated);

            for (int b = 0; b < chunk.NBlocks; b++)
            {
                byte[] block = chunk.DecompressBlock(b, chunk.BlockSize);
                var unshuffled = new byte[chunk.BlockSize];
                Shuffle.Inverse(4, block, unshuffled);
                AssertValidEqual(truncated, unshuffled, valid, b * chunk.BlockSize, $"{file} chunk {c}");
                for (int i = 0; i < chunk.BlockSize; i += 4)
                {
                    Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(unshuffled.AsSpan(i)) & 0x1FFFu);
                }
            }
        }

        Assert.True(anyTruncated, "the data should contain values needing more than 10 mantissa bits");
    }

    private static void AssertValidEqual(byte[] expected, byte[] actual, bool[] valid, int offset, string file)
    {
        for (int i = 0; i < actual.Length; i++)
        {
            if (valid[offset + i] && expected[offset + i] != actual[i])
            {
                Assert.Fail($"{file}: byte {offset + i} of the chunk is {actual[i]}, expected {expected[offset + i]}");
            }
        }
    }

    /// <summary>Minimal Blosc2 chunk parser (spec §5) for the tests.</summary>
    private sealed class Chunk
    {
        private readonly byte[] bytes;

        public Chunk(ReadOnlySpan<byte> data)
        {
            int cbytes = BinaryPrimitives.ReadInt32LittleEndian(data[12..]);
            bytes = data[..cbytes].ToArray();
            Flags = bytes[2];
            TypeSize = bytes[3];
            NBytes = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4));
            BlockSize = Math.Min(BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8)), NBytes);
            Filters = bytes.AsSpan(16, 6).ToArray();
            FiltersMeta = bytes.AsSpan(24, 6).ToArray();
            Assert.True(bytes[0] >= 3, "Blosc2 chunk expected");
            Assert.Equal(0, bytes[31] & 0x71);   // no dictionary, not special
        }

        public int Flags { get; }

        public int TypeSize { get; }

        public int NBytes { get; }

        public int BlockSize { get; }

        public byte[] Filters { get; }

        public byte[] FiltersMeta { get; }

        public bool Memcpyed => (Flags & 0x02) != 0;

        public ReadOnlySpan<byte> Raw => bytes.AsSpan(32, NBytes);

        public int NBlocks => (NBytes + BlockSize - 1) / BlockSize;

        public byte[] DecompressBlock(int b, int bsize)
        {
            bool leftover = bsize < BlockSize;
            int nstreams = (Flags & 0x10) != 0 || leftover ? 1 : TypeSize;
            int neblock = bsize / nstreams;
            var output = new byte[bsize];
            int pos = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(32 + 4 * b));
            for (int s = 0; s < nstreams; s++)
            {
                Span<byte> dst = output.AsSpan(s * neblock, neblock);
                int csize = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(pos));
                pos += 4;
                if (csize == 0)
                {
                    dst.Clear();
                }
                else if (csize < 0)
                {
                    Assert.Equal(1, bytes[pos] & 1);
                    dst.Fill((byte)-csize);
                    pos += 1;
                }
                else if (csize == neblock)
                {
                    bytes.AsSpan(pos, csize).CopyTo(dst);
                    pos += csize;
                }
                else
                {
                    Decompress(bytes.AsSpan(pos, csize), dst);
                    pos += csize;
                }
            }

            return output;
        }

        private void Decompress(ReadOnlySpan<byte> src, Span<byte> dst)
        {
            switch (Flags >> 5)
            {
                case 1:
                    Assert.Equal(dst.Length, LZ4Codec.Decode(src, dst));
                    break;
                case 3:
                    using (var zs = new ZLibStream(new MemoryStream(src.ToArray()), CompressionMode.Decompress))
                    {
                        zs.ReadExactly(dst);
                    }

                    break;
                case 4:
                    using (var z = new ZstdSharp.Decompressor())
                    {
                        Assert.Equal(dst.Length, z.Unwrap(src, dst));
                    }

                    break;
                default:
                    Assert.Fail($"codec format {Flags >> 5} not supported by the test");
                    break;
            }
        }
    }

    /// <summary>A MANIFEST.tsv row plus the corpus data generator (README "gen").</summary>
    private sealed record Manifest(string Dtype, long[] Shape, int[] ChunkShape, int[] BlockShape)
    {
        private static readonly string[] DtypeOrder = ["|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8", "<f4", "<f8", "|b1"];

        public int TypeSize => int.Parse(Dtype[2..], System.Globalization.CultureInfo.InvariantCulture);

        public int[] ExtChunkShape => ChunkShape.Select((c, d) => (c + BlockShape[d] - 1) / BlockShape[d] * BlockShape[d]).ToArray();

        public int ChunkNBytes => ExtChunkShape.Aggregate(1, (a, b) => a * b) * TypeSize;

        public static Manifest Load(string file)
        {
            string line = File.ReadLines(Path.Combine(Corpus.Directory, "MANIFEST.tsv"))
                .Single(l => l.StartsWith(file + "\t", StringComparison.Ordinal));
            string[] f = line.Split('\t');
            Assert.DoesNotContain("HARNESS_FILL", f[8], StringComparison.Ordinal);   // default "gen" fill
            static int[] Ints(string s) => s.Split(',').Select(x => int.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            return new Manifest(f[1], Ints(f[2]).Select(x => (long)x).ToArray(), Ints(f[3]), Ints(f[4]));
        }

        private static ulong SplitMix64(ulong z)
        {
            z += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        private void WriteItem(ulong i, Span<byte> dst)
        {
            ulong d = (ulong)Array.IndexOf(DtypeOrder, Dtype);
            ulong r = SplitMix64(0x243F6A8885A308D3UL + d + i);
            ulong noise = r >> 61;
            ulong t = (i >> 2) + noise;
            switch (Dtype)
            {
                case "<f4":
                    BinaryPrimitives.WriteSingleLittleEndian(dst, (t % 65536) * 0.25f);
                    break;
                case "<f8":
                    BinaryPrimitives.WriteDoubleLittleEndian(dst, (t % (1UL << 30)) * 0.125);
                    break;
                case "|b1":
                    dst[0] = noise == 0 ? (byte)1 : (byte)0;
                    break;
                default:
                    for (int k = 0; k < dst.Length; k++)
                    {
                        dst[k] = (byte)(t >> (8 * k));
                    }

                    break;
            }
        }

        /// <summary>
        /// A chunk's uncompressed buffer (spec §9 layout: blocks in C order, items in C order inside a block).
        /// Padding is left zero and flagged invalid. A TRUNC_PREC filter in the pipeline is applied by formula.
        /// </summary>
        public byte[] ExpectedChunk0(out bool[] valid, byte[] filters, byte[] filtersMeta) =>
            ExpectedChunk(0, out valid, filters, filtersMeta);

        /// <summary>Number of chunks of the array.</summary>
        public int NChunks => Shape.Select((s, d) => (int)((s + ChunkShape[d] - 1) / ChunkShape[d])).Aggregate(1, (a, b) => a * b);

        /// <summary>Like <see cref="ExpectedChunk0"/> for chunk number <paramref name="chunkIndex"/> (C order).</summary>
        public byte[] ExpectedChunk(int chunkIndex, out bool[] valid, byte[] filters, byte[] filtersMeta)
        {
            int ts = TypeSize;
            int nd = Shape.Length;
            int[] ext = ExtChunkShape;
            int[] nblocks = ext.Select((e, d) => e / BlockShape[d]).ToArray();
            int blockItems = BlockShape.Aggregate(1, (a, b) => a * b);
            int totalBlocks = nblocks.Aggregate(1, (a, b) => a * b);
            var buf = new byte[totalBlocks * blockItems * ts];
            valid = new bool[buf.Length];
            int[] bcoord = new int[nd];
            int[] q = new int[nd];
            int[] ccoord = new int[nd];
            Unravel(chunkIndex, Shape.Select((s, d) => (int)((s + ChunkShape[d] - 1) / ChunkShape[d])).ToArray(), ccoord);
            for (int b = 0; b < totalBlocks; b++)
            {
                Unravel(b, nblocks, bcoord);
                for (int e = 0; e < blockItems; e++)
                {
                    Unravel(e, BlockShape, q);
                    bool inside = true;
                    ulong linear = 0;
                    for (int d = 0; d < nd; d++)
                    {
                        long r = (long)bcoord[d] * BlockShape[d] + q[d];
                        long x = (long)ccoord[d] * ChunkShape[d] + r;
                        inside &= r < ChunkShape[d] && x < Shape[d];
                        linear = linear * (ulong)Shape[d] + (ulong)x;
                    }

                    if (!inside)
                    {
                        continue;
                    }

                    int off = (b * blockItems + e) * ts;
                    WriteItem(linear, buf.AsSpan(off, ts));
                    valid.AsSpan(off, ts).Fill(true);
                }
            }

            for (int slot = 0; slot < 6; slot++)
            {
                if (filters[slot] != 4)
                {
                    continue;
                }

                int p = (sbyte)filtersMeta[slot];
                int mant = ts == 4 ? 23 : 52;
                int zeroed = p >= 0 ? mant - p : -p;
                for (int off = 0; off < buf.Length; off += ts)
                {
                    for (int bit = 0; bit < zeroed; bit++)
                    {
                        buf[off + bit / 8] &= (byte)~(1 << (bit % 8));
                    }
                }
            }

            return buf;
        }

        private static void Unravel(int index, int[] dims, int[] coord)
        {
            for (int d = dims.Length - 1; d >= 0; d--)
            {
                coord[d] = index % dims[d];
                index /= dims[d];
            }
        }
    }

    private static class Corpus
    {
        public static readonly string Directory = Find();

        private static string Find()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "tests", "data", "blosc2");
                if (System.IO.Directory.Exists(candidate))
                {
                    return candidate;
                }
            }

            throw new DirectoryNotFoundException("tests/data/blosc2 not found above " + AppContext.BaseDirectory);
        }
    }
}
