using MLArray.Blosc2;
using MLArray.Metadata.Payload;

namespace MLArray.Metadata.Migration;

/// <summary>The metadata of one file: as stored, its layout, and migrated to the current layout.</summary>
/// <param name="Payload">The decoded payload as stored.</param>
/// <param name="Layout">The detected layout.</param>
/// <param name="Migration">The mapping migrated to the canonical current layout, with the changes made.</param>
public sealed record MetaReadResult(DecodedPayload Payload, MetaLayout Layout, MigrationResult Migration)
{
    /// <summary>The canonical current-layout mapping.</summary>
    public MetaDict Current => Migration.Current;

    /// <summary>The generated typed record of <see cref="Current"/>.</summary>
    /// <exception cref="MLArrayValidationException">The mapping violates the schema (see <see cref="MLArrayMetadata.Validate"/>).</exception>
    public MLArrayMeta Meta => MLArrayMeta.FromMetaValue(Current);
}

/// <summary>Reads, migrates and writes the <c>"mlarray"</c> metadata entry of .mla files.</summary>
public static class MLArrayMetadata
{
    /// <summary>The vlmeta entry that holds the metadata.</summary>
    public const string VlMetaName = "mlarray";

    /// <summary>Decodes and migrates the metadata of an open array; null when it has no <c>"mlarray"</c> entry.</summary>
    /// <exception cref="MLArrayMetadataException">The entry is refused (hostile, beyond a limit) or not decodable.</exception>
    public static MetaReadResult? Read(B2ndArray array, PayloadLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(array);
        var content = array.GetVlMeta(VlMetaName);
        return content is null ? null : Decode(content, array.Shape, limits);
    }

    /// <summary>Decodes and migrates a vlmeta content for an array of shape <paramref name="arrayShape"/> (null when unknown).</summary>
    public static MetaReadResult Decode(ReadOnlyMemory<byte> vlmetaContent, long[]? arrayShape, PayloadLimits? limits = null)
    {
        var payload = MetaPayloadCodec.Decode(vlmetaContent, limits);
        var layout = MetaLayouts.Detect(payload);
        var migration = MetaMigrator.Migrate(payload.Value, layout, new MigrationContext(arrayShape));
        return new MetaReadResult(payload, layout, migration);
    }

    /// <summary>
    /// Every problem of a file's metadata, as the generated schema validator of <see cref="MLArrayMeta"/> reports it
    /// on the migrated mapping (JSON-pointer path, keyword code, the reference's message), with <c>ndim</c> taken from
    /// <paramref name="arrayShape"/> when the file has an array; plus one container check that is not a metadata rule:
    /// <c>spatial.shape</c> must equal the array shape (code <c>shape-mismatch</c>). No errors means valid.
    /// </summary>
    public static ValidationReport Validate(MetaReadResult meta, long[]? arrayShape)
    {
        ArgumentNullException.ThrowIfNull(meta);
        var ctx = MetaValidationContext.Empty;
        bool withArray = arrayShape is not null && MetaMigrator.UnwrapSingleKey(meta.Current["_has_array"], "has_array") is MetaBool { Value: true };
        if (withArray)
            ctx = ctx.WithDimension("ndim", arrayShape!.Length);
        var report = MLArrayMeta.ValidateTree(meta.Current, ctx);
        if (withArray && meta.Current["spatial"] is MetaDict sp && sp["shape"] is MetaList shape && shape.Items.Count == arrayShape!.Length
            && shape.Items.All(x => x is MetaInt) && !shape.Items.Select(x => (long)((MetaInt)x).Value).SequenceEqual(arrayShape))
        {
            report = new ValidationReport(report.Append(new ValidationIssue(ValidationSeverity.Error, "/spatial/shape", "shape-mismatch",
                $"meta.spatial.shape {MetaMigrator.Show(shape)} differs from the array shape [{string.Join(", ", arrayShape)}]")));
        }
        if (NonFiniteBoxRows(meta.Current).ToList() is { Count: > 0 } nonFinite)
            report = new ValidationReport(report.Concat(nonFinite));
        return report;
    }

    /// <summary>
    /// A warning for every bbox row with a NaN or infinite coordinate (code <c>non-finite</c>): the schema admits the
    /// reference's floats, but such a box cannot be located in the image (MLArrayFile refuses new ones).
    /// </summary>
    private static IEnumerable<ValidationIssue> NonFiniteBoxRows(MetaDict current)
    {
        if (current["bbox"] is not MetaDict bbox || bbox["bboxes"] is not MetaList boxes)
            yield break;
        for (int i = 0; i < boxes.Items.Count; i++)
        {
            if (boxes.Items[i] is not MetaList rows) continue;
            for (int j = 0; j < rows.Items.Count; j++)
            {
                if (rows.Items[j] is MetaList row && row.Items.Any(v => v is MetaFloat f && !double.IsFinite(f.Value)))
                    yield return new ValidationIssue(ValidationSeverity.Warning, $"/bbox/bboxes/{i}/{j}", "non-finite",
                        $"meta.bbox.bboxes[{i}] row {j} {MetaMigrator.Show(row)} should hold finite coordinates (no NaN or infinity)");
            }
        }
    }

    /// <summary>
    /// The vlmeta content to write for a migrated file: the mapping goes through the generated typed record
    /// (<see cref="MetaMigrator.ToRecord"/>, so it must satisfy the schema) and is stored as msgpack bin of gzip of a
    /// plain pickle.
    /// </summary>
    /// <exception cref="MLArrayValidationException">The mapping violates the schema.</exception>
    public static byte[] EncodeValidated(MetaDict current, long[]? arrayShape) =>
        MetaPayloadCodec.Encode(MetaMigrator.ToRecord(current, arrayShape).ToMetaValue());

    /// <summary>The vlmeta content to store for a typed record (validated first; msgpack bin of gzip of a plain pickle).</summary>
    /// <exception cref="MLArrayValidationException">The record violates the schema.</exception>
    public static byte[] Encode(MLArrayMeta meta)
    {
        ArgumentNullException.ThrowIfNull(meta);
        meta.Validate().ThrowIfInvalid();
        return MetaPayloadCodec.Encode(meta.ToMetaValue());
    }

    /// <summary>The vlmeta content to store for <paramref name="current"/> (msgpack bin of gzip of a plain pickle).</summary>
    public static byte[] Encode(MetaDict current) => MetaPayloadCodec.Encode(current);
}
