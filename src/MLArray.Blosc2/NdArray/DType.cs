namespace MLArray;

/// <summary>Kind of a supported element type.</summary>
public enum DTypeKind
{
    /// <summary>Boolean stored as one byte (0 or 1).</summary>
    Bool,
    /// <summary>Signed integer.</summary>
    SignedInteger,
    /// <summary>Unsigned integer.</summary>
    UnsignedInteger,
    /// <summary>IEEE 754 floating point (float16, float32, float64).</summary>
    Float,
    /// <summary>Complex number: two IEEE 754 floats, real part first (complex64, complex128).</summary>
    Complex,
    /// <summary>
    /// A fixed-size element with no numeric meaning here (byte and unicode strings, void and structured dtypes): the
    /// file is kept and copied byte-exact and read as raw bytes; typed reads are refused.
    /// </summary>
    Opaque,
}

/// <summary>
/// The element types as a closed set, for dispatch without comparing spellings (<see cref="DType.Code"/>). One code is
/// one element type, independent of its byte-order spelling; new types (e.g. float16, complex) get new members at the end.
/// </summary>
public enum DTypeCode
{
    /// <summary><c>|b1</c>.</summary>
    Bool,
    /// <summary><c>|i1</c>.</summary>
    Int8,
    /// <summary><c>|u1</c>.</summary>
    UInt8,
    /// <summary><c>&lt;i2</c>.</summary>
    Int16,
    /// <summary><c>&lt;u2</c>.</summary>
    UInt16,
    /// <summary><c>&lt;i4</c>.</summary>
    Int32,
    /// <summary><c>&lt;u4</c>.</summary>
    UInt32,
    /// <summary><c>&lt;i8</c>.</summary>
    Int64,
    /// <summary><c>&lt;u8</c>.</summary>
    UInt64,
    /// <summary><c>&lt;f4</c>.</summary>
    Float32,
    /// <summary><c>&lt;f8</c>.</summary>
    Float64,
    /// <summary><c>&lt;f2</c> (<see cref="System.Half"/>).</summary>
    Float16,
    /// <summary><c>&lt;c8</c> (<see cref="MLArray.Complex64"/>).</summary>
    Complex64,
    /// <summary><c>&lt;c16</c> (<see cref="System.Numerics.Complex"/>).</summary>
    Complex128,
    /// <summary>Any opaque fixed-size dtype (<see cref="DTypeKind.Opaque"/>): <c>|S8</c>, <c>&lt;U4</c>, <c>|V12</c>, structured.</summary>
    Opaque,
}


/// <summary>
/// A NumPy element type as stored in the b2nd metalayer (<c>dtype.str</c> spelling, e.g. <c>&lt;f4</c>): booleans,
/// integers, floats (16, 32 and 64 bits) and complex numbers in either byte order, plus opaque fixed-size dtypes (byte
/// and unicode strings, void and structured dtypes) that are kept byte-exact and read as raw bytes. Values of a
/// big-endian dtype are read and written in the machine's byte order; the file keeps the stored order.
/// </summary>
public readonly record struct DType
{
    /// <summary>The largest item size accepted (1 MiB): a dtype string declaring more is refused as absurd.</summary>
    public const int MaxItemSize = 1 << 20;

    private const int MaxDescrLength = 1 << 16;
    private const int MaxDescrDepth = 16;

    private DType(string name, int itemSize, DTypeKind kind, DTypeCode code, bool bigEndian = false)
    {
        Name = name;
        ItemSize = itemSize;
        Kind = kind;
        Code = code;
        IsBigEndian = bigEndian;
    }

    /// <summary>The NumPy spelling, e.g. <c>&lt;f4</c>, <c>&gt;i2</c> or <c>|u1</c>; for opaque dtypes the string as stored.</summary>
    public string Name { get; }

    /// <summary>Size of one element in bytes.</summary>
    public int ItemSize { get; }

    /// <summary>What kind of number an element is.</summary>
    public DTypeKind Kind { get; }

    /// <summary>Which element type this is, independent of byte order (switch on this, never on <see cref="Name"/>).</summary>
    public DTypeCode Code { get; }

    /// <summary>
    /// True when the file stores the elements big-endian (<c>&gt;</c>). Reads return values in the machine's order and
    /// writes take them in the machine's order; the byte swap happens at the read/write boundary.
    /// </summary>
    public bool IsBigEndian { get; }

    /// <summary>True for an opaque fixed-size dtype (strings, void, structured): raw-byte access only.</summary>
    public bool IsOpaque => Kind == DTypeKind.Opaque;

    /// <summary>The unit the byte order applies to: the item size, or half of it for complex numbers; 1 when nothing is swapped.</summary>
    internal int SwapSize => Kind == DTypeKind.Complex ? ItemSize / 2 : Kind == DTypeKind.Opaque ? 1 : ItemSize;

    /// <summary><c>|b1</c> (bool).</summary>
    public static DType Bool { get; } = new("|b1", 1, DTypeKind.Bool, DTypeCode.Bool);
    /// <summary><c>|i1</c> (sbyte).</summary>
    public static DType Int8 { get; } = new("|i1", 1, DTypeKind.SignedInteger, DTypeCode.Int8);
    /// <summary><c>|u1</c> (byte).</summary>
    public static DType UInt8 { get; } = new("|u1", 1, DTypeKind.UnsignedInteger, DTypeCode.UInt8);
    /// <summary><c>&lt;i2</c> (short).</summary>
    public static DType Int16 { get; } = new("<i2", 2, DTypeKind.SignedInteger, DTypeCode.Int16);
    /// <summary><c>&lt;u2</c> (ushort).</summary>
    public static DType UInt16 { get; } = new("<u2", 2, DTypeKind.UnsignedInteger, DTypeCode.UInt16);
    /// <summary><c>&lt;i4</c> (int).</summary>
    public static DType Int32 { get; } = new("<i4", 4, DTypeKind.SignedInteger, DTypeCode.Int32);
    /// <summary><c>&lt;u4</c> (uint).</summary>
    public static DType UInt32 { get; } = new("<u4", 4, DTypeKind.UnsignedInteger, DTypeCode.UInt32);
    /// <summary><c>&lt;i8</c> (long).</summary>
    public static DType Int64 { get; } = new("<i8", 8, DTypeKind.SignedInteger, DTypeCode.Int64);
    /// <summary><c>&lt;u8</c> (ulong).</summary>
    public static DType UInt64 { get; } = new("<u8", 8, DTypeKind.UnsignedInteger, DTypeCode.UInt64);
    /// <summary><c>&lt;f4</c> (float).</summary>
    public static DType Float32 { get; } = new("<f4", 4, DTypeKind.Float, DTypeCode.Float32);
    /// <summary><c>&lt;f8</c> (double).</summary>
    public static DType Float64 { get; } = new("<f8", 8, DTypeKind.Float, DTypeCode.Float64);
    /// <summary><c>&lt;f2</c> (<see cref="System.Half"/>).</summary>
    public static DType Float16 { get; } = new("<f2", 2, DTypeKind.Float, DTypeCode.Float16);
    /// <summary><c>&lt;c8</c> (<see cref="MLArray.Complex64"/>: two floats).</summary>
    public static DType Complex64 { get; } = new("<c8", 8, DTypeKind.Complex, DTypeCode.Complex64);
    /// <summary><c>&lt;c16</c> (<see cref="System.Numerics.Complex"/>: two doubles).</summary>
    public static DType Complex128 { get; } = new("<c16", 16, DTypeKind.Complex, DTypeCode.Complex128);

    /// <summary>All numeric element types in little-endian order, indexed by <see cref="DTypeCode"/>.</summary>
    public static IReadOnlyList<DType> All { get; } =
        [Bool, Int8, UInt8, Int16, UInt16, Int32, UInt32, Int64, UInt64, Float32, Float64, Float16, Complex64, Complex128];

    /// <summary>The (little-endian) element type of a code.</summary>
    /// <param name="code">The code.</param>
    /// <returns>The element type.</returns>
    /// <exception cref="ArgumentOutOfRangeException">Not a numeric code (<see cref="DTypeCode.Opaque"/> has no single dtype).</exception>
    internal static DType FromCode(DTypeCode code) =>
        (uint)code < (uint)All.Count ? All[(int)code] : throw new ArgumentOutOfRangeException(nameof(code), code, "not a numeric DTypeCode.");

    /// <summary>The supported spellings, for error messages.</summary>
    public const string SupportedList =
        "|b1 |i1 |u1 <i2 <u2 <i4 <u4 <i8 <u8 <f2 <f4 <f8 <c8 <c16, the same with > (big-endian), and fixed-size |S<n> <U<n> |V<n> or structured dtypes (raw bytes)";

    /// <summary>
    /// The dtype whose elements are <typeparamref name="T"/> (bool, sbyte, byte, short, ushort, int, uint, long, ulong,
    /// Half, float, double, <see cref="MLArray.Complex64"/>, <see cref="System.Numerics.Complex"/>), little-endian.
    /// </summary>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> has no MLArray dtype.</exception>
    public static DType Of<T>() where T : unmanaged =>
        TryOf<T>(out var d) ? d : throw new NotSupportedException($"{typeof(T).Name} has no MLArray dtype; use bool, sbyte, byte, short, ushort, int, uint, long, ulong, Half, float, double, Complex64 or System.Numerics.Complex.");

    /// <summary>The dtype whose elements are <typeparamref name="T"/>, or false when there is none.</summary>
    public static bool TryOf<T>(out DType dtype) where T : unmanaged
    {
        DType? d = default(T) switch
        {
            bool => Bool, sbyte => Int8, byte => UInt8, short => Int16, ushort => UInt16, int => Int32, uint => UInt32,
            long => Int64, ulong => UInt64, float => Float32, double => Float64, Half => Float16,
            MLArray.Complex64 => Complex64, System.Numerics.Complex => Complex128, _ => null,
        };
        dtype = d ?? default;
        return d is not null;
    }

    /// <summary>This dtype stored little-endian (itself when it already is, or has no byte order).</summary>
    public DType AsLittleEndian() => IsBigEndian ? FromCode(Code) : this;

    /// <summary>This dtype stored big-endian (<c>&gt;</c> spelling); one-byte and opaque dtypes have no byte order and are returned as they are.</summary>
    public DType AsBigEndian() =>
        IsBigEndian || IsOpaque || ItemSize == 1 ? this : new DType(">" + Name[1..], ItemSize, Kind, Code, bigEndian: true);

    /// <summary>The C# name of the element type that reads and writes this dtype (e.g. <c>float</c> for <c>&lt;f4</c>).</summary>
    public string ClrTypeName => Code switch
    {
        DTypeCode.Bool => "bool",
        DTypeCode.Int8 => "sbyte",
        DTypeCode.UInt8 => "byte",
        DTypeCode.Int16 => "short",
        DTypeCode.UInt16 => "ushort",
        DTypeCode.Int32 => "int",
        DTypeCode.UInt32 => "uint",
        DTypeCode.Int64 => "long",
        DTypeCode.UInt64 => "ulong",
        DTypeCode.Float16 => "Half",
        DTypeCode.Float32 => "float",
        DTypeCode.Float64 => "double",
        DTypeCode.Complex64 => "MLArray.Complex64",
        DTypeCode.Complex128 => "System.Numerics.Complex",
        _ => "byte (raw bytes, whole items)",
    };

    /// <summary>
    /// Throws unless <typeparamref name="T"/> is exactly the element type of <paramref name="dtype"/> (the rule at every
    /// typed read and write: no reinterpretation of, say, float32 data as int32). Byte order does not matter (values are
    /// in machine order); opaque dtypes accept only <see cref="byte"/> buffers over whole items.
    /// </summary>
    /// <exception cref="ArgumentException">Another element type.</exception>
    internal static void CheckElementType<T>(DType dtype) where T : unmanaged
    {
        if (dtype.IsOpaque)
        {
            if (typeof(T) != typeof(byte))
                throw new ArgumentException($"the array's dtype is {dtype.Name} ({Describe(dtype.Name)}, {dtype.ItemSize}-byte items), which has no .NET element type; read raw bytes (byte buffers, {dtype.ItemSize} bytes per item) instead of {typeof(T).Name}.");
            return;
        }
        if (!TryOf<T>(out var have) || have.Code != dtype.Code)
            throw new ArgumentException($"the array's dtype is {dtype.Name} but the buffer's element type is {typeof(T).Name}; use {dtype.ClrTypeName}.");
    }

    /// <summary>Throws <see cref="MLArrayNotSupportedException"/> naming the dtype when it is opaque (for conversions that need numbers).</summary>
    /// <param name="what">What needs numbers, e.g. "NIfTI export".</param>
    public void ThrowIfOpaque(string what)
    {
        if (IsOpaque)
            throw new MLArrayNotSupportedException($"{what} needs numeric data, but the dtype is {Name} ({Describe(Name)}); only raw-byte reads, copies and .npy export keep such arrays.");
    }

    /// <summary>
    /// Parses a NumPy dtype string: <c>dtype.str</c> spellings with <c>&lt;</c>, <c>&gt;</c>, <c>=</c> or <c>|</c>
    /// (the last two: the machine's order), <c>?</c> for bool, fixed-size strings and void (<c>|S8</c>, <c>&lt;U4</c>, <c>|V12</c>) and structured
    /// descriptions as python-blosc2 stores them (<c>[('a', '&lt;f4'), ('b', '&lt;i2')]</c>).
    /// </summary>
    /// <exception cref="MLArrayNotSupportedException">The dtype is not one NumPy would parse, has an absurd item size, or is not supported here (objects, datetimes...).</exception>
    public static DType Parse(string numpyDType)
    {
        if (TryParse(numpyDType, out var dtype))
            return dtype;
        throw new MLArrayNotSupportedException(
            $"not supported: dtype '{Clip(numpyDType)}' ({Describe(numpyDType)}); supported dtypes are {SupportedList} (item sizes 1..{MaxItemSize} bytes). Convert the array to one of these first.");
    }

    /// <summary>Tries to parse a NumPy dtype string; see <see cref="Parse"/>.</summary>
    public static bool TryParse(string? numpyDType, out DType dtype)
    {
        dtype = default;
        if (string.IsNullOrEmpty(numpyDType) || numpyDType.Length > MaxDescrLength)
            return false;
        if (numpyDType[0] == '[')
        {
            int pos = 0;
            long size = StructSize(numpyDType, ref pos, 0);
            if (size <= 0 || size > MaxItemSize || pos != numpyDType.Length)
                return false;
            dtype = new DType(numpyDType, (int)size, DTypeKind.Opaque, DTypeCode.Opaque);
            return true;
        }
        return TryParseSimple(numpyDType, out dtype);
    }

    private static bool TryParseSimple(string s, out DType dtype)
    {
        dtype = default;
        if (s.Length == 0)
            return false; // an empty field type inside a structured dtype
        if (s == "?" || s == "bool")
        {
            dtype = Bool;
            return true;
        }
        char order = s[0];
        string body = s;
        if (order is '<' or '>' or '=' or '|')
            body = s[1..];
        else
            order = '=';
        if (body.Length == 0)
            return false;
        if (body[0] is 'S' or 'a' or 'U' or 'V')
        {
            // Fixed-size strings and void: a positive decimal size (NumPy's flexible size 0 is not a stored dtype).
            string digits = body[1..];
            if (digits.Length is 0 or > 8 || !digits.All(char.IsAsciiDigit))
                return false;
            long n = long.Parse(digits, System.Globalization.CultureInfo.InvariantCulture) * (body[0] == 'U' ? 4 : 1);
            if (n <= 0 || n > MaxItemSize)
                return false;
            dtype = new DType(s, (int)n, DTypeKind.Opaque, DTypeCode.Opaque);
            return true;
        }
        DType? found = body switch
        {
            "b1" or "?" => Bool,
            "i1" => Int8,
            "u1" => UInt8,
            "i2" => Int16,
            "u2" => UInt16,
            "i4" => Int32,
            "u4" => UInt32,
            "i8" => Int64,
            "u8" => UInt64,
            "f2" => Float16,
            "f4" => Float32,
            "f8" => Float64,
            "c8" => Complex64,
            "c16" => Complex128,
            _ => null,
        };
        if (found is not { } f)
            return false;
        // '=' (and '|', "not applicable", which NumPy reads as native) is the machine's order: little-endian on every
        // platform .NET runs this code on.
        if (order is '=' or '|' && !BitConverter.IsLittleEndian)
            return false;
        dtype = order == '>' ? f.AsBigEndian() : f;
        return true;
    }

    /// <summary>
    /// The item size of a structured description (a Python list of <c>(name, dtype[, shape])</c> tuples, as
    /// <c>repr(dtype.descr)</c> writes it); -1 when it is not one.
    /// </summary>
    private static long StructSize(string s, ref int pos, int depth)
    {
        if (depth > MaxDescrDepth || !Eat(s, ref pos, '['))
            return -1;
        long total = 0;
        var names = new HashSet<string>(StringComparer.Ordinal);
        SkipSpace(s, ref pos);
        if (Eat(s, ref pos, ']'))
            return -1; // no fields: itemsize 0
        while (true)
        {
            if (!Eat(s, ref pos, '(') || ReadQuoted(s, ref pos) is not { } name || !Eat(s, ref pos, ','))
                return -1;
            if (name.Length > 0 && !names.Add(name))
                return -1; // NumPy refuses duplicate field names
            SkipSpace(s, ref pos);
            long field;
            if (pos < s.Length && s[pos] == '[')
                field = StructSize(s, ref pos, depth + 1);
            else if (ReadQuoted(s, ref pos) is { } typeStr && TryParseSimple(typeStr, out var ft))
                field = ft.ItemSize;
            else
                return -1;
            if (field <= 0)
                return -1;
            if (Eat(s, ref pos, ','))
            {
                SkipSpace(s, ref pos);
                if (!(pos < s.Length && s[pos] == '(' && ReadShape(s, ref pos) is var count and > 0))
                    return -1;
                field *= count;
            }
            if (!Eat(s, ref pos, ')'))
                return -1;
            total += field;
            if (total > MaxItemSize)
                return -1;
            if (Eat(s, ref pos, ']'))
                return total;
            if (!Eat(s, ref pos, ','))
                return -1;
        }
    }

    private static long ReadShape(string s, ref int pos)
    {
        // (n,) or (n, m, ...): positive dimensions, product bounded by MaxItemSize.
        if (!Eat(s, ref pos, '('))
            return -1;
        long count = 1;
        int dims = 0;
        while (true)
        {
            SkipSpace(s, ref pos);
            int start = pos;
            while (pos < s.Length && char.IsAsciiDigit(s[pos]) && pos - start < 8) pos++;
            if (pos == start)
                return dims > 0 && Eat(s, ref pos, ')') ? count : -1;
            long n = long.Parse(s.AsSpan(start, pos - start), provider: System.Globalization.CultureInfo.InvariantCulture);
            if (n <= 0 || (count *= n) > MaxItemSize)
                return -1;
            dims++;
            if (Eat(s, ref pos, ')'))
                return count;
            if (!Eat(s, ref pos, ','))
                return -1;
        }
    }

    private static string? ReadQuoted(string s, ref int pos)
    {
        SkipSpace(s, ref pos);
        if (pos >= s.Length || s[pos] is not ('\'' or '"'))
            return null;
        char q = s[pos];
        int end = s.IndexOf(q, pos + 1);
        if (end < 0 || s.AsSpan(pos + 1, end - pos - 1).Contains('\\'))
            return null;
        string v = s[(pos + 1)..end];
        pos = end + 1;
        return v;
    }

    private static bool Eat(string s, ref int pos, char c)
    {
        SkipSpace(s, ref pos);
        if (pos < s.Length && s[pos] == c)
        {
            pos++;
            return true;
        }
        return false;
    }

    private static void SkipSpace(string s, ref int pos)
    {
        while (pos < s.Length && s[pos] == ' ') pos++;
    }

    /// <summary>
    /// True when <paramref name="s"/> is a dtype NumPy parses that has no fixed-size byte meaning here (Python objects,
    /// datetimes, timedeltas); every other string <see cref="TryParse"/> refuses is malformed or has an absurd item size.
    /// </summary>
    internal static bool IsValidButUnsupported(string? s)
    {
        if (string.IsNullOrEmpty(s)) return false;
        string body = s[0] is '<' or '>' or '=' or '|' ? s[1..] : s;
        return body is "O" or "O8" || ((body.StartsWith("M8", StringComparison.Ordinal) || body.StartsWith("m8", StringComparison.Ordinal))
            && (body.Length == 2 || (body[2] == '[' && body[^1] == ']' && body.Length <= 12 && body[3..^1].All(char.IsAsciiLetterOrDigit))));
    }

    private static string Clip(string? s) => s is null ? "" : s.Length <= 80 ? s : s[..80] + "…";

    private static string Describe(string? s)
    {
        if (string.IsNullOrEmpty(s)) return "empty";
        if (s.StartsWith('[')) return "structured";
        if (s.StartsWith('(')) return "subarray or tuple form, not a dtype.str spelling";
        string body = s.TrimStart('<', '>', '=', '|');
        return body.Length == 0 ? "unknown" : body[0] switch
        {
            'c' => "complex",
            'S' or 'a' => "byte string",
            'U' => "unicode string",
            'V' => "void/structured",
            'O' => "Python object",
            'M' => "datetime",
            'm' => "timedelta",
            'f' => "float",
            'i' or 'u' or 'b' => "integer",
            _ => "unknown",
        };
    }

    /// <inheritdoc/>
    public override string ToString() => Name ?? "";
}
