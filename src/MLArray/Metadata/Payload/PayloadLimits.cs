namespace MLArray.Metadata.Payload;

/// <summary>
/// Limits applied while decoding an <c>"mlarray"</c> metadata payload, so that a hostile file cannot make the reader
/// allocate or recurse without bound. Every limit that is exceeded gives an <see cref="MLArrayMetadataException"/>.
/// </summary>
public sealed record PayloadLimits
{
    /// <summary>The defaults: 64 MiB decompressed, nesting depth 200, 4 million items, 64 MiB of strings.</summary>
    public static PayloadLimits Default { get; } = new();

    /// <summary>Largest decompressed (gunzipped) payload in bytes; inflating stops as soon as it is exceeded.</summary>
    public long MaxDecompressedBytes { get; init; } = 64L << 20;

    /// <summary>Deepest container nesting (lists, tuples, dicts) in the decoded value.</summary>
    public int MaxDepth { get; init; } = 200;

    /// <summary>Most values (containers, scalars and dict keys, counted after expanding shared references) in one payload.</summary>
    public long MaxItems { get; init; } = 4_000_000;

    /// <summary>Most UTF-8 bytes of strings (values and keys, counted after expanding shared references) in one payload.</summary>
    public long MaxStringBytes { get; init; } = 64L << 20;

    internal void Check()
    {
        if (MaxDecompressedBytes <= 0 || MaxDepth <= 0 || MaxItems <= 0 || MaxStringBytes <= 0)
            throw new ArgumentException("payload limits must be positive");
    }
}
