using MLArray.Conversion;
using MLArray.Training.Inference;
using MLArray.TestSupport;

namespace MLArray.Training.Tests.Inference;

public sealed class PatchAssemblerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-assembler-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>ITK's k-means segmentation of a T1 brain (real labels 0..3), 62×128×128 stored as (z, y, x).</summary>
    private MLArrayFile RealSegmentation()
    {
        string path = Path.Combine(_dir, "kmeans_seg.mla");
        if (!File.Exists(path))
            MedicalConverter.ToMLArray(MedicalTestData.PathOf("itk/KmeansTest_T1KmeansPrelimSegmentation.nii.gz"), path);
        return MLArrayFile.Open(path);
    }

    private static byte[] Tile(byte[] volume, long[] shape, GridPatch p, byte pad)
    {
        var tile = new byte[p.VoxelCount];
        int i = 0;
        for (long z = p.Start[0]; z < p.Start[0] + p.Size[0]; z++)
            for (long y = p.Start[1]; y < p.Start[1] + p.Size[1]; y++)
                for (long x = p.Start[2]; x < p.Start[2] + p.Size[2]; x++)
                    tile[i++] = z < 0 || y < 0 || x < 0 || z >= shape[0] || y >= shape[1] || x >= shape[2] ? pad : volume[(z * shape[1] + y) * shape[2] + x];
        return tile;
    }

    [Theory]
    [InlineData(0.5, 24, 48, 40)]
    [InlineData(0.0, 24, 48, 40)]
    [InlineData(0.5, 80, 30, 64)] // first axis (62) smaller than the patch: padded
    public void OneHot_ground_truth_reproduces_the_segmentation(double overlap, int p0, int p1, int p2)
    {
        using var seg = RealSegmentation();
        var labels = seg.ToArray<byte>();
        int classes = labels.Max() + 1;
        Assert.True(classes >= 3, "the k-means segmentation has several classes");
        var grid = new GridSampler(seg.Shape, [p0, p1, p2], overlap);
        string outPath = Path.Combine(_dir, $"rt_{overlap}_{p0}.mla");
        using (var asm = new PatchAssembler(outPath, grid, classes, new PatchAssemblerOptions { GeometryFrom = seg }))
        {
            foreach (var p in grid)
            {
                var tile = Tile(labels, seg.Shape, p, 0);
                var oneHot = new float[classes * tile.Length];
                for (int i = 0; i < tile.Length; i++) oneHot[tile[i] * tile.Length + i] = 1;
                asm.Add(p, oneHot);
            }
            asm.Complete();
        }
        using var back = MLArrayFile.Open(outPath);
        Assert.Equal(seg.Shape, back.Shape);
        Assert.Equal(DType.UInt8, back.DType);
        Assert.Equal(labels, back.ToArray<byte>());
        Assert.True(back.Meta.IsSeg);
        Assert.Equal(seg.Spacing, back.Spacing);
        Assert.Equal(seg.Origin, back.Origin);
        Assert.Equal(seg.Direction, back.Direction);
        Assert.Equal(seg.AxisLabels, back.AxisLabels);
        Assert.Equal(seg.Meta.Spatial.CoordSystem, back.Meta.Spatial.CoordSystem);
        Assert.NotNull(back.Meta.Spatial.CoordSystem);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp.mla"));
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.0)]
    public void Label_votes_reproduce_the_segmentation_and_logits_are_exact_one_hot(double overlap)
    {
        using var seg = RealSegmentation();
        var labels = seg.ToArray<byte>();
        int classes = labels.Max() + 1;
        var grid = new GridSampler(seg.Shape, [32, 56, 72], overlap);
        string segOut = Path.Combine(_dir, "votes.mla"), logitOut = Path.Combine(_dir, "votes_logits.mla");
        using (var asm = new PatchAssembler(segOut, grid, classes, new PatchAssemblerOptions { GeometryFrom = seg }))
        using (var logits = new PatchAssembler(logitOut, grid, classes, new PatchAssemblerOptions { GeometryFrom = seg, Output = AssembledOutput.Logits }))
        {
            foreach (var p in grid)
            {
                var tile = Tile(labels, seg.Shape, p, 0);
                asm.AddLabels<byte>(p, tile);
                logits.AddLabels<byte>(p, tile);
            }
            asm.Complete();
            logits.Complete();
        }
        using var back = MLArrayFile.Open(segOut);
        Assert.Equal(labels, back.ToArray<byte>());
        using var lg = MLArrayFile.Open(logitOut);
        Assert.Equal([classes, .. seg.Shape], lg.Shape);
        Assert.Equal(["channel", .. seg.AxisLabels!], lg.AxisLabels!);
        Assert.False(lg.Meta.IsSeg);
        var values = lg.ToArray<float>();
        long n = labels.Length;
        for (int c = 0; c < classes; c++)
            for (long v = 0; v < n; v++)
                Assert.Equal(labels[v] == c ? 1f : 0f, values[c * n + v]);
    }

    [Fact]
    public void Blend_is_the_gaussian_weighted_mean_of_overlapping_tiles()
    {
        // 1-D: tiles of 8 over 12 voxels with overlap 0.5 -> starts 0, 4; tile k predicts the constant k+1
        var grid = new GridSampler([12], [8], 0.5);
        Assert.Equal([0L, 4], grid.StartsAlong(0));
        var w = GaussianImportance.Compute([8]);
        string path = Path.Combine(_dir, "blend.mla");
        using (var asm = new PatchAssembler(path, grid, 1, new PatchAssemblerOptions { Output = AssembledOutput.Logits }))
        {
            foreach (var p in grid)
                asm.Add(p, Enumerable.Repeat((float)(p.Index + 1), 8).ToArray());
            asm.Complete();
        }
        using var f = MLArrayFile.Open(path);
        Assert.Equal([12L], f.Shape);
        var got = f.ToArray<float>();
        for (int v = 0; v < 12; v++)
        {
            double num = 0, den = 0;
            if (v < 8) { num += w[v] * 1.0; den += w[v]; }
            if (v >= 4) { num += w[v - 4] * 2.0; den += w[v - 4]; }
            Assert.Equal(num / den, got[v], 5);
        }
        Assert.Equal(1f, got[0]);
        Assert.Equal(2f, got[11]);
        Assert.InRange(got[6], 1.01f, 1.99f);
    }

    [Fact]
    public void Large_output_is_written_slab_by_slab_with_a_bounded_accumulator()
    {
        long[] shape = [150, 40, 36];
        int[] patch = [16, 24, 24];
        var grid = new GridSampler(shape, patch, 0.5);
        string path = Path.Combine(_dir, "stream.mla");
        var written = new List<long>();
        int classes = 3;
        using (var asm = new PatchAssembler(path, grid, classes, new PatchAssemblerOptions { Layout = LayoutOptions.Manual([8, 40, 36], [8, 8, 36]) }))
        {
            foreach (var p in grid)
            {
                var pred = new float[classes * p.VoxelCount];
                // class = (z / 10) % 3 by global z, so the result is checkable
                long i = 0;
                for (long z = p.Start[0]; z < p.Start[0] + p.Size[0]; z++)
                    for (int r = 0; r < p.Size[1] * p.Size[2]; r++, i++)
                        pred[(z / 10 % 3) * p.VoxelCount + i] = 5;
                asm.Add(p, pred);
                written.Add(asm.RowsWritten);
            }
            // bound: (p0 + c0 - 1) rows of (classes + 1) planes
            long bound = (16 + 8 - 1) * 40L * 36 * (classes + 1) * sizeof(float);
            Assert.InRange(asm.PeakAccumulatorBytes, 1, bound);
            Assert.True(asm.PeakAccumulatorBytes < shape[0] * 40L * 36 * (classes + 1) * sizeof(float) / 4);
            Assert.True(written[written.Count / 2] > 0 && written[written.Count / 2] < shape[0], "slabs are written while tiles still arrive");
            Assert.All(written, r => Assert.True(r % 8 == 0 || r == shape[0]));
            Assert.Equal(shape[0], written[^1]);
            asm.Complete();
        }
        using var f = MLArrayFile.Open(path);
        var got = f.ToArray<byte>();
        for (long z = 0; z < shape[0]; z++)
            Assert.Equal((byte)(z / 10 % 3), got[z * 40 * 36 + 17]);
    }

    [Fact]
    public void Missing_duplicate_or_foreign_tiles_are_errors_and_leave_no_file()
    {
        var grid = new GridSampler([20, 20], [8, 8], 0.5);
        string path = Path.Combine(_dir, "missing.mla");
        using (var asm = new PatchAssembler(path, grid, 2))
        {
            var p0 = grid[0];
            asm.Add(p0, new float[2 * 64]);
            Assert.Throws<InvalidOperationException>(() => asm.Add(p0, new float[2 * 64]));
            Assert.Throws<ArgumentException>(() => asm.Add(grid[1], new float[64]));
            Assert.Throws<ArgumentException>(() => asm.Add(new GridPatch(1, [3, 3], [8, 8]), new float[128]));
            Assert.Throws<ArgumentException>(() => asm.AddLabels<byte>(grid[1], Enumerable.Repeat((byte)2, 64).ToArray()));
            var e = Assert.Throws<InvalidOperationException>(() => asm.Complete());
            Assert.Contains("not added", e.Message);
        }
        Assert.False(File.Exists(path));
        Assert.Empty(Directory.GetFiles(_dir));
        Assert.Throws<ArgumentException>(() => new PatchAssembler(path, grid, 1));
    }

    [Fact]
    public void Tiles_out_of_order_give_the_same_result()
    {
        using var seg = RealSegmentation();
        var labels = seg.ToArray<byte>();
        var grid = new GridSampler(seg.Shape, [24, 48, 40], 0.5);
        string path = Path.Combine(_dir, "shuffled.mla");
        var order = Enumerable.Range(0, grid.Count).ToArray();
        new Random(3).Shuffle(order);
        using (var asm = new PatchAssembler(path, grid, labels.Max() + 1))
        {
            foreach (int i in order)
                asm.AddLabels<byte>(grid[i], Tile(labels, seg.Shape, grid[i], 0));
            asm.Complete();
        }
        using var back = MLArrayFile.Open(path);
        Assert.Equal(labels, back.ToArray<byte>());
    }
}
