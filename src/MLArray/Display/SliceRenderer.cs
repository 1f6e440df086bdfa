using System.Globalization;

namespace MLArray.Display;

/// <summary>One slice in screen orientation at voxel resolution: <c>Values[(r * Cols + c) * Channels + ch]</c>.</summary>
/// <param name="Rows">Screen rows (voxels).</param>
/// <param name="Cols">Screen columns (voxels).</param>
/// <param name="Channels">1, or 3/4 for RGB(A).</param>
/// <param name="Values">Display values (<see cref="DisplayValues"/>).</param>
internal sealed record SlicePlane(int Rows, int Cols, int Channels, double[] Values);

/// <summary>How values become colours.</summary>
internal enum RenderMode
{
    /// <summary>Greyscale through a window; linear resampling for the aspect ratio.</summary>
    Grey,
    /// <summary>RGB(A) uint8 channels shown as colour (alpha dropped); linear resampling.</summary>
    Rgb,
    /// <summary>One opaque colour per label (label 0 black); nearest resampling.</summary>
    Labels,
    /// <summary>One colour per label with label 0 transparent (RGBA, for an overlay); nearest resampling.</summary>
    Overlay,
}

/// <summary>A rendered slice: <c>Pixels</c> row-major with <c>Channels</c> bytes per pixel (1 grey, 3 RGB, 4 RGBA).</summary>
/// <param name="Width">Pixels across.</param>
/// <param name="Height">Pixels down.</param>
/// <param name="Channels">Bytes per pixel.</param>
/// <param name="Pixels">The pixels.</param>
internal sealed record RenderedSlice(int Width, int Height, int Channels, byte[] Pixels)
{
    /// <summary>The slice as a PNG.</summary>
    public byte[] ToPng() => Png.Encode(Width, Height, Pixels, Channels);
}

/// <summary>
/// Reads one slice of an image (only the chunks it touches) in viewer orientation and renders it: window/level, RGB,
/// label colours, aspect ratio from the spacing (a display pixel is the smaller of the two spacings; at most
/// <see cref="MaxPixels"/> pixels along a side).
/// </summary>
internal static class SliceRenderer
{
    /// <summary>The largest rendered side in pixels.</summary>
    public const int MaxPixels = 4096;

    /// <summary>The most voxels (times channels) one slice may hold: 2^26, 512 MiB as display values.</summary>
    public const long MaxSliceVoxels = 1L << 26;

    /// <summary>
    /// Reads the slice <paramref name="index"/> of the view <paramref name="layout"/> with the given frame indices (one
    /// per <see cref="DisplayGeometry.FrameAxes"/>); complex images show <paramref name="part"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A slice or frame index outside the image.</exception>
    public static SlicePlane Read(MLArrayFile image, DisplayGeometry geometry, ViewLayout layout, long index, ReadOnlySpan<long> frames,
        ComplexPart part = ComplexPart.Magnitude)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(layout);
        long[] shape = geometry.Shape;
        if (index < 0 || index >= layout.Slices)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"slice {index} is outside 0..{layout.Slices - 1}.");
        if (frames.Length != geometry.FrameAxes.Length)
            throw new ArgumentException($"{geometry.FrameAxes.Length} frame indices are needed (axes {string.Join(", ", geometry.FrameAxes)}), not {frames.Length}.", nameof(frames));
        long voxels = layout.Rows * layout.Cols * (geometry.ChannelAxis >= 0 ? shape[geometry.ChannelAxis] : 1);
        if (voxels > MaxSliceVoxels)
            throw new MLArrayNotSupportedException($"a {layout.Rows}×{layout.Cols} slice holds {voxels} voxels, more than the display limit of {MaxSliceVoxels} (SliceRenderer.MaxSliceVoxels); crop the image first (MLArrayFile.Read of a region).");
        int n = shape.Length;
        var sel = new NdIndex[n];
        for (int i = 0; i < n; i++) sel[i] = NdIndex.All;
        int sliceAxis = geometry.Slots[layout.SliceSlot];
        if (sliceAxis >= 0) sel[sliceAxis] = NdIndex.At(index);
        for (int k = 0; k < frames.Length; k++)
        {
            int a = geometry.FrameAxes[k];
            if (frames[k] < 0 || frames[k] >= shape[a])
                throw new ArgumentOutOfRangeException(nameof(frames), frames[k], $"frame {frames[k]} is outside 0..{shape[a] - 1} (axis {a}).");
            sel[a] = NdIndex.At(frames[k]);
        }

        double[] src = DisplayValues.ToDouble(image.ReadBytes(sel), image.DType, part);

        // C-order strides of the axes left in the selection (row, column, channel)
        int rowAxis = geometry.Slots[layout.RowSlot], colAxis = geometry.Slots[layout.ColSlot], chAxis = geometry.ChannelAxis;
        int[] kept = new[] { rowAxis, colAxis, chAxis }.Where(a => a >= 0).OrderBy(a => a).ToArray();
        long Stride(int axis)
        {
            if (axis < 0) return 0;
            long s = 1;
            foreach (int a in kept)
                if (a > axis) s *= shape[a];
            return s;
        }

        long rs = Stride(rowAxis), cs = Stride(colAxis), chs = Stride(chAxis);
        int rows = (int)layout.Rows, cols = (int)layout.Cols, chn = chAxis >= 0 ? (int)shape[chAxis] : 1;
        var values = new double[(long)rows * cols * chn];
        for (int r = 0; r < rows; r++)
        {
            long sr = (layout.RowFlip ? rows - 1 - r : r) * rs;
            for (int c = 0; c < cols; c++)
            {
                long sc = sr + ((layout.ColFlip ? cols - 1 - c : c) * cs);
                int o = ((r * cols) + c) * chn;
                for (int ch = 0; ch < chn; ch++) values[o + ch] = src[sc + (ch * chs)];
            }
        }

        return new SlicePlane(rows, cols, chn, values);
    }

    /// <summary>The rendered size of a view: one pixel per smaller spacing, the other side stretched (at most <see cref="MaxPixels"/>).</summary>
    public static (int Width, int Height) DisplaySize(ViewLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        double p = Math.Min(layout.RowSpacing, layout.ColSpacing);
        double h = layout.Rows * layout.RowSpacing / p, w = layout.Cols * layout.ColSpacing / p;
        double scale = Math.Max(1, Math.Max(h, w) / MaxPixels);
        return ((int)Math.Max(1, Math.Round(w / scale)), (int)Math.Max(1, Math.Round(h / scale)));
    }

    /// <summary>The voxel (screen row, column) under a rendered pixel.</summary>
    public static (int Row, int Col) VoxelAt(ViewLayout layout, int width, int height, double x, double y)
    {
        ArgumentNullException.ThrowIfNull(layout);
        int r = (int)Math.Clamp(Math.Floor((y + 0.5) * layout.Rows / height), 0, layout.Rows - 1);
        int c = (int)Math.Clamp(Math.Floor((x + 0.5) * layout.Cols / width), 0, layout.Cols - 1);
        return (r, c);
    }

    /// <summary>The centre of a voxel (screen row, column) in rendered pixels.</summary>
    public static (double X, double Y) PixelOf(ViewLayout layout, int width, int height, long row, long col)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return (((col + 0.5) * width / layout.Cols) - 0.5, ((row + 0.5) * height / layout.Rows) - 0.5);
    }

    /// <summary>Renders a plane at the display size of <paramref name="layout"/>. <paramref name="lo"/>/<paramref name="hi"/> are the window of <see cref="RenderMode.Grey"/>.</summary>
    public static RenderedSlice Render(SlicePlane plane, ViewLayout layout, RenderMode mode, double lo = 0, double hi = 1)
    {
        ArgumentNullException.ThrowIfNull(plane);
        var (w, h) = DisplaySize(layout);
        bool nearest = mode is RenderMode.Labels or RenderMode.Overlay;
        SlicePlane p = Resample(plane, w, h, nearest);
        int n = w * h;
        switch (mode)
        {
            case RenderMode.Grey:
            {
                var px = new byte[n];
                for (int i = 0; i < n; i++) px[i] = Window.Map(p.Values[i * p.Channels], lo, hi);
                return new RenderedSlice(w, h, 1, px);
            }

            case RenderMode.Rgb:
            {
                var px = new byte[n * 3];
                for (int i = 0; i < n; i++)
                    for (int ch = 0; ch < 3; ch++) px[(3 * i) + ch] = (byte)Math.Clamp(Math.Floor(p.Values[(i * p.Channels) + Math.Min(ch, p.Channels - 1)] + 0.5), 0, 255);
                return new RenderedSlice(w, h, 3, px);
            }

            default:
            {
                int bpp = mode == RenderMode.Overlay ? 4 : 3;
                var px = new byte[n * bpp];
                for (int i = 0; i < n; i++)
                {
                    double v = p.Values[i * p.Channels];
                    var (r, g, b) = LabelColours.Of(v);
                    px[bpp * i] = r;
                    px[(bpp * i) + 1] = g;
                    px[(bpp * i) + 2] = b;
                    if (bpp == 4) px[(bpp * i) + 3] = LabelColours.IsBackground(v) ? (byte)0 : (byte)255;
                }

                return new RenderedSlice(w, h, bpp, px);
            }
        }
    }

    /// <summary>Resamples to <paramref name="width"/>×<paramref name="height"/>: pixel centres mapped onto voxel centres, bilinear or nearest.</summary>
    internal static SlicePlane Resample(SlicePlane p, int width, int height, bool nearest)
    {
        if (width == p.Cols && height == p.Rows) return p;
        int ch = p.Channels;
        var v = new double[(long)width * height * ch];
        for (int y = 0; y < height; y++)
        {
            double fy = ((y + 0.5) * p.Rows / height) - 0.5;
            for (int x = 0; x < width; x++)
            {
                double fx = ((x + 0.5) * p.Cols / width) - 0.5;
                int o = ((y * width) + x) * ch;
                if (nearest)
                {
                    int r = Math.Clamp((int)Math.Floor(fy + 0.5), 0, p.Rows - 1), c = Math.Clamp((int)Math.Floor(fx + 0.5), 0, p.Cols - 1);
                    for (int k = 0; k < ch; k++) v[o + k] = p.Values[(((r * p.Cols) + c) * ch) + k];
                    continue;
                }

                double cy = Math.Clamp(fy, 0, p.Rows - 1), cx = Math.Clamp(fx, 0, p.Cols - 1);
                int r0 = (int)Math.Floor(cy), c0 = (int)Math.Floor(cx);
                int r1 = Math.Min(r0 + 1, p.Rows - 1), c1 = Math.Min(c0 + 1, p.Cols - 1);
                double ty = cy - r0, tx = cx - c0;
                for (int k = 0; k < ch; k++)
                {
                    double a = p.Values[(((r0 * p.Cols) + c0) * ch) + k], b = p.Values[(((r0 * p.Cols) + c1) * ch) + k];
                    double c = p.Values[(((r1 * p.Cols) + c0) * ch) + k], d = p.Values[(((r1 * p.Cols) + c1) * ch) + k];
                    double top = tx == 0 ? a : a + ((b - a) * tx), bottom = tx == 0 ? c : c + ((d - c) * tx);
                    v[o + k] = ty == 0 ? top : top + ((bottom - top) * ty);
                }
            }
        }

        return new SlicePlane(height, width, ch, v);
    }
}

/// <summary>Window/level: the value range shown from black to white.</summary>
internal static class Window
{
    /// <summary>A value to a grey level: <c>floor((v − lo) / (hi − lo) · 255 + 0.5)</c> clamped (NaN black; the page's arithmetic is the same).</summary>
    public static byte Map(double v, double lo, double hi)
    {
        if (double.IsNaN(v)) return 0;
        if (!(hi > lo)) return v >= hi ? (byte)255 : (byte)0;
        double t = (v - lo) / (hi - lo);
        return (byte)Math.Clamp(Math.Floor((t * 255) + 0.5), 0, 255);
    }

    /// <summary>Linear-interpolated percentiles (NumPy's default) of the finite values; (0, 1) when there are none.</summary>
    public static (double Lo, double Hi) Percentiles(ReadOnlySpan<double> v, double p, double q)
    {
        var s = new List<double>(v.Length);
        foreach (double x in v)
            if (double.IsFinite(x)) s.Add(x);
        if (s.Count == 0) return (0, 1);
        s.Sort();
        double At(double f)
        {
            double pos = f * (s.Count - 1);
            int i = (int)Math.Floor(pos);
            int j = Math.Min(i + 1, s.Count - 1);
            return s[i] + ((s[j] - s[i]) * (pos - i));
        }

        return (At(p), At(q));
    }

    /// <summary>The most values <see cref="Sampled"/> looks at.</summary>
    public const int MaxSamples = 1 << 16;

    /// <summary>
    /// The 1st–99th percentile window estimated from at most <see cref="MaxSamples"/> evenly spaced values of
    /// <paramref name="v"/> (every value when there are fewer): a viewer's first picture without sorting a whole slice.
    /// </summary>
    public static (double Lo, double Hi) Sampled(ReadOnlySpan<double> v)
    {
        if (v.Length <= MaxSamples) return Percentiles(v, 0.01, 0.99);
        var sample = new double[MaxSamples];
        for (int i = 0; i < MaxSamples; i++) sample[i] = v[(int)((long)i * v.Length / MaxSamples)];
        return Percentiles(sample, 0.01, 0.99);
    }

    /// <summary>
    /// The window a viewer opens with, without whole-array statistics at start: the file's stored
    /// <c>stats.percentile_min</c>/<c>percentile_max</c> when both are finite and ordered (real-valued images only),
    /// else <see cref="Sampled"/> over the first slice shown. <c>Source</c> is <c>"stats"</c> or <c>"slice"</c>.
    /// </summary>
    /// <param name="image">The image (its metadata statistics).</param>
    /// <param name="firstSlice">The values of the first slice shown; called only when the statistics do not give a window.</param>
    public static (double Lo, double Hi, string Source) Initial(MLArrayFile image, Func<double[]> firstSlice)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(firstSlice);
        var st = image.Meta.Stats;
        if (image.DType.Code is not (DTypeCode.Complex64 or DTypeCode.Complex128) && st.PercentileMin is { } pmin && st.PercentileMax is { } pmax)
        {
            double lo = pmin.ToDouble(), hi = pmax.ToDouble();
            if (double.IsFinite(lo) && double.IsFinite(hi) && hi > lo) return (lo, hi, "stats");
        }

        var (l, h) = Sampled(firstSlice());
        return (l, h, "slice");
    }

    /// <summary>Parses <c>CENTER,WIDTH</c> into (lo, hi).</summary>
    /// <exception cref="ArgumentException">Not two numbers, or a width that is not positive.</exception>
    public static (double Lo, double Hi) Parse(string centerWidth)
    {
        ArgumentNullException.ThrowIfNull(centerWidth);
        var parts = centerWidth.Split(',');
        if (parts.Length != 2 || !double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double c) ||
            !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double w) || !(w > 0) || !double.IsFinite(c) || !double.IsFinite(w))
            throw new ArgumentException($"window '{centerWidth}' must be CENTER,WIDTH with a positive width.");
        return (c - (w / 2), c + (w / 2));
    }
}

/// <summary>The label colour table: label 0 is background (black, transparent in overlays); others get well-separated hues.</summary>
internal static class LabelColours
{
    /// <summary>True for label 0 (and NaN).</summary>
    public static bool IsBackground(double label) => double.IsNaN(label) || label == 0;

    /// <summary>The colour of a label: golden-ratio hue steps, saturation 0.85, value alternating 1.0/0.7 every 7 labels.</summary>
    public static (byte R, byte G, byte B) Of(double label)
    {
        if (IsBackground(label)) return (0, 0, 0);
        long k = (long)Math.Round(label);
        double hue = (((k * 0.618033988749895) % 1) + 1) % 1;
        double val = (k / 7 % 2 == 0) ? 1.0 : 0.7;
        return Hsv(hue, 0.85, val);
    }

    /// <summary>The colour as <c>#rrggbb</c>.</summary>
    public static string Hex(double label)
    {
        var (r, g, b) = Of(label);
        return string.Create(CultureInfo.InvariantCulture, $"#{r:x2}{g:x2}{b:x2}");
    }

    private static (byte, byte, byte) Hsv(double h, double s, double v)
    {
        double c = v * s, x = c * (1 - Math.Abs((h * 6 % 2) - 1)), m = v - c;
        (double r, double g, double b) = (int)(h * 6) switch
        {
            0 => (c, x, 0.0), 1 => (x, c, 0.0), 2 => (0.0, c, x), 3 => (0.0, x, c), 4 => (x, 0.0, c), _ => (c, 0.0, x),
        };
        return ((byte)Math.Round((r + m) * 255), (byte)Math.Round((g + m) * 255), (byte)Math.Round((b + m) * 255));
    }
}
