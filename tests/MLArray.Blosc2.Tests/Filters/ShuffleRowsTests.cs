using CsCheck;
using MLArray.Blosc2.Filters;

namespace MLArray.Blosc2.Tests.Filters;

/// <summary>The inverse shuffle fused with the strided copy into destination rows (vector kernels and scalar fallback).</summary>
public sealed class ShuffleRowsTests
{
    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, false)]
    public unsafe void Rows_unshuffled_into_a_strided_destination_equal_the_original_elements_and_nothing_else_is_written(bool vector, bool wide)
    {
        // (wide, on a machine without AVX2, runs the 128-bit kernels again.)
        // Counts up to 80 (several 32-element steps and tails), exactly 16 (pairs of runs) and rows up to 7 (odd pairs).
        Gen.Select(Gen.OneOfConst(1, 2, 3, 4, 5, 8, 16), Gen.OneOf(Gen.Int[1, 80], Gen.Const(16)), Gen.Int[1, 7], Gen.Int).Sample((w, count, rows, seed) =>
        {
            var rng = new Random(seed);
            var (block, shuffled, n, e0, rowStep) = RandomRuns(rng, w, count, rows);
            int dstStride = count * w + rng.Next(0, 9);
            var dst = new byte[rows * dstStride + 16];
            dst.AsSpan().Fill(0xEE);
            fixed (byte* s = shuffled)
            fixed (byte* d = dst)
                Shuffle.InverseRows(w, s, n, e0, count, rows, rowStep, d + 3, dstStride, vector, wide);
            for (int i = 0; i < dst.Length; i++)
            {
                int rel = i - 3;
                int r = rel >= 0 ? rel / dstStride : -1, c = rel >= 0 ? rel % dstStride : -1;
                bool inside = r >= 0 && r < rows && c < count * w;
                byte expected = inside ? block[(e0 + r * rowStep) * w + c] : (byte)0xEE;
                Assert.True(expected == dst[i], $"w {w} count {count} rows {rows} byte {i}: {dst[i]} != {expected}");
            }
        }, iter: 1000);
    }

    /// <summary>
    /// A random block of <paramref name="rows"/> runs of <paramref name="count"/> items of width <paramref name="w"/>
    /// (run r at item e0 + r·rowStep, uneven steps and margins) and its shuffled image, readable past its end as the
    /// row kernels need.
    /// </summary>
    internal static (byte[] Block, byte[] Shuffled, int N, int E0, int RowStep) RandomRuns(Random rng, int w, int count, int rows)
    {
        int rowStep = count + (rng.Next(3) == 0 ? 0 : rng.Next(0, 20));
        int e0 = rng.Next(0, 30);
        int n = e0 + (rows - 1) * rowStep + count + rng.Next(0, 10);
        var block = new byte[n * w];
        rng.NextBytes(block);
        var shuffled = new byte[n * w + Shuffle.RowsReadSlack];
        Shuffle.ForwardScalar(w, block, shuffled.AsSpan(0, n * w));
        return (block, shuffled, n, e0, rowStep);
    }

    [Fact]
    public unsafe void Small_copies_of_every_length_up_to_128_copy_exactly_those_bytes()
    {
        var rng = new Random(5);
        var src = new byte[128];
        rng.NextBytes(src);
        for (int length = 0; length <= 128; length++)
        {
            var dst = new byte[128 + 2];
            dst.AsSpan().Fill(0xEE);
            fixed (byte* s = src)
            fixed (byte* d = dst)
                Shuffle.CopySmall(d + 1, s, length);
            Assert.Equal(0xEE, dst[0]);
            Assert.True(src.AsSpan(0, length).SequenceEqual(dst.AsSpan(1, length)), $"length {length}");
            Assert.True(dst.AsSpan(1 + length).IndexOfAnyExcept((byte)0xEE) < 0, $"length {length} wrote past its end");
        }
    }
}
