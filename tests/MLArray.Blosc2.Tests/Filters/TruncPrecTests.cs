using System.Buffers.Binary;
using MLArray.Blosc2.Filters;

namespace MLArray.Blosc2.Tests.Filters;

public class TruncPrecTests
{
    private static byte[] Floats(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        }

        return bytes;
    }

    [Fact]
    public void Float32_precision_10_zeroes_low_13_bits()
    {
        byte[] src = Floats(1.2345678f, -3.1415927f, 16383.75f, float.MaxValue);
        var dst = new byte[src.Length];
        Assert.True(TruncPrec.TryApply(10, 4, src, dst));
        for (int i = 0; i < 4; i++)
        {
            uint before = BinaryPrimitives.ReadUInt32LittleEndian(src.AsSpan(4 * i));
            uint after = BinaryPrimitives.ReadUInt32LittleEndian(dst.AsSpan(4 * i));
            Assert.Equal(before & 0xFFFFE000u, after);
        }
    }

    [Fact]
    public void Negative_precision_drops_bits_and_float64_uses_52_bit_mantissa()
    {
        byte[] src = ShuffleTests.RandomBytes(8 * 37 + 5, 3);   // 37 items + 5 trailing bytes
        var dst = new byte[src.Length];
        Assert.True(TruncPrec.TryApply(-5, 8, src, dst));
        for (int i = 0; i < 37; i++)
        {
            ulong before = BinaryPrimitives.ReadUInt64LittleEndian(src.AsSpan(8 * i));
            Assert.Equal(before & ~0x1FUL, BinaryPrimitives.ReadUInt64LittleEndian(dst.AsSpan(8 * i)));
        }

        Assert.Equal(src.AsSpan(8 * 37).ToArray(), dst.AsSpan(8 * 37).ToArray());

        // p = 20 for float64 keeps 20 mantissa bits: 32 low bits zeroed. In place.
        byte[] copy = (byte[])src.Clone();
        Assert.True(TruncPrec.TryApply(20, 8, copy, copy));
        for (int i = 0; i < 37; i++)
        {
            ulong before = BinaryPrimitives.ReadUInt64LittleEndian(src.AsSpan(8 * i));
            Assert.Equal(before & 0xFFFFFFFF00000000UL, BinaryPrimitives.ReadUInt64LittleEndian(copy.AsSpan(8 * i)));
        }

        // float32, p = -3 on a long block (vector path + tail), in place.
        byte[] f = ShuffleTests.RandomBytes(4 * 1001 + 2, 9);
        byte[] g = (byte[])f.Clone();
        Assert.True(TruncPrec.TryApply(-3, 4, g, g));
        for (int i = 0; i < 1001; i++)
        {
            Assert.Equal(
                BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(4 * i)) & ~7u,
                BinaryPrimitives.ReadUInt32LittleEndian(g.AsSpan(4 * i)));
        }

        Assert.Equal(f.AsSpan(4004).ToArray(), g.AsSpan(4004).ToArray());
    }

    [Theory]
    [InlineData(10, 2)]    // typesize must be 4 or 8
    [InlineData(10, 1)]
    [InlineData(10, 16)]
    [InlineData(0, 4)]     // zeroes the whole mantissa
    [InlineData(24, 4)]    // more bits than the mantissa has
    [InlineData(-23, 4)]
    [InlineData(0, 8)]
    [InlineData(53, 8)]
    [InlineData(-52, 8)]
    public void Rejects_invalid_parameters(int precision, int typesize)
    {
        byte[] src = ShuffleTests.RandomBytes(64, 1);
        var dst = new byte[64];
        Assert.False(TruncPrec.TryApply((sbyte)precision, typesize, src, dst));
        Assert.All(dst, b => Assert.Equal(0, b));
    }

    [Theory]
    [InlineData(23, 4, 0)]
    [InlineData(1, 4, 22)]
    [InlineData(-22, 4, 22)]
    [InlineData(52, 8, 0)]
    [InlineData(-51, 8, 51)]
    public void Accepts_edge_parameters(int precision, int typesize, int zeroed)
    {
        Assert.Equal(zeroed, TruncPrec.ZeroedBits((sbyte)precision, typesize));
        byte[] src = ShuffleTests.RandomBytes(64, 2);
        var dst = new byte[64];
        Assert.True(TruncPrec.TryApply((sbyte)precision, typesize, src, dst));
    }
}
