namespace MLArray;

/// <summary>
/// The selection along one axis: an integer index (drops the axis; negative counts from the end, out of bounds throws),
/// a C# <see cref="Range"/> (<c>2..5</c>, <c>^64..</c>: C# semantics, a range outside the axis throws
/// <see cref="ArgumentOutOfRangeException"/> naming the axis and its size), or a NumPy/Python slice
/// <see cref="Slice"/> <c>start:stop:step</c> (missing bounds = whole axis, negative bounds count from the end,
/// bounds clipped to the axis as NumPy does, positive step).
/// </summary>
public readonly record struct NdIndex
{
    private NdIndex(bool isIndex, long? start, long? stop, long step, Range? range = null)
    {
        IsIndex = isIndex;
        Start = start;
        Stop = stop;
        Step = step;
        SourceRange = range;
    }

    /// <summary>
    /// The C# range this selection was made from (checked against the axis, never clipped), or null. For a range,
    /// <see cref="Start"/> and <see cref="Stop"/> are null: the range's own indices apply.
    /// </summary>
    public Range? SourceRange { get; }

    /// <summary>True for an integer index (the axis is dropped from the result).</summary>
    public bool IsIndex { get; }

    /// <summary>The index, or the slice start (null = from the beginning).</summary>
    public long? Start { get; }

    /// <summary>The slice stop, exclusive (null = to the end).</summary>
    public long? Stop { get; }

    /// <summary>The slice step (≥ 1).</summary>
    public long Step { get; }

    /// <summary>The whole axis (<c>:</c>).</summary>
    public static NdIndex All { get; } = new(false, null, null, 1);

    /// <summary>An integer index; the axis is dropped. Negative values count from the end.</summary>
    public static NdIndex At(long index) => new(true, index, null, 1);

    /// <summary>A slice <c>start:stop:step</c>.</summary>
    public static NdIndex Slice(long? start = null, long? stop = null, long step = 1)
    {
        if (step <= 0)
            throw new ArgumentOutOfRangeException(nameof(step), step, "slice step must be positive (negative steps are not supported: read the slice and reverse it).");
        return new NdIndex(false, start, stop, step);
    }

    /// <summary>An integer index.</summary>
    public static implicit operator NdIndex(long index) => At(index);

    /// <summary>An integer index.</summary>
    public static implicit operator NdIndex(int index) => At(index);

    /// <summary>A C# range (<c>2..5</c>, <c>^3..</c>) with C# semantics: it must lie inside the axis (see <see cref="FromRange"/>).</summary>
    public static implicit operator NdIndex(Range range) => FromRange(range);

    /// <summary>
    /// A C# range with C# semantics: <c>^k</c> counts from the end, and a range that does not lie inside the axis
    /// (start &gt; end, or end past the axis size) makes the read or write throw <see cref="ArgumentOutOfRangeException"/>.
    /// For NumPy's clipping of out-of-range bounds use <see cref="Slice"/>.
    /// </summary>
    public static NdIndex FromRange(Range range) => new(false, null, null, 1, range);

    /// <summary>The bounds of this selection on an axis of <paramref name="size"/>: NumPy clipping for slices, C# checks for ranges.</summary>
    internal (long Start, long Stop) Bounds(long size, int axis)
    {
        if (SourceRange is { } r)
        {
            long a = r.Start.IsFromEnd ? size - r.Start.Value : r.Start.Value;
            long b = r.End.IsFromEnd ? size - r.End.Value : r.End.Value;
            if (a < 0 || b > size || a > b)
                throw new ArgumentOutOfRangeException("selection", r,
                    $"range {r} is outside axis {axis} of size {size}; a C# range must lie inside the axis (use NdIndex.Slice(start, stop) for NumPy-style clipping).");
            return (a, b);
        }
        long lo = Start ?? 0, hi = Stop ?? size;
        if (lo < 0) lo = Math.Max(0, lo + size);
        if (hi < 0) hi = Math.Max(0, hi + size);
        return (Math.Min(lo, size), Math.Min(hi, size));
    }

    /// <inheritdoc/>
    public override string ToString() => SourceRange is { } r ? r.ToString() : IsIndex ? $"{Start}" : Step == 1 ? $"{Start}:{Stop}" : $"{Start}:{Stop}:{Step}";
}

/// <summary>A selection normalised against a shape: per axis the first index, count and step.</summary>
internal sealed class NdSelection
{
    public long[] Start { get; }
    public long[] Count { get; }
    public long[] Step { get; }
    public bool[] Dropped { get; }
    public long[] OutShape { get; }
    public long NItems { get; }

    private NdSelection(long[] start, long[] count, long[] step, bool[] dropped)
    {
        Start = start;
        Count = count;
        Step = step;
        Dropped = dropped;
        OutShape = Enumerable.Range(0, count.Length).Where(d => !dropped[d]).Select(d => count[d]).ToArray();
        long n = 1;
        foreach (var c in count) n *= c;
        NItems = n;
    }

    public static NdSelection Full(long[] shape) =>
        new(new long[shape.Length], (long[])shape.Clone(), Enumerable.Repeat(1L, shape.Length).ToArray(), new bool[shape.Length]);

    public static NdSelection Create(long[] shape, ReadOnlySpan<NdIndex> selection)
    {
        int nd = shape.Length;
        if (selection.Length > nd)
            throw new ArgumentException($"the selection has {selection.Length} entries but the array has {nd} dimensions (shape ({string.Join(", ", shape)})).", nameof(selection));
        var start = new long[nd];
        var count = new long[nd];
        var step = new long[nd];
        var dropped = new bool[nd];
        for (int d = 0; d < nd; d++)
        {
            var s = d < selection.Length ? selection[d] : NdIndex.All;
            long n = shape[d];
            if (s.IsIndex)
            {
                long i = s.Start!.Value;
                long j = i < 0 ? i + n : i;
                if (j < 0 || j >= n)
                    throw new ArgumentOutOfRangeException(nameof(selection), i, $"index {i} is out of bounds for axis {d} with size {n}.");
                start[d] = j;
                count[d] = 1;
                step[d] = 1;
                dropped[d] = true;
                continue;
            }
            long k = s.Step == 0 ? 1 : s.Step;
            var (a, b) = s.Bounds(n, d);
            start[d] = a;
            count[d] = b > a ? (b - a + k - 1) / k : 0;
            step[d] = k;
        }
        return new NdSelection(start, count, step, dropped);
    }

    public bool IsContiguousFull(long[] shape)
    {
        for (int d = 0; d < shape.Length; d++)
            if (Start[d] != 0 || Count[d] != shape[d] || Step[d] != 1) return false;
        return true;
    }
}
