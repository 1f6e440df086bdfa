using MLArray.Blosc2;
using MLArray.Remote;

namespace MLArray;

public sealed partial class MLArrayFile
{
    /// <summary>
    /// Opens a remote <c>.mla</c> read-only over an http:// or https:// URL (any server with Range support, presigned
    /// object-store URLs): 2 range requests (head; offsets index + trailer with the metadata), so <see cref="Meta"/> and
    /// the header need nothing more; array reads fetch the chunks they touch, concurrently, with an in-memory cache.
    /// </summary>
    /// <param name="url">The object's URL; its path must end in <c>.mla</c>. Its query string never appears in messages.</param>
    /// <param name="mode">Only <see cref="MLArrayMode.Read"/>: remote files are read-only.</param>
    /// <param name="http">HTTP options (client, retries, timeouts); null for the defaults.</param>
    /// <param name="options">Prefetch, cache and concurrency options; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the opening requests.</param>
    /// <exception cref="ArgumentException">Not an http(s) URL, no <c>.mla</c> suffix, or a mode other than Read.</exception>
    /// <exception cref="FileNotFoundException">HTTP 404.</exception>
    /// <exception cref="MLArrayRemoteException">Access denied, a server without Range support, a replaced object, ...</exception>
    /// <exception cref="MLArrayFormatException">The object is not a valid <c>.mla</c> frame.</exception>
    public static async Task<MLArrayFile> OpenAsync(Uri url, MLArrayMode mode = MLArrayMode.Read, HttpRangeSourceOptions? http = null,
        RemoteReadOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(url);
        CheckRemote(url, mode);
        var source = await HttpRangeSource.OpenAsync(url, http, cancellationToken).ConfigureAwait(false);
        return await OpenAsync(source, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens a remote <c>.mla</c> read-only over any byte-range source (the image then owns and disposes
    /// <paramref name="source"/>); see <see cref="OpenAsync(Uri, MLArrayMode, HttpRangeSourceOptions?, RemoteReadOptions?, CancellationToken)"/>.
    /// </summary>
    public static async Task<MLArrayFile> OpenAsync(IByteRangeSource source, RemoteReadOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        var array = await B2ndArray.OpenAsync(source, options, null, cancellationToken).ConfigureAwait(false);
        try
        {
            return new MLArrayFile(array, ReadMeta(array), MLArrayAccess.Read, source.DisplayName);
        }
        catch
        {
            array.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Read-ahead for remote images: fetches what reads of <paramref name="selections"/> will need into the image's
    /// memory pool with concurrent requests, so those reads then decode without waiting on the network. Call it for the
    /// next patches while reading the current ones (see <see cref="B2ndArray.PrefetchAsync"/> for what is fetched and the bound).
    /// Local files and images in memory need nothing fetched: the task is complete at once.
    /// </summary>
    /// <param name="selections">The selections that will be read (per axis an index, a range or a slice).</param>
    /// <param name="cancellationToken">Cancels the requests.</param>
    /// <exception cref="ArgumentException">A selection does not fit the array.</exception>
    /// <exception cref="InvalidOperationException">The image has no array (metadata only).</exception>
    /// <exception cref="MLArrayRemoteException">A request failed (reported by the task).</exception>
    public Task PrefetchAsync(IReadOnlyList<NdIndex[]> selections, CancellationToken cancellationToken = default) =>
        Data.PrefetchAsync(selections, cancellationToken);

    /// <summary>Requests and bytes of a remote image (null for local files and images in memory).</summary>
    public TrafficCounters? RemoteTraffic => _array?.RemoteSource?.Traffic;

    private static void CheckRemote(Uri url, MLArrayMode mode)
    {
        if (!HttpRangeSource.IsHttpUrl(url))
            throw new ArgumentException($"'{HttpRangeSource.Redact(url)}' is not an http:// or https:// URL.", nameof(url));
        if (mode != MLArrayMode.Read)
            throw new ArgumentException($"'{HttpRangeSource.Redact(url)}' is a URL: remote files open read-only (MLArrayMode.Read); download the file to change it.", nameof(mode));
        if (!url.AbsolutePath.EndsWith(OpenModes.Suffix, StringComparison.Ordinal))
            throw new ArgumentException($"'{HttpRangeSource.Redact(url)}': MLArray requires '.mla' as extension.", nameof(url));
    }

    /// <summary>The synchronous door for URLs (blocks on the network; prefer OpenAsync).</summary>
    private static MLArrayFile OpenUrl(string url, MLArrayMode mode)
    {
        var uri = new Uri(url);
        CheckRemote(uri, mode);
        return Task.Run(() => OpenAsync(uri, mode)).GetAwaiter().GetResult();
    }
}
