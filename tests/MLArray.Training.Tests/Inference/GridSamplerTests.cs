using MLArray.Training.Inference;

namespace MLArray.Training.Tests.Inference;

public class GridSamplerTests
{
    [Fact]
    public void Steps_follow_nnunet_rule_last_tile_ends_at_edge()
    {
        // nnU-Net's own example (compute_steps_for_sliding_window comment): image 110, patch 64, step 0.5 -> 0, 23, 46
        Assert.Equal([0L, 23, 46], GridSampler.AxisStarts(110, 64, 0.5));
        // exact fit: one tile; a multiple of the step: evenly spaced
        Assert.Equal([0L], GridSampler.AxisStarts(64, 64, 0.5));
        Assert.Equal([0L, 32, 64], GridSampler.AxisStarts(128, 64, 0.5));
        // no overlap: ceil((100-32)/32)+1 = 4 tiles, spread over 68 voxels: 0, 22.67, 45.33, 68 -> rounded
        Assert.Equal([0L, 23, 45, 68], GridSampler.AxisStarts(100, 32, 1.0));
    }

    [Fact]
    public void Axis_smaller_than_patch_gets_one_centred_tile()
    {
        var g = new GridSampler([10, 40], [16, 16], 0.5);
        Assert.Equal([-3L], g.StartsAlong(0));
        Assert.All(g, p => Assert.Equal(-3, p.Start[0]));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)]
    [InlineData(0.25)]
    public void Tiles_cover_every_voxel_stay_inside_and_come_in_grid_order(double overlap)
    {
        long[] shape = [37, 50, 23];
        int[] patch = [16, 20, 24];
        var g = new GridSampler(shape, patch, overlap);
        var hits = new int[shape[0] * shape[1] * shape[2]];
        long prev0 = long.MinValue;
        int i = 0;
        foreach (var p in g)
        {
            Assert.Equal(i++, p.Index);
            Assert.True(p.Start[0] >= prev0);
            prev0 = p.Start[0];
            for (int d = 0; d < 3; d++)
            {
                if (patch[d] <= shape[d])
                    Assert.InRange(p.Start[d], 0, shape[d] - patch[d]);
            }
            for (long z = Math.Max(0, p.Start[0]); z < Math.Min(shape[0], p.Start[0] + 16); z++)
                for (long y = Math.Max(0, p.Start[1]); y < Math.Min(shape[1], p.Start[1] + 20); y++)
                    for (long x = Math.Max(0, p.Start[2]); x < Math.Min(shape[2], p.Start[2] + 24); x++)
                        hits[(z * shape[1] + y) * shape[2] + x]++;
        }
        Assert.Equal(g.Count, i);
        Assert.DoesNotContain(0, hits);
        if (overlap == 0)
            Assert.Equal(3 * 3 * 1, g.Count); // 37/16 -> 3, 50/20 -> 3, 23 < 24 -> 1
    }

    [Fact]
    public void Bad_arguments_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new GridSampler([10, 10], [4], 0.5));
        Assert.Throws<ArgumentException>(() => new GridSampler([10, 0], [4, 4], 0.5));
        Assert.Throws<ArgumentException>(() => new GridSampler([10, 10], [4, 0], 0.5));
        Assert.Throws<ArgumentException>(() => new GridSampler([10, 10], [4, 4], 1.0));
        Assert.Throws<ArgumentException>(() => new GridSampler([10, 10], [4, 4], -0.1));
    }

    [Fact]
    public void Gaussian_map_is_nnunet_shape()
    {
        var w = GaussianImportance.Compute([8, 6]);
        // maximum 1 at the centre voxel (size // 2)
        Assert.Equal(1f, w[4 * 6 + 3]);
        Assert.Equal(1f, w.Max());
        // separable: w(i,j) = g0(i) g1(j) with sigma = size/8
        double g0(int i) => Math.Exp(-0.5 * (i - 4) * (i - 4) / 1.0);
        double g1(int j) => Math.Exp(-0.5 * (j - 3) * (j - 3) / (0.75 * 0.75));
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 6; j++)
                Assert.Equal((float)(g0(i) * g1(j)), w[i * 6 + j], 6);
        Assert.All(w, v => Assert.True(v > 0));
    }

    [Fact]
    public void Gaussian_zero_weights_are_raised_to_the_smallest_positive()
    {
        // sigma scale 1/32 on 64: radius int(4*2+0.5)=8, so offsets beyond 8 from the centre are outside the kernel
        var w = GaussianImportance.Compute([64], 1.0 / 32);
        float minInside = w.Skip(32 - 8).Take(17).Min();
        Assert.Equal(minInside, w[0]);
        Assert.Equal(minInside, w[63]);
        Assert.True(w[32 - 9] == minInside && w[32 - 8] > 0);
    }
}
