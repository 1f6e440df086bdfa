namespace MLArray;

/// <summary>
/// The selection along one axis, with NumPy/Python semantics: an integer index (drops the axis; negative counts from
/// the end) or a slice <c>start:stop:step</c> (missing bounds = whole axis, negative bounds count from the end,
/// bounds clipped to the axis, positive step).
/// </summary>
public readonly record struct NdIndex
{
    private NdIndex(bool isIndex, long? start, long? stop, long step)
    {
        IsIndex = isIndex;
        Start = start;
        Stop = stop;
        Step = step;
    }

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

    /// <summary>A C# range (<c>2..5</c>, <c>^3..</c>) as a slice.</summary>
    public static implicit operator NdIndex(Range range) => FromRange(range);

    /// <summary>A C# range as a slice.</summary>
    public static NdIndex FromRange(Range range)
    {
        long? start = range.Start.IsFromEnd ? (range.Start.Value == 0 ? null : -(long)range.Start.Value) : range.Start.Value;
        long? stop = range.End.IsFromEnd ? (range.End.Value == 0 ? null : -(long)range.End.Value) : range.End.Value;
        return Slice(start, stop);
    }

    /// <inheritdoc/>
    public override string ToString() => IsIndex ? $"{Start}" : Step == 1 ? $"{Start}:{Stop}" : $"{Start}:{Stop}:{Step}";
}

/// <summary>
/// A selection normalised against a shape: per axis the first index, count and step. An instance can be normalised
/// again for another selection of the same rank (<see cref="Set"/>), so pooled read paths allocate nothing.
/// </summary>
internal sealed class NdSelection
{
    private long[]? _outShape;

    public long[] Start { get; }
    public long[] Count { get; }
    public long[] Step { get; }
    public bool[] Dropped { get; }
    public long[] OutShape => _outShape ??= Enumerable.Range(0, Count.Length).Where(d => !Dropped[d]).Select(d => Count[d]).ToArray();
    public long NItems { get; private set; }

    internal NdSelection(int nd)
    {
        Start = new long[nd];
        Count = new long[nd];
        Step = new long[nd];
        Dropped = new bool[nd];
    }

    public static NdSelection Full(long[] shape)
    {
        var s = new NdSelection(shape.Length);
        s.Set(shape, ReadOnlySpan<NdIndex>.Empty);
        return s;
    }

    public static NdSelection Create(long[] shape, ReadOnlySpan<NdIndex> selection)
    {
        var s = new NdSelection(shape.Length);
        s.Set(shape, selection);
        return s;
    }

    /// <summary>Normalises <paramref name="selection"/> against <paramref name="shape"/> (of this instance's rank) into this instance.</summary>
    public void Set(long[] shape, ReadOnlySpan<NdIndex> selection)
    {
        int nd = shape.Length;
        if (nd != Start.Length)
            throw new ArgumentException($"shape has {nd} dimensions, this selection {Start.Length}", nameof(shape));
        if (selection.Length > nd)
            throw new ArgumentException($"the selection has {selection.Length} entries but the array has {nd} dimensions (shape ({string.Join(", ", shape)})).", nameof(selection));
        _outShape = null;
        long items = 1;
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
                Start[d] = j;
                Count[d] = 1;
                Step[d] = 1;
                Dropped[d] = true;
                continue;
            }
            long k = s.Step == 0 ? 1 : s.Step;
            long a = s.Start ?? 0, b = s.Stop ?? n;
            if (a < 0) a = Math.Max(0, a + n);
            if (b < 0) b = Math.Max(0, b + n);
            a = Math.Min(a, n);
            b = Math.Min(b, n);
            Start[d] = a;
            Count[d] = b > a ? (b - a + k - 1) / k : 0;
            Step[d] = k;
            Dropped[d] = false;
            items *= Count[d];
        }
        NItems = items;
    }

    public bool IsContiguousFull(long[] shape)
    {
        for (int d = 0; d < shape.Length; d++)
            if (Start[d] != 0 || Count[d] != shape[d] || Step[d] != 1) return false;
        return true;
    }
}
