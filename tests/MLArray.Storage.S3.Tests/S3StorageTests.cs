using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using MLArray.Remote;
using MLArray.Storage.S3;
using MLArray.TestSupport;

namespace MLArray.Storage.S3.Tests;

/// <summary>
/// MLArray.Storage.S3 against a real s3rver on 127.0.0.1: uploads of corpus files, opening in 2 requests, patch reads
/// compared with local reads, traffic counters, replaced objects, wrong bucket/key/credentials, multipart and
/// interrupted uploads.
/// </summary>
public sealed class S3StorageTests(S3rverServer server) : IClassFixture<S3rverServer>
{
    private S3StorageOptions Options => new()
    {
        ServiceUrl = server.Endpoint,
        Credentials = new BasicAWSCredentials(S3rverServer.AccessKey, S3rverServer.SecretKey),
        RetryDelay = TimeSpan.FromMilliseconds(1),
    };

    private static string Url(string key) => $"s3://{S3rverServer.Bucket}/{key}";

    private async Task<bool> ExistsAsync(string key)
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
    public async Task Uploaded_corpus_file_opens_in_two_requests_and_patches_match_the_local_read()
    {
        string key = "corpus/big.mla";
        await S3Storage.UploadAsync(RemoteTestFiles.Big, Url(key), Options);
        using var local = MLArrayFile.Open(RemoteTestFiles.Big);
        using var remote = await S3Storage.OpenAsync(Url(key), Options);
        var traffic = remote.RemoteTraffic!;
        Assert.Equal(2, traffic.Requests);
        Assert.Equal(local.Shape, remote.Shape);
        Assert.Equal(local.Meta.ToMetaValue().ToJson(), remote.Meta.ToMetaValue().ToJson());
        Assert.Equal(2, traffic.Requests); // header and metadata need nothing beyond the open
        long afterOpen = traffic.Bytes;
        Assert.True(afterOpen < 200_000, $"{afterOpen} bytes to open");

        foreach (var sel in RemoteTestFiles.Patches(local.Shape, 10))
            Assert.Equal(local.Read<float>(sel), remote.Read<float>(sel));
        Assert.True(traffic.Requests > 2);
        Assert.Equal(local.ToArray<float>(), remote.ToArray<float>());
        long length = new FileInfo(RemoteTestFiles.Big).Length;
        Assert.True(traffic.Bytes >= length - afterOpen, $"{traffic.Bytes} bytes for a {length}-byte file");
        Assert.True(traffic.Bytes <= length + (8 << 10) + (64 << 10), $"{traffic.Bytes} bytes for a {length}-byte file");
        Assert.Equal(0, traffic.Retries);
        Assert.Equal($"s3://{S3rverServer.Bucket}/{key}", remote.FilePath);
    }

    [Fact]
    public async Task Metadata_of_a_saved_image_round_trips_through_SaveAsync()
    {
        using var local = MLArrayFile.Open(RemoteTestFiles.WithMeta);
        await S3Storage.SaveAsync(local, Url("saved/ct.mla"), Options);
        using var remote = await S3Storage.OpenAsync(Url("saved/ct.mla"), Options);
        Assert.Equal(local.Meta.ToMetaValue().ToJson(), remote.Meta.ToMetaValue().ToJson());
        Assert.Equal(local.Spacing, remote.Spacing);
        Assert.Equal(2, remote.RemoteTraffic!.Requests);
        Assert.Equal(local.ToArray<short>(), remote.ToArray<short>());
    }

    [Fact]
    public async Task Object_replaced_while_reading_fails_instead_of_mixing_data()
    {
        string key = "changing/big.mla";
        await S3Storage.UploadAsync(RemoteTestFiles.Big, Url(key), Options);
        using var remote = await S3Storage.OpenAsync(Url(key), Options);
        string other = Path.Combine(Directory.CreateTempSubdirectory("mla-s3-").FullName, "other.mla");
        var bytes = File.ReadAllBytes(RemoteTestFiles.Big);
        bytes[^100] ^= 0xFF; // same length, other content: a new ETag
        File.WriteAllBytes(other, bytes);
        await S3Storage.UploadAsync(other, Url(key), Options);
        var e = Assert.Throws<MLArrayRemoteChangedException>(() => remote.ToArray<float>());
        Assert.Contains(Url(key), e.Message);
        Assert.Contains("replaced", e.Message);
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

    [Fact]
    public async Task Multipart_upload_of_a_file_larger_than_the_part_size_reads_back_exactly()
    {
        string dir = Directory.CreateTempSubdirectory("mla-s3-").FullName;
        string path = RemoteTestFiles.Incompressible(dir, 14);
        long length = new FileInfo(path).Length, part = 5L << 20;
        Assert.True(length > 2 * part, $"{length} bytes");
        int parts = 0;
        var options = Options with { PartSize = part, PartUploaded = n => parts = n };
        await S3Storage.UploadAsync(path, Url("multipart/big.mla"), options);
        Assert.Equal((int)((length + part - 1) / part), parts);
        using var local = MLArrayFile.Open(path);
        using var remote = await S3Storage.OpenAsync(Url("multipart/big.mla"), Options);
        Assert.Equal(local.ToArray<float>(), remote.ToArray<float>());
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task Interrupted_multipart_upload_leaves_no_object()
    {
        string dir = Directory.CreateTempSubdirectory("mla-s3-").FullName;
        string path = RemoteTestFiles.Incompressible(dir, 14);
        using var cts = new CancellationTokenSource();
        var options = Options with { PartSize = 5L << 20, PartUploaded = n => { if (n == 1) cts.Cancel(); } };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => S3Storage.UploadAsync(path, Url("interrupted/big.mla"), options, cts.Token));
        Assert.False(await ExistsAsync("interrupted/big.mla"));

        var failing = Options with { PartSize = 5L << 20, PartUploaded = n => throw new IOException("disk gone") };
        await Assert.ThrowsAsync<IOException>(() => S3Storage.UploadAsync(path, Url("interrupted/big.mla"), failing));
        Assert.False(await ExistsAsync("interrupted/big.mla"));
        Directory.Delete(dir, true);
    }
}
