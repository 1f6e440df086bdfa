using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace MLArray.Blosc2.Filters;

/// <summary>
/// Blosc2 BITSHUFFLE filter (id 2, spec §7.2) for one block (header version ≥ 3 semantics).
/// With <c>w = typesize</c>, <c>n = bsize / w</c> and <c>m = n - n % 8</c>, the first <c>m*w</c> bytes form
/// <c>8*w</c> bit rows of <c>m/8</c> bytes: row <c>r = 8*j + k</c> holds bit k of byte j of every element,
/// element i at row byte <c>i / 8</c>, bit <c>i % 8</c> (LSB first). Bytes <c>[m*w, bsize)</c> are copied unchanged.
/// </summary>
/// <remarks>
/// Implementation: the elements are processed in strips; each strip is byte-shuffled with
/// <see cref="Shuffle"/> into a small scratch buffer (skipped for w = 1), then every byte plane is bit-transposed
/// (forward: AVX2/SSE2 <c>movemask</c> per bit; inverse: gather 8 row words, byte transpose and an 8x8 bit
/// transpose with shifts on 64-bit lanes). Source and destination must not overlap; the destination may be
/// longer than the source (only <c>src.Length</c> bytes are written).
/// </remarks>
[SkipLocalsInit]
internal static class BitShuffle
{
    /// <summary>Scratch size for one strip of byte-shuffled elements.</summary>
    private const int StripBytes = 8192;

    /// <summary>Applies the forward bit shuffle to one block.</summary>
    /// <param name="typesize">Element size in bytes; must be positive.</param>
    /// <param name="src">The block to shuffle.</param>
    /// <param name="dst">Destination, at least <c>src.Length</c> bytes, not overlapping <paramref name="src"/>.</param>
    public static void Forward(int typesize, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        Validate(typesize, src, dst);
        int w = typesize;
        int m = (src.Length / w) & ~7;
        int body = m * w;
        if (m > 0)
        {
            int rowBytes = m / 8;
            ref byte d = ref MemoryMarshal.GetReference(dst);
            if (w == 1)
            {
                BitTransposeForward(ref MemoryMarshal.GetReference(src), m, ref d, (nuint)rowBytes);
            }
            else
            {
                int strip = StripElements(w);
                byte[]? rented = null;
                Span<byte> scratch = strip * w <= StripBytes
                    ? stackalloc byte[StripBytes]
                    : (rented = ArrayPool<byte>.Shared.Rent(strip * w));
                ref byte t = ref MemoryMarshal.GetReference(scratch);
                for (int start = 0; start < m; start += strip)
                {
                    int cnt = Math.Min(strip, m - start);
                    Shuffle.Forward(w, src.Slice(start * w, cnt * w), scratch[..(cnt * w)]);
                    for (int j = 0; j < w; j++)
                    {
                        BitTransposeForward(
                            ref Unsafe.Add(ref t, j * cnt),
                            cnt,
                            ref Unsafe.Add(ref d, 8 * j * rowBytes + start / 8),
                            (nuint)rowBytes);
                    }
                }

                if (rented is not null)
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }
            }
        }

        src[body..].CopyTo(dst[body..]);
    }

    /// <summary>Undoes the bit shuffle of one block.</summary>
    /// <param name="typesize">Element size in bytes; must be positive.</param>
    /// <param name="src">The bit-shuffled block.</param>
    /// <param name="dst">Destination, at least <c>src.Length</c> bytes, not overlapping <paramref name="src"/>.</param>
    public static void Inverse(int typesize, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        Validate(typesize, src, dst);
        int w = typesize;
        int m = (src.Length / w) & ~7;
        int body = m * w;
        if (m > 0)
        {
            int rowBytes = m / 8;
            ref byte s = ref MemoryMarshal.GetReference(src);
            if (w == 1)
            {
                BitTransposeInverse(ref s, (nuint)rowBytes, ref MemoryMarshal.GetReference(dst), m);
            }
            else
            {
                int strip = StripElements(w);
                byte[]? rented = null;
                Span<byte> scratch = strip * w <= StripBytes
                    ? stackalloc byte[StripBytes]
                    : (rented = ArrayPool<byte>.Shared.Rent(strip * w));
                ref byte t = ref MemoryMarshal.GetReference(scratch);
                for (int start = 0; start < m; start += strip)
                {
                    int cnt = Math.Min(strip, m - start);
                    for (int j = 0; j < w; j++)
                    {
                        BitTransposeInverse(
                            ref Unsafe.Add(ref s, 8 * j * rowBytes + start / 8),
                            (nuint)rowBytes,
                            ref Unsafe.Add(ref t, j * cnt),
                            cnt);
                    }

                    Shuffle.Inverse(w, scratch[..(cnt * w)], dst.Slice(start * w, cnt * w));
                }

                if (rented is not null)
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }
            }
        }

        src[body..].CopyTo(dst[body..]);
    }

    /// <summary>Reference forward bit shuffle (test oracle): per byte plane, gather 8 elements and bit-transpose.</summary>
    /// <param name="typesize">Element size in bytes; must be positive.</param>
    /// <param name="src">The block to shuffle.</param>
    /// <param name="dst">Destination, at least <c>src.Length</c> bytes.</param>
    internal static void ForwardScalar(int typesize, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        Validate(typesize, src, dst);
        int w = typesize;
        int m = (src.Length / w) & ~7;
        int rowBytes = m / 8;
        for (int j = 0; j < w; j++)
        {
            for (int g = 0; g < rowBytes; g++)
            {
                ulong x = 0;
                for (int t = 0; t < 8; t++)
                {
                    x |= (ulong)src[(8 * g + t) * w + j] << (8 * t);
                }

                x = Transpose8x8(x);
                for (int k = 0; k < 8; k++)
                {
                    dst[(8 * j + k) * rowBytes + g] = (byte)(x >> (8 * k));
                }
            }
        }

        src[(m * w)..].CopyTo(dst[(m * w)..]);
    }

    /// <summary>Reference inverse bit shuffle (test oracle).</summary>
    /// <param name="typesize">Element size in bytes; must be positive.</param>
    /// <param name="src">The bit-shuffled block.</param>
    /// <param name="dst">Destination, at least <c>src.Length</c> bytes.</param>
    internal static void InverseScalar(int typesize, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        Validate(typesize, src, dst);
        int w = typesize;
        int m = (src.Length / w) & ~7;
        int rowBytes = m / 8;
        for (int j = 0; j < w; j++)
        {
            for (int g = 0; g < rowBytes; g++)
            {
                ulong x = 0;
                for (int k = 0; k < 8; k++)
                {
                    x |= (ulong)src[(8 * j + k) * rowBytes + g] << (8 * k);
                }

                x = Transpose8x8(x);
                for (int t = 0; t < 8; t++)
                {
                    dst[(8 * g + t) * w + j] = (byte)(x >> (8 * t));
                }
            }
        }

        src[(m * w)..].CopyTo(dst[(m * w)..]);
    }

    /// <summary>
    /// Transposes the 8x8 bit matrix held in <paramref name="x"/> (row = byte, column = bit, little endian):
    /// result bit <c>8*r + c</c> = input bit <c>8*c + r</c>. Self-inverse.
    /// </summary>
    /// <param name="x">The matrix.</param>
    /// <returns>The transposed matrix.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Transpose8x8(ulong x)
    {
        ulong t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAUL;
        x ^= t ^ (t << 7);
        t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCUL;
        x ^= t ^ (t << 14);
        t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0UL;
        x ^= t ^ (t << 28);
        return x;
    }

    private static void Validate(int typesize, ReadOnlySpan<byte> src, ReadOnlySpan<byte> dst)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(typesize, 1);
        if (dst.Length < src.Length)
        {
            throw new ArgumentException("Destination is shorter than the source.", nameof(dst));
        }

        if (src.Overlaps(dst))
        {
            throw new ArgumentException("Source and destination must not overlap.", nameof(dst));
        }
    }

    /// <summary>Elements per strip: a multiple of 32 (of 8 for very wide types) filling the scratch buffer.</summary>
    private static int StripElements(int w)
    {
        int strip = (StripBytes / w) & ~31;
        return strip > 0 ? strip : Math.Max(8, (StripBytes / w) & ~7);
    }

    /// <summary>
    /// Bit-transposes one byte plane: <paramref name="count"/> bytes (a multiple of 8, byte i = byte j of element i)
    /// become 8 rows of <c>count/8</c> bytes at <c>rows + k*rowStride</c> (row k = bit k).
    /// </summary>
    private static void BitTransposeForward(ref byte plane, int count, ref byte rows, nuint rowStride)
    {
        nuint n = (nuint)count;
        nuint p = 0;
        if (Avx2.IsSupported)
        {
            for (; p + 32 <= n; p += 32)
            {
                Vector256<byte> v = Vector256.LoadUnsafe(ref plane, p);
                ref byte r = ref Unsafe.Add(ref rows, p / 8);
                // movemask collects bit 7 of each byte; v + v shifts every byte left by one.
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref r, 7 * rowStride), Avx2.MoveMask(v));
                v = Avx2.Add(v, v);
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref r, 6 * rowStride), Avx2.MoveMask(v));
                v = Avx2.Add(v, v);
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref r, 5 * rowStride), Avx2.MoveMask(v));
                v = Avx2.Add(v, v);
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref r, 4 * rowStride), Avx2.MoveMask(v));
                v = Avx2.Add(v, v);
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref r, 3 * rowStride), Avx2.MoveMask(v));
                v = Avx2.Add(v, v);
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref r, 2 * rowStride), Avx2.MoveMask(v));
                v = Avx2.Add(v, v);
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref r, rowStride), Avx2.MoveMask(v));
                v = Avx2.Add(v, v);
                Unsafe.WriteUnaligned(ref r, Avx2.MoveMask(v));
            }
        }

        if (Vector128.IsHardwareAccelerated && BitConverter.IsLittleEndian)
        {
            for (; p + 16 <= n; p += 16)
            {
                Vector128<byte> v = Vector128.LoadUnsafe(ref plane, p);
                ref byte r = ref Unsafe.Add(ref rows, p / 8);
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref r, 7 * rowStride), (ushort)v.ExtractMostSignificantBits());
                v += v;
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref r, 6 * rowStride), (ushort)v.ExtractMostSignificantBits());
                v += v;
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref r, 5 * rowStride), (ushort)v.ExtractMostSignificantBits());
                v += v;
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref r, 4 * rowStride), (ushort)v.ExtractMostSignificantBits());
                v += v;
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref r, 3 * rowStride), (ushort)v.ExtractMostSignificantBits());
                v += v;
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref r, 2 * rowStride), (ushort)v.ExtractMostSignificantBits());
                v += v;
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref r, rowStride), (ushort)v.ExtractMostSignificantBits());
                v += v;
                Unsafe.WriteUnaligned(ref r, (ushort)v.ExtractMostSignificantBits());
            }
        }

        for (; p < n; p += 8)
        {
            ulong x = Transpose8x8(ReadLittleEndianUInt64(ref Unsafe.Add(ref plane, p)));
            ref byte r = ref Unsafe.Add(ref rows, p / 8);
            for (nuint k = 0; k < 8; k++)
            {
                Unsafe.Add(ref r, k * rowStride) = (byte)(x >> (int)(8 * k));
            }
        }
    }

    /// <summary>
    /// Inverse of <see cref="BitTransposeForward"/>: 8 rows (row k at <c>rows + k*rowStride</c>) of
    /// <c>count/8</c> bytes become <paramref name="count"/> plane bytes.
    /// </summary>
    private static void BitTransposeInverse(ref byte rows, nuint rowStride, ref byte plane, int count)
    {
        nuint n = (nuint)count;
        nuint p = 0;
        if (Avx2.IsSupported)
        {
            // Per lane: 4x4 byte transpose of 4 row dwords -> dword b = byte b of rows 0..3 (or 4..7).
            Vector256<byte> mask = Vector256.Create(
                (byte)0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
                0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
            Vector256<int> perm = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
            for (; p + 32 <= n; p += 32)
            {
                ref byte r = ref Unsafe.Add(ref rows, p / 8);
                Vector256<int> g = Vector256.Create(
                    Unsafe.ReadUnaligned<int>(ref r),
                    Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref r, rowStride)),
                    Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref r, 2 * rowStride)),
                    Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref r, 3 * rowStride)),
                    Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref r, 4 * rowStride)),
                    Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref r, 5 * rowStride)),
                    Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref r, 6 * rowStride)),
                    Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref r, 7 * rowStride)));
                // qword b = [row0[b], ..., row7[b]] = the 8x8 bit matrix of elements 8b..8b+7.
                Vector256<ulong> x = Avx2.PermuteVar8x32(Avx2.Shuffle(g.AsByte(), mask).AsInt32(), perm).AsUInt64();
                Transpose8x8(x).AsByte().StoreUnsafe(ref plane, p);
            }
        }

        if ((Ssse3.IsSupported || AdvSimd.Arm64.IsSupported) && BitConverter.IsLittleEndian)
        {
            Vector128<byte> mask = Vector128.Create((byte)0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
            for (; p + 16 <= n; p += 16)
            {
                ref byte r = ref Unsafe.Add(ref rows, p / 8);
                Vector128<ushort> g = Vector128.Create(
                    Unsafe.ReadUnaligned<ushort>(ref r),
                    Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref r, rowStride)),
                    Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref r, 2 * rowStride)),
                    Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref r, 3 * rowStride)),
                    Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref r, 4 * rowStride)),
                    Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref r, 5 * rowStride)),
                    Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref r, 6 * rowStride)),
                    Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref r, 7 * rowStride)));
                Vector128<byte> b = Ssse3.IsSupported
                    ? Ssse3.Shuffle(g.AsByte(), mask)
                    : AdvSimd.Arm64.VectorTableLookup(g.AsByte(), mask);
                Transpose8x8(b.AsUInt64()).AsByte().StoreUnsafe(ref plane, p);
            }
        }

        for (; p < n; p += 8)
        {
            ref byte r = ref Unsafe.Add(ref rows, p / 8);
            ulong x = 0;
            for (nuint k = 0; k < 8; k++)
            {
                x |= (ulong)Unsafe.Add(ref r, k * rowStride) << (int)(8 * k);
            }

            x = Transpose8x8(x);
            for (nuint t = 0; t < 8; t++)
            {
                Unsafe.Add(ref plane, p + t) = (byte)(x >> (int)(8 * t));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Transpose8x8(Vector256<ulong> x)
    {
        Vector256<ulong> t = (x ^ Vector256.ShiftRightLogical(x, 7)) & Vector256.Create(0x00AA00AA00AA00AAUL);
        x ^= t ^ Vector256.ShiftLeft(t, 7);
        t = (x ^ Vector256.ShiftRightLogical(x, 14)) & Vector256.Create(0x0000CCCC0000CCCCUL);
        x ^= t ^ Vector256.ShiftLeft(t, 14);
        t = (x ^ Vector256.ShiftRightLogical(x, 28)) & Vector256.Create(0x00000000F0F0F0F0UL);
        x ^= t ^ Vector256.ShiftLeft(t, 28);
        return x;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> Transpose8x8(Vector128<ulong> x)
    {
        Vector128<ulong> t = (x ^ Vector128.ShiftRightLogical(x, 7)) & Vector128.Create(0x00AA00AA00AA00AAUL);
        x ^= t ^ Vector128.ShiftLeft(t, 7);
        t = (x ^ Vector128.ShiftRightLogical(x, 14)) & Vector128.Create(0x0000CCCC0000CCCCUL);
        x ^= t ^ Vector128.ShiftLeft(t, 14);
        t = (x ^ Vector128.ShiftRightLogical(x, 28)) & Vector128.Create(0x00000000F0F0F0F0UL);
        x ^= t ^ Vector128.ShiftLeft(t, 28);
        return x;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ReadLittleEndianUInt64(ref byte source)
    {
        ulong x = Unsafe.ReadUnaligned<ulong>(ref source);
        return BitConverter.IsLittleEndian ? x : System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(x);
    }
}
