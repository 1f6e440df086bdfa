using System.Numerics;
using System.Runtime.InteropServices;

namespace MLArray;

/// <summary>
/// A complex number of two single-precision floats, real part first: the memory layout of NumPy's <c>complex64</c>
/// (dtype <c>&lt;c8</c>), so arrays of it read and write <c>c8</c> data without conversion. Converts to and from
/// <see cref="Complex"/> (double precision).
/// </summary>
/// <param name="Real">The real part.</param>
/// <param name="Imaginary">The imaginary part.</param>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct Complex64(float Real, float Imaginary)
{
    /// <summary>The absolute value (computed in double precision).</summary>
    public float Magnitude => (float)Complex.Abs(this);

    /// <summary>The argument in radians, in (-π, π].</summary>
    public float Phase => MathF.Atan2(Imaginary, Real);

    /// <summary>Widens to a double-precision complex number (exact).</summary>
    /// <param name="value">The value.</param>
    public static implicit operator Complex(Complex64 value) => new(value.Real, value.Imaginary);

    /// <summary>Narrows a double-precision complex number (each part rounded to the nearest float).</summary>
    /// <param name="value">The value.</param>
    public static explicit operator Complex64(Complex value) => new((float)value.Real, (float)value.Imaginary);

    /// <summary>Widens to a double-precision complex number (exact).</summary>
    public Complex ToComplex() => this;

    /// <summary>Narrows a double-precision complex number (each part rounded to the nearest float).</summary>
    /// <param name="value">The value.</param>
    public static Complex64 FromComplex(Complex value) => (Complex64)value;
}
