using System.Buffers.Binary;
using MLArray.Blosc2.Codecs;
using MLArray.Blosc2.Filters;

namespace MLArray.Blosc2.Format;

/// <summary>Compresses buffers into Blosc2 chunks (spec §5.5).</summary>
internal static class ChunkEncoder
{
    /// <summary>Largest possible chunk for <paramref name="nbytes"/> of input (a memcpyed chunk).</summary>
    public static int MaxChunkSize(int nbytes) => nbytes + ChunkFormat.ExtendedHeaderLength;

    /// <summary>
    /// Compresses <paramref name="src"/> into <paramref name="dst"/> (at least <see cref="MaxChunkSize"/> bytes).
    /// <paramref name="blocksize"/> is the block size in bytes (b2nd: prod(blockshape)·typesize; ≤ 0 = automatic).
    /// Returns the chunk size (cbytes). A chunk whose data is all zeros comes back as a 32-byte special-zeros chunk.
    /// </summary>
    public static int Compress(ReadOnlySpan<byte> src, int typesize, int blocksize, CompressionParams p, Span<byte> dst, CodecContext ctx)
    {
        int nbytes = src.Length;
        if (dst.Length < MaxChunkSize(nbytes))
            throw new ArgumentException("destination too small for a chunk", nameof(dst));
        int headerTypesize = typesize is > 0 and <= 255 ? typesize : 1;
        if (blocksize <= 0)
            blocksize = AutoBlockSize(nbytes, headerTypesize);
        if (blocksize > nbytes)
            blocksize = Math.Max(nbytes, 0);

        if (p.CLevel == 0 || nbytes < ChunkFormat.MinBufferSize)
            return WriteMemcpyed(src, headerTypesize, blocksize, p, dst, 0x07);

        int codecFormat = ChunkFormat.CodecFormatOf(p.Codec);
        bool split = ChunkFormat.ShouldSplit(p, headerTypesize, blocksize);
        bool hasDelta = false;
        for (int i = 0; i < 6; i++)
            hasDelta |= p.Filters[i] == Blosc2Filter.Delta;
        byte flags = (byte)(0x05 | (split ? 0 : ChunkFormat.FlagDontSplit) | (codecFormat << 5) | (hasDelta ? ChunkFormat.FlagDelta : 0));

        int nblocks = (nbytes + blocksize - 1) / blocksize;
        int limit = nbytes + ChunkFormat.ExtendedHeaderLength;
        int pos = ChunkFormat.ExtendedHeaderLength + 4 * nblocks;
        if (pos > limit)
            return WriteMemcpyed(src, headerTypesize, blocksize, p, dst, (byte)(flags | ChunkFormat.FlagMemcpyed));

        bool allZero = true;
        byte[] bufA = ctx.EncoderScratch1(blocksize);
        byte[] bufB = ctx.EncoderScratch2(blocksize);
        for (int b = 0; b < nblocks; b++)
        {
            int bstart = b * blocksize;
            int bsize = Math.Min(blocksize, nbytes - bstart);
            var block = src.Slice(bstart, bsize);
            ReadOnlySpan<byte> cur = block;
            Span<byte> next = bufA.AsSpan(0, bsize);
            Span<byte> spare = bufB.AsSpan(0, bsize);
            for (int i = 0; i < 6; i++)
            {
                var f = p.Filters[i];
                switch (f)
                {
                    case Blosc2Filter.None:
                        continue;
                    case Blosc2Filter.Shuffle:
                        {
                            int w = p.FiltersMeta[i] != 0 ? p.FiltersMeta[i] : headerTypesize;
                            if (w <= 1) continue;
                            Shuffle.Forward(w, cur, next);
                            break;
                        }
                    case Blosc2Filter.BitShuffle:
                        BitShuffle.Forward(headerTypesize, cur, next);
                        break;
                    case Blosc2Filter.Delta:
                        // C-Blosc2 uses the chunk's original first block as reference (and for block 0 itself).
                        if (b == 0)
                            Delta.Encode(block, block, next, headerTypesize, isFirstBlock: true);
                        else
                            Delta.Encode(src[..blocksize], cur, next, headerTypesize, isFirstBlock: false);
                        break;
                    case Blosc2Filter.TruncPrec:
                        if (!TruncPrec.TryApply(unchecked((sbyte)p.FiltersMeta[i]), headerTypesize, cur, next))
                            throw new ArgumentException($"trunc_prec with precision {(sbyte)p.FiltersMeta[i]} cannot be applied to items of {headerTypesize} bytes (only float32/float64, and fewer bits than the mantissa).");
                        break;
                }
                cur = next;
                var t = next;
                next = spare;
                spare = t;
            }

            BinaryPrimitives.WriteInt32LittleEndian(dst.Slice(ChunkFormat.ExtendedHeaderLength + 4 * b), pos);
            bool leftover = bsize != blocksize;
            int nstreams = split && !leftover ? headerTypesize : 1;
            int neblock = bsize / nstreams;
            for (int s = 0; s < nstreams; s++)
            {
                var stream = cur.Slice(s * neblock, neblock);
                if (pos + 4 > limit)
                    return WriteMemcpyed(src, headerTypesize, blocksize, p, dst, (byte)(flags | ChunkFormat.FlagMemcpyed));
                int first = stream[0];
                if (stream.IndexOfAnyExcept((byte)first) < 0)
                {
                    if (first == 0)
                    {
                        BinaryPrimitives.WriteInt32LittleEndian(dst.Slice(pos), 0);
                        pos += 4;
                        continue;
                    }
                    if (pos + 5 > limit)
                        return WriteMemcpyed(src, headerTypesize, blocksize, p, dst, (byte)(flags | ChunkFormat.FlagMemcpyed));
                    BinaryPrimitives.WriteInt32LittleEndian(dst.Slice(pos), -first);
                    dst[pos + 4] = 0x01;
                    pos += 5;
                    allZero = false;
                    continue;
                }
                allZero = false;
                int room = limit - pos - 4;
                int csize = room > 0 ? ctx.Encode(p.Codec, p.CLevel, stream, dst.Slice(pos + 4, Math.Min(room, neblock))) : 0;
                if (csize == 0)
                {
                    if (neblock > room)
                        return WriteMemcpyed(src, headerTypesize, blocksize, p, dst, (byte)(flags | ChunkFormat.FlagMemcpyed));
                    stream.CopyTo(dst.Slice(pos + 4));
                    csize = neblock;
                }
                BinaryPrimitives.WriteInt32LittleEndian(dst.Slice(pos), csize);
                pos += 4 + csize;
            }
        }

        if (allZero)
        {
            WriteHeader(dst, flags, headerTypesize, nbytes, blocksize, ChunkFormat.ExtendedHeaderLength, p, (byte)(ChunkFormat.SpecialZeros << 4));
            return ChunkFormat.ExtendedHeaderLength;
        }
        WriteHeader(dst, flags, headerTypesize, nbytes, blocksize, pos, p, 0);
        return pos;
    }

    /// <summary>Writes a 32-byte special chunk (zeros, NaN or uninitialised) for <paramref name="nbytes"/> bytes.</summary>
    public static int WriteSpecial(Span<byte> dst, int special, int typesize, int nbytes)
    {
        dst[..ChunkFormat.ExtendedHeaderLength].Clear();
        dst[0] = 5;
        dst[1] = 1;
        dst[2] = 0x05;
        dst[3] = (byte)(typesize is > 0 and <= 255 ? typesize : 1);
        BinaryPrimitives.WriteInt32LittleEndian(dst[4..], nbytes);
        BinaryPrimitives.WriteInt32LittleEndian(dst[8..], nbytes);
        BinaryPrimitives.WriteInt32LittleEndian(dst[12..], ChunkFormat.ExtendedHeaderLength);
        dst[31] = (byte)(special << 4);
        return ChunkFormat.ExtendedHeaderLength;
    }

    private static int WriteMemcpyed(ReadOnlySpan<byte> src, int typesize, int blocksize, CompressionParams p, Span<byte> dst, byte flags)
    {
        int cbytes = src.Length + ChunkFormat.ExtendedHeaderLength;
        WriteHeader(dst, flags, typesize, src.Length, blocksize, cbytes, p, 0);
        src.CopyTo(dst[ChunkFormat.ExtendedHeaderLength..]);
        return cbytes;
    }

    private static void WriteHeader(Span<byte> dst, byte flags, int typesize, int nbytes, int blocksize, int cbytes, CompressionParams p, byte blosc2Flags)
    {
        dst[0] = 5; // Blosc2 stable format
        dst[1] = 1; // codec format version
        dst[2] = flags;
        dst[3] = (byte)typesize;
        BinaryPrimitives.WriteInt32LittleEndian(dst[4..], nbytes);
        BinaryPrimitives.WriteInt32LittleEndian(dst[8..], blocksize);
        BinaryPrimitives.WriteInt32LittleEndian(dst[12..], cbytes);
        for (int i = 0; i < 6; i++)
        {
            dst[16 + i] = (byte)p.Filters[i];
            dst[24 + i] = p.FiltersMeta[i];
        }
        dst[22] = (byte)p.Codec;
        dst[23] = 0;
        dst[30] = 0;
        dst[31] = blosc2Flags;
    }

    /// <summary>Block size used when none is imposed (vlmeta values, the offsets index).</summary>
    public static int AutoBlockSize(int nbytes, int typesize)
    {
        const int Max = 256 * 1024;
        if (nbytes <= Max)
            return nbytes;
        int bs = Max - Max % Math.Max(typesize, 1);
        return bs;
    }
}
