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

    /// <summary>The store's conditional replace (ReplaceAsync) of <paramref name="key"/> by a local file; <paramref name="partSize"/> forces multi-part uploads.</summary>
    protected abstract Task ReplaceAsync(string path, string key, string expectedVersionTag, long? partSize = null);

    /// <summary>The store's listing (ListAsync) of the URL of <paramref name="prefix"/>.</summary>
    protected abstract Task<IReadOnlyList<string>> ListAsync(string prefix);

    /// <summary>The store's OpenSourceAsync of <paramref name="key"/>.</summary>
    protected abstract Task<IByteRangeSource> OpenSourceAsync(string key);

    private async Task<string> VersionOf(string key)
    {
        using var source = await OpenSourceAsync(key);
        return source.VersionTag!;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Conditional_replace_writes_over_the_version_read_and_refuses_a_changed_or_deleted_object(bool multipart)
    {
        string dir = Directory.CreateTempSubdirectory("mla-store-").FullName;
        string key = $"replace-{multipart}/case_seg.mla";
        string a = RemoteTestFiles.Incompressible(dir, 1, "a.mla"), b = RemoteTestFiles.Incompressible(dir, multipart ? (int)(2 * PartSize >> 20) + 1 : 1, "b.mla", seed: 2);
        long? part = multipart ? PartSize : null;
        await UploadAsync(a, key);
        string read = await VersionOf(key);

        await ReplaceAsync(b, key, read, part); // unchanged since read: replaced
        Assert.Equal(File.ReadAllBytes(b), await DownloadAsync(key));
        string now = await VersionOf(key);
        Assert.NotEqual(read, now);

        // A writer holding the old version is refused: the object stays as it is, nothing half-written.
        var e = await Assert.ThrowsAsync<MLArrayRemoteChangedException>(() => ReplaceAsync(a, key, read, part));
        Assert.Contains(Url(key), e.Message);
        Assert.Contains("changed since it was read", e.Message);
        Assert.Contains("nothing was written", e.Message);
        Assert.Equal(File.ReadAllBytes(b), await DownloadAsync(key));
        Assert.Equal(now, await VersionOf(key));

        await DeleteAsync(key);
        var gone = await Assert.ThrowsAsync<MLArrayRemoteChangedException>(() => ReplaceAsync(a, key, now, part));
        Assert.Contains("deleted", gone.Message);
        Assert.False(await ExistsAsync(key));
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task Listing_a_prefix_names_the_objects_directly_under_it_in_order()
    {
        foreach (var k in new[] { "listing/b.mla", "listing/a_seg.mla", "listing/a.mla", "listing/sub/c.mla", "listingx/d.mla" })
            await UploadAsync(RemoteTestFiles.Big, k);
        var expected = new[] { Url("listing/a.mla"), Url("listing/a_seg.mla"), Url("listing/b.mla") };
        Assert.Equal(expected, await ListAsync("listing/"));
        Assert.Equal(expected, await ListAsync("listing")); // a folder, with or without its slash
        Assert.Empty(await ListAsync("listing-none/"));
    }

    /// <summary>The object's bytes (through the store's source: every read checked against its ETag).</summary>
    protected async Task<byte[]> DownloadAsync(string key)
    {
        using var source = await OpenSourceAsync(key);
        var bytes = new byte[source.Length];
        await source.ReadAsync(0, bytes);
        return bytes;
    }

    /// <summary>Deletes the object.</summary>
    protected abstract Task DeleteAsync(string key);

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
