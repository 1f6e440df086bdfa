namespace MLArray.Blosc2;

/// <summary>Resource limits applied while parsing frames (hostile files must not make us allocate unbounded memory).</summary>
public sealed record FrameLimits
{
    /// <summary>Maximum number of chunks in one frame (the offsets index is held in memory: 8 bytes per chunk). Default 2^25.</summary>
    public long MaxChunks { get; init; } = 1L << 25;

    /// <summary>Maximum uncompressed size of a metalayer or vlmeta value, in bytes. Default 256 MiB.</summary>
    public int MaxMetaBytes { get; init; } = 256 << 20;

    /// <summary>The defaults.</summary>
    public static FrameLimits Default { get; } = new();
}
