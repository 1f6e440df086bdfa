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
    /// <summary>IEEE 754 floating point.</summary>
    Float,
}

/// <summary>
/// A NumPy element type as stored in the b2nd metalayer (<c>dtype.str</c> spelling, e.g. <c>&lt;f4</c>).
/// Only little-endian booleans, integers and floats are supported; anything else is refused with
/// <see cref="MLArrayNotSupportedException"/> when parsed.
/// </summary>
public readonly record struct DType
{
    private DType(string name, int itemSize, DTypeKind kind)
    {
        Name = name;
        ItemSize = itemSize;
        Kind = kind;
    }

    /// <summary>The canonical NumPy spelling, e.g. <c>&lt;f4</c> or <c>|u1</c>.</summary>
    public string Name { get; }

    /// <summary>Size of one element in bytes.</summary>
    public int ItemSize { get; }

    /// <summary>What kind of number an element is.</summary>
    public DTypeKind Kind { get; }

    /// <summary><c>|b1</c> (bool).</summary>
    public static DType Bool { get; } = new("|b1", 1, DTypeKind.Bool);
    /// <summary><c>|i1</c> (sbyte).</summary>
    public static DType Int8 { get; } = new("|i1", 1, DTypeKind.SignedInteger);
    /// <summary><c>|u1</c> (byte).</summary>
    public static DType UInt8 { get; } = new("|u1", 1, DTypeKind.UnsignedInteger);
    /// <summary><c>&lt;i2</c> (short).</summary>
    public static DType Int16 { get; } = new("<i2", 2, DTypeKind.SignedInteger);
    /// <summary><c>&lt;u2</c> (ushort).</summary>
    public static DType UInt16 { get; } = new("<u2", 2, DTypeKind.UnsignedInteger);
    /// <summary><c>&lt;i4</c> (int).</summary>
    public static DType Int32 { get; } = new("<i4", 4, DTypeKind.SignedInteger);
    /// <summary><c>&lt;u4</c> (uint).</summary>
    public static DType UInt32 { get; } = new("<u4", 4, DTypeKind.UnsignedInteger);
    /// <summary><c>&lt;i8</c> (long).</summary>
    public static DType Int64 { get; } = new("<i8", 8, DTypeKind.SignedInteger);
    /// <summary><c>&lt;u8</c> (ulong).</summary>
    public static DType UInt64 { get; } = new("<u8", 8, DTypeKind.UnsignedInteger);
    /// <summary><c>&lt;f4</c> (float).</summary>
    public static DType Float32 { get; } = new("<f4", 4, DTypeKind.Float);
    /// <summary><c>&lt;f8</c> (double).</summary>
    public static DType Float64 { get; } = new("<f8", 8, DTypeKind.Float);

    /// <summary>All supported element types.</summary>
    public static IReadOnlyList<DType> All { get; } =
        [Bool, Int8, UInt8, Int16, UInt16, Int32, UInt32, Int64, UInt64, Float32, Float64];

    /// <summary>The supported spellings, for error messages.</summary>
    public const string SupportedList = "|b1 |i1 |u1 <i2 <u2 <i4 <u4 <i8 <u8 <f4 <f8";

    /// <summary>The dtype whose elements are <typeparamref name="T"/> (bool, sbyte, byte, short, ushort, int, uint, long, ulong, float, double).</summary>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> has no MLArray dtype.</exception>
    public static DType Of<T>() where T : unmanaged =>
        TryOf<T>(out var d) ? d : throw new NotSupportedException($"{typeof(T).Name} has no MLArray dtype; use bool, sbyte, byte, short, ushort, int, uint, long, ulong, float or double.");

    /// <summary>The dtype whose elements are <typeparamref name="T"/>, or false when there is none.</summary>
    public static bool TryOf<T>(out DType dtype) where T : unmanaged
    {
        DType? d = default(T) switch
        {
            bool => Bool, sbyte => Int8, byte => UInt8, short => Int16, ushort => UInt16, int => Int32, uint => UInt32,
            long => Int64, ulong => UInt64, float => Float32, double => Float64, _ => null,
        };
        dtype = d ?? default;
        return d is not null;
    }

    /// <summary>The C# name of the element type that reads and writes this dtype (e.g. <c>float</c> for <c>&lt;f4</c>).</summary>
    public string ClrTypeName => Kind switch
    {
        DTypeKind.Bool => "bool",
        DTypeKind.Float => ItemSize == 4 ? "float" : "double",
        DTypeKind.SignedInteger => ItemSize switch { 1 => "sbyte", 2 => "short", 4 => "int", _ => "long" },
        _ => ItemSize switch { 1 => "byte", 2 => "ushort", 4 => "uint", _ => "ulong" },
    };

    /// <summary>
    /// Throws unless <typeparamref name="T"/> is exactly the element type of <paramref name="dtype"/> (the rule at every
    /// typed read and write: no reinterpretation of, say, float32 data as int32).
    /// </summary>
    /// <exception cref="ArgumentException">Another element type.</exception>
    internal static void CheckElementType<T>(DType dtype) where T : unmanaged
    {
        if (!TryOf<T>(out var have) || have != dtype)
            throw new ArgumentException($"the array's dtype is {dtype.Name} but the buffer's element type is {typeof(T).Name}; use {dtype.ClrTypeName}.");
    }

    /// <summary>
    /// Parses a NumPy dtype string. Accepts the canonical spellings and their equivalent forms
    /// (<c>=</c> or <c>&lt;</c> for native little-endian, <c>|</c>/<c>&lt;</c> for one-byte types, <c>?</c> for bool).
    /// </summary>
    /// <exception cref="MLArrayNotSupportedException">The dtype is valid NumPy but not supported here (big-endian, complex, strings, structured, datetime...).</exception>
    public static DType Parse(string numpyDType)
    {
        if (TryParse(numpyDType, out var dtype))
            return dtype;
        throw new MLArrayNotSupportedException(
            $"not supported: dtype '{numpyDType}' ({Describe(numpyDType)}); supported dtypes are {SupportedList}. Convert the array to one of these first.");
    }

    /// <summary>Tries to parse a NumPy dtype string; see <see cref="Parse"/>.</summary>
    public static bool TryParse(string? numpyDType, out DType dtype)
    {
        dtype = default;
        if (string.IsNullOrEmpty(numpyDType))
            return false;
        string s = numpyDType;
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
            "f4" => Float32,
            "f8" => Float64,
            _ => null,
        };
        if (found is not { } f)
            return false;
        // Multi-byte types must be little-endian ('<', or '=' which is little-endian on every platform .NET runs this code on).
        if (f.ItemSize > 1 && order is '>' or '|')
            return false;
        if (order == '=' && !BitConverter.IsLittleEndian)
            return false;
        dtype = f;
        return true;
    }

    private static string Describe(string s)
    {
        if (s.Length == 0) return "empty";
        if (s.StartsWith('[') || s.StartsWith('(')) return "structured";
        if (s.StartsWith('>')) return "big-endian";
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
            'f' when body != "f4" && body != "f8" => "float of unsupported width",
            _ => "unknown or unsupported",
        };
    }

    /// <inheritdoc/>
    public override string ToString() => Name ?? "";
}
