namespace MLArray;

/// <summary>Compression codecs (Blosc2 "compcode" values as stored in frames and cparams).</summary>
public enum Blosc2Codec : byte
{
    /// <summary>BloscLZ, Blosc's own FastLZ-derived codec.</summary>
    BloscLZ = 0,
    /// <summary>LZ4 (fast mode, acceleration 10 - clevel).</summary>
    LZ4 = 1,
    /// <summary>LZ4 high-compression mode (level = clevel); same stream format as LZ4.</summary>
    LZ4HC = 2,
    /// <summary>zlib (RFC 1950 streams).</summary>
    Zlib = 4,
    /// <summary>Zstandard frames.</summary>
    Zstd = 5,
}

/// <summary>Filters of the six-slot Blosc2 pipeline.</summary>
public enum Blosc2Filter : byte
{
    /// <summary>Empty slot.</summary>
    None = 0,
    /// <summary>Byte shuffle (transpose the bytes of each item).</summary>
    Shuffle = 1,
    /// <summary>Bit shuffle (transpose the bits of each item).</summary>
    BitShuffle = 2,
    /// <summary>XOR delta against the first block of the chunk.</summary>
    Delta = 3,
    /// <summary>Lossy truncation of float mantissas (compression side only).</summary>
    TruncPrec = 4,
}

/// <summary>How blocks are split into streams before compression.</summary>
public enum Blosc2SplitMode : byte
{
    /// <summary>Always split blocks into one stream per byte of the item.</summary>
    Always = 1,
    /// <summary>Never split: one stream per block.</summary>
    Never = 2,
    /// <summary>Split when it usually helps (the python-blosc2 default).</summary>
    Auto = 3,
    /// <summary>The C-Blosc2 default; same rule as <see cref="Auto"/> in 3.x.</summary>
    ForwardCompat = 4,
}
