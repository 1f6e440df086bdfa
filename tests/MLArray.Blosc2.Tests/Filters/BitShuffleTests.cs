using CsCheck;
using MLArray.Blosc2.Filters;

namespace MLArray.Blosc2.Tests.Filters;

public class BitShuffleTests
{
    public static TheoryData<int> Widths()
    {
        var data = new TheoryData<int>();
        foreach (int w in Enumerable.Range(1, 17).Concat([24, 32, 33, 255, 1100]))
        {
            data.Add(w);
        }

        return data;
    }

    /// <summary>
    /// Spec §7.2, bit by bit: out[r*(m/8) + i/8] bit (i%8) = bit k of in[i*w + j], r = 8*j + k;
    /// bytes from m*w on are copied.
    /// </summary>
    private static byte[] OracleForward(int w, byte[] input)
    {
        int n = input.Length / w;
        int m = n - n % 8;
        var output = (byte[])input.Clone();
        Array.Clear(output, 0, m * w);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < w; j++)
            {
                for (int k = 0; k < 8; k++)
                {
                    int bit = (input[i * w + j] >> k) & 1;
                    int r = 8 * j + k;
                    output[r * (m / 8) + i / 8] |= (byte)(bit << (i % 8));
                }
            }
        }

        return output;
    }

    /// <summary>Spec §7.2 inverse: out[i*w + j] bit k = bit (i%8) of in[(8*j + k)*(m/8) + i/8].</summary>
    private static byte[] OracleInverse(int w, byte[] input)
    {
        int n = input.Length / w;
        int m = n - n % 8;
        var output = (byte[])input.Clone();
        Array.Clear(output, 0, m * w);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < w; j++)
            {
                for (int k = 0; k < 8; k++)
                {
                    int bit = (input[(8 * j + k) * (m / 8) + i / 8] >> (i % 8)) & 1;
                    output[i * w + j] |= (byte)(bit << k);
                }
            }
        }

        return output;
    }

    private static byte[] Run(Action<int, ReadOnlySpan<byte>, Span<byte>> f, int w, byte[] src)
    {
        var dst = new byte[src.Length];
        f(w, src, dst);
        return dst;
    }

    private static IEnumerable<int> LengthsFor(int w) =>
        ShuffleTests.LengthsFor(w).Concat([8 * w, 8 * w + 1, 24 * w, 40 * w + 3, 2048 * w + 7 * w]).Distinct().Where(l => l <= 200_000);

    [Theory]
    [MemberData(nameof(Widths))]
    public void Scalar_matches_spec_bit_formula(int w)
    {
        foreach (int len in LengthsFor(w).Where(l => l <= 20_000))
        {
            byte[] x = ShuffleTests.RandomBytes(len, len * 13 + w);
            Assert.Equal(OracleForward(w, x), Run(BitShuffle.ForwardScalar, w, x));
            Assert.Equal(OracleInverse(w, x), Run(BitShuffle.InverseScalar, w, x));
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Vectorised_matches_scalar_and_round_trips(int w)
    {
        foreach (int len in LengthsFor(w))
        {
            byte[] x = ShuffleTests.RandomBytes(len, len * 7 + w);
            byte[] f = Run(BitShuffle.Forward, w, x);
            Assert.Equal(Run(BitShuffle.ForwardScalar, w, x), f);
            Assert.Equal(Run(BitShuffle.InverseScalar, w, x), Run(BitShuffle.Inverse, w, x));
            Assert.Equal(x, Run(BitShuffle.Inverse, w, f));
        }
    }

    [Fact]
    public void Transpose8x8_is_a_bit_transpose()
    {
        var rnd = new Random(1);
        for (int iter = 0; iter < 1000; iter++)
        {
            ulong x = (ulong)rnd.NextInt64() ^ ((ulong)rnd.Next() << 40);
            ulong y = BitShuffle.Transpose8x8(x);
            for (int r = 0; r < 8; r++)
            {
                for (int c = 0; c < 8; c++)
                {
                    Assert.Equal((x >> (8 * c + r)) & 1, (y >> (8 * r + c)) & 1);
                }
            }
        }
    }

    [Fact]
    public void Known_vector_typesize_1()
    {
        // Eight one-byte items: row k collects bit k of items 0..7, item i at bit i.
        byte[] x = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x81, 0x5A];
        byte[] expected = [0x81, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x5A];
        Assert.Equal(expected, Run(BitShuffle.Forward, 1, x));

        byte[] ones = [0xFF, 0x00, 0xFF, 0x00, 0xFF, 0x00, 0xFF, 0x00];
        Assert.Equal(Enumerable.Repeat((byte)0x55, 8).ToArray(), Run(BitShuffle.Forward, 1, ones));
    }

    [Fact]
    public void Fewer_than_eight_items_are_copied()
    {
        byte[] x = ShuffleTests.RandomBytes(7 * 4 + 3, 5);
        Assert.Equal(x, Run(BitShuffle.Forward, 4, x));
        Assert.Equal(x, Run(BitShuffle.Inverse, 4, x));
    }

    [Fact]
    public void Property_vectorised_equals_scalar_and_round_trips()
    {
        Gen.Select(Gen.Int[1, 40], Gen.Byte.Array[0, 6000]).Sample((w, x) =>
        {
            byte[] f = Run(BitShuffle.Forward, w, x);
            Assert.Equal(Run(BitShuffle.ForwardScalar, w, x), f);
            Assert.Equal(Run(BitShuffle.InverseScalar, w, x), Run(BitShuffle.Inverse, w, x));
            Assert.Equal(x, Run(BitShuffle.Inverse, w, f));
        }, iter: 300);
    }

    [Fact]
    public void Works_on_unaligned_slices()
    {
        foreach (int w in new[] { 1, 2, 4, 8, 5 })
        {
            byte[] backing = ShuffleTests.RandomBytes(9000, w);
            ReadOnlySpan<byte> src = backing.AsSpan(1, 8765);
            var dst = new byte[src.Length + 3];
            BitShuffle.Forward(w, src, dst.AsSpan(3));
            var expected = new byte[src.Length];
            BitShuffle.ForwardScalar(w, src, expected);
            Assert.True(dst.AsSpan(3).SequenceEqual(expected));

            var back = new byte[src.Length + 1];
            BitShuffle.Inverse(w, dst.AsSpan(3), back.AsSpan(1));
            Assert.True(back.AsSpan(1).SequenceEqual(src));
        }
    }

    [Fact]
    public void Rejects_bad_arguments()
    {
        var buf = new byte[64];
        Assert.Throws<ArgumentOutOfRangeException>(() => BitShuffle.Forward(0, new byte[8], new byte[8]));
        Assert.Throws<ArgumentException>(() => BitShuffle.Inverse(4, new byte[64], new byte[32]));
        Assert.Throws<ArgumentException>(() => BitShuffle.Forward(4, buf.AsSpan(0, 32), buf.AsSpan(8, 32)));
    }
}
