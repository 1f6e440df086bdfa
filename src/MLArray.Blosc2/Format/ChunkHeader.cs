using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace MLArray.Blosc2.Format;

/// <summary>Constants of the Blosc chunk format (spec §5).</summary>
internal static class ChunkFormat
{
    public const int ExtendedHeaderLength = 32;
    public const int Blosc1HeaderLength = 16;
    public const int MinBufferSize = 32; // BLOSC_MIN_BUFFERSIZE: smaller chunks are stored memcpyed

    public const byte FlagShuffle = 0x01;
    public const byte FlagMemcpyed = 0x02;
    public const byte FlagBitShuffle = 0x04;
    public const byte FlagDelta = 0x08;
    public const byte FlagDontSplit = 0x10;

    public const int CodecFormatBloscLz = 0;
    public const int CodecFormatLz4 = 1;
    public const int CodecFormatZlib = 3;
    public const int CodecFormatZstd = 4;
    public const int CodecFormatUser = 6;
    public const int CodecFormatSuperChunk = 7;

    public const byte Blosc2FlagDict = 0x01;
    public const byte Blosc2FlagLazy = 0x08;
    public const byte Blosc2FlagInstrumented = 0x80;

    public const int SpecialNone = 0;
    public const int SpecialZeros = 1;
    public const int SpecialNaN = 2;
    public const int SpecialValue = 3;
    public const int SpecialUninit = 4;

    public static int CodecFormatOf(Blosc2Codec codec) => codec switch
    {
        Blosc2Codec.BloscLZ => CodecFormatBloscLz,
        Blosc2Codec.LZ4 or Blosc2Codec.LZ4HC => CodecFormatLz4,
        Blosc2Codec.Zlib => CodecFormatZlib,
        Blosc2Codec.Zstd => CodecFormatZstd,
        _ => throw new ArgumentOutOfRangeException(nameof(codec), codec, "unknown codec"),
    };

    public static string CodecFormatName(int format) => format switch
    {
        CodecFormatBloscLz => "blosclz",
        CodecFormatLz4 => "lz4",
        CodecFormatZlib => "zlib",
        CodecFormatZstd => "zstd",
        _ => $"format {format}",
    };

    /// <summary>The split decision C-Blosc2 3.x makes (spec §5.6).</summary>
    public static bool ShouldSplit(CompressionParams p, int typesize, int blocksize)
    {
        switch (p.SplitMode)
        {
            case Blosc2SplitMode.Always: return true;
            case Blosc2SplitMode.Never: return false;
        }
        bool codecOk = p.Codec is Blosc2Codec.BloscLZ or Blosc2Codec.LZ4 || (p.Codec == Blosc2Codec.Zstd && p.CLevel <= 5);
        bool hasShuffle = false;
        foreach (var f in p.Filters)
            hasShuffle |= f == Blosc2Filter.Shuffle;
        return codecOk && hasShuffle && typesize <= 16 && blocksize / typesize >= 32;
    }
}

/// <summary>
/// Where a chunk lives, for error messages. Array chunks carry their <paramref name="Index"/> (and the special offset
/// of a chunk stored as one) as numbers, so building a location on every read allocates nothing; the text is made
/// only when a message needs it.
/// </summary>
internal readonly record struct ChunkLocation(string? Source, string What, long Offset, long Index = -1, long SpecialOffset = 0)
{
    public static ChunkLocation Buffer => new(null, "chunk", 0);

    public override string ToString()
    {
        string src = Source is null ? "" : $"'{Source}': ";
        string what = Index < 0 ? What : SpecialOffset != 0 ? $"{What} {Index} (special offset 0x{SpecialOffset:X16})" : $"{What} {Index}";
        return Offset >= 0 ? $"{src}{what} at offset {Offset}" : $"{src}{what}";
    }
}

/// <summary>The parsed, validated header of a Blosc (1 or 2) chunk.</summary>
internal readonly struct ChunkHeader
{
    public readonly byte Version;
    public readonly byte Flags;
    public readonly int TypeSize;
    public readonly int NBytes;
    public readonly int BlockSize;
    public readonly int CBytes;
    public readonly int HeaderLength;
    public readonly int NBlocks;
    public readonly int SpecialType;
    public readonly int CodecFormat;
    public readonly byte Blosc2Flags;
    public readonly int DictOffset; // 0 = no dictionary; else offset of the dictionary bytes
    public readonly int DictSize;
    private readonly ulong _filters;     // 6 bytes, slot 0 in the low byte
    private readonly ulong _filtersMeta; // 6 bytes

    private ChunkHeader(byte version, byte flags, int typesize, int nbytes, int blocksize, int cbytes, int headerLength,
        int nblocks, int special, int codecFormat, byte blosc2Flags, ulong filters, ulong filtersMeta, int dictOffset, int dictSize)
    {
        Version = version; Flags = flags; TypeSize = typesize; NBytes = nbytes; BlockSize = blocksize; CBytes = cbytes;
        HeaderLength = headerLength; NBlocks = nblocks; SpecialType = special; CodecFormat = codecFormat;
        Blosc2Flags = blosc2Flags; _filters = filters; _filtersMeta = filtersMeta; DictOffset = dictOffset; DictSize = dictSize;
    }

    public bool IsMemcpyed => (Flags & ChunkFormat.FlagMemcpyed) != 0;
    public bool DontSplit => (Flags & ChunkFormat.FlagDontSplit) != 0;
    public bool IsSpecial => SpecialType != ChunkFormat.SpecialNone;

    public Blosc2Filter Filter(int slot) => (Blosc2Filter)(byte)(_filters >> (8 * slot));
    public byte FilterMeta(int slot) => (byte)(_filtersMeta >> (8 * slot));

    public bool HasDelta
    {
        get
        {
            for (int i = 0; i < 6; i++)
                if (Filter(i) == Blosc2Filter.Delta) return true;
            return false;
        }
    }

    /// <summary>Size in bytes of block <paramref name="block"/> (the last one may be a shorter leftover block).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int BlockBytes(int block) => block < NBlocks - 1 ? BlockSize : NBytes - (NBlocks - 1) * BlockSize;

    /// <summary>Reads the cbytes field of a chunk header (needs 16 bytes), without validating anything else.</summary>
    public static int PeekCBytes(ReadOnlySpan<byte> header) => BinaryPrimitives.ReadInt32LittleEndian(header.Slice(12, 4));

    /// <summary>Reads the nbytes field of a chunk header (needs 16 bytes).</summary>
    public static int PeekNBytes(ReadOnlySpan<byte> header) => BinaryPrimitives.ReadInt32LittleEndian(header.Slice(4, 4));

    /// <summary>
    /// Parses and validates a chunk header. <paramref name="chunk"/> must hold the header and the bstarts
    /// (and for full validation the whole chunk: its length bounds cbytes).
    /// </summary>
    public static ChunkHeader Parse(ReadOnlySpan<byte> chunk, in ChunkLocation where, bool requireWholeChunk = true)
    {
        if (chunk.Length < ChunkFormat.Blosc1HeaderLength)
            throw Corrupt(where, $"truncated chunk header: {chunk.Length} bytes available, at least 16 needed");
        byte version = chunk[0];
        byte flags = chunk[2];
        int typesize = chunk[3];
        int nbytes = BinaryPrimitives.ReadInt32LittleEndian(chunk.Slice(4));
        int blocksize = BinaryPrimitives.ReadInt32LittleEndian(chunk.Slice(8));
        int cbytes = BinaryPrimitives.ReadInt32LittleEndian(chunk.Slice(12));
        if (version == 0 || version > 6)
            throw new MLArrayNotSupportedException($"{where}: chunk format version {version} is not supported (known versions are 1 to 6); the file may be corrupt or written by a newer Blosc2.");
        if (typesize == 0)
            throw Corrupt(where, "chunk header has typesize 0");
        if (nbytes < 0)
            throw Corrupt(where, $"chunk header declares a negative uncompressed size ({nbytes})");
        bool extended = (flags & (ChunkFormat.FlagShuffle | ChunkFormat.FlagBitShuffle)) == (ChunkFormat.FlagShuffle | ChunkFormat.FlagBitShuffle);
        int headerLength = extended ? ChunkFormat.ExtendedHeaderLength : ChunkFormat.Blosc1HeaderLength;
        if (cbytes < headerLength)
            throw Corrupt(where, $"chunk header declares cbytes {cbytes}, smaller than its {headerLength}-byte header");
        if (chunk.Length < headerLength)
            throw Corrupt(where, $"truncated chunk header: {chunk.Length} bytes available, {headerLength} needed");
        if (requireWholeChunk && cbytes > chunk.Length)
            throw Corrupt(where, $"chunk declares {cbytes} compressed bytes but only {chunk.Length} are available (truncated file?)");

        ulong filters = 0, filtersMeta = 0;
        byte blosc2Flags = 0;
        int special = ChunkFormat.SpecialNone;
        int codecFormat = flags >> 5;
        if (extended)
        {
            for (int i = 0; i < 6; i++)
            {
                filters |= (ulong)chunk[16 + i] << (8 * i);
                filtersMeta |= (ulong)chunk[24 + i] << (8 * i);
            }
            byte flags2 = chunk[30];
            blosc2Flags = chunk[31];
            special = (blosc2Flags >> 4) & 7;
            if ((blosc2Flags & ChunkFormat.Blosc2FlagInstrumented) != 0)
                throw new MLArrayNotSupportedException($"{where}: chunk is instrumented (development build output holding statistics, not data); it cannot be decoded.");
            if ((blosc2Flags & ChunkFormat.Blosc2FlagLazy) != 0)
                throw Corrupt(where, "the lazy-chunk flag is set, which only exists in memory, never on disk");
            if ((flags2 & 0x01) != 0 && special == ChunkFormat.SpecialNone)
                throw new MLArrayNotSupportedException($"{where}: chunk uses variable-length blocks (format version {version}), which b2nd arrays never use; this reader does not support them.");
            if (codecFormat == ChunkFormat.CodecFormatUser && special == ChunkFormat.SpecialNone && (flags & ChunkFormat.FlagMemcpyed) == 0)
                throw new MLArrayNotSupportedException($"{where}: chunk uses codec id {chunk[22]} (a plugin or user-defined codec); only blosclz, lz4, lz4hc, zlib and zstd are supported.");
        }
        else
        {
            // Blosc1: the pipeline is implied by the flag bits.
            if ((flags & ChunkFormat.FlagShuffle) != 0) filters |= (ulong)Blosc2Filter.Shuffle << 40;
            if ((flags & ChunkFormat.FlagBitShuffle) != 0) filters |= (ulong)Blosc2Filter.BitShuffle << 40;
            if ((flags & ChunkFormat.FlagDelta) != 0) filters |= (ulong)Blosc2Filter.Delta << 32;
        }

        if (special != ChunkFormat.SpecialNone)
        {
            switch (special)
            {
                case ChunkFormat.SpecialZeros:
                case ChunkFormat.SpecialUninit:
                    break;
                case ChunkFormat.SpecialNaN:
                    if (typesize is not (4 or 8))
                        throw Corrupt(where, $"NaN special chunk with typesize {typesize} (only 4 or 8 are possible)");
                    if (nbytes % typesize != 0) // the tail would be left unwritten (found by fuzzing)
                        throw Corrupt(where, $"NaN special chunk of {nbytes} bytes is not a whole number of {typesize}-byte items");
                    break;
                case ChunkFormat.SpecialValue:
                    {
                        int w = cbytes - ChunkFormat.ExtendedHeaderLength;
                        if (w <= 0 || nbytes % w != 0)
                            throw Corrupt(where, $"repeated-value special chunk with a {w}-byte value cannot fill {nbytes} bytes");
                        if (requireWholeChunk && chunk.Length < cbytes)
                            throw Corrupt(where, "repeated-value chunk is truncated");
                        break;
                    }
                default:
                    throw new MLArrayNotSupportedException($"{where}: special chunk type {special} is not known to this reader.");
            }
            return new ChunkHeader(version, flags, typesize, nbytes, blocksize, cbytes, headerLength, 0, special, codecFormat,
                blosc2Flags, filters, filtersMeta, 0, 0);
        }

        for (int i = 0; i < 6; i++)
        {
            int f = (byte)(filters >> (8 * i));
            if (f > (int)Blosc2Filter.TruncPrec)
                throw new MLArrayNotSupportedException(f >= 32
                    ? $"{where}: chunk uses filter id {f} in slot {i} (a plugin filter such as BYTEDELTA or NDCELL); only shuffle, bitshuffle, delta and trunc_prec are supported."
                    : $"{where}: chunk uses unknown filter id {f} in slot {i}; only shuffle (1), bitshuffle (2), delta (3) and trunc_prec (4) are supported.");
        }

        if ((flags & ChunkFormat.FlagMemcpyed) != 0)
        {
            if ((long)cbytes != (long)nbytes + headerLength)
                throw Corrupt(where, $"memcpyed chunk has cbytes {cbytes} but nbytes {nbytes} + {headerLength}-byte header = {(long)nbytes + headerLength}");
            int bs = blocksize <= 0 || blocksize > nbytes ? nbytes : blocksize;
            int nb = nbytes == 0 ? 0 : (int)(((long)nbytes + bs - 1) / bs);
            return new ChunkHeader(version, flags, typesize, nbytes, bs, cbytes, headerLength, nb, special, codecFormat,
                blosc2Flags, filters, filtersMeta, 0, 0);
        }

        if (codecFormat is not (ChunkFormat.CodecFormatBloscLz or ChunkFormat.CodecFormatLz4 or ChunkFormat.CodecFormatZlib or ChunkFormat.CodecFormatZstd))
            throw new MLArrayNotSupportedException(codecFormat == ChunkFormat.CodecFormatSuperChunk
                ? $"{where}: chunk says its codec is defined by the super-chunk, which this reader does not support."
                : $"{where}: chunk uses codec format {codecFormat}, which is not one of blosclz, lz4/lz4hc, zlib, zstd.");
        if (nbytes > 0 && blocksize <= 0)
            throw Corrupt(where, $"chunk header declares block size {blocksize}");
        if (blocksize > nbytes)
            blocksize = nbytes;
        int nblocks = nbytes == 0 ? 0 : (int)(((long)nbytes + blocksize - 1) / blocksize);
        long afterBstarts = headerLength + 4L * nblocks;
        if (afterBstarts > cbytes)
            throw Corrupt(where, $"chunk declares {nblocks} blocks whose start table needs {afterBstarts} bytes, but cbytes is {cbytes}");
        if (requireWholeChunk && chunk.Length < afterBstarts)
            throw Corrupt(where, $"chunk block-start table is truncated ({chunk.Length} of {afterBstarts} bytes)");
        int dictOffset = 0, dictSize = 0;
        if ((blosc2Flags & ChunkFormat.Blosc2FlagDict) != 0 && requireWholeChunk)
        {
            if (afterBstarts + 4 > cbytes || chunk.Length < afterBstarts + 4)
                throw Corrupt(where, "chunk says it has a dictionary but the dictionary size is missing");
            dictSize = BinaryPrimitives.ReadInt32LittleEndian(chunk.Slice((int)afterBstarts));
            dictOffset = (int)afterBstarts + 4;
            if (dictSize <= 0 || (long)dictOffset + dictSize > cbytes)
                throw Corrupt(where, $"chunk dictionary of {dictSize} bytes does not fit in the chunk");
            if (codecFormat is not (ChunkFormat.CodecFormatZstd or ChunkFormat.CodecFormatLz4))
                throw new MLArrayNotSupportedException($"{where}: chunk uses a dictionary with codec {ChunkFormat.CodecFormatName(codecFormat)}; dictionaries are only supported for zstd and lz4.");
        }
        return new ChunkHeader(version, flags, typesize, nbytes, blocksize, cbytes, headerLength, nblocks, special, codecFormat,
            blosc2Flags, filters, filtersMeta, dictOffset, dictSize);
    }

    public static MLArrayFormatException Corrupt(in ChunkLocation where, string what) =>
        new($"{where}: {what}. The file is corrupt or truncated; re-create or re-download it.");
}
