using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using MLArray.Onnx;
using MLArray.Training.Inference;

namespace MLArray.Cli.Commands;

/// <summary>
/// <c>mlarray predict model.onnx image.mla -o out.mla [--patch 128,128,128] [--overlap 0.5] [--batch 2] [--argmax] [--overwrite]</c>:
/// sliding-window inference of an ONNX model over an image (see <see cref="SlidingWindowPredictor"/>).
/// </summary>
internal static class PredictCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new Argument<string>("model") { Description = "The ONNX model: float32 input [batch, channels, spatial…], float32 output [batch, classes, spatial…]." };
        var image = new Argument<string>("image") { Description = "The .mla image." };
        var output = new Option<string>("--output", "-o") { Description = "The .mla to write (atomically).", Required = true };
        var patch = new Option<string?>("--patch") { Description = "Tile size: one number for every spatial axis or one per axis (default: the model's fixed size, its mlarray.patch_size metadata, else 128)." };
        var overlap = new Option<double>("--overlap") { Description = "Overlap of neighbouring tiles in [0, 1) (default 0.5).", DefaultValueFactory = _ => 0.5 };
        var batch = new Option<int?>("--batch") { Description = "Tiles per model call (default: the model's fixed batch, else 2)." };
        var argmax = new Option<bool>("--argmax") { Description = "Write a segmentation (argmax over classes; uint8/int16, is_seg true)." };
        var softmax = new Option<bool>("--softmax") { Description = "Write float32 probabilities (softmax over classes)." };
        var float16 = new Option<bool>("--float16") { Description = "Write float outputs (logits, probabilities) as float16 (half the size) instead of float32." };
        var normalize = new Option<string?>("--normalize") { Description = "Intensity normalisation: none, stats (z-score with the image's meta.stats), zscore (needs --mean/--std), clip-scale (needs --clip). Default: the model's metadata, else none." };
        var mean = new Option<string?>("--mean") { Description = "z-score mean(s): one value or one per channel, comma-separated." };
        var std = new Option<string?>("--std") { Description = "z-score std(s): one value or one per channel, comma-separated." };
        var clip = new Option<string?>("--clip") { Description = "Clip range LOW,HIGH (before a z-score; scaled to [0, 1] for clip-scale)." };
        var threads = new Option<int?>("--threads") { Description = "ONNX Runtime intra-op threads (default: its own)." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace the output file if it exists (without it, predict refuses to)." };
        var cmd = new Command("predict", "Run an ONNX segmentation or regression model over an .mla image by sliding window (nnU-Net's tiling and Gaussian blending).")
        {
            model, image, output, patch, overlap, batch, argmax, softmax, normalize, mean, std, clip, threads, float16, overwrite,
        };
        cmd.SetAction(pr => CliApp.Guard(stderr, () =>
        {
            if (pr.GetValue(argmax) && pr.GetValue(softmax))
                throw new ArgumentException("--argmax and --softmax exclude each other.");
            string modelPath = pr.GetValue(model)!, imagePath = pr.GetValue(image)!, outPath = pr.GetValue(output)!;
            // As convert: an existing file is replaced only when asked (checked before the model runs).
            if (!pr.GetValue(overwrite) && (File.Exists(outPath) || Directory.Exists(outPath)))
                throw new ArgumentException($"{outPath} already exists; pass --overwrite to replace it.");
            using var session = new SessionOptions();
            if (pr.GetValue(threads) is { } t)
            {
                if (t < 1) throw new ArgumentException($"--threads must be positive, got {t}.");
                session.IntraOpNumThreads = t;
            }
            using var predictor = new SlidingWindowPredictor(modelPath, session);
            using var img = MLArrayFile.Open(imagePath);
            int spatialAxes = img.SpatialNDim;
            var options = new PredictOptions
            {
                PatchSize = pr.GetValue(patch) is { } p ? ParsePatch(p, spatialAxes) : null,
                Overlap = pr.GetValue(overlap),
                BatchSize = pr.GetValue(batch),
                Output = pr.GetValue(argmax) ? AssembledOutput.Segmentation : pr.GetValue(softmax) ? AssembledOutput.Probabilities
                    : predictor.Metadata.ContainsKey(ModelMetadataKeys.Output) ? null : AssembledOutput.Logits,
                Normalization = ParseNormalization(pr.GetValue(normalize), pr.GetValue(mean), pr.GetValue(std), pr.GetValue(clip)),
                Float16 = pr.GetValue(float16),
            };
            using var cts = new CancellationTokenSource();
            using var signals = ReferenceEquals(stdout, Console.Out) ? new SignalScope(cts, stderr) : null;
            PredictResult r;
            try
            {
                r = predictor.Predict(img, outPath, options, null, cts.Token);
            }
            catch (OperationCanceledException)
            {
                stderr.WriteLine("mlarray: predict cancelled; no output written.");
                return CliApp.Cancelled;
            }
            long voxels = r.OutputShape.Skip(r.OutputShape.Length - spatialAxes).Aggregate(1L, (a, b) => a * b);
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {outPath}: {string.Join("×", r.OutputShape)} {r.OutputDType.Name} {r.Output.ToString().ToLowerInvariant()}; {r.Tiles} tiles of {string.Join("×", r.PatchSize)}, batch {r.BatchSize}, {r.Elapsed.TotalSeconds:F2} s ({voxels / Math.Max(1e-9, r.Elapsed.TotalSeconds):F0} voxels/s)"));
            return CliApp.Ok;
        }));
        return cmd;
    }

    private static int[] ParsePatch(string text, int spatialAxes)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out values[i]) || values[i] <= 0)
                throw new ArgumentException($"--patch '{text}' must be positive integers separated by commas.");
        if (values.Length == 1) return Enumerable.Repeat(values[0], spatialAxes).ToArray();
        if (values.Length != spatialAxes)
            throw new ArgumentException($"--patch '{text}' has {values.Length} values; give one, or one per spatial axis ({spatialAxes}).");
        return values;
    }

    private static Normalization? ParseNormalization(string? kind, string? mean, string? std, string? clip)
    {
        static double[]? Values(string name, string? v) => v is null ? null : Normalization.ParseList(name, v);
        var c = Values("--clip", clip);
        if (c is { Length: not 2 }) throw new ArgumentException($"--clip must be LOW,HIGH, got '{clip}'.");
        var n = (kind?.ToLowerInvariant(), mean, std) switch
        {
            (null, null, null) => c is null ? null : Normalization.ClipScale(c[0], c[1]),
            (null or "zscore", not null, not null) => Normalization.ZScore(Values("--mean", mean)!, Values("--std", std)!),
            ("zscore", _, _) => throw new ArgumentException("--normalize zscore needs --mean and --std."),
            (null, _, _) => throw new ArgumentException("--mean and --std go together."),
            ("none", _, _) => Normalization.None,
            ("stats", _, _) => Normalization.FromStats,
            ("clip-scale", _, _) => c is null ? throw new ArgumentException("--normalize clip-scale needs --clip LOW,HIGH.") : Normalization.ClipScale(c[0], c[1]),
            _ => throw new ArgumentException($"--normalize must be none, stats, zscore or clip-scale, not '{kind}'."),
        };
        return n is not null && c is not null ? n with { ClipLow = c[0], ClipHigh = c[1] } : n;
    }

    /// <summary>Ctrl+C / SIGTERM cancel the prediction while it runs (the temporary output is deleted).</summary>
    private sealed class SignalScope : IDisposable
    {
        private readonly PosixSignalRegistration[] _registrations;

        public SignalScope(CancellationTokenSource cts, TextWriter stderr)
        {
            void OnSignal(PosixSignalContext c)
            {
                if (cts.IsCancellationRequested) return;
                c.Cancel = true;
                stderr.WriteLine("mlarray: cancelling ...");
                cts.Cancel();
            }
            _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal), PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal)];
        }

        public void Dispose()
        {
            foreach (var r in _registrations) r.Dispose();
        }
    }
}
