using MLArray.Blosc2.Format;
using MLArray.Remote;

namespace MLArray.Blosc2;

public sealed partial class B2ndArray
{
    /// <summary>
    /// Opens a remote array read-only over <paramref name="source"/> (which the array then owns and disposes): 2 range
    /// requests (head, then offsets index + trailer); chunks are fetched on demand, whole, and cached.
    /// </summary>
    /// <exception cref="MLArrayFormatException">The object is not a valid b2nd frame.</exception>
    /// <exception cref="MLArrayRemoteException">A read failed.</exception>
    public static async Task<B2ndArray> OpenAsync(IByteRangeSource source, RemoteReadOptions? options = null, FrameLimits? limits = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        RangeFrameSource frameSource;
        try
        {
            frameSource = await RangeFrameSource.OpenAsync(source, options, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            source.Dispose();
            throw;
        }
        try
        {
            var frame = FrameReader.Open(frameSource, limits);
            frameSource.AttachLayout(frame);
            return new B2ndArray(frame, null, copyOnWrite: false);
        }
        catch
        {
            frameSource.Dispose();
            throw;
        }
    }

    /// <summary>Opens an http:// or https:// URL read-only (see <see cref="OpenAsync(IByteRangeSource, RemoteReadOptions?, FrameLimits?, CancellationToken)"/>).</summary>
    /// <exception cref="FileNotFoundException">HTTP 404.</exception>
    /// <exception cref="MLArrayRemoteException">Access denied, no Range support, ...</exception>
    public static async Task<B2ndArray> OpenAsync(Uri url, HttpRangeSourceOptions? http = null, RemoteReadOptions? options = null,
        FrameLimits? limits = null, CancellationToken cancellationToken = default)
    {
        var source = await HttpRangeSource.OpenAsync(url, http, cancellationToken).ConfigureAwait(false);
        return await OpenAsync(source, options, limits, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The remote source (traffic counters), or null for files and memory.</summary>
    internal IByteRangeSource? RemoteSource => (_frame.Source as RangeFrameSource)?.Source;

    private static B2ndArray OpenUrl(string url, B2ndOpenMode mode, FrameLimits? limits)
    {
        var uri = new Uri(url);
        if (mode != B2ndOpenMode.Read)
            throw new ArgumentException($"'{HttpRangeSource.Redact(uri)}' is a URL: remote arrays open read-only (B2ndOpenMode.Read); download the file to change it.", nameof(mode));
        // Blocking door for synchronous callers; use OpenAsync where a thread must not wait on the network.
        return Task.Run(() => OpenAsync(uri, null, null, limits)).GetAwaiter().GetResult();
    }
}
