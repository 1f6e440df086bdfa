using MLArray.Conversion;
using MLArray.Display;
using MLArray.Metadata;
using MLArray.TestSupport;

namespace MLArray.Tests.Display;

/// <summary>
/// Slices in viewer orientation: an upright "L" marker at a known place in the patient (LPS world) is stored with many
/// voxel orders, in LPS and RAS, written through the NIfTI and NRRD writers and read back; every render must show the
/// same upright L in the same place on screen.
/// </summary>
public sealed class OrientationTests : IDisposable
{
    private const int N = 16;
    private const int MarkerZ = 11;
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-orient-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The marker in LPS world millimetres (x → patient left, y → posterior, z → superior), volume [0, 15]³.</summary>
    private static bool InMarker(double x, double y, double z)
    {
        int xi = (int)Math.Round(x), yi = (int)Math.Round(y), zi = (int)Math.Round(z);
        // an upright L in the axial plane z = 11 near the patient's right-anterior corner, and a thin post going up to
        // z = 14 from its corner (so coronal and sagittal views see something asymmetric too)
        bool axialL = zi == MarkerZ && ((xi == 3 && yi >= 2 && yi <= 8) || (yi == 8 && xi >= 3 && xi <= 6));
        bool post = xi == 3 && yi == 8 && zi >= MarkerZ && zi <= 14;
        bool foot = yi == 8 && zi == 14 && xi >= 3 && xi <= 5;
        return axialL || post || foot;
    }

    /// <summary>The expected screen pattern of each view (row, column) → marker, from the world definition alone.</summary>
    private static bool Expected(SliceView view, int slice, int row, int col) => view switch
    {
        // axial: anterior up (row = y), the patient's right on the left (col = x)
        SliceView.Axial => InMarker(col, row, slice),
        // coronal: superior up (row = 15 - z), patient's right on the left (col = x); slice = y
        SliceView.Coronal => InMarker(col, slice, N - 1 - row),
        // sagittal: superior up, anterior on the left (col = y); slice = x
        _ => InMarker(slice, col, N - 1 - row),
    };

    public static TheoryData<string, string, string> Layouts()
    {
        var d = new TheoryData<string, string, string>();
        // permutation of world axes per file axis (x, y, z of the file) and signs
        string[] perms = ["012+++", "012--+", "021+-+", "102-++", "210++-", "120-+-"];
        foreach (string p in perms)
            foreach (string cs in new[] { "LPS", "RAS" })
                foreach (string via in new[] { "mla", ".nii.gz", ".nrrd" })
                    d.Add(p, cs, via);
        return d;
    }

    /// <summary>An XYZ-ordered image (the reference's later layout) whose file axis a runs along world axis perm[a].</summary>
    private static MLArrayFile Phantom(string spec, string coordSystem)
    {
        int[] perm = [spec[0] - '0', spec[1] - '0', spec[2] - '0'];
        int[] sign = [spec[3] == '+' ? 1 : -1, spec[4] == '+' ? 1 : -1, spec[5] == '+' ? 1 : -1];
        var a = new double[4, 4];
        a[3, 3] = 1;
        for (int f = 0; f < 3; f++)
        {
            a[perm[f], f] = sign[f];
            if (sign[f] < 0) a[perm[f], 3] = N - 1;
        }

        var data = new short[N * N * N];
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                for (int k = 0; k < N; k++)
                {
                    double[] w = [a[0, 3] + (a[0, 0] * i) + (a[0, 1] * j) + (a[0, 2] * k), a[1, 3] + (a[1, 0] * i) + (a[1, 1] * j) + (a[1, 2] * k), a[2, 3] + (a[2, 0] * i) + (a[2, 1] * j) + (a[2, 2] * k)];
                    data[(((i * N) + j) * N) + k] = (short)(InMarker(w[0], w[1], w[2]) ? 100 : 0);
                }

        if (coordSystem == "RAS")
            for (int c = 0; c <= 3; c++)
            {
                a[0, c] = -a[0, c];
                a[1, c] = -a[1, c];
            }

        return MLArrayFile.FromArray(data, [N, N, N], new MLArrayCreateOptions
        {
            Affine = a, AxisLabels = ["spatial_x", "spatial_y", "spatial_z"],
            Meta = new MLArrayMeta { Spatial = new MetaSpatial { CoordSystem = new CoordSystem(coordSystem) } },
        });
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public void The_L_marker_lands_where_the_patient_has_it_in_every_view(string perm, string coordSystem, string via)
    {
        using var phantom = Phantom(perm, coordSystem);
        MLArrayFile image;
        if (via == "mla") image = phantom;
        else
        {
            string mla = Path.Combine(_dir, "p.mla"), med = Path.Combine(_dir, "p" + via);
            phantom.Save(mla);
            MedicalConverter.FromMLArray(mla, med);
            image = MedicalConverter.ToMLArray(med);
        }

        try
        {
            var g = DisplayGeometry.Of(image);
            Assert.True(g.Oriented);
            foreach (SliceView view in Enum.GetValues<SliceView>())
            {
                ViewLayout layout = g.Layout(view);
                Assert.Equal((N, N, N), (layout.Slices, layout.Rows, layout.Cols));
                // the slice through the marker: the world coordinate along the view's axis is the slice's world position
                int worldSlice = view switch { SliceView.Axial => MarkerZ, SliceView.Coronal => 8, _ => 3 };
                long index = IndexOfWorld(g, layout, worldSlice, view);
                var plane = SliceRenderer.Read(image, g, layout, index, []);
                var r = SliceRenderer.Render(plane, layout, RenderMode.Grey, 0, 100);
                Assert.Equal((N, N, 1), (r.Width, r.Height, r.Channels));
                for (int row = 0; row < N; row++)
                    for (int col = 0; col < N; col++)
                        Assert.True(Expected(view, worldSlice, row, col) == (r.Pixels[(row * N) + col] == 255),
                            $"{view} pixel ({row}, {col}) of {perm} {coordSystem} via {via}");
            }
        }
        finally
        {
            if (!ReferenceEquals(image, phantom)) image.Dispose();
        }
    }

    /// <summary>The slice index whose world coordinate (LPS) along the view's axis is <paramref name="world"/>.</summary>
    private static long IndexOfWorld(DisplayGeometry g, ViewLayout layout, int world, SliceView view)
    {
        int anat = view switch { SliceView.Axial => 2, SliceView.Coronal => 1, _ => 0 };
        bool ras = g.CoordSystem is "RAS" or "RAS+";
        for (long i = 0; i < layout.Slices; i++)
        {
            var idx = new long[3];
            idx[layout.SliceSlot] = i;
            double w = g.World(idx)[anat] * (ras && anat < 2 ? -1 : 1);
            if (Math.Abs(w - world) < 1e-6) return i;
        }

        throw new InvalidOperationException($"no {view} slice at world {world}");
    }

    [Fact]
    public void Neurological_puts_the_patients_right_on_the_right()
    {
        using var image = Phantom("012+++", "LPS");
        var g = DisplayGeometry.Of(image);
        var radio = SliceRenderer.Render(SliceRenderer.Read(image, g, g.Layout(SliceView.Axial), MarkerZ, []), g.Layout(SliceView.Axial), RenderMode.Grey, 0, 100);
        var neuro = SliceRenderer.Render(SliceRenderer.Read(image, g, g.Layout(SliceView.Axial, neurological: true), MarkerZ, []), g.Layout(SliceView.Axial, true), RenderMode.Grey, 0, 100);
        for (int row = 0; row < N; row++)
            for (int col = 0; col < N; col++) Assert.Equal(radio.Pixels[(row * N) + col], neuro.Pixels[(row * N) + (N - 1 - col)]);
        Assert.Equal(255, radio.Pixels[(2 * N) + 3]);
    }

    [Fact]
    public void Oblique_directions_use_the_closest_anatomical_axes()
    {
        // the identity phantom rotated 20° about z: axial stays axial, rows and columns keep their sense
        double c = Math.Cos(20 * Math.PI / 180), s = Math.Sin(20 * Math.PI / 180);
        var a = new double[,] { { c, -s, 0, 0 }, { s, c, 0, 0 }, { 0, 0, 1, 0 }, { 0, 0, 0, 1 } };
        using var image = MLArrayFile.FromArray(new byte[4 * 5 * 6], [4, 5, 6], new MLArrayCreateOptions
        {
            Affine = a, AxisLabels = ["spatial_x", "spatial_y", "spatial_z"],
            Meta = new MLArrayMeta { Spatial = new MetaSpatial { CoordSystem = new CoordSystem("LPS") } },
        });
        var g = DisplayGeometry.Of(image);
        Assert.Equal([0, 1, 2], g.SlotOfAnat);
        Assert.Equal([1, 1, 1], g.SignOfAnat);
        var axial = g.Layout(SliceView.Axial);
        Assert.Equal((2, 1, 0, false, false), (axial.SliceSlot, axial.RowSlot, axial.ColSlot, axial.RowFlip, axial.ColFlip));
    }

    [Fact]
    public void Anisotropic_spacing_stretches_the_display_and_labels_stay_nearest()
    {
        // 4 slices of 3 mm, 5 rows and 6 columns of 1 mm, no direction: LPS identity on (x, y, z) = (C axis 2, 1, 0)
        var data = new byte[4 * 5 * 6];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(i / 30 + 1);
        using var image = MLArrayFile.FromArray(data, [4, 5, 6], new MLArrayCreateOptions
        {
            Spacing = [3, 1, 1], Meta = new MLArrayMeta { IsSeg = true, Spatial = new MetaSpatial { CoordSystem = new CoordSystem("LPS") } },
        });
        var g = DisplayGeometry.Of(image);
        var cor = g.Layout(SliceView.Coronal);
        Assert.Equal((6, 12), SliceRenderer.DisplaySize(cor));
        var r = SliceRenderer.Render(SliceRenderer.Read(image, g, cor, 2, []), cor, RenderMode.Labels);
        // superior up: the top three display rows are the last (most superior) slice, label 4, and only labels occur
        for (int row = 0; row < 12; row++)
        {
            var expected = LabelColours.Of(4 - (row / 3));
            for (int col = 0; col < 6; col++)
                Assert.Equal(expected, (r.Pixels[3 * ((row * 6) + col)], r.Pixels[(3 * ((row * 6) + col)) + 1], r.Pixels[(3 * ((row * 6) + col)) + 2]));
        }

        // greyscale resamples linearly: the rows between two slices blend
        var grey = SliceRenderer.Render(SliceRenderer.Read(image, g, cor, 2, []), cor, RenderMode.Grey, 1, 4);
        Assert.Equal(255, grey.Pixels[6]);            // row 1: the centre of slice 3
        Assert.Equal(Window.Map(4 - (2.0 / 3), 1, 4), grey.Pixels[3 * 6]);  // row 3: centre at 0.67 voxel rows below slice 3
    }

    [Fact]
    public void Without_geometry_the_views_are_array_order_and_say_so()
    {
        var data = new float[2 * 3 * 4];
        for (int i = 0; i < data.Length; i++) data[i] = i;
        using var image = MLArrayFile.FromArray(data, [2, 3, 4]);
        var g = DisplayGeometry.Of(image);
        Assert.False(g.Oriented);
        Assert.Contains("array order", g.Orientation, StringComparison.Ordinal);
        var ax = g.Layout(SliceView.Axial, neurological: true);
        var plane = SliceRenderer.Read(image, g, ax, 1, []);
        Assert.Equal(Enumerable.Range(12, 12).Select(i => (double)i), plane.Values);
        var sag = g.Layout(SliceView.Sagittal);
        plane = SliceRenderer.Read(image, g, sag, 3, []);
        Assert.Equal(new double[] { 3, 7, 11, 15, 19, 23 }, plane.Values);
    }

    [Fact]
    public void Rgb_renders_in_colour_and_frames_pick_the_time_point()
    {
        // (t, z, y, x, rgb) is 5-D and refused; (z, y, x, rgb) shows colour; (t, z, y, x) gets one frame axis
        var rgb = new byte[2 * 2 * 2 * 3];
        for (int i = 0; i < rgb.Length; i++) rgb[i] = (byte)(i * 10);
        using var colour = MLArrayFile.FromArray(rgb, [2, 2, 2, 3], new MLArrayCreateOptions { AxisLabels = ["spatial_z", "spatial_y", "spatial_x", "channel"] });
        var g = DisplayGeometry.Of(colour);
        Assert.Equal(3, g.ChannelAxis);
        Assert.Empty(g.FrameAxes);
        var (slice, _, _, _, mode) = SlicePreview.Render(colour, new SliceRequest { Index = 1 });
        Assert.Equal(RenderMode.Rgb, mode);
        Assert.Equal(rgb[12..], slice.Pixels);

        var t = new float[3 * 2 * 2 * 2];
        for (int i = 0; i < t.Length; i++) t[i] = i;
        using var series = MLArrayFile.FromArray(t, [2, 2, 2, 3], new MLArrayCreateOptions { AxisLabels = ["spatial_z", "spatial_y", "spatial_x", "temporal"] });
        g = DisplayGeometry.Of(series);
        Assert.Equal([3], g.FrameAxes);
        var plane = SliceRenderer.Read(series, g, g.Layout(SliceView.Axial), 0, [2]);
        Assert.Equal(new double[] { 2, 5, 8, 11 }, plane.Values);
        Assert.Throws<ArgumentException>(() => SlicePreview.Render(series, new SliceRequest { Frames = [3] }));

        using var five = MLArrayFile.FromArray(new byte[32], [2, 2, 2, 2, 2]);
        Assert.Contains("5 dimensions", Assert.Throws<MLArrayNotSupportedException>(() => DisplayGeometry.Of(five)).Message, StringComparison.Ordinal);
        using var one = MLArrayFile.FromArray(new byte[4], [4]);
        Assert.Contains("1 dimensions", Assert.Throws<MLArrayNotSupportedException>(() => DisplayGeometry.Of(one)).Message, StringComparison.Ordinal);
        using var notes = MLArrayFile.MetadataOnly(new MLArrayCreateOptions());
        Assert.Contains("metadata only", Assert.Throws<MLArrayNotSupportedException>(() => DisplayGeometry.Of(notes)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Ct_perfusion_burned_in_text_and_colour_bar_read_upright()
    {
        // niivue/ct_perfusion.nii.gz is a screenshot-like RGB volume: the title "MTT" at the top centre and a colour bar
        // (red = 20 at the top, blue at the bottom) at the left edge, checked by eye on the rendered axial slice.
        using var image = MedicalConverter.ToMLArray(MedicalTestData.PathOf("niivue/ct_perfusion.nii.gz"));
        var (slice, g, view, _, mode) = SlicePreview.Render(image, new SliceRequest());
        Assert.Equal((SliceView.Axial, RenderMode.Rgb, "LPS"), (view, mode, g.Orientation));
        Assert.Equal((256, 286), (slice.Width, slice.Height));
        (byte R, byte G, byte B) Px(int x, int y) => (slice.Pixels[3 * ((y * slice.Width) + x)], slice.Pixels[(3 * ((y * slice.Width) + x)) + 1], slice.Pixels[(3 * ((y * slice.Width) + x)) + 2]);

        // white title pixels: all in the top tenth, around the centre
        var white = new List<(int X, int Y)>();
        for (int y = 0; y < slice.Height; y++)
            for (int x = 0; x < slice.Width; x++)
                if (Px(x, y) is var (r, gg, b) && r > 230 && gg > 230 && b > 230) white.Add((x, y));
        var title = white.Where(p => p.X > 80).ToList();
        Assert.True(title.Count > 100, $"{title.Count} title pixels");
        Assert.True(title.All(p => p.Y < slice.Height / 10), "the title is at the top");
        Assert.InRange(title.Average(p => p.X), 110, 146);

        // the colour bar: saturated pixels in the left 16 columns, red at its top, blue at its bottom
        var bar = Enumerable.Range(0, slice.Height).Where(y => Px(8, y) is var (r, gg, b) && Math.Max(r, Math.Max(gg, b)) - Math.Min(r, Math.Min(gg, b)) > 100).ToList();
        Assert.True(bar.Count > 100, $"{bar.Count} colour-bar rows");
        var top = Px(8, bar.Min() + 2);
        var bottom = Px(8, bar.Max() - 2);
        Assert.True(top.R > 100 && top.B < 60 && top.G < 60, $"top of the bar {top}");
        Assert.True(bottom.B > 100 && bottom.R < 60 && bottom.G < 60, $"bottom of the bar {bottom}");

        // the bar's numbers (white) stand right of the bar, in the left third: mirrored left-right they would be at the right edge
        var digits = new List<(int X, int Y)>();
        for (int y = 0; y < slice.Height; y++)
            for (int x = 0; x <= 80; x++)
                if (Px(x, y) is var (r, gg, b) && Math.Min(r, Math.Min(gg, b)) > 120 && Math.Max(r, Math.Max(gg, b)) - Math.Min(r, Math.Min(gg, b)) < 40) digits.Add((x, y));
        Assert.True(digits.Count > 20, $"{digits.Count} digit pixels");
        Assert.True(digits.All(p => p.X > 12 && p.X < 40 && p.Y > bar.Min() - 10 && p.Y < bar.Max() + 10), "the digits sit right of the bar");
    }

    [Fact]
    public void Mni_template_letters_R_and_L_read_upright_on_the_correct_sides()
    {
        // niftijs/avg152T1_LR_nifti.nii carries a burned-in "R" on the patient's right and "L" on the left (value 255),
        // checked by eye: radiological axial slice 45 shows an upright R on the screen's left and an upright L on its right.
        using var image = MedicalConverter.ToMLArray(MedicalTestData.PathOf("niftijs/avg152T1_LR_nifti.nii"));
        var g = DisplayGeometry.Of(image);
        var layout = g.Layout(SliceView.Axial);
        var plane = SliceRenderer.Read(image, g, layout, 45, []);
        bool On(int r, int c) => plane.Values[(r * plane.Cols) + c] >= 254;
        var left = Glyph(plane, On, 0, plane.Cols / 2);
        var right = Glyph(plane, On, plane.Cols / 2, plane.Cols);

        // R: a full-height stem at its left edge; its right edge is only partly filled (bowl and leg)
        Assert.True(left.ColumnFill(left.C0) > 0.9, $"R stem {left.ColumnFill(left.C0)}");
        Assert.True(left.ColumnFill(left.C1) < 0.6, $"R right edge {left.ColumnFill(left.C1)}");
        // L: a full-height stem on its left, a full-width foot at its bottom, its top only the stem
        Assert.True(right.ColumnFill(right.C0) > 0.9, $"L stem {right.ColumnFill(right.C0)}");
        Assert.True(right.RowFill(right.R1) > 0.9, $"L foot {right.RowFill(right.R1)}");
        Assert.True(right.RowFill(right.R0) < 0.4, $"L top {right.RowFill(right.R0)}");
        Assert.True(right.ColumnFill(right.C1) < 0.3, $"L right edge {right.ColumnFill(right.C1)}");

        // neurological swaps the sides: the mirrored L (its stem now on the right) is on the left
        var nl = g.Layout(SliceView.Axial, neurological: true);
        var np = SliceRenderer.Read(image, g, nl, 45, []);
        var nLeft = Glyph(np, (r, c) => np.Values[(r * np.Cols) + c] >= 254, 0, np.Cols / 2);
        Assert.True(nLeft.ColumnFill(nLeft.C1) > 0.9 && nLeft.RowFill(nLeft.R1) > 0.9 && nLeft.ColumnFill(nLeft.C0) < 0.3);
    }

    private sealed record GlyphBox(int R0, int R1, int C0, int C1, Func<int, int, bool> On)
    {
        // the share of the box's rows (columns) with a pixel in the 3 columns (rows) from c (r) towards the box's inside
        public double ColumnFill(int c) => Enumerable.Range(R0, R1 - R0 + 1).Count(r => Band(c, C0, C1).Any(cc => On(r, cc))) / (double)(R1 - R0 + 1);

        public double RowFill(int r) => Enumerable.Range(C0, C1 - C0 + 1).Count(c => Band(r, R0, R1).Any(rr => On(rr, c))) / (double)(C1 - C0 + 1);

        private static IEnumerable<int> Band(int at, int lo, int hi) => at == lo ? [at, at + 1, at + 2] : at == hi ? [at, at - 1, at - 2] : [at];
    }

    /// <summary>The bounding box of the largest 8-connected set of bright pixels in columns [c0, c1); the box's fill counts only that set.</summary>
    private static GlyphBox Glyph(SlicePlane p, Func<int, int, bool> isOn, int c0, int c1)
    {
        var seen = new HashSet<(int, int)>();
        List<(int R, int C)> best = [];
        for (int r = 0; r < p.Rows; r++)
            for (int c = c0; c < c1; c++)
            {
                if (!isOn(r, c) || !seen.Add((r, c))) continue;
                var comp = new List<(int R, int C)>();
                var stack = new Stack<(int R, int C)>([(r, c)]);
                while (stack.TryPop(out var q))
                {
                    comp.Add(q);
                    for (int dr = -1; dr <= 1; dr++)
                        for (int dc = -1; dc <= 1; dc++)
                        {
                            int rr = q.R + dr, cc = q.C + dc;
                            if (rr >= 0 && rr < p.Rows && cc >= c0 && cc < c1 && isOn(rr, cc) && seen.Add((rr, cc))) stack.Push((rr, cc));
                        }
                }

                if (comp.Count > best.Count) best = comp;
            }

        Assert.True(best.Count > 50, $"{best.Count} pixels in the largest bright set of columns {c0}..{c1}");
        var set = best.ToHashSet();
        return new GlyphBox(best.Min(x => x.R), best.Max(x => x.R), best.Min(x => x.C), best.Max(x => x.C), (r, c) => set.Contains((r, c)));
    }

    [Fact]
    public void Huge_slices_are_refused_and_long_sides_are_capped()
    {
        string path = Path.Combine(_dir, "wide.mla");
        using (MLArrayFile.Create(path, [1, 8193, 8193], DType.UInt8)) { }
        using var image = MLArrayFile.Open(path);
        var g = DisplayGeometry.Of(image);
        var e = Assert.Throws<MLArrayNotSupportedException>(() => SliceRenderer.Read(image, g, g.Layout(SliceView.Axial), 0, []));
        Assert.Contains("display limit", e.Message, StringComparison.Ordinal);
        // a 1×8193 coronal slice is fine, and a 10000-row slice renders 4096 pixels high with the aspect kept
        Assert.Equal(8193, SliceRenderer.Read(image, g, g.Layout(SliceView.Coronal), 0, []).Values.Length);
        Assert.Equal((41, 4096), SliceRenderer.DisplaySize(new ViewLayout(0, 1, 2, false, false, 1, 10000, 100, 1, 1)));
    }
}
