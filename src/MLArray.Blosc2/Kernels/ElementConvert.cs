using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MLArray.Kernels;

/// <summary>
/// The one element conversion between stored elements (machine order, any numeric real <see cref="DType"/>) and float64, and the
/// two direct conversions the medical converter needs (scaling stored integers to float, requantising floats back),
/// in vectorised loops over blocks of elements (one dispatch on <see cref="DTypeCode"/> per call, never per element).
/// Semantics are C#'s: integers and float32 widen to float64 exactly (int64/uint64 round to nearest), bool is 0 or 1;
/// float64 to an integer type is a C# cast (saturating, NaN → 0), to float32 rounds to nearest, to bool is <c>!= 0</c>.
/// </summary>
internal static class ElementConvert
{
    private const int Block = 1024;

    /// <summary>Converts the elements of <paramref name="source"/> into the start of <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than the element count.</exception>
    public static void ToDouble(ReadOnlySpan<byte> source, DType from, Span<double> destination)
    {
        int n = source.Length / from.ItemSize;
        if (destination.Length < n)
            throw new ArgumentException($"{n} elements do not fit into {destination.Length} doubles.", nameof(destination));
        Span<double> d = destination[..n];
        switch (from.Code)
        {
            case DTypeCode.Bool: BoolToDouble(source[..n], d); break;
            case DTypeCode.Int8: Widen(MemoryMarshal.Cast<byte, sbyte>(source[..n]), d); break;
            case DTypeCode.UInt8: Widen(source[..n], d); break;
            case DTypeCode.Int16: Widen(MemoryMarshal.Cast<byte, short>(source), d); break;
            case DTypeCode.UInt16: Widen(MemoryMarshal.Cast<byte, ushort>(source), d); break;
            case DTypeCode.Int32: Widen(MemoryMarshal.Cast<byte, int>(source), d); break;
            case DTypeCode.UInt32: Widen(MemoryMarshal.Cast<byte, uint>(source), d); break;
            case DTypeCode.Int64: Widen(MemoryMarshal.Cast<byte, long>(source), d); break;
            case DTypeCode.UInt64: Widen(MemoryMarshal.Cast<byte, ulong>(source), d); break;
            case DTypeCode.Float32: Widen(MemoryMarshal.Cast<byte, float>(source), d); break;
            case DTypeCode.Float64: MemoryMarshal.Cast<byte, double>(source)[..n].CopyTo(d); break;
            case DTypeCode.Float16: HalfToDouble(MemoryMarshal.Cast<byte, Half>(source)[..n], d); break;
            default: throw new NotSupportedException($"dtype {from} has no float64 conversion.");
        }
    }

    /// <summary>Converts <paramref name="source"/> into elements of <paramref name="to"/> at the start of <paramref name="destination"/> (C# cast semantics).</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too short.</exception>
    public static void FromDouble(ReadOnlySpan<double> source, Span<byte> destination, DType to)
    {
        int n = source.Length;
        if (destination.Length / to.ItemSize < n)
            throw new ArgumentException($"{n} elements of {to} do not fit into {destination.Length} bytes.", nameof(destination));
        Span<byte> d = destination[..(n * to.ItemSize)];
        switch (to.Code)
        {
            case DTypeCode.Bool: for (int i = 0; i < n; i++) d[i] = source[i] != 0 ? (byte)1 : (byte)0; break;
            case DTypeCode.Int8: CastSmall(source, MemoryMarshal.Cast<byte, sbyte>(d)); break;
            case DTypeCode.UInt8: CastSmall(source, d); break;
            case DTypeCode.Int16: CastSmall(source, MemoryMarshal.Cast<byte, short>(d)); break;
            case DTypeCode.UInt16: CastSmall(source, MemoryMarshal.Cast<byte, ushort>(d)); break;
            case DTypeCode.Int32: CastWide(source, MemoryMarshal.Cast<byte, int>(d)); break;
            case DTypeCode.UInt32: CastWide(source, MemoryMarshal.Cast<byte, uint>(d)); break;
            case DTypeCode.Int64: CastWide(source, MemoryMarshal.Cast<byte, long>(d)); break;
            case DTypeCode.UInt64: CastWide(source, MemoryMarshal.Cast<byte, ulong>(d)); break;
            case DTypeCode.Float32: Narrow(source, MemoryMarshal.Cast<byte, float>(d)); break;
            case DTypeCode.Float64: source.CopyTo(MemoryMarshal.Cast<byte, double>(d)); break;
            case DTypeCode.Float16: DoubleToHalf(source, MemoryMarshal.Cast<byte, Half>(d)); break;
            case DTypeCode.Complex64:
                {
                    // (x, 0), as NumPy's astype: real parts rounded to float32, imaginary parts zero
                    var c = MemoryMarshal.Cast<byte, float>(d);
                    c.Clear();
                    for (int i = 0; i < n; i++) c[2 * i] = (float)source[i];
                    break;
                }
            case DTypeCode.Complex128:
                {
                    var c = MemoryMarshal.Cast<byte, double>(d);
                    c.Clear();
                    for (int i = 0; i < n; i++) c[2 * i] = source[i];
                    break;
                }
            default: throw new NotSupportedException($"dtype {to} has no float64 conversion.");
        }
    }

    /// <summary>
    /// Scaled values of stored elements: <c>x * slope + inter</c> computed in float64 (not fused), stored as
    /// <paramref name="to"/> (<see cref="DType.Float32"/>: rounded to nearest, or <see cref="DType.Float64"/>).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="to"/> is not a float type, or <paramref name="destination"/> is too short.</exception>
    public static void Scale(ReadOnlySpan<byte> source, DType from, double slope, double inter, Span<byte> destination, DType to)
    {
        if (to.Kind != DTypeKind.Float)
            throw new ArgumentException($"scaled values are stored as float32 or float64, not {to}.", nameof(to));
        Span<double> buf = stackalloc double[Block];
        int n = source.Length / from.ItemSize;
        for (int i = 0; i < n; i += Block)
        {
            int k = Math.Min(Block, n - i);
            Span<double> v = buf[..k];
            ToDouble(source.Slice(i * from.ItemSize, k * from.ItemSize), from, v);
            MultiplyAdd(v, slope, inter);
            FromDouble(v, destination.Slice(i * to.ItemSize), to);
        }
    }

    /// <summary>
    /// The stored integers of scaled float values: <c>round((x - inter) / slope)</c> (ties to even), NaN → 0, clamped to
    /// the range of <paramref name="to"/> (for uint64: to [0, 2^63]).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="to"/> is not an integer type, or <paramref name="destination"/> is too short.</exception>
    public static void Requantise(ReadOnlySpan<byte> source, DType from, double slope, double inter, Span<byte> destination, DType to)
    {
        (double lo, double hi) = to.Code switch
        {
            DTypeCode.UInt8 => (0.0, 255.0),
            DTypeCode.Int8 => (-128.0, 127.0),
            DTypeCode.Int16 => (short.MinValue, short.MaxValue),
            DTypeCode.UInt16 => (0.0, ushort.MaxValue),
            DTypeCode.Int32 => (int.MinValue, int.MaxValue),
            DTypeCode.UInt32 => (0.0, uint.MaxValue),
            DTypeCode.Int64 or DTypeCode.UInt64 => (long.MinValue, (double)long.MaxValue),
            _ => throw new ArgumentException($"requantisation stores integers, not {to}.", nameof(to)),
        };
        Span<double> buf = stackalloc double[Block];
        int n = source.Length / from.ItemSize;
        for (int i = 0; i < n; i += Block)
        {
            int k = Math.Min(Block, n - i);
            Span<double> v = buf[..k];
            ToDouble(source.Slice(i * from.ItemSize, k * from.ItemSize), from, v);
            RoundClamp(v, inter, slope, lo, hi);
            Span<byte> dst = destination.Slice(i * to.ItemSize, k * to.ItemSize);
            switch (to.Code)
            {
                case DTypeCode.Int16: SmallInts(v, MemoryMarshal.Cast<byte, short>(dst)); break;
                case DTypeCode.UInt16: SmallInts(v, MemoryMarshal.Cast<byte, ushort>(dst)); break;
                case DTypeCode.Int8: SmallInts(v, MemoryMarshal.Cast<byte, sbyte>(dst)); break;
                case DTypeCode.UInt8: SmallInts(v, dst); break;
                default: FromDouble(v, dst, to); break;
            }
        }
    }

    /// <summary>
    /// True when every value of <paramref name="from"/> is exactly representable in <paramref name="to"/> (a cast
    /// that loses nothing: widening integers, integers into floats with enough mantissa, float16 → float32 → float64,
    /// real → complex, complex64 → complex128).
    /// </summary>
    public static bool IsExact(DType from, DType to)
    {
        if (from.IsOpaque || to.IsOpaque)
            return from == to;
        if (from.Code == to.Code || from.Kind == DTypeKind.Bool)
            return true;
        int Mantissa(DType d) => d.Code switch { DTypeCode.Float16 => 11, DTypeCode.Float32 or DTypeCode.Complex64 => 24, _ => 53 };
        int bits = from.ItemSize * 8;
        return (from.Kind, to.Kind) switch
        {
            (DTypeKind.SignedInteger, DTypeKind.SignedInteger) or (DTypeKind.UnsignedInteger, DTypeKind.UnsignedInteger) => to.ItemSize >= from.ItemSize,
            (DTypeKind.UnsignedInteger, DTypeKind.SignedInteger) => to.ItemSize > from.ItemSize,
            (DTypeKind.SignedInteger or DTypeKind.UnsignedInteger, DTypeKind.Float or DTypeKind.Complex) =>
                (from.Kind == DTypeKind.SignedInteger ? bits - 1 : bits) <= Mantissa(to),
            (DTypeKind.Float, DTypeKind.Float or DTypeKind.Complex) => Mantissa(to) >= Mantissa(from),
            (DTypeKind.Complex, DTypeKind.Complex) => to.ItemSize >= from.ItemSize,
            _ => false,
        };
    }

    /// <summary>
    /// Converts elements of <paramref name="from"/> (machine order) into a new buffer of <paramref name="to"/> with
    /// NumPy <c>astype</c> semantics for real types (C# casts: integers saturate, NaN → 0), complex64 ↔ complex128 part
    /// by part, real → complex with a zero imaginary part.
    /// </summary>
    /// <exception cref="ArgumentException">complex → real (the imaginary part would be dropped) or an opaque dtype.</exception>
    public static byte[] Cast(ReadOnlySpan<byte> source, DType from, DType to)
    {
        if (from.IsOpaque || to.IsOpaque)
            throw new ArgumentException($"cannot cast between {from} and {to}: opaque dtypes (strings, void, structured) have no numeric values.");
        if (from.Kind == DTypeKind.Complex && to.Kind != DTypeKind.Complex)
            throw new ArgumentException($"cannot cast complex {from} to real {to}: the imaginary part would be dropped; keep a complex type.");
        if (from.Kind == DTypeKind.Complex && from.Code != to.Code)
            return Cast(source, from.ItemSize == 8 ? DType.Float32 : DType.Float64, to.ItemSize == 8 ? DType.Float32 : DType.Float64); // part by part
        long n = source.Length / from.ItemSize;
        var result = GC.AllocateUninitializedArray<byte>(checked((int)(n * to.ItemSize)));
        if (from.Code == to.Code)
        {
            source.CopyTo(result);
            return result;
        }
        if (from.Code == DTypeCode.Float16 && to.Code == DTypeCode.Float32)
        {
            HalfToSingle(MemoryMarshal.Cast<byte, Half>(source), MemoryMarshal.Cast<byte, float>(result.AsSpan()));
            return result;
        }
        Span<double> buf = stackalloc double[Block];
        for (long i = 0; i < n; i += Block)
        {
            int k = (int)Math.Min(Block, n - i);
            ToDouble(source.Slice((int)(i * from.ItemSize), k * from.ItemSize), from, buf[..k]);
            FromDouble(buf[..k], result.AsSpan((int)(i * to.ItemSize), k * to.ItemSize), to);
        }
        return result;
    }

    /// <summary>float16 → float32 (exact), vectorised.</summary>
    public static void HalfToSingle(ReadOnlySpan<Half> source, Span<float> destination) =>
        System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(source, destination);

    /// <summary>float32 → float16 (round to nearest even; out of range → ±infinity), vectorised.</summary>
    public static void SingleToHalf(ReadOnlySpan<float> source, Span<Half> destination) =>
        System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(source, destination);

    // ------------------------------------------------------------------ to float64

    private static void HalfToDouble(ReadOnlySpan<Half> s, Span<double> d)
    {
        Span<float> f = stackalloc float[Block];
        for (int i = 0; i < s.Length; i += Block)
        {
            int k = Math.Min(Block, s.Length - i);
            HalfToSingle(s.Slice(i, k), f[..k]);
            Widen<float>(f[..k], d.Slice(i, k));
        }
    }

    /// <summary>float64 → float16 in one rounding (through float32 would round twice).</summary>
    private static void DoubleToHalf(ReadOnlySpan<double> s, Span<Half> d)
    {
        for (int i = 0; i < s.Length; i++)
            d[i] = (Half)s[i];
    }

    private static void BoolToDouble(ReadOnlySpan<byte> s, Span<double> d)
    {
        for (int i = 0; i < s.Length; i++) d[i] = s[i] != 0 ? 1 : 0;
    }

    /// <summary>Widens integers and float32 to float64, a vector at a time.</summary>
    private static void Widen<T>(ReadOnlySpan<T> s, Span<double> d)
        where T : unmanaged, INumberBase<T>
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; i <= s.Length - Vector<T>.Count; i += Vector<T>.Count) Store(new Vector<T>(s[i..]), d[i..]);
        }

        for (; i < s.Length; i++) d[i] = double.CreateTruncating(s[i]);
    }

    /// <summary>Stores one vector as float64 values: halves widened step by step (the type tests fold when the JIT specialises).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(Vector<T> v, Span<double> d)
        where T : unmanaged
    {
        if (typeof(T) == typeof(double))
        {
            v.As<T, double>().CopyTo(d);
        }
        else if (typeof(T) == typeof(long))
        {
            Vector.ConvertToDouble(v.As<T, long>()).CopyTo(d);
        }
        else if (typeof(T) == typeof(ulong))
        {
            Vector.ConvertToDouble(v.As<T, ulong>()).CopyTo(d);
        }
        else if (typeof(T) == typeof(float))
        {
            Vector.Widen(v.As<T, float>(), out Vector<double> a, out Vector<double> b);
            StoreHalves(a, b, d);
        }
        else if (typeof(T) == typeof(int))
        {
            Vector.Widen(v.As<T, int>(), out Vector<long> a, out Vector<long> b);
            StoreHalves(a, b, d);
        }
        else if (typeof(T) == typeof(uint))
        {
            Vector.Widen(v.As<T, uint>(), out Vector<ulong> a, out Vector<ulong> b);
            StoreHalves(a, b, d);
        }
        else if (typeof(T) == typeof(short))
        {
            Vector.Widen(v.As<T, short>(), out Vector<int> a, out Vector<int> b);
            StoreHalves(a, b, d);
        }
        else if (typeof(T) == typeof(ushort))
        {
            Vector.Widen(v.As<T, ushort>(), out Vector<uint> a, out Vector<uint> b);
            StoreHalves(a, b, d);
        }
        else if (typeof(T) == typeof(sbyte))
        {
            Vector.Widen(v.As<T, sbyte>(), out Vector<short> a, out Vector<short> b);
            StoreHalves(a, b, d);
        }
        else if (typeof(T) == typeof(byte))
        {
            Vector.Widen(v.As<T, byte>(), out Vector<ushort> a, out Vector<ushort> b);
            StoreHalves(a, b, d);
        }
        else
        {
            throw new NotSupportedException($"{typeof(T)} has no float64 widening.");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreHalves<TW>(Vector<TW> a, Vector<TW> b, Span<double> d)
        where TW : unmanaged
    {
        Store(a, d);
        Store(b, d[Vector<TW>.Count..]);
    }

    // ------------------------------------------------------------------ from float64

    /// <summary>C#'s cast to a type narrower than int32: to int32 (saturating, NaN → 0), then the low bits.</summary>
    private static void CastSmall<T>(ReadOnlySpan<double> s, Span<T> d)
        where T : unmanaged, IBinaryInteger<T>
    {
        for (int i = 0; i < s.Length; i++) d[i] = T.CreateTruncating((int)s[i]);
    }

    /// <summary>C#'s cast to a 32- or 64-bit integer: saturating, NaN → 0.</summary>
    private static void CastWide<T>(ReadOnlySpan<double> s, Span<T> d)
        where T : unmanaged, IBinaryInteger<T>
    {
        for (int i = 0; i < s.Length; i++) d[i] = T.CreateSaturating(s[i]);
    }

    private static void Narrow(ReadOnlySpan<double> s, Span<float> d)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int w = Vector<double>.Count;
            for (; i <= s.Length - (2 * w); i += 2 * w)
                Vector.Narrow(new Vector<double>(s[i..]), new Vector<double>(s[(i + w)..])).CopyTo(d[i..]);
        }

        for (; i < s.Length; i++) d[i] = (float)s[i];
    }

    private static void MultiplyAdd(Span<double> v, double slope, double inter)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var m = new Vector<double>(slope);
            var a = new Vector<double>(inter);
            for (; i <= v.Length - Vector<double>.Count; i += Vector<double>.Count)
            {
                Vector<double> x = new(v[i..]);
                Vector<double> p = x * m;
                (p + a).CopyTo(v[i..]);
            }
        }

        for (; i < v.Length; i++) v[i] = (v[i] * slope) + inter;
    }

    /// <summary><c>round((v - inter) / slope)</c>, NaN → 0, clamped to [lo, hi].</summary>
    private static void RoundClamp(Span<double> v, double inter, double slope, double lo, double hi)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vi = new Vector<double>(inter);
            var vs = new Vector<double>(slope);
            var vlo = new Vector<double>(lo);
            var vhi = new Vector<double>(hi);
            for (; i <= v.Length - Vector<double>.Count; i += Vector<double>.Count)
            {
                Vector<double> r = Vector.Round((new Vector<double>(v[i..]) - vi) / vs);
                r = Vector.ConditionalSelect(Vector.Equals(r, r), r, Vector<double>.Zero); // NaN → 0
                Vector.Min(Vector.Max(r, vlo), vhi).CopyTo(v[i..]);
            }
        }

        for (; i < v.Length; i++)
        {
            double r = Math.Round((v[i] - inter) / slope);
            v[i] = double.IsNaN(r) ? 0 : Math.Clamp(r, lo, hi);
        }
    }

    /// <summary>Whole numbers already within a type of at most 16 bits: exact through float32 and int32.</summary>
    private static void SmallInts<T>(ReadOnlySpan<double> s, Span<T> d)
        where T : unmanaged, IBinaryInteger<T>
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int w = Vector<double>.Count;
            int step = Vector<int>.Count;
            Span<int> ints = stackalloc int[step];
            for (; i <= s.Length - step; i += step)
            {
                Vector<float> f = Vector.Narrow(new Vector<double>(s[i..]), new Vector<double>(s[(i + w)..]));
                Vector.ConvertToInt32(f).CopyTo(ints);
                for (int j = 0; j < step; j++) d[i + j] = T.CreateTruncating(ints[j]);
            }
        }

        for (; i < s.Length; i++) d[i] = T.CreateTruncating((long)s[i]);
    }
}
