using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MLArray.Training.Sampling;

/// <summary>
/// Reads the box [start, start + size) of a case array (per spatial axis; channel axes whole, stored axis order) into a
/// destination span, converting the stored dtype to <c>TOut</c>, optionally scaling each channel (<c>x·scale + bias</c>,
/// e.g. z-score), and padding the parts outside the image (constant or edge). Only the in-bounds box is read from the
/// file, so only the blocks it touches are decoded. One instance per thread: it keeps a grow-only scratch buffer, so
/// steady-state reads allocate nothing.
/// </summary>
/// <remarks>
/// Fully in-bounds patches of the stored type without scaling are read straight into the destination; every other
/// patch is read into the scratch buffer and converted row by row into place (MLArrayFile has no strided-destination
/// read).
/// </remarks>
internal sealed class PatchReader
{
    private const int MaxRank = 32;
    private byte[] _scratch = [];

    /// <summary>Reads one patch. <paramref name="destination"/> must hold exactly channels × Π size elements.</summary>
    /// <param name="array">The case array.</param>
    /// <param name="start">Start per spatial axis (may be negative or past the end when padding).</param>
    /// <param name="size">Size per spatial axis (≥ 1).</param>
    /// <param name="destination">C-order destination in stored axis order.</param>
    /// <param name="mode">Padding of the parts outside the image.</param>
    /// <param name="padValue">Constant pad value (in the output type, after scaling).</param>
    /// <param name="scale">Empty, or one factor per channel (requires channel axes before spatial axes).</param>
    /// <param name="bias">Empty, or one addend per channel (same length as <paramref name="scale"/>).</param>
    /// <exception cref="ArgumentException">Wrong lengths, or the patch leaves the image with <see cref="PadMode.None"/>.</exception>
    public void Read<TOut>(CaseArray array, ReadOnlySpan<long> start, ReadOnlySpan<long> size, Span<TOut> destination, PadMode mode,
        TOut padValue, ReadOnlySpan<TOut> scale = default, ReadOnlySpan<TOut> bias = default)
        where TOut : unmanaged, INumberBase<TOut>
    {
        var dt = array.DType;
        if (dt == DType.Int16) Read<short, TOut>(array, start, size, destination, mode, padValue, scale, bias);
        else if (dt == DType.Float32) Read<float, TOut>(array, start, size, destination, mode, padValue, scale, bias);
        else if (dt == DType.UInt8) Read<byte, TOut>(array, start, size, destination, mode, padValue, scale, bias);
        else if (dt == DType.Int8) Read<sbyte, TOut>(array, start, size, destination, mode, padValue, scale, bias);
        else if (dt == DType.UInt16) Read<ushort, TOut>(array, start, size, destination, mode, padValue, scale, bias);
        else if (dt == DType.Int32) Read<int, TOut>(array, start, size, destination, mode, padValue, scale, bias);
        else if (dt == DType.UInt32) Read<uint, TOut>(array, start, size, destination, mode, padValue, scale, bias);
        else if (dt == DType.Int64) Read<long, TOut>(array, start, size, destination, mode, padValue, scale, bias);
        else if (dt == DType.UInt64) Read<ulong, TOut>(array, start, size, destination, mode, padValue, scale, bias);
        else if (dt == DType.Float64) Read<double, TOut>(array, start, size, destination, mode, padValue, scale, bias);
        else if (dt == DType.Float16) Read<Half, TOut>(array, start, size, destination, mode, padValue, scale, bias);
        else throw new MLArrayNotSupportedException($"'{array.File.FilePath}' stores {dt.Name}; patches can be read from numeric dtypes only (not bool).");
    }

    private void Read<TSrc, TOut>(CaseArray array, ReadOnlySpan<long> start, ReadOnlySpan<long> size, Span<TOut> destination, PadMode mode,
        TOut padValue, ReadOnlySpan<TOut> scale, ReadOnlySpan<TOut> bias)
        where TSrc : unmanaged, INumberBase<TSrc>
        where TOut : unmanaged, INumberBase<TOut>
    {
        var shape = array.Shape;
        var spatial = array.SpatialAxes;
        int n = shape.Length;
        if (start.Length != spatial.Length || size.Length != spatial.Length)
            throw new ArgumentException($"a patch needs a start and a size per spatial axis ({spatial.Length}), got {start.Length} and {size.Length}.");
        if (n > MaxRank)
            throw new MLArrayNotSupportedException($"patches of arrays with more than {MaxRank} axes are not supported.");
        if (scale.Length != bias.Length || (scale.Length != 0 && scale.Length != array.Channels))
            throw new ArgumentException($"scale and bias need one value per channel ({array.Channels}), got {scale.Length} and {bias.Length}.");
        if (scale.Length != 0 && !array.ChannelsLeading)
            throw new MLArrayNotSupportedException($"'{array.File.FilePath}': per-channel scaling needs the channel axes before the spatial axes.");

        Span<long> rs = stackalloc long[n], rz = stackalloc long[n], lo = stackalloc long[n], hi = stackalloc long[n];
        long total = 1;
        bool inside = true, empty = false;
        for (int d = 0, s = 0; d < n; d++)
        {
            if (s < spatial.Length && spatial[s] == d)
            {
                if (size[s] < 1) throw new ArgumentException($"patch size must be ≥ 1 on every axis, got {size[s]} on spatial axis {s}.");
                rs[d] = start[s];
                rz[d] = size[s];
                s++;
            }
            else
            {
                rs[d] = 0;
                rz[d] = shape[d];
            }
            total *= rz[d];
            long end = rs[d] + rz[d];
            if (rs[d] < 0 || end > shape[d]) inside = false;
            if (mode == PadMode.Edge)
            {
                // The box whose clamped coordinates the patch uses (never empty).
                lo[d] = Math.Clamp(rs[d], 0, shape[d] - 1);
                hi[d] = Math.Clamp(end - 1, 0, shape[d] - 1) + 1;
            }
            else
            {
                lo[d] = Math.Clamp(rs[d], 0, shape[d]);
                hi[d] = Math.Clamp(end, 0, shape[d]);
                if (hi[d] <= lo[d]) empty = true;
            }
        }
        if (destination.Length != total)
            throw new ArgumentException($"the destination holds {destination.Length} elements but the patch has {total}.", nameof(destination));
        if (!inside && mode == PadMode.None)
            throw new ArgumentException(
                $"the patch [{Describe(rs, rz)}] leaves the image of shape ({string.Join(", ", shape)}) of '{array.File.FilePath}' and padding is off; " +
                "use a smaller patch or enable padding (PadMode.Constant or PadMode.Edge).");

        bool convert = typeof(TSrc) != typeof(TOut);
        if (inside && !convert && scale.IsEmpty)
        {
            ReadBox<TOut>(array.File, lo, hi, destination);
            return;
        }
        if (empty)
        {
            destination.Fill(padValue);
            return;
        }

        long boxCount = 1;
        for (int d = 0; d < n; d++) boxCount *= hi[d] - lo[d];
        var box = Scratch<TSrc>(boxCount);
        ReadBox(array.File, lo, hi, box);
        if (inside)
        {
            Convert(box, destination);
            if (!scale.IsEmpty)
            {
                int per = (int)(total / array.Channels);
                for (int c = 0; c < scale.Length; c++)
                {
                    var part = destination.Slice(c * per, per);
                    ScaleInPlace(part, scale[c], bias[c]);
                }
            }
            return;
        }
        CopyRows(array, box, destination, rs, rz, lo, hi, mode, padValue, scale, bias);
    }

    private static void CopyRows<TSrc, TOut>(CaseArray array, ReadOnlySpan<TSrc> box, Span<TOut> destination, ReadOnlySpan<long> rs, ReadOnlySpan<long> rz,
        ReadOnlySpan<long> lo, ReadOnlySpan<long> hi, PadMode mode, TOut padValue, ReadOnlySpan<TOut> scale, ReadOnlySpan<TOut> bias)
        where TSrc : unmanaged, INumberBase<TSrc>
        where TOut : unmanaged, INumberBase<TOut>
    {
        int n = rs.Length, last = n - 1;
        int nc = array.Shape.Length - array.SpatialAxes.Length;
        Span<long> boxStride = stackalloc long[n];
        boxStride[last] = 1;
        for (int d = last - 1; d >= 0; d--) boxStride[d] = boxStride[d + 1] * (hi[d + 1] - lo[d + 1]);
        long rowLen = rz[last];
        long mStart = Math.Clamp(lo[last] - rs[last], 0, rowLen), mEnd = Math.Clamp(hi[last] - rs[last], 0, rowLen);
        Span<long> idx = stackalloc long[n];
        long rows = 1;
        for (int d = 0; d < last; d++) rows *= rz[d];
        for (long r = 0; r < rows; r++)
        {
            var row = destination.Slice((int)(r * rowLen), (int)rowLen);
            long srcOff = 0;
            bool padRow = false;
            for (int d = 0; d < last; d++)
            {
                long c = rs[d] + idx[d];
                if (c < lo[d] || c >= hi[d])
                {
                    if (mode != PadMode.Edge) { padRow = true; break; }
                    c = Math.Clamp(c, lo[d], hi[d] - 1);
                }
                srcOff += (c - lo[d]) * boxStride[d];
            }
            if (padRow)
            {
                row.Fill(padValue);
            }
            else
            {
                TOut sc = TOut.One, bi = TOut.Zero;
                if (!scale.IsEmpty)
                {
                    long ch = 0;
                    for (int d = 0; d < nc; d++) ch = ch * rz[d] + idx[d];
                    sc = scale[(int)ch];
                    bi = bias[(int)ch];
                }
                if (mEnd > mStart)
                {
                    var mid = row.Slice((int)mStart, (int)(mEnd - mStart));
                    Convert(box.Slice((int)(srcOff + rs[last] + mStart - lo[last]), mid.Length), mid);
                    if (!scale.IsEmpty) ScaleInPlace(mid, sc, bi);
                    row[..(int)mStart].Fill(mode == PadMode.Edge ? mid[0] : padValue);
                    row[(int)mEnd..].Fill(mode == PadMode.Edge ? mid[^1] : padValue);
                }
                else if (mode == PadMode.Edge)
                {
                    // The whole row lies left or right of the image on the last axis: the edge voxel.
                    long at = rs[last] >= hi[last] ? hi[last] - lo[last] - 1 : 0;
                    row.Fill(TOut.CreateTruncating(box[(int)(srcOff + at)]) * sc + bi);
                }
                else
                {
                    row.Fill(padValue);
                }
            }
            for (int d = last - 1; d >= 0; d--)
            {
                if (++idx[d] < rz[d]) break;
                idx[d] = 0;
            }
        }
    }

    private static void ScaleInPlace<T>(Span<T> values, T scale, T bias) where T : unmanaged, INumberBase<T>
    {
        TensorPrimitives.Multiply<T>(values, scale, values);
        TensorPrimitives.Add<T>(values, bias, values);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Convert<TSrc, TOut>(ReadOnlySpan<TSrc> source, Span<TOut> destination)
        where TSrc : unmanaged, INumberBase<TSrc>
        where TOut : unmanaged, INumberBase<TOut>
    {
        if (typeof(TSrc) == typeof(TOut))
            MemoryMarshal.Cast<TSrc, TOut>(source).CopyTo(destination);
        else if (typeof(TSrc) == typeof(short) && typeof(TOut) == typeof(float))
            Int16ToSingle(MemoryMarshal.Cast<TSrc, short>(source), MemoryMarshal.Cast<TOut, float>(destination));
        else if (typeof(TSrc) == typeof(Half) && typeof(TOut) == typeof(float))
            MLArray.Kernels.ElementConvert.HalfToSingle(MemoryMarshal.Cast<TSrc, Half>(source), MemoryMarshal.Cast<TOut, float>(destination)); // float16 images, vectorised
        else if (typeof(TSrc) == typeof(byte) && typeof(TOut) == typeof(short))
            ByteToInt16(MemoryMarshal.Cast<TSrc, byte>(source), MemoryMarshal.Cast<TOut, short>(destination));
        else
            TensorPrimitives.ConvertTruncating(source, destination);
    }

    // The CT case (int16 image → float32 batch), widened with SIMD.
    private static void Int16ToSingle(ReadOnlySpan<short> source, Span<float> destination)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= source.Length; i += 16)
            {
                var v = Vector256.Create<short>(source.Slice(i, 16));
                var (lo, hi) = Vector256.Widen(v);
                Vector256.ConvertToSingle(lo).CopyTo(destination.Slice(i, 8));
                Vector256.ConvertToSingle(hi).CopyTo(destination.Slice(i + 8, 8));
            }
        }
        for (; i < source.Length; i++) destination[i] = source[i];
    }

    // uint8 segmentation → int16 batch (room for the −1 padding).
    private static void ByteToInt16(ReadOnlySpan<byte> source, Span<short> destination)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 32 <= source.Length; i += 32)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Create<byte>(source.Slice(i, 32)));
                Vector256.AsInt16(lo).CopyTo(destination.Slice(i, 16));
                Vector256.AsInt16(hi).CopyTo(destination.Slice(i + 16, 16));
            }
        }
        for (; i < source.Length; i++) destination[i] = source[i];
    }

    private static void ReadBox<T>(MLArrayFile file, ReadOnlySpan<long> lo, ReadOnlySpan<long> hi, Span<T> destination) where T : unmanaged
    {
        Span<NdIndex> sel = stackalloc NdIndex[lo.Length];
        for (int d = 0; d < lo.Length; d++) sel[d] = NdIndex.Slice(lo[d], hi[d]);
        file.Read<T>(sel, destination);
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
