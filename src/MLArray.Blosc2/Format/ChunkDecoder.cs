using System.Buffers.Binary;
using System.Runtime.InteropServices;
using MLArray.Blosc2.Codecs;
using MLArray.Blosc2.Filters;

namespace MLArray.Blosc2.Format;

/// <summary>Decodes Blosc chunks (spec §5): whole chunks or single blocks.</summary>
internal static class ChunkDecoder
{
    /// <summary>Decompresses a whole chunk into <paramref name="dst"/> (exactly nbytes long).</summary>
    public static void Decompress(ReadOnlySpan<byte> chunk, in ChunkHeader h, Span<byte> dst, CodecContext ctx, in ChunkLocation where)
    {
        if (dst.Length != h.NBytes)
            throw new ArgumentException($"destination has {dst.Length} bytes, the chunk holds {h.NBytes}", nameof(dst));
        if (h.IsSpecial)
        {
            FillSpecial(chunk, h, dst);
            return;
        }
        if (h.IsMemcpyed)
        {
            chunk.Slice(h.HeaderLength, h.NBytes).CopyTo(dst);
            return;
        }
        for (int b = 0; b < h.NBlocks; b++)
        {
            int start = b * h.BlockSize;
            DecodeBlock(chunk, h, b, dst.Slice(start, h.BlockBytes(b)), dst[..h.BlockSize], ctx, where);
        }
    }

    /// <summary>Fills <paramref name="dst"/> (any part of the chunk, aligned to the item size) with a special chunk's content.</summary>
    public static void FillSpecial(ReadOnlySpan<byte> chunk, in ChunkHeader h, Span<byte> dst, int startOffset = 0)
    {
        switch (h.SpecialType)
        {
            case ChunkFormat.SpecialZeros:
            case ChunkFormat.SpecialUninit: // undefined contents; we give zeros (deterministic)
                dst.Clear();
                break;
            case ChunkFormat.SpecialNaN:
                FillNaN(h.TypeSize, dst);
                break;
            case ChunkFormat.SpecialValue:
                {
                    var value = chunk.Slice(ChunkFormat.ExtendedHeaderLength, h.CBytes - ChunkFormat.ExtendedHeaderLength);
                    FillRepeated(value, dst, startOffset);
                    break;
                }
        }
    }

    public static void FillNaN(int typesize, Span<byte> dst)
    {
        if (typesize == 4)
            MemoryMarshal.Cast<byte, float>(dst).Fill(BitConverter.Int32BitsToSingle(0x7FC00000));
        else
            MemoryMarshal.Cast<byte, double>(dst).Fill(BitConverter.Int64BitsToDouble(0x7FF8000000000000));
    }

    public static void FillRepeated(ReadOnlySpan<byte> value, Span<byte> dst, int startOffset)
    {
        int w = value.Length;
        int phase = startOffset % w;
        int i = 0;
        while (i < dst.Length && phase != 0)
        {
            dst[i++] = value[phase];
            phase = (phase + 1) % w;
        }
        if (i >= dst.Length) return;
        var rest = dst[i..];
        if (w == 1) { rest.Fill(value[0]); return; }
        int first = Math.Min(w, rest.Length);
        value[..first].CopyTo(rest);
        int filled = first;
        while (filled < rest.Length)
        {
            int n = Math.Min(filled, rest.Length - filled);
            rest[..n].CopyTo(rest[filled..]);
            filled += n;
        }
    }

    /// <summary>
    /// Decodes block <paramref name="block"/> of a regular or memcpyed chunk into <paramref name="dst"/> (BlockBytes(block) long).
    /// For chunks with the DELTA filter and block &gt; 0, <paramref name="block0"/> must hold the decoded block 0.
    /// The chunk span may hold only a window of the chunk as long as it starts at the chunk start and contains the
    /// header, the bstarts and the block's streams.
    /// </summary>
    public static void DecodeBlock(ReadOnlySpan<byte> chunk, in ChunkHeader h, int block, Span<byte> dst, ReadOnlySpan<byte> block0,
        CodecContext ctx, in ChunkLocation where)
    {
        int bsize = h.BlockBytes(block);
        if (h.IsMemcpyed)
        {
            chunk.Slice(h.HeaderLength + block * h.BlockSize, bsize).CopyTo(dst);
            return;
        }
        // Plan the filter pipeline so the last out-of-place filter writes into dst.
        int outOfPlace = 0;
        for (int i = 0; i < 6; i++)
        {
            var f = h.Filter(i);
            if (f == Blosc2Filter.Shuffle && EffectiveShuffleWidth(h, i) > 1) outOfPlace++;
            else if (f == Blosc2Filter.BitShuffle) outOfPlace++;
        }
        Span<byte> scratch = outOfPlace > 0 ? ctx.ScratchA(bsize).AsSpan(0, bsize) : default;
        Span<byte> cur = outOfPlace % 2 == 1 ? scratch : dst;
        Span<byte> other = outOfPlace % 2 == 1 ? dst : scratch;
        DecodeStreams(chunk, h, block, cur, ctx, where);

        // Undo the filters, slot 5 down to 0.
        for (int i = 5; i >= 0; i--)
        {
            switch (h.Filter(i))
            {
                case Blosc2Filter.Shuffle:
                    {
                        int w = EffectiveShuffleWidth(h, i);
                        if (w <= 1) break;
                        Shuffle.Inverse(w, cur, other);
                        Swap(ref cur, ref other);
                        break;
                    }
                case Blosc2Filter.BitShuffle:
                    if (h.Version <= 2 && (bsize / h.TypeSize) % 8 != 0)
                        cur.CopyTo(other); // Blosc1 quirk: such blocks were left unshuffled
                    else
                        BitShuffle.Inverse(h.TypeSize, cur, other);
                    Swap(ref cur, ref other);
                    break;
                case Blosc2Filter.Delta:
                    Delta.Decode(block0, cur, cur, h.TypeSize, block == 0);
                    break;
                default:
                    break; // None, TruncPrec (no inverse)
            }
        }
    }

    /// <summary>
    /// Decodes the codec streams of block <paramref name="block"/> of a regular chunk into <paramref name="cur"/>
    /// (BlockBytes(block) long): the block as the filters left it (e.g. still shuffled), no filter undone.
    /// </summary>
    public static void DecodeStreams(ReadOnlySpan<byte> chunk, in ChunkHeader h, int block, Span<byte> cur, CodecContext ctx, in ChunkLocation where)
    {
        int bsize = h.BlockBytes(block);
        int bstart = BinaryPrimitives.ReadInt32LittleEndian(chunk.Slice(h.HeaderLength + 4 * block));
        int minStart = h.HeaderLength + 4 * h.NBlocks;
        if (bstart < minStart || bstart >= h.CBytes)
            throw ChunkHeader.Corrupt(where, $"block {block} starts at {bstart}, outside the chunk's stream area [{minStart}, {h.CBytes})");
        bool leftover = block == h.NBlocks - 1 && h.NBytes % h.BlockSize != 0;
        int nstreams = h.DontSplit || leftover ? 1 : h.TypeSize;
        if (nstreams > 1 && bsize % nstreams != 0)
            throw ChunkHeader.Corrupt(where, $"block {block} of {bsize} bytes cannot be split into {nstreams} streams");
        int neblock = bsize / nstreams;

        int pos = bstart;
        int limit = Math.Min(h.CBytes, chunk.Length);
        for (int s = 0; s < nstreams; s++)
        {
            var outStream = cur.Slice(s * neblock, neblock);
            if (pos > limit - 4)
                throw ChunkHeader.Corrupt(where, $"stream {s} of block {block} is truncated (its size field at {pos} is past the end)");
            int csize = BinaryPrimitives.ReadInt32LittleEndian(chunk.Slice(pos));
            pos += 4;
            if (csize == 0)
            {
                outStream.Clear();
                continue;
            }
            if (csize < 0)
            {
                if (pos >= limit)
                    throw ChunkHeader.Corrupt(where, $"run-length token of block {block} stream {s} is missing");
                byte token = chunk[pos++];
                if ((token & 0x01) == 0)
                    throw ChunkHeader.Corrupt(where, $"block {block} stream {s} has an unknown token 0x{token:X2}");
                outStream.Fill(unchecked((byte)(-csize)));
                continue;
            }
            if (csize > limit - pos)
                throw ChunkHeader.Corrupt(where, $"block {block} stream {s} declares {csize} compressed bytes but only {limit - pos} remain in the chunk");
            var payload = chunk.Slice(pos, csize);
            pos += csize;
            if (csize == neblock)
            {
                payload.CopyTo(outStream);
                continue;
            }
            bool ok = h.DictOffset != 0
                ? DecodeWithDictionary(h.CodecFormat, payload, outStream, chunk.Slice(h.DictOffset, h.DictSize))
                : ctx.TryDecode(h.CodecFormat, payload, outStream);
            if (!ok)
                throw ChunkHeader.Corrupt(where, $"{ChunkFormat.CodecFormatName(h.CodecFormat)} stream {s} of block {block} ({csize} bytes) does not decode to the declared {neblock} bytes");
        }
    }

    /// <summary>
    /// The element width when the chunk's only reversible filter is a byte shuffle of the item size (the common
    /// layout, e.g. LZ4HC + shuffle), so a block can be unshuffled straight into its destination rows
    /// (<c>Shuffle.InverseRows</c>); 1 when no filter
    /// needs undoing; 0 otherwise (bit shuffle, delta, a shuffle of another width, memcpyed or special chunks).
    /// </summary>
    public static int PlainShuffleWidth(in ChunkHeader h)
    {
        if (h.IsSpecial || h.IsMemcpyed)
            return 0;
        int w = 1;
        for (int i = 0; i < 6; i++)
        {
            switch (h.Filter(i))
            {
                case Blosc2Filter.Shuffle:
                    {
                        int sw = EffectiveShuffleWidth(h, i);
                        if (sw <= 1)
                            break;
                        if (w != 1 || sw != h.TypeSize || h.BlockSize % sw != 0)
                            return 0;
                        w = sw;
                        break;
                    }
                case Blosc2Filter.None:
                case Blosc2Filter.TruncPrec:
                    break;
                default:
                    return 0;
            }
        }
        return w;
    }

    private static int EffectiveShuffleWidth(in ChunkHeader h, int slot)
    {
        int m = h.FilterMeta(slot);
        return m != 0 ? m : h.TypeSize;
    }

    private static void Swap(ref Span<byte> a, ref Span<byte> b)
    {
        var t = a;
        a = b;
        b = t;
    }

    private static bool DecodeWithDictionary(int codecFormat, ReadOnlySpan<byte> src, Span<byte> dst, ReadOnlySpan<byte> dict)
    {
        try
        {
            if (codecFormat == ChunkFormat.CodecFormatLz4)
                return Lz4Block.IsWellFormed(src, dst.Length, dict.Length) && K4os.Compression.LZ4.LZ4Codec.Decode(src, dst, dict) == dst.Length;
            using var d = new ZstdSharp.Decompressor();
            d.LoadDictionary(dict);
            return d.TryUnwrap(src, dst, out int written) && written == dst.Length;
        }
        catch (Exception e) when (e is ZstdSharp.ZstdException or ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }
}
