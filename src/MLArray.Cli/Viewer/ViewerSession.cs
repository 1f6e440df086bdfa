using System.Globalization;
using System.Text.Json;
using MLArray.Blosc2;
using MLArray.Cli.Commands;
using MLArray.Display;
using MLArray.Metadata;
using MLArray.Metadata.Migration;
using MLArray.Remote;

namespace MLArray.Cli.Viewer;

/// <summary>
/// What <c>mlarray view</c> serves: one image (and optionally one segmentation on the same grid), opened once; slices
/// are read on demand (only the chunks they touch) and the most recent ones are kept in a small cache.
/// </summary>
internal sealed class ViewerSession : IDisposable
{
    private const int CacheSize = 48;
    private readonly Lock _cacheLock = new();
    private readonly LinkedList<(string Key, SlicePlane Plane)> _lru = new();
    private readonly Dictionary<string, LinkedListNode<(string Key, SlicePlane Plane)>> _cache = [];
    private readonly MLArrayFile? _seg;
    private readonly DisplayGeometry? _segGeometry;
    private LocalFileWatch? _imageWatch;
    private LocalFileWatch? _segWatch;

    private ViewerSession(MLArrayFile image, DisplayGeometry geometry, RenderMode mode, MLArrayFile? seg, DisplayGeometry? segGeometry, string metaTree, bool neurological)
    {
        Image = image;
        Geometry = geometry;
        Mode = mode;
        _seg = seg;
        _segGeometry = segGeometry;
        MetaTree = metaTree;
        Neurological = neurological;
    }

    /// <summary>The image's file name (shown on the page).</summary>
    public string ImageName { get; private init; } = "";

    /// <summary>The segmentation's file name, or null.</summary>
    public string? SegName { get; private init; }

    /// <summary>The image.</summary>
    public MLArrayFile Image { get; }

    /// <summary>Its display geometry.</summary>
    public DisplayGeometry Geometry { get; }

    /// <summary>Grey, RGB or labels.</summary>
    public RenderMode Mode { get; }

    /// <summary>The metadata tree as <c>mlarray header</c> prints it.</summary>
    public string MetaTree { get; }

    /// <summary>True for the neurological convention.</summary>
    public bool Neurological { get; }

    /// <summary>What complex images show.</summary>
    public ComplexPart Part { get; private init; }

    /// <summary>True when a segmentation is shown over the image.</summary>
    public bool HasSeg => _seg is not null;

    /// <summary>Opens the image (and segmentation) and checks that they can be shown together.</summary>
    /// <exception cref="MLArrayNotSupportedException">An image the viewer cannot show.</exception>
    /// <exception cref="ArgumentException">A segmentation that does not match the image.</exception>
    public static ViewerSession Open(string imagePath, string? segPath, bool neurological = false, ComplexPart part = ComplexPart.Magnitude, string? cacheDir = null)
    {
        // the watches open first: a file replaced by rename between the two opens leaves a watch that never fires, not a false alarm
        LocalFileWatch? imageWatch = LocalFileWatch.TryOpen(imagePath), segWatch = null;
        MLArrayFile? image = null, seg = null;
        try
        {
            image = CliInput.OpenFile(imagePath, cacheDir);
            var geometry = DisplayGeometry.Of(image);
            RenderMode mode = SlicePreview.ModeOf(image, geometry, asLabels: false);
            DisplayGeometry? segGeometry = null;
            if (segPath is not null)
            {
                segWatch = LocalFileWatch.TryOpen(segPath);
                seg = CliInput.OpenFile(segPath, cacheDir);
                segGeometry = CheckSegmentation(image, geometry, seg);
            }

            string tree;
            // local slices decode their chunks on all cores; remote ones keep the serial path, which fetches only the
            // blocks a slice needs, concurrently
            if (!IsUrl(imagePath)) image.DecodeThreads = 0;
            if (seg is not null && !IsUrl(segPath!)) seg.DecodeThreads = 0;
            using (var a = CliInput.OpenArray(imagePath, cacheDir))
            {
                var m = MLArrayMetadata.Read(a);
                var sw = new StringWriter(CultureInfo.InvariantCulture);
                if (m is null) sw.WriteLine("no mlarray metadata");
                else MetaRendering.Write(sw, MetaRendering.Tree(m.Current, m.Layout));
                tree = sw.ToString();
            }

            return new ViewerSession(image, geometry, mode, seg, segGeometry, tree, neurological)
            {
                Part = part,
                ImageName = CliInput.FileName(Shown(imagePath).Replace('\\', '/')),
                SegName = segPath is null ? null : CliInput.FileName(Shown(segPath).Replace('\\', '/')),
                _imageWatch = imageWatch,
                _segWatch = segWatch,
            };
        }
        catch
        {
            seg?.Dispose();
            image?.Dispose();
            segWatch?.Dispose();
            imageWatch?.Dispose();
            throw;
        }
    }

    internal static bool IsUrl(string path) => path.Contains("://", StringComparison.Ordinal);

    /// <summary>
    /// A path, or a URL without its user info and query (a password or a presigned URL's signature is a credential:
    /// never printed or served).
    /// </summary>
    public static string Shown(string pathOrUrl) =>
        HttpRangeSource.IsHttpUrl(pathOrUrl) ? HttpRangeSource.Redact(new Uri(pathOrUrl)).Replace("?…", "", StringComparison.Ordinal)
        : IsUrl(pathOrUrl) && pathOrUrl.IndexOf('?', StringComparison.Ordinal) is var q and > 0 ? pathOrUrl[..q] : pathOrUrl;

    /// <summary>The segmentation's geometry with the image's orientation, after checking shape and geometry match.</summary>
    private static DisplayGeometry CheckSegmentation(MLArrayFile image, DisplayGeometry g, MLArrayFile seg)
    {
        string names = $"the segmentation '{seg.FilePath}' has shape {{0}}, the image '{image.FilePath}' has shape {{1}}";
        string Shapes(string what) => string.Format(CultureInfo.InvariantCulture, names, DisplayGeometry.ShapeText(seg.HasArray ? seg.Shape : [0]), DisplayGeometry.ShapeText(image.Shape)) + what;
        if (!seg.HasArray) throw new ArgumentException(Shapes(": it holds metadata only."));
        DisplayGeometry sg;
        try
        {
            sg = DisplayGeometry.Of(seg);
        }
        catch (MLArrayNotSupportedException e)
        {
            throw new ArgumentException(Shapes($": {e.Message}"), e);
        }

        if (sg.FrameAxes.Length > 0 || sg.ChannelAxis >= 0 || !sg.Sizes.SequenceEqual(g.Sizes))
            throw new ArgumentException(Shapes(": their spatial shapes differ (a segmentation has the image's spatial axes only)."));
        if (!DisplayValues.IsLabelType(seg.DType) && seg.Meta.IsSeg != true)
            throw new ArgumentException($"the segmentation '{seg.FilePath}' is {seg.DType} without is_seg; labels need an integer array.");
        if (sg.Oriented && g.Oriented)
        {
            for (int r = 0; r < 3; r++)
                for (int c = 0; c < 4; c++)
                {
                    double a = g.VoxToWorld[r, c], b = sg.VoxToWorld[r, c];
                    if (Math.Abs(a - b) > 1e-3 * Math.Max(1, Math.Max(Math.Abs(a), Math.Abs(b))))
                        throw new ArgumentException(Shapes($": the shapes match but their geometry differs (voxel-to-world [{r},{c}] is {b} in the segmentation and {a} in the image); resample the segmentation onto the image."));
                }
        }

        return sg.WithOrientationOf(g);
    }

    /// <summary>The layout of a view.</summary>
    public ViewLayout Layout(SliceView view) => Geometry.Layout(view, Neurological);

    /// <summary>The image plane of a slice (cached).</summary>
    public SlicePlane ImagePlane(SliceView view, long index, long[] frames) => Plane("i", Image, Geometry, view, index, frames);

    /// <summary>The segmentation plane of a slice (cached).</summary>
    public SlicePlane SegPlane(SliceView view, long index) =>
        Plane("s", _seg ?? throw new InvalidOperationException("no segmentation was given."), _segGeometry!, view, index, []);

    private SlicePlane Plane(string kind, MLArrayFile file, DisplayGeometry g, SliceView view, long index, long[] frames)
    {
        string key = $"{kind}/{view}/{index}/{string.Join(',', frames)}";
        lock (_cacheLock)
        {
            if (_cache.TryGetValue(key, out var node))
            {
                _lru.Remove(node);
                _lru.AddFirst(node);
                return node.Value.Plane;
            }
        }

        // a cached plane stays shown; a new read first checks that the local file was not rewritten in place
        (kind == "i" ? _imageWatch : _segWatch)?.ThrowIfChanged();
        SlicePlane plane = SliceRenderer.Read(file, g, g.Layout(view, Neurological), index, frames, Part);
        lock (_cacheLock)
        {
            if (!_cache.ContainsKey(key))
            {
                _cache[key] = _lru.AddFirst((key, plane));
                if (_lru.Count > CacheSize)
                {
                    _cache.Remove(_lru.Last!.Value.Key);
                    _lru.RemoveLast();
                }
            }
        }

        return plane;
    }

    /// <summary>Number of planes in the cache (tests).</summary>
    internal int CachedPlanes
    {
        get
        {
            lock (_cacheLock) return _lru.Count;
        }
    }

    private readonly Lock _windowLock = new();
    private (double Lo, double Hi, string Source)? _initial;

    /// <summary>
    /// The window the page opens with (<see cref="Window.Initial"/>): the file's percentile statistics, else a sampled
    /// estimate over the first slice the page shows (the middle axial slice of the first frame, which stays cached for
    /// the page's first request). No whole-array pass.
    /// </summary>
    public (double Lo, double Hi) DefaultWindow()
    {
        var (lo, hi, _) = InitialWindow();
        return (lo, hi);
    }

    private (double Lo, double Hi, string Source) InitialWindow()
    {
        lock (_windowLock)
            return _initial ??= Window.Initial(Image, () => ImagePlane(SliceView.Axial, Layout(SliceView.Axial).Slices / 2, new long[Geometry.FrameAxes.Length]).Values);
    }

    /// <summary>
    /// Reads the first slice the page shows and its initial window in the background (while the browser starts and
    /// loads the page); the page's first requests then find them ready, or wait for the read already under way.
    /// Failures surface again, with their message, in the page's requests.
    /// </summary>
    public Task WarmAsync() => Task.Run(() =>
    {
        try
        {
            if (Mode == RenderMode.Grey) InitialWindow();
            else ImagePlane(SliceView.Axial, Layout(SliceView.Axial).Slices / 2, new long[Geometry.FrameAxes.Length]);
        }
        catch (Exception e) when (e is IOException or HttpRequestException or ArgumentException or InvalidOperationException or UnauthorizedAccessException or OperationCanceledException)
        {
            // reported when the page asks for the same slice
        }
    });

    /// <summary>The 1st–99th percentile window of one slice.</summary>
    public (double Lo, double Hi) AutoWindow(SliceView view, long index, long[] frames) => Window.Percentiles(ImagePlane(view, index, frames).Values, 0.01, 0.99);

    /// <summary>The information the page starts from, as JSON.</summary>
    public string InfoJson()
    {
        var (lo, hi, source) = Mode == RenderMode.Grey ? InitialWindow() : (0, 255, "rgb");
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("file", ImageName);
            w.WriteString("seg", SegName);
            w.WriteString("shape", DisplayGeometry.ShapeText(Image.Shape));
            w.WriteString("dtype", Image.DType.ToString());
            w.WriteString("mode", Mode.ToString().ToLowerInvariant());
            w.WriteString("orientation", Geometry.Orientation);
            w.WriteString("coordSystem", Geometry.CoordSystem);
            w.WriteBoolean("oriented", Geometry.Oriented);
            w.WriteBoolean("twoD", Geometry.Slots[0] < 0);
            w.WriteBoolean("neurological", Neurological);
            w.WriteNumber("lo", lo);
            w.WriteNumber("hi", hi);
            w.WriteString("windowSource", source);
            w.WriteStartObject("views");
            foreach (SliceView v in Enum.GetValues<SliceView>())
            {
                var l = Layout(v);
                var (width, height) = SliceRenderer.DisplaySize(l);
                w.WriteStartObject(v.ToString().ToLowerInvariant());
                w.WriteNumber("slices", l.Slices);
                w.WriteNumber("width", width);
                w.WriteNumber("height", height);
                w.WriteEndObject();
            }

            w.WriteEndObject();
            w.WriteStartArray("frames");
            var labels = Image.AxisLabels;
            foreach (int a in Geometry.FrameAxes)
            {
                w.WriteStartObject();
                w.WriteNumber("axis", a);
                w.WriteNumber("size", Image.Shape[a]);
                w.WriteString("label", labels is { } ls && ls.Count == Image.Shape.Length ? ls[a] : "axis " + a.ToString(CultureInfo.InvariantCulture));
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteString("meta", MetaTree);
            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>The grey/RGB/label PNG of an image slice.</summary>
    public byte[] SlicePng(SliceView view, long index, long[] frames, double lo, double hi) =>
        SliceRenderer.Render(ImagePlane(view, index, frames), Layout(view), Mode, lo, hi).ToPng();

    /// <summary>The RGBA overlay PNG of a segmentation slice and the labels it shows.</summary>
    public (byte[] Png, long[] Labels) OverlayPng(SliceView view, long index)
    {
        var plane = SegPlane(view, index);
        long[] labels = plane.Values.Where(v => !LabelColours.IsBackground(v)).Select(v => (long)Math.Round(v)).Distinct().Order().ToArray();
        return (SliceRenderer.Render(plane, Layout(view), RenderMode.Overlay).ToPng(), labels);
    }

    /// <summary>The voxel under a rendered pixel of a view, with its world coordinate, value, label and its place in every view (JSON).</summary>
    public string LocateJson(SliceView view, long index, long[] frames, double x, double y)
    {
        var l = Layout(view);
        var (width, height) = SliceRenderer.DisplaySize(l);
        var (row, col) = SliceRenderer.VoxelAt(l, width, height, x, y);
        var slot = new long[3];
        slot[l.SliceSlot] = index;
        slot[l.RowSlot] = l.RowFlip ? l.Rows - 1 - row : row;
        slot[l.ColSlot] = l.ColFlip ? l.Cols - 1 - col : col;
        double[] world = Geometry.World(slot);
        var plane = ImagePlane(view, index, frames);
        int o = ((row * plane.Cols) + col) * plane.Channels;
        double[] value = plane.Values[o..(o + plane.Channels)];
        double? label = _seg is null ? null : SegPlane(view, index).Values[(row * plane.Cols) + col];

        // the voxel's full C index (spatial slots, frames; RGB: all channels)
        var voxel = new List<string>();
        for (int a = 0; a < Image.Shape.Length; a++)
        {
            int s = Array.IndexOf(Geometry.Slots, a), f = Array.IndexOf(Geometry.FrameAxes, a);
            voxel.Add(s >= 0 ? slot[s].ToString(CultureInfo.InvariantCulture) : f >= 0 ? frames[f].ToString(CultureInfo.InvariantCulture) : ":");
        }

        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("voxel", "[" + string.Join(", ", voxel) + "]");
            w.WriteStartArray("world");
            foreach (double d in world) w.WriteNumberValue(Math.Round(d, 4));
            w.WriteEndArray();
            w.WriteString("frame", Geometry.Oriented ? Geometry.CoordSystem ?? "unset" : "voxel");
            w.WriteStartArray("value");
            foreach (double d in value)
                if (double.IsFinite(d)) w.WriteNumberValue(d);
                else w.WriteStringValue(d.ToString(CultureInfo.InvariantCulture));
            w.WriteEndArray();
            if (label is { } lb && double.IsFinite(lb)) w.WriteNumber("label", Math.Round(lb));
            else if (label is { } nonFinite) w.WriteString("label", nonFinite.ToString(CultureInfo.InvariantCulture)); // NaN (background) or ±inf in a float segmentation: JSON has no number for them
            else w.WriteNull("label");
            w.WriteStartObject("views");
            foreach (SliceView v in Enum.GetValues<SliceView>())
            {
                var lv = Layout(v);
                var (wv, hv) = SliceRenderer.DisplaySize(lv);
                long r = lv.RowFlip ? lv.Rows - 1 - slot[lv.RowSlot] : slot[lv.RowSlot];
                long c = lv.ColFlip ? lv.Cols - 1 - slot[lv.ColSlot] : slot[lv.ColSlot];
                var (px, py) = SliceRenderer.PixelOf(lv, wv, hv, r, c);
                w.WriteStartObject(v.ToString().ToLowerInvariant());
                w.WriteNumber("index", slot[lv.SliceSlot]);
                w.WriteNumber("x", px);
                w.WriteNumber("y", py);
                w.WriteEndObject();
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _seg?.Dispose();
        Image.Dispose();
        _segWatch?.Dispose();
        _imageWatch?.Dispose();
    }
}
