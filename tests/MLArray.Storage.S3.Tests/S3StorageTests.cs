using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using MLArray.Remote;
using MLArray.Storage.S3;
using MLArray.TestSupport;

namespace MLArray.Storage.S3.Tests;

/// <summary>
/// MLArray.Storage.S3 against a real s3rver on 127.0.0.1: the object-store contract (<see cref="ObjectStoreContract"/>:
/// 2-request open, patch reads equal to local reads, traffic, replaced object, multipart and interrupted uploads) and
/// the S3-specific failures (missing bucket or key, unknown access key, unreachable endpoint).
/// </summary>
public sealed class S3StorageTests(S3rverServer server) : ObjectStoreContract, IClassFixture<S3rverServer>
{
    protected override string Url(string key) => $"s3://{S3rverServer.Bucket}/{key}";

    protected override long PartSize => 5L << 20; // S3's minimum

    // s3rver 3.7.1 reads the suffix range "bytes=-65536" sent with the first request as "bytes=0-65536" (S3 answers
    // the last 65536 bytes): the answer is recognised as not the tail and not used, and the tail is read after the
    // first answer, so an open costs 3 requests there (2 on S3, in one round trip).
    protected override int OpenRequests => 3;

    protected override long OpenWasteBytes => (64 << 10) + 1;

    protected override int? ReplacedStatus => null; // s3rver ignores If-Match on GET: the new ETag in the answer gives it away

    protected override Task UploadAsync(string path, string key, long? partSize = null, Action<int>? partDone = null, CancellationToken ct = default) =>
        S3Storage.UploadAsync(path, Url(key), Options with { PartSize = partSize ?? Options.PartSize, PartUploaded = partDone }, ct);

    protected override Task SaveAsync(MLArrayFile image, string key) => S3Storage.SaveAsync(image, Url(key), Options);

    protected override Task ReplaceAsync(string path, string key, string expectedVersionTag, long? partSize = null) =>
        S3Storage.ReplaceAsync(path, Url(key), expectedVersionTag, Options with { PartSize = partSize ?? Options.PartSize });

    protected override Task<IReadOnlyList<string>> ListAsync(string prefix) => S3Storage.ListAsync(Url(prefix), Options);

    protected override Task<IByteRangeSource> OpenSourceAsync(string key) => S3Storage.OpenSourceAsync(Url(key), Options);

    protected override async Task DeleteAsync(string key)
    {
        var (client, _) = S3Storage.ClientFor(Options, reads: false);
        using (client)
            await client.DeleteObjectAsync(S3rverServer.Bucket, key);
    }

    protected override Task<MLArrayFile> OpenAsync(string key) => S3Storage.OpenAsync(Url(key), Options);

    private S3StorageOptions Options => new()
    {
        ServiceUrl = server.Endpoint,
        Credentials = new BasicAWSCredentials(S3rverServer.AccessKey, S3rverServer.SecretKey),
        RetryDelay = TimeSpan.FromMilliseconds(1),
    };

    protected override async Task<bool> ExistsAsync(string key)
    {
        var (client, _) = S3Storage.ClientFor(Options, reads: false);
        using (client)
        {
            try
            {
                await client.GetObjectMetadataAsync(S3rverServer.Bucket, key);
                return true;
            }
            catch (AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                return false;
            }
        }
    }

    [Fact]
    public async Task Readme_example_opens_reads_a_patch_and_saves_a_copy()
    {
        await UploadAsync(RemoteTestFiles.WithMeta, "readme/ct.mla");
        var options = Options;
        // README:begin s3
        // Credentials and region: the AWS SDK's standard chain; S3-compatible stores: ServiceUrl or AWS_ENDPOINT_URL_S3.
        using var ct = await S3Storage.OpenAsync("s3://mlarray-test/readme/ct.mla", options); // 2 requests
        var spacing = ct.Spacing;                                                           // metadata: no request
        short[] patch = ct.Read<short>(NdIndex.Slice(0, 8), NdIndex.Slice(0, 32), NdIndex.Slice(0, 32)); // the chunks it touches
        Console.WriteLine($"{patch.Length} voxels, spacing {string.Join(" x ", spacing ?? [])}: {ct.RemoteTraffic}");
        NdIndex[] next = [NdIndex.Slice(8, 16), NdIndex.Slice(0, 32), NdIndex.Slice(0, 32)];
        await ct.PrefetchAsync([next]); // read-ahead (while decoding the current patch): the next one's Read needs no request
        await S3Storage.SaveAsync(ct, "s3://mlarray-test/readme/copy.mla", options); // a local temp file, then uploaded
        // README:end
        using var local = MLArrayFile.Open(RemoteTestFiles.WithMeta);
        Assert.Equal(local.Read<short>(NdIndex.Slice(0, 8), NdIndex.Slice(0, 32), NdIndex.Slice(0, 32)), patch);
        Assert.Equal(local.Spacing, spacing);
        Assert.Equal(local.Read<short>(next), ct.Read<short>(next));
        using var copy = await OpenAsync("readme/copy.mla");
        Assert.Equal(local.ToArray<short>(), copy.ToArray<short>());
        Assert.Equal(local.Meta.ToMetaValue().ToJson(), copy.Meta.ToMetaValue().ToJson());
    }

    [Fact]
    public async Task Missing_bucket_missing_key_and_wrong_credentials_name_the_object_and_never_the_secret()
    {
        var nb = await Assert.ThrowsAsync<MLArrayRemoteException>(() => S3Storage.OpenAsync("s3://no-such-bucket/x/y.mla", Options));
        Assert.Contains("s3://no-such-bucket/x/y.mla", nb.Message);
        Assert.Contains("bucket does not exist", nb.Message);
        Assert.Equal(404, nb.StatusCode);

        var nk = await Assert.ThrowsAsync<MLArrayRemoteException>(() => S3Storage.OpenAsync(Url("missing.mla"), Options));
        Assert.Contains(Url("missing.mla"), nk.Message);
        Assert.Contains("no object with this key", nk.Message);

        await S3Storage.UploadAsync(RemoteTestFiles.Big, Url("creds/big.mla"), Options);
        const string secret = "TopSecretValue0123456789";
        // s3rver checks the access key id but does not verify SigV4 signatures, so a wrong secret alone is not refused there.
        var wrongKey = Options with { Credentials = new BasicAWSCredentials("NOSUCHACCESSKEY", secret) };
        var wk = await Assert.ThrowsAsync<MLArrayRemoteException>(() => S3Storage.OpenAsync(Url("creds/big.mla"), wrongKey));
        Assert.Contains("refused the credentials", wk.Message);
        Assert.Contains(Url("creds/big.mla"), wk.Message);
        Assert.Equal(403, wk.StatusCode);
        Assert.DoesNotContain(secret, wk.ToString());

        Assert.Throws<ArgumentException>(() => S3Storage.OpenAsync("s3://bucket-only", Options).GetAwaiter().GetResult());
        await Assert.ThrowsAsync<ArgumentException>(() => S3Storage.OpenAsync(Url("data.npy"), Options));
    }

    /// <summary>Replaces the answers of chosen requests (by number, from 1) between the SDK and s3rver.</summary>
    private sealed class FaultFactory(Func<int, HttpResponseMessage, Task<HttpResponseMessage>> rule) : HttpClientFactory
    {
        public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(new FaultHandler(rule));
    }

    private sealed class FaultHandler(Func<int, HttpResponseMessage, Task<HttpResponseMessage>> rule) : DelegatingHandler(new SocketsHttpHandler())
    {
        private int _count;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            await rule(Interlocked.Increment(ref _count), await base.SendAsync(request, cancellationToken));
    }

    private AmazonS3Client FaultyClient(Func<int, HttpResponseMessage, Task<HttpResponseMessage>> rule) =>
        new(new BasicAWSCredentials(S3rverServer.AccessKey, S3rverServer.SecretKey), new AmazonS3Config
        {
            ServiceURL = server.Endpoint, ForcePathStyle = true, AuthenticationRegion = "us-east-1", MaxErrorRetry = 0,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED, ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            HttpClientFactory = new FaultFactory(rule),
        });

    [Fact]
    public async Task Server_errors_and_truncated_bodies_are_retried_and_data_stays_exact()
    {
        await UploadAsync(RemoteTestFiles.Big, "faults/big.mla");
        using var local = MLArrayFile.Open(RemoteTestFiles.Big);
        using var client = FaultyClient(async (n, response) =>
        {
            if (n is 3 or 4)
                return new HttpResponseMessage(System.Net.HttpStatusCode.InternalServerError) { Content = new StringContent("<Error><Code>InternalError</Code></Error>") };
            if (n == 5)
            {
                var body = await response.Content.ReadAsByteArrayAsync();
                var cut = new ByteArrayContent(body[..(body.Length / 2)]);
                foreach (var h in response.Content.Headers.Where(h => h.Key != "Content-Length"))
                    cut.Headers.TryAddWithoutValidation(h.Key, h.Value);
                response.Content = cut;
            }
            return response;
        });
        using var remote = await S3Storage.OpenAsync(Url("faults/big.mla"), Options with { Client = client, SuffixRangeOpen = false }); // numbered requests
        Assert.Equal(local.ToArray<float>(), remote.ToArray<float>());
        Assert.True(remote.RemoteTraffic!.Retries >= 3, $"{remote.RemoteTraffic.Retries} retries");

        using var failing = FaultyClient((n, response) => Task.FromResult(n > 2 ? new HttpResponseMessage(System.Net.HttpStatusCode.ServiceUnavailable) : response));
        using var broken = await S3Storage.OpenAsync(Url("faults/big.mla"), Options with { Client = failing, MaxRetries = 3, SuffixRangeOpen = false });
        var e = Assert.Throws<MLArrayRemoteException>(() => broken.Read<float>(local.Shape.Select(_ => NdIndex.At(0)).ToArray()));
        Assert.Contains("failed 4 times", e.Message);
        Assert.Equal(2 + 4, broken.RemoteTraffic!.Requests);
    }

    [Fact]
    public async Task An_endpoint_that_is_not_an_http_url_is_an_argument_error_naming_it()
    {
        foreach (string bad in new[] { "not a url", "ftp://127.0.0.1:21", "127.0.0.1:9000" })
        {
            var e = await Assert.ThrowsAsync<ArgumentException>(() => S3Storage.OpenAsync(Url("x.mla"), Options with { ServiceUrl = bad }));
            Assert.Contains("S3StorageOptions.ServiceUrl", e.Message);
            Assert.Contains("not an absolute http:// or https:// URL", e.Message);
        }
    }

    [Fact]
    public async Task Unreachable_endpoint_is_retried_a_bounded_number_of_times()
    {
        var closed = Options with { ServiceUrl = "http://127.0.0.1:9", MaxRetries = 2 };
        var e = await Assert.ThrowsAsync<MLArrayRemoteException>(() => S3Storage.OpenAsync(Url("x.mla"), closed));
        Assert.Contains("failed 3 times", e.Message);
        Assert.Contains(Url("x.mla"), e.Message);
    }

    [Fact]
    public async Task Open_sends_the_head_and_the_suffix_range_together_and_an_answer_that_is_not_the_tail_is_not_used()
    {
        await UploadAsync(RemoteTestFiles.Big, "concurrent/big.mla");
        var delay = new DelayFactory(TimeSpan.FromMilliseconds(150));
        var config = new AmazonS3Config
        {
            ServiceURL = server.Endpoint,
            ForcePathStyle = true,
            AuthenticationRegion = "us-east-1",
            MaxErrorRetry = 0,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            HttpClientFactory = delay,
        };
        using var client = new AmazonS3Client(new BasicAWSCredentials(S3rverServer.AccessKey, S3rverServer.SecretKey), config);
        using var remote = await S3Storage.OpenAsync(Url("concurrent/big.mla"), Options with { Client = client });
        Assert.Equal(OpenRequests, remote.RemoteTraffic!.Requests);
        Assert.Equal(2, delay.MaxInFlight); // the suffix range went out with the head, not after it
        using var local = MLArrayFile.Open(RemoteTestFiles.Big);
        Assert.Equal(local.Meta.ToMetaValue().ToJson(), remote.Meta.ToMetaValue().ToJson());
        Assert.Equal(local.Read<float>(NdIndex.At(3)), remote.Read<float>(NdIndex.At(3)));
        Assert.Equal(0, remote.RemoteTraffic.Retries);
    }

    /// <summary>HttpClients that delay each request (a simulated round trip) and record how many were in flight at once.</summary>
    private sealed class DelayFactory(TimeSpan delay) : HttpClientFactory
    {
        private readonly TimeSpan _delay = delay;
        private int _inFlight;
        private int _max;

        public int MaxInFlight => Volatile.Read(ref _max);

        public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(new Handler(this));

        private sealed class Handler(DelayFactory owner) : DelegatingHandler(new SocketsHttpHandler { AllowAutoRedirect = false })
        {
            protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            {
                int now = Interlocked.Increment(ref owner._inFlight);
                int max;
                while (now > (max = Volatile.Read(ref owner._max)) && Interlocked.CompareExchange(ref owner._max, now, max) != max)
                {
                }
                try
                {
                    await Task.Delay(owner._delay, cancellationToken);
                    return await base.SendAsync(request, cancellationToken);
                }
                finally
                {
                    Interlocked.Decrement(ref owner._inFlight);
                }
            }
        }
    }
}
