using System.Buffers.Binary;
using MLArray.Blosc2.Codecs;

namespace MLArray.Blosc2.Format;

/// <summary>A named entry of the fixed metalayers or of the variable-length metalayers.</summary>
internal readonly record struct MetaEntry(string Name, long ContentOffset, int Length);

/// <summary>
/// A parsed contiguous frame (spec §2–§4): header fields, metalayers, the chunk offsets index and the vlmeta entries.
/// Chunks are read on demand through positional reads.
/// </summary>
internal sealed class FrameReader
{
    public const int MinHeaderLength = 87;
    private const int TrailerTailLength = 23; // 0xCE + uint32 trailer_len + 0xD8 + type + 16 bytes

    private readonly long[]? _offsets;
    private readonly long _constantOffset;
    private readonly byte[] _header;
    private readonly byte[] _trailer;

    public IFrameSource Source { get; }
    public string? Name => Source.Name;
    public int HeaderLength { get; }
    public long FrameLength { get; }
    public byte GeneralFlags { get; }
    public int FormatVersion => GeneralFlags & 0x0F;
    public Blosc2Codec Codec { get; }
    public int CodecId { get; }
    public int CLevel { get; }
    public Blosc2SplitMode SplitMode { get; }
    public long NBytes { get; }
    public long CBytes { get; }
    public int TypeSize { get; }
    public int BlockSize { get; }
    public int ChunkSize { get; }
    public byte[] Filters { get; }
    public byte[] FiltersMeta { get; }
    public long NChunks { get; }
    public long TrailerOffset { get; }
    public int IndexLength { get; }
    public IReadOnlyList<MetaEntry> Metalayers { get; }
    public IReadOnlyList<MetaEntry> VlMetalayers { get; }
    public FrameLimits Limits { get; }

    private FrameReader(IFrameSource source, FrameLimits limits)
    {
        Source = source;
        Limits = limits;
        long available = source.Length;
        Span<byte> fixedPart = stackalloc byte[MinHeaderLength];
        int head = (int)Math.Min(available, MinHeaderLength);
        source.Read(0, fixedPart[..head]);
        // The magic decides first: a short or empty file that does not start like a frame is another kind of file, not a truncated one.
        if (head == 0)
            throw NotAFrame("the file is empty (0 bytes: no frame header at offset 0)");
        int magicLength = Math.Min(head, Magic.Length);
        if (!fixedPart[..magicLength].SequenceEqual(Magic[..magicLength]))
        {
            int at = fixedPart[..magicLength].CommonPrefixLength(Magic[..magicLength]);
            throw NotAFrame($"it does not start with the Blosc2 frame magic (.mla/.b2nd files have the bytes 9E A8 'b2frame' at offset 0; byte {at} differs)");
        }
        if (available < MinHeaderLength)
            throw Corrupt(0, $"file is {available} bytes long, too short for a Blosc2 frame header ({MinHeaderLength} bytes)");
        CheckMarker(fixedPart, 10, 0xD2);
        CheckMarker(fixedPart, 15, 0xCF);
        CheckMarker(fixedPart, 24, 0xA4);
        CheckMarker(fixedPart, 29, 0xD3);
        CheckMarker(fixedPart, 38, 0xD3);
        CheckMarker(fixedPart, 47, 0xD2);
        CheckMarker(fixedPart, 52, 0xD2);
        CheckMarker(fixedPart, 57, 0xD2);
        CheckMarker(fixedPart, 69, 0xD8);
        HeaderLength = BinaryPrimitives.ReadInt32BigEndian(fixedPart[11..]);
        ulong frameLen = BinaryPrimitives.ReadUInt64BigEndian(fixedPart[16..]);
        GeneralFlags = fixedPart[25];
        byte frameType = fixedPart[26];
        byte codecFlags = fixedPart[27];
        byte otherFlags = fixedPart[28];
        NBytes = BinaryPrimitives.ReadInt64BigEndian(fixedPart[30..]);
        CBytes = BinaryPrimitives.ReadInt64BigEndian(fixedPart[39..]);
        TypeSize = BinaryPrimitives.ReadInt32BigEndian(fixedPart[48..]);
        BlockSize = BinaryPrimitives.ReadInt32BigEndian(fixedPart[53..]);
        ChunkSize = BinaryPrimitives.ReadInt32BigEndian(fixedPart[58..]);
        Filters = fixedPart.Slice(71, 6).ToArray();
        FiltersMeta = fixedPart.Slice(79, 6).ToArray();

        int version = GeneralFlags & 0x0F;
        if (version is 0 or > 3)
            throw new MLArrayNotSupportedException($"{Where(25)}: frame format version {version} is not supported (versions 1 to 3 are); the file may come from a newer Blosc2.");
        if (((GeneralFlags >> 4) & 3) != 1)
            throw new MLArrayNotSupportedException($"{Where(25)}: frame uses {8 << ((GeneralFlags >> 4) & 3) << 2}-bit chunk offsets; only 64-bit offsets (what every Blosc2 release writes) are supported.");
        if ((frameType & 0x0F) != 0)
            throw new MLArrayNotSupportedException($"{Where(26)}: this is a sparse frame (a directory of chunk files); only contiguous frames (.mla/.b2nd files) are supported.");
        if (frameLen > (ulong)available)
            throw Corrupt(16, $"header says the frame is {frameLen} bytes but the file has only {available} (truncated file?)");
        FrameLength = (long)frameLen;
        if (HeaderLength < MinHeaderLength || HeaderLength > FrameLength)
            throw Corrupt(11, $"header length {HeaderLength} is outside [{MinHeaderLength}, {FrameLength}]");
        if (NBytes < 0 || CBytes < 0)
            throw Corrupt(30, $"negative nbytes ({NBytes}) or cbytes ({CBytes})");
        if (TypeSize <= 0)
            throw Corrupt(48, $"typesize {TypeSize} is not positive");

        CodecId = codecFlags & 0x0F;
        if (CodecId == 6)
            CodecId = fixedPart[77];
        Codec = (Blosc2Codec)CodecId;
        CLevel = codecFlags >> 4;
        SplitMode = (Blosc2SplitMode)((otherFlags & 0x03) + 1);

        _header = new byte[HeaderLength];
        source.Read(0, _header);
        Metalayers = ParseMetalayers();

        // Trailer, located from the end of the frame.
        if (FrameLength < HeaderLength + TrailerTailLength)
            throw Corrupt(FrameLength, "frame is too short to hold a trailer");
        Span<byte> tail = stackalloc byte[5];
        source.Read(FrameLength - TrailerTailLength, tail);
        if (tail[0] != 0xCE)
            throw Corrupt(FrameLength - TrailerTailLength, $"trailer length marker 0xCE not found (found 0x{tail[0]:X2})");
        uint trailerLen = BinaryPrimitives.ReadUInt32BigEndian(tail[1..]);
        if (trailerLen < TrailerTailLength || trailerLen > FrameLength - HeaderLength)
            throw Corrupt(FrameLength - TrailerTailLength + 1, $"trailer length {trailerLen} points outside the frame");
        TrailerOffset = FrameLength - trailerLen;
        if (HeaderLength + CBytes > TrailerOffset)
            throw Corrupt(39, $"chunks section ({CBytes} bytes from {HeaderLength}) overlaps the trailer at {TrailerOffset}");
        long indexLen = TrailerOffset - (HeaderLength + CBytes);
        if (indexLen > int.MaxValue)
            throw Corrupt(HeaderLength + CBytes, $"offsets index of {indexLen} bytes is too large");
        IndexLength = (int)indexLen;
        _trailer = new byte[trailerLen];
        source.Read(TrailerOffset, _trailer);
        VlMetalayers = ParseTrailer();

        // Offsets index.
        if (NBytes == 0)
        {
            NChunks = 0;
            _offsets = [];
        }
        else
        {
            if (ChunkSize > 0)
            {
                long n = NBytes / ChunkSize + (NBytes % ChunkSize != 0 ? 1 : 0); // no overflow for hostile nbytes near long.MaxValue
                if (n > Limits.MaxChunks)
                    throw Corrupt(30, $"{n} chunks ({NBytes} bytes in chunks of {ChunkSize}) exceed the limit of {Limits.MaxChunks} chunks (FrameLimits.MaxChunks)");
                NChunks = n;
            }
            (NChunks, _offsets, _constantOffset) = ReadIndex(ChunkSize > 0 ? NChunks : -1);
        }
    }

    /// <summary>Opens and validates a frame.</summary>
    public static FrameReader Open(IFrameSource source, FrameLimits? limits = null) => new(source, limits ?? FrameLimits.Default);

    private string Where(long offset) => $"'{Name ?? "buffer"}' at offset {offset}";

    /// <summary>The first 10 bytes of every frame: msgpack fixarray(14), then the str8 "b2frame\0".</summary>
    private static ReadOnlySpan<byte> Magic => [0x9E, 0xA8, (byte)'b', (byte)'2', (byte)'f', (byte)'r', (byte)'a', (byte)'m', (byte)'e', 0];

    private MLArrayFormatException NotAFrame(string why) =>
        new($"'{Name ?? "buffer"}' is not an MLArray/Blosc2 file: {why}. Check the path; .mla and .b2nd files are Blosc2 frames.");

    private MLArrayFormatException Corrupt(long offset, string what) =>
        new($"{Where(offset)}: {what}. The file is corrupt or truncated; re-create or re-download it.");

    private void CheckMarker(ReadOnlySpan<byte> data, int offset, byte marker)
    {
        if (data[offset] != marker)
            throw Corrupt(offset, $"expected msgpack marker 0x{marker:X2} in the frame header, found 0x{data[offset]:X2}");
    }

    private List<MetaEntry> ParseMetalayers()
    {
        if (HeaderLength == MinHeaderLength)
            return [];
        var r = new MsgpackReader(_header, 0, Name, "metalayers") { Position = MinHeaderLength };
        return ParseMetaSection(ref r, _header, 0, "metalayer", MinHeaderLength);
    }

    private List<MetaEntry> ParseTrailer()
    {
        var r = new MsgpackReader(_trailer, TrailerOffset, Name, "trailer");
        r.Expect(0x94, "fixarray of 4");
        r.ReadInteger(); // trailer version
        var entries = ParseMetaSection(ref r, _trailer, TrailerOffset, "vlmeta", 0);
        return entries;
    }

    /// <summary>
    /// Parses the shared layout of the metalayers and the vlmetalayers: fixarray(3) [uint16 index size,
    /// map name → offset, array of bin32 values]. Offsets are relative to <paramref name="container"/>, which starts
    /// at absolute position <paramref name="containerOffset"/>; valid offsets are ≥ <paramref name="minOffset"/>.
    /// </summary>
    private List<MetaEntry> ParseMetaSection(ref MsgpackReader r, byte[] container, long containerOffset, string what, int minOffset)
    {
        r.Expect(0x93, "fixarray of 3");
        r.Expect(0xCD, "uint16 index size");
        r.ReadUInt16BE();
        int n = r.ReadMapHeader();
        var names = new List<(string, int)>(Math.Min(n, 1024));
        for (int i = 0; i < n; i++)
        {
            string name = r.ReadString();
            long off = r.ReadInteger();
            if (off < minOffset || off > container.Length - 5)
                throw Corrupt(containerOffset + r.Position, $"{what} '{name}' points at {off}, outside [{minOffset}, {container.Length})");
            names.Add((name, (int)off));
        }
        var result = new List<MetaEntry>(names.Count);
        foreach (var (name, off) in names)
        {
            var v = new MsgpackReader(container.AsSpan(off), containerOffset + off, Name, $"{what} '{name}'");
            v.Expect(0xC6, "bin32");
            uint len = v.ReadUInt32BE();
            if (len > (uint)v.Remaining)
                throw Corrupt(containerOffset + off, $"{what} '{name}' declares {len} bytes, past its end");
            result.Add(new MetaEntry(name, off + 5, (int)len));
        }
        return result;
    }

    private (long, long[]?, long) ReadIndex(long expectedChunks)
    {
        long at = HeaderLength + CBytes;
        if (IndexLength < ChunkFormat.Blosc1HeaderLength)
            throw Corrupt(at, $"the chunk offsets index is missing ({IndexLength} bytes between the chunks and the trailer)");
        var raw = new byte[IndexLength];
        Source.Read(at, raw);
        var where = new ChunkLocation(Name, "chunk offsets index", at);
        var h = ChunkHeader.Parse(raw, where);
        long n = expectedChunks >= 0 ? expectedChunks : h.NBytes / 8;
        if (expectedChunks < 0 && n > Limits.MaxChunks)
            throw Corrupt(at, $"{n} chunks exceed the limit of {Limits.MaxChunks} chunks (FrameLimits.MaxChunks)");
        if (h.NBytes != 8 * n)
            throw Corrupt(at, $"the offsets index holds {h.NBytes} bytes but {n} chunks need {8 * n}");
        if (h.SpecialType == ChunkFormat.SpecialValue && h.CBytes - ChunkFormat.ExtendedHeaderLength == 8)
            return (n, null, BinaryPrimitives.ReadInt64LittleEndian(raw.AsSpan(ChunkFormat.ExtendedHeaderLength)));
        var bytes = new byte[h.NBytes];
        using (var ctx = new CodecContext())
            ChunkDecoder.Decompress(raw, h, bytes, ctx, where);
        var offsets = new long[n];
        for (long i = 0; i < n; i++)
            offsets[i] = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan((int)(8 * i)));
        return (n, offsets, 0);
    }

    /// <summary>The raw index entry of chunk <paramref name="i"/>: ≥ 0 offset from the chunks section start, or a special value.</summary>
    public long GetOffset(long i) => _offsets is null ? _constantOffset : _offsets[i];

    /// <summary>
    /// Reads chunk <paramref name="i"/> (mapped in place where possible, else into <paramref name="buffer"/>).
    /// A special offset is turned into the equivalent 32-byte special chunk, so callers see one format.
    /// </summary>
    public ReadOnlySpan<byte> ReadChunk(long i, ref byte[] buffer, out ChunkLocation where) =>
        ChunkStore.ReadChunk(Source, Name, HeaderLength, CBytes, TypeSize, ChunkSize, i, GetOffset(i), ref buffer, out where);

    /// <summary>Reads only the (up to 32-byte) header of a regular chunk into <paramref name="buffer"/>.</summary>
    public ReadOnlySpan<byte> ReadChunkHeaderOnly(long i, byte[] buffer, out ChunkLocation where)
    {
        long off = GetOffset(i);
        long pos = HeaderLength + off;
        where = new ChunkLocation(Name, $"chunk {i}", pos);
        if (off < 0 || off > CBytes - ChunkFormat.Blosc1HeaderLength)
            throw new MLArrayFormatException($"{where}: offset {off} is outside the chunks section ({CBytes} bytes); the file is corrupt or truncated.");
        int n = (int)Math.Min(ChunkFormat.ExtendedHeaderLength, CBytes - off);
        Source.Read(pos, buffer.AsSpan(0, n));
        return buffer.AsSpan(0, n);
    }

    /// <summary>The raw bytes of a fixed metalayer, or null.</summary>
    public byte[]? GetMetalayer(string name)
    {
        foreach (var m in Metalayers)
            if (m.Name == name)
                return _header.AsSpan((int)m.ContentOffset, m.Length).ToArray();
        return null;
    }

    /// <summary>The decompressed content of a vlmeta entry (usually msgpack), or null.</summary>
    public byte[]? GetVlMeta(string name)
    {
        foreach (var m in VlMetalayers)
            if (m.Name == name)
                return DecodeVlMeta(m);
        return null;
    }

    /// <summary>Decompresses a vlmeta value (a complete Blosc2 chunk).</summary>
    public byte[] DecodeVlMeta(MetaEntry m) =>
        ChunkStore.DecodeVlMeta(_trailer.AsSpan((int)m.ContentOffset, m.Length), new ChunkLocation(Name, $"vlmeta '{m.Name}'", TrailerOffset + m.ContentOffset), Limits);

    /// <summary>The stored (compressed) bytes of a vlmeta value.</summary>
    public ReadOnlySpan<byte> RawVlMeta(MetaEntry m) => _trailer.AsSpan((int)m.ContentOffset, m.Length);
}
