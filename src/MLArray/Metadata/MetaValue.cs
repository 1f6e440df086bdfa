using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;

namespace MLArray.Metadata;

/// <summary>The kind of a <see cref="MetaValue"/>.</summary>
public enum MetaKind
{
    /// <summary>Python <c>None</c> / JSON <c>null</c>.</summary>
    Null,
    /// <summary>Boolean.</summary>
    Bool,
    /// <summary>Integer of any size (Python ints are unbounded).</summary>
    Int,
    /// <summary>IEEE double, including NaN and ±Infinity.</summary>
    Float,
    /// <summary>Unicode string.</summary>
    String,
    /// <summary>Ordered list (Python list or tuple).</summary>
    List,
    /// <summary>Ordered mapping with string keys (Python dict).</summary>
    Dict,
}

/// <summary>
/// A neutral, immutable metadata value tree: the common ground of the Python pickle payload, JSON and the typed
/// metadata records. Value equality is structural (lists and dicts compare by content; dict key order is ignored
/// for equality but preserved for writing; NaN equals NaN).
/// </summary>
public abstract class MetaValue : IEquatable<MetaValue>
{
    private protected MetaValue() { }

    /// <summary>The kind of this value.</summary>
    public abstract MetaKind Kind { get; }

    /// <summary>The null value.</summary>
    public static MetaValue Null { get; } = new MetaNull();

    /// <summary>A boolean.</summary>
    public static MetaValue From(bool value) => value ? MetaBool.True : MetaBool.False;
    /// <summary>An integer.</summary>
    public static MetaValue From(long value) => new MetaInt(value);
    /// <summary>An integer of any size.</summary>
    public static MetaValue From(BigInteger value) => new MetaInt(value);
    /// <summary>A float.</summary>
    public static MetaValue From(double value) => new MetaFloat(value);
    /// <summary>A string (null gives <see cref="Null"/>).</summary>
    public static MetaValue From(string? value) => value is null ? Null : new MetaString(value);
    /// <summary>A list.</summary>
    public static MetaValue List(IEnumerable<MetaValue> items) => new MetaList(items);
    /// <summary>A dict, keys in the given order.</summary>
    public static MetaValue Dict(IEnumerable<KeyValuePair<string, MetaValue>> entries) => new MetaDict(entries);

    /// <inheritdoc/>
    public abstract bool Equals(MetaValue? other);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is MetaValue m && Equals(m);

    /// <inheritdoc/>
    public abstract override int GetHashCode();

    /// <summary>Compact JSON; NaN and ±Infinity are written as the strings "NaN", "Infinity", "-Infinity".</summary>
    public string ToJson(bool indented = false)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = indented, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            WriteTo(w);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>Writes this value as JSON (see <see cref="ToJson"/> for non-finite floats).</summary>
    public abstract void WriteTo(Utf8JsonWriter writer);

    /// <summary>Reads a JSON document into a tree (numbers without fraction or exponent become <see cref="MetaKind.Int"/>).</summary>
    public static MetaValue FromJson(string json)
    {
        using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 256 });
        return FromJson(doc.RootElement);
    }

    /// <summary>Converts a JSON element into a tree.</summary>
    public static MetaValue FromJson(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => Null,
        JsonValueKind.True => MetaBool.True,
        JsonValueKind.False => MetaBool.False,
        JsonValueKind.String => new MetaString(e.GetString()!),
        JsonValueKind.Number => ParseNumber(e.GetRawText()),
        JsonValueKind.Array => new MetaList(e.EnumerateArray().Select(FromJson)),
        JsonValueKind.Object => new MetaDict(e.EnumerateObject().Select(p => new KeyValuePair<string, MetaValue>(p.Name, FromJson(p.Value)))),
        _ => throw new ArgumentException($"unsupported JSON value kind {e.ValueKind}"),
    };

    private static MetaValue ParseNumber(string raw)
    {
        if (raw.AsSpan().IndexOfAny(".eE") < 0 && BigInteger.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var bi))
            return new MetaInt(bi);
        return new MetaFloat(double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// The value as text: a string's own text (no quotes), a number in the invariant culture (<c>2.5</c>, <c>NaN</c>,
    /// <c>Infinity</c>), <c>true</c>/<c>false</c>, <c>null</c>, and lists and dicts in a readable form
    /// (<c>[1, 2.5, "a"]</c>, <c>{"study_id": "s-1", "n": 3}</c>: strings inside them quoted). Use <see cref="ToJson"/>
    /// for JSON.
    /// </summary>
    public override string ToString() => this is MetaString s ? s.Value : AppendText(new StringBuilder(), this).ToString();

    private static StringBuilder AppendText(StringBuilder sb, MetaValue v)
    {
        switch (v)
        {
            case MetaNull: return sb.Append("null");
            case MetaBool b: return sb.Append(b.Value ? "true" : "false");
            case MetaInt i: return sb.Append(i.Value.ToString(CultureInfo.InvariantCulture));
            case MetaFloat f: return sb.Append(f.Value.ToString(CultureInfo.InvariantCulture));
            case MetaString s: return AppendQuoted(sb, s.Value);
            case MetaList l:
                sb.Append('[');
                for (int k = 0; k < l.Items.Count; k++)
                    AppendText(k == 0 ? sb : sb.Append(", "), l.Items[k]);
                return sb.Append(']');
            case MetaDict d:
                sb.Append('{');
                for (int k = 0; k < d.Entries.Count; k++)
                    AppendText(AppendQuoted(k == 0 ? sb : sb.Append(", "), d.Entries[k].Key).Append(": "), d.Entries[k].Value);
                return sb.Append('}');
            default: return sb.Append(v.Kind.ToString());
        }
    }

    private static StringBuilder AppendQuoted(StringBuilder sb, string s) =>
        sb.Append('"').Append(s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');

    /// <summary>A string (null gives <see cref="Null"/>), so that <c>dict.With("study_id", "s-1")</c> reads naturally.</summary>
    public static implicit operator MetaValue(string? value) => From(value);

    /// <summary>A boolean.</summary>
    public static implicit operator MetaValue(bool value) => From(value);

    /// <summary>An integer (also taken by <c>int</c>, <c>short</c>, ...).</summary>
    public static implicit operator MetaValue(long value) => From(value);

    /// <summary>An integer of any size.</summary>
    public static implicit operator MetaValue(BigInteger value) => From(value);

    /// <summary>A float (also taken by <c>float</c>).</summary>
    public static implicit operator MetaValue(double value) => From(value);
}

/// <summary>Python <c>None</c>.</summary>
public sealed class MetaNull : MetaValue
{
    internal MetaNull() { }
    /// <inheritdoc/>
    public override MetaKind Kind => MetaKind.Null;
    /// <inheritdoc/>
    public override bool Equals(MetaValue? other) => other is MetaNull;
    /// <inheritdoc/>
    public override int GetHashCode() => 0;
    /// <inheritdoc/>
    public override void WriteTo(Utf8JsonWriter writer) { ArgumentNullException.ThrowIfNull(writer); writer.WriteNullValue(); }
}

/// <summary>A boolean.</summary>
public sealed class MetaBool : MetaValue
{
    internal static readonly MetaBool True = new(true);
    internal static readonly MetaBool False = new(false);
    private MetaBool(bool value) => Value = value;
    /// <summary>The value.</summary>
    public bool Value { get; }
    /// <inheritdoc/>
    public override MetaKind Kind => MetaKind.Bool;
    /// <inheritdoc/>
    public override bool Equals(MetaValue? other) => other is MetaBool b && b.Value == Value;
    /// <inheritdoc/>
    public override int GetHashCode() => Value ? 1 : 2;
    /// <inheritdoc/>
    public override void WriteTo(Utf8JsonWriter writer) { ArgumentNullException.ThrowIfNull(writer); writer.WriteBooleanValue(Value); }
}

/// <summary>An integer of any size.</summary>
public sealed class MetaInt(BigInteger value) : MetaValue
{
    /// <summary>The value.</summary>
    public BigInteger Value { get; } = value;
    /// <inheritdoc/>
    public override MetaKind Kind => MetaKind.Int;
    /// <inheritdoc/>
    public override bool Equals(MetaValue? other) => other is MetaInt i && i.Value == Value;
    /// <inheritdoc/>
    public override int GetHashCode() => Value.GetHashCode();
    /// <inheritdoc/>
    public override void WriteTo(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (Value >= long.MinValue && Value <= long.MaxValue)
            writer.WriteNumberValue((long)Value);
        else
            writer.WriteRawValue(Value.ToString(CultureInfo.InvariantCulture), skipInputValidation: true);
    }
}

/// <summary>A double (NaN and ±Infinity allowed).</summary>
public sealed class MetaFloat(double value) : MetaValue
{
    /// <summary>The value.</summary>
    public double Value { get; } = value;
    /// <inheritdoc/>
    public override MetaKind Kind => MetaKind.Float;
    /// <inheritdoc/>
    public override bool Equals(MetaValue? other) => other is MetaFloat f && (f.Value.Equals(Value));
    /// <inheritdoc/>
    public override int GetHashCode() => Value.GetHashCode();
    /// <inheritdoc/>
    public override void WriteTo(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (double.IsNaN(Value)) writer.WriteStringValue("NaN");
        else if (double.IsPositiveInfinity(Value)) writer.WriteStringValue("Infinity");
        else if (double.IsNegativeInfinity(Value)) writer.WriteStringValue("-Infinity");
        else writer.WriteNumberValue(Value);
    }
}

/// <summary>A string.</summary>
public sealed class MetaString(string value) : MetaValue
{
    /// <summary>The value.</summary>
    public string Value { get; } = value ?? throw new ArgumentNullException(nameof(value));
    /// <inheritdoc/>
    public override MetaKind Kind => MetaKind.String;
    /// <inheritdoc/>
    public override bool Equals(MetaValue? other) => other is MetaString s && string.Equals(s.Value, Value, StringComparison.Ordinal);
    /// <inheritdoc/>
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Value);
    /// <inheritdoc/>
    public override void WriteTo(Utf8JsonWriter writer) { ArgumentNullException.ThrowIfNull(writer); writer.WriteStringValue(Value); }
}

/// <summary>An ordered list.</summary>
public sealed class MetaList : MetaValue
{
    private readonly MetaValue[] _items;
    /// <summary>Creates a list.</summary>
    public MetaList(IEnumerable<MetaValue> items) => _items = items.ToArray();
    /// <summary>The items.</summary>
    public IReadOnlyList<MetaValue> Items => _items;
    /// <inheritdoc/>
    public override MetaKind Kind => MetaKind.List;
    /// <inheritdoc/>
    public override bool Equals(MetaValue? other) => other is MetaList l && l._items.AsSpan().SequenceEqual(_items);
    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var i in _items) h.Add(i);
        return h.ToHashCode();
    }
    /// <inheritdoc/>
    public override void WriteTo(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStartArray();
        foreach (var i in _items) i.WriteTo(writer);
        writer.WriteEndArray();
    }
}

/// <summary>
/// An ordered mapping (later duplicates replace earlier ones). Keys are strings; a dict read from a pickle or msgpack
/// may also have int, float, bool or None keys (spec §1.3: <c>source</c>/<c>extra</c>), which are kept as
/// <see cref="PythonKeys"/> so that writing the dict back gives the same Python keys, while <see cref="Entries"/> and
/// JSON use the string Python's <c>json.dumps</c> writes for them (<c>"7"</c>, <c>"2.5"</c>, <c>"NaN"</c>,
/// <c>"true"</c>/<c>"false"</c>, <c>"null"</c>).
/// </summary>
public sealed class MetaDict : MetaValue
{
    private readonly KeyValuePair<string, MetaValue>[] _entries;
    private readonly Dictionary<string, MetaValue> _index;
    private readonly MetaValue[]? _pyKeys; // null when every key is a str

    /// <summary>Creates a dict keeping the first position of each key and the last value given for it.</summary>
    public MetaDict(IEnumerable<KeyValuePair<string, MetaValue>> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        _index = new Dictionary<string, MetaValue>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var (k, v) in entries)
        {
            ArgumentNullException.ThrowIfNull(k);
            if (!_index.ContainsKey(k)) order.Add(k);
            _index[k] = v ?? Null;
        }
        _entries = order.Select(k => new KeyValuePair<string, MetaValue>(k, _index[k])).ToArray();
    }

    private MetaDict(KeyValuePair<string, MetaValue>[] entries, Dictionary<string, MetaValue> index, MetaValue[]? pyKeys)
    {
        _entries = entries;
        _index = index;
        _pyKeys = pyKeys;
    }

    /// <summary>
    /// Creates a dict with Python keys (str, int, float, bool or None), as <c>pickle.loads</c> builds it: keys equal in
    /// Python (<c>1</c>, <c>1.0</c>, <c>True</c>) are one key (first key kept, last value). Two different keys whose
    /// JSON strings coincide (<c>1</c> and <c>"1"</c>) are refused, since JSON could not tell them apart.
    /// </summary>
    /// <exception cref="ArgumentException">A key of another kind, or colliding JSON keys.</exception>
    public static MetaDict FromPythonKeys(IEnumerable<KeyValuePair<MetaValue, MetaValue>> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var byIdentity = new Dictionary<string, int>(StringComparer.Ordinal);
        var keys = new List<MetaValue>();
        var jsonKeys = new List<string>();
        var values = new List<MetaValue>();
        var index = new Dictionary<string, MetaValue>(StringComparer.Ordinal);
        foreach (var (k, v) in entries)
        {
            ArgumentNullException.ThrowIfNull(k);
            string identity = PythonKeyIdentity(k);
            if (byIdentity.TryGetValue(identity, out int at))
            {
                values[at] = v ?? Null;
                index[jsonKeys[at]] = v ?? Null;
                continue;
            }
            string json = JsonKeyOf(k);
            if (index.ContainsKey(json))
                throw new ArgumentException($"dict keys {Payload.PyRepr.Key(keys[jsonKeys.IndexOf(json)])} and {Payload.PyRepr.Key(k)} both have the JSON key \"{json}\"");
            byIdentity[identity] = keys.Count;
            keys.Add(k);
            jsonKeys.Add(json);
            values.Add(v ?? Null);
            index[json] = v ?? Null;
        }
        var arr = jsonKeys.Select((j, i) => new KeyValuePair<string, MetaValue>(j, values[i])).ToArray();
        return new MetaDict(arr, index, keys.All(k => k is MetaString) ? null : keys.ToArray());
    }

    private static string JsonKeyOf(MetaValue key) => key is MetaString or MetaInt or MetaFloat or MetaBool or MetaNull
        ? Payload.PyRepr.JsonKey(key)
        : throw new ArgumentException($"a dict key must be a str, int, float, bool or None, not a {key.Kind}");

    // equal Python keys share an identity: 1 == 1.0 == True, 0 == 0.0 == False
    private static string PythonKeyIdentity(MetaValue key) => key switch
    {
        MetaString s => "s:" + s.Value,
        MetaBool b => b.Value ? "n:1" : "n:0",
        MetaInt i => "n:" + i.Value.ToString(CultureInfo.InvariantCulture),
        MetaFloat f when double.IsFinite(f.Value) && Math.Floor(f.Value) == f.Value => "n:" + new BigInteger(f.Value).ToString(CultureInfo.InvariantCulture),
        MetaFloat f => "f:" + Payload.PyRepr.Float(f.Value),
        MetaNull => "none",
        _ => throw new ArgumentException($"a dict key must be a str, int, float, bool or None, not a {key.Kind}"),
    };

    /// <summary>True when some key is not a str (see <see cref="PythonKeys"/>).</summary>
    public bool HasNonStringKeys => _pyKeys is not null;

    /// <summary>The Python key of each entry, in <see cref="Entries"/> order (a <see cref="MetaString"/> for str keys).</summary>
    public IReadOnlyList<MetaValue> PythonKeys => _pyKeys ?? _entries.Select(e => (MetaValue)new MetaString(e.Key)).ToArray();

    /// <summary>The Python key of entry <paramref name="index"/>.</summary>
    public MetaValue PythonKeyAt(int index) => _pyKeys?[index] ?? new MetaString(_entries[index].Key);

    /// <summary>The entries in insertion order.</summary>
    public IReadOnlyList<KeyValuePair<string, MetaValue>> Entries => _entries;

    /// <summary>Looks up a key.</summary>
    public bool TryGetValue(string key, out MetaValue value) => _index.TryGetValue(key, out value!);

    /// <summary>The value of <paramref name="key"/>, or null when absent.</summary>
    public MetaValue? this[string key] => _index.TryGetValue(key, out var v) ? v : null;

    /// <summary>
    /// A new dict with <paramref name="key"/> set to <paramref name="value"/>: replaced in place when present (its
    /// position and Python key kept), else added at the end. This dict is not changed. Plain .NET values convert
    /// implicitly: <c>meta.Source.With("study_id", "s-1").With("n", 3)</c>.
    /// </summary>
    /// <param name="key">The key (JSON form).</param>
    /// <param name="value">The value; null means <see cref="MetaValue.Null"/>.</param>
    public MetaDict With(string key, MetaValue? value)
    {
        ArgumentNullException.ThrowIfNull(key);
        value ??= Null;
        int at = Array.FindIndex(_entries, e => string.Equals(e.Key, key, StringComparison.Ordinal));
        var entries = at >= 0 ? (KeyValuePair<string, MetaValue>[])_entries.Clone() : [.. _entries, new(key, value)];
        if (at >= 0) entries[at] = new(key, value);
        var index = new Dictionary<string, MetaValue>(_index, StringComparer.Ordinal) { [key] = value };
        MetaValue[]? pyKeys = _pyKeys is null || at >= 0 ? _pyKeys : [.. _pyKeys, new MetaString(key)];
        return new MetaDict(entries, index, pyKeys);
    }

    /// <summary>A new dict without <paramref name="key"/> (an equal dict when it is absent). This dict is not changed.</summary>
    /// <param name="key">The key (JSON form).</param>
    public MetaDict Without(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        int at = Array.FindIndex(_entries, e => string.Equals(e.Key, key, StringComparison.Ordinal));
        if (at < 0) return this;
        KeyValuePair<string, MetaValue>[] entries = [.. _entries.AsSpan(0, at), .. _entries.AsSpan(at + 1)];
        var index = new Dictionary<string, MetaValue>(_index, StringComparer.Ordinal);
        index.Remove(key);
        MetaValue[]? pyKeys = _pyKeys is null ? null : [.. _pyKeys.AsSpan(0, at), .. _pyKeys.AsSpan(at + 1)];
        if (pyKeys is not null && pyKeys.All(k => k is MetaString)) pyKeys = null;
        return new MetaDict(entries, index, pyKeys);
    }

    /// <inheritdoc/>
    public override MetaKind Kind => MetaKind.Dict;

    /// <inheritdoc/>
    public override bool Equals(MetaValue? other)
    {
        if (other is not MetaDict d || d._entries.Length != _entries.Length) return false;
        foreach (var (k, v) in _entries)
            if (!d._index.TryGetValue(k, out var ov) || !ov.Equals(v)) return false;
        if (_pyKeys is null && d._pyKeys is null) return true;
        // the same JSON key must come from the same kind of Python key (7 is not "7")
        var kinds = new Dictionary<string, MetaKind>(StringComparer.Ordinal);
        for (int i = 0; i < _entries.Length; i++) kinds[_entries[i].Key] = PythonKeyAt(i).Kind;
        for (int i = 0; i < d._entries.Length; i++)
            if (kinds[d._entries[i].Key] != d.PythonKeyAt(i).Kind) return false;
        return true;
    }

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        int h = _entries.Length;
        foreach (var (k, v) in _entries) h ^= HashCode.Combine(StringComparer.Ordinal.GetHashCode(k), v);
        return h;
    }

    /// <inheritdoc/>
    public override void WriteTo(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStartObject();
        foreach (var (k, v) in _entries)
        {
            writer.WritePropertyName(k);
            v.WriteTo(writer);
        }
        writer.WriteEndObject();
    }
}
