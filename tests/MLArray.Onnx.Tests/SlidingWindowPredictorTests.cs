using MLArray.Conversion;
using MLArray.Training.Inference;
using MLArray.TestSupport;

namespace MLArray.Onnx.Tests;

public sealed class SlidingWindowPredictorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-onnx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Path_(string name) => Path.Combine(_dir, name);

    private string Save<T>(string name, T[] data, long[] shape, string[]? labels = null, double[]? spacing = null) where T : unmanaged
    {
        string path = Path_(name);
        using var f = MLArrayFile.FromArray(data, shape, new MLArrayCreateOptions
        {
            AxisLabels = labels, Spacing = spacing, Origin = spacing?.Select(s => -s).ToArray(),
        });
        f.Save(path);
        return path;
    }

    /// <summary>ITK's k-means segmentation (62×128×128 uint8, labels 0..5) used as an image: real values and geometry.</summary>
    private string RealImage()
    {
        string path = Path_("kmeans.mla");
        if (!File.Exists(path))
            MedicalConverter.ToMLArray(MedicalTestData.PathOf("itk/KmeansTest_T1KmeansPrelimSegmentation.nii.gz"), path);
        return path;
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.0)]
    public void Pointwise_model_equals_direct_computation_everywhere(double overlap)
    {
        string image = RealImage();
        using var img = MLArrayFile.Open(image);
        var x = img.ToArray<byte>();
        using var model = new SlidingWindowPredictor(OnnxTestData.Model("seg_pointwise"));
        Assert.Equal("image", model.InputName);
        Assert.Equal([-1L, 1, -1, -1, -1], model.InputDimensions);
        string seg = Path_("seg.mla"), logits = Path_("logits.mla");
        var r = model.Predict(image, seg, new PredictOptions { PatchSize = [24, 48, 40], Overlap = overlap, BatchSize = 3 });
        Assert.Equal(AssembledOutput.Segmentation, r.Output);
        model.Predict(image, logits, new PredictOptions { PatchSize = [24, 48, 40], Overlap = overlap, Output = AssembledOutput.Logits });

        using var s = MLArrayFile.Open(seg);
        Assert.Equal(img.Shape, s.Shape);
        Assert.Equal(DType.UInt8, s.DType);
        Assert.True(s.Meta.IsSeg);
        Assert.Equal(img.Spacing, s.Spacing);
        Assert.Equal(img.Origin, s.Origin);
        Assert.Equal(img.Direction, s.Direction);
        Assert.Equal(img.Meta.Spatial.CoordSystem, s.Meta.Spatial.CoordSystem);
        var expected = x.Select(v => (byte)(2f * v - 3 > 0 ? 1 : 0)).ToArray();
        Assert.Contains((byte)1, expected);
        Assert.Contains((byte)0, expected);
        Assert.Equal(expected, s.ToArray<byte>());

        using var l = MLArrayFile.Open(logits);
        Assert.Equal([2L, .. img.Shape], l.Shape);
        var lv = l.ToArray<float>();
        long n = x.Length;
        for (long i = 0; i < n; i++)
        {
            Assert.Equal(-(2.0 * x[i] - 3), lv[i], 1e-5);
            Assert.Equal(2.0 * x[i] - 3, lv[n + i], 1e-5);
        }
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.0)]
    public void Conv3_model_with_metadata_normalisation_equals_direct_conv_where_exactly_defined(double overlap)
    {
        long[] shape = [37, 29, 23]; // not multiples of the 16³ patch from the model's metadata
        var x = OnnxTestData.RandomVolume(11, shape[0] * shape[1] * shape[2], -3, 5);
        string image = Save("conv_in.mla", x, shape);
        using var model = new SlidingWindowPredictor(OnnxTestData.Model("seg_conv3"));
        Assert.Equal("zscore", model.Metadata[ModelMetadataKeys.Normalization]);
        string logits = Path_("conv_logits.mla"), seg = Path_("conv_seg.mla");
        var r = model.Predict(image, logits, new PredictOptions { Overlap = overlap, Output = AssembledOutput.Logits });
        Assert.Equal([16, 16, 16], r.PatchSize);
        model.Predict(image, seg, new PredictOptions { Overlap = overlap }); // metadata: segmentation

        // direct: z-score with the metadata's mean 1, std 2, then the conv with zero padding, bias -0.5
        var xn = x.Select(v => (v - 1f) * (1f / 2f)).ToArray();
        var direct = OnnxTestData.Conv3(xn, 1, shape, -0.5);
        var exact = OnnxTestData.ExactConvVoxels(new GridSampler(shape, [16, 16, 16], overlap));
        int compared = exact.Count(e => e);
        Assert.True(compared > exact.Length / 2, $"only {compared} of {exact.Length} voxels are exactly defined");
        using var l = MLArrayFile.Open(logits);
        using var s = MLArrayFile.Open(seg);
        var lv = l.ToArray<float>();
        var sv = s.ToArray<byte>();
        long n = direct.Length;
        int inexactDiffer = 0;
        for (long i = 0; i < n; i++)
        {
            if (!exact[i])
            {
                if (Math.Abs(lv[n + i] - direct[i]) > 1e-3) inexactDiffer++;
                continue;
            }
            Assert.Equal(direct[i], lv[n + i], 1e-4);
            Assert.Equal(-direct[i], lv[i], 1e-4);
            if (Math.Abs(direct[i]) > 1e-3)
                Assert.Equal(direct[i] > 0 ? 1 : 0, sv[i]);
        }
        // tile borders inside the image do differ from the whole-volume conv (the check above is not vacuous)
        Assert.True(inexactDiffer > 0);
    }

    [Fact]
    public void Regression_model_on_two_channels_first_or_last_gives_the_direct_conv()
    {
        long[] s = [21, 18, 25];
        long n = s[0] * s[1] * s[2];
        var x = OnnxTestData.RandomVolume(5, 2 * n, 0, 10); // [channel, z, y, x]
        string first = Save("two_first.mla", x, [2, .. s], ["channel", "spatial_z", "spatial_y", "spatial_x"], [1.5, 0.8, 0.8]);
        var last = new float[2 * n];
        for (long i = 0; i < n; i++)
            for (int c = 0; c < 2; c++) last[i * 2 + c] = x[c * n + i];
        string lastPath = Save("two_last.mla", last, [.. s, 2], ["spatial_z", "spatial_y", "spatial_x", "channel"], [1.5, 0.8, 0.8]);

        using var model = new SlidingWindowPredictor(OnnxTestData.Model("reg_conv3_2ch"));
        var options = new PredictOptions { PatchSize = [12, 12, 12], Overlap = 0.5 };
        var r = model.Predict(first, Path_("reg_first.mla"), options);
        model.Predict(lastPath, Path_("reg_last.mla"), options);
        Assert.Equal(AssembledOutput.Logits, r.Output);
        Assert.Equal(s, r.OutputShape); // one output channel: no channel axis

        using var a = MLArrayFile.Open(Path_("reg_first.mla"));
        using var b = MLArrayFile.Open(Path_("reg_last.mla"));
        Assert.Equal(DType.Float32, a.DType);
        Assert.Equal([1.5, 0.8, 0.8], a.Spacing!);
        Assert.Equal(["spatial_z", "spatial_y", "spatial_x"], a.AxisLabels!);
        Assert.False(a.Meta.IsSeg);
        var av = a.ToArray<float>();
        Assert.Equal(av, b.ToArray<float>());
        var direct = OnnxTestData.Conv3(x, 2, s, 0.25);
        var exact = OnnxTestData.ExactConvVoxels(new GridSampler(s, [12, 12, 12], 0.5));
        for (long i = 0; i < n; i++)
            if (exact[i]) Assert.Equal(direct[i], av[i], 1e-4);
    }

    [Fact]
    public void Fixed_shape_model_sets_batch_and_patch_and_pads_the_last_batch()
    {
        long[] s = [15, 23, 9]; // 3 × 3 × 1 tiles (the last axis is smaller than the patch: padded)
        var rng = new Random(2);
        var x = Enumerable.Range(0, (int)(s[0] * s[1] * s[2])).Select(_ => (short)rng.Next(-2, 6)).ToArray();
        string image = Save("fixed_in.mla", x, s);
        using var model = new SlidingWindowPredictor(OnnxTestData.Model("fixed_pointwise"));
        var r = model.Predict(image, Path_("fixed_seg.mla"));
        Assert.Equal([8, 12, 10], r.PatchSize);
        Assert.Equal(2, r.BatchSize);
        Assert.Equal(9, r.Tiles); // an odd tile count: the last batch is filled with a zero tile
        using var f = MLArrayFile.Open(Path_("fixed_seg.mla"));
        Assert.Equal(x.Select(v => (byte)(2 * v - 3 > 0 ? 1 : 0)).ToArray(), f.ToArray<byte>());

        Assert.Throws<ArgumentException>(() => model.Predict(image, Path_("x.mla"), new PredictOptions { BatchSize = 3 }));
        Assert.Throws<ArgumentException>(() => model.Predict(image, Path_("x.mla"), new PredictOptions { PatchSize = [8, 8, 8] }));
    }

    [Fact]
    public void Models_and_images_that_do_not_fit_are_clear_errors()
    {
        var e = Assert.Throws<ArgumentException>(() => new SlidingWindowPredictor(OnnxTestData.Model("int_output")));
        Assert.Contains("float32", e.Message);
        Assert.Throws<FileNotFoundException>(() => new SlidingWindowPredictor(Path_("missing.onnx")));
        File.WriteAllBytes(Path_("garbage.onnx"), [1, 2, 3, 4, 5, 6, 7, 8]);
        Assert.Throws<MLArrayFormatException>(() => new SlidingWindowPredictor(Path_("garbage.onnx")));

        using var model = new SlidingWindowPredictor(OnnxTestData.Model("seg_pointwise"));
        string twoChannels = Save("two.mla", new float[2 * 4 * 5 * 6], [2, 4, 5, 6], ["channel", "spatial_z", "spatial_y", "spatial_x"]);
        e = Assert.Throws<ArgumentException>(() => model.Predict(twoChannels, Path_("o.mla")));
        Assert.Contains("expects 1 channel(s)", e.Message);
        string flat = Save("flat.mla", new float[20 * 30], [20, 30]);
        e = Assert.Throws<ArgumentException>(() => model.Predict(flat, Path_("o.mla")));
        Assert.Contains("rank 5", e.Message);
        string noStats = Save("nostats.mla", new float[8 * 8 * 8], [8, 8, 8]);
        e = Assert.Throws<ArgumentException>(() => model.Predict(noStats, Path_("o.mla"), new PredictOptions { Normalization = Normalization.FromStats }));
        Assert.Contains("meta.stats", e.Message);
        using var reg = new SlidingWindowPredictor(OnnxTestData.Model("reg_conv3_2ch"));
        e = Assert.Throws<ArgumentException>(() => reg.Predict(twoChannels, Path_("o.mla"), new PredictOptions { Output = AssembledOutput.Segmentation, PatchSize = [4, 4, 4] }));
        Assert.Contains("at least 2 classes", e.Message);
        Assert.False(File.Exists(Path_("o.mla")));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp.mla"));

        // the output path names the input image (also through another spelling of the path): refused, image untouched
        string input = Save("input.mla", new float[4 * 5 * 6], [4, 5, 6]);
        byte[] before = File.ReadAllBytes(input);
        e = Assert.Throws<ArgumentException>(() => model.Predict(input, input, new PredictOptions { PatchSize = [4, 4, 4] }));
        Assert.Contains("is the input image", e.Message);
        string dotted = Path.Combine(_dir, ".", "input.mla");
        Assert.Throws<ArgumentException>(() => model.Predict(input, dotted, new PredictOptions { PatchSize = [4, 4, 4] }));
        Assert.Equal(before, File.ReadAllBytes(input));
    }

    [Fact]
    public void Explicit_normalisation_wins_over_model_metadata()
    {
        long[] shape = [10, 11, 12];
        var x = OnnxTestData.RandomVolume(4, 10 * 11 * 12, 0, 4);
        string image = Save("norm.mla", x, shape);
        using var model = new SlidingWindowPredictor(OnnxTestData.Model("seg_conv3"));
        var r = model.Predict(image, Path_("norm_out.mla"), new PredictOptions
        {
            Normalization = Normalization.ClipScale(1, 3), PatchSize = [10, 11, 12], Output = AssembledOutput.Logits,
        });
        Assert.Equal(1, r.Tiles); // one tile covering the image: the conv is exact everywhere
        var xn = x.Select(v => (Math.Clamp(v, 1f, 3f) - 1f) * 0.5f).ToArray();
        var direct = OnnxTestData.Conv3(xn, 1, shape, -0.5);
        using var f = MLArrayFile.Open(Path_("norm_out.mla"));
        var v = f.ToArray<float>();
        for (int i = 0; i < direct.Length; i++)
            Assert.Equal(direct[i], v[direct.Length + i], 1e-4);
    }

    [Fact]
    public void Progress_is_reported_and_cancellation_leaves_no_output()
    {
        string image = RealImage();
        using var model = new SlidingWindowPredictor(OnnxTestData.Model("seg_pointwise"));
        var seen = new List<PredictProgress>();
        var progress = new SyncProgress(seen.Add);
        var r = model.Predict(image, Path_("p.mla"), new PredictOptions
        {
            PatchSize = [32, 64, 64], BatchSize = 1, Layout = LayoutOptions.Manual([8, 128, 128], [8, 32, 32]),
        }, progress);
        Assert.Equal(r.Tiles, seen.Count);
        Assert.Equal(Enumerable.Range(1, r.Tiles), seen.Select(p => p.TilesDone));
        Assert.Equal(62, seen[^1].RowsWritten);
        Assert.True(seen.Any(p => p.RowsWritten > 0 && p.RowsWritten < 62), "rows are written before the last tile");

        using var cts = new CancellationTokenSource();
        var cancelling = new SyncProgress(p => { if (p.TilesDone == 3) cts.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() =>
            model.Predict(image, Path_("cancelled.mla"), new PredictOptions { PatchSize = [32, 64, 64], BatchSize = 1 }, cancelling, cts.Token));
        Assert.False(File.Exists(Path_("cancelled.mla")));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp.mla"));
    }

    private sealed class SyncProgress(Action<PredictProgress> report) : IProgress<PredictProgress>
    {
        public void Report(PredictProgress value) => report(value);
    }
}
