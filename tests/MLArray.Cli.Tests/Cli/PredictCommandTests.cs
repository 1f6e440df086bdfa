using MLArray.TestSupport;

namespace MLArray.Cli.Tests.Cli;

/// <summary><c>mlarray predict</c> with the tiny models of tests/data/onnx.</summary>
public sealed class PredictCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-predict-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Model(string name) => OnnxTestModels.PathOf(name);

    private string Image(float[] data, long[] shape, string[]? labels = null)
    {
        string path = Path.Combine(_dir, $"img{Guid.NewGuid():N}.mla");
        using var f = MLArrayFile.FromArray(data, shape, new MLArrayCreateOptions { AxisLabels = labels, Spacing = [2, 1, 1] });
        f.Save(path);
        return path;
    }

    [Fact]
    public void Predict_writes_argmax_segmentation_and_float_logits()
    {
        long[] shape = [13, 21, 17];
        var rng = new Random(9);
        var x = Enumerable.Range(0, 13 * 21 * 17).Select(_ => (float)rng.Next(0, 4)).ToArray();
        string img = Image(x, shape);
        string seg = Path.Combine(_dir, "seg.mla"), logits = Path.Combine(_dir, "logits.mla");
        var r = CliRun.Run("predict", Model("seg_pointwise"), img, "-o", seg, "--patch", "8,16,8", "--overlap", "0.5", "--batch", "3", "--argmax");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("segmentation", r.Out);
        using (var s = MLArrayFile.Open(seg))
        {
            Assert.Equal(shape, s.Shape);
            Assert.True(s.Meta.IsSeg);
            Assert.Equal([2.0, 1, 1], s.Spacing!);
            Assert.Equal(x.Select(v => (byte)(2 * v - 3 > 0 ? 1 : 0)).ToArray(), s.ToArray<byte>());
        }
        r = CliRun.Run("predict", Model("seg_pointwise"), img, "-o", logits, "--patch", "8");
        Assert.True(r.Code == 0, r.Err);
        // An existing output is replaced only with --overwrite (as convert), and refused before the model runs.
        var before = File.ReadAllBytes(seg);
        r = CliRun.Run("predict", Model("seg_pointwise"), img, "-o", seg, "--patch", "8");
        Assert.Equal(1, r.Code);
        Assert.Contains("already exists; pass --overwrite", r.Err);
        Assert.Equal(before, File.ReadAllBytes(seg));
        r = CliRun.Run("predict", Model("seg_pointwise"), img, "-o", seg, "--patch", "8", "--overwrite");
        Assert.True(r.Code == 0, r.Err);
        using (var replaced = MLArrayFile.Open(seg))
            Assert.Equal(DType.Float32, replaced.DType); // the logits now, not the segmentation
        using var l = MLArrayFile.Open(logits);
        Assert.Equal([2L, .. shape], l.Shape);
        Assert.Equal(DType.Float32, l.DType);
        var lv = l.ToArray<float>();
        for (int i = 0; i < x.Length; i++)
            Assert.Equal(2.0 * x[i] - 3, lv[x.Length + i], 1e-5);
    }

    [Fact]
    public void Bad_arguments_and_model_mismatch_exit_1_unreadable_files_exit_2()
    {
        string img = Image(new float[2 * 6 * 6 * 6], [2, 6, 6, 6], ["channel", "spatial_z", "spatial_y", "spatial_x"]);
        string outPath = Path.Combine(_dir, "o.mla");
        var r = CliRun.Run("predict", Model("seg_pointwise"), img, "-o", outPath);
        Assert.Equal(1, r.Code);
        Assert.Contains("channel", r.Err);
        r = CliRun.Run("predict", Model("int_output"), img, "-o", outPath);
        Assert.Equal(1, r.Code);
        Assert.Contains("float32", r.Err);
        r = CliRun.Run("predict", Model("reg_conv3_2ch"), img, "-o", outPath, "--patch", "4,4");
        Assert.Equal(1, r.Code);
        r = CliRun.Run("predict", Model("reg_conv3_2ch"), img, "-o", outPath, "--overlap", "1.5");
        Assert.Equal(1, r.Code);
        r = CliRun.Run("predict", Model("reg_conv3_2ch"), img, "-o", outPath, "--argmax", "--softmax");
        Assert.Equal(1, r.Code);
        Assert.False(File.Exists(outPath));

        r = CliRun.Run("predict", Model("seg_pointwise"), Path.Combine(_dir, "missing.mla"), "-o", outPath);
        Assert.Equal(2, r.Code);
        string corrupt = Path.Combine(_dir, "corrupt.mla");
        File.WriteAllBytes(corrupt, new byte[100]);
        r = CliRun.Run("predict", Model("seg_pointwise"), corrupt, "-o", outPath);
        Assert.Equal(2, r.Code);
        string badModel = Path.Combine(_dir, "bad.onnx");
        File.WriteAllText(badModel, "not a model");
        r = CliRun.Run("predict", badModel, img, "-o", outPath);
        Assert.Equal(2, r.Code);
        Assert.False(File.Exists(outPath));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp.mla"));
    }

    [Fact]
    public void Regression_model_on_two_channels_writes_float_values()
    {
        var rng = new Random(1);
        var x = Enumerable.Range(0, 2 * 9 * 10 * 11).Select(_ => (float)rng.NextDouble()).ToArray();
        string img = Image(x, [2, 9, 10, 11], ["channel", "spatial_z", "spatial_y", "spatial_x"]);
        string outPath = Path.Combine(_dir, "reg.mla");
        var r = CliRun.Run("predict", Model("reg_conv3_2ch"), img, "-o", outPath, "--patch", "9,10,11");
        Assert.True(r.Code == 0, r.Err);
        using var f = MLArrayFile.Open(outPath);
        Assert.Equal([9L, 10, 11], f.Shape);
        Assert.Equal(DType.Float32, f.DType);
        Assert.False(f.Meta.IsSeg);
        // one tile covering the image: the centre voxel is the conv of its 3×3×3 neighbourhood over both channels + 0.25
        long n = 9 * 10 * 11;
        double expected = 0.25;
        for (int c = 0; c < 2; c++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    for (int k = 0; k < 3; k++)
                        expected += ((c * 5 + i * 9 + j * 3 + k) % 5 - 2) / 4.0 * x[c * n + ((4 + i - 1) * 10 + (5 + j - 1)) * 11 + (5 + k - 1)];
        Assert.Equal(expected, f.ToArray<float>()[(4 * 10 + 5) * 11 + 5], 1e-4);
    }
}
