using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace MLArray.Blosc2.Filters;

/// <summary>
/// Blosc2 SHUFFLE filter (id 1, spec §7.1): byte transposition of one block.
/// With <c>n = bsize / w</c>, forward is <c>dst[j*n + i] = src[i*w + j]</c> (i &lt; n, j &lt; w); the last
/// <c>bsize % w</c> bytes are copied unchanged. Inverse is <c>dst[i*w + j] = src[j*n + i]</c>.
/// </summary>
/// <remarks>
/// Widths 2, 4 and 8 have AVX2 (256-bit) kernels; widths 2, 4, 8 and 16 have 128-bit kernels
/// (SSSE3 on x86, AdvSimd on ARM64). Other widths and the elements left over after the vector loops use
/// an unrolled scalar loop. Source and destination must not overlap; the destination may be longer than the
/// source (only <c>src.Length</c> bytes are written).
/// </remarks>
[SkipLocalsInit]
internal static partial class Shuffle
{
    /// <summary>Applies the forward byte shuffle to one block.</summary>
    /// <param name="w">Element width in bytes (typesize, or filters_meta when nonzero); must be positive.</param>
    /// <param name="src">The block to shuffle.</param>
    /// <param name="dst">Destination, at least <c>src.Length</c> bytes, not overlapping <paramref name="src"/>.</param>
    public static void Forward(int w, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        Validate(w, src, dst);
        nuint n = (nuint)(src.Length / w);
        if (w == 1 || n <= 1)
        {
            src.CopyTo(dst);
            return;
        }

        ref byte s = ref MemoryMarshal.GetReference(src);
        ref byte d = ref MemoryMarshal.GetReference(dst);
        nuint i = 0;
        switch (w)
        {
            case 2:
                if (Avx2.IsSupported) i = Forward2Avx2(ref s, ref d, n);
                if (IsV128Supported) i = Forward2V128(ref s, ref d, n, i);
                break;
            case 4:
                if (Avx2.IsSupported) i = Forward4Avx2(ref s, ref d, n);
                if (IsV128Supported) i = Forward4V128(ref s, ref d, n, i);
                break;
            case 8:
                if (Avx2.IsSupported) i = Forward8Avx2(ref s, ref d, n);
                if (IsV128Supported) i = Forward8V128(ref s, ref d, n, i);
                break;
            case 16:
                if (IsV128Supported) i = Transpose16V128(ref s, 16, ref d, n, n, forward: true);
                break;
        }

        ForwardTail(w, ref s, ref d, n, i);
        CopyRemainder(w, src, dst);
    }

    /// <summary>Undoes the byte shuffle of one block.</summary>
    /// <param name="w">Element width in bytes (typesize, or filters_meta when nonzero); must be positive.</param>
    /// <param name="src">The shuffled block.</param>
    /// <param name="dst">Destination, at least <c>src.Length</c> bytes, not overlapping <paramref name="src"/>.</param>
    public static void Inverse(int w, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        Validate(w, src, dst);
        nuint n = (nuint)(src.Length / w);
        if (w == 1 || n <= 1)
        {
            src.CopyTo(dst);
            return;
        }

        ref byte s = ref MemoryMarshal.GetReference(src);
        ref byte d = ref MemoryMarshal.GetReference(dst);
        nuint i = 0;
        switch (w)
        {
            case 2:
                if (Avx2.IsSupported) i = Inverse2Avx2(ref s, ref d, n);
                if (IsV128Supported) i = Inverse2V128(ref s, ref d, n, i);
                break;
            case 4:
                if (Avx2.IsSupported) i = Inverse4Avx2(ref s, ref d, n);
                if (IsV128Supported) i = Inverse4V128(ref s, ref d, n, i);
                break;
            case 8:
                if (Avx2.IsSupported) i = Inverse8Avx2(ref s, ref d, n);
                if (IsV128Supported) i = Inverse8V128(ref s, ref d, n, i);
                break;
            case 16:
                if (IsV128Supported) i = Transpose16V128(ref s, n, ref d, 16, n, forward: false);
                break;
        }

        InverseTail(w, ref s, ref d, n, i);
        CopyRemainder(w, src, dst);
    }

    /// <summary>Reference forward shuffle: the spec formula as plain loops (test oracle, no intrinsics).</summary>
    /// <param name="w">Element width in bytes; must be positive.</param>
    /// <param name="src">The block to shuffle.</param>
    /// <param name="dst">Destination, at least <c>src.Length</c> bytes.</param>
    internal static void ForwardScalar(int w, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        Validate(w, src, dst);
        int n = src.Length / w;
        for (int j = 0; j < w; j++)
        {
            for (int i = 0; i < n; i++)
            {
                dst[j * n + i] = src[i * w + j];
            }
        }

        CopyRemainder(w, src, dst);
    }

    /// <summary>Reference inverse shuffle: the spec formula as plain loops (test oracle, no intrinsics).</summary>
    /// <param name="w">Element width in bytes; must be positive.</param>
    /// <param name="src">The shuffled block.</param>
    /// <param name="dst">Destination, at least <c>src.Length</c> bytes.</param>
    internal static void InverseScalar(int w, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        Validate(w, src, dst);
        int n = src.Length / w;
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < w; j++)
            {
                dst[i * w + j] = src[j * n + i];
            }
        }

        CopyRemainder(w, src, dst);
    }

    private static void Validate(int w, ReadOnlySpan<byte> src, ReadOnlySpan<byte> dst)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(w, 1);
        if (dst.Length < src.Length)
        {
            throw new ArgumentException("Destination is shorter than the source.", nameof(dst));
        }

        if (src.Overlaps(dst))
        {
            throw new ArgumentException("Source and destination must not overlap.", nameof(dst));
        }
    }

    private static void CopyRemainder(int w, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        int body = src.Length - src.Length % w;
        src[body..].CopyTo(dst[body..]);
    }

    /// <summary>Forward shuffle of elements [start, n) with unrolled scalar loops (any width).</summary>
    private static void ForwardTail(int w, ref byte s, ref byte d, nuint n, nuint start)
    {
        if (start >= n)
        {
            return;
        }

        nuint uw = (nuint)w;
        for (nuint j = 0; j < uw; j++)
        {
            ref byte sj = ref Unsafe.Add(ref s, j);
            ref byte dj = ref Unsafe.Add(ref d, j * n);
            nuint i = start;
            for (; i + 4 <= n; i += 4)
            {
                byte b0 = Unsafe.Add(ref sj, i * uw);
                byte b1 = Unsafe.Add(ref sj, (i + 1) * uw);
                byte b2 = Unsafe.Add(ref sj, (i + 2) * uw);
                byte b3 = Unsafe.Add(ref sj, (i + 3) * uw);
                Unsafe.Add(ref dj, i) = b0;
                Unsafe.Add(ref dj, i + 1) = b1;
                Unsafe.Add(ref dj, i + 2) = b2;
                Unsafe.Add(ref dj, i + 3) = b3;
            }

            for (; i < n; i++)
            {
                Unsafe.Add(ref dj, i) = Unsafe.Add(ref sj, i * uw);
            }
        }
    }

    /// <summary>Inverse shuffle of elements [start, n) with unrolled scalar loops (any width).</summary>
    private static void InverseTail(int w, ref byte s, ref byte d, nuint n, nuint start)
    {
        if (start >= n)
        {
            return;
        }

        nuint uw = (nuint)w;
        for (nuint j = 0; j < uw; j++)
        {
            ref byte sj = ref Unsafe.Add(ref s, j * n);
            ref byte dj = ref Unsafe.Add(ref d, j);
            nuint i = start;
            for (; i + 4 <= n; i += 4)
            {
                byte b0 = Unsafe.Add(ref sj, i);
                byte b1 = Unsafe.Add(ref sj, i + 1);
                byte b2 = Unsafe.Add(ref sj, i + 2);
                byte b3 = Unsafe.Add(ref sj, i + 3);
                Unsafe.Add(ref dj, i * uw) = b0;
                Unsafe.Add(ref dj, (i + 1) * uw) = b1;
                Unsafe.Add(ref dj, (i + 2) * uw) = b2;
                Unsafe.Add(ref dj, (i + 3) * uw) = b3;
            }

            for (; i < n; i++)
            {
                Unsafe.Add(ref dj, i * uw) = Unsafe.Add(ref sj, i);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------
    // AVX2 kernels: 32 elements per iteration. Return the number of elements processed.
    // vpunpck*/vpshufb work within 128-bit lanes; vperm2i128 / vpermd / vpermq fix the lane order.
    // ------------------------------------------------------------------------------------------------

    private static nuint Forward2Avx2(ref byte s, ref byte d, nuint n)
    {
        // Per lane: even bytes (byte 0 of 8 elements) then odd bytes (byte 1).
        Vector256<byte> mask = Vector256.Create(
            (byte)0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
            0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
        nuint i = 0;
        for (; i + 32 <= n; i += 32)
        {
            Vector256<byte> a = Avx2.Shuffle(Vector256.LoadUnsafe(ref s, 2 * i), mask);
            Vector256<byte> b = Avx2.Shuffle(Vector256.LoadUnsafe(ref s, 2 * i + 32), mask);
            // qwords [p0(0..7), p1(0..7), p0(8..15), p1(8..15)] -> [p0(0..15) | p1(0..15)]
            a = Avx2.Permute4x64(a.AsUInt64(), 0xD8).AsByte();
            b = Avx2.Permute4x64(b.AsUInt64(), 0xD8).AsByte();
            Avx2.Permute2x128(a, b, 0x20).StoreUnsafe(ref d, i);
            Avx2.Permute2x128(a, b, 0x31).StoreUnsafe(ref d, n + i);
        }

        return i;
    }

    private static nuint Forward4Avx2(ref byte s, ref byte d, nuint n)
    {
        // Per lane: 4x4 byte transpose -> dword j = byte j of the lane's 4 elements.
        Vector256<byte> mask = Vector256.Create(
            (byte)0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
            0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        Vector256<int> perm = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
        nuint i = 0;
        for (; i + 32 <= n; i += 32)
        {
            ref byte si = ref Unsafe.Add(ref s, 4 * i);
            // After the two permutes, qword j of v_k = byte plane j of the 8 elements of v_k.
            Vector256<ulong> v0 = Avx2.PermuteVar8x32(Avx2.Shuffle(Vector256.LoadUnsafe(ref si), mask).AsInt32(), perm).AsUInt64();
            Vector256<ulong> v1 = Avx2.PermuteVar8x32(Avx2.Shuffle(Vector256.LoadUnsafe(ref si, 32), mask).AsInt32(), perm).AsUInt64();
            Vector256<ulong> v2 = Avx2.PermuteVar8x32(Avx2.Shuffle(Vector256.LoadUnsafe(ref si, 64), mask).AsInt32(), perm).AsUInt64();
            Vector256<ulong> v3 = Avx2.PermuteVar8x32(Avx2.Shuffle(Vector256.LoadUnsafe(ref si, 96), mask).AsInt32(), perm).AsUInt64();
            Vector256<byte> lo01 = Avx2.UnpackLow(v0, v1).AsByte();   // [q0 q0 | q2 q2]
            Vector256<byte> hi01 = Avx2.UnpackHigh(v0, v1).AsByte();  // [q1 q1 | q3 q3]
            Vector256<byte> lo23 = Avx2.UnpackLow(v2, v3).AsByte();
            Vector256<byte> hi23 = Avx2.UnpackHigh(v2, v3).AsByte();
            Avx2.Permute2x128(lo01, lo23, 0x20).StoreUnsafe(ref d, i);
            Avx2.Permute2x128(hi01, hi23, 0x20).StoreUnsafe(ref d, n + i);
            Avx2.Permute2x128(lo01, lo23, 0x31).StoreUnsafe(ref d, 2 * n + i);
            Avx2.Permute2x128(hi01, hi23, 0x31).StoreUnsafe(ref d, 3 * n + i);
        }

        return i;
    }

    private static nuint Forward8Avx2(ref byte s, ref byte d, nuint n)
    {
        Vector256<int> perm = Vector256.Create(0, 2, 4, 6, 1, 3, 5, 7);
        Vector256<byte> mask = Vector256.Create(
            (byte)0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
            0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        nuint i = 0;
        for (; i + 32 <= n; i += 32)
        {
            ref byte si = ref Unsafe.Add(ref s, 8 * i);
            // v_k holds elements 4k..4k+3; afterwards dword j of v_k = byte plane j of those 4 elements.
            Vector256<uint> v0 = Prep8(Vector256.LoadUnsafe(ref si), perm, mask);
            Vector256<uint> v1 = Prep8(Vector256.LoadUnsafe(ref si, 32), perm, mask);
            Vector256<uint> v2 = Prep8(Vector256.LoadUnsafe(ref si, 64), perm, mask);
            Vector256<uint> v3 = Prep8(Vector256.LoadUnsafe(ref si, 96), perm, mask);
            Vector256<uint> v4 = Prep8(Vector256.LoadUnsafe(ref si, 128), perm, mask);
            Vector256<uint> v5 = Prep8(Vector256.LoadUnsafe(ref si, 160), perm, mask);
            Vector256<uint> v6 = Prep8(Vector256.LoadUnsafe(ref si, 192), perm, mask);
            Vector256<uint> v7 = Prep8(Vector256.LoadUnsafe(ref si, 224), perm, mask);

            // 8x8 dword transpose.
            Vector256<ulong> t0 = Avx2.UnpackLow(v0, v1).AsUInt64();
            Vector256<ulong> t1 = Avx2.UnpackHigh(v0, v1).AsUInt64();
            Vector256<ulong> t2 = Avx2.UnpackLow(v2, v3).AsUInt64();
            Vector256<ulong> t3 = Avx2.UnpackHigh(v2, v3).AsUInt64();
            Vector256<ulong> t4 = Avx2.UnpackLow(v4, v5).AsUInt64();
            Vector256<ulong> t5 = Avx2.UnpackHigh(v4, v5).AsUInt64();
            Vector256<ulong> t6 = Avx2.UnpackLow(v6, v7).AsUInt64();
            Vector256<ulong> t7 = Avx2.UnpackHigh(v6, v7).AsUInt64();
            Vector256<byte> s0 = Avx2.UnpackLow(t0, t2).AsByte();
            Vector256<byte> s1 = Avx2.UnpackHigh(t0, t2).AsByte();
            Vector256<byte> s2 = Avx2.UnpackLow(t1, t3).AsByte();
            Vector256<byte> s3 = Avx2.UnpackHigh(t1, t3).AsByte();
            Vector256<byte> s4 = Avx2.UnpackLow(t4, t6).AsByte();
            Vector256<byte> s5 = Avx2.UnpackHigh(t4, t6).AsByte();
            Vector256<byte> s6 = Avx2.UnpackLow(t5, t7).AsByte();
            Vector256<byte> s7 = Avx2.UnpackHigh(t5, t7).AsByte();
            Avx2.Permute2x128(s0, s4, 0x20).StoreUnsafe(ref d, i);
            Avx2.Permute2x128(s1, s5, 0x20).StoreUnsafe(ref d, n + i);
            Avx2.Permute2x128(s2, s6, 0x20).StoreUnsafe(ref d, 2 * n + i);
            Avx2.Permute2x128(s3, s7, 0x20).StoreUnsafe(ref d, 3 * n + i);
            Avx2.Permute2x128(s0, s4, 0x31).StoreUnsafe(ref d, 4 * n + i);
            Avx2.Permute2x128(s1, s5, 0x31).StoreUnsafe(ref d, 5 * n + i);
            Avx2.Permute2x128(s2, s6, 0x31).StoreUnsafe(ref d, 6 * n + i);
            Avx2.Permute2x128(s3, s7, 0x31).StoreUnsafe(ref d, 7 * n + i);
        }

        return i;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Prep8(Vector256<byte> v, Vector256<int> perm, Vector256<byte> mask)
    {
        // Gather the low halves (bytes 0..3) of the 4 elements into lane 0 and the high halves into lane 1,
        // then 4x4-transpose each lane: dword j = byte j of the 4 elements.
        return Avx2.Shuffle(Avx2.PermuteVar8x32(v.AsInt32(), perm).AsByte(), mask).AsUInt32();
    }

    private static nuint Inverse2Avx2(ref byte s, ref byte d, nuint n)
    {
        nuint i = 0;
        for (; i + 32 <= n; i += 32)
        {
            Vector256<byte> p0 = Vector256.LoadUnsafe(ref s, i);
            Vector256<byte> p1 = Vector256.LoadUnsafe(ref s, n + i);
            Vector256<byte> t0 = Avx2.UnpackLow(p0, p1);   // elements 0..7 | 16..23
            Vector256<byte> t1 = Avx2.UnpackHigh(p0, p1);  // elements 8..15 | 24..31
            ref byte di = ref Unsafe.Add(ref d, 2 * i);
            Avx2.Permute2x128(t0, t1, 0x20).StoreUnsafe(ref di);
            Avx2.Permute2x128(t0, t1, 0x31).StoreUnsafe(ref di, 32);
        }

        return i;
    }

    private static nuint Inverse4Avx2(ref byte s, ref byte d, nuint n)
    {
        nuint i = 0;
        for (; i + 32 <= n; i += 32)
        {
            Vector256<byte> a0 = Vector256.LoadUnsafe(ref s, i);
            Vector256<byte> a1 = Vector256.LoadUnsafe(ref s, n + i);
            Vector256<byte> a2 = Vector256.LoadUnsafe(ref s, 2 * n + i);
            Vector256<byte> a3 = Vector256.LoadUnsafe(ref s, 3 * n + i);
            Vector256<ushort> t0 = Avx2.UnpackLow(a0, a1).AsUInt16();   // e0..7   | e16..23 (bytes 0,1)
            Vector256<ushort> t1 = Avx2.UnpackHigh(a0, a1).AsUInt16();  // e8..15  | e24..31
            Vector256<ushort> t2 = Avx2.UnpackLow(a2, a3).AsUInt16();   // bytes 2,3
            Vector256<ushort> t3 = Avx2.UnpackHigh(a2, a3).AsUInt16();
            Vector256<byte> u0 = Avx2.UnpackLow(t0, t2).AsByte();       // e0..3   | e16..19
            Vector256<byte> u1 = Avx2.UnpackHigh(t0, t2).AsByte();      // e4..7   | e20..23
            Vector256<byte> u2 = Avx2.UnpackLow(t1, t3).AsByte();       // e8..11  | e24..27
            Vector256<byte> u3 = Avx2.UnpackHigh(t1, t3).AsByte();      // e12..15 | e28..31
            ref byte di = ref Unsafe.Add(ref d, 4 * i);
            Avx2.Permute2x128(u0, u1, 0x20).StoreUnsafe(ref di);
            Avx2.Permute2x128(u2, u3, 0x20).StoreUnsafe(ref di, 32);
            Avx2.Permute2x128(u0, u1, 0x31).StoreUnsafe(ref di, 64);
            Avx2.Permute2x128(u2, u3, 0x31).StoreUnsafe(ref di, 96);
        }

        return i;
    }

    private static nuint Inverse8Avx2(ref byte s, ref byte d, nuint n)
    {
        nuint i = 0;
        for (; i + 32 <= n; i += 32)
        {
            ref byte si = ref Unsafe.Add(ref s, i);
            Vector256<byte> p0 = Vector256.LoadUnsafe(ref si);
            Vector256<byte> p1 = Vector256.LoadUnsafe(ref si, n);
            Vector256<byte> p2 = Vector256.LoadUnsafe(ref si, 2 * n);
            Vector256<byte> p3 = Vector256.LoadUnsafe(ref si, 3 * n);
            Vector256<byte> p4 = Vector256.LoadUnsafe(ref si, 4 * n);
            Vector256<byte> p5 = Vector256.LoadUnsafe(ref si, 5 * n);
            Vector256<byte> p6 = Vector256.LoadUnsafe(ref si, 6 * n);
            Vector256<byte> p7 = Vector256.LoadUnsafe(ref si, 7 * n);
            Vector256<ushort> t0 = Avx2.UnpackLow(p0, p1).AsUInt16();
            Vector256<ushort> t1 = Avx2.UnpackHigh(p0, p1).AsUInt16();
            Vector256<ushort> t2 = Avx2.UnpackLow(p2, p3).AsUInt16();
            Vector256<ushort> t3 = Avx2.UnpackHigh(p2, p3).AsUInt16();
            Vector256<ushort> t4 = Avx2.UnpackLow(p4, p5).AsUInt16();
            Vector256<ushort> t5 = Avx2.UnpackHigh(p4, p5).AsUInt16();
            Vector256<ushort> t6 = Avx2.UnpackLow(p6, p7).AsUInt16();
            Vector256<ushort> t7 = Avx2.UnpackHigh(p6, p7).AsUInt16();
            Vector256<uint> u0 = Avx2.UnpackLow(t0, t2).AsUInt32();    // bytes 0..3 of e0..3   | e16..19
            Vector256<uint> u1 = Avx2.UnpackHigh(t0, t2).AsUInt32();   // e4..7   | e20..23
            Vector256<uint> u2 = Avx2.UnpackLow(t1, t3).AsUInt32();    // e8..11  | e24..27
            Vector256<uint> u3 = Avx2.UnpackHigh(t1, t3).AsUInt32();   // e12..15 | e28..31
            Vector256<uint> u4 = Avx2.UnpackLow(t4, t6).AsUInt32();    // bytes 4..7, same elements
            Vector256<uint> u5 = Avx2.UnpackHigh(t4, t6).AsUInt32();
            Vector256<uint> u6 = Avx2.UnpackLow(t5, t7).AsUInt32();
            Vector256<uint> u7 = Avx2.UnpackHigh(t5, t7).AsUInt32();
            Vector256<byte> w0 = Avx2.UnpackLow(u0, u4).AsByte();      // e0,1   | e16,17
            Vector256<byte> w1 = Avx2.UnpackHigh(u0, u4).AsByte();     // e2,3   | e18,19
            Vector256<byte> w2 = Avx2.UnpackLow(u1, u5).AsByte();      // e4,5   | e20,21
            Vector256<byte> w3 = Avx2.UnpackHigh(u1, u5).AsByte();     // e6,7   | e22,23
            Vector256<byte> w4 = Avx2.UnpackLow(u2, u6).AsByte();      // e8,9   | e24,25
            Vector256<byte> w5 = Avx2.UnpackHigh(u2, u6).AsByte();     // e10,11 | e26,27
            Vector256<byte> w6 = Avx2.UnpackLow(u3, u7).AsByte();      // e12,13 | e28,29
            Vector256<byte> w7 = Avx2.UnpackHigh(u3, u7).AsByte();     // e14,15 | e30,31
            ref byte di = ref Unsafe.Add(ref d, 8 * i);
            Avx2.Permute2x128(w0, w1, 0x20).StoreUnsafe(ref di);
            Avx2.Permute2x128(w2, w3, 0x20).StoreUnsafe(ref di, 32);
            Avx2.Permute2x128(w4, w5, 0x20).StoreUnsafe(ref di, 64);
            Avx2.Permute2x128(w6, w7, 0x20).StoreUnsafe(ref di, 96);
            Avx2.Permute2x128(w0, w1, 0x31).StoreUnsafe(ref di, 128);
            Avx2.Permute2x128(w2, w3, 0x31).StoreUnsafe(ref di, 160);
            Avx2.Permute2x128(w4, w5, 0x31).StoreUnsafe(ref di, 192);
            Avx2.Permute2x128(w6, w7, 0x31).StoreUnsafe(ref di, 224);
        }

        return i;
    }

    // ------------------------------------------------------------------------------------------------
    // 128-bit kernels (SSSE3 / ARM64 AdvSimd): 16 elements per iteration, starting at element `i`.
    // ------------------------------------------------------------------------------------------------

    /// <summary>True when the 128-bit kernels can run (byte shuffle and interleave instructions available).</summary>
    private static bool IsV128Supported => Ssse3.IsSupported || AdvSimd.Arm64.IsSupported;

    private static nuint Forward2V128(ref byte s, ref byte d, nuint n, nuint i)
    {
        Vector128<byte> mask = Vector128.Create((byte)0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
        for (; i + 16 <= n; i += 16)
        {
            Vector128<ulong> a = Pshufb(Vector128.LoadUnsafe(ref s, 2 * i), mask).AsUInt64();
            Vector128<ulong> b = Pshufb(Vector128.LoadUnsafe(ref s, 2 * i + 16), mask).AsUInt64();
            Lo(a, b).AsByte().StoreUnsafe(ref d, i);
            Hi(a, b).AsByte().StoreUnsafe(ref d, n + i);
        }

        return i;
    }

    private static nuint Forward4V128(ref byte s, ref byte d, nuint n, nuint i)
    {
        Vector128<byte> mask = Vector128.Create((byte)0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        for (; i + 16 <= n; i += 16)
        {
            ref byte si = ref Unsafe.Add(ref s, 4 * i);
            Vector128<uint> v0 = Pshufb(Vector128.LoadUnsafe(ref si), mask).AsUInt32();
            Vector128<uint> v1 = Pshufb(Vector128.LoadUnsafe(ref si, 16), mask).AsUInt32();
            Vector128<uint> v2 = Pshufb(Vector128.LoadUnsafe(ref si, 32), mask).AsUInt32();
            Vector128<uint> v3 = Pshufb(Vector128.LoadUnsafe(ref si, 48), mask).AsUInt32();
            Vector128<ulong> t0 = Lo(v0, v1).AsUInt64();
            Vector128<ulong> t1 = Hi(v0, v1).AsUInt64();
            Vector128<ulong> t2 = Lo(v2, v3).AsUInt64();
            Vector128<ulong> t3 = Hi(v2, v3).AsUInt64();
            Lo(t0, t2).AsByte().StoreUnsafe(ref d, i);
            Hi(t0, t2).AsByte().StoreUnsafe(ref d, n + i);
            Lo(t1, t3).AsByte().StoreUnsafe(ref d, 2 * n + i);
            Hi(t1, t3).AsByte().StoreUnsafe(ref d, 3 * n + i);
        }

        return i;
    }

    private static nuint Forward8V128(ref byte s, ref byte d, nuint n, nuint i)
    {
        // Per vector (2 elements): word j = byte j of both elements.
        Vector128<byte> mask = Vector128.Create((byte)0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
        for (; i + 16 <= n; i += 16)
        {
            ref byte si = ref Unsafe.Add(ref s, 8 * i);
            Vector128<ushort> v0 = Pshufb(Vector128.LoadUnsafe(ref si), mask).AsUInt16();
            Vector128<ushort> v1 = Pshufb(Vector128.LoadUnsafe(ref si, 16), mask).AsUInt16();
            Vector128<ushort> v2 = Pshufb(Vector128.LoadUnsafe(ref si, 32), mask).AsUInt16();
            Vector128<ushort> v3 = Pshufb(Vector128.LoadUnsafe(ref si, 48), mask).AsUInt16();
            Vector128<ushort> v4 = Pshufb(Vector128.LoadUnsafe(ref si, 64), mask).AsUInt16();
            Vector128<ushort> v5 = Pshufb(Vector128.LoadUnsafe(ref si, 80), mask).AsUInt16();
            Vector128<ushort> v6 = Pshufb(Vector128.LoadUnsafe(ref si, 96), mask).AsUInt16();
            Vector128<ushort> v7 = Pshufb(Vector128.LoadUnsafe(ref si, 112), mask).AsUInt16();
            Vector128<uint> t0 = Lo(v0, v1).AsUInt32();
            Vector128<uint> t1 = Hi(v0, v1).AsUInt32();
            Vector128<uint> t2 = Lo(v2, v3).AsUInt32();
            Vector128<uint> t3 = Hi(v2, v3).AsUInt32();
            Vector128<uint> t4 = Lo(v4, v5).AsUInt32();
            Vector128<uint> t5 = Hi(v4, v5).AsUInt32();
            Vector128<uint> t6 = Lo(v6, v7).AsUInt32();
            Vector128<uint> t7 = Hi(v6, v7).AsUInt32();
            Vector128<ulong> u0 = Lo(t0, t2).AsUInt64();   // planes 0,1 of elements 0..3
            Vector128<ulong> u1 = Hi(t0, t2).AsUInt64();   // planes 2,3
            Vector128<ulong> u2 = Lo(t1, t3).AsUInt64();   // planes 4,5
            Vector128<ulong> u3 = Hi(t1, t3).AsUInt64();   // planes 6,7
            Vector128<ulong> u4 = Lo(t4, t6).AsUInt64();   // same for elements 4..7
            Vector128<ulong> u5 = Hi(t4, t6).AsUInt64();
            Vector128<ulong> u6 = Lo(t5, t7).AsUInt64();
            Vector128<ulong> u7 = Hi(t5, t7).AsUInt64();
            Lo(u0, u4).AsByte().StoreUnsafe(ref d, i);
            Hi(u0, u4).AsByte().StoreUnsafe(ref d, n + i);
            Lo(u1, u5).AsByte().StoreUnsafe(ref d, 2 * n + i);
            Hi(u1, u5).AsByte().StoreUnsafe(ref d, 3 * n + i);
            Lo(u2, u6).AsByte().StoreUnsafe(ref d, 4 * n + i);
            Hi(u2, u6).AsByte().StoreUnsafe(ref d, 5 * n + i);
            Lo(u3, u7).AsByte().StoreUnsafe(ref d, 6 * n + i);
            Hi(u3, u7).AsByte().StoreUnsafe(ref d, 7 * n + i);
        }

        return i;
    }

    private static nuint Inverse2V128(ref byte s, ref byte d, nuint n, nuint i)
    {
        for (; i + 16 <= n; i += 16)
        {
            Vector128<byte> p0 = Vector128.LoadUnsafe(ref s, i);
            Vector128<byte> p1 = Vector128.LoadUnsafe(ref s, n + i);
            ref byte di = ref Unsafe.Add(ref d, 2 * i);
            Lo(p0, p1).StoreUnsafe(ref di);
            Hi(p0, p1).StoreUnsafe(ref di, 16);
        }

        return i;
    }

    private static nuint Inverse4V128(ref byte s, ref byte d, nuint n, nuint i)
    {
        for (; i + 16 <= n; i += 16)
        {
            Vector128<byte> a0 = Vector128.LoadUnsafe(ref s, i);
            Vector128<byte> a1 = Vector128.LoadUnsafe(ref s, n + i);
            Vector128<byte> a2 = Vector128.LoadUnsafe(ref s, 2 * n + i);
            Vector128<byte> a3 = Vector128.LoadUnsafe(ref s, 3 * n + i);
            Vector128<ushort> t0 = Lo(a0, a1).AsUInt16();
            Vector128<ushort> t1 = Hi(a0, a1).AsUInt16();
            Vector128<ushort> t2 = Lo(a2, a3).AsUInt16();
            Vector128<ushort> t3 = Hi(a2, a3).AsUInt16();
            ref byte di = ref Unsafe.Add(ref d, 4 * i);
            Lo(t0, t2).AsByte().StoreUnsafe(ref di);
            Hi(t0, t2).AsByte().StoreUnsafe(ref di, 16);
            Lo(t1, t3).AsByte().StoreUnsafe(ref di, 32);
            Hi(t1, t3).AsByte().StoreUnsafe(ref di, 48);
        }

        return i;
    }

    private static nuint Inverse8V128(ref byte s, ref byte d, nuint n, nuint i)
    {
        for (; i + 16 <= n; i += 16)
        {
            ref byte si = ref Unsafe.Add(ref s, i);
            Vector128<byte> p0 = Vector128.LoadUnsafe(ref si);
            Vector128<byte> p1 = Vector128.LoadUnsafe(ref si, n);
            Vector128<byte> p2 = Vector128.LoadUnsafe(ref si, 2 * n);
            Vector128<byte> p3 = Vector128.LoadUnsafe(ref si, 3 * n);
            Vector128<byte> p4 = Vector128.LoadUnsafe(ref si, 4 * n);
            Vector128<byte> p5 = Vector128.LoadUnsafe(ref si, 5 * n);
            Vector128<byte> p6 = Vector128.LoadUnsafe(ref si, 6 * n);
            Vector128<byte> p7 = Vector128.LoadUnsafe(ref si, 7 * n);
            Vector128<ushort> t0 = Lo(p0, p1).AsUInt16();
            Vector128<ushort> t1 = Hi(p0, p1).AsUInt16();
            Vector128<ushort> t2 = Lo(p2, p3).AsUInt16();
            Vector128<ushort> t3 = Hi(p2, p3).AsUInt16();
            Vector128<ushort> t4 = Lo(p4, p5).AsUInt16();
            Vector128<ushort> t5 = Hi(p4, p5).AsUInt16();
            Vector128<ushort> t6 = Lo(p6, p7).AsUInt16();
            Vector128<ushort> t7 = Hi(p6, p7).AsUInt16();
            Vector128<uint> u0 = Lo(t0, t2).AsUInt32();
            Vector128<uint> u1 = Hi(t0, t2).AsUInt32();
            Vector128<uint> u2 = Lo(t1, t3).AsUInt32();
            Vector128<uint> u3 = Hi(t1, t3).AsUInt32();
            Vector128<uint> u4 = Lo(t4, t6).AsUInt32();
            Vector128<uint> u5 = Hi(t4, t6).AsUInt32();
            Vector128<uint> u6 = Lo(t5, t7).AsUInt32();
            Vector128<uint> u7 = Hi(t5, t7).AsUInt32();
            ref byte di = ref Unsafe.Add(ref d, 8 * i);
            Lo(u0, u4).AsByte().StoreUnsafe(ref di);
            Hi(u0, u4).AsByte().StoreUnsafe(ref di, 16);
            Lo(u1, u5).AsByte().StoreUnsafe(ref di, 32);
            Hi(u1, u5).AsByte().StoreUnsafe(ref di, 48);
            Lo(u2, u6).AsByte().StoreUnsafe(ref di, 64);
            Hi(u2, u6).AsByte().StoreUnsafe(ref di, 80);
            Lo(u3, u7).AsByte().StoreUnsafe(ref di, 96);
            Hi(u3, u7).AsByte().StoreUnsafe(ref di, 112);
        }

        return i;
    }

    /// <summary>
    /// 16x16 byte transposes for w = 16 (forward and inverse are the same operation with different strides).
    /// Forward: row r = element (stride 16), column c = plane c (stride n). Inverse: row r = plane r (stride n),
    /// column c = element c (stride 16). Four interleave rounds leave column c in vector bitreverse4(c).
    /// </summary>
    private static nuint Transpose16V128(ref byte s, nuint rowStride, ref byte d, nuint colStride, nuint n, bool forward)
    {
        nuint i = 0;
        for (; i + 16 <= n; i += 16)
        {
            // Forward: rows are elements i..i+15 at s + 16*i + 16*r; inverse: rows are planes at s + i + n*r.
            ref byte si = ref Unsafe.Add(ref s, forward ? 16 * i : i);
            Vector128<byte> r0 = Vector128.LoadUnsafe(ref si);
            Vector128<byte> r1 = Vector128.LoadUnsafe(ref si, rowStride);
            Vector128<byte> r2 = Vector128.LoadUnsafe(ref si, 2 * rowStride);
            Vector128<byte> r3 = Vector128.LoadUnsafe(ref si, 3 * rowStride);
            Vector128<byte> r4 = Vector128.LoadUnsafe(ref si, 4 * rowStride);
            Vector128<byte> r5 = Vector128.LoadUnsafe(ref si, 5 * rowStride);
            Vector128<byte> r6 = Vector128.LoadUnsafe(ref si, 6 * rowStride);
            Vector128<byte> r7 = Vector128.LoadUnsafe(ref si, 7 * rowStride);
            Vector128<byte> r8 = Vector128.LoadUnsafe(ref si, 8 * rowStride);
            Vector128<byte> r9 = Vector128.LoadUnsafe(ref si, 9 * rowStride);
            Vector128<byte> r10 = Vector128.LoadUnsafe(ref si, 10 * rowStride);
            Vector128<byte> r11 = Vector128.LoadUnsafe(ref si, 11 * rowStride);
            Vector128<byte> r12 = Vector128.LoadUnsafe(ref si, 12 * rowStride);
            Vector128<byte> r13 = Vector128.LoadUnsafe(ref si, 13 * rowStride);
            Vector128<byte> r14 = Vector128.LoadUnsafe(ref si, 14 * rowStride);
            Vector128<byte> r15 = Vector128.LoadUnsafe(ref si, 15 * rowStride);

            // Round 1 (bytes): b[k] = lo(r[2k], r[2k+1]), b[k+8] = hi(...).
            Vector128<ushort> b0 = Lo(r0, r1).AsUInt16(), b8 = Hi(r0, r1).AsUInt16();
            Vector128<ushort> b1 = Lo(r2, r3).AsUInt16(), b9 = Hi(r2, r3).AsUInt16();
            Vector128<ushort> b2 = Lo(r4, r5).AsUInt16(), b10 = Hi(r4, r5).AsUInt16();
            Vector128<ushort> b3 = Lo(r6, r7).AsUInt16(), b11 = Hi(r6, r7).AsUInt16();
            Vector128<ushort> b4 = Lo(r8, r9).AsUInt16(), b12 = Hi(r8, r9).AsUInt16();
            Vector128<ushort> b5 = Lo(r10, r11).AsUInt16(), b13 = Hi(r10, r11).AsUInt16();
            Vector128<ushort> b6 = Lo(r12, r13).AsUInt16(), b14 = Hi(r12, r13).AsUInt16();
            Vector128<ushort> b7 = Lo(r14, r15).AsUInt16(), b15 = Hi(r14, r15).AsUInt16();

            // Round 2 (words).
            Vector128<uint> c0 = Lo(b0, b1).AsUInt32(), c8 = Hi(b0, b1).AsUInt32();
            Vector128<uint> c1 = Lo(b2, b3).AsUInt32(), c9 = Hi(b2, b3).AsUInt32();
            Vector128<uint> c2 = Lo(b4, b5).AsUInt32(), c10 = Hi(b4, b5).AsUInt32();
            Vector128<uint> c3 = Lo(b6, b7).AsUInt32(), c11 = Hi(b6, b7).AsUInt32();
            Vector128<uint> c4 = Lo(b8, b9).AsUInt32(), c12 = Hi(b8, b9).AsUInt32();
            Vector128<uint> c5 = Lo(b10, b11).AsUInt32(), c13 = Hi(b10, b11).AsUInt32();
            Vector128<uint> c6 = Lo(b12, b13).AsUInt32(), c14 = Hi(b12, b13).AsUInt32();
            Vector128<uint> c7 = Lo(b14, b15).AsUInt32(), c15 = Hi(b14, b15).AsUInt32();

            // Round 3 (dwords).
            Vector128<ulong> e0 = Lo(c0, c1).AsUInt64(), e8 = Hi(c0, c1).AsUInt64();
            Vector128<ulong> e1 = Lo(c2, c3).AsUInt64(), e9 = Hi(c2, c3).AsUInt64();
            Vector128<ulong> e2 = Lo(c4, c5).AsUInt64(), e10 = Hi(c4, c5).AsUInt64();
            Vector128<ulong> e3 = Lo(c6, c7).AsUInt64(), e11 = Hi(c6, c7).AsUInt64();
            Vector128<ulong> e4 = Lo(c8, c9).AsUInt64(), e12 = Hi(c8, c9).AsUInt64();
            Vector128<ulong> e5 = Lo(c10, c11).AsUInt64(), e13 = Hi(c10, c11).AsUInt64();
            Vector128<ulong> e6 = Lo(c12, c13).AsUInt64(), e14 = Hi(c12, c13).AsUInt64();
            Vector128<ulong> e7 = Lo(c14, c15).AsUInt64(), e15 = Hi(c14, c15).AsUInt64();

            // Round 4 (qwords): f[k] = lo(e[2k], e[2k+1]), f[k+8] = hi(...); column c is f[bitreverse4(c)].
            ref byte di = ref Unsafe.Add(ref d, forward ? i : 16 * i);
            Lo(e0, e1).AsByte().StoreUnsafe(ref di, 0 * colStride);    // f0  = column 0
            Lo(e2, e3).AsByte().StoreUnsafe(ref di, 8 * colStride);    // f1  = column 8
            Lo(e4, e5).AsByte().StoreUnsafe(ref di, 4 * colStride);    // f2  = column 4
            Lo(e6, e7).AsByte().StoreUnsafe(ref di, 12 * colStride);   // f3  = column 12
            Lo(e8, e9).AsByte().StoreUnsafe(ref di, 2 * colStride);    // f4  = column 2
            Lo(e10, e11).AsByte().StoreUnsafe(ref di, 10 * colStride); // f5  = column 10
            Lo(e12, e13).AsByte().StoreUnsafe(ref di, 6 * colStride);  // f6  = column 6
            Lo(e14, e15).AsByte().StoreUnsafe(ref di, 14 * colStride); // f7  = column 14
            Hi(e0, e1).AsByte().StoreUnsafe(ref di, 1 * colStride);    // f8  = column 1
            Hi(e2, e3).AsByte().StoreUnsafe(ref di, 9 * colStride);    // f9  = column 9
            Hi(e4, e5).AsByte().StoreUnsafe(ref di, 5 * colStride);    // f10 = column 5
            Hi(e6, e7).AsByte().StoreUnsafe(ref di, 13 * colStride);   // f11 = column 13
            Hi(e8, e9).AsByte().StoreUnsafe(ref di, 3 * colStride);    // f12 = column 3
            Hi(e10, e11).AsByte().StoreUnsafe(ref di, 11 * colStride); // f13 = column 11
            Hi(e12, e13).AsByte().StoreUnsafe(ref di, 7 * colStride);  // f14 = column 7
            Hi(e14, e15).AsByte().StoreUnsafe(ref di, 15 * colStride); // f15 = column 15
        }

        return i;
    }

    // Interleave helpers (punpckl*/punpckh* on x86, zip1/zip2 on ARM64).

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Pshufb(Vector128<byte> v, Vector128<byte> mask) =>
        Ssse3.IsSupported ? Ssse3.Shuffle(v, mask) : AdvSimd.Arm64.VectorTableLookup(v, mask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Lo(Vector128<byte> a, Vector128<byte> b) =>
        Sse2.IsSupported ? Sse2.UnpackLow(a, b) : AdvSimd.Arm64.ZipLow(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Hi(Vector128<byte> a, Vector128<byte> b) =>
        Sse2.IsSupported ? Sse2.UnpackHigh(a, b) : AdvSimd.Arm64.ZipHigh(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ushort> Lo(Vector128<ushort> a, Vector128<ushort> b) =>
        Sse2.IsSupported ? Sse2.UnpackLow(a, b) : AdvSimd.Arm64.ZipLow(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ushort> Hi(Vector128<ushort> a, Vector128<ushort> b) =>
        Sse2.IsSupported ? Sse2.UnpackHigh(a, b) : AdvSimd.Arm64.ZipHigh(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> Lo(Vector128<uint> a, Vector128<uint> b) =>
        Sse2.IsSupported ? Sse2.UnpackLow(a, b) : AdvSimd.Arm64.ZipLow(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> Hi(Vector128<uint> a, Vector128<uint> b) =>
        Sse2.IsSupported ? Sse2.UnpackHigh(a, b) : AdvSimd.Arm64.ZipHigh(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> Lo(Vector128<ulong> a, Vector128<ulong> b) =>
        Sse2.IsSupported ? Sse2.UnpackLow(a, b) : AdvSimd.Arm64.ZipLow(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> Hi(Vector128<ulong> a, Vector128<ulong> b) =>
        Sse2.IsSupported ? Sse2.UnpackHigh(a, b) : AdvSimd.Arm64.ZipHigh(a, b);
}
