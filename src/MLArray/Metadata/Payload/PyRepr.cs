using System.Globalization;
using System.Numerics;
using System.Text;

namespace MLArray.Metadata.Payload;

/// <summary>Python's text forms of scalars: <c>repr(float)</c> and the dict-key strings <c>json.dumps</c> writes.</summary>
internal static class PyRepr
{
    /// <summary>
    /// Python's <c>repr(float)</c>: shortest round-trip digits, fixed notation for 1e-4 ≤ |x| &lt; 1e16 with a
    /// trailing <c>.0</c> for integral values, otherwise <c>1e-05</c> / <c>1.5e+16</c>; <c>nan</c>, <c>inf</c>, <c>-inf</c>.
    /// </summary>
    public static string Float(double value)
    {
        if (double.IsNaN(value)) return "nan";
        if (double.IsPositiveInfinity(value)) return "inf";
        if (double.IsNegativeInfinity(value)) return "-inf";
        if (value == 0) return double.IsNegative(value) ? "-0.0" : "0.0";
        // shortest round-trip digits: "R" gives them, in either fixed or exponent form
        string s = Math.Abs(value).ToString("R", CultureInfo.InvariantCulture);
        string digits;
        int exp10; // value = 0.DIGITS * 10^exp10
        int e = s.IndexOfAny(['E', 'e']);
        string mant = e >= 0 ? s[..e] : s;
        int exp = e >= 0 ? int.Parse(s[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) : 0;
        int dot = mant.IndexOf('.', StringComparison.Ordinal);
        string intPart = dot >= 0 ? mant[..dot] : mant;
        string fracPart = dot >= 0 ? mant[(dot + 1)..] : "";
        string all = intPart + fracPart;
        int lead = 0;
        while (lead < all.Length - 1 && all[lead] == '0') lead++;
        digits = all[lead..].TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        exp10 = intPart.Length - lead + exp;
        var sb = new StringBuilder();
        if (value < 0) sb.Append('-');
        if (exp10 > -4 && exp10 <= 16)
        {
            if (exp10 <= 0)
            {
                sb.Append("0.").Append('0', -exp10).Append(digits);
            }
            else if (digits.Length <= exp10)
            {
                sb.Append(digits).Append('0', exp10 - digits.Length).Append(".0");
            }
            else
            {
                sb.Append(digits, 0, exp10).Append('.').Append(digits, exp10, digits.Length - exp10);
            }
        }
        else
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            int x = exp10 - 1;
            sb.Append('e').Append(x < 0 ? '-' : '+').Append(Math.Abs(x).ToString("00", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    /// <summary>The float as Python's <c>json.dumps</c> writes it (<c>NaN</c>, <c>Infinity</c>, <c>-Infinity</c>, else repr).</summary>
    public static string JsonFloat(double value) =>
        double.IsNaN(value) ? "NaN" : double.IsPositiveInfinity(value) ? "Infinity" : double.IsNegativeInfinity(value) ? "-Infinity" : Float(value);

    /// <summary>An int as Python prints it.</summary>
    public static string Int(BigInteger value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The string <c>json.dumps</c> uses for a non-string dict key: ints in decimal, floats as repr (NaN/Infinity),
    /// <c>true</c>/<c>false</c>, <c>null</c>.
    /// </summary>
    public static string JsonKey(MetaValue key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key switch
        {
            MetaString s => s.Value,
            MetaInt i => Int(i.Value),
            MetaFloat f => JsonFloat(f.Value),
            MetaBool b => b.Value ? "true" : "false",
            MetaNull => "null",
            _ => throw new MLArrayMetadataException($"unsupported dict key of kind {key.Kind} (keys must be str, int, float, bool or None)"),
        };
    }

    /// <summary>A dict key as Python's <c>repr</c> shows it (<c>'a'</c>, <c>7</c>, <c>2.5</c>, <c>True</c>, <c>None</c>), for messages.</summary>
    public static string Key(MetaValue key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key switch
        {
            MetaString s => "'" + s.Value + "'",
            MetaInt i => Int(i.Value),
            MetaFloat f => Float(f.Value),
            MetaBool b => b.Value ? "True" : "False",
            MetaNull => "None",
            _ => key.Kind.ToString(),
        };
    }
}
