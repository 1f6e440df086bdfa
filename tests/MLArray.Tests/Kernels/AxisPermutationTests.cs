using MLArray.Kernels;

namespace MLArray.Tests.Kernels;

/// <summary>The tiled N-d permutation against a naive element-by-element reference, for every item size the readers use.</summary>
public sealed class AxisPermutationTests
{
    /// <summary>Reference: walk the output in C order and fetch each item from its source index.</summary>
    private static byte[] Naive(byte[] src, long[] shape, int[] perm, int itemSize, bool[] flip)
    {
        int n = shape.Length;
        long[] outShape = perm.Select(p => shape[p]).ToArray();
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var dst = new byte[src.Length];
        var oi = new long[n];
        var si = new long[n];
        for (long o = 0; o < count; o++)
        {
            long rem = o;
            for (int k = n - 1; k >= 0; k--)
            {
                oi[k] = rem % outShape[k];
                rem /= outShape[k];
            }

            for (int k = 0; k < n; k++) si[perm[k]] = flip.Length > 0 && flip[k] ? outShape[k] - 1 - oi[k] : oi[k];
            long s = 0;
            for (int a = 0; a < n; a++) s = (s * shape[a]) + si[a];
            Array.Copy(src, s * itemSize, dst, o * itemSize, itemSize);
        }

        return dst;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(8)]
    [InlineData(12)]
    [InlineData(16)]
    public void RandomShapesAndPermutationsMatchTheReference(int itemSize)
    {
        var rng = new Random(1234 + itemSize);
        for (int trial = 0; trial < 150; trial++)
        {
            int n = rng.Next(1, 6);
            long[] shape = Enumerable.Range(0, n).Select(_ => (long)rng.Next(1, trial % 10 == 0 ? 70 : 9)).ToArray();
            // Large trials cross many tiles; at most 2^20 items each (five axes of up to 69 made arrays of hundreds of
            // MB, and the naive reference took most of a minute per item size).
            while (shape.Aggregate(1L, (a, b) => a * b) > 1 << 20)
            {
                int largest = Array.IndexOf(shape, shape.Max());
                shape[largest] = (shape[largest] + 1) / 2;
            }
            int[] perm = Enumerable.Range(0, n).OrderBy(_ => rng.Next()).ToArray();
            bool[] flip = trial % 3 == 0 ? [] : Enumerable.Range(0, n).Select(_ => rng.Next(3) == 0).ToArray();
            var src = new byte[shape.Aggregate(1L, (a, b) => a * b) * itemSize];
            rng.NextBytes(src);
            byte[] expected = Naive(src, shape, perm, itemSize, flip);
            byte[] actual = AxisPermutation.Permute(src, shape, perm, itemSize, flip);
            Assert.True(expected.AsSpan().SequenceEqual(actual),
                $"shape ({string.Join(", ", shape)}) perm ({string.Join(", ", perm)}) flip ({string.Join(", ", flip)}) item {itemSize}");
        }
    }

    [Fact]
    public void LargeTransposeCrossesManyTiles()
    {
        long[] shape = [3, 131, 257];
        var src = new byte[3 * 131 * 257 * 4];
        new Random(7).NextBytes(src);
        int[] perm = [2, 0, 1];
        Assert.Equal(Naive(src, shape, perm, 4, []), AxisPermutation.Permute(src, shape, perm, 4));
        bool[] flip = [true, false, true];
        Assert.Equal(Naive(src, shape, perm, 4, flip), AxisPermutation.Permute(src, shape, perm, 4, flip));
    }

    [Fact]
    public void IdentityReturnsTheInputAndFlipsAlone()
    {
        var src = Enumerable.Range(0, 24).Select(i => (byte)i).ToArray();
        Assert.Same(src, AxisPermutation.Permute(src, [2, 3, 4], [0, 1, 2], 1));
        byte[] flipped = AxisPermutation.Permute(src, [2, 3, 4], [0, 1, 2], 1, [false, false, true]);
        Assert.Equal(new byte[] { 3, 2, 1, 0, 7, 6, 5, 4 }, flipped[..8]);
    }

    [Fact]
    public void EmptyArraysAndZeroDimensions()
    {
        Assert.Empty(AxisPermutation.Permute([], [0, 5], [1, 0], 4));
        var one = new byte[] { 1, 2, 3, 4 };
        Assert.Equal(one, AxisPermutation.Permute(one, [], [], 4));
    }

    [Fact]
    public void BadArgumentsAreRefused()
    {
        var src = new byte[24];
        Assert.Throws<ArgumentException>(() => AxisPermutation.Permute(src, [2, 3, 4], [0, 0, 1], 1));
        Assert.Throws<ArgumentException>(() => AxisPermutation.Permute(src, [2, 3, 4], [0, 1], 1));
        Assert.Throws<ArgumentException>(() => AxisPermutation.Permute(src, [2, 3, 5], [2, 1, 0], 1));
        Assert.Throws<ArgumentException>(() => AxisPermutation.Permute(src, [2, 3, 4], [2, 1, 0], 1, [true]));
    }
}
