namespace MLArray.Metadata.Payload;

/// <summary>How an <c>"mlarray"</c> vlmeta value is encoded.</summary>
public enum PayloadFormat
{
    /// <summary>A msgpack map (v0.0.23–v0.0.48).</summary>
    MsgpackMap,
    /// <summary>msgpack bin holding gzip(pickle(mapping)) (v0.0.49 onwards).</summary>
    GzipPickle,
}

/// <summary>A decoded <c>"mlarray"</c> payload: the mapping as stored, how it was encoded and what the pickle used.</summary>
/// <param name="Value">The mapping exactly as stored (tuples as lists, non-string keys as the strings json.dumps writes).</param>
/// <param name="Format">msgpack map or gzip(pickle).</param>
/// <param name="Features">Non-plain pickle features met (none for msgpack maps).</param>
public sealed record DecodedPayload(MetaValue Value, PayloadFormat Format, PickleFeatures Features);

/// <summary>
/// The <c>"mlarray"</c> vlmeta content (the msgpack bytes, after the Blosc2 chunk is decompressed) ⇄ the neutral tree.
/// Reading never executes anything from the file (see <see cref="RestrictedUnpickler"/>); writing emits what the
/// Python reference reads: msgpack bin( gzip( plain pickle protocol 4 ) ).
/// </summary>
internal static class MetaPayloadCodec
{
    /// <summary>Decodes a vlmeta value: a msgpack bin is gunzipped (within the size limit) and unpickled; a msgpack map is a legacy layout.</summary>
    /// <exception cref="MLArrayMetadataException">The payload is not decodable, refused or beyond a limit.</exception>
    public static DecodedPayload Decode(ReadOnlyMemory<byte> vlmetaContent, PayloadLimits? limits = null)
    {
        limits ??= PayloadLimits.Default;
        limits.Check();
        var s = vlmetaContent.Span;
        if (MetaMsgpack.IsBin(s))
        {
            var gz = MetaMsgpack.ReadBin(vlmetaContent);
            var pickle = BoundedGzip.Decompress(gz, limits.MaxDecompressedBytes);
            var v = RestrictedUnpickler.Load(pickle, limits, out var features);
            return new DecodedPayload(v, PayloadFormat.GzipPickle, features);
        }
        if (MetaMsgpack.IsMap(s))
        {
            if (s.Length > limits.MaxDecompressedBytes)
                throw new MLArrayMetadataException($"metadata map of {s.Length} bytes exceeds the limit of {limits.MaxDecompressedBytes} bytes");
            return new DecodedPayload(MetaMsgpack.Decode(s, limits), PayloadFormat.MsgpackMap, PickleFeatures.None);
        }
        throw new MLArrayMetadataException(s.Length == 0
            ? "the mlarray metadata entry is empty"
            : $"the mlarray metadata entry is neither a msgpack bin nor a map (first byte 0x{s[0]:x2})");
    }

    /// <summary>Encodes a mapping as msgpack bin( gzip( pickle ) ), the current write format.</summary>
    public static byte[] Encode(MetaValue mapping, int protocol = 4)
    {
        ArgumentNullException.ThrowIfNull(mapping);
        if (mapping is not MetaDict) throw new ArgumentException("the metadata payload must be a dict", nameof(mapping));
        return MetaMsgpack.WriteBin(BoundedGzip.Compress(Pickler.Dump(mapping, protocol)));
    }
}
