using MLArray.Remote;

namespace MLArray.TestSupport;

/// <summary>
/// The behaviour every object-store package must show against its emulator (S3 on s3rver, Azure on Azurite): an
/// uploaded corpus file opens in 2 requests with its metadata, patch and full reads equal the local reads with bounded
/// traffic, a replaced object fails mid-read, a multi-part upload reads back exactly and an interrupted one leaves no
/// object. Each store's test class implements the few store-specific operations.
/// </summary>
public abstract class ObjectStoreContract
{
    /// <summary>The store's URL of <paramref name="key"/>.</summary>
    protected abstract string Url(string key);

    /// <summary>Uploads a local file; <paramref name="partSize"/> forces multi-part uploads, <paramref name="partDone"/> sees each part.</summary>
    protected abstract Task UploadAsync(string path, string key, long? partSize = null, Action<int>? partDone = null, CancellationToken ct = default);

    protected abstract Task SaveAsync(MLArrayFile image, string key);

    protected abstract Task<MLArrayFile> OpenAsync(string key);

    protected abstract Task<bool> ExistsAsync(string key);

    /// <summary>
    /// The status of the failure when an object is replaced mid-read: 412 when the emulator honours If-Match, null when
    /// it ignores it and the source detects the change from the answer's ETag.
    /// </summary>
    protected abstract int? ReplacedStatus { get; }

    /// <summary>Requests an open costs on the emulator (2; more where the emulator lacks what the store has).</summary>
    protected virtual int OpenRequests => 2;

    /// <summary>Bytes an open may fetch and not use on the emulator (0; see <see cref="OpenRequests"/>).</summary>
    protected virtual long OpenWasteBytes => 0;

    /// <summary>The smallest part size the store accepts.</summary>
    protected abstract long PartSize { get; }

    [Fact]
    public async Task Uploaded_corpus_file_opens_in_two_requests_and_patches_match_the_local_read()
    {
        await UploadAsync(RemoteTestFiles.Big, "corpus/big.mla");
        using var local = MLArrayFile.Open(RemoteTestFiles.Big);
        using var remote = await OpenAsync("corpus/big.mla");
        var traffic = remote.RemoteTraffic!;
        Assert.Equal(OpenRequests, traffic.Requests);
        Assert.Equal(local.Shape, remote.Shape);
        Assert.Equal(local.Meta.ToMetaValue().ToJson(), remote.Meta.ToMetaValue().ToJson());
        Assert.Equal(OpenRequests, traffic.Requests); // header and metadata need nothing beyond the open
        long afterOpen = traffic.Bytes;
        Assert.True(afterOpen < 200_000, $"{afterOpen} bytes to open");

        foreach (var sel in RemoteTestFiles.Patches(local.Shape, 10))
            Assert.Equal(local.Read<float>(sel), remote.Read<float>(sel));
        Assert.True(traffic.Requests > 2);
        Assert.Equal(local.ToArray<float>(), remote.ToArray<float>());
        long length = new FileInfo(RemoteTestFiles.Big).Length;
        Assert.True(traffic.Bytes >= length - afterOpen, $"{traffic.Bytes} bytes for a {length}-byte file");
        Assert.True(traffic.Bytes <= length + (8 << 10) + (64 << 10) + OpenWasteBytes, $"{traffic.Bytes} bytes for a {length}-byte file");
        Assert.Equal(0, traffic.Retries);
        Assert.Equal(Url("corpus/big.mla"), remote.FilePath);
    }

    [Fact]
    public async Task Metadata_of_a_saved_image_round_trips()
    {
        using var local = MLArrayFile.Open(RemoteTestFiles.WithMeta);
        await SaveAsync(local, "saved/ct.mla");
        using var remote = await OpenAsync("saved/ct.mla");
        Assert.Equal(local.Meta.ToMetaValue().ToJson(), remote.Meta.ToMetaValue().ToJson());
        Assert.Equal(local.Spacing, remote.Spacing);
        Assert.Equal(OpenRequests, remote.RemoteTraffic!.Requests);
        Assert.Equal(local.ToArray<short>(), remote.ToArray<short>());
    }

    [Fact]
    public async Task Object_replaced_while_reading_fails_instead_of_mixing_data()
    {
        await UploadAsync(RemoteTestFiles.Big, "changing/big.mla");
        using var remote = await OpenAsync("changing/big.mla");
        string dir = Directory.CreateTempSubdirectory("mla-store-").FullName;
        string other = Path.Combine(dir, "other.mla");
        var bytes = File.ReadAllBytes(RemoteTestFiles.Big);
        bytes[^100] ^= 0xFF; // same length, other content: a new ETag
        File.WriteAllBytes(other, bytes);
        await UploadAsync(other, "changing/big.mla");
        var e = Assert.Throws<MLArrayRemoteChangedException>(() => remote.ToArray<float>());
        Assert.Contains(Url("changing/big.mla"), e.Message);
        Assert.Contains("replaced", e.Message);
        Assert.Equal(ReplacedStatus, e.StatusCode);
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task Multipart_upload_of_a_file_larger_than_the_part_size_reads_back_exactly()
    {
        string dir = Directory.CreateTempSubdirectory("mla-store-").FullName;
        string path = RemoteTestFiles.Incompressible(dir, (int)(3 * PartSize >> 20));
        long length = new FileInfo(path).Length;
        Assert.True(length > 2 * PartSize, $"{length} bytes");
        int parts = 0;
        await UploadAsync(path, "multipart/big.mla", PartSize, n => parts = n);
        Assert.Equal((int)((length + PartSize - 1) / PartSize), parts);
        using var local = MLArrayFile.Open(path);
        using var remote = await OpenAsync("multipart/big.mla");
        Assert.Equal(local.ToArray<float>(), remote.ToArray<float>());
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task Interrupted_multipart_upload_leaves_no_object()
    {
        string dir = Directory.CreateTempSubdirectory("mla-store-").FullName;
        string path = RemoteTestFiles.Incompressible(dir, (int)(3 * PartSize >> 20));
        using var cts = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => UploadAsync(path, "interrupted/big.mla", PartSize, n => { if (n == 1) cts.Cancel(); }, cts.Token));
        Assert.False(await ExistsAsync("interrupted/big.mla"));
        await Assert.ThrowsAsync<IOException>(() => UploadAsync(path, "interrupted/big.mla", PartSize, n => throw new IOException("disk gone")));
        Assert.False(await ExistsAsync("interrupted/big.mla"));
        Directory.Delete(dir, true);
    }
}
