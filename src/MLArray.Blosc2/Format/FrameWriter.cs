using System.Buffers.Binary;
using MLArray.Blosc2.Codecs;

namespace MLArray.Blosc2.Format;

/// <summary>Builds the byte layout of frame headers, offsets indexes and trailers (spec §2–§4, §15).</summary>
internal static class FrameLayout
{
    /// <summary>Special offset for an all-zeros chunk.</summary>
    public const long SpecialZerosOffset = unchecked((long)0x8100000000000000UL);

    /// <summary>Parameters that C-Blosc2 uses for the offsets index chunk.</summary>
    public static readonly CompressionParams IndexParams = new()
    {
        Codec = Blosc2Codec.BloscLZ,
        CLevel = 5,
        Filters = CompressionParams.Pipeline(Blosc2Filter.Shuffle),
        SplitMode = Blosc2SplitMode.Never,
    };

    /// <summary>Parameters python-blosc2 uses for vlmeta values (ZSTD 5, typesize 1).</summary>
    public static readonly CompressionParams VlMetaParams = new()
    {
        Codec = Blosc2Codec.Zstd,
        CLevel = 5,
        Filters = CompressionParams.Pipeline(Blosc2Filter.Shuffle),
        SplitMode = Blosc2SplitMode.Auto,
    };

    public const int OffsetHeaderLen = 11;
    public const int OffsetFrameLen = 16;
    public const int OffsetGeneralFlags = 25;
    public const int OffsetNBytes = 30;
    public const int OffsetCBytes = 39;
    public const int OffsetHasVlMeta = 68;

    /// <summary>Builds the frame header with its metalayers; lengths are patched later with <see cref="PatchHeader"/>.</summary>
    public static byte[] BuildHeader(int typesize, int blocksize, int chunksize, CompressionParams p, IReadOnlyList<(string Name, byte[] Content)> metalayers, bool zeroChunkSize)
    {
        var w = new MsgpackWriter();
        w.Byte(0x9E);
        w.Byte(0xA8);
        w.Bytes("b2frame\0"u8);
        w.FixedInt32(0); // header_len
        w.Byte(0xCF);
        w.Int64BE(0); // frame_len
        w.Byte(0xA4);
        // general flags: version 2, 64-bit offsets; zero-element arrays: version 3 + variable-size chunks (as C-Blosc2 writes them)
        w.Byte(zeroChunkSize ? (byte)0x53 : (byte)0x12);
        w.Byte(0); // contiguous frame
        w.Byte((byte)((p.CLevel << 4) | (byte)p.Codec));
        w.Byte((byte)(((int)p.SplitMode - 1) & 0x03));
        w.FixedInt64(0); // nbytes
        w.FixedInt64(0); // cbytes
        w.FixedInt32(typesize);
        w.FixedInt32(blocksize);
        w.FixedInt32(chunksize);
        w.Byte(0xD1); w.UInt16BE(1); // compression threads
        w.Byte(0xD1); w.UInt16BE(1); // decompression threads
        w.Byte(0xC2); // has_vlmetalayers, patched later
        w.Byte(0xD8);
        w.Byte(6);
        for (int i = 0; i < 6; i++) w.Byte((byte)p.Filters[i]);
        w.Byte((byte)p.Codec); // udcodec
        w.Byte(0); // compcode_meta
        for (int i = 0; i < 6; i++) w.Byte(p.FiltersMeta[i]);
        w.Byte(0); // other_flags2
        w.Byte(0); // reserved
        if (w.Length != FrameReader.MinHeaderLength)
            throw new InvalidOperationException("frame header layout error");

        // Metalayers: fixarray(3) [idx_size, map name->offset, array of bin32 values]
        w.Byte(0x93);
        w.Byte(0xCD);
        int idxSizeAt = w.Length;
        w.UInt16BE(0);
        w.Byte(0xDE);
        w.UInt16BE((ushort)metalayers.Count);
        var offsetSlots = new int[metalayers.Count];
        for (int i = 0; i < metalayers.Count; i++)
        {
            w.FixStr(metalayers[i].Name);
            w.Byte(0xD2);
            offsetSlots[i] = w.Length;
            w.Int32BE(0);
        }
        w.PatchUInt16BE(idxSizeAt, (ushort)(w.Length - FrameReader.MinHeaderLength));
        w.Byte(0xDC);
        w.UInt16BE((ushort)metalayers.Count);
        for (int i = 0; i < metalayers.Count; i++)
        {
            w.PatchInt32BE(offsetSlots[i], w.Length);
            w.Bin32(metalayers[i].Content);
        }
        var header = w.ToArray();
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(OffsetHeaderLen), header.Length);
        return header;
    }

    public static void PatchHeader(Span<byte> header, long frameLen, long nbytes, long cbytes, bool hasVlMeta)
    {
        BinaryPrimitives.WriteInt64BigEndian(header[OffsetFrameLen..], frameLen);
        BinaryPrimitives.WriteInt64BigEndian(header[OffsetNBytes..], nbytes);
        BinaryPrimitives.WriteInt64BigEndian(header[OffsetCBytes..], cbytes);
        header[OffsetHasVlMeta] = hasVlMeta ? (byte)0xC3 : (byte)0xC2;
    }

    /// <summary>Compresses the offsets index as a Blosc2 chunk (BloscLZ + shuffle, typesize 8).</summary>
    public static byte[] BuildIndex(ReadOnlySpan<long> offsets, CodecContext ctx)
    {
        var raw = new byte[offsets.Length * 8];
        for (int i = 0; i < offsets.Length; i++)
            BinaryPrimitives.WriteInt64LittleEndian(raw.AsSpan(8 * i), offsets[i]);
        var dst = new byte[ChunkEncoder.MaxChunkSize(raw.Length)];
        int blocksize = Math.Min(raw.Length, 16384);
        int n = ChunkEncoder.Compress(raw, 8, blocksize, IndexParams, dst, ctx);
        return dst.AsSpan(0, n).ToArray();
    }

    /// <summary>Compresses a vlmeta content (msgpack bytes) into a Blosc2 chunk as python-blosc2 does.</summary>
    public static byte[] EncodeVlMetaValue(ReadOnlySpan<byte> content, CodecContext ctx)
    {
        var dst = new byte[ChunkEncoder.MaxChunkSize(content.Length)];
        int n = ChunkEncoder.Compress(content, 1, 0, VlMetaParams, dst, ctx);
        return dst.AsSpan(0, n).ToArray();
    }

    /// <summary>Builds the trailer: vlmeta (already-compressed chunks), trailer length, empty fingerprint.</summary>
    public static byte[] BuildTrailer(IReadOnlyList<(string Name, byte[] Chunk)> vlmeta)
    {
        var w = new MsgpackWriter();
        w.Byte(0x94);
        w.Byte(0x01);
        w.Byte(0x93);
        w.Byte(0xCD);
        int idxSizeAt = w.Length;
        w.UInt16BE(0);
        w.Byte(0xDE);
        w.UInt16BE((ushort)vlmeta.Count);
        var slots = new int[vlmeta.Count];
        for (int i = 0; i < vlmeta.Count; i++)
        {
            w.FixStr(vlmeta[i].Name);
            w.Byte(0xD2);
            slots[i] = w.Length;
            w.Int32BE(0);
        }
        w.PatchUInt16BE(idxSizeAt, (ushort)(w.Length - 3));
        w.Byte(0xDC);
        w.UInt16BE((ushort)vlmeta.Count);
        for (int i = 0; i < vlmeta.Count; i++)
        {
            w.PatchInt32BE(slots[i], w.Length);
            w.Bin32(vlmeta[i].Chunk);
        }
        w.Byte(0xCE);
        int lenAt = w.Length;
        w.UInt32BE(0);
        w.Byte(0xD8);
        w.Byte(0x00);
        w.Bytes(new byte[16]);
        w.PatchUInt32BE(lenAt, (uint)w.Length);
        return w.ToArray();
    }
}
