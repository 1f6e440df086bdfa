using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace MLArray.Kernels;

/// <summary>
/// Byte order of elements: the one byte swap (item sizes 1, 2, 4 and 8; one-byte items are left as they are). The
/// span overloads of <see cref="BinaryPrimitives.ReverseEndianness(ReadOnlySpan{ushort}, Span{ushort})"/> are
/// vectorised (byte shuffles) by the runtime.
/// </summary>
internal static class ByteOrder
{
    /// <summary>Reverses the bytes of every <paramref name="itemSize"/>-byte element of <paramref name="data"/> in place.</summary>
    /// <exception cref="ArgumentException">The item size is not 1, 2, 4 or 8, or the length is not a whole number of items.</exception>
    public static void SwapInPlace(Span<byte> data, int itemSize) => Swap(data, data, itemSize);

    /// <summary>
    /// Writes the elements of <paramref name="source"/> with their bytes reversed into <paramref name="destination"/>
    /// (same length; the two may be the same memory).
    /// </summary>
    /// <exception cref="ArgumentException">The item size is not 1, 2, 4 or 8, or the lengths do not fit.</exception>
    public static void Swap(ReadOnlySpan<byte> source, Span<byte> destination, int itemSize)
    {
        if (itemSize is not (1 or 2 or 4 or 8))
            throw new ArgumentException($"byte swap needs an item size of 1, 2, 4 or 8, not {itemSize}.", nameof(itemSize));
        if (source.Length % itemSize != 0 || destination.Length < source.Length)
            throw new ArgumentException($"{source.Length} bytes are not a whole number of {itemSize}-byte items or do not fit into {destination.Length} bytes.", nameof(source));
        Span<byte> dst = destination[..source.Length];
        switch (itemSize)
        {
            case 1:
                source.CopyTo(dst);
                break;
            case 2:
                BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, ushort>(source), MemoryMarshal.Cast<byte, ushort>(dst));
                break;
            case 4:
                BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, uint>(source), MemoryMarshal.Cast<byte, uint>(dst));
                break;
            default:
                BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, ulong>(source), MemoryMarshal.Cast<byte, ulong>(dst));
                break;
        }
    }
}
