using System.Globalization;
using System.Text;
using System.Text.Json;

namespace MLArray.Metadata.Payload;

/// <summary>
/// Canonical JSON of a metadata tree: keys in stored order, ints exact (any size), floats in Python's repr form
/// (<c>2.0</c>, <c>1e-05</c>) so that ints and floats stay distinguishable, NaN/±Infinity as the strings
/// <c>"NaN"</c>, <c>"Infinity"</c>, <c>"-Infinity"</c>.
/// </summary>
internal static class MetaJson
{
    /// <summary>The JSON text of <paramref name="value"/>.</summary>
    public static string Serialize(MetaValue value, bool indented = false)
    {
        ArgumentNullException.ThrowIfNull(value);
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = indented, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            Write(w, value);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>Writes <paramref name="value"/> to <paramref name="writer"/>.</summary>
    public static void Write(Utf8JsonWriter writer, MetaValue value)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        switch (value)
        {
            case MetaFloat f when double.IsFinite(f.Value):
            {
                // decimal keeps the scale, so 2.0 is written "2.0" (a float to every JSON reader); exponent forms stay doubles
                string repr = PyRepr.Float(f.Value);
                if (!repr.Contains('e', StringComparison.Ordinal) && decimal.TryParse(repr, NumberStyles.Float, CultureInfo.InvariantCulture, out var dec))
                    writer.WriteNumberValue(dec);
                else
                    writer.WriteNumberValue(f.Value);
                break;
            }
            case MetaList l:
                writer.WriteStartArray();
                foreach (var i in l.Items) Write(writer, i);
                writer.WriteEndArray();
                break;
            case MetaDict d:
                writer.WriteStartObject();
                foreach (var (k, v) in d.Entries)
                {
                    writer.WritePropertyName(k);
                    Write(writer, v);
                }
                writer.WriteEndObject();
                break;
            default:
                value.WriteTo(writer);
                break;
        }
    }
}
