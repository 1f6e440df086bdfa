using System.Buffers.Binary;

namespace MLArray.Metadata.Payload;

/// <summary>How the argument of a pickle opcode is encoded (pickletools' argument descriptors).</summary>
internal enum PickleArg : byte
{
    None,
    UInt1,
    UInt2,
    Int4,
    UInt4,
    UInt8,
    Float8,
    Long1,
    Long4,
    String1,
    String4,
    Bytes1,
    Bytes4,
    Bytes8,
    Unicode1,
    Unicode4,
    Unicode8,
    Line,
    LinePair,
}

/// <summary>The complete pickle opcode table (protocols 0–5), used to walk a stream without executing it.</summary>
internal static class PickleOpcodes
{
    public const byte Mark = (byte)'(', Stop = (byte)'.', BinFloat = (byte)'G', BinInt = (byte)'J', BinInt1 = (byte)'K',
        BinInt2 = (byte)'M', None = (byte)'N', Reduce = (byte)'R', BinUnicode = (byte)'X', Append = (byte)'a',
        Build = (byte)'b', Global = (byte)'c', EmptyDict = (byte)'}', Appends = (byte)'e', BinGet = (byte)'h',
        LongBinGet = (byte)'j', BinPut = (byte)'q', LongBinPut = (byte)'r', EmptyList = (byte)']', SetItem = (byte)'s', Tuple = (byte)'t', EmptyTuple = (byte)')',
        SetItems = (byte)'u', BinBytes = (byte)'B', ShortBinBytes = (byte)'C', Inst = (byte)'i',
        Proto = 0x80, Tuple1 = 0x85, Tuple2 = 0x86, Tuple3 = 0x87, NewTrue = 0x88, NewFalse = 0x89, Long1 = 0x8A,
        Long4 = 0x8B, ShortBinUnicode = 0x8C, BinUnicode8 = 0x8D, StackGlobal = 0x93, Memoize = 0x94, Frame = 0x95;

    private static readonly (string Name, PickleArg Arg)?[] Table = MakeTable();

    private static (string, PickleArg)?[] MakeTable()
    {
        var t = new (string, PickleArg)?[256];
        void D(int code, string name, PickleArg arg) => t[code] = (name, arg);
        D('(', "MARK", PickleArg.None); D('.', "STOP", PickleArg.None); D('0', "POP", PickleArg.None);
        D('1', "POP_MARK", PickleArg.None); D('2', "DUP", PickleArg.None); D('F', "FLOAT", PickleArg.Line);
        D('I', "INT", PickleArg.Line); D('J', "BININT", PickleArg.Int4); D('K', "BININT1", PickleArg.UInt1);
        D('L', "LONG", PickleArg.Line); D('M', "BININT2", PickleArg.UInt2); D('N', "NONE", PickleArg.None);
        D('P', "PERSID", PickleArg.Line); D('Q', "BINPERSID", PickleArg.None); D('R', "REDUCE", PickleArg.None);
        D('S', "STRING", PickleArg.Line); D('T', "BINSTRING", PickleArg.String4); D('U', "SHORT_BINSTRING", PickleArg.String1);
        D('V', "UNICODE", PickleArg.Line); D('X', "BINUNICODE", PickleArg.Unicode4); D('a', "APPEND", PickleArg.None);
        D('b', "BUILD", PickleArg.None); D('c', "GLOBAL", PickleArg.LinePair); D('d', "DICT", PickleArg.None);
        D('}', "EMPTY_DICT", PickleArg.None); D('e', "APPENDS", PickleArg.None); D('g', "GET", PickleArg.Line);
        D('h', "BINGET", PickleArg.UInt1); D('i', "INST", PickleArg.LinePair); D('j', "LONG_BINGET", PickleArg.UInt4);
        D('l', "LIST", PickleArg.None); D(']', "EMPTY_LIST", PickleArg.None); D('o', "OBJ", PickleArg.None);
        D('p', "PUT", PickleArg.Line); D('q', "BINPUT", PickleArg.UInt1); D('r', "LONG_BINPUT", PickleArg.UInt4);
        D('s', "SETITEM", PickleArg.None); D('t', "TUPLE", PickleArg.None); D(')', "EMPTY_TUPLE", PickleArg.None);
        D('u', "SETITEMS", PickleArg.None); D('G', "BINFLOAT", PickleArg.Float8);
        D('B', "BINBYTES", PickleArg.Bytes4); D('C', "SHORT_BINBYTES", PickleArg.Bytes1);
        D(0x80, "PROTO", PickleArg.UInt1); D(0x81, "NEWOBJ", PickleArg.None); D(0x82, "EXT1", PickleArg.UInt1);
        D(0x83, "EXT2", PickleArg.UInt2); D(0x84, "EXT4", PickleArg.Int4); D(0x85, "TUPLE1", PickleArg.None);
        D(0x86, "TUPLE2", PickleArg.None); D(0x87, "TUPLE3", PickleArg.None); D(0x88, "NEWTRUE", PickleArg.None);
        D(0x89, "NEWFALSE", PickleArg.None); D(0x8A, "LONG1", PickleArg.Long1); D(0x8B, "LONG4", PickleArg.Long4);
        D(0x8C, "SHORT_BINUNICODE", PickleArg.Unicode1); D(0x8D, "BINUNICODE8", PickleArg.Unicode8);
        D(0x8E, "BINBYTES8", PickleArg.Bytes8); D(0x8F, "EMPTY_SET", PickleArg.None); D(0x90, "ADDITEMS", PickleArg.None);
        D(0x91, "FROZENSET", PickleArg.None); D(0x92, "NEWOBJ_EX", PickleArg.None); D(0x93, "STACK_GLOBAL", PickleArg.None);
        D(0x94, "MEMOIZE", PickleArg.None); D(0x95, "FRAME", PickleArg.UInt8); D(0x96, "BYTEARRAY8", PickleArg.Bytes8);
        D(0x97, "NEXT_BUFFER", PickleArg.None); D(0x98, "READONLY_BUFFER", PickleArg.None);
        return t;
    }

    /// <summary>
    /// The opcodes of spec §1.3 plus what protocols 2–3 emit for the same data (BINPUT/LONG_BINPUT memo, GLOBAL for
    /// the same allowed names), the only ones the restricted unpickler executes.
    /// </summary>
    private static readonly bool[] Allowed = MakeAllowed();

    private static bool[] MakeAllowed()
    {
        var a = new bool[256];
        foreach (byte b in new[]
        {
            Proto, Frame, Stop, Memoize, BinPut, LongBinPut, BinGet, LongBinGet, Global, EmptyDict, SetItem, SetItems, EmptyList, Append, Appends,
            Mark, EmptyTuple, Tuple1, Tuple2, Tuple3, Tuple, None, NewTrue, NewFalse, BinInt1, BinInt2, BinInt, Long1,
            Long4, BinFloat, ShortBinUnicode, BinUnicode, BinUnicode8, StackGlobal, Reduce, Build, ShortBinBytes, BinBytes,
        })
            a[b] = true;
        return a;
    }

    public static bool IsAllowed(byte code) => Allowed[code];

    public static string Name(byte code) => Table[code]?.Name ?? $"0x{code:x2}";

    /// <summary>An opcode with the location of its argument.</summary>
    internal readonly record struct Op(byte Code, int Offset, long IntArg, int DataStart, int DataLength, int Data2Start, int Data2Length);

    /// <summary>Reads the opcode at <paramref name="pos"/> and its argument (not interpreting it), advancing <paramref name="pos"/>.</summary>
    public static Op Read(ReadOnlySpan<byte> d, ref int pos)
    {
        int at = pos;
        if (pos >= d.Length) throw Truncated(at, "stream ends without STOP");
        byte code = d[pos++];
        var entry = Table[code] ?? throw new MLArrayMetadataException($"refusing unknown pickle opcode 0x{code:x2} at offset {at}");
        long n;
        switch (entry.Arg)
        {
            case PickleArg.None: return new Op(code, at, 0, 0, 0, 0, 0);
            case PickleArg.UInt1: return new Op(code, at, Need(d, ref pos, 1, at, entry.Name)[0], 0, 0, 0, 0);
            case PickleArg.UInt2: return new Op(code, at, BinaryPrimitives.ReadUInt16LittleEndian(Need(d, ref pos, 2, at, entry.Name)), 0, 0, 0, 0);
            case PickleArg.Int4: return new Op(code, at, BinaryPrimitives.ReadInt32LittleEndian(Need(d, ref pos, 4, at, entry.Name)), 0, 0, 0, 0);
            case PickleArg.UInt4: return new Op(code, at, BinaryPrimitives.ReadUInt32LittleEndian(Need(d, ref pos, 4, at, entry.Name)), 0, 0, 0, 0);
            case PickleArg.UInt8:
            {
                ulong u = BinaryPrimitives.ReadUInt64LittleEndian(Need(d, ref pos, 8, at, entry.Name));
                return new Op(code, at, u > long.MaxValue ? long.MaxValue : (long)u, 0, 0, 0, 0);
            }
            case PickleArg.Float8: return Data(d, ref pos, code, at, 8, entry.Name);
            case PickleArg.Long1 or PickleArg.String1 or PickleArg.Bytes1 or PickleArg.Unicode1:
                n = Need(d, ref pos, 1, at, entry.Name)[0];
                return Data(d, ref pos, code, at, n, entry.Name);
            case PickleArg.Long4 or PickleArg.String4:
                n = BinaryPrimitives.ReadInt32LittleEndian(Need(d, ref pos, 4, at, entry.Name));
                if (n < 0) throw new MLArrayMetadataException($"pickle {entry.Name} at offset {at} has a negative length");
                return Data(d, ref pos, code, at, n, entry.Name);
            case PickleArg.Bytes4 or PickleArg.Unicode4:
                n = BinaryPrimitives.ReadUInt32LittleEndian(Need(d, ref pos, 4, at, entry.Name));
                return Data(d, ref pos, code, at, n, entry.Name);
            case PickleArg.Bytes8 or PickleArg.Unicode8:
            {
                ulong u = BinaryPrimitives.ReadUInt64LittleEndian(Need(d, ref pos, 8, at, entry.Name));
                return Data(d, ref pos, code, at, u > int.MaxValue ? long.MaxValue : (long)u, entry.Name);
            }
            case PickleArg.Line:
            {
                var (s, l) = Line(d, ref pos, at, entry.Name);
                return new Op(code, at, 0, s, l, 0, 0);
            }
            case PickleArg.LinePair:
            {
                var (s1, l1) = Line(d, ref pos, at, entry.Name);
                var (s2, l2) = Line(d, ref pos, at, entry.Name);
                return new Op(code, at, 0, s1, l1, s2, l2);
            }
            default: throw new InvalidOperationException();
        }
    }

    private static Op Data(ReadOnlySpan<byte> d, ref int pos, byte code, int at, long n, string name)
    {
        if (n > d.Length - pos) throw Truncated(at, $"{name} needs {n} bytes but only {d.Length - pos} remain");
        var op = new Op(code, at, n, pos, (int)n, 0, 0);
        pos += (int)n;
        return op;
    }

    private static ReadOnlySpan<byte> Need(ReadOnlySpan<byte> d, ref int pos, int n, int at, string name)
    {
        if (n > d.Length - pos) throw Truncated(at, $"{name} argument is cut off");
        var s = d.Slice(pos, n);
        pos += n;
        return s;
    }

    private static (int, int) Line(ReadOnlySpan<byte> d, ref int pos, int at, string name)
    {
        int nl = d[pos..].IndexOf((byte)'\n');
        if (nl < 0) throw Truncated(at, $"{name} argument has no end of line");
        int start = pos;
        pos += nl + 1;
        return (start, nl);
    }

    private static MLArrayMetadataException Truncated(int at, string what) =>
        new($"pickle data is truncated at offset {at}: {what}");
}
