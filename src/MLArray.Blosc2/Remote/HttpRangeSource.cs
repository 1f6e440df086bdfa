using System.Net;
using System.Net.Http.Headers;
using MLArray.Blosc2;

namespace MLArray.Remote;

/// <summary>Options of <see cref="HttpRangeSource"/>.</summary>
public sealed record HttpRangeSourceOptions
{
    /// <summary>
    /// The client to use (not disposed by the source). Null: a shared pooled client of this library. A caller-provided
    /// client should not follow redirects itself (redirects are followed, bounded, by the source).
    /// </summary>
    public HttpClient? Client { get; init; }

    /// <summary>Bytes of the first ranged GET, which also learns the length and the ETag. Default 8 KiB.</summary>
    public int ProbeBytes { get; init; } = 8 << 10;

    /// <summary>
    /// Bytes of the last part of the object fetched by a suffix range request sent concurrently with the first GET
    /// (kept: a frame's offsets index and trailer usually lie inside them, so opening costs one round trip). 0: none.
    /// Default 64 KiB.
    /// </summary>
    public int ProbeTailBytes { get; init; } = 64 << 10;

    /// <summary>Retries of a request after a 5xx, a timeout or a short body. Default 4.</summary>
    public int MaxRetries { get; init; } = 4;

    /// <summary>Delay before the first retry; doubled each time, capped at 8× this value. Default 100 ms.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Time limit of one request. Default 60 s.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Redirects followed per request. Default 5.</summary>
    public int MaxRedirects { get; init; } = 5;

    /// <summary>
    /// A server that ignores Range answers 200 with the whole object: accepted only for objects up to this size
    /// (then held in memory). Default 1 MiB.
    /// </summary>
    public long MaxWholeBodyBytes { get; init; } = 1 << 20;

    /// <summary>
    /// Ranges sent in one multi-range request (<c>Range: bytes=a-b,c-d,...</c>, answered with a
    /// <c>multipart/byteranges</c> body: nginx, Apache). A server that answers otherwise (200, a single range) is
    /// detected on the first such request and asked one range per request from then on (a 200 answer's body is not
    /// read). 1: never. Default 64.
    /// </summary>
    public int MaxRangesPerRequest { get; init; } = 64;

    /// <summary>The defaults.</summary>
    public static HttpRangeSourceOptions Default { get; } = new();
}

/// <summary>
/// An <see cref="IByteRangeSource"/> over HTTP(S) range requests (any server with Range support: nginx, Apache,
/// presigned S3/GCS URLs, Azure SAS URLs). Every response must be a 206 with the asked Content-Range; every request
/// carries <c>If-Match</c> with the ETag learned when opening (a replaced object fails, never mixes data); short
/// bodies, 5xx and timeouts are retried with bounded exponential backoff. Messages name the URL without its query
/// string (presigned URLs carry secrets there).
/// </summary>
public sealed class HttpRangeSource : IByteRangeSource
{
    private static readonly Lazy<HttpClient> Shared = new(() => new HttpClient(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        MaxConnectionsPerServer = 64,
        AutomaticDecompression = DecompressionMethods.None,
    }) { Timeout = Timeout.InfiniteTimeSpan });

    private readonly HttpClient _client;
    private readonly HttpRangeSourceOptions _options;
    private readonly Uri _origin; // the URL given: asked again when a location learned from a redirect stops working
    private Uri _uri;
    private byte[] _prefix = [];
    private byte[] _suffix = [];
    private long _suffixStart;
    private volatile bool _singleRanges;
    private DateTimeOffset? _lastModified; // the version when the server sends no ETag (If-Unmodified-Since, compared)
    private const string Unsupported = "(multi-range not supported)";

    private HttpRangeSource(Uri uri, HttpRangeSourceOptions options)
    {
        _uri = _origin = uri;
        _options = options;
        _client = options.Client ?? Shared.Value;
        DisplayName = Redact(uri);
    }

    /// <inheritdoc/>
    public long Length { get; private set; }

    /// <inheritdoc/>
    public string? VersionTag { get; private set; }

    /// <inheritdoc/>
    public string DisplayName { get; }

    /// <inheritdoc/>
    public TrafficCounters Traffic { get; } = new();

    /// <summary>
    /// <see cref="HttpRangeSourceOptions.MaxRangesPerRequest"/>, or 1 once the server has shown that it does not
    /// answer multi-range requests with a multipart body.
    /// </summary>
    public int MaxRangesPerRequest => _singleRanges ? 1 : Math.Max(1, _options.MaxRangesPerRequest);

    /// <summary>
    /// Opens <paramref name="uri"/> with one ranged GET of the first <see cref="HttpRangeSourceOptions.ProbeBytes"/>
    /// bytes, learning the length and the ETag, and concurrently a suffix range of the last
    /// <see cref="HttpRangeSourceOptions.ProbeTailBytes"/> bytes: two requests in one round trip, both kept (later
    /// reads inside them cost no request).
    /// </summary>
    /// <exception cref="ArgumentException">Not an absolute http/https URL.</exception>
    /// <exception cref="FileNotFoundException">HTTP 404.</exception>
    /// <exception cref="MLArrayRemoteException">Access denied, a server that ignores Range for a large object, too many redirects, a server that stays unreachable (refused connection, unknown host, timeouts) or answers 5xx through the retries, ...</exception>
    public static async Task<HttpRangeSource> OpenAsync(Uri uri, HttpRangeSourceOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (!IsHttpUrl(uri))
            throw new ArgumentException($"'{Redact(uri)}' is not an absolute http:// or https:// URL.", nameof(uri));
        var source = new HttpRangeSource(uri, options ?? HttpRangeSourceOptions.Default);
        // The opening pair is retried as every later read is: a 5xx, a timeout or a refused or dropped connection
        // (the server restarting) is tried again, and when it persists the caller gets an MLArrayRemoteException
        // naming the URL, never a bare HttpRequestException.
        await source.WithRetriesAsync("the first and last bytes (opening the object)",
            () => source.ProbeAsync(cancellationToken), cancellationToken).ConfigureAwait(false);
        return source;
    }

    /// <summary>True for absolute http:// and https:// URLs.</summary>
    public static bool IsHttpUrl(Uri uri) => uri.IsAbsoluteUri && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);

    /// <summary>True when <paramref name="pathOrUrl"/> is an http:// or https:// URL rather than a file path.</summary>
    public static bool IsHttpUrl(string pathOrUrl) =>
        (pathOrUrl.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || pathOrUrl.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        && Uri.TryCreate(pathOrUrl, UriKind.Absolute, out var u) && IsHttpUrl(u);

    /// <summary>The URL without user info, query string and fragment (a removed query shows as "?…").</summary>
    public static string Redact(Uri uri)
    {
        if (!uri.IsAbsoluteUri)
            return "(relative URL)";
        string s = uri.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped);
        return string.IsNullOrEmpty(uri.Query) ? s : s + "?…";
    }

    /// <summary>The opening pair: null when done, or the reason for a retryable failure (a short first response).</summary>
    private async Task<string?> ProbeAsync(CancellationToken ct)
    {
        // The head and the tail ranges go out together: the length is not needed for a suffix range (bytes=-m).
        var tailTask = _options.ProbeTailBytes > 0
            ? SendAsync(new RangeHeaderValue(null, _options.ProbeTailBytes), ifMatch: false, ct)
            : null;
        try
        {
            if (await ProbeHeadAsync(ct).ConfigureAwait(false) is { } transient)
                return transient;
            if (tailTask is not null)
            {
                var tail = tailTask;
                tailTask = null;
                using var response = await tail.ConfigureAwait(false);
                await ProbeTailAsync(response, ct).ConfigureAwait(false);
            }
            return null;
        }
        finally
        {
            // The head failed: the tail response is not needed (observe its outcome, release its connection).
            _ = tailTask?.ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully)
                    t.Result.Dispose();
                _ = t.Exception;
            }, TaskScheduler.Default);
        }
    }

    /// <summary>Keeps the suffix of the object when the server answered the suffix range as asked.</summary>
    private async Task ProbeTailAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.StatusCode != HttpStatusCode.PartialContent || _prefix.Length == Length)
            return; // a whole-body answer (small object, or Range ignored: the head decided), or nothing to add
        if (response.Headers.ETag?.ToString() != VersionTag)
            throw new MLArrayRemoteChangedException($"'{DisplayName}': the object was replaced while being opened (ETag {response.Headers.ETag} instead of {VersionTag}). Reopen it.", 206);
        CheckLastModified(response, "opened");
        long want = Math.Min(_options.ProbeTailBytes, Length);
        var (start, end, total) = ContentRange(response, Length - want);
        if (total != Length)
            throw new MLArrayRemoteChangedException($"'{DisplayName}': the object is {total} bytes long in one response and {Length} in another: it was replaced while being opened. Reopen it.", 206);
        if (end != Length - 1 || start != Length - want)
            throw Error($"the server answered the last {want} bytes of a {Length}-byte object with bytes {start}-{end}", 206);
        var data = GC.AllocateUninitializedArray<byte>((int)want);
        long got = await ReadBodyIntoAsync(response, data, ct).ConfigureAwait(false);
        if (got != want)
            return; // truncated or oversized: not kept (reads of these bytes fetch them again, checked)
        _suffixStart = start;
        _suffix = data;
    }

    /// <summary>The first bytes (and the length): null when done, or the reason for a retryable failure.</summary>
    private async Task<string?> ProbeHeadAsync(CancellationToken ct)
    {
        int n = Math.Max(1, _options.ProbeBytes);
        using var response = await SendAsync(new RangeHeaderValue(0, n - 1), ifMatch: false, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            throw Error($"HTTP 416: the object is empty (no byte satisfies the range 0-{n - 1}); it is not an .mla file", 416);
        var etag = response.Headers.ETag;
        VersionTag = etag?.ToString();
        _lastModified = etag is null ? response.Content.Headers.LastModified : null;
        if (response.StatusCode == HttpStatusCode.OK)
        {
            // The server ignores Range: usable only for small objects.
            long? declared = response.Content.Headers.ContentLength;
            if (declared > _options.MaxWholeBodyBytes)
                throw IgnoresRange(declared.Value);
            var body = await ReadBodyAsync(response, _options.MaxWholeBodyBytes + 1, ct).ConfigureAwait(false);
            if (body.Length > _options.MaxWholeBodyBytes)
                throw IgnoresRange(null);
            if (declared is { } d && body.Length < d)
                return $"short body ({body.Length} of {d} bytes) for the whole object";
            Length = body.Length;
            _prefix = body;
            return null;
        }
        var (start, end, total) = ContentRange(response, 0);
        if (start != 0 || total is null)
            throw Error($"the server answered the range 0-{n - 1} with Content-Range {response.Content.Headers.ContentRange}", 206);
        Length = total.Value;
        long want = Math.Min(n, Length);
        if (end != want - 1)
            throw Error($"the server answered the range 0-{n - 1} of a {Length}-byte object with bytes {start}-{end}", 206);
        var data = await ReadBodyAsync(response, want + 1, ct).ConfigureAwait(false);
        if (data.Length < want)
            return $"short body ({data.Length} of {want} bytes) for the first bytes"; // a cut connection: retried
        if (data.Length != want)
            throw Error($"the response to the first range request has more than the {want} bytes asked for", 206);
        _prefix = data;
        return null;
    }

    private MLArrayRemoteException IgnoresRange(long? size) =>
        Error($"the server ignores Range requests (it answered 200 with the whole object{(size is null ? "" : $" of {size} bytes")}); " +
              $"objects larger than {_options.MaxWholeBodyBytes} bytes (HttpRangeSourceOptions.MaxWholeBodyBytes) need a server with Range support, or download the file", 200);

    /// <inheritdoc/>
    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        destination = KeptEnds.Serve(DisplayName, Length, _prefix, _suffix, _suffixStart, offset, destination);
        if (destination.IsEmpty)
            return;
        int n = destination.Length;
        await WithRetriesAsync($"bytes {offset}-{offset + n - 1}", () => TryReadAsync(offset, destination, cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs attempts until one succeeds (null), retrying transient failures (a reason) with bounded backoff.</summary>
    private async Task WithRetriesAsync(string what, Func<Task<string?>> attempt, CancellationToken cancellationToken)
    {
        for (int i = 0; ; i++)
        {
            string? transient;
            Exception? last = null;
            try
            {
                transient = await attempt().ConfigureAwait(false);
            }
            catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.SecureConnectionError)
            {
                // a refused certificate does not heal by retrying
                throw new MLArrayRemoteException(
                    $"'{DisplayName}': the TLS connection could not be established ({e.InnerException?.Message ?? e.Message}); " +
                    "check the URL, or trust the server's certificate (HttpRangeSourceOptions.Client: an HttpClient that validates it).", null, e);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is HttpRequestException or TaskCanceledException or TimeoutException or IOException and not MLArrayException and not FileNotFoundException)
            {
                transient = e is TaskCanceledException ? "timeout" : e.Message;
                last = e;
            }
            if (transient is null)
                return;
            if (i >= _options.MaxRetries)
                throw new MLArrayRemoteException(
                    $"'{DisplayName}': reading {what} failed {i + 1} times (last: {transient}); the server may be unreachable or overloaded: check the URL, or try again later.", null, last);
            Traffic.AddRetry();
            var delay = _options.RetryDelay * Math.Min(1 << i, 8);
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public async ValueTask ReadRangesAsync(IReadOnlyList<ByteRangeRead> ranges, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        var pending = new List<ByteRangeRead>(ranges.Count);
        foreach (var r in ranges)
        {
            int n = r.Destination.Length;
            if (r.Offset < 0 || r.Offset > Length - n)
                throw new ArgumentOutOfRangeException(nameof(ranges), $"'{DisplayName}': {n} bytes at offset {r.Offset} are outside the object ({Length} bytes).");
            if (pending.Count > 0 && r.Offset < pending[^1].Offset + pending[^1].Destination.Length)
                throw new ArgumentException($"'{DisplayName}': the ranges of a multi-range read must be in increasing order without overlaps.", nameof(ranges));
            if (n > 0 && r.Offset + n > _prefix.Length && (_suffix.Length == 0 || r.Offset < _suffixStart))
                pending.Add(r);
            else if (n > 0)
                await ReadAsync(r.Offset, r.Destination, cancellationToken).ConfigureAwait(false); // held from the probes
        }
        if (pending.Count > 1 && MaxRangesPerRequest > 1)
        {
            bool multipart = false;
            string what = $"{pending.Count} ranges in bytes {pending[0].Offset}-{pending[^1].Offset + pending[^1].Destination.Length - 1}";
            await WithRetriesAsync(what, async () =>
            {
                var (reason, ok) = await TryReadRangesAsync(pending, cancellationToken).ConfigureAwait(false);
                multipart = ok;
                return reason;
            }, cancellationToken).ConfigureAwait(false);
            if (multipart)
                return;
        }
        await Task.WhenAll(pending.Select(r => ReadAsync(r.Offset, r.Destination, cancellationToken).AsTask())).ConfigureAwait(false);
    }

    /// <summary>
    /// One multi-range attempt: (null, true) when every range was filled from a multipart answer, (null, false) when
    /// the server does not answer multi-range requests that way (then asked one range at a time, from now on), or a
    /// reason for a retryable failure; throws for a definitive one.
    /// </summary>
    private async Task<(string? Transient, bool Done)> TryReadRangesAsync(List<ByteRangeRead> ranges, CancellationToken ct)
    {
        var header = new RangeHeaderValue();
        foreach (var r in ranges)
            header.Ranges.Add(new RangeItemHeaderValue(r.Offset, r.Offset + r.Destination.Length - 1));
        using var response = await SendAsync(header, ifMatch: true, ct).ConfigureAwait(false);
        CheckVersion(response);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            throw Error($"HTTP 416: ranges in bytes {ranges[0].Offset}-{ranges[^1].Offset + ranges[^1].Destination.Length - 1} are outside the object (it was {Length} bytes when opened; was it replaced?)", 416);
        var type = response.Content.Headers.ContentType;
        string? boundary = type?.Parameters.FirstOrDefault(p => p.Name.Equals("boundary", StringComparison.OrdinalIgnoreCase))?.Value?.Trim('"');
        if (response.StatusCode != HttpStatusCode.PartialContent || !string.Equals(type?.MediaType, "multipart/byteranges", StringComparison.OrdinalIgnoreCase)
            || string.IsNullOrEmpty(boundary))
        {
            _singleRanges = true; // 200 (the whole object: its body is not read), a single range...: one range per request
            return (null, false);
        }
        long asked = ranges.Sum(r => (long)r.Destination.Length);
        var body = new MultipartBody(await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false), asked + 1024L * ranges.Count + (64 << 10), DisplayName);
        try
        {
            string? reason = await ReadPartsAsync(body, boundary, ranges, ct).ConfigureAwait(false);
            if (reason == Unsupported)
                _singleRanges = true;
            return reason is null ? (null, true) : reason == Unsupported ? (null, false) : (reason, false);
        }
        catch (Exception e) when (e is (IOException and not MLArrayException) or HttpRequestException && !ct.IsCancellationRequested)
        {
            return ("connection cut in a multipart body", false);
        }
        finally
        {
            Traffic.AddBytes(body.BytesRead);
            body.Dispose();
        }
    }

    /// <summary>Copies the parts of a multipart/byteranges body into the ranges; null when every range was filled exactly.</summary>
    private async Task<string?> ReadPartsAsync(MultipartBody body, string boundary, List<ByteRangeRead> ranges, CancellationToken ct)
    {
        string delimiter = "--" + boundary;
        var filled = new long[ranges.Count];
        string? line;
        do
        {
            line = await body.ReadLineAsync(ct).ConfigureAwait(false);
            if (line is null)
                return "short multipart body";
        }
        while (line != delimiter); // the preamble (nginx: an empty line)
        while (true)
        {
            long from = -1, to = -1;
            while ((line = await body.ReadLineAsync(ct).ConfigureAwait(false)) is { Length: > 0 })
            {
                if (!line.StartsWith("Content-Range:", StringComparison.OrdinalIgnoreCase))
                    continue;
                if (!ContentRangeHeaderValue.TryParse(line["Content-Range:".Length..].Trim(), out var cr) || cr.From is null || cr.To is null || cr.Unit != "bytes")
                    throw Error($"unreadable part header '{line}' in a multipart answer", 206);
                if (cr.Length is { } total && total != Length)
                    throw new MLArrayRemoteChangedException($"'{DisplayName}': the object is now {total} bytes long instead of {Length}: it was replaced while being read. Reopen it.", 206);
                (from, to) = (cr.From.Value, cr.To.Value);
            }
            if (line is null)
                return "short multipart body";
            if (from < 0 || to < from || to >= Length)
                throw Error($"a part of a multipart answer has no valid Content-Range (bytes {from}-{to})", 206);
            // The part's bytes, in order: copied into the ranges they overlap, the rest skipped.
            long pos = from;
            while (pos <= to)
            {
                int i = ranges.FindIndex(r => r.Offset + r.Destination.Length > pos);
                if (i < 0 || ranges[i].Offset > to)
                {
                    throw Error($"the server answered bytes {from}-{to}, outside the ranges asked", 206);
                }
                var r = ranges[i];
                if (r.Offset > pos)
                {
                    if (!await body.SkipAsync(r.Offset - pos, ct).ConfigureAwait(false))
                        return "short multipart body";
                    pos = r.Offset;
                }
                int n = (int)(Math.Min(to + 1, r.Offset + r.Destination.Length) - pos);
                if (!await body.ReadExactlyAsync(r.Destination.Slice((int)(pos - r.Offset), n), ct).ConfigureAwait(false))
                    return "short multipart body";
                filled[i] += n;
                pos += n;
            }
            if (await body.ReadLineAsync(ct).ConfigureAwait(false) is not "")
                return "malformed multipart body (no line end after a part)";
            line = await body.ReadLineAsync(ct).ConfigureAwait(false);
            if (line == delimiter + "--")
                break;
            if (line != delimiter)
                return line is null ? "short multipart body" : "malformed multipart body (no delimiter after a part)";
        }
        for (int i = 0; i < ranges.Count; i++)
        {
            if (filled[i] > ranges[i].Destination.Length)
                throw Error($"the multipart answer repeats bytes of the range at {ranges[i].Offset}", 206);
            if (filled[i] < ranges[i].Destination.Length)
                return Unsupported; // parts merged or left out: one range per request from now on
        }
        return null;
    }

    /// <summary>One attempt: null on success, a reason for a retryable failure, or throws for a definitive one.</summary>
    private async Task<string?> TryReadAsync(long offset, Memory<byte> destination, CancellationToken ct)
    {
        int n = destination.Length;
        using var response = await SendAsync(new RangeHeaderValue(offset, offset + n - 1), ifMatch: true, ct).ConfigureAwait(false);
        CheckVersion(response);
        if (response.StatusCode == HttpStatusCode.OK)
        {
            if (Length > _options.MaxWholeBodyBytes)
                throw IgnoresRange(Length);
            var body = await ReadBodyAsync(response, Length + 1, ct).ConfigureAwait(false);
            if (body.Length != Length)
                return $"whole-object body of {body.Length} bytes instead of {Length}";
            body.AsMemory((int)offset, n).CopyTo(destination);
            return null;
        }
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            throw Error($"HTTP 416: the range {offset}-{offset + n - 1} is outside the object (it was {Length} bytes when opened; was it replaced?)", 416);
        var (start, end, total) = ContentRange(response, offset);
        if (total is not null && total != Length)
            throw new MLArrayRemoteChangedException($"'{DisplayName}': the object is now {total} bytes long instead of {Length}: it was replaced while being read. Reopen it.", 206);
        if (start != offset || end != offset + n - 1)
            throw Error($"the server answered the range {offset}-{offset + n - 1} with bytes {start}-{end}", 206);
        long got = await ReadBodyIntoAsync(response, destination, ct).ConfigureAwait(false);
        if (got < n)
            return $"short body ({got} of {n} bytes)";
        if (got > n)
            throw Error($"the response to the range {offset}-{offset + n - 1} is larger than asked (more than {n} bytes)", 206);
        return null;
    }

    private void CheckVersion(HttpResponseMessage response)
    {
        if (response.StatusCode == HttpStatusCode.PreconditionFailed)
            throw new MLArrayRemoteChangedException(VersionTag is null && _lastModified is { } lm
                ? $"'{DisplayName}': HTTP 412: the object was replaced while being read (modified after {lm:R}). Reopen it."
                : $"'{DisplayName}': HTTP 412: the object was replaced while being read (its ETag is no longer {VersionTag}). Reopen it.", 412);
        string? tag = response.Headers.ETag?.ToString();
        if (VersionTag is not null && tag is not null && tag != VersionTag)
            throw new MLArrayRemoteChangedException($"'{DisplayName}': the object was replaced while being read (ETag {tag} instead of {VersionTag}). Reopen it.", (int)response.StatusCode);
        CheckLastModified(response, "read");
    }

    /// <summary>
    /// A server without ETags: the Last-Modified date learned at the open is the version (sent as
    /// <c>If-Unmodified-Since</c>, and compared with every answer's), so a replaced object fails instead of mixing data.
    /// </summary>
    private void CheckLastModified(HttpResponseMessage response, string when)
    {
        if (_lastModified is { } opened && response.Content.Headers.LastModified is { } now && now != opened)
            throw new MLArrayRemoteChangedException(
                $"'{DisplayName}': the object was replaced while being {when} (Last-Modified {now:R} instead of {opened:R}). Reopen it.", (int)response.StatusCode);
    }

    /// <summary>Sends a ranged GET, following redirects (bounded); throws for definitive HTTP errors.</summary>
    private async Task<HttpResponseMessage> SendAsync(RangeHeaderValue range, bool ifMatch, CancellationToken ct)
    {
        var uri = _uri;
        bool askedOrigin = false;
        for (int redirects = 0; ; redirects++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            request.Headers.Range = range;
            request.Headers.AcceptEncoding.Clear();
            if (ifMatch && VersionTag is not null && EntityTagHeaderValue.TryParse(VersionTag, out var tag))
                request.Headers.IfMatch.Add(tag);
            else if (ifMatch && _lastModified is { } lastModified)
                request.Headers.IfUnmodifiedSince = lastModified;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.RequestTimeout);
            Traffic.AddRequest();
            var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            if (status is >= 300 and < 400 && response.Headers.Location is { } location)
            {
                response.Dispose();
                if (redirects >= _options.MaxRedirects)
                    throw Error($"more than {_options.MaxRedirects} redirects (a redirect loop?)", status);
                uri = location.IsAbsoluteUri ? location : new Uri(uri, location);
                if (!IsHttpUrl(uri))
                    throw Error($"redirected to a non-HTTP location", status);
                continue;
            }
            if (status is 401 or 403 or 404 or 410 && redirects == 0 && !askedOrigin && uri != _origin)
            {
                // A location learned from an earlier redirect refuses now: a CDN's signed link that expired (GitHub
                // release assets, Hugging Face files). The given URL is asked again for a fresh location.
                response.Dispose();
                askedOrigin = true;
                uri = _origin;
                redirects = -1;
                continue;
            }
            if (redirects > 0)
                _uri = uri; // later requests go straight to the final location
            if (status is 200 or 206 && response.Content.Headers.ContentEncoding.Any(e => !e.Equals("identity", StringComparison.OrdinalIgnoreCase)))
            {
                string encoding = string.Join(", ", response.Content.Headers.ContentEncoding);
                response.Dispose();
                throw Error($"the server sent the bytes with Content-Encoding: {encoding} although none was asked for, so its byte ranges are not the file's bytes; " +
                            "serve .mla files without compression (they are compressed already; nginx: no gzip for them) or download the file", status);
            }
            if (status is 200 or 206 or 412 or 416)
                return response;
            response.Dispose();
            throw status switch
            {
                404 or 410 => new FileNotFoundException($"'{DisplayName}': HTTP {status}: no object at this URL; check the URL.", DisplayName),
                401 or 403 => Error($"HTTP {status}: access denied; check the credentials or whether a presigned URL has expired", status),
                408 or 429 or >= 500 => new HttpRequestException($"HTTP {status}", null, response.StatusCode),
                _ => Error($"unexpected HTTP {status} {response.ReasonPhrase} to a range request", status),
            };
        }
    }

    private (long Start, long End, long? Total) ContentRange(HttpResponseMessage response, long asked)
    {
        var cr = response.Content.Headers.ContentRange;
        if (response.StatusCode != HttpStatusCode.PartialContent || cr is null || cr.From is null || cr.To is null || cr.Unit != "bytes")
            throw Error($"HTTP {(int)response.StatusCode} without a byte Content-Range for a range request at {asked}; the server does not support Range requests properly", (int)response.StatusCode);
        return (cr.From.Value, cr.To.Value, cr.Length);
    }

    private async Task<byte[]> ReadBodyAsync(HttpResponseMessage response, long limit, CancellationToken ct)
    {
        using var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var ms = new MemoryStream();
        var buffer = new byte[81920];
        int r;
        while ((r = await stream.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            ms.Write(buffer, 0, r);
            if (ms.Length >= limit)
                break;
        }
        Traffic.AddBytes(ms.Length);
        return ms.ToArray();
    }

    /// <summary>Reads the body into <paramref name="destination"/>; returns its length (n + 1 when it is longer).</summary>
    private async Task<long> ReadBodyIntoAsync(HttpResponseMessage response, Memory<byte> destination, CancellationToken ct)
    {
        using var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        int done = 0;
        try
        {
            while (done < destination.Length)
            {
                int r = await stream.ReadAsync(destination[done..], ct).ConfigureAwait(false);
                if (r == 0)
                    break;
                done += r;
            }
        }
        catch (Exception e) when (e is IOException or HttpRequestException && !ct.IsCancellationRequested)
        {
            // Connection cut mid-body: a short body, retried.
        }
        Traffic.AddBytes(done);
        if (done == destination.Length)
        {
            var extra = new byte[1];
            if (await stream.ReadAsync(extra, ct).ConfigureAwait(false) > 0)
                return done + 1;
        }
        return done;
    }

    /// <summary>A multipart body read line by line and part by part, bounded (a server sending more than asked is an error).</summary>
    private sealed class MultipartBody(Stream stream, long limit, string name) : IDisposable
    {
        private readonly byte[] _buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64 << 10); // given back at Dispose
        private int _pos;
        private int _len;

        public long BytesRead { get; private set; }

        /// <summary>
        /// Bytes read into the buffer at a time: enough for a part's delimiter and headers (about 100 bytes), little of
        /// the part's data, which <see cref="ReadExactlyAsync"/> then reads straight into its destination.
        /// </summary>
        private const int FillBytes = 512;

        private async ValueTask<bool> FillAsync(CancellationToken ct, bool small = true)
        {
            if (_pos < _len)
                return true;
            _pos = 0;
            _len = await stream.ReadAsync(small ? _buffer.AsMemory(0, FillBytes) : _buffer, ct).ConfigureAwait(false);
            BytesRead += _len;
            if (BytesRead > limit)
                throw new MLArrayRemoteException($"'{name}': a multipart answer is larger than the ranges asked (more than {limit} bytes).", 206);
            return _len > 0;
        }

        private const int MaxLine = 4096;

        /// <summary>The next line without its CRLF (lines are short: part headers), or null at the end of the body.</summary>
        public ValueTask<string?> ReadLineAsync(CancellationToken ct)
        {
            // Usually the whole line is in the buffer already: no state machine, no copy but the string.
            int n = _buffer.AsSpan(_pos, _len - _pos).IndexOf((byte)'\n');
            if (n < 0 || n > MaxLine)
                return ReadLineSlowAsync(ct);
            string line = Line(_buffer.AsSpan(_pos, n));
            _pos += n + 1;
            return new ValueTask<string?>(line);
        }

        private async ValueTask<string?> ReadLineSlowAsync(CancellationToken ct)
        {
            var line = new List<byte>();
            while (await FillAsync(ct).ConfigureAwait(false))
            {
                byte b = _buffer[_pos++];
                if (b == (byte)'\n')
                    return Line(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(line));
                if (line.Count >= MaxLine)
                    throw new MLArrayRemoteException($"'{name}': a multipart answer has a header line longer than {MaxLine} bytes.", 206);
                line.Add(b);
            }
            return null;
        }

        private static string Line(ReadOnlySpan<byte> bytes) => System.Text.Encoding.Latin1.GetString(bytes).TrimEnd('\r');

        public async ValueTask<bool> ReadExactlyAsync(Memory<byte> destination, CancellationToken ct)
        {
            while (destination.Length > 0)
            {
                if (_pos == _len)
                {
                    // Once the buffered bytes are used, the part goes straight from the stream into the destination.
                    int r = await stream.ReadAsync(destination, ct).ConfigureAwait(false);
                    BytesRead += r;
                    if (BytesRead > limit)
                        throw new MLArrayRemoteException($"'{name}': a multipart answer is larger than the ranges asked (more than {limit} bytes).", 206);
                    if (r == 0)
                        return false;
                    destination = destination[r..];
                    continue;
                }
                if (!await FillAsync(ct).ConfigureAwait(false))
                    return false;
                int n = Math.Min(destination.Length, _len - _pos);
                _buffer.AsMemory(_pos, n).CopyTo(destination);
                _pos += n;
                destination = destination[n..];
            }
            return true;
        }

        public async ValueTask<bool> SkipAsync(long count, CancellationToken ct)
        {
            while (count > 0)
            {
                if (!await FillAsync(ct, small: false).ConfigureAwait(false))
                    return false;
                int n = (int)Math.Min(count, _len - _pos);
                _pos += n;
                count -= n;
            }
            return true;
        }

        public void Dispose()
        {
            stream.Dispose();
            System.Buffers.ArrayPool<byte>.Shared.Return(_buffer);
        }
    }

    private MLArrayRemoteException Error(string what, int? status) => new($"'{DisplayName}': {what}.", status);

    /// <summary>Nothing to release: the shared client is pooled, a caller's client stays the caller's.</summary>
    public void Dispose() { }
}
