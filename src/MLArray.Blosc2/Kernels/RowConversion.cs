using MLArray.Blosc2.Filters;

namespace MLArray.Kernels;

/// <summary>The conversions a converting read runs inside the engine (fused with the unshuffle of each block).</summary>
internal enum RowConversionKind : byte
{
    /// <summary>Stored items copied bit for bit (same item size).</summary>
    Copy,

    /// <summary>A caller's row converter (<see cref="RowConversion.Callback"/>) over decoded, unshuffled rows.</summary>
    Callback,

    /// <summary>int16 → float32.</summary>
    Int16ToSingle,

    /// <summary>uint16 → float32.</summary>
    UInt16ToSingle,

    /// <summary>float16 → float32 (exact).</summary>
    HalfToSingle,

    /// <summary>uint8 → float32.</summary>
    UInt8ToSingle,

    /// <summary>int8 → float32.</summary>
    Int8ToSingle,

    /// <summary>uint8 → int16 (zero-extended).</summary>
    UInt8ToInt16,

    /// <summary>int8 → int16 (sign-extended).</summary>
    Int8ToInt16,
}

/// <summary>
/// How a converting read turns decoded stored items into destination items: a copy, one of the engine's conversions
/// (<see cref="RowConversionKind"/>, vectorised and run while each block is unshuffled into the destination rows, with
/// an optional <c>clamp(x, low, high)·scale + bias</c> for integer → float32), or a caller's row converter run over
/// unshuffled rows.
/// </summary>
internal readonly unsafe struct RowConversion
{
    private RowConversion(RowConversionKind kind, int outItemSize, delegate*<byte*, nint, byte*, nint, nint, nint, void> callback, in Shuffle.Affine transform)
    {
        Kind = kind;
        OutItemSize = outItemSize;
        Callback = callback;
        Transform = transform;
    }

    /// <summary>The conversion.</summary>
    public RowConversionKind Kind { get; }

    /// <summary>Bytes per destination item.</summary>
    public int OutItemSize { get; }

    /// <summary>With <see cref="RowConversionKind.Callback"/>: (source, source row stride, destination, destination row stride, items per row, rows), strides in bytes.</summary>
    public delegate*<byte*, nint, byte*, nint, nint, nint, void> Callback { get; }

    /// <summary>The clip and scale applied to float32 results of integer sources (none by default).</summary>
    public Shuffle.Affine Transform { get; }

    /// <summary>True for the engine's own conversions (not a copy, not a callback).</summary>
    public bool IsFused => Kind >= RowConversionKind.Int16ToSingle;

    /// <summary>Bytes per stored item of an engine conversion (0 for copies and callbacks).</summary>
    public int InItemSize => Kind switch
    {
        RowConversionKind.Int16ToSingle or RowConversionKind.UInt16ToSingle or RowConversionKind.HalfToSingle => 2,
        RowConversionKind.UInt8ToSingle or RowConversionKind.Int8ToSingle or RowConversionKind.UInt8ToInt16 or RowConversionKind.Int8ToInt16 => 1,
        _ => 0,
    };

    /// <summary>True when the conversion can carry a clip and scale (integer sources into float32).</summary>
    public bool TakesTransform => Kind is RowConversionKind.Int16ToSingle or RowConversionKind.UInt16ToSingle or RowConversionKind.UInt8ToSingle or RowConversionKind.Int8ToSingle;

    /// <summary>A bit copy of <paramref name="itemSize"/>-byte items.</summary>
    public static RowConversion Copy(int itemSize) => new(RowConversionKind.Copy, itemSize, null, default);

    /// <summary>A caller's row converter writing <paramref name="outItemSize"/>-byte items.</summary>
    public static RowConversion Converting(delegate*<byte*, nint, byte*, nint, nint, nint, void> callback, int outItemSize)
    {
        ArgumentOutOfRangeException.ThrowIfEqual(callback == null, true, nameof(callback));
        return new(RowConversionKind.Callback, outItemSize, callback, default);
    }

    /// <summary>One of the engine's conversions.</summary>
    public static RowConversion Fused(RowConversionKind kind)
    {
        int outSize = kind switch
        {
            RowConversionKind.UInt8ToInt16 or RowConversionKind.Int8ToInt16 => 2,
            RowConversionKind.Int16ToSingle or RowConversionKind.UInt16ToSingle or RowConversionKind.HalfToSingle
                or RowConversionKind.UInt8ToSingle or RowConversionKind.Int8ToSingle => 4,
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not an engine conversion"),
        };
        return new(kind, outSize, null, default);
    }

    /// <summary>This conversion followed by <c>clamp(x, low, high)·scale + bias</c> (integer → float32 only).</summary>
    public RowConversion WithTransform(in Shuffle.Affine transform)
    {
        if (!TakesTransform && !transform.IsIdentity)
            throw new InvalidOperationException($"{Kind} does not take a clip or scale.");
        return new(Kind, OutItemSize, Callback, transform);
    }

    /// <summary>Converts (or copies) <paramref name="rows"/> rows of <paramref name="count"/> contiguous stored items.</summary>
    public void Rows(byte* src, nint srcStride, byte* dst, nint dstStride, nint count, nint rows) =>
        Rows(src, srcStride, dst, dstStride, count, rows, Shuffle.BestConvertLevel);

    /// <summary><see cref="Rows(byte*, nint, byte*, nint, nint, nint)"/> with the kernel level chosen (tests run each).</summary>
    public void Rows(byte* src, nint srcStride, byte* dst, nint dstStride, nint count, nint rows, Shuffle.ConvertLevel level)
    {
        switch (Kind)
        {
            case RowConversionKind.Copy:
                for (nint r = 0; r < rows; r++)
                    Buffer.MemoryCopy(src + r * srcStride, dst + r * dstStride, count * OutItemSize, count * OutItemSize);
                break;
            case RowConversionKind.Callback:
                Callback(src, srcStride, dst, dstStride, count, rows);
                break;
            default:
                Shuffle.ConvertRows(this, shuffled: false, src, 0, count, rows, srcStride, dst, dstStride, level);
                break;
        }
    }

    /// <summary>
    /// An engine conversion straight out of a shuffled block: runs of <paramref name="count"/> items starting at
    /// element <paramref name="e0"/> + r·<paramref name="rowStep"/> of a block whose byte planes are
    /// <paramref name="n"/> bytes apart go converted to <paramref name="dst"/> + r·<paramref name="dstStride"/>.
    /// The planes must stay readable <see cref="Shuffle.RowsReadSlack"/> bytes past their end.
    /// </summary>
    public void ShuffledRows(byte* planes, nint n, nint e0, nint count, nint rows, nint rowStep, byte* dst, nint dstStride) =>
        ShuffledRows(planes, n, e0, count, rows, rowStep, dst, dstStride, Shuffle.BestConvertLevel);

    /// <summary><see cref="ShuffledRows(byte*, nint, nint, nint, nint, nint, byte*, nint)"/> with the kernel level chosen (tests run each).</summary>
    public void ShuffledRows(byte* planes, nint n, nint e0, nint count, nint rows, nint rowStep, byte* dst, nint dstStride, Shuffle.ConvertLevel level)
    {
        if (!IsFused)
            throw new InvalidOperationException($"{Kind} is not an engine conversion.");
        Shuffle.ConvertRows(this, shuffled: true, planes + e0, n, count, rows, rowStep, dst, dstStride, level);
    }
}
