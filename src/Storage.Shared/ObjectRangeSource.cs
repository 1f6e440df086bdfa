using System.Globalization;
using MLArray.Blosc2;
using MLArray.Remote;

namespace MLArray.Storage;

/// <summary>One ranged GET answered by an object store: its Content-Range, ETag and body.</summary>
/// <param name="ContentRange">The <c>Content-Range</c> header ("bytes 0-99/1000"), or null when the store sent the whole object.</param>
/// <param name="ContentLength">Length of the body as declared.</param>
/// <param name="ETag">The object's ETag in this response.</param>
/// <param name="Body">The body stream (owned by <paramref name="Owner"/>).</param>
/// <param name="Owner">Disposed when the body has been read.</param>
internal sealed record RangeResponse(string? ContentRange, long ContentLength, string? ETag, Stream Body, IDisposable Owner);

/// <summary>
/// The part of an object-store <see cref="IByteRangeSource"/> that does not depend on the SDK (compiled into the S3 and
/// the Azure packages): the probe that learns length and ETag, the ETag check on every response, the exact-range check,
/// bounded retries with exponential backoff and the traffic counters. Subclasses send one ranged GET and classify the
/// SDK's exceptions.
/// </summary>
internal abstract class ObjectRangeSource : IByteRangeSource
{
    private readonly ObjectSourceSettings _settings;
    private byte[] _prefix = [];
    private byte[] _suffix = [];
    private long _suffixStart;

    protected ObjectRangeSource(string displayName, ObjectSourceSettings settings)
    {
        DisplayName = displayName;
        _settings = settings;
    }

    public long Length { get; private set; }

    public string? VersionTag { get; private set; }

    public string DisplayName { get; }

    public TrafficCounters Traffic { get; } = new();

    /// <summary>Sends one ranged GET (If-Match <paramref name="ifMatch"/> when not null). Exceptions go through <see cref="Classify"/>.</summary>
    protected abstract Task<RangeResponse> GetAsync(long offset, int count, string? ifMatch, CancellationToken ct);

    /// <summary>
    /// Sends one GET of the last <paramref name="count"/> bytes (a suffix range, <c>bytes=-count</c>), or returns null
    /// when the store has no suffix ranges (then the tail of an object is read after its length is known).
    /// </summary>
    protected virtual Task<RangeResponse>? GetSuffixAsync(int count, CancellationToken ct) => null;

    /// <summary>
    /// An SDK exception as the exception to throw (a definitive failure: access denied, missing object, replaced object...),
    /// or null when it is transient (5xx, throttling, a dropped connection) and the request should be retried.
    /// </summary>
    protected abstract Exception? Classify(Exception e);

    /// <summary>
    /// Learns length and ETag with one ranged GET of the first bytes and, where the store takes suffix ranges, fetches
    /// the last bytes concurrently (a frame's offsets index and trailer): both kept, reads inside them cost nothing,
    /// so opening a frame takes one round trip.
    /// </summary>
    internal async Task ProbeAsync(CancellationToken ct)
    {
        Task<RangeResponse>? tail = null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_settings.RequestTimeout);
        if (_settings.ProbeTailBytes > 0)
        {
            Traffic.AddRequest();
            tail = GetSuffixAsync(_settings.ProbeTailBytes, timeout.Token);
        }
        try
        {
            await ProbeHeadAsync(ct).ConfigureAwait(false);
            if (tail is not null)
            {
                var t = tail;
                tail = null;
                await KeepSuffixAsync(t, timeout.Token).ConfigureAwait(false);
            }
        }
        finally
        {
            // The head failed: the tail answer is not needed (observe its outcome, release its connection).
            _ = tail?.ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully)
                    t.Result.Owner.Dispose();
                _ = t.Exception;
            }, TaskScheduler.Default);
        }
    }

    private async Task ProbeHeadAsync(CancellationToken ct)
    {
        int n = Math.Max(1, _settings.ProbeBytes);
        byte[]? data = null;
        await WithRetriesAsync(0, n, async () =>
        {
            var r = await SendAsync(0, n, null, ct).ConfigureAwait(false);
            using (r.Owner)
            {
                var (start, end, total) = ParseRange(r, 0);
                VersionTag = r.ETag;
                if (start != 0 || end != Math.Min(n, total) - 1)
                    throw Error($"the store answered the range 0-{n - 1} of a {total}-byte object with bytes {start}-{end}", 206);
                Length = total;
                var buffer = new byte[end + 1];
                long got = await ReadBodyAsync(r.Body, buffer, ct).ConfigureAwait(false);
                if (got < buffer.Length)
                    return $"short body ({got} of {buffer.Length} bytes)";
                if (got > buffer.Length)
                    throw Error($"the response to the range 0-{n - 1} is larger than asked", 206);
                data = buffer;
                return null;
            }
        }, ct).ConfigureAwait(false);
        _prefix = data!;
    }

    /// <summary>Keeps the suffix when the store answered it as asked, for this version; any failure: not kept (read again, checked).</summary>
    private async Task KeepSuffixAsync(Task<RangeResponse> tail, CancellationToken ct)
    {
        RangeResponse r;
        try
        {
            r = await tail.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not MLArrayException)
        {
            return; // failed or timed out: the tail is read later, checked
        }
        using (r.Owner)
        {
            if (_prefix.Length == Length || r.ContentRange is null)
                return; // the head holds the whole object, or the store sent the whole object: nothing to add
            if (VersionTag is not null && r.ETag is not null && r.ETag != VersionTag)
                throw new MLArrayRemoteChangedException($"'{DisplayName}': the object was replaced while being opened (ETag {r.ETag} instead of {VersionTag}). Reopen it.");
            long want = Math.Min(_settings.ProbeTailBytes, Length);
            var (start, end, total) = ParseRange(r, Length - want);
            if (total != Length)
                throw new MLArrayRemoteChangedException($"'{DisplayName}': the object is {total} bytes long in one answer and {Length} in another: it was replaced while being opened. Reopen it.");
            if (start != Length - want || end != Length - 1)
                return;
            var data = GC.AllocateUninitializedArray<byte>((int)want);
            try
            {
                if (await ReadBodyAsync(r.Body, data, ct).ConfigureAwait(false) != want)
                    return;
            }
            catch (OperationCanceledException)
            {
                return;
            }
            _suffixStart = start;
            _suffix = data;
        }
    }

    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        destination = KeptEnds.Serve(DisplayName, Length, _prefix, _suffix, _suffixStart, offset, destination);
        if (destination.IsEmpty)
            return;
        int n = destination.Length;
        await WithRetriesAsync(offset, n, async () =>
        {
            var r = await SendAsync(offset, n, VersionTag, cancellationToken).ConfigureAwait(false);
            using (r.Owner)
            {
                if (VersionTag is not null && r.ETag is not null && r.ETag != VersionTag)
                    throw new MLArrayRemoteChangedException($"'{DisplayName}': the object was replaced while being read (ETag {r.ETag} instead of {VersionTag}). Reopen it.");
                var (start, end, total) = ParseRange(r, offset);
                if (total != Length)
                    throw new MLArrayRemoteChangedException($"'{DisplayName}': the object is now {total} bytes long instead of {Length}: it was replaced while being read. Reopen it.");
                if (start != offset || end != offset + n - 1)
                    throw Error($"the store answered the range {offset}-{offset + n - 1} with bytes {start}-{end}", 206);
                long got = await ReadBodyAsync(r.Body, destination, cancellationToken).ConfigureAwait(false);
                if (got < n)
                    return $"short body ({got} of {n} bytes)";
                if (got > n)
                    throw Error($"the response to the range {offset}-{offset + n - 1} is larger than asked (more than {n} bytes)", 206);
                return null;
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs one attempt after another: null = done, a string = a transient failure (retried, bounded).</summary>
    private async Task WithRetriesAsync(long offset, int n, Func<Task<string?>> attempt, CancellationToken ct)
    {
        for (int i = 0; ; i++)
        {
            string? transient;
            try
            {
                transient = await attempt().ConfigureAwait(false);
            }
            catch (Exception e) when (!ct.IsCancellationRequested && e is not MLArrayException and not ArgumentException)
            {
                transient = Classify(e) is { } definitive ? throw definitive : TransientReason(e);
            }
            if (transient is null)
                return;
            if (i >= _settings.MaxRetries)
                throw Error($"reading bytes {offset}-{offset + n - 1} failed {i + 1} times (last: {transient}); the store may be overloaded or unreachable, try again later", null);
            Traffic.AddRetry();
            await Task.Delay(_settings.RetryDelay * Math.Min(1 << i, 8), ct).ConfigureAwait(false);
        }
    }

    private static string TransientReason(Exception e) => e is OperationCanceledException ? "timeout" : e.GetBaseException().Message;

    private async Task<RangeResponse> SendAsync(long offset, int count, string? ifMatch, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_settings.RequestTimeout);
        Traffic.AddRequest();
        return await GetAsync(offset, count, ifMatch, timeout.Token).ConfigureAwait(false);
    }

    /// <summary>Start, end and total length of a response; a store that sent the whole object must send it for a range at 0.</summary>
    private (long Start, long End, long Total) ParseRange(RangeResponse r, long asked)
    {
        string? cr = r.ContentRange;
        if (cr is null)
        {
            // The whole object (a store ignoring Range): acceptable only when the range covers all of it.
            if (asked == 0 && r.ContentLength >= 0)
                return (0, r.ContentLength - 1, r.ContentLength);
            throw Error($"no Content-Range in the answer to a range request at {asked}; the store does not support Range requests", null);
        }
        // "bytes START-END/TOTAL"
        int space = cr.IndexOf(' ', StringComparison.Ordinal), dash = cr.IndexOf('-', StringComparison.Ordinal), slash = cr.IndexOf('/', StringComparison.Ordinal);
        if (!cr.StartsWith("bytes ", StringComparison.OrdinalIgnoreCase) || dash < space || slash < dash
            || !long.TryParse(cr.AsSpan(space + 1, dash - space - 1), NumberStyles.None, CultureInfo.InvariantCulture, out long start)
            || !long.TryParse(cr.AsSpan(dash + 1, slash - dash - 1), NumberStyles.None, CultureInfo.InvariantCulture, out long end)
            || !long.TryParse(cr.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out long total))
            throw Error($"unreadable Content-Range '{cr}' in the answer to a range request at {asked}", null);
        return (start, end, total);
    }

    /// <summary>Reads the body into <paramref name="destination"/>; returns its length (length + 1 when it is longer).</summary>
    private async Task<long> ReadBodyAsync(Stream body, Memory<byte> destination, CancellationToken ct)
    {
        int done = 0;
        try
        {
            while (done < destination.Length)
            {
                int r = await body.ReadAsync(destination[done..], ct).ConfigureAwait(false);
                if (r == 0)
                    break;
                done += r;
            }
        }
        catch (IOException) when (!ct.IsCancellationRequested)
        {
            // Connection cut mid-body: a short body, retried.
        }
        Traffic.AddBytes(done);
        if (done == destination.Length && await body.ReadAsync(new byte[1], ct).ConfigureAwait(false) > 0)
            return done + 1;
        return done;
    }

    /// <summary>An <see cref="MLArrayRemoteException"/> naming the object.</summary>
    protected MLArrayRemoteException Error(string what, int? status) => new($"'{DisplayName}': {what}.", status);

    public abstract void Dispose();
}

/// <summary>Settings shared by the object-store sources.</summary>
internal sealed record ObjectSourceSettings(int ProbeBytes, int MaxRetries, TimeSpan RetryDelay, TimeSpan RequestTimeout, int ProbeTailBytes = 0);

/// <summary>Writes an object through a local temporary file, so that the object store only ever sees a complete file.</summary>
internal static class StagedUpload
{
    /// <summary>Writes with <paramref name="write"/> into a fresh temporary <c>.mla</c> path, uploads it, deletes it.</summary>
    public static async Task RunAsync(Action<string> write, Func<string, Task> upload)
    {
        string dir = Directory.CreateTempSubdirectory("mlarray-upload-").FullName;
        try
        {
            string temp = Path.Combine(dir, "upload.mla");
            write(temp);
            await upload(temp).ConfigureAwait(false);
        }
        finally
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
