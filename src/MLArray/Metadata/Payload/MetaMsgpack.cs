using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace MLArray.Metadata.Payload;

/// <summary>
/// The few msgpack forms of an <c>"mlarray"</c> vlmeta value: a <c>bin</c> holding gzip(pickle) (v0.0.49+) or a map
/// (v0.0.23–v0.0.48, decoded into a <see cref="MetaValue"/> with python-blosc2's tuple convention: a list whose first
/// item is <c>"__tuple__"</c> is a tuple of the remaining items).
/// </summary>
internal static class MetaMsgpack
{
    /// <summary>The marker python-blosc2 puts first in a list to mean "tuple".</summary>
    public const string TupleMarker = "__tuple__";

    /// <summary>True when the value starts with a msgpack bin header (<c>c4</c>, <c>c5</c>, <c>c6</c>).</summary>
    public static bool IsBin(ReadOnlySpan<byte> data) => data.Length > 0 && data[0] is 0xC4 or 0xC5 or 0xC6;

    /// <summary>True when the value starts with a msgpack map header (fixmap, map16, map32).</summary>
    public static bool IsMap(ReadOnlySpan<byte> data) => data.Length > 0 && (data[0] is >= 0x80 and <= 0x8F or 0xDE or 0xDF);

    /// <summary>The content of a msgpack <c>bin</c> that must fill <paramref name="data"/> exactly.</summary>
    public static ReadOnlyMemory<byte> ReadBin(ReadOnlyMemory<byte> data)
    {
        var s = data.Span;
        if (s.Length == 0) throw new MLArrayMetadataException("metadata value is empty");
        long len; int hdr;
        switch (s[0])
        {
            case 0xC4 when s.Length >= 2: len = s[1]; hdr = 2; break;
            case 0xC5 when s.Length >= 3: len = BinaryPrimitives.ReadUInt16BigEndian(s[1..]); hdr = 3; break;
            case 0xC6 when s.Length >= 5: len = BinaryPrimitives.ReadUInt32BigEndian(s[1..]); hdr = 5; break;
            default: throw new MLArrayMetadataException($"metadata value is not a msgpack bin (first byte 0x{s[0]:x2})");
        }
        if (hdr + len != s.Length)
            throw new MLArrayMetadataException($"metadata msgpack bin declares {len} bytes but {s.Length - hdr} follow");
        return data.Slice(hdr, (int)len);
    }

    /// <summary>Packs bytes as msgpack bin8/16/32 (the smallest that fits, as Python's msgpack does).</summary>
    public static byte[] WriteBin(ReadOnlySpan<byte> content)
    {
        int hdr = content.Length < 256 ? 2 : content.Length < 65536 ? 3 : 5;
        var b = new byte[hdr + content.Length];
        if (hdr == 2) { b[0] = 0xC4; b[1] = (byte)content.Length; }
        else if (hdr == 3) { b[0] = 0xC5; BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(1), (ushort)content.Length); }
        else { b[0] = 0xC6; BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(1), (uint)content.Length); }
        content.CopyTo(b.AsSpan(hdr));
        return b;
    }

    /// <summary>Decodes one msgpack value filling <paramref name="data"/> into a tree, within <paramref name="limits"/>.</summary>
    public static MetaValue Decode(ReadOnlySpan<byte> data, PayloadLimits? limits = null)
    {
        var r = new Reader(data, limits ?? PayloadLimits.Default);
        var v = r.Value(0);
        if (r.Pos != data.Length)
            throw new MLArrayMetadataException($"metadata msgpack value has {data.Length - r.Pos} trailing bytes");
        return v;
    }

    /// <summary>Encodes a tree as msgpack (keys as their Python type, ints as the smallest form, floats as float64, lists as arrays).</summary>
    public static byte[] Encode(MetaValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var ms = new MemoryStream();
        Write(ms, value);
        return ms.ToArray();
    }

    private static void Write(MemoryStream ms, MetaValue v)
    {
        Span<byte> b = stackalloc byte[9];
        switch (v)
        {
            case MetaNull: ms.WriteByte(0xC0); break;
            case MetaBool x: ms.WriteByte(x.Value ? (byte)0xC3 : (byte)0xC2); break;
            case MetaInt i:
                if (i.Value >= 0 && i.Value <= 127) ms.WriteByte((byte)i.Value);
                else if (i.Value < 0 && i.Value >= -32) ms.WriteByte((byte)(sbyte)i.Value);
                else if (i.Value >= long.MinValue && i.Value <= long.MaxValue) { b[0] = 0xD3; BinaryPrimitives.WriteInt64BigEndian(b[1..], (long)i.Value); ms.Write(b); }
                else if (i.Value >= 0 && i.Value <= ulong.MaxValue) { b[0] = 0xCF; BinaryPrimitives.WriteUInt64BigEndian(b[1..], (ulong)i.Value); ms.Write(b); }
                else throw new MLArrayMetadataException("integer does not fit msgpack (64 bits)");
                break;
            case MetaFloat f: b[0] = 0xCB; BinaryPrimitives.WriteDoubleBigEndian(b[1..], f.Value); ms.Write(b); break;
            case MetaString s: WriteStr(ms, s.Value); break;
            case MetaList l:
                WriteHeader(ms, l.Items.Count, 0x90, 0xDC, 0xDD);
                foreach (var x in l.Items) Write(ms, x);
                break;
            case MetaDict d:
                WriteHeader(ms, d.Entries.Count, 0x80, 0xDE, 0xDF);
                for (int i = 0; i < d.Entries.Count; i++) { Write(ms, d.PythonKeyAt(i)); Write(ms, d.Entries[i].Value); }
                break;
            default: throw new ArgumentException("unknown meta value");
        }
    }

    private static void WriteStr(MemoryStream ms, string s)
    {
        var u = Encoding.UTF8.GetBytes(s);
        if (u.Length < 32) ms.WriteByte((byte)(0xA0 | u.Length));
        else if (u.Length < 256) { ms.WriteByte(0xD9); ms.WriteByte((byte)u.Length); }
        else WriteHeader(ms, u.Length, 0, 0xDA, 0xDB, fixMax: -1);
        ms.Write(u);
    }

    private static void WriteHeader(MemoryStream ms, int n, byte fix, byte m16, byte m32, int fixMax = 15)
    {
        Span<byte> b = stackalloc byte[5];
        if (n <= fixMax) ms.WriteByte((byte)(fix | n));
        else if (n < 65536) { b[0] = m16; BinaryPrimitives.WriteUInt16BigEndian(b[1..], (ushort)n); ms.Write(b[..3]); }
        else { b[0] = m32; BinaryPrimitives.WriteUInt32BigEndian(b[1..], (uint)n); ms.Write(b); }
    }

    private ref struct Reader(ReadOnlySpan<byte> data, PayloadLimits limits)
    {
        private readonly ReadOnlySpan<byte> _d = data;
        public int Pos;
        private long _items;
        private long _strBytes;

        private ReadOnlySpan<byte> Take(long n)
        {
            if (n < 0 || n > _d.Length - Pos)
                throw new MLArrayMetadataException($"metadata msgpack value is truncated at byte {Pos}");
            var s = _d.Slice(Pos, (int)n);
            Pos += (int)n;
            return s;
        }

        private void Count()
        {
            if (++_items > limits.MaxItems)
                throw new MLArrayMetadataException($"metadata has more than {limits.MaxItems} items (limit)");
        }

        /// <summary>Refuses a container header announcing <paramref name="n"/> more values than the item limit leaves, before reading any of them.</summary>
        private readonly void Reserve(long n, int at)
        {
            if (_items + n > limits.MaxItems)
                throw new MLArrayMetadataException($"metadata has more than {limits.MaxItems} items (limit): a msgpack container announces {n} values (items from byte {at})");
        }

        public MetaValue Value(int depth)
        {
            Count();
            byte t = Take(1)[0];
            switch (t)
            {
                case <= 0x7F: return new MetaInt(t);
                case >= 0xE0: return new MetaInt((sbyte)t);
                case >= 0x80 and <= 0x8F: return Map(t & 0x0F, depth);
                case >= 0x90 and <= 0x9F: return Array(t & 0x0F, depth);
                case >= 0xA0 and <= 0xBF: return Str(t & 0x1F);
                case 0xC0: return MetaValue.Null;
                case 0xC2: return MetaValue.From(false);
                case 0xC3: return MetaValue.From(true);
                case 0xCA: return new MetaFloat(BinaryPrimitives.ReadSingleBigEndian(Take(4)));
                case 0xCB: return new MetaFloat(BinaryPrimitives.ReadDoubleBigEndian(Take(8)));
                case 0xCC: return new MetaInt(Take(1)[0]);
                case 0xCD: return new MetaInt(BinaryPrimitives.ReadUInt16BigEndian(Take(2)));
                case 0xCE: return new MetaInt(BinaryPrimitives.ReadUInt32BigEndian(Take(4)));
                case 0xCF: return new MetaInt(new BigInteger(BinaryPrimitives.ReadUInt64BigEndian(Take(8))));
                case 0xD0: return new MetaInt((sbyte)Take(1)[0]);
                case 0xD1: return new MetaInt(BinaryPrimitives.ReadInt16BigEndian(Take(2)));
                case 0xD2: return new MetaInt(BinaryPrimitives.ReadInt32BigEndian(Take(4)));
                case 0xD3: return new MetaInt(BinaryPrimitives.ReadInt64BigEndian(Take(8)));
                case 0xD9: return Str(Take(1)[0]);
                case 0xDA: return Str(BinaryPrimitives.ReadUInt16BigEndian(Take(2)));
                case 0xDB: return Str(BinaryPrimitives.ReadUInt32BigEndian(Take(4)));
                case 0xDC: return Array(BinaryPrimitives.ReadUInt16BigEndian(Take(2)), depth);
                case 0xDD: return Array(BinaryPrimitives.ReadUInt32BigEndian(Take(4)), depth);
                case 0xDE: return Map(BinaryPrimitives.ReadUInt16BigEndian(Take(2)), depth);
                case 0xDF: return Map(BinaryPrimitives.ReadUInt32BigEndian(Take(4)), depth);
                case 0xC4 or 0xC5 or 0xC6:
                    throw new MLArrayMetadataException($"refusing msgpack bin value inside the metadata map at byte {Pos - 1} (bytes are not metadata)");
                default:
                    throw new MLArrayMetadataException($"refusing msgpack type 0x{t:x2} at byte {Pos - 1} (ext and reserved types are not metadata)");
            }
        }

        private MetaValue Str(long n)
        {
            _strBytes += n;
            if (_strBytes > limits.MaxStringBytes)
                throw new MLArrayMetadataException($"metadata strings exceed {limits.MaxStringBytes} bytes (limit)");
            var b = Take(n);
            try
            {
                return new MetaString(new UTF8Encoding(false, true).GetString(b));
            }
            catch (DecoderFallbackException e)
            {
                throw new MLArrayMetadataException($"metadata msgpack string is not valid UTF-8 at byte {Pos - n}", e);
            }
        }

        private void Enter(int depth)
        {
            if (depth + 1 > limits.MaxDepth)
                throw new MLArrayMetadataException($"metadata nesting deeper than {limits.MaxDepth} (limit)");
        }

        private MetaValue Array(long n, int depth)
        {
            Enter(depth);
            Reserve(n, Pos);
            if (n > _d.Length - Pos) throw new MLArrayMetadataException($"metadata msgpack array of {n} items is truncated");
            var items = new List<MetaValue>((int)Math.Min(n, 1024));
            for (long i = 0; i < n; i++) items.Add(Value(depth + 1));
            if (items.Count > 0 && items[0] is MetaString { Value: TupleMarker })
                items.RemoveAt(0);
            return new MetaList(items);
        }

        private MetaValue Map(long n, int depth)
        {
            Enter(depth);
            Reserve(2 * n, Pos);
            if (n * 2 > _d.Length - Pos) throw new MLArrayMetadataException($"metadata msgpack map of {n} entries is truncated");
            var entries = new List<KeyValuePair<MetaValue, MetaValue>>((int)Math.Min(n, 1024));
            for (long i = 0; i < n; i++)
            {
                var k = Value(depth + 1);
                var v = Value(depth + 1);
                if (k is MetaList or MetaDict)
                    throw new MLArrayMetadataException($"refusing msgpack map key of kind {k.Kind} (not a JSON key)");
                entries.Add(new(k, v));
            }
            try
            {
                return MetaDict.FromPythonKeys(entries);
            }
            catch (ArgumentException e)
            {
                throw new MLArrayMetadataException($"refusing msgpack map: {e.Message}", e);
            }
        }
    }
}
