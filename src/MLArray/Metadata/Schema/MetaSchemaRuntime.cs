using System.ComponentModel;
using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace MLArray.Metadata;

/// <summary>The JSON types a schema node allows (JSON Schema's <c>type</c> keyword).</summary>
[Flags]
public enum MetaTypes
{
    /// <summary>Nothing.</summary>
    None = 0,
    /// <summary><c>null</c>.</summary>
    Null = 1,
    /// <summary><c>boolean</c>.</summary>
    Boolean = 2,
    /// <summary><c>integer</c>.</summary>
    Integer = 4,
    /// <summary><c>number</c> (integers included).</summary>
    Number = 8,
    /// <summary><c>string</c>.</summary>
    String = 16,
    /// <summary><c>array</c>.</summary>
    Array = 32,
    /// <summary><c>object</c>.</summary>
    Object = 64,
}

/// <summary>Reads one JSON value of type <typeparamref name="T"/>; the reader is on the value's first token and is left on its last.</summary>
/// <typeparam name="T">The value type.</typeparam>
/// <param name="reader">The reader.</param>
/// <param name="path">JSON pointer of the value, for error messages.</param>
public delegate T MetaJsonReader<T>(ref Utf8JsonReader reader, string path);

/// <summary>Collects issues and dimensions while a generated validator runs. Used by generated code.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class MetaValidationState
{
    private readonly List<ValidationIssue> _issues = [];
    private readonly Dictionary<string, int> _dimensions;

    /// <summary>Creates a state seeded with the context's dimensions.</summary>
    public MetaValidationState(MetaValidationContext? context)
    {
        _dimensions = new Dictionary<string, int>((context ?? MetaValidationContext.Empty).Dimensions, StringComparer.Ordinal);
    }

    /// <summary>Sets a dimension derived from the document unless the context already gave it.</summary>
    public void DeriveDimension(string name, int? value)
    {
        if (value is { } v) _dimensions.TryAdd(name, v);
    }

    /// <summary>True when the dimension is known.</summary>
    public bool HasDimension(string name) => _dimensions.ContainsKey(name);

    /// <summary>A dimension plus <paramref name="offset"/>, or null when unknown.</summary>
    public int? Dimension(string name, int offset = 0) => _dimensions.TryGetValue(name, out var v) ? v + offset : null;

    /// <summary>Adds an issue.</summary>
    public void Report(ValidationSeverity severity, string path, string code, string message) =>
        _issues.Add(new ValidationIssue(severity, path, code, message));

    /// <summary>Adds an error.</summary>
    public void Error(string path, string code, string message) => Report(ValidationSeverity.Error, path, code, message);

    /// <summary>The report.</summary>
    public ValidationReport ToReport() => new(_issues);
}

/// <summary>
/// Helpers called by the code that <c>MLArray.Generators</c> emits (JSON reading and writing, conversion to and
/// from <see cref="MetaValue"/>, validation primitives). Not meant to be called directly.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class MetaSchemaRuntime
{
    private static readonly JsonWriterOptions CompactOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonWriterOptions IndentedOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = true };
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 256 };

    // ---------------------------------------------------------------- JSON text

    /// <summary>Runs <paramref name="write"/> on a writer and returns the UTF-8 text (non-ASCII kept, compact or indented).</summary>
    public static string WriteJsonString(Action<Utf8JsonWriter> write, bool indented)
    {
        ArgumentNullException.ThrowIfNull(write);
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, indented ? IndentedOptions : CompactOptions))
            write(w);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>Creates a reader over <paramref name="utf8"/> positioned on the first token.</summary>
    public static Utf8JsonReader StartReader(byte[] utf8)
    {
        var r = new Utf8JsonReader(utf8, ReaderOptions);
        if (!r.Read()) throw new MLArrayMetadataException("Metadata JSON is empty.");
        return r;
    }

    /// <summary>Checks that nothing but whitespace follows the top-level value.</summary>
    public static void EndReader(ref Utf8JsonReader reader)
    {
        if (reader.Read()) throw new MLArrayMetadataException("Metadata JSON has content after the top-level value.");
    }

    /// <summary>Parses JSON into a neutral tree (integers stay <see cref="MetaInt"/>, numbers with a fraction or exponent become <see cref="MetaFloat"/>).</summary>
    public static MetaValue ParseJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            var reader = StartReader(Encoding.UTF8.GetBytes(json));
            var v = ReadValue(ref reader, "");
            EndReader(ref reader);
            return v;
        }
        catch (JsonException e)
        {
            throw new MLArrayMetadataException($"Metadata is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>Reads any JSON value into a tree.</summary>
    public static MetaValue ReadValue(ref Utf8JsonReader reader, string path)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null: return MetaValue.Null;
            case JsonTokenType.True: return MetaValue.From(true);
            case JsonTokenType.False: return MetaValue.From(false);
            case JsonTokenType.String: return MetaValue.From(reader.GetString()!);
            case JsonTokenType.Number: return ReadNumberToken(ref reader).ToMetaValue();
            case JsonTokenType.StartArray:
            {
                var items = new List<MetaValue>();
                while (Next(ref reader) != JsonTokenType.EndArray)
                    items.Add(ReadValue(ref reader, Pointer(path, items.Count)));
                return MetaValue.List(items);
            }
            case JsonTokenType.StartObject:
            {
                var entries = new List<KeyValuePair<string, MetaValue>>();
                while (Next(ref reader) != JsonTokenType.EndObject)
                {
                    var key = reader.GetString()!;
                    Next(ref reader);
                    entries.Add(new(key, ReadValue(ref reader, Pointer(path, key))));
                }
                return MetaValue.Dict(entries);
            }
            default:
                throw Mismatch(path, "a JSON value", reader.TokenType.ToString());
        }
    }

    /// <summary>Advances the reader (throws at the end of input).</summary>
    public static JsonTokenType Next(ref Utf8JsonReader reader)
    {
        if (!reader.Read()) throw new MLArrayMetadataException("Metadata JSON ends early.");
        return reader.TokenType;
    }

    private static MetaNumber ReadNumberToken(ref Utf8JsonReader reader)
    {
        var raw = reader.HasValueSequence ? System.Buffers.BuffersExtensions.ToArray(reader.ValueSequence) : reader.ValueSpan.ToArray();
        var text = Encoding.UTF8.GetString(raw);
        if (text.AsSpan().IndexOfAny(".eE") < 0)
            return new MetaNumber(BigInteger.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));
        return new MetaNumber(double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture));
    }

    private static MLArrayMetadataException Mismatch(string path, string expected, string got) =>
        new($"Metadata value at {(path.Length == 0 ? "/" : path)} must be {expected}, got {got}.");

    /// <summary>Reads <c>true</c>/<c>false</c>.</summary>
    public static bool ReadBoolean(ref Utf8JsonReader reader, string path) =>
        ReadNullableBoolean(ref reader, path) ?? throw Mismatch(path, "a boolean", "null");

    /// <summary>Reads <c>true</c>/<c>false</c>/<c>null</c>.</summary>
    public static bool? ReadNullableBoolean(ref Utf8JsonReader reader, string path) => reader.TokenType switch
    {
        JsonTokenType.True => true,
        JsonTokenType.False => false,
        JsonTokenType.Null => null,
        var t => throw Mismatch(path, "a boolean", t.ToString()),
    };

    /// <summary>Reads an integer that fits a long.</summary>
    public static long ReadInt64(ref Utf8JsonReader reader, string path) =>
        ReadNullableInt64(ref reader, path) ?? throw Mismatch(path, "an integer", "null");

    /// <summary>Reads an integer that fits a long, or null.</summary>
    public static long? ReadNullableInt64(ref Utf8JsonReader reader, string path)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        if (reader.TokenType == JsonTokenType.Number)
        {
            var n = ReadNumberToken(ref reader);
            if (n.IsInteger && n.Integer >= long.MinValue && n.Integer <= long.MaxValue) return (long)n.Integer;
        }
        throw Mismatch(path, "an integer", reader.TokenType.ToString());
    }

    /// <summary>Reads a number (the strings NaN, Infinity, -Infinity are accepted as non-finite floats).</summary>
    public static MetaNumber ReadNumber(ref Utf8JsonReader reader, string path) =>
        ReadNullableNumber(ref reader, path) ?? throw Mismatch(path, "a number", "null");

    /// <summary>Reads a number or null.</summary>
    public static MetaNumber? ReadNullableNumber(ref Utf8JsonReader reader, string path)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        if (reader.TokenType == JsonTokenType.Number) return ReadNumberToken(ref reader);
        if (reader.TokenType == JsonTokenType.String && NonFinite(reader.GetString()) is { } d) return new MetaNumber(d);
        throw Mismatch(path, "a number", reader.TokenType.ToString());
    }

    /// <summary>Reads a string.</summary>
    public static string ReadString(ref Utf8JsonReader reader, string path) =>
        ReadNullableString(ref reader, path) ?? throw Mismatch(path, "a string", "null");

    /// <summary>Reads a string or null.</summary>
    public static string? ReadNullableString(ref Utf8JsonReader reader, string path) => reader.TokenType switch
    {
        JsonTokenType.String => reader.GetString(),
        JsonTokenType.Null => null,
        var t => throw Mismatch(path, "a string", t.ToString()),
    };

    /// <summary>Reads an array.</summary>
    public static EquatableArray<T> ReadArray<T>(ref Utf8JsonReader reader, string path, MetaJsonReader<T> item) =>
        ReadNullableArray(ref reader, path, item) ?? throw Mismatch(path, "an array", "null");

    /// <summary>Reads an array or null.</summary>
    public static EquatableArray<T>? ReadNullableArray<T>(ref Utf8JsonReader reader, string path, MetaJsonReader<T> item)
    {
        ArgumentNullException.ThrowIfNull(item);
        if (reader.TokenType == JsonTokenType.Null) return null;
        if (reader.TokenType != JsonTokenType.StartArray) throw Mismatch(path, "an array", reader.TokenType.ToString());
        var items = new List<T>();
        while (Next(ref reader) != JsonTokenType.EndArray)
            items.Add(item(ref reader, Pointer(path, items.Count)));
        return new EquatableArray<T>(items.ToArray(), owned: true);
    }

    /// <summary>Reads an object into a <see cref="MetaDict"/>.</summary>
    public static MetaDict ReadDict(ref Utf8JsonReader reader, string path) =>
        ReadValue(ref reader, path) as MetaDict ?? throw Mismatch(path, "an object", reader.TokenType.ToString());

    /// <summary>Reads an object or null.</summary>
    public static MetaDict? ReadNullableDict(ref Utf8JsonReader reader, string path) =>
        reader.TokenType == JsonTokenType.Null ? null : ReadDict(ref reader, path);

    /// <summary>Throws for an unexpected token where an object was expected.</summary>
    public static void ExpectObject(ref Utf8JsonReader reader, string path)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw Mismatch(path, "an object", reader.TokenType.ToString());
    }

    /// <summary>The exception for an unknown key (Python's <c>KeyError</c> text).</summary>
    public static MLArrayMetadataException UnknownKey(string pythonClass, string key) =>
        new($"Unknown {pythonClass} keys in from_mapping: {PyList([key])}");

    // ---------------------------------------------------------------- JSON writing

    /// <summary>Writes a number: integers as integers, floats with a fraction or exponent (<c>3071.0</c>), non-finite floats as the strings NaN/Infinity/-Infinity.</summary>
    public static void WriteNumber(Utf8JsonWriter writer, MetaNumber? value)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (value is not { } n) { writer.WriteNullValue(); return; }
        if (n.IsInteger)
        {
            if (n.Integer >= long.MinValue && n.Integer <= long.MaxValue) writer.WriteNumberValue((long)n.Integer);
            else writer.WriteRawValue(n.Integer.ToString(CultureInfo.InvariantCulture), skipInputValidation: true);
            return;
        }
        double d = n.ToDouble();
        if (double.IsNaN(d)) writer.WriteStringValue("NaN");
        else if (double.IsPositiveInfinity(d)) writer.WriteStringValue("Infinity");
        else if (double.IsNegativeInfinity(d)) writer.WriteStringValue("-Infinity");
        else writer.WriteRawValue(MetaNumber.FormatFloat(d), skipInputValidation: true);
    }

    /// <summary>Writes a boolean or null.</summary>
    public static void WriteBoolean(Utf8JsonWriter writer, bool? value)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (value is { } b) writer.WriteBooleanValue(b); else writer.WriteNullValue();
    }

    /// <summary>Writes an integer or null.</summary>
    public static void WriteInt64(Utf8JsonWriter writer, long? value)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (value is { } l) writer.WriteNumberValue(l); else writer.WriteNullValue();
    }

    /// <summary>Writes a string or null.</summary>
    public static void WriteString(Utf8JsonWriter writer, string? value)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (value is null) writer.WriteNullValue(); else writer.WriteStringValue(value);
    }

    /// <summary>Writes an array or null.</summary>
    public static void WriteArray<T>(Utf8JsonWriter writer, EquatableArray<T>? value, Action<Utf8JsonWriter, T> item)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(item);
        if (value is null) { writer.WriteNullValue(); return; }
        writer.WriteStartArray();
        foreach (var x in value) item(writer, x);
        writer.WriteEndArray();
    }

    /// <summary>Writes a tree (numbers as <see cref="WriteNumber"/> does).</summary>
    public static void WriteValue(Utf8JsonWriter writer, MetaValue? value)
    {
        ArgumentNullException.ThrowIfNull(writer);
        switch (value)
        {
            case null or MetaNull: writer.WriteNullValue(); break;
            case MetaBool b: writer.WriteBooleanValue(b.Value); break;
            case MetaInt i: WriteNumber(writer, new MetaNumber(i.Value)); break;
            case MetaFloat f: WriteNumber(writer, new MetaNumber(f.Value)); break;
            case MetaString s: writer.WriteStringValue(s.Value); break;
            case MetaList l:
                writer.WriteStartArray();
                foreach (var x in l.Items) WriteValue(writer, x);
                writer.WriteEndArray();
                break;
            case MetaDict d:
                writer.WriteStartObject();
                foreach (var (k, v) in d.Entries) { writer.WritePropertyName(k); WriteValue(writer, v); }
                writer.WriteEndObject();
                break;
            default: throw new ArgumentException($"unsupported metadata value {value.GetType().Name}", nameof(value));
        }
    }

    /// <summary>Compact canonical JSON of a tree (the same number formatting the generated writers use).</summary>
    public static string ToCanonicalJson(MetaValue value, bool indented = false) => WriteJsonString(w => WriteValue(w, value), indented);

    // ---------------------------------------------------------------- tree -> typed

    private static MLArrayMetadataException TreeMismatch(string path, string expected, MetaValue got) => Mismatch(path, expected, got.Kind.ToString());

    /// <summary>A boolean.</summary>
    public static bool ToBoolean(MetaValue value, string path) => ToNullableBoolean(value, path) ?? throw TreeMismatch(path, "a boolean", value);

    /// <summary>A boolean or null.</summary>
    public static bool? ToNullableBoolean(MetaValue value, string path) => value switch
    {
        MetaBool b => b.Value,
        MetaNull => null,
        _ => throw TreeMismatch(path, "a boolean", value),
    };

    /// <summary>An integer.</summary>
    public static long ToInt64(MetaValue value, string path) => ToNullableInt64(value, path) ?? throw TreeMismatch(path, "an integer", value);

    /// <summary>An integer or null.</summary>
    public static long? ToNullableInt64(MetaValue value, string path) => value switch
    {
        MetaInt i when i.Value >= long.MinValue && i.Value <= long.MaxValue => (long)i.Value,
        MetaNull => null,
        _ => throw TreeMismatch(path, "an integer", value),
    };

    /// <summary>A number.</summary>
    public static MetaNumber ToNumber(MetaValue value, string path) => ToNullableNumber(value, path) ?? throw TreeMismatch(path, "a number", value);

    /// <summary>A number or null.</summary>
    public static MetaNumber? ToNullableNumber(MetaValue value, string path) => value switch
    {
        MetaInt i => new MetaNumber(i.Value),
        MetaFloat f => new MetaNumber(f.Value),
        MetaString s when NonFinite(s.Value) is { } d => new MetaNumber(d),
        MetaNull => null,
        _ => throw TreeMismatch(path, "a number", value),
    };

    /// <summary>A string.</summary>
    public static string ToStringValue(MetaValue value, string path) => ToNullableString(value, path) ?? throw TreeMismatch(path, "a string", value);

    /// <summary>A string or null.</summary>
    public static string? ToNullableString(MetaValue value, string path) => value switch
    {
        MetaString s => s.Value,
        MetaNull => null,
        _ => throw TreeMismatch(path, "a string", value),
    };

    /// <summary>An array.</summary>
    public static EquatableArray<T> ToArray<T>(MetaValue value, string path, Func<MetaValue, string, T> item) =>
        ToNullableArray(value, path, item) ?? throw TreeMismatch(path, "an array", value);

    /// <summary>An array or null.</summary>
    public static EquatableArray<T>? ToNullableArray<T>(MetaValue value, string path, Func<MetaValue, string, T> item)
    {
        ArgumentNullException.ThrowIfNull(item);
        if (value is MetaNull) return null;
        if (value is not MetaList l) throw TreeMismatch(path, "an array", value);
        var items = new T[l.Items.Count];
        for (int i = 0; i < items.Length; i++) items[i] = item(l.Items[i], Pointer(path, i));
        return new EquatableArray<T>(items, owned: true);
    }

    /// <summary>An object.</summary>
    public static MetaDict ToDict(MetaValue value, string path) => value as MetaDict ?? throw TreeMismatch(path, "an object", value);

    /// <summary>An object or null.</summary>
    public static MetaDict? ToNullableDict(MetaValue value, string path) => value is MetaNull ? null : ToDict(value, path);

    /// <summary>The entries of an object, or an exception naming the expected record.</summary>
    public static MetaDict ExpectDict(MetaValue value, string path) => ToDict(value, path);

    // ---------------------------------------------------------------- typed -> tree

    /// <summary>A boolean or null.</summary>
    public static MetaValue From(bool? value) => value is { } b ? MetaValue.From(b) : MetaValue.Null;

    /// <summary>An integer or null.</summary>
    public static MetaValue From(long? value) => value is { } l ? MetaValue.From(l) : MetaValue.Null;

    /// <summary>A number or null.</summary>
    public static MetaValue From(MetaNumber? value) => value is { } n ? n.ToMetaValue() : MetaValue.Null;

    /// <summary>A string or null.</summary>
    public static MetaValue From(string? value) => MetaValue.From(value);

    /// <summary>A tree or null.</summary>
    public static MetaValue From(MetaValue? value) => value ?? MetaValue.Null;

    /// <summary>An array or null.</summary>
    public static MetaValue FromArray<T>(EquatableArray<T>? value, Func<T, MetaValue> item)
    {
        ArgumentNullException.ThrowIfNull(item);
        return value is null ? MetaValue.Null : MetaValue.List(value.Select(item));
    }

    /// <summary>A dict from entries in order.</summary>
    public static MetaValue Dict(params ReadOnlySpan<KeyValuePair<string, MetaValue>> entries) => MetaValue.Dict(entries.ToArray());

    /// <summary>An empty dict.</summary>
    public static MetaDict EmptyDict() => new([]);

    // ---------------------------------------------------------------- validation primitives

    /// <summary>True when <paramref name="value"/> has one of the allowed JSON types.</summary>
    public static bool HasType(MetaValue value, MetaTypes types) => value switch
    {
        MetaNull => (types & MetaTypes.Null) != 0,
        MetaBool => (types & MetaTypes.Boolean) != 0,
        MetaInt => (types & (MetaTypes.Integer | MetaTypes.Number)) != 0,
        MetaFloat => (types & MetaTypes.Number) != 0,
        MetaString s => (types & MetaTypes.String) != 0 || ((types & MetaTypes.Number) != 0 && NonFinite(s.Value) is not null),
        MetaList => (types & MetaTypes.Array) != 0,
        MetaDict => (types & MetaTypes.Object) != 0,
        _ => false,
    };

    /// <summary>The numeric value of an int or float node (non-finite strings included), else null.</summary>
    public static MetaNumber? NumberOf(MetaValue value) => value switch
    {
        MetaInt i => new MetaNumber(i.Value),
        MetaFloat f => new MetaNumber(f.Value),
        MetaString s when NonFinite(s.Value) is { } d => new MetaNumber(d),
        _ => null,
    };

    private static double? NonFinite(string? s) => s switch
    {
        "NaN" => double.NaN,
        "Infinity" => double.PositiveInfinity,
        "-Infinity" => double.NegativeInfinity,
        _ => null,
    };

    /// <summary>Python's <c>type(x)</c> as printed: <c>&lt;class 'int'&gt;</c>.</summary>
    public static string PyType(MetaValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var name = value.Kind switch
        {
            MetaKind.Null => "NoneType",
            MetaKind.Bool => "bool",
            MetaKind.Int => "int",
            MetaKind.Float => "float",
            MetaKind.String => "str",
            MetaKind.List => "list",
            _ => "dict",
        };
        return $"<class '{name}'>";
    }

    /// <summary>Python's repr of a list of strings: <c>['a', 'b']</c>.</summary>
    public static string PyList(IEnumerable<string> items) => "[" + string.Join(", ", items.Select(i => "'" + i.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'")) + "]";

    /// <summary>Appends an object key to a JSON pointer (RFC 6901 escaping).</summary>
    public static string Pointer(string path, string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return path + "/" + key.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
    }

    /// <summary>Appends an array index to a JSON pointer.</summary>
    public static string Pointer(string path, int index) => path + "/" + index.ToString(CultureInfo.InvariantCulture);

    /// <summary>Resolves a JSON pointer in a tree (null when absent).</summary>
    public static MetaValue? Resolve(MetaValue root, string pointer)
    {
        ArgumentNullException.ThrowIfNull(pointer);
        MetaValue? cur = root;
        if (pointer.Length == 0) return cur;
        foreach (var raw in pointer[1..].Split('/'))
        {
            var token = raw.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
            cur = cur switch
            {
                MetaDict d => d[token],
                MetaList l when int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < l.Items.Count => l.Items[i],
                _ => null,
            };
            if (cur is null) return null;
        }
        return cur;
    }

    /// <summary>The length of a list node, else null.</summary>
    public static int? LengthOf(MetaValue? value) => value is MetaList l ? l.Items.Count : null;

    /// <summary>The number of string items of a list node that are in <paramref name="values"/>, else null.</summary>
    public static int? CountOf(MetaValue? value, ReadOnlySpan<string> values)
    {
        if (value is not MetaList l) return null;
        int n = 0;
        foreach (var item in l.Items)
            if (item is MetaString s && values.Contains(s.Value)) n++;
        return n;
    }

    /// <summary>How many strings of a list are not among <paramref name="values"/> (null when not a list).</summary>
    public static int? CountNotOf(MetaValue? value, ReadOnlySpan<string> values)
    {
        if (value is not MetaList l) return null;
        int n = 0;
        foreach (var item in l.Items)
            if (item is MetaString s && !values.Contains(s.Value)) n++;
        return n;
    }

    /// <summary>The value of an int node that fits an int, else null.</summary>
    public static int? IntOf(MetaValue? value) =>
        value is MetaInt i && i.Value >= int.MinValue && i.Value <= int.MaxValue ? (int)i.Value : null;

    /// <summary>Unwraps a single-key namespace: a dict whose key set is exactly {<paramref name="key"/>} gives its value (and the path gets the key).</summary>
    public static MetaValue Unwrap(MetaValue value, string key, ref string path)
    {
        if (value is MetaDict d && d.Entries.Count == 1 && d.Entries[0].Key == key)
        {
            path = Pointer(path, key);
            return d.Entries[0].Value;
        }
        return value;
    }

    /// <summary>Unwraps a single-key namespace without tracking the path.</summary>
    public static MetaValue Unwrap(MetaValue value, string key)
    {
        string p = "";
        return Unwrap(value, key, ref p);
    }

    /// <summary>True when a dict has <paramref name="key"/> with a non-null value.</summary>
    public static bool IsSet(MetaDict dict, string key) => dict is not null && dict[key] is { } v && v is not MetaNull;

    /// <summary>Fills a message template: <c>{label}</c>, <c>{pytype}</c>, <c>{n}</c>, <c>{shape}</c>, <c>{other}</c>, <c>{index}</c>, <c>{keys}</c>, <c>{class}</c>, <c>{limit}</c>.</summary>
    public static string Format(string template, string label, MetaValue? value = null, string? n = null, string? shape = null,
        string? other = null, string? index = null, string? keys = null, string? cls = null, string? limit = null)
    {
        ArgumentNullException.ThrowIfNull(template);
        var sb = new StringBuilder(template);
        sb.Replace("{label}", label);
        if (value is not null) sb.Replace("{pytype}", PyType(value));
        if (n is not null) sb.Replace("{n}", n);
        if (shape is not null) sb.Replace("{shape}", shape);
        if (other is not null) sb.Replace("{other}", other);
        if (index is not null) sb.Replace("{index}", index);
        if (keys is not null) sb.Replace("{keys}", keys);
        if (cls is not null) sb.Replace("{class}", cls);
        if (limit is not null) sb.Replace("{limit}", limit);
        return sb.ToString();
    }

    /// <summary>The index part (last token) of a JSON pointer.</summary>
    public static string LastToken(string path) => path[(path.LastIndexOf('/') + 1)..];
}
