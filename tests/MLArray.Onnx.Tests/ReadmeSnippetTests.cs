using MLArray.Conversion;
using MLArray.TestSupport;
using MLArray.Training.Inference;

namespace MLArray.Onnx.Tests;

/// <summary>The C# snippet of src/MLArray.Onnx/README.md and docs/inference.md, run on a real image and model.</summary>
public sealed class ReadmeSnippetTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-onnx-readme-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Package_readme_segments_an_image_with_a_model()
    {
        // ITK's k-means segmentation (62×128×128 uint8, labels 0..5) as the image; the model's logits are [-(2x-3), 2x-3]
        string imagePath = Path.Combine(_dir, "image.mla"), outputPath = Path.Combine(_dir, "seg.mla");
        MedicalConverter.ToMLArray(MedicalTestData.PathOf("itk/KmeansTest_T1KmeansPrelimSegmentation.nii.gz"), imagePath);
        string modelPath = OnnxTestData.Model("seg_pointwise");
        var reports = new List<PredictProgress>();
        var progress = new SynchronousProgress(reports);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var cancellationToken = cts.Token;

        // README:begin onnx-package
        using var model = new SlidingWindowPredictor(modelPath);      // input [batch, channels, z, y, x] → [batch, classes, z, y, x]
        var result = model.Predict(imagePath, outputPath, new PredictOptions
        {
            PatchSize = [24, 48, 40], Overlap = 0.5, BatchSize = 2,    // nnU-Net's tiles, blended with a Gaussian (σ = patch/8)
            Output = AssembledOutput.Segmentation,                    // argmax: a segmentation .mla with the image's geometry
            Normalization = Normalization.ZScore([1.5], [1.0]),        // per channel: (x − mean) / std
        }, progress, cancellationToken);
        Console.WriteLine($"{result.Tiles} tiles in {result.Elapsed.TotalSeconds:F1} s → {outputPath}");
        // README:end

        using var image = MLArrayFile.Open(imagePath);
        using var seg = MLArrayFile.Open(outputPath);
        Assert.True(seg.Meta.IsSeg);
        Assert.Equal(image.Shape, seg.Shape);
        Assert.Equal(image.Spacing, seg.Spacing);
        // (x − 1.5) · 2 − 3 > 0 ⇔ x > 3
        var expected = image.ToArray<byte>().Select(v => (byte)(v > 3 ? 1 : 0)).ToArray();
        Assert.Contains((byte)1, expected);
        Assert.Equal(expected, seg.ToArray<byte>());
        Assert.NotEmpty(reports);
        Assert.Equal(result.Tiles, reports[^1].TilesDone);
    }

    private sealed class SynchronousProgress(List<PredictProgress> reports) : IProgress<PredictProgress>
    {
        public void Report(PredictProgress value)
        {
            lock (reports) reports.Add(value);
        }
    }
}
