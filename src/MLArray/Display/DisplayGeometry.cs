using System.Globalization;
using MLArray.Conversion;
using MLArray.Metadata;

namespace MLArray.Display;

/// <summary>The three orthogonal views of a volume, as medical viewers show them.</summary>
internal enum SliceView
{
    /// <summary>Slices across superior–inferior: anterior up, the patient's right on the screen's left (radiological).</summary>
    Axial,
    /// <summary>Slices across anterior–posterior: superior up, the patient's right on the screen's left (radiological).</summary>
    Coronal,
    /// <summary>Slices across left–right: superior up, anterior left.</summary>
    Sagittal,
}

/// <summary>How one view maps screen rows and columns to the volume's spatial slots.</summary>
/// <param name="SliceSlot">The spatial slot (0–2) the view slices along.</param>
/// <param name="RowSlot">The slot that runs down the screen.</param>
/// <param name="ColSlot">The slot that runs across the screen.</param>
/// <param name="RowFlip">Screen row r is slot index <c>Rows - 1 - r</c>.</param>
/// <param name="ColFlip">Screen column c is slot index <c>Cols - 1 - c</c>.</param>
/// <param name="Slices">Number of slices.</param>
/// <param name="Rows">Voxel rows.</param>
/// <param name="Cols">Voxel columns.</param>
/// <param name="RowSpacing">Spacing down the screen (world units per voxel).</param>
/// <param name="ColSpacing">Spacing across the screen.</param>
internal sealed record ViewLayout(int SliceSlot, int RowSlot, int ColSlot, bool RowFlip, bool ColFlip, long Slices, long Rows, long Cols, double RowSpacing, double ColSpacing);

/// <summary>
/// The display geometry of an image: which axes are spatial (up to three "slots" in C order; a 2-D image gets a virtual
/// slot of size 1 in front), which axis holds RGB(A) colour, which other axes are frames (time, channels), and how the
/// slots lie in the patient (from <c>spacing</c>/<c>origin</c>/<c>direction</c> or <c>affine</c>, the spatial axis labels
/// and <c>coord_system</c>: LPS/LPS+ as stored, RAS/RAS+ of every era with x and y negated, an unset or custom frame
/// assumed RAS like the NIfTI export). Each anatomical axis (L, P, S) takes the slot whose direction is closest to it
/// (greedy largest cosine, so oblique images show their closest anatomical planes). Without any geometry the views
/// are array order: axial = along the first spatial axis, rows the second, columns the third.
/// </summary>
internal sealed class DisplayGeometry
{
    private DisplayGeometry(long[] shape, int[] slots, long[] sizes, int channelAxis, int[] frameAxes, bool oriented, string? coordSystem,
        bool assumedRas, double[] spacing, double[,] voxToWorld, int[] slotOfAnat, int[] signOfAnat)
    {
        Shape = shape;
        Slots = slots;
        Sizes = sizes;
        ChannelAxis = channelAxis;
        FrameAxes = frameAxes;
        Oriented = oriented;
        CoordSystem = coordSystem;
        AssumedRas = assumedRas;
        Spacing = spacing;
        VoxToWorld = voxToWorld;
        SlotOfAnat = slotOfAnat;
        SignOfAnat = signOfAnat;
    }

    /// <summary>The array shape.</summary>
    public long[] Shape { get; }

    /// <summary>The C axis of each spatial slot (−1: the virtual slot of a 2-D image).</summary>
    public int[] Slots { get; }

    /// <summary>The size of each spatial slot.</summary>
    public long[] Sizes { get; }

    /// <summary>The C axis holding RGB or RGBA (size 3 or 4, uint8), or −1.</summary>
    public int ChannelAxis { get; }

    /// <summary>Non-spatial axes shown one index at a time (time, channels).</summary>
    public int[] FrameAxes { get; }

    /// <summary>True when the image has geometry (views follow the patient); false: array order.</summary>
    public bool Oriented { get; }

    /// <summary>The stored <c>coord_system</c> (null when unset).</summary>
    public string? CoordSystem { get; }

    /// <summary>True when the coordinate frame is unset or custom and RAS is assumed for the orientation.</summary>
    public bool AssumedRas { get; }

    /// <summary>The world distance between neighbouring voxels along each slot (1 without geometry).</summary>
    public double[] Spacing { get; }

    /// <summary>3×4: slot index → world coordinate in the file's own frame (<see cref="CoordSystem"/>).</summary>
    public double[,] VoxToWorld { get; }

    /// <summary>For L, P, S: the slot that runs along it.</summary>
    public int[] SlotOfAnat { get; }

    /// <summary>For L, P, S: +1 when a growing slot index moves towards L, P, S; −1 towards R, A, I.</summary>
    public int[] SignOfAnat { get; }

    /// <summary>A short description of the orientation for labels ("array order (no geometry)", "LPS", "RAS (assumed)").</summary>
    public string Orientation => !Oriented ? "array order (no geometry)" : AssumedRas ? $"{CoordSystem ?? "unset"} frame, RAS assumed" : CoordSystem!;

    /// <summary>The display geometry of an image.</summary>
    /// <exception cref="MLArrayNotSupportedException">Metadata only, fewer than 2 or more than 4 dimensions, or fewer than two spatial axes.</exception>
    public static DisplayGeometry Of(MLArrayFile image)
    {
        ArgumentNullException.ThrowIfNull(image);
        string name = image.FilePath is { } p ? $"'{p}'" : "the image";
        if (!image.HasArray)
            throw new MLArrayNotSupportedException($"{name} holds metadata only (no array): there is nothing to display.");
        return Of(image.Meta, image.Shape, image.DType, name);
    }

    /// <summary>The display geometry of an array of <paramref name="shape"/> with <paramref name="meta"/>.</summary>
    public static DisplayGeometry Of(MLArrayMeta meta, long[] shape, DType dtype, string name = "the image")
    {
        int n = shape.Length;
        if (n < 2 || n > 4)
            throw new MLArrayNotSupportedException($"{name} has {n} dimensions (shape {ShapeText(shape)}); the viewer shows 2-D, 3-D and 4-D arrays (up to 3 spatial axes plus time, channel or RGB).");
        var g = ExportGeometry.From(meta, shape);
        int[] spatial = Enumerable.Range(0, n).Where(i => g.IsSpatial[i]).ToArray();
        if (spatial.Length > 3 || spatial.Length < 2)
            throw new MLArrayNotSupportedException($"{name} has {spatial.Length} spatial axes (shape {ShapeText(shape)}, axis labels {string.Join(", ", g.Labels)}); the viewer needs 2 or 3.");
        int[] others = Enumerable.Range(0, n).Where(i => !g.IsSpatial[i]).ToArray();
        int channel = others.Reverse().FirstOrDefault(i => shape[i] is 3 or 4 && dtype == DType.UInt8 && g.Labels[i] != "temporal", -1);
        int[] frames = others.Where(i => i != channel).ToArray();

        int[] slots = spatial.Length == 3 ? spatial : [-1, spatial[0], spatial[1]];
        long[] sizes = slots.Select(c => c < 0 ? 1 : shape[c]).ToArray();

        // slot → world columns in the file's frame (a 2-D image's world gets z = the virtual slot's index)
        int ns = spatial.Length;
        var vw = new double[3, 4];
        for (int k = 0; k < 3; k++)
        {
            int c = slots[k];
            if (c < 0)
            {
                vw[2, k] = 1;
                continue;
            }

            int f = g.FileSpatialIndex[c];
            for (int w = 0; w < ns; w++) vw[w, k] = g.FileAffine[w, f];
        }

        for (int w = 0; w < ns; w++) vw[w, 3] = g.FileAffine[w, ns];
        var spacing = new double[3];
        for (int k = 0; k < 3; k++)
        {
            double s = Math.Sqrt((vw[0, k] * vw[0, k]) + (vw[1, k] * vw[1, k]) + (vw[2, k] * vw[2, k]));
            spacing[k] = s > 0 && double.IsFinite(s) ? s : 1;
        }

        string? cs = g.CoordSystem;
        bool lps = cs is not null && (cs.Equals("LPS", StringComparison.OrdinalIgnoreCase) || cs.Equals("LPS+", StringComparison.OrdinalIgnoreCase));
        bool ras = cs is not null && (cs.Equals("RAS", StringComparison.OrdinalIgnoreCase) || cs.Equals("RAS+", StringComparison.OrdinalIgnoreCase));
        int[] slotOfAnat, signOfAnat;
        if (!g.HasGeometry)
        {
            // array order: axial = along slot 0 with rows slot 1 and columns slot 2, coronal and sagittal superior = low slot-0 index
            slotOfAnat = [2, 1, 0];
            signOfAnat = [1, 1, -1];
        }
        else
        {
            (slotOfAnat, signOfAnat) = ClosestAxes(vw, flipXY: !lps);
        }

        return new DisplayGeometry(shape, slots, sizes, channel, frames, g.HasGeometry, cs, g.HasGeometry && !lps && !ras, spacing, vw, slotOfAnat, signOfAnat);
    }

    /// <summary>Greedy largest-cosine matching of the LPS axes to the slot directions.</summary>
    private static (int[] Slot, int[] Sign) ClosestAxes(double[,] vw, bool flipXY)
    {
        var lpsDir = new double[3, 3];
        for (int w = 0; w < 3; w++)
            for (int k = 0; k < 3; k++) lpsDir[w, k] = (flipXY && w < 2 ? -1 : 1) * vw[w, k];
        var (slot, flip) = AffineMath.ClosestAxes(lpsDir);
        return (slot, flip.Select(f => f ? -1 : 1).ToArray());
    }

    /// <summary>This array's axes with the orientation, spacing and world map of <paramref name="other"/> (a segmentation shown on its image's grid).</summary>
    public DisplayGeometry WithOrientationOf(DisplayGeometry other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (!Sizes.SequenceEqual(other.Sizes))
            throw new ArgumentException($"spatial sizes {ShapeText(Sizes)} and {ShapeText(other.Sizes)} differ.", nameof(other));
        return new DisplayGeometry(Shape, Slots, Sizes, ChannelAxis, FrameAxes, other.Oriented, other.CoordSystem, other.AssumedRas, other.Spacing,
            other.VoxToWorld, other.SlotOfAnat, other.SignOfAnat);
    }

    /// <summary>The view whose slices run along the spatial C axis <paramref name="axis"/>.</summary>
    /// <exception cref="ArgumentException">The axis is not spatial.</exception>
    public SliceView ViewAlong(int axis)
    {
        int slot = Array.IndexOf(Slots, axis);
        if (axis < 0 || slot < 0)
            throw new ArgumentException($"axis {axis} is not a spatial axis of this image (spatial axes: {string.Join(", ", Slots.Where(s => s >= 0))}); choose a view or a spatial axis.");
        int anat = Array.IndexOf(SlotOfAnat, slot);
        return anat switch { 0 => SliceView.Sagittal, 1 => SliceView.Coronal, _ => SliceView.Axial };
    }

    /// <summary>The layout of a view: radiological (the patient's right on the left) unless <paramref name="neurological"/>.</summary>
    public ViewLayout Layout(SliceView view, bool neurological = false)
    {
        // (slice, row and column anatomical axes; +1: the screen direction runs towards L/P/S)
        (int sliceA, int rowA, int rowSign, int colA, int colSign) = view switch
        {
            SliceView.Axial => (2, 1, 1, 0, 1),      // anterior up, patient's right on the left
            SliceView.Coronal => (1, 2, -1, 0, 1),   // superior up, patient's right on the left
            _ => (0, 2, -1, 1, 1),                   // superior up, anterior on the left
        };
        if (neurological && Oriented && view != SliceView.Sagittal) colSign = -1;
        int sSlot = SlotOfAnat[sliceA], rSlot = SlotOfAnat[rowA], cSlot = SlotOfAnat[colA];
        return new ViewLayout(sSlot, rSlot, cSlot, SignOfAnat[rowA] * rowSign < 0, SignOfAnat[colA] * colSign < 0,
            Sizes[sSlot], Sizes[rSlot], Sizes[cSlot], Spacing[rSlot], Spacing[cSlot]);
    }

    /// <summary>The world coordinate (file frame) of a voxel given by its slot indices.</summary>
    public double[] World(ReadOnlySpan<long> slotIndex)
    {
        var w = new double[3];
        for (int r = 0; r < 3; r++)
        {
            double s = VoxToWorld[r, 3];
            for (int k = 0; k < 3; k++) s += VoxToWorld[r, k] * slotIndex[k];
            w[r] = s;
        }

        return w;
    }

    internal static string ShapeText(long[] shape) => "(" + string.Join(", ", shape.Select(s => s.ToString(CultureInfo.InvariantCulture))) + ")";
}
