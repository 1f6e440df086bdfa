using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MLArray.Blosc2;

namespace MLArray.Interop;

/// <summary>
/// <c>System.Numerics.Tensors</c> interop. Blosc2 data is compressed, so a tensor can never view the file directly:
/// these methods decompress straight into the tensor's memory.
/// </summary>
public static class TensorExtensions
{
    /// <summary>
    /// Reads a selection into a dense tensor span whose shape equals the selection's shape (integer indices drop
    /// their axis) and whose element size matches the dtype.
    /// </summary>
    /// <exception cref="ArgumentException">The tensor is not dense or its shape or element type does not match.</exception>
    public static void Read<T>(this B2ndArray array, ReadOnlySpan<NdIndex> selection, in TensorSpan<T> destination, int threads = 1) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(array);
        var shape = array.GetSelectionShape(selection.ToArray());
        CheckShape(destination.Lengths, shape);
        if (!destination.IsDense)
            throw new ArgumentException("the destination tensor must be dense (contiguous, C order); read into a dense tensor and copy.", nameof(destination));
        var span = MemoryMarshal.CreateSpan(ref destination.GetPinnableReference(), checked((int)destination.FlattenedLength));
        array.Read(selection, span, threads);
    }

    /// <summary>Decodes the whole array into a new <see cref="Tensor{T}"/> (C order).</summary>
    public static Tensor<T> ToTensor<T>(this B2ndArray array, int threads = 0) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(array);
        if (Unsafe.SizeOf<T>() != array.DType.ItemSize)
            throw new ArgumentException($"element type {typeof(T).Name} does not match the array dtype {array.DType.Name}.", nameof(array));
        var data = array.ToArray<T>(threads);
        var lengths = array.Shape.Select(x => checked((nint)x)).ToArray();
        return Tensor.Create(data, lengths);
    }

    private static void CheckShape(ReadOnlySpan<nint> lengths, long[] shape)
    {
        bool same = lengths.Length == shape.Length;
        for (int d = 0; same && d < shape.Length; d++)
            same = lengths[d] == shape[d];
        if (!same)
            throw new ArgumentException($"the destination tensor has shape ({string.Join(", ", lengths.ToArray())}) but the selection has shape ({string.Join(", ", shape)}).");
    }
}
