using Azure.Storage.Blobs;
using MLArray.Remote;
using MLArray.Storage.Azure;
using MLArray.TestSupport;

namespace MLArray.Storage.Azure.Tests;

/// <summary>
/// MLArray.Storage.Azure against a real Azurite on 127.0.0.1: the object-store contract (<see cref="ObjectStoreContract"/>:
/// 2-request open, patch reads equal to local reads, traffic, replaced blob, staged-block and interrupted uploads) and
/// the Azure-specific failures (missing container or blob, wrong account key, https blob URLs).
/// </summary>
public sealed class AzureBlobStorageTests : ObjectStoreContract, IClassFixture<AzuriteServer>
{
    private const string Container = "mlarray-test";
    private readonly AzuriteServer _server;

    public AzureBlobStorageTests(AzuriteServer server)
    {
        _server = server;
        new BlobContainerClient(server.ConnectionString, Container).CreateIfNotExists();
    }

    private AzureBlobStorageOptions Options => new() { ConnectionString = _server.ConnectionString, RetryDelay = TimeSpan.FromMilliseconds(1) };

    protected override string Url(string key) => $"az://{Container}/{key}";

    protected override long PartSize => 1L << 20;

    protected override int? ReplacedStatus => 412; // Azurite honours If-Match (ConditionNotMet)

    protected override Task UploadAsync(string path, string key, long? partSize = null, Action<int>? partDone = null, CancellationToken ct = default) =>
        AzureBlobStorage.UploadAsync(path, Url(key), Options with { BlockSize = (int)(partSize ?? Options.BlockSize), BlockStaged = partDone }, ct);

    protected override Task SaveAsync(MLArrayFile image, string key) => AzureBlobStorage.SaveAsync(image, Url(key), Options);

    protected override Task ReplaceAsync(string path, string key, string expectedVersionTag, long? partSize = null) =>
        AzureBlobStorage.ReplaceAsync(path, Url(key), expectedVersionTag, Options with { BlockSize = (int)(partSize ?? Options.BlockSize) });

    protected override Task<IReadOnlyList<string>> ListAsync(string prefix) => AzureBlobStorage.ListAsync(Url(prefix), Options);

    protected override Task<IByteRangeSource> OpenSourceAsync(string key) => AzureBlobStorage.OpenSourceAsync(Url(key), Options);

    protected override Task DeleteAsync(string key) => new BlobClient(_server.ConnectionString, Container, key).DeleteAsync();

    protected override Task<MLArrayFile> OpenAsync(string key) => AzureBlobStorage.OpenAsync(Url(key), Options);

    protected override async Task<bool> ExistsAsync(string key) =>
        (await new BlobClient(_server.ConnectionString, Container, key).ExistsAsync()).Value;

    [Fact]
    public async Task Missing_container_missing_blob_and_wrong_key_name_the_blob_and_never_the_secret()
    {
        var nc = await Assert.ThrowsAsync<MLArrayRemoteException>(() => AzureBlobStorage.OpenAsync("az://no-such-container/x/y.mla", Options));
        Assert.Contains("az://no-such-container/x/y.mla", nc.Message);
        Assert.Contains("container does not exist", nc.Message);
        Assert.Equal(404, nc.StatusCode);

        var nb = await Assert.ThrowsAsync<MLArrayRemoteException>(() => AzureBlobStorage.OpenAsync(Url("missing.mla"), Options));
        Assert.Contains(Url("missing.mla"), nb.Message);
        Assert.Contains("no blob with this name", nb.Message);

        await UploadAsync(RemoteTestFiles.Big, "creds/big.mla");
        string wrongKey = Convert.ToBase64String(new byte[64]);
        var wk = await Assert.ThrowsAsync<MLArrayRemoteException>(() =>
            AzureBlobStorage.OpenAsync(Url("creds/big.mla"), Options with { ConnectionString = _server.ConnectionStringWith(wrongKey) }));
        Assert.Contains("refused the credentials", wk.Message);
        Assert.Contains(Url("creds/big.mla"), wk.Message);
        Assert.Equal(403, wk.StatusCode);
        Assert.DoesNotContain(wrongKey, wk.ToString());

        await Assert.ThrowsAsync<ArgumentException>(() => AzureBlobStorage.OpenAsync("az://container-only", Options));
        await Assert.ThrowsAsync<ArgumentException>(() => AzureBlobStorage.OpenAsync(Url("data.npy"), Options));
    }

    [Fact]
    public async Task A_malformed_connection_string_is_an_argument_error_that_never_shows_it()
    {
        await UploadAsync(RemoteTestFiles.Big, "conn/big.mla");
        string https = $"{_server.Endpoint}/{AzuriteServer.Account}/{Container}/conn/big.mla";
        foreach (string bad in new[] { $"AccountKey={AzuriteServer.Key};garbage", $"AccountName=;AccountKey={AzuriteServer.Key}", "not a connection string" })
        {
            foreach (string url in new[] { Url("conn/big.mla"), https })
            {
                var e = await Assert.ThrowsAsync<ArgumentException>(() => AzureBlobStorage.OpenAsync(url, Options with { ConnectionString = bad }));
                Assert.Contains("connection string", e.Message);
                Assert.Contains("not valid", e.Message);
                Assert.DoesNotContain(AzuriteServer.Key, e.ToString());
                Assert.DoesNotContain("garbage", e.ToString());
            }
        }
    }

    [Fact]
    public async Task Blob_url_with_a_connection_string_and_az_url_without_any_account_are_handled()
    {
        await UploadAsync(RemoteTestFiles.Big, "byurl/big.mla");
        string https = $"{_server.Endpoint}/{AzuriteServer.Account}/{Container}/byurl/big.mla";
        using var remote = await AzureBlobStorage.OpenAsync(https, Options);
        using var local = MLArrayFile.Open(RemoteTestFiles.Big);
        Assert.Equal(local.Read<float>(NdIndex.At(5)), remote.Read<float>(NdIndex.At(5)));
        Assert.Equal(https, remote.FilePath);

        if (Environment.GetEnvironmentVariable("AZURE_STORAGE_CONNECTION_STRING") is null && Environment.GetEnvironmentVariable("AZURE_STORAGE_ACCOUNT") is null)
        {
            var e = await Assert.ThrowsAsync<ArgumentException>(() => AzureBlobStorage.OpenAsync(Url("byurl/big.mla")));
            Assert.Contains("AZURE_STORAGE_CONNECTION_STRING", e.Message);
        }
    }

    [Fact]
    public async Task Unreachable_endpoint_is_retried_a_bounded_number_of_times()
    {
        var closed = Options with { ConnectionString = _server.ConnectionString.Replace($":{_server.Port}/", ":9/", StringComparison.Ordinal), MaxRetries = 2 };
        var e = await Assert.ThrowsAsync<MLArrayRemoteException>(() => AzureBlobStorage.OpenAsync(Url("x.mla"), closed));
        Assert.Contains("failed 3 times", e.Message);
        Assert.Contains(Url("x.mla"), e.Message);
    }
}
