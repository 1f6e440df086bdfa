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
            long a = s.Start ?? 0, b = s.Stop ?? n;
            if (a < 0) a = Math.Max(0, a + n);
            if (b < 0) b = Math.Max(0, b + n);
            a = Math.Min(a, n);
            b = Math.Min(b, n);
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
