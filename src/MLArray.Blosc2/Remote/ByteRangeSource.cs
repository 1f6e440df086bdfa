using MLArray.Blosc2;

namespace MLArray.Remote;

/// <summary>
/// Random access to the bytes of one remote object (an HTTP(S) URL, an object-store key...): the seam under the frame
/// reader that lets <c>.mla</c> files be read without downloading them. Implementations must be thread-safe:
/// <see cref="ReadAsync"/> is called concurrently.
/// </summary>
public interface IByteRangeSource : IDisposable
{
    /// <summary>Size of the object in bytes, known once the source is open.</summary>
    long Length { get; }

    /// <summary>
    /// The object's version (an HTTP ETag, or null when the server sends none). Every read is checked against it, so
    /// an object replaced while it is being read fails with <see cref="MLArrayRemoteChangedException"/> instead of mixing data.
    /// </summary>
    string? VersionTag { get; }

    /// <summary>A name for messages, without credentials (an URL's query string is never included).</summary>
    string DisplayName { get; }

    /// <summary>Requests made and bytes received so far.</summary>
    TrafficCounters Traffic { get; }

    /// <summary>Reads exactly <paramref name="destination"/>.Length bytes at <paramref name="offset"/>.</summary>
    /// <exception cref="MLArrayRemoteException">The read failed (after the source's retries).</exception>
    ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default);

    /// <summary>
    /// Ranges one <see cref="ReadRangesAsync"/> call fetches with a single request (HTTP multi-range requests); 1 (the
    /// default) when the source sends one request per range.
    /// </summary>
    int MaxRangesPerRequest => 1;

    /// <summary>
    /// Reads several ranges (non-overlapping, in increasing order), with as few requests as the source can: one
    /// multi-range request where <see cref="MaxRangesPerRequest"/> allows it. The default reads them one by one.
    /// </summary>
    /// <exception cref="MLArrayRemoteException">A read failed (after the source's retries).</exception>
    async ValueTask ReadRangesAsync(IReadOnlyList<ByteRangeRead> ranges, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        foreach (var r in ranges)
            await ReadAsync(r.Offset, r.Destination, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>One range of a <see cref="IByteRangeSource.ReadRangesAsync"/> call: <paramref name="Destination"/>.Length bytes at <paramref name="Offset"/>.</summary>
/// <param name="Offset">Offset of the first byte in the object.</param>
/// <param name="Destination">Receives the bytes.</param>
public readonly record struct ByteRangeRead(long Offset, Memory<byte> Destination);

/// <summary>Thread-safe counters of the traffic of one <see cref="IByteRangeSource"/>.</summary>
public sealed class TrafficCounters
{
    private long _requests;
    private long _bytes;
    private long _retries;

    /// <summary>Requests sent (retries and redirects included).</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Body bytes received.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>Requests that were repeated after a transient failure (5xx, timeout, short body).</summary>
    public long Retries => Interlocked.Read(ref _retries);

    /// <summary>Counts one request.</summary>
    public void AddRequest() => Interlocked.Increment(ref _requests);

    /// <summary>Counts <paramref name="bytes"/> received.</summary>
    public void AddBytes(long bytes) => Interlocked.Add(ref _bytes, bytes);

    /// <summary>Counts one retry.</summary>
    public void AddRetry() => Interlocked.Increment(ref _retries);

    /// <inheritdoc/>
    public override string ToString() => $"{Requests} requests, {Bytes} bytes";
}

/// <summary>Reading a remote object failed: HTTP error, access denied, server without Range support...</summary>
public class MLArrayRemoteException : MLArrayException
{
    /// <summary>Creates the exception.</summary>
    public MLArrayRemoteException(string message, int? statusCode = null, Exception? innerException = null) : base(message, innerException) =>
        StatusCode = statusCode;

    /// <summary>The HTTP status of the failing response, if any.</summary>
    public int? StatusCode { get; }
}

/// <summary>The remote object changed (its version tag differs) while it was being read; reopen it.</summary>
public class MLArrayRemoteChangedException : MLArrayRemoteException
{
    /// <summary>Creates the exception.</summary>
    public MLArrayRemoteChangedException(string message, int? statusCode = null) : base(message, statusCode) { }
}

/// <summary>How a remote frame is read: prefetch sizes, chunk cache, concurrency.</summary>
public sealed record RemoteReadOptions
{
    /// <summary>Bytes read from the start of the object when opening (header and b2nd metalayer). Default 8 KiB.</summary>
    public int HeadPrefetchBytes { get; init; } = 8 << 10;

    /// <summary>Minimum bytes read from the end when opening (offsets index and trailer; more if they need it). Default 64 KiB.</summary>
    public int TailPrefetchBytes { get; init; } = 64 << 10;

    /// <summary>
    /// Bytes of recently fetched chunks and blocks kept in memory by an array that has no <see cref="MemoryCache"/>
    /// (it then gets a pool of its own of this size). Default 64 MiB.
    /// </summary>
    public long ChunkCacheBytes { get; init; } = 64L << 20;

    /// <summary>
    /// A pool of fetched compressed bytes shared by every array opened with it (keyed by object, version tag and
    /// offset), so reopening an object, or another reader of it, finds what was fetched. Null (default): each array
    /// has a pool of <see cref="ChunkCacheBytes"/>.
    /// </summary>
    public RemoteMemoryCache? MemoryCache { get; init; }

    /// <summary>Maximum concurrent range requests of one array. Default 8.</summary>
    public int MaxConcurrency { get; init; } = 8;

    /// <summary>
    /// Chunks of at least this many stored bytes are read block by block when a read needs fewer than half of their
    /// blocks: the chunk header and block starts first (kept), then only the needed blocks' byte ranges. Smaller
    /// chunks are fetched whole. Default 1 MiB; <see cref="long.MaxValue"/> always fetches whole chunks.
    /// </summary>
    public long BlockReadMinChunkBytes { get; init; } = 1L << 20;

    /// <summary>Block ranges of one chunk closer than this many bytes are fetched with one request. Default 4 KiB.</summary>
    public int BlockGapBytes { get; init; } = 4 << 10;

    /// <summary>
    /// A local folder keeping the ranges read (keyed by object and version tag), so a second pass reads them from disk;
    /// null (default): none. Opening still sends its requests, which learn the object's current version.
    /// </summary>
    public RemoteDiskCache? DiskCache { get; init; }

    /// <summary>The defaults.</summary>
    public static RemoteReadOptions Default { get; } = new();
}
