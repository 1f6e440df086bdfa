using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MLArray.Kernels;

/// <summary>
/// The one N-d axis permutation (transpose, with optional axis reversal) of C-order arrays of raw items of any size.
/// Axes of length 1 are dropped and axes that stay adjacent in the source are merged first, so the identity and
/// other memory-order-preserving permutations are plain copies; otherwise the output's innermost axis and the
/// source's innermost (smallest-stride) axis are moved in cache-sized square tiles while the other axes are walked
/// with an odometer that only adds strides.
/// </summary>
internal static class AxisPermutation
{
    /// <summary>
    /// Returns C-order data over <c>shape[perm[0]], shape[perm[1]], …</c>: output element <c>i</c> is the source element
    /// <c>j</c> with <c>j[perm[k]] = flip[k] ? shape[perm[k]] - 1 - i[k] : i[k]</c>. Returns <paramref name="source"/>
    /// itself when nothing moves.
    /// </summary>
    /// <param name="source">C-order items over <paramref name="shape"/>.</param>
    /// <param name="shape">The source shape.</param>
    /// <param name="perm">A permutation of the axes: output axis k is source axis <c>perm[k]</c>.</param>
    /// <param name="itemSize">Bytes per item (moved as a unit).</param>
    /// <param name="flip">Per output axis: reverse it; empty for none.</param>
    /// <exception cref="ArgumentException">The permutation, flips or length do not fit the shape.</exception>
    public static byte[] Permute(byte[] source, ReadOnlySpan<long> shape, ReadOnlySpan<int> perm, int itemSize, ReadOnlySpan<bool> flip = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (IsIdentity(perm) && !flip.Contains(true))
        {
            Validate(source.Length, shape, perm, itemSize, flip);
            return source;
        }

        byte[] dst = GC.AllocateUninitializedArray<byte>(source.Length);
        Permute(source, dst, shape, perm, itemSize, flip);
        return dst;
    }

    /// <summary>As <see cref="Permute(byte[], ReadOnlySpan{long}, ReadOnlySpan{int}, int, ReadOnlySpan{bool})"/>, into <paramref name="destination"/> (same length, not overlapping).</summary>
    public static void Permute(ReadOnlySpan<byte> source, Span<byte> destination, ReadOnlySpan<long> shape, ReadOnlySpan<int> perm, int itemSize,
        ReadOnlySpan<bool> flip = default)
    {
        long count = Validate(source.Length, shape, perm, itemSize, flip);
        if (destination.Length != source.Length)
            throw new ArgumentException($"destination holds {destination.Length} bytes, the source {source.Length}.", nameof(destination));
        if (count == 0) return;

        // Output axes (outer to inner) with their source strides in items (negative when reversed), length-1 axes dropped.
        int n = shape.Length;
        Span<long> srcStride = stackalloc long[Math.Max(n, 1)];
        long s = 1;
        for (int a = n - 1; a >= 0; a--)
        {
            srcStride[a] = s;
            s *= shape[a];
        }

        var size = new List<long>(n);
        var stride = new List<long>(n);
        long start = 0;
        for (int k = 0; k < n; k++)
        {
            long len = shape[perm[k]], st = srcStride[perm[k]];
            if (len == 1) continue;
            if (flip.Length > 0 && flip[k])
            {
                start += (len - 1) * st;
                st = -st;
            }

            // Merge with the previous output axis when the pair walks the source as one axis.
            if (size.Count > 0 && stride[^1] == st * len)
            {
                size[^1] *= len;
                stride[^1] = st;
            }
            else
            {
                size.Add(len);
                stride.Add(st);
            }
        }

        ref byte src = ref Unsafe.Add(ref MemoryMarshal.GetReference(source), (nint)(start * itemSize));
        ref byte dst = ref MemoryMarshal.GetReference(destination);
        int m = size.Count;
        if (m == 0)
        {
            source.Slice((int)(start * itemSize), itemSize).CopyTo(destination);
            return;
        }

        if (stride[m - 1] == 1)
        {
            // Rows are contiguous in both: copy row by row.
            RowCopy(ref src, ref dst, size, stride, itemSize);
            return;
        }

        // Tile the output's inner axis against the source's innermost axis among the others.
        int inner = -1;
        for (int k = 0; k < m - 1; k++)
        {
            if (inner < 0 || Math.Abs(stride[k]) < Math.Abs(stride[inner])) inner = k;
        }

        if (inner < 0)
        {
            // A single strided axis: gather.
            Gather(ref src, ref dst, size[0], stride[0], itemSize);
            return;
        }

        var dstStride = new long[m];
        long d = 1;
        for (int k = m - 1; k >= 0; k--)
        {
            dstStride[k] = d;
            d *= size[k];
        }

        var outer = new List<int>(m);
        for (int k = 0; k < m - 1; k++)
        {
            if (k != inner) outer.Add(k);
        }

        var idx = new long[outer.Count];
        long srcBase = 0, dstBase = 0;
        while (true)
        {
            Tile(ref Unsafe.Add(ref src, (nint)(srcBase * itemSize)), ref Unsafe.Add(ref dst, (nint)(dstBase * itemSize)), itemSize,
                size[inner], stride[inner], dstStride[inner], size[m - 1], stride[m - 1]);
            int j = outer.Count - 1;
            for (; j >= 0; j--)
            {
                int ax = outer[j];
                srcBase += stride[ax];
                dstBase += dstStride[ax];
                if (++idx[j] < size[ax]) break;
                srcBase -= stride[ax] * size[ax];
                dstBase -= dstStride[ax] * size[ax];
                idx[j] = 0;
            }

            if (j < 0) return;
        }
    }

    private static bool IsIdentity(ReadOnlySpan<int> perm)
    {
        for (int i = 0; i < perm.Length; i++)
        {
            if (perm[i] != i) return false;
        }

        return true;
    }

    private static long Validate(int length, ReadOnlySpan<long> shape, ReadOnlySpan<int> perm, int itemSize, ReadOnlySpan<bool> flip)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(itemSize, 1);
        int n = shape.Length;
        if (perm.Length != n)
            throw new ArgumentException($"the permutation has {perm.Length} axes, the shape {n}.", nameof(perm));
        if (flip.Length != 0 && flip.Length != n)
            throw new ArgumentException($"flip has {flip.Length} entries, the shape {n} axes.", nameof(flip));
        Span<bool> seen = stackalloc bool[n];
        foreach (int p in perm)
        {
            if ((uint)p >= (uint)n || seen[p])
                throw new ArgumentException($"({string.Join(", ", perm.ToArray())}) is not a permutation of {n} axes.", nameof(perm));
            seen[p] = true;
        }

        long count = 1;
        foreach (long x in shape)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(x, nameof(shape));
            count = checked(count * x);
        }

        if (checked(count * itemSize) != length)
            throw new ArgumentException($"{length} bytes do not hold shape ({string.Join(", ", shape.ToArray())}) of {itemSize}-byte items.", nameof(shape));
        return count;
    }

    private static void RowCopy(ref byte src, ref byte dst, List<long> size, List<long> stride, int itemSize)
    {
        int m = size.Count;
        nuint rowBytes = (nuint)(size[m - 1] * itemSize);
        var idx = new long[m - 1];
        long srcBase = 0, dstBase = 0;
        while (true)
        {
            Unsafe.CopyBlockUnaligned(ref Unsafe.Add(ref dst, (nint)dstBase), ref Unsafe.Add(ref src, (nint)(srcBase * itemSize)), (uint)rowBytes);
            dstBase += (long)rowBytes;
            int j = m - 2;
            for (; j >= 0; j--)
            {
                srcBase += stride[j];
                if (++idx[j] < size[j]) break;
                srcBase -= stride[j] * size[j];
                idx[j] = 0;
            }

            if (j < 0) return;
        }
    }

    private static void Gather(ref byte src, ref byte dst, long count, long stride, int itemSize)
    {
        for (long i = 0; i < count; i++)
        {
            Unsafe.CopyBlockUnaligned(ref Unsafe.Add(ref dst, (nint)(i * itemSize)), ref Unsafe.Add(ref src, (nint)(i * stride * itemSize)), (uint)itemSize);
        }
    }

    /// <summary>
    /// <c>dst[r * dstRowStride + c] = src[r * srcRowStride + c * srcColStride]</c> for r &lt; rows, c &lt; cols (strides in
    /// items), in square tiles of about one cache line per tile row.
    /// </summary>
    private static void Tile(ref byte src, ref byte dst, int itemSize, long rows, long srcRowStride, long dstRowStride, long cols, long srcColStride)
    {
        switch (itemSize)
        {
            case 1: Tile(ref src, ref dst, rows, srcRowStride, dstRowStride, cols, srcColStride); break;
            case 2: Tile(ref Unsafe.As<byte, ushort>(ref src), ref Unsafe.As<byte, ushort>(ref dst), rows, srcRowStride, dstRowStride, cols, srcColStride); break;
            case 4: Tile(ref Unsafe.As<byte, uint>(ref src), ref Unsafe.As<byte, uint>(ref dst), rows, srcRowStride, dstRowStride, cols, srcColStride); break;
            case 8: Tile(ref Unsafe.As<byte, ulong>(ref src), ref Unsafe.As<byte, ulong>(ref dst), rows, srcRowStride, dstRowStride, cols, srcColStride); break;
            case 16: Tile(ref Unsafe.As<byte, Int128>(ref src), ref Unsafe.As<byte, Int128>(ref dst), rows, srcRowStride, dstRowStride, cols, srcColStride); break;
            default: TileBytes(ref src, ref dst, itemSize, rows, srcRowStride, dstRowStride, cols, srcColStride); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<T>(ref T src, ref T dst, long rows, long srcRowStride, long dstRowStride, long cols, long srcColStride)
        where T : unmanaged
    {
        int tile = Math.Clamp(64 / Unsafe.SizeOf<T>(), 8, 32);
        for (long r0 = 0; r0 < rows; r0 += tile)
        {
            long r1 = Math.Min(r0 + tile, rows);
            for (long c0 = 0; c0 < cols; c0 += tile)
            {
                int len = (int)(Math.Min(c0 + tile, cols) - c0);
                for (long r = r0; r < r1; r++)
                {
                    ref T s = ref Unsafe.Add(ref src, (nint)((r * srcRowStride) + (c0 * srcColStride)));
                    ref T d = ref Unsafe.Add(ref dst, (nint)((r * dstRowStride) + c0));
                    nint step = (nint)srcColStride;
                    for (int c = 0; c < len; c++)
                    {
                        Unsafe.Add(ref d, c) = s;
                        s = ref Unsafe.Add(ref s, step);
                    }
                }
            }
        }
    }

    private static void TileBytes(ref byte src, ref byte dst, int itemSize, long rows, long srcRowStride, long dstRowStride, long cols, long srcColStride)
    {
        int tile = Math.Clamp(64 / itemSize, 8, 32);
        for (long r0 = 0; r0 < rows; r0 += tile)
        {
            long r1 = Math.Min(r0 + tile, rows);
            for (long c0 = 0; c0 < cols; c0 += tile)
            {
                long c1 = Math.Min(c0 + tile, cols);
                for (long r = r0; r < r1; r++)
                {
                    for (long c = c0; c < c1; c++)
                    {
                        Unsafe.CopyBlockUnaligned(
                            ref Unsafe.Add(ref dst, (nint)(((r * dstRowStride) + c) * itemSize)),
                            ref Unsafe.Add(ref src, (nint)(((r * srcRowStride) + (c * srcColStride)) * itemSize)),
                            (uint)itemSize);
                    }
                }
            }
        }
    }
}
