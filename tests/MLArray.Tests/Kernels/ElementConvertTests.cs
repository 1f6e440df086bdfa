using System.Runtime.InteropServices;
using MLArray.Kernels;

namespace MLArray.Tests.Kernels;

/// <summary>
/// The one element conversion against the scalar code it replaced (MedicalValues.ToDoubles, MLArrayFile's fill casts,
/// the converter's ScaleInto and Requantise), for every dtype, edge values (NaN, ±∞, extremes, ties) and lengths that
/// are not whole vectors.
/// </summary>
public sealed class ElementConvertTests
{
    private static readonly int[] Lengths = [0, 1, 7, 31, 32, 33, 1023, 1024, 1025, 2500];

    private static readonly double[] Edges =
    [
        0, -0.0, 1, -1, 0.5, -0.5, 1.5, 2.5, -2.5, 127.5, 128, -128.5, 255.5, 256, 32767.5, -32768.5, 40000.5, 65535.49, 65536,
        2147483647.5, -2147483648.5, 4294967295.7, 4e9, 1e12, -1e12, 9.3e18, 1.9e19, -9.3e18, 1e20, -1e20, double.MaxValue,
        double.MinValue, double.Epsilon, double.NaN, double.PositiveInfinity, double.NegativeInfinity, 3.4e38, 3.5e38, 1e-46,
    ];

    private static byte[] RandomElements(DType t, int n, Random rng)
    {
        var b = new byte[n * t.ItemSize];
        rng.NextBytes(b);
        if (t == DType.Bool)
        {
            for (int i = 0; i < n; i++) b[i] = (byte)(b[i] % 3 == 0 ? 0 : b[i] % 3 == 1 ? 1 : b[i]);
        }
        else if (t == DType.Float32)
        {
            Span<float> f = MemoryMarshal.Cast<byte, float>(b.AsSpan());
            for (int i = 0; i < n; i++) f[i] = i % 5 == 0 ? (float)Edges[i % Edges.Length] : (float)((rng.NextDouble() - 0.5) * 1e5);
        }
        else if (t == DType.Float64)
        {
            Span<double> f = MemoryMarshal.Cast<byte, double>(b.AsSpan());
            for (int i = 0; i < n; i++) f[i] = i % 5 == 0 ? Edges[i % Edges.Length] : (rng.NextDouble() - 0.5) * 1e5;
        }

        return b;
    }

    /// <summary>The scalar conversion the medical readers used before the kernel.</summary>
    private static double OldToDouble(ReadOnlySpan<byte> e, DType t) => t.Name switch
    {
        "|b1" => e[0] != 0 ? 1 : 0,
        "|i1" => (sbyte)e[0],
        "|u1" => e[0],
        "<i2" => MemoryMarshal.Read<short>(e),
        "<u2" => MemoryMarshal.Read<ushort>(e),
        "<i4" => MemoryMarshal.Read<int>(e),
        "<u4" => MemoryMarshal.Read<uint>(e),
        "<i8" => MemoryMarshal.Read<long>(e),
        "<u8" => MemoryMarshal.Read<ulong>(e),
        "<f4" => MemoryMarshal.Read<float>(e),
        "<f2" => (double)MemoryMarshal.Read<Half>(e),
        _ => MemoryMarshal.Read<double>(e),
    };

    /// <summary>The casts MLArrayFile's Fill used before the kernel.</summary>
    private static void OldFromDouble(double v, Span<byte> d, DType t)
    {
        switch (t.Name)
        {
            case "|b1": d[0] = v != 0 ? (byte)1 : (byte)0; break;
            case "|i1": d[0] = (byte)(sbyte)v; break;
            case "|u1": d[0] = (byte)v; break;
            case "<i2": MemoryMarshal.Write(d, (short)v); break;
            case "<u2": MemoryMarshal.Write(d, (ushort)v); break;
            case "<i4": MemoryMarshal.Write(d, (int)v); break;
            case "<u4": MemoryMarshal.Write(d, (uint)v); break;
            case "<i8": MemoryMarshal.Write(d, (long)v); break;
            case "<u8": MemoryMarshal.Write(d, (ulong)v); break;
            case "<f4": MemoryMarshal.Write(d, (float)v); break;
            case "<f2": MemoryMarshal.Write(d, (Half)v); break;
            default: MemoryMarshal.Write(d, v); break;
        }
    }

    /// <summary>The real dtypes (complex numbers have no float64 value; see <see cref="ComplexFromDoubleHasAZeroImaginaryPart"/>).</summary>
    public static TheoryData<string> AllDTypes() => new(DType.All.Where(d => d.Kind != DTypeKind.Complex).Select(d => d.Name));

    public static TheoryData<string> IntegerDTypes() => new(DType.All.Where(d => d.Kind is DTypeKind.SignedInteger or DTypeKind.UnsignedInteger).Select(d => d.Name));

    [Fact]
    public void CodesMatchTheTypes()
    {
        Assert.Equal(15, Enum.GetValues<DTypeCode>().Length);
        Assert.Equal(DTypeCode.Opaque, Enum.GetValues<DTypeCode>()[^1]);
        foreach (DType d in DType.All) Assert.Equal(d, DType.FromCode(d.Code));
        Assert.Equal(DTypeCode.Int16, DType.Parse("<i2").Code);
        Assert.Equal(DTypeCode.Bool, DType.Parse("?").Code);
    }

    [Fact]
    public void ComplexFromDoubleHasAZeroImaginaryPart()
    {
        double[] v = [1.5, -2, double.NaN, 1e300];
        var c8 = new Complex64[v.Length];
        ElementConvert.FromDouble(v, MemoryMarshal.AsBytes(c8.AsSpan()), DType.Complex64);
        Assert.Equal([new(1.5f, 0), new(-2f, 0), new(float.NaN, 0), new(float.PositiveInfinity, 0)], c8);
        var c16 = new System.Numerics.Complex[v.Length];
        ElementConvert.FromDouble(v, MemoryMarshal.AsBytes(c16.AsSpan()), DType.Complex128);
        Assert.Equal(v.Select(x => new System.Numerics.Complex(x, 0)), c16);
        Assert.Throws<NotSupportedException>(() => ElementConvert.ToDouble(new byte[16], DType.Complex128, new double[1]));
    }

    [Fact]
    public void HalfToSingleIsExactAndSingleToHalfRoundsToNearestEven()
    {
        // every one of the 65536 float16 bit patterns widens exactly (NaN stays NaN)
        var all = new Half[65536];
        for (int i = 0; i < all.Length; i++) all[i] = BitConverter.UInt16BitsToHalf((ushort)i);
        var f = new float[all.Length];
        ElementConvert.HalfToSingle(all, f);
        for (int i = 0; i < all.Length; i++)
        {
            if (Half.IsNaN(all[i])) Assert.True(float.IsNaN(f[i]));
            else Assert.Equal((float)all[i], f[i]);
        }
        float[] edges = [0.1f, 65504f, 65520f, 1e-8f, -3.14159f, float.NaN, float.NegativeInfinity, 2049f, 2051f];
        var h = new Half[edges.Length];
        ElementConvert.SingleToHalf(edges, h);
        Assert.Equal(edges.Select(x => (Half)x), h);
        Assert.Equal((Half)2048, h[7]); // tie to even
        Assert.Equal(Half.PositiveInfinity, h[2]);
    }

    [Theory]
    [MemberData(nameof(AllDTypes))]
    public void ToDoubleMatchesTheScalarConversion(string name)
    {
        DType t = DType.Parse(name);
        var rng = new Random(name.GetHashCode(StringComparison.Ordinal));
        foreach (int n in Lengths)
        {
            byte[] src = RandomElements(t, n, rng);
            var got = new double[n + 3];
            got.AsSpan().Fill(-7);
            ElementConvert.ToDouble(src, t, got);
            for (int i = 0; i < n; i++)
                Assert.Equal(BitConverter.DoubleToInt64Bits(OldToDouble(src.AsSpan(i * t.ItemSize), t)), BitConverter.DoubleToInt64Bits(got[i]));
            Assert.Equal(-7, got[n]); // nothing past the elements is written
        }
    }

    [Fact]
    public void Int64ExtremesRoundToNearest()
    {
        long[] l = [long.MaxValue, long.MinValue, (1L << 53) + 1, -(1L << 53) - 1, 0x7FFF_FFFF_FFFF_FDFF];
        ulong[] u = [ulong.MaxValue, (1UL << 63) + 1025, (1UL << 53) + 1];
        var dl = new double[l.Length];
        var du = new double[u.Length];
        ElementConvert.ToDouble(MemoryMarshal.AsBytes(l.AsSpan()), DType.Int64, dl);
        ElementConvert.ToDouble(MemoryMarshal.AsBytes(u.AsSpan()), DType.UInt64, du);
        Assert.Equal(l.Select(x => (double)x), dl);
        Assert.Equal(u.Select(x => (double)x), du);
    }

    [Theory]
    [MemberData(nameof(AllDTypes))]
    public void FromDoubleMatchesTheCasts(string name)
    {
        DType t = DType.Parse(name);
        var rng = new Random(3);
        double[] values = [.. Edges, .. Enumerable.Range(0, 1500).Select(_ => (rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(0, 21)))];
        var got = new byte[values.Length * t.ItemSize];
        ElementConvert.FromDouble(values, got, t);
        var expected = new byte[got.Length];
        for (int i = 0; i < values.Length; i++) OldFromDouble(values[i], expected.AsSpan(i * t.ItemSize), t);
        Assert.Equal(expected, got);
    }

    [Theory]
    [MemberData(nameof(AllDTypes))]
    public void ScaleMatchesTheConverter(string name)
    {
        DType t = DType.Parse(name);
        var rng = new Random(5);
        foreach ((double slope, double inter) in (ValueTuple<double, double>[])[(0.5, -1024), (1.0 / 3, 0.1), (1e30, 1), (-2, double.NaN), (1e-45, 0)])
        {
            foreach (int n in Lengths)
            {
                byte[] src = RandomElements(t, n, rng);
                var f32 = new byte[n * 4];
                var f64 = new byte[n * 8];
                ElementConvert.Scale(src, t, slope, inter, f32, DType.Float32);
                ElementConvert.Scale(src, t, slope, inter, f64, DType.Float64);
                for (int i = 0; i < n; i++)
                {
                    double v = OldToDouble(src.AsSpan(i * t.ItemSize), t);
                    Assert.Equal(BitConverter.SingleToInt32Bits((float)((v * slope) + inter)), BitConverter.SingleToInt32Bits(MemoryMarshal.Read<float>(f32.AsSpan(i * 4))));
                    Assert.Equal(BitConverter.DoubleToInt64Bits((v * slope) + inter), BitConverter.DoubleToInt64Bits(MemoryMarshal.Read<double>(f64.AsSpan(i * 8))));
                }
            }
        }
    }

    /// <summary>The converter's Requantise before the kernel, element by element.</summary>
    private static void OldRequantise(double v, DType to, double slope, double inter, Span<byte> o)
    {
        (double lo, double hi) = to.Name switch
        {
            "|u1" => (0.0, 255.0), "|i1" => (-128.0, 127.0), "<i2" => (short.MinValue, short.MaxValue), "<u2" => (0.0, ushort.MaxValue),
            "<i4" => (int.MinValue, int.MaxValue), "<u4" => (0.0, uint.MaxValue), _ => (long.MinValue, (double)long.MaxValue),
        };
        double r = Math.Round((v - inter) / slope);
        r = double.IsNaN(r) ? 0 : Math.Clamp(r, lo, hi);
        switch (to.Name)
        {
            case "|u1": o[0] = (byte)r; break;
            case "|i1": o[0] = unchecked((byte)(sbyte)r); break;
            case "<i2": MemoryMarshal.Write(o, (short)r); break;
            case "<u2": MemoryMarshal.Write(o, (ushort)r); break;
            case "<i4": MemoryMarshal.Write(o, (int)r); break;
            case "<u4": MemoryMarshal.Write(o, (uint)r); break;
            case "<u8": MemoryMarshal.Write(o, (ulong)r); break;
            default: MemoryMarshal.Write(o, (long)r); break;
        }
    }

    [Theory]
    [MemberData(nameof(IntegerDTypes))]
    public void RequantiseMatchesTheConverter(string name)
    {
        DType to = DType.Parse(name);
        var rng = new Random(11);
        foreach (DType from in (DType[])[DType.Float32, DType.Float64])
        {
            foreach ((double slope, double inter) in (ValueTuple<double, double>[])[(1, 0.5), (0.5, -1024), (2, 0), (1.0 / 3, 7), (-1, 0), (1e-30, 0)])
            {
                foreach (int n in Lengths)
                {
                    byte[] src = RandomElements(from, n, rng);
                    var got = new byte[n * to.ItemSize];
                    ElementConvert.Requantise(src, from, slope, inter, got, to);
                    var expected = new byte[got.Length];
                    for (int i = 0; i < n; i++)
                        OldRequantise(OldToDouble(src.AsSpan(i * from.ItemSize), from), to, slope, inter, expected.AsSpan(i * to.ItemSize));
                    Assert.Equal(expected, got);
                }
            }
        }
    }

    [Fact]
    public void RequantiseRoundsTiesToEvenAndMapsNaNToZero()
    {
        double[] v = [0.5, 1.5, 2.5, -0.5, -1.5, double.NaN, double.PositiveInfinity, double.NegativeInfinity, 40000];
        var got = new short[v.Length];
        ElementConvert.Requantise(MemoryMarshal.AsBytes(v.AsSpan()), DType.Float64, 1, 0, MemoryMarshal.AsBytes(got.AsSpan()), DType.Int16);
        Assert.Equal(new short[] { 0, 2, 2, 0, -2, 0, short.MaxValue, short.MinValue, short.MaxValue }, got);
    }

    [Fact]
    public void WrongTargetsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => ElementConvert.Scale(new byte[2], DType.Int16, 1, 0, new byte[2], DType.Int16));
        Assert.Throws<ArgumentException>(() => ElementConvert.Requantise(new byte[4], DType.Float32, 1, 0, new byte[4], DType.Float32));
        Assert.Throws<ArgumentException>(() => ElementConvert.ToDouble(new byte[8], DType.Int16, new double[3]));
    }
}
