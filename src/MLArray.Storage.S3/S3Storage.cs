using System.Net;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using MLArray.Blosc2;
using MLArray.Remote;

namespace MLArray.Storage.S3;

/// <summary>How <see cref="S3Storage"/> reaches the store.</summary>
public sealed record S3StorageOptions
{
    /// <summary>
    /// The client to use (not disposed by this library). Null: a client is made from the other options, with the SDK's
    /// standard credential chain (environment variables, shared profile, SSO, container/instance roles).
    /// </summary>
    public IAmazonS3? Client { get; init; }

    /// <summary>Explicit credentials; null for the SDK's standard chain.</summary>
    public AWSCredentials? Credentials { get; init; }

    /// <summary>The region (e.g. "eu-central-1"); null for the SDK's resolution (AWS_REGION, profile), or "us-east-1" with a custom endpoint.</summary>
    public string? Region { get; init; }

    /// <summary>
    /// A custom endpoint for S3-compatible stores (MinIO, Ceph, ...), e.g. "http://127.0.0.1:9000". Null: the
    /// environment variable <c>AWS_ENDPOINT_URL_S3</c>, then <c>AWS_ENDPOINT_URL</c>, else AWS itself.
    /// </summary>
    public string? ServiceUrl { get; init; }

    /// <summary>Path-style addressing (<c>endpoint/bucket/key</c>). Null: on with a custom endpoint, off for AWS.</summary>
    public bool? ForcePathStyle { get; init; }

    /// <summary>Bytes of the first ranged GET, which also learns the length and the ETag. Default 8 KiB.</summary>
    public int ProbeBytes { get; init; } = 8 << 10;

    /// <summary>
    /// Opening fetches the last 64 KiB (a frame's offsets index and trailer) with a suffix range sent together with the
    /// first request: one round trip. S3 answers suffix ranges; a store that does not (s3rver answers the first bytes)
    /// costs a wasted request, then the tail is read after the first answer. False: the latter only. Default true.
    /// </summary>
    public bool SuffixRangeOpen { get; init; } = true;

    /// <summary>Retries of a read after a 5xx, throttling, a timeout or a short body. Default 4.</summary>
    public int MaxRetries { get; init; } = 4;

    /// <summary>Delay before the first retry; doubled each time, capped at 8× this value. Default 100 ms.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Time limit of one request. Default 60 s.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Uploads larger than this go in parts of this size (multipart upload); at least 5 MiB. Default 16 MiB.</summary>
    public long PartSize { get; init; } = 16L << 20;

    /// <summary>Test hook: called after each uploaded part with its number.</summary>
    internal Action<int>? PartUploaded { get; init; }

    /// <summary>The defaults.</summary>
    public static S3StorageOptions Default { get; } = new();
}

/// <summary>
/// <c>.mla</c> files in Amazon S3 or an S3-compatible store, addressed as <c>s3://bucket/key</c>: opened read-only
/// through ranged GETs (<see cref="OpenAsync"/>), written by uploading a complete local file
/// (<see cref="UploadAsync"/>, <see cref="SaveAsync"/>; multipart for large files), so that an object only appears
/// when it is complete.
/// </summary>
public static class S3Storage
{
    /// <summary>True when <paramref name="url"/> starts with <c>s3://</c>.</summary>
    public static bool IsS3Url(string url) => url is not null && url.StartsWith("s3://", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Opens <c>s3://bucket/key</c> as an <see cref="IByteRangeSource"/>: a ranged GET of the first bytes (length and
    /// ETag) and, concurrently, a suffix range of the last 64 KiB (kept: a frame's index and trailer). Every later
    /// read sends <c>If-Match</c> with the ETag and checks the ETag and length of the answer.
    /// </summary>
    /// <exception cref="ArgumentException">Not an <c>s3://bucket/key</c> URL.</exception>
    /// <exception cref="MLArrayRemoteException">Missing bucket or key, access denied, no credentials, ...</exception>
    public static async Task<IByteRangeSource> OpenSourceAsync(string url, S3StorageOptions? options = null, CancellationToken cancellationToken = default)
    {
        var (bucket, key) = Parse(url);
        options ??= S3StorageOptions.Default;
        var source = new S3RangeSource(bucket, key, options);
        try
        {
            await source.ProbeAsync(cancellationToken).ConfigureAwait(false);
            return source;
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens the <c>.mla</c> at <c>s3://bucket/key</c> read-only: 2 concurrent requests (head; offsets index + trailer with the
    /// metadata); array reads fetch the chunks they touch. The image owns the source and its client.
    /// </summary>
    /// <exception cref="ArgumentException">Not an <c>s3://bucket/key</c> URL ending in <c>.mla</c>.</exception>
    /// <exception cref="MLArrayRemoteException">Missing bucket or key, access denied, a replaced object, ...</exception>
    /// <exception cref="MLArrayFormatException">The object is not a valid <c>.mla</c> frame.</exception>
    public static async Task<MLArrayFile> OpenAsync(string url, S3StorageOptions? options = null, RemoteReadOptions? readOptions = null,
        CancellationToken cancellationToken = default)
    {
        CheckMla(url);
        var source = await OpenSourceAsync(url, options, cancellationToken).ConfigureAwait(false);
        return await MLArrayFile.OpenAsync(source, readOptions, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Saves <paramref name="image"/> to <c>s3://bucket/key</c>: written to a local temporary file, then uploaded
    /// (<see cref="UploadAsync"/>); the temporary file is deleted.
    /// </summary>
    /// <exception cref="ArgumentException">Not an <c>s3://bucket/key</c> URL ending in <c>.mla</c>.</exception>
    /// <exception cref="MLArrayRemoteException">The upload failed (no object was created).</exception>
    public static Task SaveAsync(MLArrayFile image, string url, S3StorageOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckMla(url);
        return StagedUpload.RunAsync(image.Save, temp => UploadAsync(temp, url, options, cancellationToken));
    }

    /// <summary>
    /// Uploads the local file <paramref name="path"/> to <c>s3://bucket/key</c>: one PUT up to
    /// <see cref="S3StorageOptions.PartSize"/>, else a multipart upload that is completed only after every part
    /// arrived (and aborted on failure), so the object never exists half-written.
    /// </summary>
    /// <exception cref="ArgumentException">Not an <c>s3://bucket/key</c> URL.</exception>
    /// <exception cref="FileNotFoundException"><paramref name="path"/> does not exist.</exception>
    /// <exception cref="MLArrayRemoteException">The upload failed (no object was created).</exception>
    public static Task UploadAsync(string path, string url, S3StorageOptions? options = null, CancellationToken cancellationToken = default) =>
        UploadCoreAsync(path, url, null, options, cancellationToken);

    /// <summary>
    /// Replaces the object at <c>s3://bucket/key</c> with the local file <paramref name="path"/> only if the object still has
    /// the ETag <paramref name="expectedVersionTag"/> (the <see cref="IByteRangeSource.VersionTag"/> of the read it was
    /// computed from): the current ETag is checked right before the upload (one HEAD request) and the upload itself
    /// is conditional (<c>If-Match</c> on the PUT or on the completion of a multipart upload, which S3 enforces). A
    /// changed or deleted object is left as it is.
    /// </summary>
    /// <remarks>
    /// Stores that ignore <c>If-Match</c> on writes (s3rver) are protected by the check before the upload only: a
    /// replacement that lands between that check and the upload is overwritten.
    /// </remarks>
    /// <exception cref="ArgumentException">Not an <c>s3://bucket/key</c> URL, or an empty tag.</exception>
    /// <exception cref="FileNotFoundException"><paramref name="path"/> does not exist.</exception>
    /// <exception cref="MLArrayRemoteChangedException">The object changed or disappeared since it was read (nothing was written).</exception>
    /// <exception cref="MLArrayRemoteException">The upload failed (the object was not replaced).</exception>
    public static async Task ReplaceAsync(string path, string url, string expectedVersionTag, S3StorageOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(expectedVersionTag);
        var (bucket, key) = Parse(url);
        options ??= S3StorageOptions.Default;
        string name = DisplayName(bucket, key);
        var (client, owned) = ClientFor(options, reads: false);
        try
        {
            string? current;
            try
            {
                current = (await client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = bucket, Key = key }, cancellationToken).ConfigureAwait(false)).ETag;
            }
            catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode != "NoSuchBucket")
            {
                current = null; // HEAD answers carry no error code: a 404 is a missing key (a missing bucket fails the upload)
            }
            catch (AmazonClientException e)
            {
                throw Describe(name, e);
            }
            if (current != expectedVersionTag)
                throw Changed(name, expectedVersionTag, current);
        }
        finally
        {
            if (owned)
                client.Dispose();
        }
        await UploadCoreAsync(path, url, expectedVersionTag, options, cancellationToken).ConfigureAwait(false);
    }

    private static MLArrayRemoteChangedException Changed(string name, string expected, string? current) =>
        new($"'{name}': the object changed since it was read (its ETag is {(current is null ? "gone: it was deleted" : current)}, not {expected}); nothing was written. Run again to work on the current object.", 412);

    /// <summary>
    /// The objects directly under <c>s3://bucket/prefix/</c> (not in deeper "folders"), as <c>s3://bucket/key</c> URLs
    /// in ordinal order. <c>s3://bucket</c> or <c>s3://bucket/</c> lists the top level of the bucket.
    /// </summary>
    /// <exception cref="ArgumentException">Not an <c>s3://bucket[/prefix/]</c> URL.</exception>
    /// <exception cref="MLArrayRemoteException">Missing bucket, access denied, no credentials, ...</exception>
    public static async Task<IReadOnlyList<string>> ListAsync(string prefixUrl, S3StorageOptions? options = null, CancellationToken cancellationToken = default)
    {
        var (bucket, prefix) = StoreUrls.SplitFolder(prefixUrl, "s3://", "s3://bucket/prefix/");
        options ??= S3StorageOptions.Default;
        string name = DisplayName(bucket, prefix);
        var (client, owned) = ClientFor(options, reads: false);
        try
        {
            var keys = new List<string>();
            var request = new ListObjectsV2Request { BucketName = bucket, Prefix = prefix, Delimiter = "/" };
            while (true)
            {
                var page = await Call(name, () => client.ListObjectsV2Async(request, cancellationToken)).ConfigureAwait(false);
                foreach (var o in page.S3Objects ?? [])
                    keys.Add(DisplayName(bucket, o.Key));
                if (page.IsTruncated != true || string.IsNullOrEmpty(page.NextContinuationToken))
                    break;
                request.ContinuationToken = page.NextContinuationToken;
            }
            keys.Sort(StringComparer.Ordinal);
            return keys;
        }
        finally
        {
            if (owned)
                client.Dispose();
        }
    }

    private static async Task UploadCoreAsync(string path, string url, string? ifMatch, S3StorageOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        var (bucket, key) = Parse(url);
        options ??= S3StorageOptions.Default;
        if (options.PartSize < 5L << 20)
            throw new ArgumentException($"S3StorageOptions.PartSize must be at least 5 MiB (S3's minimum part size), got {options.PartSize}.", nameof(options));
        long length = new FileInfo(path) is { Exists: true } fi ? fi.Length : throw new FileNotFoundException($"'{path}' does not exist.", path);
        string name = DisplayName(bucket, key);
        var (client, owned) = ClientFor(options, reads: false);
        try
        {
            if (length <= options.PartSize)
            {
                await Call(name, () => client.PutObjectAsync(new PutObjectRequest
                {
                    BucketName = bucket, Key = key, FilePath = path, UseChunkEncoding = false, IfMatch = ifMatch,
                }, cancellationToken), ifMatch).ConfigureAwait(false);
                return;
            }
            var init = await Call(name, () => client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = bucket, Key = key }, cancellationToken)).ConfigureAwait(false);
            try
            {
                var parts = new List<PartETag>();
                int number = 1;
                for (long pos = 0; pos < length; pos += options.PartSize, number++)
                {
                    var part = await Call(name, () => client.UploadPartAsync(new UploadPartRequest
                    {
                        BucketName = bucket, Key = key, UploadId = init.UploadId, PartNumber = number,
                        FilePath = path, FilePosition = pos, PartSize = Math.Min(options.PartSize, length - pos), UseChunkEncoding = false,
                    }, cancellationToken)).ConfigureAwait(false);
                    parts.Add(new PartETag(number, part.ETag));
                    options.PartUploaded?.Invoke(number);
                }
                await Call(name, () => client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
                {
                    BucketName = bucket, Key = key, UploadId = init.UploadId, PartETags = parts, IfMatch = ifMatch,
                }, cancellationToken), ifMatch).ConfigureAwait(false);
            }
            catch
            {
                // Best effort: the object does not exist until completion either way; aborting frees the stored parts.
                try
                {
                    await client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = bucket, Key = key, UploadId = init.UploadId }, CancellationToken.None).ConfigureAwait(false);
                }
                catch (AmazonServiceException)
                {
                }
                throw;
            }
        }
        finally
        {
            if (owned)
                client.Dispose();
        }
    }

    /// <summary>Splits <c>s3://bucket/key</c>.</summary>
    internal static (string Bucket, string Key) Parse(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!IsS3Url(url))
            throw new ArgumentException($"'{url}' is not an s3://bucket/key URL.", nameof(url));
        string rest = url[5..];
        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == rest.Length - 1)
            throw new ArgumentException($"'{url}' is not an s3://bucket/key URL (it needs a bucket and a key).", nameof(url));
        return (rest[..slash], rest[(slash + 1)..]);
    }

    private static void CheckMla(string url)
    {
        if (!Parse(url).Key.EndsWith(".mla", StringComparison.Ordinal))
            throw new ArgumentException($"'{url}': MLArray requires '.mla' as extension.", nameof(url));
    }

    internal static string DisplayName(string bucket, string key) => $"s3://{bucket}/{key}";

    /// <summary>The caller's client, or a new one (owned by the caller of this method) from the options and the environment.</summary>
    internal static (IAmazonS3 Client, bool Owned) ClientFor(S3StorageOptions options, bool reads)
    {
        if (options.Client is not null)
            return (options.Client, false);
        var config = new AmazonS3Config
        {
            // Reads are retried by this library (bounded, counted), uploads by the SDK; checksums only where S3
            // requires them, so that S3-compatible stores without the newer checksum headers work.
            MaxErrorRetry = reads ? 0 : options.MaxRetries,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            Timeout = options.RequestTimeout,
        };
        string? endpoint = options.ServiceUrl ?? NonEmpty("AWS_ENDPOINT_URL_S3") ?? NonEmpty("AWS_ENDPOINT_URL");
        if (endpoint is not null)
        {
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var endpointUri) || !HttpRangeSource.IsHttpUrl(endpointUri))
            {
                string source = options.ServiceUrl is not null ? "S3StorageOptions.ServiceUrl" : NonEmpty("AWS_ENDPOINT_URL_S3") is not null ? "AWS_ENDPOINT_URL_S3" : "AWS_ENDPOINT_URL";
                string shown = endpointUri is not null ? HttpRangeSource.Redact(endpointUri) : endpoint.Contains('@', StringComparison.Ordinal) ? "(not shown)" : endpoint;
                throw new ArgumentException($"the S3 endpoint '{shown}' ({source}) is not an absolute http:// or https:// URL; set it to the store's address, e.g. http://127.0.0.1:9000 for a local MinIO, or unset it for AWS.", nameof(options));
            }
            config.ServiceURL = endpoint;
            config.ForcePathStyle = options.ForcePathStyle ?? true;
            config.AuthenticationRegion = options.Region ?? NonEmpty("AWS_REGION") ?? NonEmpty("AWS_DEFAULT_REGION") ?? "us-east-1";
        }
        else
        {
            if (options.Region is not null)
                config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region);
            if (options.ForcePathStyle is { } ps)
                config.ForcePathStyle = ps;
        }
        return (options.Credentials is null ? new AmazonS3Client(config) : new AmazonS3Client(options.Credentials, config), true);
    }

    private static string? NonEmpty(string variable) => Environment.GetEnvironmentVariable(variable) is { Length: > 0 } v ? v : null;

    /// <summary>Runs one SDK call, turning its failures into messages naming the object (never the credentials).</summary>
    /// <param name="name">The object, for messages.</param>
    /// <param name="call">The call.</param>
    /// <param name="ifMatch">The ETag a conditional write expected: a 412 then means the object changed (nothing written).</param>
    private static async Task<T> Call<T>(string name, Func<Task<T>> call, string? ifMatch = null)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (ifMatch is not null && (e.StatusCode == HttpStatusCode.PreconditionFailed || e.ErrorCode == "PreconditionFailed"
            || (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode == "NoSuchKey")))
        {
            throw Changed(name, ifMatch, e.StatusCode == HttpStatusCode.NotFound ? null : "a different one");
        }
        catch (AmazonClientException e)
        {
            throw Describe(name, e);
        }
    }

    /// <summary>An SDK failure as a definitive exception naming the object, or null when it is transient.</summary>
    internal static Exception? Classify(string name, Exception e)
    {
        if (e is OperationCanceledException or HttpRequestException or IOException)
            return null;
        if (e is AmazonServiceException se && se.StatusCode is HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway
                or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout or HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests)
            return null;
        if (e is AmazonServiceException { StatusCode: 0 } && e.InnerException is HttpRequestException or IOException or OperationCanceledException)
            return null;
        return Describe(name, e);
    }

    private static Exception Describe(string name, Exception e)
    {
        if (e is AmazonS3Exception s3)
        {
            int status = (int)s3.StatusCode;
            string code = s3.ErrorCode ?? "";
            return code switch
            {
                "PreconditionFailed" => new MLArrayRemoteChangedException($"'{name}': HTTP 412: the object was replaced while being read (its ETag changed). Reopen it.", 412),
                "NoSuchBucket" => new MLArrayRemoteException($"'{name}': the bucket does not exist (S3 NoSuchBucket); check the bucket name, the region and the endpoint.", status, e),
                "NoSuchKey" => new MLArrayRemoteException($"'{name}': no object with this key (S3 NoSuchKey, HTTP 404); check the key.", status, e),
                "InvalidAccessKeyId" or "SignatureDoesNotMatch" or "InvalidToken" or "ExpiredToken" or "TokenRefreshRequired" =>
                    new MLArrayRemoteException($"'{name}': the store refused the credentials (S3 {code}, HTTP {status}); check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the role in use.", status, e),
                "InvalidRange" => new MLArrayRemoteException($"'{name}': HTTP 416: the range is outside the object (an empty object is not an .mla file; was it replaced?).", status, e),
                _ when status == 403 => new MLArrayRemoteException($"'{name}': access denied (S3 {code}, HTTP 403); check the credentials and the bucket policy.", status, e),
                _ when status == 404 => new MLArrayRemoteException($"'{name}': not found (S3 {code}, HTTP 404); check the bucket and the key.", status, e),
                _ when status == 412 => new MLArrayRemoteChangedException($"'{name}': HTTP 412: the object was replaced while being read. Reopen it.", 412),
                _ => new MLArrayRemoteException($"'{name}': the store answered HTTP {status} ({code}).", status, e),
            };
        }
        if (e is AmazonServiceException { StatusCode: not 0 } service)
            return new MLArrayRemoteException($"'{name}': the store answered HTTP {(int)service.StatusCode} ({service.ErrorCode}).", (int)service.StatusCode, e);
        if (e is AmazonClientException && e.Message.Contains("credential", StringComparison.OrdinalIgnoreCase))
            return new MLArrayRemoteException($"'{name}': no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run where a role provides them.", null, e);
        return new MLArrayRemoteException($"'{name}': the request failed: {e.GetBaseException().Message}", null, e);
    }
}

/// <summary>An <see cref="IByteRangeSource"/> over S3 GetObject with byte ranges and If-Match.</summary>
internal sealed class S3RangeSource : ObjectRangeSource
{
    private readonly IAmazonS3 _client;
    private readonly bool _ownsClient;
    private readonly string _bucket;
    private readonly string _key;

    public S3RangeSource(string bucket, string key, S3StorageOptions options)
        : base(S3Storage.DisplayName(bucket, key), new ObjectSourceSettings(options.ProbeBytes, options.MaxRetries, options.RetryDelay, options.RequestTimeout, ProbeTailBytes: options.SuffixRangeOpen ? 64 << 10 : 0))
    {
        _bucket = bucket;
        _key = key;
        (_client, _ownsClient) = S3Storage.ClientFor(options, reads: true);
    }

    protected override async Task<RangeResponse> GetAsync(long offset, int count, string? ifMatch, CancellationToken ct)
    {
        var request = new GetObjectRequest { BucketName = _bucket, Key = _key, ByteRange = new ByteRange(offset, offset + count - 1) };
        if (ifMatch is not null)
            request.EtagToMatch = ifMatch;
        var response = await _client.GetObjectAsync(request, ct).ConfigureAwait(false);
        return new RangeResponse(response.ContentRange, response.ContentLength, response.ETag, response.ResponseStream, response);
    }

    /// <summary>S3 takes suffix ranges: the tail of a frame comes with the first request's round trip.</summary>
    protected override Task<RangeResponse>? GetSuffixAsync(int count, CancellationToken ct) => GetSuffixCoreAsync(count, ct);

    private async Task<RangeResponse> GetSuffixCoreAsync(int count, CancellationToken ct)
    {
        var request = new GetObjectRequest { BucketName = _bucket, Key = _key, ByteRange = new ByteRange($"bytes=-{count}") };
        var response = await _client.GetObjectAsync(request, ct).ConfigureAwait(false);
        return new RangeResponse(response.ContentRange, response.ContentLength, response.ETag, response.ResponseStream, response);
    }

    protected override Exception? Classify(Exception e) => S3Storage.Classify(DisplayName, e);

    public override void Dispose()
    {
        if (_ownsClient)
            _client.Dispose();
    }
}
