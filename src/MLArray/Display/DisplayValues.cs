using MLArray.Kernels;

namespace MLArray.Display;

/// <summary>
/// The one conversion from stored elements to the numbers a display shows (window/level, labels, colours). Every
/// renderer and the viewer's value read-out go through it, so a new element type or a choice of part (real,
/// imaginary, magnitude, phase of complex data) is added here once.
/// </summary>
internal static class DisplayValues
{
    /// <summary>The display values of the little-endian elements in <paramref name="source"/> (one double per element).</summary>
    /// <exception cref="MLArrayNotSupportedException">A dtype without a display conversion.</exception>
    public static double[] ToDouble(ReadOnlySpan<byte> source, DType dtype)
    {
        var values = new double[source.Length / dtype.ItemSize];
        try
        {
            ElementConvert.ToDouble(source, dtype, values);
        }
        catch (NotSupportedException e)
        {
            throw new MLArrayNotSupportedException($"cannot display dtype {dtype}: {e.Message}", e);
        }

        return values;
    }

    /// <summary>True for element types whose values are labels when asked (<c>--seg</c>): integers and bool.</summary>
    public static bool IsLabelType(DType dtype) => dtype.Kind is DTypeKind.Bool or DTypeKind.SignedInteger or DTypeKind.UnsignedInteger;
}
