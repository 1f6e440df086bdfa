namespace MLArray.Metadata.Payload;

/// <summary>
/// Limits applied while decoding an <c>"mlarray"</c> metadata payload, so that a hostile file cannot make the reader
/// allocate or recurse without bound. Every limit that is exceeded gives an <see cref="MLArrayMetadataException"/>.
/// Real metadata is a few kilobytes; a caller whose files carry more (a large <c>meta.extra</c>) passes raised limits,
/// e.g. <c>MLArrayMetadata.Read(array, PayloadLimits.Default with { MaxDecompressedBytes = 256L &lt;&lt; 20, MaxItems = 10_000_000 })</c>.
/// </summary>
public sealed record PayloadLimits
{
    /// <summary>The defaults: 16 MiB decompressed, nesting depth 200, 1 million items, 16 MiB of strings.</summary>
    public static PayloadLimits Default { get; } = new();

    /// <summary>Largest decompressed (gunzipped) payload in bytes; inflating stops as soon as it is exceeded.</summary>
    public long MaxDecompressedBytes { get; init; } = 16L << 20;

    /// <summary>Deepest container nesting (lists, tuples, dicts) in the decoded value.</summary>
    public int MaxDepth { get; init; } = 200;

    /// <summary>
    /// Most values in one payload: containers, scalars and dict keys, counted after expanding shared references, and
    /// every value the pickle creates. Counted before the values are built: a msgpack container whose header announces
    /// more is refused before its items are read, a pickle during a first pass over its opcodes that builds nothing.
    /// </summary>
    public long MaxItems { get; init; } = 1_000_000;

    /// <summary>Most UTF-8 bytes of strings (values and keys, counted after expanding shared references) in one payload.</summary>
    public long MaxStringBytes { get; init; } = 16L << 20;

    internal void Check()
    {
        if (MaxDecompressedBytes <= 0 || MaxDepth <= 0 || MaxItems <= 0 || MaxStringBytes <= 0)
            throw new ArgumentException("payload limits must be positive");
    }
}
