using System.Diagnostics;
using MLArray.Onnx;
using MLArray.Training.Inference;

namespace MLArray.Bench;

/// <summary>
/// <c>predict [edge] [patch] [batch] [model]</c>: voxels/s of sliding-window ONNX inference (read + normalise + model +
/// Gaussian blend + write) on a synthetic edge³ float32 volume with a tiny model of tests/data/onnx (default
/// seg_pointwise, so the model's own cost is small and the pipeline's shows), argmax output; then the same grid's tile
/// reads alone and the blending/writing alone (2 classes), so the model's share is the rest.
/// </summary>
internal static class PredictBench
{
    public static int Run(string[] args)
    {
        int edge = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 256;
        int patch = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 128;
        int batch = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 2;
        string modelName = args.Length > 3 ? args[3] : "seg_pointwise";
        string model = FindModel(modelName);
        string dir = Directory.CreateTempSubdirectory("mla-predict-bench-").FullName;
        try
        {
            long n = (long)edge * edge * edge;
            var data = new float[n];
            var rng = new Random(1);
            for (long i = 0; i < n; i++) data[i] = (float)(rng.NextDouble() * 4);
            string image = Path.Combine(dir, "image.mla");
            using (var f = MLArrayFile.FromArray(data, [edge, edge, edge], new MLArrayCreateOptions { Layout = LayoutOptions.Patch(patch, patch, patch) }))
                f.Save(image);
            data = [];
            using var predictor = new SlidingWindowPredictor(model);
            var options = new PredictOptions { PatchSize = [patch, patch, patch], BatchSize = batch, Output = AssembledOutput.Segmentation, Normalization = Normalization.None };
            predictor.Predict(image, Path.Combine(dir, "warm.mla"), options with { PatchSize = [16, 16, 16] });
            long before = GC.GetTotalAllocatedBytes(precise: true);
            var sw = Stopwatch.StartNew();
            var r = predictor.Predict(image, Path.Combine(dir, "out.mla"), options);
            sw.Stop();
            long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            Console.WriteLine($"predict {modelName} on {edge}³ float32, patch {patch}³, overlap 0.5, batch {batch}: {r.Tiles} tiles, " +
                $"{sw.Elapsed.TotalSeconds:F2} s, {n / sw.Elapsed.TotalSeconds / 1e6:F2} M voxels/s, {allocated / 1e6:F0} MB allocated (managed), " +
                $"peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / 1e6:F0} MB");

            // breakdown: tile reads alone, blend + write alone
            using var img = MLArrayFile.Open(image);
            var grid = new GridSampler([edge, edge, edge], [patch, patch, patch], 0.5);
            var reader = new ImagePatchReader(img);
            var tile = new float[2 * grid[0].VoxelCount];
            sw.Restart();
            foreach (var p in grid) reader.Read(p, tile.AsSpan(0, (int)grid[0].VoxelCount));
            double readS = sw.Elapsed.TotalSeconds;
            sw.Restart();
            using (var asm = new PatchAssembler(Path.Combine(dir, "asm.mla"), grid, 2))
            {
                foreach (var p in grid) asm.Add(p, tile);
                asm.Complete();
            }
            double blendS = sw.Elapsed.TotalSeconds;
            Console.WriteLine($"  tile reads alone {readS:F2} s, blend + argmax + write alone {blendS:F2} s, model calls and the rest {r.Elapsed.TotalSeconds - readS - blendS:F2} s");
            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string FindModel(string name)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string p = Path.Combine(d.FullName, "tests", "data", "onnx", name + ".onnx");
            if (File.Exists(p)) return p;
        }
        throw new FileNotFoundException($"tests/data/onnx/{name}.onnx not found above {AppContext.BaseDirectory}");
    }
}
