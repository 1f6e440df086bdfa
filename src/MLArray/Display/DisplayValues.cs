using System.Runtime.InteropServices;
using MLArray.Kernels;

namespace MLArray.Display;

/// <summary>Which number of a complex element is displayed (<c>--part</c>); real data ignores it.</summary>
internal enum ComplexPart
{
    /// <summary>|z| (the default, as MR viewers show reconstructions).</summary>
    Magnitude,
    /// <summary>Re z.</summary>
    Real,
    /// <summary>Im z.</summary>
    Imag,
    /// <summary>arg z in radians, (−π, π].</summary>
    Phase,
}

/// <summary>
/// The one conversion from stored elements to the numbers a display shows (window/level, labels, colours). Every
/// renderer and the viewer's value read-out go through it, so a new element type or a choice of part (real,
/// imaginary, magnitude, phase of complex data) is added here once.
/// </summary>
internal static class DisplayValues
{
    /// <summary>
    /// The display values of the elements in <paramref name="source"/> (machine order, as the reads return them; one
    /// double per element). Complex elements show <paramref name="part"/>.
    /// </summary>
    /// <exception cref="MLArrayNotSupportedException">A dtype without a display conversion (opaque bytes).</exception>
    public static double[] ToDouble(ReadOnlySpan<byte> source, DType dtype, ComplexPart part = ComplexPart.Magnitude)
    {
        var values = new double[source.Length / dtype.ItemSize];
        if (dtype.Code is DTypeCode.Complex64 or DTypeCode.Complex128)
        {
            bool single = dtype.Code == DTypeCode.Complex64;
            var f = MemoryMarshal.Cast<byte, float>(source);
            var d = MemoryMarshal.Cast<byte, double>(source);
            for (int i = 0; i < values.Length; i++)
            {
                double re = single ? f[2 * i] : d[2 * i], im = single ? f[(2 * i) + 1] : d[(2 * i) + 1];
                values[i] = part switch
                {
                    ComplexPart.Real => re,
                    ComplexPart.Imag => im,
                    ComplexPart.Phase => Math.Atan2(im, re),
                    _ => Math.Sqrt((re * re) + (im * im)),
                };
            }
            return values;
        }
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

    /// <summary>Parses <c>--part</c>: real, imag, magnitude or phase.</summary>
    /// <exception cref="ArgumentException">Another word.</exception>
    public static ComplexPart ParsePart(string text) => text.ToLowerInvariant() switch
    {
        "magnitude" or "mag" or "abs" => ComplexPart.Magnitude,
        "real" or "re" => ComplexPart.Real,
        "imag" or "imaginary" or "im" => ComplexPart.Imag,
        "phase" or "angle" or "arg" => ComplexPart.Phase,
        _ => throw new ArgumentException($"--part must be real, imag, magnitude or phase, not '{text}'."),
    };

    /// <summary>True for element types whose values are labels when asked (<c>--seg</c>): integers and bool.</summary>
    public static bool IsLabelType(DType dtype) => dtype.Kind is DTypeKind.Bool or DTypeKind.SignedInteger or DTypeKind.UnsignedInteger;
}
