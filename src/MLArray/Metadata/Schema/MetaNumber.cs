using System.Globalization;
using System.Numerics;

namespace MLArray.Metadata;

/// <summary>
/// A metadata number that remembers whether it was written as an integer (of any size) or as a float, because the
/// reference implementation keeps both exactly as given (<c>-1024</c> stays an int, <c>3071.0</c> stays a float) and
/// a canonical round trip must too. Equality is exact and kind-sensitive: <c>1</c> and <c>1.0</c> differ; NaN equals NaN.
/// </summary>
public readonly struct MetaNumber : IEquatable<MetaNumber>
{
    private readonly BigInteger _integer;
    private readonly double _float;

    /// <summary>An integer number.</summary>
    public MetaNumber(BigInteger value)
    {
        _integer = value;
        _float = 0;
        IsInteger = true;
    }

    /// <summary>An integer number.</summary>
    public MetaNumber(long value)
        : this((BigInteger)value)
    {
    }

    /// <summary>A float number (NaN and ±Infinity allowed).</summary>
    public MetaNumber(double value)
    {
        _integer = default;
        _float = value;
        IsInteger = false;
    }

    /// <summary>True when the number is an integer, false when it is a float.</summary>
    public bool IsInteger { get; }

    /// <summary>The integer value (throws for floats).</summary>
    public BigInteger Integer => IsInteger ? _integer : throw new InvalidOperationException("The number is a float, not an integer.");

    /// <summary>The value as a double (large integers are rounded).</summary>
    public double ToDouble() => IsInteger ? (double)_integer : _float;

    /// <summary>Converts to the neutral tree (<see cref="MetaInt"/> or <see cref="MetaFloat"/>).</summary>
    public MetaValue ToMetaValue() => IsInteger ? MetaValue.From(_integer) : MetaValue.From(_float);

    /// <summary>An integer number.</summary>
    public static implicit operator MetaNumber(int value) => new((BigInteger)value);

    /// <summary>An integer number.</summary>
    public static implicit operator MetaNumber(long value) => new((BigInteger)value);

    /// <summary>An integer number.</summary>
    public static implicit operator MetaNumber(BigInteger value) => new(value);

    /// <summary>A float number.</summary>
    public static implicit operator MetaNumber(double value) => new(value);

    /// <summary>An integer number.</summary>
    public static MetaNumber FromInt64(long value) => new((BigInteger)value);

    /// <summary>A float number.</summary>
    public static MetaNumber FromDouble(double value) => new(value);

    /// <summary>Numeric comparison (ints compared exactly, otherwise as doubles).</summary>
    public int CompareNumerically(MetaNumber other) =>
        IsInteger && other.IsInteger ? _integer.CompareTo(other._integer) : ToDouble().CompareTo(other.ToDouble());

    /// <inheritdoc/>
    public bool Equals(MetaNumber other) =>
        IsInteger == other.IsInteger && (IsInteger ? _integer == other._integer : _float.Equals(other._float));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is MetaNumber n && Equals(n);

    /// <inheritdoc/>
    public override int GetHashCode() => IsInteger ? _integer.GetHashCode() : _float.GetHashCode();

    /// <summary>Exact equality.</summary>
    public static bool operator ==(MetaNumber left, MetaNumber right) => left.Equals(right);

    /// <summary>Exact inequality.</summary>
    public static bool operator !=(MetaNumber left, MetaNumber right) => !left.Equals(right);

    /// <summary>Python's <c>repr</c>: <c>-1024</c>, <c>3071.0</c>, <c>0.8</c>, <c>nan</c>, <c>inf</c>.</summary>
    public override string ToString() => IsInteger ? _integer.ToString(CultureInfo.InvariantCulture) : FormatFloat(_float);

    internal static string FormatFloat(double value)
    {
        if (double.IsNaN(value)) return "nan";
        if (double.IsPositiveInfinity(value)) return "inf";
        if (double.IsNegativeInfinity(value)) return "-inf";
        var s = value.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);
        if (s.Contains('e', StringComparison.Ordinal))
        {
            int e = s.IndexOf('e', StringComparison.Ordinal);
            if (s[e + 1] != '-' && s[e + 1] != '+') s = s.Insert(e + 1, "+");
            return s;
        }
        return s.Contains('.', StringComparison.Ordinal) ? s : s + ".0";
    }
}
