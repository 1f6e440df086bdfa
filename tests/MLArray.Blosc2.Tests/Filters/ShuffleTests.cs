using CsCheck;
using MLArray.Blosc2.Filters;

namespace MLArray.Blosc2.Tests.Filters;

public class ShuffleTests
{
    internal static readonly int[] BaseLengths = [0, 1, 7, 8, 15, 16, 31, 32, 63, 64, 100, 1000, 16384, 16384 + 3];

    public static TheoryData<int> Widths()
    {
        var data = new TheoryData<int>();
        foreach (int w in Enumerable.Range(1, 17).Concat([32, 24, 64]))
        {
            data.Add(w);
        }

        return data;
    }

    /// <summary>Base lengths plus lengths around the vector group sizes (16, 32, 64 elements) for width w.</summary>
    internal static IEnumerable<int> LengthsFor(int w)
    {
        var set = new SortedSet<int>(BaseLengths);
        foreach (int k in new[] { 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 100, 512 })
        {
            set.Add(k * w);
            set.Add(k * w + w - 1);
            set.Add(k * w + 1);
        }

        return set;
    }

    internal static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Spec §7.1 forward formula, as literally as possible.</summary>
    private static byte[] OracleForward(int w, byte[] src)
    {
        int n = src.Length / w;
        var dst = (byte[])src.Clone();   // the trailing bsize % w bytes stay as they are
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < w; j++)
            {
                dst[j * n + i] = src[i * w + j];
            }
        }

        return dst;
    }

    /// <summary>Spec §7.1 inverse formula.</summary>
    private static byte[] OracleInverse(int w, byte[] src)
    {
        int n = src.Length / w;
        var dst = (byte[])src.Clone();
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < w; j++)
            {
                dst[i * w + j] = src[j * n + i];
            }
        }

        return dst;
    }

    private static byte[] Run(Action<int, ReadOnlySpan<byte>, Span<byte>> f, int w, byte[] src)
    {
        var dst = new byte[src.Length];
        f(w, src, dst);
        return dst;
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Scalar_matches_spec_formula(int w)
    {
        foreach (int len in LengthsFor(w).Where(l => l <= 20000))
        {
            byte[] x = RandomBytes(len, len * 31 + w);
            Assert.Equal(OracleForward(w, x), Run(Shuffle.ForwardScalar, w, x));
            Assert.Equal(OracleInverse(w, x), Run(Shuffle.InverseScalar, w, x));
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Vectorised_matches_scalar_and_round_trips(int w)
    {
        foreach (int len in LengthsFor(w))
        {
            byte[] x = RandomBytes(len, len * 17 + w);
            byte[] f = Run(Shuffle.Forward, w, x);
            Assert.Equal(Run(Shuffle.ForwardScalar, w, x), f);
            Assert.Equal(Run(Shuffle.InverseScalar, w, x), Run(Shuffle.Inverse, w, x));
            Assert.Equal(x, Run(Shuffle.Inverse, w, f));
        }
    }

    [Fact]
    public void Known_small_vector()
    {
        // 3 items of 4 bytes + 2 trailing bytes.
        byte[] x = [0x10, 0x11, 0x12, 0x13, 0x20, 0x21, 0x22, 0x23, 0x30, 0x31, 0x32, 0x33, 0xEE, 0xFF];
        byte[] expected = [0x10, 0x20, 0x30, 0x11, 0x21, 0x31, 0x12, 0x22, 0x32, 0x13, 0x23, 0x33, 0xEE, 0xFF];
        Assert.Equal(expected, Run(Shuffle.Forward, 4, x));
        Assert.Equal(x, Run(Shuffle.Inverse, 4, expected));
    }

    [Fact]
    public void Works_on_unaligned_slices_and_leaves_rest_of_destination_alone()
    {
        foreach (int w in new[] { 2, 4, 8, 16, 3 })
        {
            byte[] backing = RandomBytes(5000, w);
            ReadOnlySpan<byte> src = backing.AsSpan(3, 4321);
            var dstBacking = new byte[5000];
            Array.Fill(dstBacking, (byte)0xA5);
            Span<byte> dst = dstBacking.AsSpan(5, 4600);

            Shuffle.Forward(w, src, dst);
            var expected = new byte[src.Length];
            Shuffle.ForwardScalar(w, src, expected);
            Assert.True(dst[..src.Length].SequenceEqual(expected));
            Assert.All(dstBacking.AsSpan(5 + src.Length).ToArray(), b => Assert.Equal(0xA5, b));
            Assert.All(dstBacking.AsSpan(0, 5).ToArray(), b => Assert.Equal(0xA5, b));

            var back = new byte[src.Length + 7];
            Shuffle.Inverse(w, dst[..src.Length], back.AsSpan(7));
            Assert.True(back.AsSpan(7).SequenceEqual(src));
        }
    }

    [Fact]
    public void Property_vectorised_equals_scalar_and_round_trips()
    {
        Gen.Select(Gen.Int[1, 40], Gen.Byte.Array[0, 6000]).Sample((w, x) =>
        {
            byte[] f = Run(Shuffle.Forward, w, x);
            Assert.Equal(Run(Shuffle.ForwardScalar, w, x), f);
            Assert.Equal(Run(Shuffle.InverseScalar, w, x), Run(Shuffle.Inverse, w, x));
            Assert.Equal(x, Run(Shuffle.Inverse, w, f));
        }, iter: 300);
    }

    [Fact]
    public void Property_hot_widths_large_blocks()
    {
        Gen.Select(Gen.OneOfConst(2, 4, 8, 16), Gen.Int[0, 70000]).Sample((w, len) =>
        {
            byte[] x = RandomBytes(len, len);
            byte[] f = Run(Shuffle.Forward, w, x);
            Assert.Equal(Run(Shuffle.ForwardScalar, w, x), f);
            Assert.Equal(x, Run(Shuffle.Inverse, w, f));
        }, iter: 40);
    }

    [Fact]
    public void Rejects_bad_arguments()
    {
        var buf = new byte[64];
        Assert.Throws<ArgumentOutOfRangeException>(() => Shuffle.Forward(0, new byte[8], new byte[8]));
        Assert.Throws<ArgumentException>(() => Shuffle.Forward(4, new byte[8], new byte[4]));
        Assert.Throws<ArgumentException>(() => Shuffle.Inverse(4, buf.AsSpan(0, 32), buf.AsSpan(16, 32)));
    }
}
