using System.Globalization;

namespace MLArray.Display;

/// <summary>What to render: the view (or a spatial axis), slice, frames, window and mode. Unset values take defaults.</summary>
internal sealed record SliceRequest
{
    /// <summary><c>axial</c>, <c>coronal</c>, <c>sagittal</c>, <c>z</c>/<c>y</c>/<c>x</c> (the view along that array axis) or a C axis number.</summary>
    public string View { get; init; } = "axial";

    /// <summary>The slice index along the view's axis (array index); null: the middle.</summary>
    public long? Index { get; init; }

    /// <summary>Indices along the frame axes (time, channels); missing entries are 0.</summary>
    public long[] Frames { get; init; } = [];

    /// <summary>CENTER,WIDTH; null: the 1st–99th percentile of the slice.</summary>
    public string? Window { get; init; }

    /// <summary>Render label colours even without <c>is_seg</c> (integer images only).</summary>
    public bool AsLabels { get; init; }

    /// <summary>The patient's right on the screen's right.</summary>
    public bool Neurological { get; init; }

    /// <summary>What complex images show (magnitude by default).</summary>
    public ComplexPart Part { get; init; }
}

/// <summary>One slice of an image rendered as viewers show it (the library behind <c>mlarray preview</c>).</summary>
internal static class SlicePreview
{
    /// <summary>Renders the slice <paramref name="request"/> asks for.</summary>
    /// <exception cref="ArgumentException">A bad view, index, frame or window.</exception>
    /// <exception cref="MLArrayNotSupportedException">An image the viewer cannot show.</exception>
    public static (RenderedSlice Slice, DisplayGeometry Geometry, SliceView View, long Index, RenderMode Mode) Render(MLArrayFile image, SliceRequest request)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(request);
        var geometry = DisplayGeometry.Of(image);
        SliceView view = ParseView(geometry, request.View);
        ViewLayout layout = geometry.Layout(view, request.Neurological);
        long index = request.Index ?? (layout.Slices / 2);
        if (index < 0) index += layout.Slices;
        if (index < 0 || index >= layout.Slices)
            throw new ArgumentException($"slice index {request.Index} is out of range for the {view.ToString().ToLowerInvariant()} view ({layout.Slices} slices).");
        long[] frames = FramesOf(geometry, request.Frames);
        RenderMode mode = ModeOf(image, geometry, request.AsLabels);
        SlicePlane plane = SliceRenderer.Read(image, geometry, layout, index, frames, request.Part);
        double lo = 0, hi = 1;
        if (mode == RenderMode.Grey)
            (lo, hi) = request.Window is { } w ? Window.Parse(w) : Window.Percentiles(plane.Values, 0.01, 0.99);
        return (SliceRenderer.Render(plane, layout, mode, lo, hi), geometry, view, index, mode);
    }

    /// <summary>The render mode of an image: labels for <c>is_seg</c> or when asked (integer dtypes only), RGB for a colour axis, else grey.</summary>
    /// <exception cref="ArgumentException">Labels asked for a non-integer image.</exception>
    public static RenderMode ModeOf(MLArrayFile image, DisplayGeometry geometry, bool asLabels)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(geometry);
        if (asLabels && !DisplayValues.IsLabelType(image.DType))
            throw new ArgumentException($"labels need an integer image; this one is {image.DType}. Drop --seg to show it in grey.");
        if (asLabels || image.Meta.IsSeg == true) return RenderMode.Labels;
        return geometry.ChannelAxis >= 0 ? RenderMode.Rgb : RenderMode.Grey;
    }

    /// <summary>The frame indices for the frame axes (missing: 0), each checked against its axis.</summary>
    /// <exception cref="ArgumentException">More indices than frame axes, or one outside its axis.</exception>
    public static long[] FramesOf(DisplayGeometry geometry, IReadOnlyList<long> given)
    {
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(given);
        int[] axes = geometry.FrameAxes;
        if (given.Count > axes.Length)
            throw new ArgumentException($"{given.Count} frame indices given, but the image has {axes.Length} frame axes (non-spatial axes other than RGB).");
        var f = new long[axes.Length];
        for (int k = 0; k < axes.Length; k++)
        {
            f[k] = k < given.Count ? given[k] : 0;
            long size = geometry.Shape[axes[k]];
            if (f[k] < 0 || f[k] >= size) throw new ArgumentException($"frame {f[k]} is out of range for axis {axes[k]} of size {size}.");
        }

        return f;
    }

    /// <summary>A view name, an array axis letter (the view along that spatial axis) or a C axis number.</summary>
    /// <exception cref="ArgumentException">Anything else, or an axis that is not spatial.</exception>
    public static SliceView ParseView(DisplayGeometry geometry, string spec)
    {
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(spec);
        switch (spec.ToLowerInvariant())
        {
            case "axial": return SliceView.Axial;
            case "coronal": return SliceView.Coronal;
            case "sagittal": return SliceView.Sagittal;
            case "z" or "y" or "x":
                // the spatial slots are (z, y, x) in C order
                int slot = spec.ToLowerInvariant() switch { "z" => 0, "y" => 1, _ => 2 };
                int anat = Array.IndexOf(geometry.SlotOfAnat, slot);
                return anat switch { 0 => SliceView.Sagittal, 1 => SliceView.Coronal, _ => SliceView.Axial };
        }

        if (int.TryParse(spec, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int axis))
        {
            int n = geometry.Shape.Length;
            int a = axis < 0 ? n + axis : axis;
            if (a < 0 || a >= n) throw new ArgumentException($"axis {spec} is out of range for {n} dimensions.");
            return geometry.ViewAlong(a);
        }

        throw new ArgumentException($"the view must be axial, coronal, sagittal, z, y, x or an axis number, not '{spec}'.");
    }
}
