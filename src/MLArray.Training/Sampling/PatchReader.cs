using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MLArray.Blosc2.Filters;
using MLArray.Blosc2;
using MLArray.Blosc2.Codecs;
using MLArray.Kernels;

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
/// box (grow-only, per instance). One instance per thread; steady-state reads allocate nothing. The instance owns
/// its decode contexts (one per array rank met: a context keeps the read plan of one rank), so reading a file that
/// another thread is reading at the same moment never makes that file's own context pool grow (which allocated a
/// context and its scratch at random points of an epoch, whenever two loader workers first met on one case).
/// </remarks>
internal sealed class PatchReader : IDisposable
{
    private const int MaxRank = 32;
    private byte[] _scratch = [];
    private byte[] _staging = [];
    private readonly CodecContext?[] _contexts = new CodecContext?[MaxRank + 1];

    private CodecContext Context(int rank) => _contexts[rank] ??= new CodecContext();

    /// <summary>Releases the decode contexts (codec state).</summary>
    public void Dispose()
    {
        for (int i = 0; i < _contexts.Length; i++)
        {
            _contexts[i]?.Dispose();
            _contexts[i] = null;
        }
    }

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
        // The conversion runs inside the engine while each block is unshuffled into the destination (int16 → float32,
        // uint8 → int16, ..., with a channel-uniform clip and scale folded in); other pairs convert unshuffled rows.
        var conv = Conversion<TSrc, TOut>(array.DType, transform, out bool transformed);
        if (strides[n - 1] == 1 && conv.IsFused && Staging && conv.OutItemSize >= 4)
            ReadStaged<TSrc, TOut>(array, sel, counts, destination[(int)offset..], strides, conv);
        else if (strides[n - 1] == 1)
            array.File.ReadStrided(sel, destination[(int)offset..], strides, conv, Context(sel.Length));
        else
            ReadScattered(array.File, sel, counts, destination[(int)offset..], strides, conv);

        if (!transform.IsEmpty && !transformed)
            for (int c = 0; c < array.Channels; c++)
                transform.Apply(c, destination.Slice((int)(c * voxels), (int)voxels));
        if (!inside)
            for (int c = 0; c < array.Channels; c++)
                Pad(destination.Slice((int)(c * voxels), (int)voxels), size, blo, bhi, mode, padValue);
    }

    /// <summary>
    /// Whether conversions into 4-byte items (int16 → float32, ...) go through cached slabs (<see cref="ReadStaged"/>,
    /// the default) rather than straight from each block into the patch; narrower outputs (uint8 → int16) always go
    /// straight. Off only to compare the two in the bench and the tests.
    /// </summary>
    public bool Staging { get; init; } = true;

    /// <summary>
    /// A converting read in slabs along the first stored axis, each as deep as the file's blocks on that axis (and
    /// aligned to them, so every block is decoded once): the slab is read in the stored type into a staging buffer
    /// that stays in cache, then converted row by row into the destination, whose rows are then written whole and in
    /// order. Decoding straight into a large float patch scatters short rows over cold memory, which costs more on
    /// memory-bound machines than the extra pass over a cached slab (measured by the loader bench's profile: the
    /// image read fell by about 0.3 ms per 128³ patch).
    /// </summary>
    private unsafe void ReadStaged<TSrc, TOut>(CaseArray array, Span<NdIndex> sel, ReadOnlySpan<long> counts, Span<TOut> destination,
        ReadOnlySpan<long> strides, in RowConversion conv)
        where TSrc : unmanaged
        where TOut : unmanaged
    {
        int n = sel.Length;
        long depth = array.BlockDepth; // (cached: the file's BlockShape is a fresh array per call)
        long inner = 1;
        for (int d = 1; d < n; d++) inner *= counts[d];
        long first = sel[0].Start ?? 0, end = first + counts[0];
        var staging = Staged<TSrc>(Math.Min(counts[0], depth) * inner);
        Span<long> natural = stackalloc long[n], srcBytes = stackalloc long[n], dstBytes = stackalloc long[n], extent = stackalloc long[n];
        for (int d = n - 1, acc = 1; d >= 0; d--)
        {
            natural[d] = acc;
            srcBytes[d] = (long)acc * sizeof(TSrc);
            dstBytes[d] = strides[d] * sizeof(TOut);
            extent[d] = counts[d];
            acc *= d > 0 ? (int)counts[d] : 1;
        }
        var copy = RowConversion.Copy(sizeof(TSrc));
        fixed (TSrc* src = staging)
        fixed (TOut* dst = destination)
        {
            for (long z0 = first; z0 < end;)
            {
                long z1 = Math.Min(end, (z0 / depth + 1) * depth);
                sel[0] = NdIndex.Slice(z0, z1);
                extent[0] = z1 - z0;
                array.File.ReadStrided(sel, staging[..(int)(extent[0] * inner)], natural, copy, Context(sel.Length));
                NdCopy.ConvertRows((byte*)src, srcBytes, (byte*)(dst + (z0 - first) * strides[0]), dstBytes, extent, conv);
                z0 = z1;
            }
        }
    }

    private Span<T> Staged<T>(long count) where T : unmanaged
    {
        long bytes = count * Unsafe.SizeOf<T>();
        if (bytes > Array.MaxLength)
            throw new MLArrayNotSupportedException($"a slab of {count} elements is above the {Array.MaxLength}-byte limit of one read.");
        if (_staging.Length < bytes) _staging = GC.AllocateUninitializedArray<byte>((int)bytes, pinned: true);
        return MemoryMarshal.Cast<byte, T>(_staging.AsSpan(0, (int)bytes));
    }

    // Channels-last arrays: convert the box in C order into scratch, then scatter each element to its strided place.
    private void ReadScattered<TOut>(MLArrayFile file, ReadOnlySpan<NdIndex> sel, ReadOnlySpan<long> count, Span<TOut> destination,
        ReadOnlySpan<long> strides, in RowConversion convert) where TOut : unmanaged
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
        file.ReadStrided(sel, box, natural, convert, Context(sel.Length));
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
    /// How stored <typeparamref name="TSrc"/> items become <typeparamref name="TOut"/> items: an engine conversion
    /// (with the transform folded in when it is the same for every channel: <paramref name="transformed"/>), a copy,
    /// or a row converter (big-endian items, other pairs).
    /// </summary>
    private static unsafe RowConversion Conversion<TSrc, TOut>(DType dtype, in ChannelTransform<TOut> transform, out bool transformed)
        where TSrc : unmanaged, INumberBase<TSrc>
        where TOut : unmanaged, INumberBase<TOut>
    {
        transformed = false;
        if (dtype.IsBigEndian) // stored big-endian: swap each row, then convert
            return RowConversion.Converting(&SwappingRowConverter<TSrc, TOut>.Run, sizeof(TOut));
        if (FusedKind<TSrc, TOut>() is { } kind)
        {
            var conv = RowConversion.Fused(kind);
            if (!transform.IsEmpty && conv.TakesTransform && transform.TryUniform(out var affine))
            {
                transformed = true;
                return conv.WithTransform(affine);
            }
            return conv;
        }
        // Same type, or uint8 ↔ int8 (a truncating conversion keeps the bits): a copy.
        if (typeof(TSrc) == typeof(TOut) || (sizeof(TSrc) == 1 && sizeof(TOut) == 1 && (typeof(TOut) == typeof(byte) || typeof(TOut) == typeof(sbyte))))
            return RowConversion.Copy(sizeof(TOut));
        return RowConversion.Converting(&RowConverter<TSrc, TOut>.Run, sizeof(TOut));
    }

    /// <summary>The engine conversion for this pair of element types, if there is one.</summary>
    internal static RowConversionKind? FusedKind<TSrc, TOut>()
    {
        if (typeof(TOut) == typeof(float))
        {
            if (typeof(TSrc) == typeof(short)) return RowConversionKind.Int16ToSingle;
            if (typeof(TSrc) == typeof(ushort)) return RowConversionKind.UInt16ToSingle;
            if (typeof(TSrc) == typeof(Half)) return RowConversionKind.HalfToSingle;
            if (typeof(TSrc) == typeof(byte)) return RowConversionKind.UInt8ToSingle;
            if (typeof(TSrc) == typeof(sbyte)) return RowConversionKind.Int8ToSingle;
        }
        else if (typeof(TOut) == typeof(short))
        {
            if (typeof(TSrc) == typeof(byte)) return RowConversionKind.UInt8ToInt16;
            if (typeof(TSrc) == typeof(sbyte)) return RowConversionKind.Int8ToInt16;
        }
        return null;
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

    /// <summary>
    /// The transform as one clip and scale in float32 when it is the same for every channel (one value, or equal
    /// values) and <typeparamref name="T"/> is float: what the engine folds into an integer → float32 read.
    /// </summary>
    public bool TryUniform(out Shuffle.Affine affine)
    {
        affine = default;
        if (typeof(T) != typeof(float) || !Same(Scale) || !Same(Bias) || !Same(Low) || !Same(High))
            return false;
        affine = new Shuffle.Affine(!Low.IsEmpty, Low.IsEmpty ? 0 : float.CreateTruncating(Low[0]), High.IsEmpty ? 0 : float.CreateTruncating(High[0]),
            !Scale.IsEmpty, Scale.IsEmpty ? 1 : float.CreateTruncating(Scale[0]), Bias.IsEmpty ? 0 : float.CreateTruncating(Bias[0]));
        return true;

        static bool Same(ReadOnlySpan<T> v)
        {
            for (int i = 1; i < v.Length; i++)
                if (!v[i].Equals(v[0])) return false;
            return true;
        }
    }

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
/// casts, vectorised: the engine's kernels for its pairs, TensorPrimitives otherwise): one call per tile of a block,
/// so the per-call cost is spread over many short rows.
/// </summary>
internal static unsafe class RowConverter<TSrc, TOut>
    where TSrc : unmanaged, INumberBase<TSrc>
    where TOut : unmanaged, INumberBase<TOut>
{
    public static void Run(byte* src, nint srcStride, byte* dst, nint dstStride, nint count, nint rows)
    {
        if (PatchReader.FusedKind<TSrc, TOut>() is { } kind)
        {
            RowConversion.Fused(kind).Rows(src, srcStride, dst, dstStride, count, rows);
            return;
        }
        for (nint r = 0; r < rows; r++)
        {
            byte* s = src + r * srcStride, d = dst + r * dstStride;
            if (typeof(TSrc) == typeof(TOut))
                Buffer.MemoryCopy(s, d, count * sizeof(TOut), count * sizeof(TOut));
            else
                TensorPrimitives.ConvertTruncating(new ReadOnlySpan<TSrc>(s, (int)count), new Span<TOut>(d, (int)count));
        }
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
