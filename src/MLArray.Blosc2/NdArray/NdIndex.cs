using System.Runtime.InteropServices;

namespace MLArray;

/// <summary>
/// The selection along one axis: an integer index (drops the axis; negative counts from the end, out of bounds throws),
/// a C# <see cref="Range"/> (<c>2..5</c>, <c>^64..</c>: C# semantics, a range outside the axis throws
/// <see cref="ArgumentOutOfRangeException"/> naming the axis and its size), or a NumPy/Python slice
/// <see cref="Slice"/> <c>start:stop:step</c> (missing bounds = whole axis, negative bounds count from the end,
/// bounds clipped to the axis as NumPy does; a negative step walks the axis backwards, <c>Slice(step: -1)</c> is
/// <c>[::-1]</c>).
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

    /// <summary>The slice step (never 0; negative: backwards, as NumPy).</summary>
    public long Step { get; }

    /// <summary>The whole axis (<c>:</c>).</summary>
    public static NdIndex All { get; } = new(false, null, null, 1);

    /// <summary>An integer index; the axis is dropped. Negative values count from the end.</summary>
    public static NdIndex At(long index) => new(true, index, null, 1);

    /// <summary>
    /// A slice <c>start:stop:step</c> with NumPy's semantics: with a negative step the slice runs backwards from
    /// <paramref name="start"/> (default: the last index) down to, not including, <paramref name="stop"/> (default:
    /// past the first index), and the result holds the elements in that order (<c>Slice(step: -1)</c> reverses the axis).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="step"/> is 0.</exception>
    public static NdIndex Slice(long? start = null, long? stop = null, long step = 1)
    {
        if (step == 0)
            throw new ArgumentOutOfRangeException(nameof(step), step, "slice step cannot be zero (NumPy: 'slice step cannot be zero').");
        if (step == long.MinValue)
            throw new ArgumentOutOfRangeException(nameof(step), step, "slice step is out of range.");
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

    /// <summary>
    /// A negative-step slice on an axis of <paramref name="size"/> (Python's <c>slice.indices</c>): the first index
    /// taken (the highest) and how many, stepping by <see cref="Step"/>.
    /// </summary>
    internal (long First, long Count) BackwardBounds(long size)
    {
        long Clip(long? v, long fallback)
        {
            if (v is not { } x) return fallback;
            if (x < 0) x += size;
            return x < 0 ? -1 : Math.Min(x, size - 1);
        }
        long first = Clip(Start, size - 1), stop = Clip(Stop, -1);
        long k = -Step;
        return first > stop ? (first, (first - stop - 1) / k + 1) : (first, 0);
    }

    /// <inheritdoc/>
    public override string ToString() => SourceRange is { } r ? r.ToString() : IsIndex ? $"{Start}" : Step == 1 ? $"{Start}:{Stop}" : $"{Start}:{Stop}:{Step}";
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

    /// <summary>
    /// Axes selected by a negative step. <see cref="Start"/> and <see cref="Step"/> then describe the same elements
    /// in ascending order (the lowest index, the step's magnitude): the engine reads and writes ascending, and the
    /// caller reverses those axes of the C-order buffer (<see cref="ReverseAxes"/>).
    /// </summary>
    public bool[] Reversed { get; }

    /// <summary>True when any axis is <see cref="Reversed"/>.</summary>
    public bool AnyReversed { get; private set; }
    public long[] OutShape => _outShape ??= Enumerable.Range(0, Count.Length).Where(d => !Dropped[d]).Select(d => Count[d]).ToArray();
    public long NItems { get; private set; }

    internal NdSelection(int nd)
    {
        Start = new long[nd];
        Count = new long[nd];
        Step = new long[nd];
        Dropped = new bool[nd];
        Reversed = new bool[nd];
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
        AnyReversed = false;
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
                Reversed[d] = false;
                continue;
            }
            if (s.Step < 0)
            {
                var (first, count) = s.BackwardBounds(n);
                long m = -s.Step;
                Count[d] = count;
                Start[d] = count > 0 ? first - (count - 1) * m : 0;
                Step[d] = m;
                Dropped[d] = false;
                Reversed[d] = count > 1;
                AnyReversed |= count > 1;
                items *= count;
                continue;
            }
            Reversed[d] = false;
            long k = s.Step == 0 ? 1 : s.Step;
            var (a, b) = s.Bounds(n, d);
            Start[d] = a;
            Count[d] = b > a ? (b - a + k - 1) / k : 0;
            Step[d] = k;
            Dropped[d] = false;
            items *= Count[d];
        }
        NItems = items;
    }

    /// <summary>
    /// Reverses, in place, the <see cref="Reversed"/> axes of <paramref name="buffer"/>: this selection's elements in
    /// C order, <paramref name="itemSize"/> bytes each (dropped axes have count 1 and are never reversed).
    /// </summary>
    public void ReverseAxes(Span<byte> buffer, int itemSize)
    {
        int nd = Count.Length;
        for (int d = 0; d < nd; d++)
        {
            if (!Reversed[d]) continue;
            long outer = 1, inner = itemSize;
            for (int e = 0; e < d; e++) outer *= Count[e];
            for (int e = d + 1; e < nd; e++) inner *= Count[e];
            long len = Count[d];
            if (inner == itemSize && itemSize is 1 or 2 or 4 or 8)
            {
                // Items along the innermost axis: each run of `len` items reversed by the (vectorised) span reversal.
                for (long o = 0; o < outer; o++)
                {
                    var row = buffer.Slice((int)(o * len * itemSize), (int)(len * itemSize));
                    switch (itemSize)
                    {
                        case 1: row.Reverse(); break;
                        case 2: MemoryMarshal.Cast<byte, ushort>(row).Reverse(); break;
                        case 4: MemoryMarshal.Cast<byte, uint>(row).Reverse(); break;
                        default: MemoryMarshal.Cast<byte, ulong>(row).Reverse(); break;
                    }
                }
                continue;
            }
            for (long o = 0; o < outer; o++)
            {
                long block = o * len * inner;
                for (long i = 0, j = len - 1; i < j; i++, j--)
                    Swap(buffer, block + i * inner, block + j * inner, inner);
            }
        }
    }

    private static void Swap(Span<byte> buffer, long a, long b, long length)
    {
        Span<byte> tmp = stackalloc byte[256];
        for (long done = 0; done < length;)
        {
            int n = (int)Math.Min(tmp.Length, length - done);
            var x = buffer.Slice((int)(a + done), n);
            var y = buffer.Slice((int)(b + done), n);
            x.CopyTo(tmp);
            y.CopyTo(x);
            tmp[..n].CopyTo(y);
            done += n;
        }
    }

    public bool IsContiguousFull(long[] shape)
    {
        for (int d = 0; d < shape.Length; d++)
            if (Start[d] != 0 || Count[d] != shape[d] || Step[d] != 1) return false;
        return true;
    }
}
