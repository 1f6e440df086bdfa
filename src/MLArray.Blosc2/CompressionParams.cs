namespace MLArray;

/// <summary>
/// Parameters used when compressing chunks (the Blosc2 "cparams"). Defaults follow python-blosc2:
/// ZSTD, clevel 5, SHUFFLE in the last slot, AUTO split; MLArray's own defaults (LZ4HC 8) are applied by the MLArray layer.
/// </summary>
public sealed record CompressionParams
{
    /// <summary>The codec used for every stream.</summary>
    public Blosc2Codec Codec { get; init; } = Blosc2Codec.Zstd;

    /// <summary>Compression level, 0 (store uncompressed) to 9 (most effort).</summary>
    public int CLevel { get; init; } = 5;

    /// <summary>The six filter slots, applied in order 0 → 5 when compressing.</summary>
    public IReadOnlyList<Blosc2Filter> Filters { get; init; } = DefaultFilters;

    /// <summary>Per-slot filter parameter (for SHUFFLE: element width, 0 = typesize; for TRUNC_PREC: bits to keep, negative = bits to drop).</summary>
    public IReadOnlyList<byte> FiltersMeta { get; init; } = DefaultFiltersMeta;

    /// <summary>How blocks are split into streams.</summary>
    public Blosc2SplitMode SplitMode { get; init; } = Blosc2SplitMode.Auto;

    /// <summary>Number of threads used to compress chunks; 0 = all cores. The output is identical whatever this value.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Equality by value, filter slots and their parameters compared element by element.</summary>
    public bool Equals(CompressionParams? other) =>
        other is not null && Codec == other.Codec && CLevel == other.CLevel && SplitMode == other.SplitMode && Threads == other.Threads
        && (Filters ?? []).SequenceEqual(other.Filters ?? []) && (FiltersMeta ?? []).SequenceEqual(other.FiltersMeta ?? []);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Codec);
        h.Add(CLevel);
        h.Add(SplitMode);
        h.Add(Threads);
        foreach (var f in Filters ?? []) h.Add(f);
        foreach (var m in FiltersMeta ?? []) h.Add(m);
        return h.ToHashCode();
    }

    private bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append($"Codec = {Codec}, CLevel = {CLevel}, Filters = [{string.Join(", ", Filters ?? [])}], FiltersMeta = [{string.Join(", ", FiltersMeta ?? [])}], SplitMode = {SplitMode}, Threads = {Threads}");
        return true;
    }

    private static readonly Blosc2Filter[] DefaultFilters =
        [Blosc2Filter.None, Blosc2Filter.None, Blosc2Filter.None, Blosc2Filter.None, Blosc2Filter.None, Blosc2Filter.Shuffle];

    private static readonly byte[] DefaultFiltersMeta = [0, 0, 0, 0, 0, 0];

    /// <summary>
    /// Builds a six-slot pipeline python-blosc2 style: the given filters in order, placed in the last slots
    /// (e.g. DELTA then SHUFFLE gives <c>[0,0,0,0,DELTA,SHUFFLE]</c>).
    /// </summary>
    public static Blosc2Filter[] Pipeline(params Blosc2Filter[] filters)
    {
        ArgumentNullException.ThrowIfNull(filters);
        if (filters.Length > 6)
            throw new ArgumentException($"A Blosc2 pipeline has 6 slots; {filters.Length} filters were given.", nameof(filters));
        var slots = new Blosc2Filter[6];
        filters.CopyTo(slots, 6 - filters.Length);
        return slots;
    }

    /// <summary>Checks the parameters and throws <see cref="ArgumentException"/> with a clear message when they are unusable.</summary>
    public void Validate()
    {
        if (!Enum.IsDefined(Codec))
            throw new ArgumentException($"Unknown codec id {(int)Codec}; use one of blosclz, lz4, lz4hc, zlib, zstd.", nameof(Codec));
        if (CLevel is < 0 or > 9)
            throw new ArgumentException($"clevel must be between 0 and 9, got {CLevel}.", nameof(CLevel));
        if (Filters is null || Filters.Count != 6)
            throw new ArgumentException($"Filters must have exactly 6 slots, got {Filters?.Count ?? 0}; use CompressionParams.Pipeline(...).", nameof(Filters));
        if (FiltersMeta is null || FiltersMeta.Count != 6)
            throw new ArgumentException($"FiltersMeta must have exactly 6 slots, got {FiltersMeta?.Count ?? 0}.", nameof(FiltersMeta));
        foreach (var f in Filters)
            if (!Enum.IsDefined(f))
                throw new ArgumentException($"Unknown filter id {(int)f}; use shuffle, bitshuffle, delta or trunc_prec.", nameof(Filters));
        if (!Enum.IsDefined(SplitMode))
            throw new ArgumentException($"Unknown split mode {(int)SplitMode}.", nameof(SplitMode));
        if (Threads < 0)
            throw new ArgumentException($"Threads must be 0 (all cores) or positive, got {Threads}.", nameof(Threads));
    }

    internal int EffectiveThreads => Threads == 0 ? Environment.ProcessorCount : Threads;
}
