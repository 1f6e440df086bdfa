using MLArray.Remote;
using MLArray.Training.Data;

namespace MLArray.Cli.Commands;

/// <summary>
/// <c>mlarray index</c> on segmentations in object stores (<c>s3://</c>, <c>az://</c>): the cases under a prefix, and
/// the write-back of one segmentation's class locations. An object is read once (every read checked against the ETag
/// learned when opening), indexed from a local copy, its metadata rewritten there (the trailer only) and uploaded with
/// a condition on that ETag: an object replaced meanwhile is left as it is and the case fails
/// (<see cref="MLArrayRemoteChangedException"/>), nothing half-written.
/// </summary>
internal static class RemoteIndex
{
    /// <summary>
    /// The cases directly under the object-store prefix <paramref name="prefixUrl"/>: every <c>NAME.mla</c>, with
    /// <c>NAME{segmentationSuffix}.mla</c> beside it as its segmentation when there is one (as for a local folder).
    /// </summary>
    public static List<CaseInfo> Cases(string prefixUrl, string segmentationSuffix = "_seg")
    {
        var objects = CliInput.List(CliInput.Prefix(prefixUrl)).Where(u => u.EndsWith(".mla", StringComparison.Ordinal)).ToList();
        var names = objects.ToHashSet(StringComparer.Ordinal);
        string suffix = segmentationSuffix + ".mla";
        return objects.Where(u => !u.EndsWith(suffix, StringComparison.Ordinal))
            .Select(u => (Image: u, Seg: u[..^".mla".Length] + suffix))
            .Select(c => new CaseInfo(CliInput.FileName(c.Image), c.Image, names.Contains(c.Seg) ? c.Seg : null))
            .ToList();
    }

    /// <summary>
    /// Computes and stores the class locations of the segmentation object <paramref name="url"/>; null when it has them
    /// already and <paramref name="force"/> is false (2 requests: its metadata comes with the opening reads).
    /// </summary>
    /// <param name="url">An <c>s3://</c> or <c>az://</c> URL of a segmentation <c>.mla</c>.</param>
    /// <param name="force">Recompute stored locations.</param>
    /// <param name="seed">Seed of the sampling.</param>
    /// <param name="beforeWriteBack">Test hook: runs after the local copy is updated, before the conditional upload.</param>
    /// <param name="ct">Cancels the transfers.</param>
    /// <exception cref="MLArrayRemoteChangedException">The object changed while being read or before the write-back (nothing written).</exception>
    public static ClassLocations? IndexOne(string url, bool force, long seed, CancellationToken ct, Action? beforeWriteBack = null)
    {
        string dir = Directory.CreateTempSubdirectory("mlarray-index-").FullName;
        try
        {
            string local = Path.Combine(dir, CliInput.FileName(url));
            string tag;
            var source = CliInput.Block(() => CliInput.OpenSourceAsync(url, ct));
            using (var remote = OpenOwning(source, ct))
            {
                if (!force && ClassLocations.IsStored(remote))
                    return null;
                tag = source.VersionTag
                    ?? throw new MLArrayRemoteException($"'{source.DisplayName}': the store gave the object no ETag, so it cannot be replaced safely (a conditional write needs one).");
                Download(source, local, ct);
            }
            ClassLocations locations;
            using (var seg = MLArrayFile.Open(local))
            {
                seg.DecodeThreads = 1;
                locations = ClassLocations.Compute(seg, seed);
            }
            locations.Store(local); // the metadata trailer rewritten in the local copy; the array data are not touched
            beforeWriteBack?.Invoke();
            CliInput.Replace(local, url, tag, ct);
            return locations;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The image over <paramref name="source"/> (which it then owns; disposed here when opening fails).</summary>
    private static MLArrayFile OpenOwning(IByteRangeSource source, CancellationToken ct)
    {
        try
        {
            return CliInput.Block(() => MLArrayFile.OpenAsync(source, null, ct));
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>The whole object into a new local file, in 8 MiB ranged reads (each checked against the object's ETag).</summary>
    private static void Download(IByteRangeSource source, string path, CancellationToken ct)
    {
        var buffer = new byte[(int)Math.Clamp(source.Length, 1, 8 << 20)];
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        for (long pos = 0; pos < source.Length; pos += buffer.Length)
        {
            var piece = buffer.AsMemory(0, (int)Math.Min(buffer.Length, source.Length - pos));
            CliInput.Block(() => source.ReadAsync(pos, piece, ct).AsTask());
            file.Write(piece.Span);
        }
    }
}
