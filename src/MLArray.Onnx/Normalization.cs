using System.Globalization;
using MLArray.Training.Inference;

namespace MLArray.Onnx;

/// <summary>How image intensities are normalised before they reach the model.</summary>
public enum NormalizationKind
{
    /// <summary>Values as stored (converted to float32).</summary>
    None,
    /// <summary>(x − mean) / std per channel with the given <see cref="Normalization.Mean"/> and <see cref="Normalization.Std"/>, after the optional clip.</summary>
    ZScore,
    /// <summary>(x − mean) / std with the image's <c>meta.stats.mean</c> and <c>meta.stats.std</c> (all channels), after the optional clip.</summary>
    ZScoreFromStats,
    /// <summary>Clip to [<see cref="Normalization.ClipLow"/>, <see cref="Normalization.ClipHigh"/>], then map that range linearly to [0, 1].</summary>
    ClipScale,
}

/// <summary>
/// Intensity normalisation applied to image voxels before inference (padding outside the image is 0 after
/// normalisation, as in nnU-Net). Set it in <see cref="PredictOptions.Normalization"/> or in the model's metadata
/// properties (<see cref="ModelMetadataKeys"/>).
/// </summary>
public sealed record Normalization
{
    /// <summary>The kind.</summary>
    public NormalizationKind Kind { get; init; }

    /// <summary>Per-channel means (one value: all channels) for <see cref="NormalizationKind.ZScore"/>.</summary>
    public double[]? Mean { get; init; }

    /// <summary>Per-channel standard deviations (one value: all channels) for <see cref="NormalizationKind.ZScore"/>; positive.</summary>
    public double[]? Std { get; init; }

    /// <summary>Lower clip bound (optional for the z-scores, required for <see cref="NormalizationKind.ClipScale"/>).</summary>
    public double? ClipLow { get; init; }

    /// <summary>Upper clip bound (optional for the z-scores, required for <see cref="NormalizationKind.ClipScale"/>).</summary>
    public double? ClipHigh { get; init; }

    /// <summary>No normalisation.</summary>
    public static Normalization None { get; } = new();

    /// <summary>Z-score with given per-channel mean and std.</summary>
    public static Normalization ZScore(double[] mean, double[] std) => new() { Kind = NormalizationKind.ZScore, Mean = mean, Std = std };

    /// <summary>Z-score with the image's <c>meta.stats</c>.</summary>
    public static Normalization FromStats { get; } = new() { Kind = NormalizationKind.ZScoreFromStats };

    /// <summary>Clip to [low, high] and scale to [0, 1].</summary>
    public static Normalization ClipScale(double low, double high) => new() { Kind = NormalizationKind.ClipScale, ClipLow = low, ClipHigh = high };

    /// <summary>The per-channel voxel transforms for <paramref name="image"/> with <paramref name="channels"/> channels.</summary>
    internal VoxelTransform[] Resolve(MLArrayFile image, int channels)
    {
        float lo = (float)(ClipLow ?? double.NegativeInfinity), hi = (float)(ClipHigh ?? double.PositiveInfinity);
        if (ClipLow is { } l && ClipHigh is { } h && !(l < h))
            throw new ArgumentException($"the clip range must have low < high, got [{l}, {h}].");
        switch (Kind)
        {
            case NormalizationKind.None:
                return [VoxelTransform.Identity];
            case NormalizationKind.ClipScale:
                if (ClipLow is not { } low || ClipHigh is not { } high)
                    throw new ArgumentException("clip-scale normalisation needs both clip bounds (ClipLow, ClipHigh; model metadata 'mlarray.clip' = \"low,high\").");
                return [new VoxelTransform(lo, hi, (float)low, (float)(1 / (high - low)))];
            case NormalizationKind.ZScoreFromStats:
                var stats = image.Meta.Stats;
                if (stats.Mean is not { } m || stats.Std is not { } s)
                    throw new ArgumentException($"z-score from meta.stats needs meta.stats.mean and meta.stats.std, but '{image.FilePath ?? "the image"}' has {(stats.Mean is null ? "no mean" : "no std")}; give mean and std explicitly.");
                return [Checked(lo, hi, m.ToDouble(), s.ToDouble())];
            case NormalizationKind.ZScore:
                if (Mean is not { Length: > 0 } mean || Std is not { Length: > 0 } std)
                    throw new ArgumentException("z-score normalisation needs Mean and Std (one value, or one per channel).");
                foreach (var v in new[] { mean, std })
                    if (v.Length != 1 && v.Length != channels)
                        throw new ArgumentException($"z-score normalisation has {v.Length} values but the image has {channels} channels; give one value or one per channel.");
                int n = mean.Length == 1 && std.Length == 1 ? 1 : channels;
                return Enumerable.Range(0, n).Select(c => Checked(lo, hi, mean[mean.Length == 1 ? 0 : c], std[std.Length == 1 ? 0 : c])).ToArray();
            default:
                throw new ArgumentException($"unknown normalisation kind {Kind}.");
        }
    }

    private static VoxelTransform Checked(float lo, float hi, double mean, double std)
    {
        if (!(std > 0) || !double.IsFinite(mean))
            throw new ArgumentException($"z-score normalisation needs a finite mean and a positive std, got mean {mean}, std {std}.");
        return new VoxelTransform(lo, hi, (float)mean, (float)(1 / std));
    }

    /// <summary>The normalisation described by a model's metadata properties, or null when it names none.</summary>
    /// <exception cref="ArgumentException">A key holds a value that cannot be parsed.</exception>
    public static Normalization? FromModelMetadata(IReadOnlyDictionary<string, string> props)
    {
        ArgumentNullException.ThrowIfNull(props);
        if (!props.TryGetValue(ModelMetadataKeys.Normalization, out var kind))
            return null;
        var clip = props.TryGetValue(ModelMetadataKeys.Clip, out var c) ? ParseList(ModelMetadataKeys.Clip, c) : null;
        if (clip is not null && clip.Length != 2)
            throw new ArgumentException($"model metadata '{ModelMetadataKeys.Clip}' must be \"low,high\", got \"{c}\".");
        var n = kind.Trim().ToLowerInvariant() switch
        {
            "none" => None,
            "zscore" => ZScore(Required(props, ModelMetadataKeys.Mean), Required(props, ModelMetadataKeys.Std)),
            "zscore-stats" => FromStats,
            "clip-scale" => new Normalization { Kind = NormalizationKind.ClipScale },
            _ => throw new ArgumentException($"model metadata '{ModelMetadataKeys.Normalization}' must be none, zscore, zscore-stats or clip-scale, got \"{kind}\"."),
        };
        return clip is null ? n : n with { ClipLow = clip[0], ClipHigh = clip[1] };
    }

    private static double[] Required(IReadOnlyDictionary<string, string> props, string key) =>
        props.TryGetValue(key, out var v) ? ParseList(key, v) : throw new ArgumentException($"model metadata asks for z-score normalisation but has no '{key}'.");

    internal static double[] ParseList(string what, string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]))
                throw new ArgumentException($"{what} must be a comma-separated list of numbers, got \"{text}\".");
        return values;
    }
}

/// <summary>
/// Metadata properties (ONNX <c>metadata_props</c>) a model can carry so that <c>mlarray predict</c> needs no options.
/// Explicit <see cref="PredictOptions"/> win over them.
/// </summary>
public static class ModelMetadataKeys
{
    /// <summary><c>mlarray.normalization</c>: <c>none</c>, <c>zscore</c> (needs mean and std), <c>zscore-stats</c> (the image's meta.stats) or <c>clip-scale</c> (needs clip).</summary>
    public const string Normalization = "mlarray.normalization";

    /// <summary><c>mlarray.mean</c>: z-score means, comma-separated, one value or one per channel.</summary>
    public const string Mean = "mlarray.mean";

    /// <summary><c>mlarray.std</c>: z-score standard deviations, comma-separated, one value or one per channel.</summary>
    public const string Std = "mlarray.std";

    /// <summary><c>mlarray.clip</c>: <c>low,high</c>, the clip range (applied before a z-score; the range scaled to [0, 1] for clip-scale).</summary>
    public const string Clip = "mlarray.clip";

    /// <summary><c>mlarray.patch_size</c>: the tile size per spatial axis, comma-separated, for models with dynamic spatial dimensions.</summary>
    public const string PatchSize = "mlarray.patch_size";

    /// <summary><c>mlarray.output</c>: <c>segmentation</c> (argmax), <c>probabilities</c> (softmax), <c>logits</c> or <c>regression</c> (blended values as float32).</summary>
    public const string Output = "mlarray.output";
}
