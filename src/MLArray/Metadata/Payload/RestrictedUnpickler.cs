using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using static MLArray.Metadata.Payload.PickleOpcodes;

namespace MLArray.Metadata.Payload;

/// <summary>What the restricted unpickler met in a payload besides plain data (for layout detection and reports).</summary>
[Flags]
public enum PickleFeatures
{
    /// <summary>Plain data only.</summary>
    None = 0,
    /// <summary><c>mlarray.meta._FrozenList</c> / <c>_FrozenDict</c> (v0.0.50+).</summary>
    FrozenContainers = 1,
    /// <summary><c>collections.OrderedDict</c>.</summary>
    OrderedDict = 2,
    /// <summary>mlarray enum members via <c>builtins.getattr</c>.</summary>
    EnumMembers = 4,
    /// <summary>numpy float64 / str_ scalars.</summary>
    NumpyScalars = 8,
    /// <summary>Tuples.</summary>
    Tuples = 16,
}

/// <summary>
/// A pickle reader that never resolves or executes anything. It accepts exactly the opcodes of spec §1.3
/// (protocols 2–5 framing, memo, containers, scalars, strings, bytes inside numpy scalars) and only these globals,
/// which it maps to plain data: <c>mlarray.meta._FrozenList</c>/<c>_FrozenDict</c>, <c>collections.OrderedDict</c>,
/// <c>builtins.getattr</c> on <c>mlarray.meta.AxisLabelEnum</c>/<c>CoordSystemEnum</c>, and numpy <c>float64</c>/<c>str_</c>
/// scalars (<c>numpy.core.multiarray.scalar</c> or <c>numpy._core.multiarray.scalar</c> with <c>numpy.dtype</c>).
/// Everything else gives an <see cref="MLArrayMetadataException"/> naming it.
/// </summary>
internal static class RestrictedUnpickler
{
    /// <summary>Unpickles <paramref name="data"/> into a tree within <paramref name="limits"/>.</summary>
    public static MetaValue Load(ReadOnlySpan<byte> data, PayloadLimits? limits = null) => Load(data, limits, out _);

    /// <summary>Unpickles <paramref name="data"/> into a tree and reports which non-plain features it used.</summary>
    public static MetaValue Load(ReadOnlySpan<byte> data, PayloadLimits? limits, out PickleFeatures features)
    {
        limits ??= PayloadLimits.Default;
        limits.Check();
        if (data.Length > limits.MaxDecompressedBytes)
            throw new MLArrayMetadataException($"pickle payload of {data.Length} bytes exceeds the limit of {limits.MaxDecompressedBytes} bytes");
        Vet(data, limits);
        var m = new Machine(data, limits);
        object? result = m.Run();
        features = m.Features;
        var conv = new Converter(limits);
        return conv.Convert(result, 0);
    }

    /// <summary>
    /// First pass: walks every opcode without executing anything. A disallowed global (GLOBAL/INST names, or a
    /// STACK_GLOBAL whose two strings are pushed right before it) is reported first, then the first opcode outside
    /// the inventory; unknown opcodes, truncation (also a FRAME longer than the rest of the data) and passing a
    /// limit stop the walk at once. The limits are checked here, before anything is built: every opcode that creates
    /// a value counts one item, every string its declared byte length.
    /// </summary>
    private static void Vet(ReadOnlySpan<byte> d, PayloadLimits limits)
    {
        int pos = 0;
        long created = 0, strBytes = 0;
        string? firstBadOp = null;
        var recent = new List<(int Start, int Length, int Offset)>(2); // the last strings, decoded only when a STACK_GLOBAL names them
        while (true)
        {
            var op = Read(d, ref pos);
            if (op.Code == Frame && op.IntArg > d.Length - pos)
                throw new MLArrayMetadataException(
                    $"pickle data is truncated at offset {op.Offset}: FRAME declares {op.IntArg} bytes but only {d.Length - pos} remain (the pickle is exhausted before the end of the frame)");
            if (Creates(op.Code) && ++created > limits.MaxItems)
                throw new MLArrayMetadataException($"metadata has more than {limits.MaxItems} items (limit; pickle offset {op.Offset})");
            if ((op.Code is ShortBinUnicode or BinUnicode or BinUnicode8) && (strBytes += op.DataLength) > limits.MaxStringBytes)
                throw new MLArrayMetadataException($"metadata strings exceed {limits.MaxStringBytes} bytes (limit; pickle offset {op.Offset})");
            if (op.Code is Global or Inst)
            {
                string module = Encoding.UTF8.GetString(d.Slice(op.DataStart, op.DataLength)).Trim();
                string name = Encoding.UTF8.GetString(d.Slice(op.Data2Start, op.Data2Length)).Trim();
                if (!Globals.IsAllowed(module, name))
                    throw Refuse(module, name);
            }
            if (op.Code == StackGlobal && recent.Count == 2)
            {
                string module = DecodeUtf8(d.Slice(recent[0].Start, recent[0].Length), recent[0].Offset);
                string name = DecodeUtf8(d.Slice(recent[1].Start, recent[1].Length), recent[1].Offset);
                if (!Globals.IsAllowed(module, name))
                    throw Refuse(module, name);
            }
            if (op.Code is ShortBinUnicode or BinUnicode or BinUnicode8)
            {
                if (recent.Count == 2) recent.RemoveAt(0);
                recent.Add((op.DataStart, op.DataLength, op.Offset));
            }
            else if (op.Code is not (Memoize or BinPut or LongBinPut))
            {
                recent.Clear();
            }
            if (firstBadOp is null && !IsAllowed(op.Code))
                firstBadOp = $"refusing pickle opcode {Name(op.Code)} at offset {op.Offset} (not in the allowed inventory)";
            if (op.Code == Stop) break;
        }
        if (firstBadOp is not null) throw new MLArrayMetadataException(firstBadOp);
        if (pos != d.Length) throw new MLArrayMetadataException($"pickle data has {d.Length - pos} bytes after STOP");
    }

    private static MLArrayMetadataException Refuse(string module, string name) => new($"refusing pickle global {module}.{name}");

    /// <summary>True for the opcodes that push a new value (memo gets, marks and container updates do not).</summary>
    private static bool Creates(byte code) => code is EmptyDict or EmptyList or EmptyTuple or Tuple1 or Tuple2 or Tuple3
        or PickleOpcodes.Tuple or None or NewTrue or NewFalse or BinInt1 or BinInt2 or BinInt or Long1 or Long4 or BinFloat
        or ShortBinUnicode or BinUnicode or BinUnicode8 or ShortBinBytes or BinBytes or Global or StackGlobal or Reduce;

    internal static string DecodeUtf8(ReadOnlySpan<byte> b, int offset)
    {
        try
        {
            return new UTF8Encoding(false, true).GetString(b);
        }
        catch (DecoderFallbackException e)
        {
            throw new MLArrayMetadataException($"pickle string at offset {offset} is not valid UTF-8", e);
        }
    }

    // ---- values living on the unpickler stack ------------------------------------------------------------------

    private sealed class MarkObj { public static readonly MarkObj I = new(); }
    private sealed class NoneObj { public static readonly NoneObj I = new(); }
    private sealed class PyTuple(object[] items) { public object[] Items { get; } = items; }
    private sealed class PyDict { public List<KeyValuePair<object, object>> Entries { get; } = []; }
    private sealed class NpDtype(string descr) { public string Descr { get; } = descr; public char ByteOrder { get; set; } = '='; }
    private sealed class EnumMember(string value) { public string Value { get; } = value; }

    private enum GlobalKind { FrozenList, FrozenDict, OrderedDict, Getattr, AxisLabelEnum, CoordSystemEnum, NumpyScalar, NumpyDtype }

    private sealed class PyGlobal(GlobalKind kind, string name)
    {
        public GlobalKind Kind { get; } = kind;
        public string Name { get; } = name;
    }

    private static class Globals
    {
        public static bool IsAllowed(string module, string name) => Lookup(module, name) is not null;

        public static GlobalKind? Lookup(string module, string name) => (module, name) switch
        {
            ("mlarray.meta", "_FrozenList") => GlobalKind.FrozenList,
            ("mlarray.meta", "_FrozenDict") => GlobalKind.FrozenDict,
            ("collections", "OrderedDict") => GlobalKind.OrderedDict,
            ("builtins", "getattr") => GlobalKind.Getattr,
            ("mlarray.meta", "AxisLabelEnum") => GlobalKind.AxisLabelEnum,
            ("mlarray.meta", "CoordSystemEnum") => GlobalKind.CoordSystemEnum,
            ("numpy.core.multiarray" or "numpy._core.multiarray", "scalar") => GlobalKind.NumpyScalar,
            ("numpy", "dtype") => GlobalKind.NumpyDtype,
            _ => null,
        };

        private static readonly HashSet<string> AxisLabels = new(StringComparer.Ordinal)
        {
            "spatial", "spatial_x", "spatial_y", "spatial_z", "non_spatial", "channel", "temporal", "continuous", "components",
        };

        public static string EnumValue(GlobalKind cls, string member) => (cls, member) switch
        {
            (GlobalKind.CoordSystemEnum, "RAS_PLUS") => "RAS+",
            (GlobalKind.CoordSystemEnum, "LPS_PLUS") => "LPS+",
            (GlobalKind.CoordSystemEnum, "RAS" or "LPS" or "unknown" or "other") => member,
            (GlobalKind.AxisLabelEnum, _) when AxisLabels.Contains(member) => member,
            _ => throw new MLArrayMetadataException($"refusing unknown enum member mlarray.meta.{cls}.{member}"),
        };
    }

    private ref struct Machine(ReadOnlySpan<byte> data, PayloadLimits limits)
    {
        private readonly ReadOnlySpan<byte> _d = data;
        private readonly List<object> _stack = [];
        private readonly List<int> _marks = [];
        private readonly Dictionary<long, object> _memo = [];

        /// <summary>MEMOIZE (protocol 4+: key = memo size) and BINPUT/LONG_BINPUT (protocols 2–3: explicit key); bounded by the item limit.</summary>
        private readonly void Put(Op op, long key)
        {
            if (!_memo.ContainsKey(key) && _memo.Count >= limits.MaxItems)
                throw new MLArrayMetadataException($"pickle memo has more than {limits.MaxItems} entries (limit)");
            _memo[key] = Top(op);
        }
        public PickleFeatures Features;

        private object Pop(Op op)
        {
            if (_stack.Count == 0 || (_marks.Count > 0 && _stack.Count <= _marks[^1]))
                throw Bad(op, "stack underflow");
            var v = _stack[^1];
            _stack.RemoveAt(_stack.Count - 1);
            return v;
        }

        private readonly object Top(Op op) =>
            _stack.Count == 0 || (_marks.Count > 0 && _stack.Count <= _marks[^1]) ? throw Bad(op, "stack underflow") : _stack[^1];

        private List<object> PopMark(Op op)
        {
            if (_marks.Count == 0) throw Bad(op, "no MARK on the stack");
            int m = _marks[^1];
            _marks.RemoveAt(_marks.Count - 1);
            var items = _stack.GetRange(m, _stack.Count - m);
            _stack.RemoveRange(m, _stack.Count - m);
            return items;
        }

        private static MLArrayMetadataException Bad(Op op, string what) =>
            new($"malformed pickle at offset {op.Offset} ({Name(op.Code)}): {what}");

        public object? Run()
        {
            int pos = 0;
            while (true)
            {
                var op = PickleOpcodes.Read(_d, ref pos);
                var arg = _d.Slice(op.DataStart, op.DataLength);
                switch (op.Code)
                {
                    case Proto:
                        if (op.IntArg is < 2 or > 5) throw Bad(op, $"unsupported protocol {op.IntArg}");
                        break;
                    case Frame: break;
                    case Stop:
                        if (_marks.Count > 0 || _stack.Count != 1) throw Bad(op, "stack is not a single value at STOP");
                        return _stack[0];
                    case Memoize: Put(op, _memo.Count); break;
                    case BinPut or LongBinPut: Put(op, op.IntArg); break;
                    case BinGet or LongBinGet:
                        if (!_memo.TryGetValue(op.IntArg, out var memoized)) throw Bad(op, $"memo key {op.IntArg} is missing");
                        _stack.Add(memoized);
                        break;
                    case Mark: _marks.Add(_stack.Count); break;
                    case EmptyDict: _stack.Add(new PyDict()); break;
                    case EmptyList: _stack.Add(new List<object>()); break;
                    case EmptyTuple: _stack.Add(new PyTuple([])); Features |= PickleFeatures.Tuples; break;
                    case Tuple1 or Tuple2 or Tuple3:
                    {
                        int n = op.Code - Tuple1 + 1;
                        var items = new object[n];
                        for (int i = n - 1; i >= 0; i--) items[i] = Pop(op);
                        _stack.Add(new PyTuple(items));
                        Features |= PickleFeatures.Tuples;
                        break;
                    }
                    case PickleOpcodes.Tuple: _stack.Add(new PyTuple(PopMark(op).ToArray())); Features |= PickleFeatures.Tuples; break;
                    case Append:
                    {
                        var v = Pop(op);
                        if (Top(op) is not List<object> l) throw Bad(op, "APPEND target is not a list");
                        l.Add(v);
                        break;
                    }
                    case Appends:
                    {
                        var items = PopMark(op);
                        if (Top(op) is not List<object> l) throw Bad(op, "APPENDS target is not a list");
                        l.AddRange(items);
                        break;
                    }
                    case SetItem:
                    {
                        var v = Pop(op);
                        var k = Pop(op);
                        if (Top(op) is not PyDict dct) throw Bad(op, "SETITEM target is not a dict");
                        dct.Entries.Add(new(k, v));
                        break;
                    }
                    case SetItems:
                    {
                        var items = PopMark(op);
                        if (items.Count % 2 != 0) throw Bad(op, "odd number of items");
                        if (Top(op) is not PyDict dct) throw Bad(op, "SETITEMS target is not a dict");
                        for (int i = 0; i < items.Count; i += 2) dct.Entries.Add(new(items[i], items[i + 1]));
                        break;
                    }
                    case None: _stack.Add(NoneObj.I); break;
                    case NewTrue: _stack.Add(true); break;
                    case NewFalse: _stack.Add(false); break;
                    case BinInt1 or BinInt2 or BinInt: _stack.Add(new BigInteger(op.IntArg)); break;
                    case Long1 or Long4: _stack.Add(new BigInteger(arg, isUnsigned: false, isBigEndian: false)); break;
                    case BinFloat: _stack.Add(BinaryPrimitives.ReadDoubleBigEndian(arg)); break;
                    case ShortBinUnicode or BinUnicode or BinUnicode8: _stack.Add(DecodeUtf8(arg, op.Offset)); break;
                    case ShortBinBytes or BinBytes: _stack.Add(arg.ToArray()); break;
                    case Global:
                    {
                        // protocols 2-3 name globals inline; Vet has already refused names off the list
                        string ms = Encoding.UTF8.GetString(_d.Slice(op.DataStart, op.DataLength)).Trim();
                        string ns = Encoding.UTF8.GetString(_d.Slice(op.Data2Start, op.Data2Length)).Trim();
                        var kind = Globals.Lookup(ms, ns) ?? throw Refuse(ms, ns);
                        _stack.Add(new PyGlobal(kind, $"{ms}.{ns}"));
                        break;
                    }
                    case StackGlobal:
                    {
                        var name = Pop(op);
                        var module = Pop(op);
                        if (module is not string ms || name is not string ns) throw Bad(op, "STACK_GLOBAL needs two strings");
                        var kind = Globals.Lookup(ms, ns) ?? throw Refuse(ms, ns);
                        _stack.Add(new PyGlobal(kind, $"{ms}.{ns}"));
                        break;
                    }
                    case Reduce:
                    {
                        var args = Pop(op);
                        var callable = Pop(op);
                        if (args is not PyTuple t) throw Bad(op, "REDUCE arguments are not a tuple");
                        _stack.Add(Call(op, callable, t.Items));
                        break;
                    }
                    case Build:
                    {
                        var state = Pop(op);
                        var target = Top(op);
                        if (target is not NpDtype dt)
                            throw new MLArrayMetadataException($"refusing pickle BUILD on {Describe(target)} at offset {op.Offset}");
                        if (state is not PyTuple { Items.Length: >= 2 } st || st.Items[1] is not string bo || bo.Length != 1)
                            throw Bad(op, "numpy.dtype state is not (version, byteorder, ...)");
                        dt.ByteOrder = bo[0];
                        break;
                    }
                    default:
                        throw new MLArrayMetadataException($"refusing pickle opcode {Name(op.Code)} at offset {op.Offset}");
                }
            }
        }

        private object Call(Op op, object callable, object[] args)
        {
            if (callable is not PyGlobal g)
                throw new MLArrayMetadataException($"refusing pickle REDUCE on {Describe(callable)} at offset {op.Offset}");
            switch (g.Kind)
            {
                case GlobalKind.FrozenList:
                    Features |= PickleFeatures.FrozenContainers;
                    return args switch
                    {
                        [] => new List<object>(),
                        [List<object> l] => new List<object>(l),
                        [PyTuple t] => new List<object>(t.Items),
                        _ => throw Bad(op, "_FrozenList expects one list"),
                    };
                case GlobalKind.FrozenDict or GlobalKind.OrderedDict:
                {
                    Features |= g.Kind == GlobalKind.FrozenDict ? PickleFeatures.FrozenContainers : PickleFeatures.OrderedDict;
                    var d = new PyDict();
                    switch (args)
                    {
                        case []: break;
                        case [PyDict src]: d.Entries.AddRange(src.Entries); break;
                        case [List<object> pairs]:
                            foreach (var p in pairs)
                            {
                                if (p is not PyTuple { Items.Length: 2 } kv && !(p is List<object> { Count: 2 }))
                                    throw Bad(op, $"{g.Name} expects key/value pairs");
                                var items = p is PyTuple pt ? pt.Items : ((List<object>)p).ToArray();
                                d.Entries.Add(new(items[0], items[1]));
                            }
                            break;
                        default: throw Bad(op, $"{g.Name} expects a dict or nothing");
                    }
                    return d;
                }
                case GlobalKind.Getattr:
                    if (args is not [PyGlobal { Kind: GlobalKind.AxisLabelEnum or GlobalKind.CoordSystemEnum } cls, string member])
                        throw new MLArrayMetadataException($"refusing builtins.getattr on {(args.Length > 0 ? Describe(args[0]) : "nothing")} at offset {op.Offset} (only mlarray enum members are allowed)");
                    Features |= PickleFeatures.EnumMembers;
                    return new EnumMember(Globals.EnumValue(cls.Kind, member));
                case GlobalKind.NumpyDtype:
                    if (args is not [string descr, ..] || args.Length > 3)
                        throw Bad(op, "numpy.dtype expects a type string");
                    if (descr != "f8" && !(descr.Length > 1 && descr[0] == 'U' && descr[1..].All(char.IsAsciiDigit)))
                        throw new MLArrayMetadataException($"refusing numpy dtype '{descr}' at offset {op.Offset} (only f8 and U<n> scalars are metadata)");
                    return new NpDtype(descr);
                case GlobalKind.NumpyScalar:
                {
                    if (args is not [NpDtype dt, byte[] raw])
                        throw Bad(op, "numpy scalar expects (dtype, bytes)");
                    Features |= PickleFeatures.NumpyScalars;
                    bool big = dt.ByteOrder == '>';
                    if (dt.Descr == "f8")
                    {
                        if (raw.Length != 8) throw Bad(op, "float64 scalar needs 8 bytes");
                        return big ? BinaryPrimitives.ReadDoubleBigEndian(raw) : BinaryPrimitives.ReadDoubleLittleEndian(raw);
                    }
                    if (raw.Length % 4 != 0) throw Bad(op, "str_ scalar bytes are not UTF-32");
                    var sb = new StringBuilder();
                    for (int i = 0; i < raw.Length; i += 4)
                    {
                        uint cp = big ? BinaryPrimitives.ReadUInt32BigEndian(raw.AsSpan(i)) : BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(i));
                        if (cp == 0) continue;
                        if (cp > 0x10FFFF || cp is >= 0xD800 and <= 0xDFFF) throw Bad(op, "str_ scalar holds an invalid code point");
                        sb.Append(char.ConvertFromUtf32((int)cp));
                    }
                    return sb.ToString().TrimEnd('\0');
                }
                default:
                    throw new MLArrayMetadataException($"refusing pickle REDUCE on {g.Name} at offset {op.Offset}");
            }
        }
    }

    private static string Describe(object? o) => o switch
    {
        PyGlobal g => g.Name,
        NoneObj => "None",
        string => "a str",
        BigInteger => "an int",
        double => "a float",
        bool => "a bool",
        byte[] => "bytes",
        List<object> => "a list",
        PyDict => "a dict",
        PyTuple => "a tuple",
        NpDtype => "a numpy dtype",
        EnumMember => "an enum member",
        _ => "an unknown object",
    };

    private sealed class Converter(PayloadLimits limits)
    {
        private long _items;
        private long _strBytes;

        private void Count()
        {
            if (++_items > limits.MaxItems)
                throw new MLArrayMetadataException($"metadata has more than {limits.MaxItems} items (limit)");
        }

        /// <summary>Refuses a container whose <paramref name="n"/> values would pass the item limit, before converting any of them.</summary>
        private void Reserve(long n)
        {
            if (_items + n > limits.MaxItems)
                throw new MLArrayMetadataException($"metadata has more than {limits.MaxItems} items (limit)");
        }

        private string Str(string s)
        {
            _strBytes += Encoding.UTF8.GetByteCount(s);
            if (_strBytes > limits.MaxStringBytes)
                throw new MLArrayMetadataException($"metadata strings exceed {limits.MaxStringBytes} bytes (limit)");
            return s;
        }

        public MetaValue Convert(object? o, int depth)
        {
            Count();
            switch (o)
            {
                case NoneObj or null: return MetaValue.Null;
                case bool b: return MetaValue.From(b);
                case BigInteger i: return new MetaInt(i);
                case double f: return new MetaFloat(f);
                case string s: return new MetaString(Str(s));
                case EnumMember e: return new MetaString(Str(e.Value));
                case List<object> l:
                {
                    Enter(depth);
                    Reserve(l.Count);
                    var items = new MetaValue[l.Count];
                    for (int i = 0; i < l.Count; i++) items[i] = Convert(l[i], depth + 1);
                    return new MetaList(items);
                }
                case PyTuple t:
                {
                    Enter(depth);
                    Reserve(t.Items.Length);
                    var items = new MetaValue[t.Items.Length];
                    for (int i = 0; i < items.Length; i++) items[i] = Convert(t.Items[i], depth + 1);
                    return new MetaList(items);
                }
                case PyDict d:
                {
                    Enter(depth);
                    Reserve(2L * d.Entries.Count);
                    var entries = new List<KeyValuePair<MetaValue, MetaValue>>(d.Entries.Count);
                    foreach (var (k, v) in d.Entries)
                    {
                        if (k is List<object> or PyDict or PyTuple or byte[])
                            throw new MLArrayMetadataException($"refusing dict key of type {Describe(k)} (not a JSON key)");
                        entries.Add(new(Convert(k, depth + 1), Convert(v, depth + 1)));
                    }
                    try
                    {
                        return MetaDict.FromPythonKeys(entries);
                    }
                    catch (ArgumentException e)
                    {
                        throw new MLArrayMetadataException($"refusing dict: {e.Message}", e);
                    }
                }
                case byte[]: throw new MLArrayMetadataException("refusing a bytes value outside a numpy scalar (not metadata)");
                default: throw new MLArrayMetadataException($"refusing {Describe(o)} as a metadata value");
            }
        }

        private void Enter(int depth)
        {
            if (depth + 1 > limits.MaxDepth)
                throw new MLArrayMetadataException($"metadata nesting deeper than {limits.MaxDepth} (limit)");
        }
    }
}
