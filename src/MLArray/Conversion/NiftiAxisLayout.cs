using System.Text;
using System.Text.Json;
using MLArray.Medical.Nifti;

namespace MLArray.Conversion;

/// <summary>
/// Where the axes of an image go in NIfTI dims, and the axis-label marker that lets the import undo the padding.
/// NIfTI dims 1-3 are space, dim 4 time, dims 5+ the rest; axes that do not fill that pattern are padded with size-1
/// dims. The header alone cannot tell such padding from a real size-1 axis (nibabel keeps both), so the exporter
/// records the image's axis labels in a NIfTI comment extension (code 6), and the import drops the padding only when
/// that record matches the file's dims (docs/differences-from-python.md C8).
/// </summary>
internal static class NiftiAxisLayout
{
    /// <summary>NIFTI_ECODE_COMMENT: free text, ignored by readers that do not know it.</summary>
    internal const int CommentCode = 6;

    private const string MarkerKey = "mlarray_axis_labels";

    /// <summary>
    /// Per NIfTI dim (fastest first), the index of the file axis it holds, or -1 for a padding dim of size 1; the file
    /// axes are given by their labels, fastest first (spatial x, y, z, then temporal, then the others).
    /// </summary>
    internal static List<int> Slots(IReadOnlyList<string> fileAxisLabels)
    {
        static bool Spatial(string l) => ExportGeometry.SpatialLabels.Contains(l);
        int temporal = fileAxisLabels.Count(l => !Spatial(l) && l == "temporal");
        var slots = new List<int>(8);
        for (int a = 0; a < fileAxisLabels.Count; a++)
        {
            string l = fileAxisLabels[a];
            if (!Spatial(l) && slots.Count < 3) slots.AddRange(Enumerable.Repeat(-1, 3 - slots.Count));
            if (!Spatial(l) && l != "temporal" && temporal == 0 && slots.Count == 3) slots.Add(-1);
            slots.Add(a);
        }

        return slots;
    }

    /// <summary>The marker extension for the C-order <paramref name="labels"/>.</summary>
    internal static NiftiExtension Marker(IReadOnlyList<string> labels)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteStartArray(MarkerKey);
            foreach (string l in labels) w.WriteStringValue(l);
            w.WriteEndArray();
            w.WriteEndObject();
        }

        return new NiftiExtension(CommentCode, ms.ToArray());
    }

    /// <summary>Whether <paramref name="e"/> is a marker written by <see cref="Marker"/>.</summary>
    internal static bool IsMarker(NiftiExtension e) => MarkerLabels(e) is not null;

    /// <summary>The C-order labels of a marker extension, or null when <paramref name="e"/> is not one.</summary>
    internal static string[]? MarkerLabels(NiftiExtension e)
    {
        if (e.Code != CommentCode) return null;
        string text = Encoding.UTF8.GetString(e.Data).TrimEnd('\0');
        if (!text.StartsWith("{\"" + MarkerKey + "\"", StringComparison.Ordinal)) return null;
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.GetProperty(MarkerKey) is not { ValueKind: JsonValueKind.Array } arr) return null;
            var labels = arr.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString() : null).ToArray();
            return labels.Length > 0 && labels.All(l => !string.IsNullOrEmpty(l)) ? [.. labels.Select(l => l!)] : null;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>
    /// The C-order labels and shape a marker gives for a file of <paramref name="fileShape"/>: the padding dims (size
    /// 1) dropped. Null when the file has no marker, or the marker does not describe these dims.
    /// </summary>
    internal static (string[] Labels, long[] Shape)? Unpadded(NiftiHeader h, long[] fileShape)
    {
        string[]? labels = h.Extensions.Select(MarkerLabels).FirstOrDefault(l => l is not null);
        if (labels is null) return null;
        string[] fileOrder = [.. labels.Reverse()];
        int ns = fileOrder.TakeWhile(l => ExportGeometry.SpatialLabels.Contains(l)).Count();
        if (ns > 3 || fileOrder.Skip(ns).Any(l => ExportGeometry.SpatialLabels.Contains(l))) return null; // space first, at most 3 axes
        List<int> slots = Slots(fileOrder);
        if (slots.Count != fileShape.Length || !slots.Contains(-1)) return null;
        var sizes = new List<long>(labels.Length);
        for (int d = 0; d < slots.Count; d++)
        {
            if (slots[d] < 0 && fileShape[d] != 1) return null;
            if (slots[d] >= 0) sizes.Add(fileShape[d]);
        }

        sizes.Reverse();
        return (labels, [.. sizes]);
    }
}
