using System.Globalization;

namespace MLArray;

/// <summary>
/// The names of codecs, filters and split modes as users type them (python-blosc2 spelling, lower case), and the
/// parser of filter pipelines such as <c>delta+shuffle</c> or <c>trunc_prec10+bitshuffle</c>. Every place that
/// turns a name into a <see cref="Blosc2Codec"/>, <see cref="Blosc2Filter"/> or <see cref="Blosc2SplitMode"/> (or
/// back) uses this table.
/// </summary>
public static class CompressionNames
{
    private static readonly (string Name, Blosc2Codec Codec)[] CodecTable =
    [
        ("blosclz", Blosc2Codec.BloscLZ), ("lz4", Blosc2Codec.LZ4), ("lz4hc", Blosc2Codec.LZ4HC),
        ("zlib", Blosc2Codec.Zlib), ("zstd", Blosc2Codec.Zstd),
    ];

    private static readonly (string Name, Blosc2Filter Filter)[] FilterTable =
    [
        ("shuffle", Blosc2Filter.Shuffle), ("bitshuffle", Blosc2Filter.BitShuffle), ("delta", Blosc2Filter.Delta),
        ("trunc_prec", Blosc2Filter.TruncPrec),
    ];

    // The first name of each mode is the one printed; the others are accepted aliases.
    private static readonly (string[] Names, Blosc2SplitMode Mode)[] SplitTable =
    [
        (["auto"], Blosc2SplitMode.Auto), (["always"], Blosc2SplitMode.Always), (["never"], Blosc2SplitMode.Never),
        (["forward_compat", "forward", "forwardcompat"], Blosc2SplitMode.ForwardCompat),
    ];

    /// <summary>The names an empty pipeline is written as: <c>none</c>, and C-Blosc2/python-blosc2's <c>noshuffle</c> and <c>nofilter</c>.</summary>
    public static IReadOnlyList<string> NoFilterNames { get; } = ["none", "noshuffle", "nofilter"];

    /// <summary>The codec names, in the order help screens list them: <c>blosclz lz4 lz4hc zlib zstd</c>.</summary>
    public static IReadOnlyList<string> CodecNames { get; } = CodecTable.Select(c => c.Name).ToArray();

    /// <summary>The filter names that can appear in a pipeline: <c>shuffle bitshuffle delta trunc_prec</c> (<c>trunc_prec</c> takes an optional precision, e.g. <c>trunc_prec10</c>).</summary>
    public static IReadOnlyList<string> FilterNames { get; } = FilterTable.Select(f => f.Name).ToArray();

    /// <summary>The split mode names: <c>auto always never forward_compat</c>.</summary>
    public static IReadOnlyList<string> SplitModeNames { get; } = SplitTable.Select(s => s.Names[0]).ToArray();

    /// <summary>The name of a codec (<c>lz4hc</c>); <c>codecN</c> for an id outside the enum.</summary>
    /// <param name="codec">The codec.</param>
    public static string NameOf(Blosc2Codec codec)
    {
        foreach (var (name, c) in CodecTable)
        {
            if (c == codec) return name;
        }

        return string.Create(CultureInfo.InvariantCulture, $"codec{(int)codec}");
    }

    /// <summary>The name of a filter (<c>shuffle</c>; <c>none</c> for an empty slot); <c>filterN</c> for an id outside the enum.</summary>
    /// <param name="filter">The filter.</param>
    public static string NameOf(Blosc2Filter filter)
    {
        if (filter == Blosc2Filter.None) return NoFilterNames[0];
        foreach (var (name, f) in FilterTable)
        {
            if (f == filter) return name;
        }

        return string.Create(CultureInfo.InvariantCulture, $"filter{(int)filter}");
    }

    /// <summary>The name of a split mode (<c>auto</c>); <c>splitN</c> for an id outside the enum.</summary>
    /// <param name="mode">The split mode.</param>
    public static string NameOf(Blosc2SplitMode mode)
    {
        foreach (var (names, m) in SplitTable)
        {
            if (m == mode) return names[0];
        }

        return string.Create(CultureInfo.InvariantCulture, $"split{(int)mode}");
    }

    /// <summary>The codec called <paramref name="name"/> (case-insensitive).</summary>
    /// <param name="name">One of <see cref="CodecNames"/>.</param>
    /// <exception cref="ArgumentException">The name is not a codec; the message lists the names.</exception>
    public static Blosc2Codec ParseCodec(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string n = name.Trim().ToLowerInvariant();
        foreach (var (cname, c) in CodecTable)
        {
            if (cname == n) return c;
        }

        throw new ArgumentException($"unknown codec '{name}'; use {Join(CodecNames)}.", nameof(name));
    }

    /// <summary>The split mode called <paramref name="name"/> (case-insensitive; <c>forward</c> is an alias of <c>forward_compat</c>).</summary>
    /// <param name="name">One of <see cref="SplitModeNames"/>.</param>
    /// <exception cref="ArgumentException">The name is not a split mode; the message lists the names.</exception>
    public static Blosc2SplitMode ParseSplitMode(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string n = name.Trim().ToLowerInvariant();
        foreach (var (names, m) in SplitTable)
        {
            if (names.Contains(n, StringComparer.Ordinal)) return m;
        }

        throw new ArgumentException($"unknown split mode '{name}'; use {Join(SplitModeNames)}.", nameof(name));
    }

    /// <summary>
    /// Parses a filter pipeline: filter names joined by <c>+</c>, applied left to right (<c>shuffle</c>,
    /// <c>bitshuffle</c>, <c>delta+shuffle</c>, <c>trunc_prec10+shuffle</c>), or an empty pipeline
    /// (<c>none</c>, <c>noshuffle</c>, <c>nofilter</c> or the empty string). The filters go into the last slots of the
    /// six-slot pipeline, python-blosc2 style (<see cref="CompressionParams.Pipeline"/>). <c>trunc_prec</c> applies to
    /// float data only; without a number it keeps 10 mantissa bits for float32 and 20 for float64 (a negative number
    /// gives the bits to drop).
    /// </summary>
    /// <param name="spec">The pipeline (case-insensitive).</param>
    /// <param name="dtype">The element type the pipeline will compress (checked for <c>trunc_prec</c>).</param>
    /// <returns>The six filter slots and their six parameter bytes, for <see cref="CompressionParams.Filters"/> and <see cref="CompressionParams.FiltersMeta"/>.</returns>
    /// <exception cref="ArgumentException">An unknown filter, more than six filters, or a <c>trunc_prec</c> that does not fit the dtype.</exception>
    public static (Blosc2Filter[] Filters, byte[] FiltersMeta) ParseFilters(string spec, DType dtype)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var names = new List<Blosc2Filter>();
        var metas = new List<byte>();
        string s = spec.Trim();
        if (s.Length > 0 && !NoFilterNames.Contains(s.ToLowerInvariant(), StringComparer.Ordinal))
        {
            foreach (string raw in s.Split('+'))
            {
                string t = raw.Trim().ToLowerInvariant();
                int i = Array.FindIndex(FilterTable, f => f.Name == t);
                if (i >= 0 && FilterTable[i].Filter != Blosc2Filter.TruncPrec)
                {
                    names.Add(FilterTable[i].Filter);
                    metas.Add(0);
                }
                else if (t.StartsWith("trunc_prec", StringComparison.Ordinal))
                {
                    names.Add(Blosc2Filter.TruncPrec);
                    metas.Add(TruncPrecBits(t["trunc_prec".Length..], dtype));
                }
                else
                {
                    throw new ArgumentException(
                        $"unknown filter '{raw}' in the filter pipeline '{spec}'; use {Join(FilterNames)} (trunc_prec[N]) joined by '+', or {Join(NoFilterNames)}.",
                        nameof(spec));
                }
            }
        }

        if (names.Count > 6)
            throw new ArgumentException($"the filter pipeline '{spec}' has {names.Count} filters; at most 6 fit in a Blosc2 pipeline.", nameof(spec));
        var meta = new byte[6];
        metas.CopyTo(meta, 6 - metas.Count);
        return (CompressionParams.Pipeline([.. names]), meta);
    }

    /// <summary>Whether the TRUNC_PREC filter can apply: C-Blosc2 truncates 4- and 8-byte floats in the machine's order only.</summary>
    internal static bool TruncPrecApplies(DType dtype) =>
        dtype.Kind == DTypeKind.Float && dtype.ItemSize is 4 or 8 && !dtype.IsBigEndian;

    private static byte TruncPrecBits(string num, DType dtype)
    {
        if (!TruncPrecApplies(dtype))
            throw new ArgumentException($"trunc_prec only applies to little-endian float32/float64 data (as in C-Blosc2), not {dtype.Name}.", nameof(dtype));
        int bits = num.Length == 0 ? (dtype.ItemSize == 4 ? 10 : 20)
            : int.TryParse(num, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int b) ? b
            : throw new ArgumentException($"bad trunc_prec precision '{num}'; use e.g. trunc_prec10.", nameof(num));
        int mantissa = dtype.ItemSize == 4 ? 23 : 52;
        if (bits == 0 || Math.Abs(bits) >= mantissa)
            throw new ArgumentException($"trunc_prec precision {bits} is out of range for {dtype.Name} (1..{mantissa - 1} bits to keep, or -1..-{mantissa - 1} to drop).", nameof(num));
        return unchecked((byte)(sbyte)bits);
    }

    private static string Join(IReadOnlyList<string> names) =>
        names.Count < 2 ? string.Join("", names) : string.Join(", ", names.Take(names.Count - 1)) + " or " + names[^1];
}
