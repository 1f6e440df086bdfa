namespace MLArray.Training.Sampling;

/// <summary>How forced-foreground samples are chosen within a batch.</summary>
public enum ForegroundMode
{
    /// <summary>The last ⌈p·B⌉ samples of every batch are forced foreground (nnU-Net's default).</summary>
    LastOfBatch,
    /// <summary>Each sample is forced foreground with probability p.</summary>
    Probabilistic,
}

/// <summary>Intensity normalisation applied to image patches on read (output = x·scale + bias per channel).</summary>
public enum NormalizationMode
{
    /// <summary>Values as stored (converted to the batch type).</summary>
    None,
    /// <summary>z-score with the case's <c>meta.stats</c> mean and std (the same for every channel).</summary>
    ZScoreFromStats,
    /// <summary>z-score with <see cref="PatchLoaderOptions.Mean"/> and <see cref="PatchLoaderOptions.Std"/> (one value, or one per channel).</summary>
    ZScore,
}

/// <summary>
/// Options of a <see cref="PatchLoader{TImage, TSegmentation}"/>: patch geometry, sampling (uniform, foreground-oversampled,
/// label-weighted), distribution over ranks, padding, normalisation and the worker pipeline.
/// </summary>
public sealed record PatchLoaderOptions
{
    /// <summary>The final patch size per spatial axis (what training uses after spatial augmentation).</summary>
    public required long[] PatchSize { get; init; }

    /// <summary>The read patch size per spatial axis (≥ <see cref="PatchSize"/>; nnU-Net's initial patch size with a margin for rotations). Default: <see cref="PatchSize"/>.</summary>
    public long[]? ReadPatchSize { get; init; }

    /// <summary>Samples per batch (default 2).</summary>
    public int BatchSize { get; init; } = 2;

    /// <summary>Batches to produce (null: endless; the enumeration stops at cancellation).</summary>
    public long? BatchCount { get; init; }

    /// <summary>Share of samples forced onto a foreground voxel (default 0.33, nnU-Net).</summary>
    public double ForegroundFraction { get; init; } = 0.33;

    /// <summary>How forced samples are chosen (default: the last ⌈p·B⌉ of each batch).</summary>
    public ForegroundMode ForegroundMode { get; init; } = ForegroundMode.LastOfBatch;

    /// <summary>
    /// Label-weighted sampling instead of foreground oversampling: every sample picks a label with probability
    /// proportional to its weight among the labels present in the case (label 0 = background: a uniform position),
    /// then centres on a random stored location of it.
    /// </summary>
    public IReadOnlyDictionary<long, double>? LabelWeights { get; init; }

    /// <summary>Seed of every random choice (with epoch and rank).</summary>
    public long Seed { get; init; }

    /// <summary>This process's rank (0-based) for distributed training.</summary>
    public int Rank { get; init; }

    /// <summary>Number of ranks; cases are sharded so that every case is seen by exactly one rank per epoch.</summary>
    public int WorldSize { get; init; } = 1;

    /// <summary>Padding of image patches outside the image (default constant).</summary>
    public PadMode ImagePadMode { get; init; } = PadMode.Constant;

    /// <summary>Constant pad value of image patches (after normalisation; default 0).</summary>
    public double ImagePadValue { get; init; }

    /// <summary>Padding of segmentation patches (constant or none; default constant).</summary>
    public PadMode SegmentationPadMode { get; init; } = PadMode.Constant;

    /// <summary>Constant pad value of segmentation patches (default −1, nnU-Net).</summary>
    public double SegmentationPadValue { get; init; } = -1;

    /// <summary>Image normalisation (default none).</summary>
    public NormalizationMode Normalization { get; init; }

    /// <summary>Means for <see cref="NormalizationMode.ZScore"/>: one, or one per channel.</summary>
    public double[]? Mean { get; init; }

    /// <summary>Standard deviations for <see cref="NormalizationMode.ZScore"/>: one, or one per channel.</summary>
    public double[]? Std { get; init; }

    /// <summary>Worker threads reading patches (default 2).</summary>
    public int Workers { get; init; } = 2;

    /// <summary>Batches prepared ahead of the consumer at most (default 4).</summary>
    public int PrefetchDepth { get; init; } = 4;

    /// <summary>
    /// Remote cases (URLs): the workers fetch the patches of this many batches beyond the one they read
    /// (<see cref="MLArrayFile.PrefetchAsync"/>: one wave per array, up to the arrays' concurrent requests), so the
    /// requests of several batches are in flight together and the network latency is hidden behind the decoding; each
    /// batch's own patches are fetched together too. Default 2; 0 fetches each patch when it is read. Local cases are
    /// never planned ahead (memory-mapped: nothing to fetch). Size the cases' memory pool for it (the default 64 MiB per
    /// array holds several 128³ patches).
    /// </summary>
    public int RemoteReadAheadBatches { get; init; } = 2;

    /// <summary>Skip cases that cannot be read (logged through <see cref="Log"/>) and take the next case instead of failing.</summary>
    public bool SkipUnreadable { get; init; }

    /// <summary>Receives warnings (unreadable cases skipped, cases without class locations).</summary>
    public Action<string>? Log { get; init; }
}
