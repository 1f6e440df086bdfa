using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MLArray.Blosc2;
using MLArray.Training.Inference;

namespace MLArray.Onnx;

/// <summary>Options of <see cref="SlidingWindowPredictor.Predict(MLArrayFile, string, PredictOptions?, IProgress{PredictProgress}?, CancellationToken)"/>.</summary>
public sealed record PredictOptions
{
    /// <summary>Tile size per spatial axis. Default: the model's fixed spatial input dimensions, else <see cref="ModelMetadataKeys.PatchSize"/>, else 128 per axis.</summary>
    public int[]? PatchSize { get; init; }

    /// <summary>Overlap of neighbouring tiles in [0, 1) (default 0.5, nnU-Net's).</summary>
    public double Overlap { get; init; } = 0.5;

    /// <summary>Tiles per inference call. Default: the model's fixed batch dimension, else 2.</summary>
    public int? BatchSize { get; init; }

    /// <summary>What to write. Default: <see cref="ModelMetadataKeys.Output"/>, else a segmentation when the model has ≥ 2 output channels and float values otherwise.</summary>
    public AssembledOutput? Output { get; init; }

    /// <summary>Intensity normalisation. Default: the model's metadata (<see cref="ModelMetadataKeys"/>), else none.</summary>
    public Normalization? Normalization { get; init; }

    /// <summary>Blend tiles with nnU-Net's Gaussian importance map (default) or with equal weights.</summary>
    public bool Gaussian { get; init; } = true;

    /// <summary>Output layout (default: chunks for the tile size).</summary>
    public LayoutOptions? Layout { get; init; }

    /// <summary>Output compression (default: the reference's).</summary>
    public CompressionParams? Compression { get; init; }

    /// <summary>Write float outputs (logits, probabilities) as float16 instead of float32 (see <see cref="PatchAssemblerOptions.Float16"/>).</summary>
    public bool Float16 { get; init; }
}

/// <summary>Progress of a prediction: tiles run through the model and rows (first spatial axis) written.</summary>
/// <param name="TilesDone">Tiles predicted so far.</param>
/// <param name="TilesTotal">Tiles in the grid.</param>
/// <param name="RowsWritten">Rows of the output written so far.</param>
public readonly record struct PredictProgress(int TilesDone, int TilesTotal, long RowsWritten);

/// <summary>What a prediction did.</summary>
/// <param name="OutputShape">Shape of the written array.</param>
/// <param name="OutputDType">Its element type.</param>
/// <param name="Output">Segmentation, probabilities or values.</param>
/// <param name="PatchSize">Tile size used.</param>
/// <param name="Tiles">Tiles run.</param>
/// <param name="BatchSize">Tiles per model call.</param>
/// <param name="Elapsed">Wall time.</param>
public sealed record PredictResult(long[] OutputShape, DType OutputDType, AssembledOutput Output, int[] PatchSize, int Tiles, int BatchSize, TimeSpan Elapsed);

/// <summary>
/// Runs an ONNX segmentation or regression model over an <c>.mla</c> image by sliding window: the image is cut into
/// <see cref="GridSampler"/> tiles (all channels, normalised, padded with 0 outside the image), tiles go through one
/// <see cref="InferenceSession"/> in batches, and the outputs are blended by a <see cref="PatchAssembler"/> into an
/// <c>.mla</c> with the image's geometry, written slab by slab.
/// </summary>
/// <remarks>
/// The model takes one float32 tensor [batch, channels, spatial…] (the image's spatial axes in stored order, channels =
/// the product of its non-spatial axes) and returns as its first output a float32 tensor [batch, classes, spatial…] of
/// the same spatial size. Dimensions may be fixed or dynamic; a fixed batch dimension sets the batch size (a last, short
/// batch is filled with zero tiles), fixed spatial dimensions set the tile size. One instance can run several predictions;
/// it is not thread-safe.
/// </remarks>
public sealed class SlidingWindowPredictor : IDisposable
{
    private readonly InferenceSession _session;
    private readonly long[] _inputDims;

    /// <summary>Loads <paramref name="modelPath"/>.</summary>
    /// <exception cref="FileNotFoundException">No file.</exception>
    /// <exception cref="MLArrayFormatException">ONNX Runtime cannot load the model.</exception>
    /// <exception cref="ArgumentException">The model's inputs or outputs cannot be used for sliding-window inference.</exception>
    public SlidingWindowPredictor(string modelPath, SessionOptions? sessionOptions = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        if (!File.Exists(modelPath))
            throw new FileNotFoundException($"No ONNX model exists under {modelPath}.", modelPath);
        try
        {
            _session = sessionOptions is null ? new InferenceSession(modelPath) : new InferenceSession(modelPath, sessionOptions);
        }
        catch (OnnxRuntimeException e)
        {
            throw new MLArrayFormatException($"ONNX Runtime cannot load '{modelPath}': {e.Message}", e);
        }
        try
        {
            if (_session.InputMetadata.Count != 1)
                throw new ArgumentException($"the model has {_session.InputMetadata.Count} inputs ({string.Join(", ", _session.InputMetadata.Keys)}); sliding-window inference needs exactly one image input.");
            var (inName, inMeta) = _session.InputMetadata.First();
            if (!inMeta.IsTensor || inMeta.ElementDataType != TensorElementType.Float)
                throw new ArgumentException($"the model's input '{inName}' is {Describe(inMeta)}; sliding-window inference feeds float32 tensors.");
            if (inMeta.Dimensions.Length < 3)
                throw new ArgumentException($"the model's input '{inName}' has rank {inMeta.Dimensions.Length}; it must be [batch, channels, spatial…].");
            var (outName, outMeta) = _session.OutputMetadata.First();
            if (!outMeta.IsTensor || outMeta.ElementDataType != TensorElementType.Float)
                throw new ArgumentException($"the model's output '{outName}' is {Describe(outMeta)}; sliding-window blending needs float32 scores (logits, probabilities or values), not labels.");
            if (outMeta.Dimensions.Length != inMeta.Dimensions.Length)
                throw new ArgumentException($"the model's output '{outName}' has rank {outMeta.Dimensions.Length} but its input has rank {inMeta.Dimensions.Length}; the output must be [batch, classes, spatial…] of the input's spatial size.");
            InputName = inName;
            OutputName = outName;
            _inputDims = inMeta.Dimensions.Select(d => (long)d).ToArray();
            OutputDimensions = outMeta.Dimensions.Select(d => (long)d).ToArray();
            Metadata = new Dictionary<string, string>(_session.ModelMetadata.CustomMetadataMap);
        }
        catch
        {
            _session.Dispose();
            throw;
        }
    }

    /// <summary>The model's input name.</summary>
    public string InputName { get; }

    /// <summary>The model's (first) output name.</summary>
    public string OutputName { get; }

    /// <summary>The input dimensions [batch, channels, spatial…]; −1 marks a dynamic dimension.</summary>
    public IReadOnlyList<long> InputDimensions => _inputDims;

    /// <summary>The output dimensions; −1 marks a dynamic dimension.</summary>
    public IReadOnlyList<long> OutputDimensions { get; }

    /// <summary>The model's custom metadata properties.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Predicts the image at <paramref name="imagePath"/> into <paramref name="outputPath"/>.</summary>
    /// <inheritdoc cref="Predict(MLArrayFile, string, PredictOptions?, IProgress{PredictProgress}?, CancellationToken)"/>
    public PredictResult Predict(string imagePath, string outputPath, PredictOptions? options = null, IProgress<PredictProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        using var image = MLArrayFile.Open(imagePath);
        return Predict(image, outputPath, options, progress, cancellationToken);
    }

    /// <summary>
    /// Predicts <paramref name="image"/> tile by tile and writes the blended result to <paramref name="outputPath"/>
    /// (atomically: on an error or cancellation the target is untouched).
    /// </summary>
    /// <exception cref="ArgumentException">The model does not fit the image (rank, channels), bad options, or <paramref name="outputPath"/> is the image's own file.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public PredictResult Predict(MLArrayFile image, string outputPath, PredictOptions? options = null, IProgress<PredictProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        OpenModes.CheckSuffix(outputPath);
        if (image.FilePath is { } imagePath && !imagePath.Contains("://", StringComparison.Ordinal)
            && string.Equals(Path.GetFullPath(imagePath), Path.GetFullPath(outputPath),
                OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal)) // their file systems ignore case
            throw new ArgumentException($"the output '{outputPath}' is the input image: the prediction would replace it; write it to another path.", nameof(outputPath));
        options ??= new PredictOptions();
        var clock = Stopwatch.StartNew();
        var norm = options.Normalization ?? Normalization.FromModelMetadata(Metadata) ?? Normalization.None;
        var probe = new ImagePatchReader(image);
        int channels = probe.Channels;
        int sd = probe.SpatialShape.Length;
        CheckModelFits(image, channels, sd);
        var reader = new ImagePatchReader(image, norm.Resolve(image, channels));
        int[] patch = PatchSizeFor(options, sd);
        int batch = BatchSizeFor(options);
        var grid = new GridSampler(reader.SpatialShape, patch, options.Overlap);
        long tileVoxels = grid[0].VoxelCount;
        long inputFloats = checked(batch * channels * tileVoxels);
        if (inputFloats > Array.MaxLength)
            throw new ArgumentException($"a batch of {batch} tiles of {string.Join("×", patch)} with {channels} channels needs {inputFloats} floats; use a smaller batch or patch.");
        var input = new float[inputFloats];
        long[] inputShape = [batch, channels, .. patch.Select(p => (long)p)];
        PatchAssembler? asm = null;
        AssembledOutput output = default;
        try
        {
            using var run = new RunOptions();
            using var reg = cancellationToken.Register(() => run.Terminate = true);
            for (int first = 0; first < grid.Count; first += batch)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int n = Math.Min(batch, grid.Count - first);
                for (int b = 0; b < n; b++)
                    reader.Read(grid[first + b], input.AsSpan((int)(b * channels * tileVoxels), (int)(channels * tileVoxels)));
                if (n < batch)
                    input.AsSpan((int)(n * channels * tileVoxels)).Clear();
                using var inValue = OrtValue.CreateTensorValueFromMemory(input, inputShape);
                IDisposableReadOnlyCollection<OrtValue> results;
                try
                {
                    results = _session.Run(run, [InputName], [inValue], [OutputName]);
                }
                catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
                {
                    throw new OperationCanceledException(cancellationToken);
                }
                catch (OnnxRuntimeException e)
                {
                    throw new ArgumentException($"the model failed on a tile batch of shape ({string.Join(", ", inputShape)}): {e.Message}", e);
                }
                using (results)
                {
                    var value = results[0];
                    var info = value.GetTensorTypeAndShape();
                    if (info.ElementDataType != TensorElementType.Float)
                        throw new ArgumentException($"the model's output '{OutputName}' holds {info.ElementDataType}, not float32 scores.");
                    long[] shape = info.Shape;
                    if (shape.Length != inputShape.Length || shape[0] != batch || !shape.AsSpan(2).SequenceEqual(inputShape.AsSpan(2)))
                        throw new ArgumentException($"the model returned shape ({string.Join(", ", shape)}) for input ({string.Join(", ", inputShape)}); the output must be [batch, classes, spatial…] with the input's batch and spatial size.");
                    if (shape[1] < 1 || shape[1] > 65536)
                        throw new ArgumentException($"the model returned {shape[1]} output channels; 1..65536 are supported.");
                    int classes = (int)shape[1];
                    if (asm is null)
                    {
                        output = options.Output ?? OutputFromMetadata() ?? (classes >= 2 ? AssembledOutput.Segmentation : AssembledOutput.Logits);
                        if (output == AssembledOutput.Segmentation && classes < 2)
                            throw new ArgumentException($"the model has {classes} output channel; argmax needs at least 2 classes (write values instead: no --argmax).");
                        asm = new PatchAssembler(outputPath, grid, classes, new PatchAssemblerOptions
                        {
                            Output = output, Gaussian = options.Gaussian, GeometryFrom = image, Layout = options.Layout, Compression = options.Compression,
                            Float16 = options.Float16,
                        });
                    }
                    var data = value.GetTensorDataAsSpan<float>();
                    long per = classes * tileVoxels;
                    for (int b = 0; b < n; b++)
                        asm.Add(grid[first + b], data.Slice((int)(b * per), (int)per));
                }
                progress?.Report(new PredictProgress(first + n, grid.Count, asm.RowsWritten));
            }
            cancellationToken.ThrowIfCancellationRequested();
            asm!.Complete();
            return new PredictResult(asm.OutputShape, asm.OutputDType, output, patch, grid.Count, batch, clock.Elapsed);
        }
        finally
        {
            asm?.Dispose();
        }
    }

    private void CheckModelFits(MLArrayFile image, int channels, int spatialAxes)
    {
        string name = image.FilePath is { } p ? $"'{Path.GetFileName(p)}'" : "the image";
        if (_inputDims.Length != spatialAxes + 2)
            throw new ArgumentException($"the model's input '{InputName}' has rank {_inputDims.Length} ({_inputDims.Length - 2} spatial axes) but {name} has {spatialAxes} spatial axes (shape {string.Join("×", image.Shape)}); use a {spatialAxes}-D model.");
        if (_inputDims[1] > 0 && _inputDims[1] != channels)
            throw new ArgumentException($"the model's input '{InputName}' expects {_inputDims[1]} channel(s) but {name} has {channels} (shape {string.Join("×", image.Shape)}, axis labels {(image.AxisLabels is { } l ? string.Join(",", l) : "none")}).");
        if (OutputDimensions.Count > 2)
            for (int d = 2; d < _inputDims.Length; d++)
                if (_inputDims[d] > 0 && OutputDimensions[d] > 0 && OutputDimensions[d] != _inputDims[d])
                    throw new ArgumentException($"the model's output spatial size ({string.Join(", ", OutputDimensions.Skip(2))}) differs from its input's ({string.Join(", ", _inputDims.Skip(2))}); only models that keep the resolution can be blended.");
    }

    private int[] PatchSizeFor(PredictOptions options, int spatialAxes)
    {
        var fixedDims = _inputDims.Skip(2).ToArray();
        bool allFixed = fixedDims.All(d => d > 0);
        if (options.PatchSize is { } p)
        {
            if (p.Length != spatialAxes)
                throw new ArgumentException($"the patch size has {p.Length} entries but the image has {spatialAxes} spatial axes.");
            for (int d = 0; d < spatialAxes; d++)
                if (fixedDims[d] > 0 && fixedDims[d] != p[d])
                    throw new ArgumentException($"the model's input has fixed spatial size ({string.Join(", ", fixedDims)}); the patch ({string.Join(", ", p)}) must equal it.");
            return p;
        }
        if (allFixed)
            return fixedDims.Select(d => checked((int)d)).ToArray();
        int[] fromMeta = Metadata.TryGetValue(ModelMetadataKeys.PatchSize, out var text)
            ? Normalization.ParseList(ModelMetadataKeys.PatchSize, text).Select(v => (int)v).ToArray()
            : Enumerable.Repeat(128, spatialAxes).ToArray();
        if (fromMeta.Length != spatialAxes)
            throw new ArgumentException($"model metadata '{ModelMetadataKeys.PatchSize}' has {fromMeta.Length} entries but the image has {spatialAxes} spatial axes.");
        for (int d = 0; d < spatialAxes; d++)
            if (fixedDims[d] > 0) fromMeta[d] = (int)fixedDims[d];
        return fromMeta;
    }

    private int BatchSizeFor(PredictOptions options)
    {
        long fixedBatch = _inputDims[0];
        if (options.BatchSize is { } b)
        {
            if (b < 1)
                throw new ArgumentException($"the batch size must be at least 1, got {b}.");
            if (fixedBatch > 0 && b != fixedBatch)
                throw new ArgumentException($"the model's input has a fixed batch dimension of {fixedBatch}; the batch size must be {fixedBatch}, not {b}.");
            return b;
        }
        return fixedBatch > 0 ? (int)fixedBatch : 2;
    }

    private AssembledOutput? OutputFromMetadata()
    {
        if (!Metadata.TryGetValue(ModelMetadataKeys.Output, out var v)) return null;
        return v.Trim().ToLowerInvariant() switch
        {
            "segmentation" => AssembledOutput.Segmentation,
            "probabilities" => AssembledOutput.Probabilities,
            "logits" or "regression" => AssembledOutput.Logits,
            _ => throw new ArgumentException($"model metadata '{ModelMetadataKeys.Output}' must be segmentation, probabilities, logits or regression, got \"{v}\"."),
        };
    }

    private static string Describe(NodeMetadata m) =>
        m.IsTensor ? string.Create(CultureInfo.InvariantCulture, $"a {m.ElementDataType} tensor") : $"a {m.OnnxValueType} value";

    /// <summary>Releases the inference session.</summary>
    public void Dispose() => _session.Dispose();
}
