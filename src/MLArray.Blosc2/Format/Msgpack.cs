using System.Buffers.Binary;
using System.Text;

namespace MLArray.Blosc2.Format;

/// <summary>
/// A bounds-checked msgpack reader for the structural parts of a frame (header, metalayers, trailer, b2nd metalayer).
/// Every failure raises <see cref="MLArrayFormatException"/> naming the source and the absolute offset.
/// </summary>
internal ref struct MsgpackReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly long _baseOffset;
    private readonly string? _source;
    private readonly string _what;

    public MsgpackReader(ReadOnlySpan<byte> data, long baseOffset, string? source, string what)
    {
        _data = data;
        _baseOffset = baseOffset;
        _source = source;
        _what = what;
        Position = 0;
    }

    public int Position { get; set; }

    public readonly int Remaining => _data.Length - Position;

    public readonly MLArrayFormatException Error(string message)
    {
        string src = _source is null ? "" : $"'{_source}': ";
        return new MLArrayFormatException($"{src}{_what} at offset {_baseOffset + Position}: {message}. The file is corrupt or truncated; re-create or re-download it.");
    }

    private readonly void Need(int n)
    {
        if (n < 0 || Position > _data.Length - n)
            throw Error($"needs {n} more bytes but only {Remaining} remain");
    }

    public byte ReadByte()
    {
        Need(1);
        return _data[Position++];
    }

    public readonly byte PeekByte()
    {
        Need(1);
        return _data[Position];
    }

    public void Expect(byte marker, string meaning)
    {
        byte b = ReadByte();
        if (b != marker)
        {
            Position--;
            throw Error($"expected 0x{marker:X2} ({meaning}), found 0x{b:X2}");
        }
    }

    public ReadOnlySpan<byte> ReadBytes(int n)
    {
        Need(n);
        var s = _data.Slice(Position, n);
        Position += n;
        return s;
    }

    public ushort ReadUInt16BE() => BinaryPrimitives.ReadUInt16BigEndian(ReadBytes(2));
    public int ReadInt32BE() => BinaryPrimitives.ReadInt32BigEndian(ReadBytes(4));
    public uint ReadUInt32BE() => BinaryPrimitives.ReadUInt32BigEndian(ReadBytes(4));
    public long ReadInt64BE() => BinaryPrimitives.ReadInt64BigEndian(ReadBytes(8));

    /// <summary>Reads any msgpack integer.</summary>
    public long ReadInteger()
    {
        byte b = ReadByte();
        if (b <= 0x7F) return b;
        if (b >= 0xE0) return (sbyte)b;
        switch (b)
        {
            case 0xCC: return ReadByte();
            case 0xCD: return ReadUInt16BE();
            case 0xCE: return ReadUInt32BE();
            case 0xCF:
                {
                    ulong v = BinaryPrimitives.ReadUInt64BigEndian(ReadBytes(8));
                    if (v > long.MaxValue) throw Error($"integer {v} is too large");
                    return (long)v;
                }
            case 0xD0: return (sbyte)ReadByte();
            case 0xD1: return (short)ReadUInt16BE();
            case 0xD2: return ReadInt32BE();
            case 0xD3: return ReadInt64BE();
            default:
                Position--;
                throw Error($"expected an integer, found marker 0x{b:X2}");
        }
    }

    public int ReadArrayHeader()
    {
        byte b = ReadByte();
        if ((b & 0xF0) == 0x90) return b & 0x0F;
        if (b == 0xDC) return ReadUInt16BE();
        if (b == 0xDD)
        {
            uint n = ReadUInt32BE();
            if (n > int.MaxValue) throw Error("array too long");
            return (int)n;
        }
        Position--;
        throw Error($"expected an array, found marker 0x{b:X2}");
    }

    public int ReadMapHeader()
    {
        byte b = ReadByte();
        if ((b & 0xF0) == 0x80) return b & 0x0F;
        if (b == 0xDE) return ReadUInt16BE();
        if (b == 0xDF)
        {
            uint n = ReadUInt32BE();
            if (n > int.MaxValue) throw Error("map too long");
            return (int)n;
        }
        Position--;
        throw Error($"expected a map, found marker 0x{b:X2}");
    }

    public string ReadString()
    {
        byte b = ReadByte();
        int len;
        if ((b & 0xE0) == 0xA0) len = b & 0x1F;
        else if (b == 0xD9) len = ReadByte();
        else if (b == 0xDA) len = ReadUInt16BE();
        else if (b == 0xDB)
        {
            uint n = ReadUInt32BE();
            if (n > int.MaxValue) throw Error("string too long");
            len = (int)n;
        }
        else
        {
            Position--;
            throw Error($"expected a string, found marker 0x{b:X2}");
        }
        var bytes = ReadBytes(len);
        try
        {
            return new UTF8Encoding(false, true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Error("string is not valid UTF-8");
        }
    }

    /// <summary>Reads a bin8/16/32 or str header and returns the payload length.</summary>
    public int ReadBinOrStrHeader()
    {
        byte b = ReadByte();
        uint len = b switch
        {
            0xC4 or 0xD9 => ReadByte(),
            0xC5 or 0xDA => ReadUInt16BE(),
            0xC6 or 0xDB => ReadUInt32BE(),
            _ when (b & 0xE0) == 0xA0 => (uint)(b & 0x1F),
            _ => throw Error($"expected bin or str, found marker 0x{b:X2}"),
        };
        if (len > (uint)Remaining)
            throw Error($"bin/str of {len} bytes runs past the end ({Remaining} bytes remain)");
        return (int)len;
    }
}

/// <summary>A growable big-endian msgpack writer using the fixed-width encodings the frame format requires.</summary>
internal sealed class MsgpackWriter
{
    private byte[] _buf = new byte[256];

    public int Length { get; private set; }

    public ReadOnlySpan<byte> Written => _buf.AsSpan(0, Length);

    public byte[] ToArray() => _buf.AsSpan(0, Length).ToArray();

    private Span<byte> Grow(int n)
    {
        if (Length + n > _buf.Length)
            Array.Resize(ref _buf, Math.Max(_buf.Length * 2, Length + n));
        var s = _buf.AsSpan(Length, n);
        Length += n;
        return s;
    }

    public void Byte(byte b) => Grow(1)[0] = b;
    public void Bytes(ReadOnlySpan<byte> b) => b.CopyTo(Grow(b.Length));
    public void UInt16BE(ushort v) => BinaryPrimitives.WriteUInt16BigEndian(Grow(2), v);
    public void Int32BE(int v) => BinaryPrimitives.WriteInt32BigEndian(Grow(4), v);
    public void UInt32BE(uint v) => BinaryPrimitives.WriteUInt32BigEndian(Grow(4), v);
    public void Int64BE(long v) => BinaryPrimitives.WriteInt64BigEndian(Grow(8), v);

    /// <summary>int32 with the 0xD2 marker.</summary>
    public void FixedInt32(int v) { Byte(0xD2); Int32BE(v); }
    /// <summary>int64 with the 0xD3 marker.</summary>
    public void FixedInt64(long v) { Byte(0xD3); Int64BE(v); }

    /// <summary>A short string (fixstr, &lt; 32 bytes).</summary>
    public void FixStr(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        if (bytes.Length > 31) throw new ArgumentException($"name '{s}' is longer than 31 bytes", nameof(s));
        Byte((byte)(0xA0 | bytes.Length));
        Bytes(bytes);
    }

    /// <summary>A string as str32 (0xDB), as the b2nd metalayer requires for the dtype.</summary>
    public void Str32(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        Byte(0xDB);
        UInt32BE((uint)bytes.Length);
        Bytes(bytes);
    }

    /// <summary>A bin32 (0xC6) value.</summary>
    public void Bin32(ReadOnlySpan<byte> b)
    {
        Byte(0xC6);
        UInt32BE((uint)b.Length);
        Bytes(b);
    }

    public void PatchInt32BE(int at, int v) => BinaryPrimitives.WriteInt32BigEndian(_buf.AsSpan(at, 4), v);
    public void PatchUInt16BE(int at, ushort v) => BinaryPrimitives.WriteUInt16BigEndian(_buf.AsSpan(at, 2), v);
    public void PatchUInt32BE(int at, uint v) => BinaryPrimitives.WriteUInt32BigEndian(_buf.AsSpan(at, 4), v);
    public void PatchInt64BE(int at, long v) => BinaryPrimitives.WriteInt64BigEndian(_buf.AsSpan(at, 8), v);
}
