using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MLArray.Blosc2.Filters;

/// <summary>
/// Blosc2 DELTA filter (id 3, spec §7.3): XOR delta in units of <c>u</c> bytes, where <c>u = typesize</c> for
/// typesize 1, 2, 4, 8 and otherwise 8 if typesize is a multiple of 8, else 1.
/// Block 0 of a chunk is coded against its own previous unit (<c>out[x] = in[x] ^ in[x-1]</c>, <c>out[0] = in[0]</c>);
/// every other block is XORed with block 0's bytes as they enter the DELTA stage. Trailing bytes of a block that
/// do not fill a whole unit are passed through unchanged.
/// </summary>
internal static class Delta
{
    /// <summary>Unit size in bytes of the XOR for a given typesize.</summary>
    /// <param name="typesize">Item size in bytes (positive).</param>
    /// <returns>1, 2, 4 or 8.</returns>
    internal static int UnitSize(int typesize) => typesize switch
    {
        1 or 2 or 4 or 8 => typesize,
        _ => typesize % 8 == 0 ? 8 : 1,
    };

    /// <summary>
    /// Delta-encodes one block. Not in place: <paramref name="dst"/> must not overlap <paramref name="src"/>
    /// or <paramref name="reference"/>.
    /// </summary>
    /// <param name="reference">
    /// Block 0's bytes as they enter the DELTA stage, at least <c>src.Length</c> bytes; ignored when
    /// <paramref name="isFirstBlock"/> is true (block 0 is its own reference).
    /// </param>
    /// <param name="src">The block's bytes as they enter the DELTA stage.</param>
    /// <param name="dst">Destination, at least <c>src.Length</c> bytes (only <c>src.Length</c> bytes are written).</param>
    /// <param name="typesize">Item size in bytes (positive).</param>
    /// <param name="isFirstBlock">True for block 0 of the chunk.</param>
    public static void Encode(ReadOnlySpan<byte> reference, ReadOnlySpan<byte> src, Span<byte> dst, int typesize, bool isFirstBlock)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(typesize, 1);
        CheckDestination(src, dst);
        if (src.Overlaps(dst))
        {
            throw new ArgumentException("Delta.Encode does not work in place.", nameof(dst));
        }

        int u = UnitSize(typesize);
        int len = src.Length - src.Length % u;
        if (isFirstBlock)
        {
            if (len > 0)
            {
                src[..u].CopyTo(dst);
                Xor(src[u..len], src[..(len - u)], dst[u..len]);
            }
        }
        else
        {
            CheckReference(reference, src);
            if (reference.Overlaps(dst))
            {
                throw new ArgumentException("The destination must not overlap the reference block.", nameof(dst));
            }

            Xor(src[..len], reference[..len], dst[..len]);
        }

        src[len..].CopyTo(dst[len..]);
    }

    /// <summary>
    /// Delta-decodes one block. May run in place: <paramref name="src"/> and <paramref name="dst"/> are either the
    /// same memory or do not overlap at all. For block 0 this is a running prefix XOR over units; for other
    /// blocks it XORs with the decoded block 0.
    /// </summary>
    /// <param name="reference">
    /// The already DECODED block 0 (its bytes after this stage), at least <c>src.Length</c> bytes, not overlapping
    /// <paramref name="dst"/>; ignored when <paramref name="isFirstBlock"/> is true.
    /// </param>
    /// <param name="src">The encoded block.</param>
    /// <param name="dst">Destination, at least <c>src.Length</c> bytes (only <c>src.Length</c> bytes are written).</param>
    /// <param name="typesize">Item size in bytes (positive).</param>
    /// <param name="isFirstBlock">True for block 0 of the chunk.</param>
    public static void Decode(ReadOnlySpan<byte> reference, ReadOnlySpan<byte> src, Span<byte> dst, int typesize, bool isFirstBlock)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(typesize, 1);
        CheckDestination(src, dst);
        bool sameMemory = src.Length > 0 && Unsafe.AreSame(ref MemoryMarshal.GetReference(src), ref MemoryMarshal.GetReference(dst));
        if (!sameMemory && src.Overlaps(dst))
        {
            throw new ArgumentException("Source and destination must be the same memory or not overlap.", nameof(dst));
        }

        int u = UnitSize(typesize);
        int len = src.Length - src.Length % u;
        if (isFirstBlock)
        {
            PrefixXor(u, src[..len], dst[..len]);
        }
        else
        {
            CheckReference(reference, src);
            if (reference.Overlaps(dst))
            {
                throw new ArgumentException("The destination must not overlap the reference block.", nameof(dst));
            }

            Xor(src[..len], reference[..len], dst[..len]);
        }

        if (!sameMemory)
        {
            src[len..].CopyTo(dst[len..]);
        }
    }

    private static void CheckDestination(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        if (dst.Length < src.Length)
        {
            throw new ArgumentException("Destination is shorter than the source.", nameof(dst));
        }
    }

    private static void CheckReference(ReadOnlySpan<byte> reference, ReadOnlySpan<byte> src)
    {
        if (reference.Length < src.Length)
        {
            throw new ArgumentException("The reference block is shorter than the block.", nameof(reference));
        }
    }

    /// <summary>dst[x] = a[x] ^ b[x]; dst may be the same memory as a (element-wise, loads before stores).</summary>
    private static void Xor(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, Span<byte> dst)
    {
        nuint n = (nuint)a.Length;
        ref byte ra = ref MemoryMarshal.GetReference(a);
        ref byte rb = ref MemoryMarshal.GetReference(b);
        ref byte rd = ref MemoryMarshal.GetReference(dst);
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 32 <= n; i += 32)
            {
                (Vector256.LoadUnsafe(ref ra, i) ^ Vector256.LoadUnsafe(ref rb, i)).StoreUnsafe(ref rd, i);
            }
        }

        if (Vector128.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
            {
                (Vector128.LoadUnsafe(ref ra, i) ^ Vector128.LoadUnsafe(ref rb, i)).StoreUnsafe(ref rd, i);
            }
        }

        for (; i + 8 <= n; i += 8)
        {
            Unsafe.WriteUnaligned(
                ref Unsafe.Add(ref rd, i),
                Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref ra, i)) ^ Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref rb, i)));
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref rd, i) = (byte)(Unsafe.Add(ref ra, i) ^ Unsafe.Add(ref rb, i));
        }
    }

    /// <summary>
    /// Running XOR over units of <paramref name="u"/> bytes: v[0] = d[0], v[x] = d[x] ^ v[x-1].
    /// Works 8 bytes at a time: an in-word prefix XOR, then XOR with the carry (the previous decoded unit
    /// replicated over the word). The carry chain costs one XOR per word: carry' = carry ^ broadcast(last unit
    /// of the in-word prefix). Length is a multiple of u. src and dst may be the same memory.
    /// </summary>
    private static void PrefixXor(int u, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        nuint n = (nuint)src.Length;
        ref byte rs = ref MemoryMarshal.GetReference(src);
        ref byte rd = ref MemoryMarshal.GetReference(dst);
        ulong carry = 0;
        int shift = 64 - 8 * u;
        ulong replicate = u switch
        {
            1 => 0x0101010101010101UL,
            2 => 0x0001000100010001UL,
            4 => 0x0000000100000001UL,
            _ => 1UL,
        };
        nuint i = 0;
        if (Ssse3.IsSupported && n >= 16)
        {
            // Constant u per call site so the JIT folds the unit-dependent steps.
            i = u switch
            {
                1 => PrefixXorSsse3(1, ref rs, ref rd, n),
                2 => PrefixXorSsse3(2, ref rs, ref rd, n),
                4 => PrefixXorSsse3(4, ref rs, ref rd, n),
                _ => PrefixXorSsse3(8, ref rs, ref rd, n),
            };
            carry = (Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref rd, i - 8)) >> shift) * replicate;
        }

        for (; i + 8 <= n; i += 8)
        {
            ulong x = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref rs, i));
            if (!BitConverter.IsLittleEndian)
            {
                x = BinaryPrimitives.ReverseEndianness(x);
            }

            if (u <= 1)
            {
                x ^= x << 8;
            }

            if (u <= 2)
            {
                x ^= x << 16;
            }

            if (u <= 4)
            {
                x ^= x << 32;
            }

            ulong v = x ^ carry;
            if (!BitConverter.IsLittleEndian)
            {
                v = BinaryPrimitives.ReverseEndianness(v);
            }

            Unsafe.WriteUnaligned(ref Unsafe.Add(ref rd, i), v);
            carry ^= (x >> shift) * replicate;
        }

        // Remaining bytes: fewer than 8, a whole number of units (u < 8 here).
        nuint uu = (nuint)u;
        for (; i < n; i += uu)
        {
            for (nuint k = 0; k < uu; k++)
            {
                byte prev = i == 0 ? (byte)0 : Unsafe.Add(ref rd, i + k - uu);
                Unsafe.Add(ref rd, i + k) = (byte)(Unsafe.Add(ref rs, i + k) ^ prev);
            }
        }
    }

    /// <summary>
    /// SSSE3 prefix XOR, 16 bytes per step: log-step byte shifts within the vector, then the carried last unit
    /// (carry' = carry ^ broadcast(last unit of the in-vector prefix), one XOR on the dependency chain).
    /// Returns the number of bytes processed (a multiple of 16). x86 only (little endian).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nuint PrefixXorSsse3(int u, ref byte rs, ref byte rd, nuint n)
    {
        Vector128<byte> broadcast = u switch
        {
            1 => Vector128.Create((byte)15),
            2 => Vector128.Create((byte)14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15),
            4 => Vector128.Create((byte)12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15),
            _ => Vector128.Create((byte)8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15),
        };
        Vector128<byte> carry = Vector128<byte>.Zero;
        nuint i = 0;
        for (; i + 16 <= n; i += 16)
        {
            Vector128<byte> v = Vector128.LoadUnsafe(ref rs, i);
            if (u <= 1)
            {
                v ^= Sse2.ShiftLeftLogical128BitLane(v, 1);
            }

            if (u <= 2)
            {
                v ^= Sse2.ShiftLeftLogical128BitLane(v, 2);
            }

            if (u <= 4)
            {
                v ^= Sse2.ShiftLeftLogical128BitLane(v, 4);
            }

            v ^= Sse2.ShiftLeftLogical128BitLane(v, 8);
            (v ^ carry).StoreUnsafe(ref rd, i);
            carry ^= Ssse3.Shuffle(v, broadcast);
        }

        return i;
    }
}
