using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MLArray.Blosc2.Filters;

/// <summary>Inverse shuffle fused with the copy into a strided destination (slice reads: no unshuffled temporary).</summary>
internal static partial class Shuffle
{
    /// <summary>Bytes a shuffled block buffer must stay readable past its end for the row unshuffle (<c>InverseRows</c>).</summary>
    public const int RowsReadSlack = 16;

    /// <summary>
    /// Unshuffles <paramref name="rows"/> runs of <paramref name="count"/> elements of width <paramref name="w"/> out
    /// of a shuffled block whose byte planes are <paramref name="n"/> bytes apart (<c>n = bsize / w</c>, no remainder
    /// bytes): run <c>r</c> holds elements <c>e0 + r·rowStep ... + count - 1</c> and goes to <c>dst + r·dstStride</c>
    /// (count·w bytes; nothing else is written). <paramref name="planes"/> must stay readable for
    /// <see cref="RowsReadSlack"/> bytes past <c>w·n</c>.
    /// </summary>
    public static unsafe void InverseRows(int w, byte* planes, nint n, nint e0, nint count, nint rows, nint rowStep, byte* dst, nint dstStride) =>
        InverseRows(w, planes, n, e0, count, rows, rowStep, dst, dstStride, IsV128Supported);

    /// <summary><see cref="InverseRows(int, byte*, nint, nint, nint, nint, nint, byte*, nint)"/>, with the vector kernels on or off (tests run both).</summary>
    internal static unsafe void InverseRows(int w, byte* planes, nint n, nint e0, nint count, nint rows, nint rowStep, byte* dst, nint dstStride, bool vector) =>
        InverseRows(w, planes, n, e0, count, rows, rowStep, dst, dstStride, vector, vector && Avx2.IsSupported);

    /// <summary>
    /// <see cref="InverseRows(int, byte*, nint, nint, nint, nint, nint, byte*, nint)"/> with the 128-bit kernels
    /// (<paramref name="vector"/>) and the 256-bit two-group kernel (<paramref name="wide"/>, used only with AVX2
    /// and <paramref name="vector"/>) switched separately (tests run each combination).
    /// </summary>
    [SkipLocalsInit]
    internal static unsafe void InverseRows(int w, byte* planes, nint n, nint e0, nint count, nint rows, nint rowStep, byte* dst, nint dstStride, bool vector, bool wide)
    {
        if (wide && vector && Avx2.IsSupported && w is 2 or 4 && count >= 16)
        {
            InverseRowsAvx2(w, planes + e0, n, count, rows, rowStep, dst, dstStride);
            return;
        }
        if (count <= 0)
            return;
        if (w == 1)
        {
            for (nint r = 0; r < rows; r++)
                Unsafe.CopyBlockUnaligned(dst + r * dstStride, planes + e0 + r * rowStep, (uint)count);
            return;
        }
        if (vector && w is 2 or 4 or 8)
        {
            if (count < 16)
            {
                // Short runs (a patch edge cutting a block): 16 elements into a stack tile, then count·w bytes out.
                byte* tile = stackalloc byte[16 * 8];
                for (nint r = 0; r < rows; r++)
                {
                    Kernel16(w, planes + e0 + r * rowStep, n, tile);
                    CopySmall(dst + r * dstStride, tile, count * w);
                }
                return;
            }
            for (nint r = 0; r < rows; r++)
                InverseRunV128(w, planes + e0 + r * rowStep, n, count, dst + r * dstStride);
            return;
        }
        for (nint r = 0; r < rows; r++)
            InverseRunScalar(w, planes + e0 + r * rowStep, n, count, dst + r * dstStride);
    }

    /// <summary>
    /// AVX2 for widths 2 and 4 and runs of at least 16 elements: two 16-element groups per step, one in each 128-bit
    /// lane (two groups of one run, or the single groups of two neighbouring runs when runs are exactly 16 long); an
    /// odd group left over goes through the 128-bit kernel (overlapping the previous group when the run is longer).
    /// </summary>
    private static unsafe void InverseRowsAvx2(int w, byte* s, nint n, nint count, nint rows, nint rowStep, byte* dst, nint dstStride)
    {
        nint r = 0;
        if (count == 16)
        {
            for (; r + 2 <= rows; r += 2)
                Kernel32Avx2(w, s + r * rowStep, s + (r + 1) * rowStep, n, dst + r * dstStride, dst + (r + 1) * dstStride);
            if (r < rows)
                Kernel16(w, s + r * rowStep, n, dst + r * dstStride);
            return;
        }
        for (; r < rows; r++)
        {
            byte* sr = s + r * rowStep, dr = dst + r * dstStride;
            nint k = 0;
            for (; k + 32 <= count; k += 32)
                Kernel32Avx2(w, sr + k, sr + k + 16, n, dr + k * w, dr + (k + 16) * w);
            if (k + 16 <= count)
            {
                Kernel16(w, sr + k, n, dr + k * w);
                k += 16;
            }
            if (k < count)
                Kernel16(w, sr + count - 16, n, dr + (count - 16) * w);
        }
    }

    /// <summary>Unshuffles two groups of 16 elements (width 2 or 4) from <paramref name="s0"/> and <paramref name="s1"/> (planes <paramref name="n"/> apart) to <paramref name="d0"/> and <paramref name="d1"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Kernel32Avx2(int w, byte* s0, byte* s1, nint n, byte* d0, byte* d1)
    {
        Vector256<byte> a0 = Vector256.Create(Vector128.Load(s0), Vector128.Load(s1));
        Vector256<byte> a1 = Vector256.Create(Vector128.Load(s0 + n), Vector128.Load(s1 + n));
        if (w == 2)
        {
            Vector256<byte> lo = Avx2.UnpackLow(a0, a1), hi = Avx2.UnpackHigh(a0, a1);
            Avx2.Permute2x128(lo, hi, 0x20).Store(d0);
            Avx2.Permute2x128(lo, hi, 0x31).Store(d1);
            return;
        }
        Vector256<byte> a2 = Vector256.Create(Vector128.Load(s0 + 2 * n), Vector128.Load(s1 + 2 * n));
        Vector256<byte> a3 = Vector256.Create(Vector128.Load(s0 + 3 * n), Vector128.Load(s1 + 3 * n));
        Vector256<ushort> t0 = Avx2.UnpackLow(a0, a1).AsUInt16(), t1 = Avx2.UnpackHigh(a0, a1).AsUInt16();
        Vector256<ushort> t2 = Avx2.UnpackLow(a2, a3).AsUInt16(), t3 = Avx2.UnpackHigh(a2, a3).AsUInt16();
        Vector256<byte> u0 = Avx2.UnpackLow(t0, t2).AsByte(), u1 = Avx2.UnpackHigh(t0, t2).AsByte();
        Vector256<byte> u2 = Avx2.UnpackLow(t1, t3).AsByte(), u3 = Avx2.UnpackHigh(t1, t3).AsByte();
        Avx2.Permute2x128(u0, u1, 0x20).Store(d0);
        Avx2.Permute2x128(u2, u3, 0x20).Store(d0 + 32);
        Avx2.Permute2x128(u0, u1, 0x31).Store(d1);
        Avx2.Permute2x128(u2, u3, 0x31).Store(d1 + 32);
    }

    private static unsafe void InverseRunScalar(int w, byte* s, nint n, nint count, byte* d)
    {
        if (w == 4)
        {
            for (nint k = 0; k < count; k++)
                Unsafe.WriteUnaligned(d + 4 * k, s[k] | ((uint)s[n + k] << 8) | ((uint)s[2 * n + k] << 16) | ((uint)s[3 * n + k] << 24));
            return;
        }
        for (nint k = 0; k < count; k++)
            for (int j = 0; j < w; j++)
                d[k * w + j] = s[j * n + k];
    }

    /// <summary>One run of at least 16 elements with 16-element vector steps; the last step overlaps the previous one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void InverseRunV128(int w, byte* s, nint n, nint count, byte* d)
    {
        nint k = 0;
        for (; k + 16 <= count; k += 16)
            Kernel16(w, s + k, n, d + k * w);
        if (k < count)
            Kernel16(w, s + count - 16, n, d + (count - 16) * w);
    }

    /// <summary>
    /// Copies <paramref name="length"/> bytes (0 to 128) with at most a few overlapping moves: the first and the last
    /// piece of the largest power-of-two size that fits (no call into a general memmove for a row tail).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void CopySmall(byte* d, byte* s, nint length)
    {
        if (length >= 32)
        {
            for (nint i = 0; i < length - 32; i += 32)
                Vector256.Store(Vector256.Load(s + i), d + i);
            Vector256.Store(Vector256.Load(s + length - 32), d + length - 32);
        }
        else if (length >= 16)
        {
            Vector128<byte> a = Vector128.Load(s), b = Vector128.Load(s + length - 16);
            a.Store(d);
            b.Store(d + length - 16);
        }
        else if (length >= 8)
        {
            ulong a = Unsafe.ReadUnaligned<ulong>(s), b = Unsafe.ReadUnaligned<ulong>(s + length - 8);
            Unsafe.WriteUnaligned(d, a);
            Unsafe.WriteUnaligned(d + length - 8, b);
        }
        else if (length >= 4)
        {
            uint a = Unsafe.ReadUnaligned<uint>(s), b = Unsafe.ReadUnaligned<uint>(s + length - 4);
            Unsafe.WriteUnaligned(d, a);
            Unsafe.WriteUnaligned(d + length - 4, b);
        }
        else if (length >= 2)
        {
            ushort a = Unsafe.ReadUnaligned<ushort>(s), b = Unsafe.ReadUnaligned<ushort>(s + length - 2);
            Unsafe.WriteUnaligned(d, a);
            Unsafe.WriteUnaligned(d + length - 2, b);
        }
        else if (length == 1)
        {
            *d = *s;
        }
    }

    /// <summary>Unshuffles 16 elements (16 bytes from each of the w planes) into 16·w bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Kernel16(int w, byte* s, nint n, byte* d)
    {
        if (w == 4)
        {
            Vector128<byte> a0 = Vector128.Load(s), a1 = Vector128.Load(s + n), a2 = Vector128.Load(s + 2 * n), a3 = Vector128.Load(s + 3 * n);
            Vector128<ushort> t0 = Lo(a0, a1).AsUInt16(), t1 = Hi(a0, a1).AsUInt16(), t2 = Lo(a2, a3).AsUInt16(), t3 = Hi(a2, a3).AsUInt16();
            Lo(t0, t2).AsByte().Store(d);
            Hi(t0, t2).AsByte().Store(d + 16);
            Lo(t1, t3).AsByte().Store(d + 32);
            Hi(t1, t3).AsByte().Store(d + 48);
        }
        else if (w == 2)
        {
            Vector128<byte> a0 = Vector128.Load(s), a1 = Vector128.Load(s + n);
            Lo(a0, a1).Store(d);
            Hi(a0, a1).Store(d + 16);
        }
        else
        {
            Vector128<byte> p0 = Vector128.Load(s), p1 = Vector128.Load(s + n), p2 = Vector128.Load(s + 2 * n), p3 = Vector128.Load(s + 3 * n);
            Vector128<byte> p4 = Vector128.Load(s + 4 * n), p5 = Vector128.Load(s + 5 * n), p6 = Vector128.Load(s + 6 * n), p7 = Vector128.Load(s + 7 * n);
            Vector128<ushort> t0 = Lo(p0, p1).AsUInt16(), t1 = Hi(p0, p1).AsUInt16(), t2 = Lo(p2, p3).AsUInt16(), t3 = Hi(p2, p3).AsUInt16();
            Vector128<ushort> t4 = Lo(p4, p5).AsUInt16(), t5 = Hi(p4, p5).AsUInt16(), t6 = Lo(p6, p7).AsUInt16(), t7 = Hi(p6, p7).AsUInt16();
            Vector128<uint> u0 = Lo(t0, t2).AsUInt32(), u1 = Hi(t0, t2).AsUInt32(), u2 = Lo(t1, t3).AsUInt32(), u3 = Hi(t1, t3).AsUInt32();
            Vector128<uint> u4 = Lo(t4, t6).AsUInt32(), u5 = Hi(t4, t6).AsUInt32(), u6 = Lo(t5, t7).AsUInt32(), u7 = Hi(t5, t7).AsUInt32();
            Lo(u0, u4).AsByte().Store(d);
            Hi(u0, u4).AsByte().Store(d + 16);
            Lo(u1, u5).AsByte().Store(d + 32);
            Hi(u1, u5).AsByte().Store(d + 48);
            Lo(u2, u6).AsByte().Store(d + 64);
            Hi(u2, u6).AsByte().Store(d + 80);
            Lo(u3, u7).AsByte().Store(d + 96);
            Hi(u3, u7).AsByte().Store(d + 112);
        }
    }
}
