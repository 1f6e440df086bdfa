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

    protected override Task UploadAsync(string path, string key, long? partSize = null, Action<int>? partDone = null, CancellationToken ct = default) =>
        S3Storage.UploadAsync(path, Url(key), Options with { PartSize = partSize ?? Options.PartSize, PartUploaded = partDone }, ct);

    protected override Task SaveAsync(MLArrayFile image, string key) => S3Storage.SaveAsync(image, Url(key), Options);

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

    [Fact]
    public async Task Unreachable_endpoint_is_retried_a_bounded_number_of_times()
    {
        var closed = Options with { ServiceUrl = "http://127.0.0.1:9", MaxRetries = 2 };
        var e = await Assert.ThrowsAsync<MLArrayRemoteException>(() => S3Storage.OpenAsync(Url("x.mla"), closed));
        Assert.Contains("failed 3 times", e.Message);
        Assert.Contains(Url("x.mla"), e.Message);
    }
}
