using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MLArray.Training.Sampling;

/// <summary>
/// Reads the box [start, start + size) of a case array (per spatial axis; channel axes whole) into a destination laid out
/// [channels flattened in stored order, spatial axes in stored order], converting the stored dtype to <c>TOut</c>,
/// optionally clipping and scaling each channel (<c>clamp(x, low, high)·scale + bias</c>, e.g. z-score or a CT
/// window), and padding the parts outside the image (constant or edge). The one patch reader of the training loader and
/// of sliding-window inference.
/// </summary>
/// <remarks>
/// Only the in-bounds box is read from the file, so only the blocks it touches are decoded, and it is decoded straight
/// into its place in the destination: each decoded row is converted while it is still in cache (no intermediate box,
/// no second pass over memory). Padding and per-channel transforms then work in place. Arrays whose last stored axis is
/// a channel axis (channels-last, e.g. RGB) cannot be written row by row into [C, spatial…] and go through a scratch
/// box (grow-only, per instance). One instance per thread; steady-state reads allocate nothing.
/// </remarks>
internal sealed class PatchReader
{
    private const int MaxRank = 32;
    private byte[] _scratch = [];

    /// <summary>Reads one patch. <paramref name="destination"/> must hold exactly channels × Π size elements.</summary>
    /// <param name="array">The case array.</param>
    /// <param name="start">Start per spatial axis (may be negative or past the end when padding).</param>
    /// <param name="size">Size per spatial axis (≥ 1).</param>
    /// <param name="destination">[channels, spatial…] destination (C order).</param>
    /// <param name="mode">Padding of the parts outside the image.</param>
    /// <param name="padValue">Constant pad value (in the output type, after the transform).</param>
    /// <param name="transform">Per-channel clip and scale (or none).</param>
    /// <exception cref="ArgumentException">Wrong lengths, or the patch leaves the image with <see cref="PadMode.None"/>.</exception>
    public void Read<TOut>(CaseArray array, ReadOnlySpan<long> start, ReadOnlySpan<long> size, Span<TOut> destination, PadMode mode,
        TOut padValue, in ChannelTransform<TOut> transform = default)
        where TOut : unmanaged, INumberBase<TOut>
    {
        switch (array.DType.Code)
        {
            case DTypeCode.Bool: // stored as bytes 0/1
            case DTypeCode.UInt8: Read<byte, TOut>(array, start, size, destination, mode, padValue, transform); break;
            case DTypeCode.Int8: Read<sbyte, TOut>(array, start, size, destination, mode, padValue, transform); break;
            case DTypeCode.Int16: Read<short, TOut>(array, start, size, destination, mode, padValue, transform); break;
            case DTypeCode.UInt16: Read<ushort, TOut>(array, start, size, destination, mode, padValue, transform); break;
            case DTypeCode.Int32: Read<int, TOut>(array, start, size, destination, mode, padValue, transform); break;
            case DTypeCode.UInt32: Read<uint, TOut>(array, start, size, destination, mode, padValue, transform); break;
            case DTypeCode.Int64: Read<long, TOut>(array, start, size, destination, mode, padValue, transform); break;
            case DTypeCode.UInt64: Read<ulong, TOut>(array, start, size, destination, mode, padValue, transform); break;
            case DTypeCode.Float32: Read<float, TOut>(array, start, size, destination, mode, padValue, transform); break;
            case DTypeCode.Float64: Read<double, TOut>(array, start, size, destination, mode, padValue, transform); break;
            case DTypeCode.Float16: Read<Half, TOut>(array, start, size, destination, mode, padValue, transform); break;
            default:
                throw new MLArrayNotSupportedException($"'{array.File.FilePath}' stores {array.DType.Name}; patches can be read from real numeric dtypes only.");
        }
    }

    private unsafe void Read<TSrc, TOut>(CaseArray array, ReadOnlySpan<long> start, ReadOnlySpan<long> size, Span<TOut> destination, PadMode mode,
        TOut padValue, in ChannelTransform<TOut> transform)
        where TSrc : unmanaged, INumberBase<TSrc>
        where TOut : unmanaged, INumberBase<TOut>
    {
        var shape = array.Shape;
        var spatial = array.SpatialAxes;
        int n = shape.Length, sn = spatial.Length;
        if (start.Length != sn || size.Length != sn)
            throw new ArgumentException($"a patch needs a start and a size per spatial axis ({sn}), got {start.Length} and {size.Length}.");
        if (n > MaxRank)
            throw new MLArrayNotSupportedException($"patches of arrays with more than {MaxRank} axes are not supported.");
        transform.Check(array.Channels);

        // The in-bounds box per spatial axis (edge padding: the clamped, never empty, box whose voxels it replicates).
        Span<long> lo = stackalloc long[sn], hi = stackalloc long[sn], blo = stackalloc long[sn], bhi = stackalloc long[sn];
        long voxels = 1;
        bool inside = true, empty = false;
        for (int s = 0; s < sn; s++)
        {
            long len = shape[spatial[s]], end = start[s] + size[s];
            if (size[s] < 1) throw new ArgumentException($"patch size must be ≥ 1 on every axis, got {size[s]} on spatial axis {s}.");
            voxels *= size[s];
            if (start[s] < 0 || end > len) inside = false;
            if (mode == PadMode.Edge)
            {
                lo[s] = Math.Clamp(start[s], 0, len - 1);
                hi[s] = Math.Clamp(end - 1, 0, len - 1) + 1;
            }
            else
            {
                lo[s] = Math.Clamp(start[s], 0, len);
                hi[s] = Math.Clamp(end, 0, len);
                if (hi[s] <= lo[s]) empty = true;
            }
            blo[s] = lo[s] - start[s];
            bhi[s] = hi[s] - start[s];
        }
        long total = voxels * array.Channels;
        if (destination.Length != total)
            throw new ArgumentException($"the destination holds {destination.Length} elements but the patch has {total}.", nameof(destination));
        if (!inside && mode == PadMode.None)
            throw new ArgumentException(
                $"the patch [{Describe(start, size)}] leaves the image of shape ({string.Join(", ", shape)}) of '{array.File.FilePath}' and padding is off; " +
                "use a smaller patch or enable padding (PadMode.Constant or PadMode.Edge).");
        if (empty)
        {
            destination.Fill(padValue);
            return;
        }

        // Selection and destination strides per stored axis: spatial axes step through the patch, channel axes
        // through the channel planes (each plane holds `voxels` elements).
        Span<NdIndex> sel = stackalloc NdIndex[n];
        Span<long> strides = stackalloc long[n], counts = stackalloc long[n];
        long offset = 0, cs = voxels, ps = 1;
        for (int d = n - 1, s = sn - 1; d >= 0; d--)
        {
            if (s >= 0 && spatial[s] == d)
            {
                sel[d] = NdIndex.Slice(lo[s], hi[s]);
                counts[d] = hi[s] - lo[s];
                strides[d] = ps;
                offset += blo[s] * ps;
                ps *= size[s];
                s--;
            }
            else
            {
                sel[d] = NdIndex.Slice(0, shape[d]);
                counts[d] = shape[d];
                strides[d] = cs;
                cs *= shape[d];
            }
        }
        delegate*<byte*, nint, byte*, nint, nint, nint, void> convert =
            array.DType.IsBigEndian ? &SwappingRowConverter<TSrc, TOut>.Run // stored big-endian: swap each row, then convert
            : typeof(TSrc) == typeof(TOut) && array.DType.Code != DTypeCode.Bool ? null : &RowConverter<TSrc, TOut>.Run;
        if (strides[n - 1] == 1)
            array.File.ReadStrided(sel, destination[(int)offset..], strides, convert);
        else
            ReadScattered(array.File, sel, counts, destination[(int)offset..], strides, convert);

        if (!transform.IsEmpty)
            for (int c = 0; c < array.Channels; c++)
                transform.Apply(c, destination.Slice((int)(c * voxels), (int)voxels));
        if (!inside)
            for (int c = 0; c < array.Channels; c++)
                Pad(destination.Slice((int)(c * voxels), (int)voxels), size, blo, bhi, mode, padValue);
    }

    // Channels-last arrays: convert the box in C order into scratch, then scatter each element to its strided place.
    private unsafe void ReadScattered<TOut>(MLArrayFile file, ReadOnlySpan<NdIndex> sel, ReadOnlySpan<long> count, Span<TOut> destination,
        ReadOnlySpan<long> strides, delegate*<byte*, nint, byte*, nint, nint, nint, void> convert) where TOut : unmanaged
    {
        int n = sel.Length;
        Span<long> natural = stackalloc long[n], idx = stackalloc long[n];
        long items = 1;
        for (int d = n - 1; d >= 0; d--)
        {
            natural[d] = items;
            items *= count[d];
        }
        var box = Scratch<TOut>(items);
        file.ReadStrided(sel, box, natural, convert);
        idx.Clear();
        for (long i = 0; i < items; i++)
        {
            long o = 0;
            for (int d = 0; d < n; d++) o += idx[d] * strides[d];
            destination[(int)o] = box[(int)i];
            for (int d = n - 1; d >= 0; d--)
            {
                if (++idx[d] < count[d]) break;
                idx[d] = 0;
            }
        }
    }

    /// <summary>
    /// Fills the parts of one channel's patch outside the box [blo, bhi) (patch coordinates): with the constant, or by
    /// replicating the nearest box voxel (edge). Rows inside the box on every outer axis get their margins first; then
    /// rows outside copy their clamped row (edge) or take the constant.
    /// </summary>
    internal static void Pad<T>(Span<T> patch, ReadOnlySpan<long> size, ReadOnlySpan<long> blo, ReadOnlySpan<long> bhi, PadMode mode, T padValue)
        where T : unmanaged
    {
        int sn = size.Length, last = sn - 1;
        if (sn == 0) return;
        int rowLen = (int)size[last];
        int mStart = (int)blo[last], mEnd = (int)bhi[last];
        long rows = 1;
        for (int d = 0; d < last; d++) rows *= size[d];
        Span<long> idx = stackalloc long[Math.Max(last, 1)];
        for (int pass = 0; pass < 2; pass++)
        {
            idx.Clear();
            for (long r = 0; r < rows; r++)
            {
                bool rowInside = true;
                long src = 0;
                for (int d = 0; d < last; d++)
                {
                    long c = idx[d];
                    if (c < blo[d] || c >= bhi[d])
                    {
                        rowInside = false;
                        c = Math.Clamp(c, blo[d], bhi[d] - 1);
                    }
                    src = src * size[d] + c;
                }
                var row = patch.Slice((int)(r * rowLen), rowLen);
                if (pass == 0 && rowInside)
                {
                    row[..mStart].Fill(mode == PadMode.Edge ? row[mStart] : padValue);
                    row[mEnd..].Fill(mode == PadMode.Edge ? row[mEnd - 1] : padValue);
                }
                else if (pass == 1 && !rowInside)
                {
                    if (mode == PadMode.Edge) patch.Slice((int)(src * rowLen), rowLen).CopyTo(row);
                    else row.Fill(padValue);
                }
                for (int d = last - 1; d >= 0; d--)
                {
                    if (++idx[d] < size[d]) break;
                    idx[d] = 0;
                }
            }
        }
    }

    private Span<T> Scratch<T>(long count) where T : unmanaged
    {
        long bytes = count * Unsafe.SizeOf<T>();
        if (bytes > Array.MaxLength)
            throw new MLArrayNotSupportedException($"a patch of {count} elements is above the {Array.MaxLength}-byte limit of one read.");
        if (_scratch.Length < bytes) _scratch = GC.AllocateUninitializedArray<byte>((int)bytes);
        return MemoryMarshal.Cast<byte, T>(_scratch.AsSpan(0, (int)bytes));
    }

    private static string Describe(ReadOnlySpan<long> start, ReadOnlySpan<long> size)
    {
        var parts = new string[start.Length];
        for (int d = 0; d < start.Length; d++) parts[d] = $"{start[d]}:{start[d] + size[d]}";
        return string.Join(", ", parts);
    }
}

/// <summary>
/// Per-channel transform of patch voxels (never of padding): <c>clamp(x, Low, High)·Scale + Bias</c>. Empty spans mean
/// no clipping or no scaling; each non-empty span holds one value or one per channel.
/// </summary>
internal readonly ref struct ChannelTransform<T> where T : unmanaged, INumberBase<T>
{
    public ChannelTransform(ReadOnlySpan<T> scale, ReadOnlySpan<T> bias, ReadOnlySpan<T> low = default, ReadOnlySpan<T> high = default)
    {
        Scale = scale;
        Bias = bias;
        Low = low;
        High = high;
    }

    public ReadOnlySpan<T> Scale { get; }
    public ReadOnlySpan<T> Bias { get; }
    public ReadOnlySpan<T> Low { get; }
    public ReadOnlySpan<T> High { get; }

    public bool IsEmpty => Scale.IsEmpty && Low.IsEmpty;

    public void Check(long channels)
    {
        if (Scale.Length != Bias.Length || Low.Length != High.Length)
            throw new ArgumentException($"scale and bias (and low and high) come in pairs; got {Scale.Length} and {Bias.Length} ({Low.Length} and {High.Length}).");
        foreach (int len in (ReadOnlySpan<int>)[Scale.Length, Low.Length])
            if (len > 1 && len != channels)
                throw new ArgumentException($"a per-channel transform needs one value or one per channel ({channels}), got {len}.");
    }

    public void Apply(int channel, Span<T> values)
    {
        if (!Low.IsEmpty)
        {
            int k = Low.Length == 1 ? 0 : channel;
            if (typeof(T) == typeof(float))
            {
                var v = MemoryMarshal.Cast<T, float>(values);
                TensorPrimitives.Clamp(v, float.CreateTruncating(Low[k]), float.CreateTruncating(High[k]), v);
            }
            else if (typeof(T) == typeof(double))
            {
                var v = MemoryMarshal.Cast<T, double>(values);
                TensorPrimitives.Clamp(v, double.CreateTruncating(Low[k]), double.CreateTruncating(High[k]), v);
            }
            else
            {
                throw new NotSupportedException($"clipping is implemented for float and double patches, not {typeof(T).Name}.");
            }
        }
        if (!Scale.IsEmpty)
        {
            int k = Scale.Length == 1 ? 0 : channel;
            TensorPrimitives.Multiply<T>(values, Scale[k], values);
            TensorPrimitives.Add<T>(values, Bias[k], values);
        }
    }
}

/// <summary>
/// Converts tiles of decoded <typeparamref name="TSrc"/> rows into <typeparamref name="TOut"/> rows (C# truncating
/// casts, vectorised): one call per tile of a block, so the per-call cost is spread over many short rows.
/// </summary>
internal static unsafe class RowConverter<TSrc, TOut>
    where TSrc : unmanaged, INumberBase<TSrc>
    where TOut : unmanaged, INumberBase<TOut>
{
    public static void Run(byte* src, nint srcStride, byte* dst, nint dstStride, nint count, nint rows)
    {
        for (nint r = 0; r < rows; r++)
        {
            byte* s = src + r * srcStride, d = dst + r * dstStride;
            if (typeof(TSrc) == typeof(short) && typeof(TOut) == typeof(float))
                Int16ToSingle((short*)s, (float*)d, count);
            else if (typeof(TSrc) == typeof(Half) && typeof(TOut) == typeof(float))
                MLArray.Kernels.ElementConvert.HalfToSingle(new ReadOnlySpan<Half>(s, (int)count), new Span<float>(d, (int)count)); // float16 images
            else if (typeof(TSrc) == typeof(byte) && typeof(TOut) == typeof(short))
                ByteToInt16(s, (short*)d, count);
            else if (typeof(TSrc) == typeof(TOut))
                Buffer.MemoryCopy(s, d, count * sizeof(TOut), count * sizeof(TOut));
            else
                TensorPrimitives.ConvertTruncating(new ReadOnlySpan<TSrc>(s, (int)count), new Span<TOut>(d, (int)count));
        }
    }

    // The CT case (int16 image → float32 batch).
    private static void Int16ToSingle(short* s, float* d, nint count)
    {
        nint i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= count; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(s + i));
                Vector256.Store(Vector256.ConvertToSingle(lo), d + i);
                Vector256.Store(Vector256.ConvertToSingle(hi), d + i + 8);
            }
        }
        for (; i < count; i++) d[i] = s[i];
    }

    // uint8 segmentation → int16 batch (room for the −1 padding).
    private static void ByteToInt16(byte* s, short* d, nint count)
    {
        nint i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 32 <= count; i += 32)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(s + i));
                Vector256.Store(lo.AsInt16(), d + i);
                Vector256.Store(hi.AsInt16(), d + i + 16);
            }
        }
        for (; i < count; i++) d[i] = s[i];
    }
}

/// <summary>
/// <see cref="RowConverter{TSrc, TOut}"/> for big-endian stored items: each row is byte-swapped into a small stack
/// buffer (pieces of at most 512 items) and converted from there, so the decoded source is never modified.
/// </summary>
internal static unsafe class SwappingRowConverter<TSrc, TOut>
    where TSrc : unmanaged, INumberBase<TSrc>
    where TOut : unmanaged, INumberBase<TOut>
{
    private const int Piece = 512;

    public static void Run(byte* src, nint srcStride, byte* dst, nint dstStride, nint count, nint rows)
    {
        int w = sizeof(TSrc);
        byte* buf = stackalloc byte[Piece * 16];
        for (nint r = 0; r < rows; r++)
        {
            byte* s = src + (r * srcStride), d = dst + (r * dstStride);
            for (nint i = 0; i < count; i += Piece)
            {
                int n = (int)Math.Min(Piece, count - i);
                MLArray.Kernels.ByteOrder.Swap(new ReadOnlySpan<byte>(s + (i * w), n * w), new Span<byte>(buf, n * w), w);
                RowConverter<TSrc, TOut>.Run(buf, 0, d + (i * sizeof(TOut)), 0, n, 1);
            }
        }
    }
}
