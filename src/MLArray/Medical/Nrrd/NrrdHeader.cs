using System.Globalization;
using System.Text;
using MLArray.Blosc2;

namespace MLArray.Medical.Nrrd;

/// <summary>
/// A NRRD header: the magic line, the fields (canonical names, values parsed as pynrrd does: int, double, string,
/// long[], double[], string[], double[][] with NaN rows for <c>none</c>), the <c>key:=value</c> pairs and the comments.
/// Mutable, so that a writer can start from a read header or from <see cref="Create"/>.
/// </summary>
public sealed class NrrdHeader
{
    private static readonly Dictionary<string, string> Aliases = new(StringComparer.Ordinal)
    {
        ["centers"] = "centerings",
        ["lineskip"] = "line skip",
        ["byteskip"] = "byte skip",
        ["datafile"] = "data file",
        ["oldmin"] = "old min",
        ["oldmax"] = "old max",
        ["axismins"] = "axis mins",
        ["axismaxs"] = "axis maxs",
        ["blocksize"] = "block size",
    };

    private static readonly HashSet<string> KnownFields = new(StringComparer.Ordinal)
    {
        "type", "dimension", "sizes", "endian", "encoding", "content", "space", "space dimension", "space directions",
        "space origin", "space units", "measurement frame", "kinds", "spacings", "thicknesses", "axis mins", "axis maxs",
        "centerings", "labels", "units", "min", "max", "old min", "old max", "block size", "line skip", "byte skip",
        "data file", "sample units", "number",
    };

    /// <summary>The first line, e.g. <c>NRRD0004</c>.</summary>
    public string Magic { get; set; } = "NRRD0004";

    /// <summary>The fields in file order, by canonical name (aliases such as <c>byteskip</c> normalised).</summary>
    public OrderedDictionary<string, object> Fields { get; } = new(StringComparer.Ordinal);

    /// <summary>The <c>key:=value</c> pairs in file order.</summary>
    public OrderedDictionary<string, string> KeyValues { get; } = new(StringComparer.Ordinal);

    /// <summary>Comment lines (without the leading <c>#</c>).</summary>
    public List<string> Comments { get; } = [];

    /// <summary>Creates a header with <c>type</c>, <c>dimension</c> and <c>sizes</c> set.</summary>
    /// <param name="dtype">The element type (not bool).</param>
    /// <param name="sizes">The sizes, fastest axis first.</param>
    /// <returns>The header.</returns>
    public static NrrdHeader Create(DType dtype, IReadOnlyList<long> sizes)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        var h = new NrrdHeader();
        h.Fields["type"] = NrrdTypes.CanonicalName(dtype);
        h.Fields["dimension"] = (long)sizes.Count;
        h.Fields["sizes"] = sizes.ToArray();
        return h;
    }

    /// <summary>The element type named by <c>type</c>.</summary>
    public DType DType => NrrdTypes.Parse(GetString("type") ?? throw new MLArrayFormatException("NRRD header has no 'type' field."), "NRRD header");

    /// <summary><c>dimension</c>.</summary>
    public int Dimension => (int)(GetLong("dimension") ?? 0);

    /// <summary><c>sizes</c>, fastest axis first (the file shape).</summary>
    public long[] Sizes => Fields.TryGetValue("sizes", out object? v) && v is long[] s ? s : [];

    /// <summary><c>encoding</c> normalised to raw, gzip, bzip2, ascii or hex.</summary>
    public string Encoding => NormaliseEncoding(GetString("encoding") ?? "raw");

    /// <summary><c>endian</c> ("little", "big") or null.</summary>
    public string? Endian => GetString("endian");

    /// <summary><c>space</c> (e.g. <c>left-posterior-superior</c>) or null.</summary>
    public string? Space => GetString("space");

    /// <summary>The number of world coordinates: <c>space dimension</c>, or implied by <c>space</c>; 0 when neither.</summary>
    public int SpaceDimension => (int)(GetLong("space dimension") ?? (Space is { } s ? SpaceDimensionOf(s) : 0));

    /// <summary><c>space directions</c>: one vector per axis, NaN-filled for <c>none</c>; null when absent.</summary>
    public double[][]? SpaceDirections => Fields.TryGetValue("space directions", out object? v) ? v as double[][] : null;

    /// <summary><c>space origin</c>, or null.</summary>
    public double[]? SpaceOrigin => Fields.TryGetValue("space origin", out object? v) ? v as double[] : null;

    /// <summary><c>kinds</c>, or null.</summary>
    public string[]? Kinds => Fields.TryGetValue("kinds", out object? v) ? v as string[] : null;

    /// <summary><c>spacings</c> (NaN for none), or null.</summary>
    public double[]? Spacings => Fields.TryGetValue("spacings", out object? v) ? v as double[] : null;

    /// <summary><c>measurement frame</c>, or null.</summary>
    public double[][]? MeasurementFrame => Fields.TryGetValue("measurement frame", out object? v) ? v as double[][] : null;

    /// <summary><c>line skip</c> (0 when absent).</summary>
    public long LineSkip => GetLong("line skip") ?? 0;

    /// <summary><c>byte skip</c> (0 when absent; -1 means the data are the last bytes).</summary>
    public long ByteSkip => GetLong("byte skip") ?? 0;

    /// <summary><c>data file</c> of a detached header, or null.</summary>
    public string? DataFile => GetString("data file");

    /// <summary>
    /// The affine in the header's own space: an (s+1)×(s+1) matrix (s = space dimension) whose columns are the space
    /// directions of the axes that have one (in axis order) and whose last column is the space origin (0 when absent).
    /// Null when there are no space directions.
    /// </summary>
    /// <returns>A new matrix or null.</returns>
    public double[,]? GetAffine()
    {
        double[][]? dirs = SpaceDirections;
        if (dirs is null)
        {
            return null;
        }

        int s = SpaceDimension > 0 ? SpaceDimension : dirs.FirstOrDefault(d => !double.IsNaN(d[0]))?.Length ?? 0;
        var a = new double[s + 1, s + 1];
        int col = 0;
        foreach (double[] d in dirs)
        {
            if (d.Any(double.IsNaN) || col >= s)
            {
                continue;
            }

            for (int i = 0; i < s; i++)
            {
                a[i, col] = d[i];
            }

            col++;
        }

        double[]? o = SpaceOrigin;
        for (int i = 0; i < s; i++)
        {
            a[i, s] = o is not null && i < o.Length && !double.IsNaN(o[i]) ? o[i] : 0;
        }

        a[s, s] = 1;
        return a;
    }

    /// <summary>
    /// <see cref="GetAffine"/> expressed in RAS: rows 0 and 1 negated for left-posterior-superior (LPS), row 0 for
    /// left-anterior-superior (LAS), unchanged for right-anterior-superior; null for any other space or none.
    /// </summary>
    /// <returns>A new 4×4 matrix or null.</returns>
    public double[,]? GetAffineRas()
    {
        double[,]? a = GetAffine();
        if (a is null || a.GetLength(0) != 4)
        {
            return null;
        }

        (bool fx, bool fy) = (Space ?? "").ToLowerInvariant() switch
        {
            "right-anterior-superior" or "ras" => (false, false),
            "left-anterior-superior" or "las" => (true, false),
            "left-posterior-superior" or "lps" => (true, true),
            _ => (false, false),
        };
        if (Space is null || !(Space.ToLowerInvariant() is "right-anterior-superior" or "ras" or "left-anterior-superior" or "las" or "left-posterior-superior" or "lps"))
        {
            return null;
        }

        for (int j = 0; j < 4; j++)
        {
            if (fx)
            {
                a[0, j] = -a[0, j];
            }

            if (fy)
            {
                a[1, j] = -a[1, j];
            }
        }

        return a;
    }

    /// <summary>All fields, then all key/value pairs, as JSON-able values (pynrrd's header dict).</summary>
    /// <returns>A new ordered dictionary.</returns>
    public OrderedDictionary<string, object> ToDictionary()
    {
        var d = new OrderedDictionary<string, object>(StringComparer.Ordinal);
        foreach ((string k, object v) in Fields)
        {
            d[k] = v;
        }

        foreach ((string k, string v) in KeyValues)
        {
            d[k] = v;
        }

        return d;
    }

    private string? GetString(string key) => Fields.TryGetValue(key, out object? v) ? v as string : null;

    private long? GetLong(string key) => Fields.TryGetValue(key, out object? v) && v is long l ? l : null;

    internal static string NormaliseEncoding(string e) => e.ToLowerInvariant() switch
    {
        "raw" => "raw",
        "txt" or "text" or "ascii" => "ascii",
        "hex" => "hex",
        "gz" or "gzip" => "gzip",
        "bz2" or "bzip2" => "bzip2",
        var other => other,
    };

    internal static int SpaceDimensionOf(string space) => space.ToLowerInvariant() switch
    {
        "right-anterior-superior" or "ras" or "left-anterior-superior" or "las" or "left-posterior-superior" or "lps"
            or "scanner-xyz" or "3d-right-handed" or "3d-left-handed" => 3,
        "right-anterior-superior-time" or "ras-time" or "left-anterior-superior-time" or "las-time"
            or "left-posterior-superior-time" or "lps-time" or "scanner-xyz-time" or "3d-right-handed-time" or "3d-left-handed-time" => 4,
        _ => 0,
    };

    // ---------------------------------------------------------------- parsing

    /// <summary>Parses one header line (not the magic line) into this header.</summary>
    internal void ParseLine(string line, string file)
    {
        if (line.StartsWith('#'))
        {
            Comments.Add(line[1..].TrimStart());
            return;
        }

        int kv = line.IndexOf(":=", StringComparison.Ordinal);
        int fs = line.IndexOf(": ", StringComparison.Ordinal);
        string name;
        string value;
        if (kv > 0 && (fs < 0 || kv < fs) && !line[..kv].Contains(':', StringComparison.Ordinal))
        {
            // key:=value (pynrrd strips the value); a known field name written this way is still parsed as the field
            name = line[..kv].Trim();
            value = line[(kv + 2)..].Trim();
            if (!KnownFields.Contains(Aliases.GetValueOrDefault(name, name)))
            {
                KeyValues[line[..kv]] = value;
                return;
            }
        }
        else if (fs <= 0)
        {
            throw new MLArrayFormatException($"{file}: invalid NRRD header line (expected 'field: value' or 'key:=value'): \"{Trunc(line)}\".");
        }
        else
        {
            name = line[..fs].Trim();
            value = line[(fs + 2)..].Trim();
        }

        name = Aliases.GetValueOrDefault(name, name);
        try
        {
            Fields[name] = ParseValue(name, value);
        }
        catch (FormatException e)
        {
            throw new MLArrayFormatException($"{file}: invalid NRRD field '{name}': \"{Trunc(value)}\" ({e.Message}).", e);
        }
        catch (OverflowException e)
        {
            throw new MLArrayFormatException($"{file}: invalid NRRD field '{name}': \"{Trunc(value)}\" (out of range).", e);
        }
    }

    private static string Trunc(string s) => s.Length > 100 ? s[..100] + "…" : s;

    private static object ParseValue(string name, string v) => name switch
    {
        "dimension" or "space dimension" or "line skip" or "byte skip" or "block size" => long.Parse(v, NumberStyles.Integer, CultureInfo.InvariantCulture),
        "sizes" => v.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries).Select(t => long.Parse(t, NumberStyles.Integer, CultureInfo.InvariantCulture)).ToArray(),
        "spacings" or "thicknesses" or "axis mins" or "axis maxs" => v.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries).Select(ParseDouble).ToArray(),
        "min" or "max" or "old min" or "old max" => ParseDouble(v),
        "space origin" => ParseVector(v.Trim()),
        "space directions" or "measurement frame" => ParseMatrix(v),
        "kinds" or "centerings" => v.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries),
        "labels" or "units" or "space units" => ParseQuotedList(v),
        _ => v,
    };

    internal static double ParseDouble(string t) => t.ToLowerInvariant() switch
    {
        "nan" or "-nan" => double.NaN,
        "inf" or "+inf" or "infinity" => double.PositiveInfinity,
        "-inf" or "-infinity" => double.NegativeInfinity,
        _ => double.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture),
    };

    private static double[] ParseVector(string t)
    {
        if (!t.StartsWith('(') || !t.EndsWith(')'))
        {
            throw new FormatException("a vector must be written (a,b,...)");
        }

        return t[1..^1].Split(',').Select(x => ParseDouble(x.Trim())).ToArray();
    }

    private static double[][] ParseMatrix(string v)
    {
        var rows = new List<double[]?>();
        int i = 0;
        while (i < v.Length)
        {
            if (char.IsWhiteSpace(v[i]))
            {
                i++;
                continue;
            }

            if (v[i] == '(')
            {
                int end = v.IndexOf(')', i);
                if (end < 0)
                {
                    throw new FormatException("unclosed '('");
                }

                rows.Add(ParseVector(v[i..(end + 1)]));
                i = end + 1;
            }
            else if (string.Compare(v, i, "none", 0, 4, StringComparison.OrdinalIgnoreCase) == 0)
            {
                rows.Add(null);
                i += 4;
            }
            else
            {
                throw new FormatException($"unexpected '{v[i]}'");
            }
        }

        int width = rows.FirstOrDefault(r => r is not null)?.Length ?? 0;
        return rows.Select(r => r ?? Enumerable.Repeat(double.NaN, width).ToArray()).ToArray();
    }

    private static string[] ParseQuotedList(string v)
    {
        if (!v.Contains('"', StringComparison.Ordinal))
        {
            return v.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        }

        var items = new List<string>();
        int i = 0;
        while ((i = v.IndexOf('"', i)) >= 0)
        {
            int end = v.IndexOf('"', i + 1);
            if (end < 0)
            {
                throw new FormatException("unclosed '\"'");
            }

            items.Add(v[(i + 1)..end]);
            i = end + 1;
        }

        return [.. items];
    }

    // ---------------------------------------------------------------- formatting

    internal static string FormatValue(string name, object value) => value switch
    {
        string s => name is "labels" or "units" or "space units" ? "\"" + s + "\"" : s,
        long l => l.ToString(CultureInfo.InvariantCulture),
        int n => n.ToString(CultureInfo.InvariantCulture),
        double d => Fmt(d),
        long[] ls => string.Join(" ", ls.Select(x => x.ToString(CultureInfo.InvariantCulture))),
        double[] ds when name == "space origin" => Vec(ds),
        double[] ds => string.Join(" ", ds.Select(Fmt)),
        string[] ss when name is "labels" or "units" or "space units" => string.Join(" ", ss.Select(x => "\"" + x + "\"")),
        string[] ss => string.Join(" ", ss),
        double[][] m => string.Join(" ", m.Select(r => r.Any(double.IsNaN) ? "none" : Vec(r))),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
    };

    private static string Fmt(double d) => double.IsNaN(d) ? "nan" : double.IsPositiveInfinity(d) ? "inf" : double.IsNegativeInfinity(d) ? "-inf" : d.ToString("R", CultureInfo.InvariantCulture);

    private static string Vec(double[] v) => "(" + string.Join(",", v.Select(Fmt)) + ")";

    internal string Serialise(IEnumerable<string> order)
    {
        var sb = new StringBuilder();
        sb.Append(Magic).Append('\n');
        foreach (string c in Comments)
        {
            sb.Append("# ").Append(c).Append('\n');
        }

        var done = new HashSet<string>(StringComparer.Ordinal);
        foreach (string k in order.Concat(Fields.Keys))
        {
            if (!done.Add(k) || !Fields.TryGetValue(k, out object? v))
            {
                continue;
            }

            sb.Append(k).Append(": ").Append(FormatValue(k, v)).Append('\n');
        }

        foreach ((string k, string v) in KeyValues)
        {
            sb.Append(k).Append(":=").Append(v).Append('\n');
        }

        sb.Append('\n');
        return sb.ToString();
    }
}

/// <summary>The NRRD <c>type</c> spellings.</summary>
internal static class NrrdTypes
{
    /// <summary>Maps any NRRD type spelling (e.g. "short", "short int", "int16_t", "unsigned char", "long long") to its element type.</summary>
    /// <param name="type">The <c>type</c> value.</param>
    /// <param name="file">The file, for messages.</param>
    /// <returns>The element type.</returns>
    /// <exception cref="MLArrayNotSupportedException">"block".</exception>
    /// <exception cref="MLArrayFormatException">An unknown spelling.</exception>
    public static DType Parse(string type, string file)
    {
        ArgumentNullException.ThrowIfNull(type);
        string t = string.Join(' ', type.Trim().ToLowerInvariant().Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries));
        return t switch
        {
            "signed char" or "int8" or "int8_t" => DType.Int8,
            "uchar" or "unsigned char" or "uint8" or "uint8_t" => DType.UInt8,
            "short" or "short int" or "signed short" or "signed short int" or "int16" or "int16_t" => DType.Int16,
            "ushort" or "unsigned short" or "unsigned short int" or "uint16" or "uint16_t" => DType.UInt16,
            "int" or "signed int" or "int32" or "int32_t" => DType.Int32,
            "uint" or "unsigned int" or "uint32" or "uint32_t" => DType.UInt32,
            "longlong" or "long long" or "long long int" or "signed long long" or "signed long long int" or "int64" or "int64_t" => DType.Int64,
            "ulonglong" or "unsigned long long" or "unsigned long long int" or "uint64" or "uint64_t" => DType.UInt64,
            "float" => DType.Float32,
            "double" => DType.Float64,
            "block" => throw new MLArrayNotSupportedException($"{file}: NRRD type 'block' is not supported."),
            _ => throw new MLArrayFormatException($"{file}: unknown NRRD type '{type}'."),
        };
    }

    /// <summary>The spelling the writer uses (pynrrd's): int8 uint8 int16 uint16 int32 uint32 int64 uint64 float double.</summary>
    /// <param name="dtype">The element type.</param>
    /// <returns>The NRRD type name.</returns>
    /// <exception cref="MLArrayNotSupportedException">bool.</exception>
    public static string CanonicalName(DType dtype) => dtype.Code switch
    {
        DTypeCode.Int8 => "int8",
        DTypeCode.UInt8 => "uint8",
        DTypeCode.Int16 => "int16",
        DTypeCode.UInt16 => "uint16",
        DTypeCode.Int32 => "int32",
        DTypeCode.UInt32 => "uint32",
        DTypeCode.Int64 => "int64",
        DTypeCode.UInt64 => "uint64",
        DTypeCode.Float32 => "float",
        DTypeCode.Float64 => "double",
        DTypeCode.Float16 => throw new MLArrayNotSupportedException(
            $"NRRD has no float16 type ({dtype}); use --cast float32 (mlarray convert --cast float32), or convert the data to float32 first."),
        DTypeCode.Complex64 or DTypeCode.Complex128 => throw new MLArrayNotSupportedException(
            $"NRRD has no complex type ({dtype}): its types are integers, float and double, with no real/imaginary pairs. Write NIfTI (.nii/.nii.gz, complex64/complex128) instead."),
        DTypeCode.Opaque => throw new MLArrayNotSupportedException(
            $"NRRD has no type for the opaque dtype {dtype} (strings, void or structured items); only numeric arrays convert to NRRD."),
        _ => throw new MLArrayNotSupportedException($"NRRD has no type for {dtype}; store bool as uint8."),
    };
}
