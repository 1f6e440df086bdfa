using System.Collections;

namespace MLArray.Training.Inference;

/// <summary>One tile of a <see cref="GridSampler"/>: its position in the grid order and its box over the spatial axes.</summary>
/// <param name="Index">Position in the grid's order (0-based).</param>
/// <param name="Start">First voxel per spatial axis; negative on an axis smaller than the patch (the tile is centred, the rest padded).</param>
/// <param name="Size">Tile size per spatial axis (the patch size; parts outside the image are padding).</param>
public readonly record struct GridPatch(int Index, long[] Start, int[] Size)
{
    /// <summary>Number of voxels in the tile.</summary>
    public long VoxelCount
    {
        get
        {
            long n = 1;
            foreach (int s in Size) n *= s;
            return n;
        }
    }
}

/// <summary>
/// Sliding-window tiles over the spatial axes of an image for inference, as nnU-Net places them: per axis
/// ⌈(size − patch) / (patch·(1 − overlap))⌉ + 1 steps, spread evenly so that the first tile starts at 0 and the last ends
/// exactly at the image edge (starts rounded half to even), so every voxel is covered and no tile leaves the image. An
/// axis smaller than the patch gets one tile, centred (start −⌊(patch − size)/2⌋), whose outside part is padding. Channel
/// axes are not tiled (every tile holds all channels). Order: C order over the per-axis steps (first spatial axis
/// slowest), so the tiles' starts along the first spatial axis never decrease.
/// </summary>
public sealed class GridSampler : IReadOnlyList<GridPatch>
{
    private readonly long[][] _steps;
    private readonly int _count;

    /// <summary>Builds the grid.</summary>
    /// <param name="spatialShape">The image's spatial shape (each ≥ 1).</param>
    /// <param name="patchSize">Tile size per spatial axis (each ≥ 1).</param>
    /// <param name="overlap">Fraction of a tile shared with its neighbour, in [0, 1) (nnU-Net's 1 − tile_step_size; default 0.5).</param>
    /// <exception cref="ArgumentException">Lengths differ, non-positive sizes, or overlap outside [0, 1).</exception>
    public GridSampler(IReadOnlyList<long> spatialShape, IReadOnlyList<int> patchSize, double overlap = 0.5)
    {
        ArgumentNullException.ThrowIfNull(spatialShape);
        ArgumentNullException.ThrowIfNull(patchSize);
        if (spatialShape.Count == 0 || spatialShape.Count != patchSize.Count)
            throw new ArgumentException($"the patch size ({string.Join(", ", patchSize)}) needs one entry per spatial axis of the image ({string.Join(", ", spatialShape)}).", nameof(patchSize));
        if (spatialShape.Any(s => s < 1))
            throw new ArgumentException($"every spatial axis needs at least one voxel, got ({string.Join(", ", spatialShape)}).", nameof(spatialShape));
        if (patchSize.Any(p => p < 1))
            throw new ArgumentException($"patch sizes must be positive, got ({string.Join(", ", patchSize)}).", nameof(patchSize));
        if (!(overlap >= 0 && overlap < 1))
            throw new ArgumentException($"overlap must be in [0, 1), got {overlap}.", nameof(overlap));
        ImageShape = spatialShape.ToArray();
        PatchSize = patchSize.ToArray();
        Overlap = overlap;
        _steps = new long[ImageShape.Length][];
        long count = 1;
        for (int d = 0; d < ImageShape.Length; d++)
        {
            _steps[d] = AxisStarts(ImageShape[d], PatchSize[d], 1 - overlap);
            count *= _steps[d].Length;
        }
        if (count > int.MaxValue)
            throw new ArgumentException($"the grid would have {count} tiles; use a larger patch or a smaller overlap.", nameof(patchSize));
        _count = (int)count;
    }

    /// <summary>The spatial shape the grid covers.</summary>
    public long[] ImageShape { get; }

    /// <summary>The tile size per spatial axis.</summary>
    public int[] PatchSize { get; }

    /// <summary>The overlap fraction.</summary>
    public double Overlap { get; }

    /// <summary>The tile starts along spatial axis <paramref name="axis"/>, increasing.</summary>
    public IReadOnlyList<long> StartsAlong(int axis) => _steps[axis];

    /// <summary>Number of tiles.</summary>
    public int Count => _count;

    /// <summary>The tile at <paramref name="index"/> in grid order.</summary>
    public GridPatch this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _count);
            var start = new long[_steps.Length];
            long rest = index;
            for (int d = _steps.Length - 1; d >= 0; d--)
            {
                int n = _steps[d].Length;
                start[d] = _steps[d][rest % n];
                rest /= n;
            }
            return new GridPatch(index, start, (int[])PatchSize.Clone());
        }
    }

    /// <inheritdoc/>
    public IEnumerator<GridPatch> GetEnumerator()
    {
        for (int i = 0; i < _count; i++)
            yield return this[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>nnU-Net's step rule for one axis (compute_steps_for_sliding_window), with a centred tile on axes smaller than the patch.</summary>
    internal static long[] AxisStarts(long size, int patch, double stepFraction)
    {
        if (size <= patch)
            return [-((patch - size) / 2)];
        double target = patch * stepFraction;
        long steps = (long)Math.Ceiling((size - patch) / target) + 1;
        var starts = new long[steps];
        double actual = (double)(size - patch) / (steps - 1);
        for (long i = 0; i < steps; i++)
            starts[i] = (long)Math.Round(actual * i, MidpointRounding.ToEven);
        return starts;
    }
}
