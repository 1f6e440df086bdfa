using System.Numerics;
using MLArray.Display;

namespace MLArray.Tests.Display;

/// <summary>Complex images are shown as magnitude by default, or their real part, imaginary part or phase (<c>--part</c>).</summary>
public sealed class ComplexDisplayTests
{
    public static TheoryData<string> Parts => new() { "magnitude", "real", "imag", "phase" };

    [Theory]
    [MemberData(nameof(Parts))]
    public void Slices_of_complex64_and_complex128_show_the_asked_part(string partName)
    {
        var part = DisplayValues.ParsePart(partName);
        long[] shape = [3, 4, 5];
        var c128 = new Complex[60];
        for (int i = 0; i < c128.Length; i++) c128[i] = new Complex((i % 7) - 3, (i % 5) - 2);
        var c64 = c128.Select(z => (Complex64)z).ToArray();
        Func<Complex, double> expected = part switch
        {
            ComplexPart.Real => z => z.Real,
            ComplexPart.Imag => z => z.Imaginary,
            ComplexPart.Phase => z => Math.Atan2(z.Imaginary, z.Real),
            _ => z => z.Magnitude,
        };
        using var a = MLArrayFile.FromArray(c64, shape);
        using var b = MLArrayFile.FromArray(c128, shape);
        foreach (var img in new[] { a, b })
        {
            var g = DisplayGeometry.Of(img);
            var layout = g.Layout(SliceView.Axial, false);
            var plane = SliceRenderer.Read(img, g, layout, 1, [], part);
            // No geometry: array order, the slice is the middle axis... compare as sets of values of that slice.
            var all = img.DType == DType.Complex64 ? c64.Select(z => (Complex)z).ToArray() : c128;
            var inSlice = plane.Values.Order().ToArray();
            Assert.Equal(layout.Rows * layout.Cols, inSlice.Length);
            Assert.All(inSlice, v => Assert.Contains(all, z => Math.Abs(expected(z) - v) < 1e-6));
        }
        Assert.Throws<ArgumentException>(() => DisplayValues.ParsePart("modulus"));
    }

    [Fact]
    public void Display_values_of_complex_elements_are_computed_per_element()
    {
        Complex[] z = [new(3, 4), new(-1, 0), new(0, -2)];
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(z.AsSpan()).ToArray();
        Assert.Equal([5.0, 1.0, 2.0], DisplayValues.ToDouble(bytes, DType.Complex128));
        Assert.Equal([3.0, -1.0, 0.0], DisplayValues.ToDouble(bytes, DType.Complex128, ComplexPart.Real));
        Assert.Equal([4.0, 0.0, -2.0], DisplayValues.ToDouble(bytes, DType.Complex128, ComplexPart.Imag));
        Assert.Equal([Math.Atan2(4, 3), Math.PI, -Math.PI / 2], DisplayValues.ToDouble(bytes, DType.Complex128, ComplexPart.Phase));
        Complex64[] f = [new(3, 4), new(0, -2)];
        var fb = System.Runtime.InteropServices.MemoryMarshal.AsBytes(f.AsSpan()).ToArray();
        Assert.Equal([5.0, 2.0], DisplayValues.ToDouble(fb, DType.Complex64));
    }
}
