using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MLArray.Blosc2.Filters;

/// <summary>
/// Blosc2 TRUNC_PREC filter (id 4, spec §7.4): lossy zeroing of low mantissa bits of float32/float64 items.
/// Compression side only; there is no inverse (decoders skip it).
/// </summary>
internal static class TruncPrec
{
    private const int Float32MantissaBits = 23;
    private const int Float64MantissaBits = 52;

    /// <summary>
    /// Number of low bits zeroed for a precision and typesize: <c>p ≥ 0 ? MANT - p : -p</c>,
    /// or -1 when the parameters are invalid (typesize not 4/8, or the result outside <c>[0, MANT)</c>).
    /// </summary>
    /// <param name="precision">filters_meta reinterpreted as int8: bits to keep (≥ 0) or to drop (&lt; 0).</param>
    /// <param name="typesize">Item size: 4 (float32) or 8 (float64).</param>
    /// <returns>Zeroed bit count, or -1.</returns>
    internal static int ZeroedBits(sbyte precision, int typesize)
    {
        int mantissa = typesize switch
        {
            4 => Float32MantissaBits,
            8 => Float64MantissaBits,
            _ => -1,
        };
        if (mantissa < 0)
        {
            return -1;
        }

        int zeroed = precision >= 0 ? mantissa - precision : -precision;
        return zeroed >= 0 && zeroed < mantissa ? zeroed : -1;
    }

    /// <summary>
    /// Truncates the precision of every item of one block: each item's integer representation is ANDed with
    /// <c>~((1 &lt;&lt; z) - 1)</c>. Trailing bytes that do not form a whole item are copied unchanged.
    /// Works in place when <paramref name="src"/> and <paramref name="dst"/> are the same memory (they must not
    /// otherwise overlap).
    /// </summary>
    /// <param name="precision">filters_meta reinterpreted as int8: bits to keep (≥ 0) or to drop (&lt; 0).</param>
    /// <param name="typesize">Item size: 4 (float32) or 8 (float64).</param>
    /// <param name="src">The block.</param>
    /// <param name="dst">Destination, at least <c>src.Length</c> bytes.</param>
    /// <returns>False (and nothing written) when typesize is not 4 or 8 or the zeroed bit count is not below the
    /// mantissa width (or negative, i.e. precision larger than the mantissa).</returns>
    public static bool TryApply(sbyte precision, int typesize, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        int zeroed = ZeroedBits(precision, typesize);
        if (zeroed < 0)
        {
            return false;
        }

        if (dst.Length < src.Length)
        {
            throw new ArgumentException("Destination is shorter than the source.", nameof(dst));
        }

        int body = src.Length - src.Length % typesize;
        if (typesize == 4)
        {
            And(
                MemoryMarshal.Cast<byte, uint>(src[..body]),
                MemoryMarshal.Cast<byte, uint>(dst[..body]),
                ~((1u << zeroed) - 1));
        }
        else
        {
            And(
                MemoryMarshal.Cast<byte, ulong>(src[..body]),
                MemoryMarshal.Cast<byte, ulong>(dst[..body]),
                ~((1UL << zeroed) - 1));
        }

        src[body..].CopyTo(dst[body..]);
        return true;
    }

    private static void And<T>(ReadOnlySpan<T> src, Span<T> dst, T mask)
        where T : unmanaged, System.Numerics.IBitwiseOperators<T, T, T>
    {
        // Items are stored little endian; on a big-endian host the mask is applied to the byte-swapped value.
        if (!BitConverter.IsLittleEndian)
        {
            mask = ReverseMask(mask);
        }

        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<T> m = Vector256.Create(mask);
            for (; i + Vector256<T>.Count <= src.Length; i += Vector256<T>.Count)
            {
                (Vector256.Create(src.Slice(i, Vector256<T>.Count)) & m).CopyTo(dst.Slice(i, Vector256<T>.Count));
            }
        }

        if (Vector128.IsHardwareAccelerated)
        {
            Vector128<T> m = Vector128.Create(mask);
            for (; i + Vector128<T>.Count <= src.Length; i += Vector128<T>.Count)
            {
                (Vector128.Create(src.Slice(i, Vector128<T>.Count)) & m).CopyTo(dst.Slice(i, Vector128<T>.Count));
            }
        }

        for (; i < src.Length; i++)
        {
            dst[i] = src[i] & mask;
        }
    }

    private static T ReverseMask<T>(T mask)
        where T : unmanaged
    {
        Span<T> one = [mask];
        MemoryMarshal.AsBytes(one).Reverse();
        return one[0];
    }
}
