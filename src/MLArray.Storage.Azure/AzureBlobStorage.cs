using Azure;
using Azure.Core;
using Azure.Identity;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using MLArray.Blosc2;
using MLArray.Remote;

namespace MLArray.Storage.Azure;

/// <summary>How <see cref="AzureBlobStorage"/> reaches the store.</summary>
public sealed record AzureBlobStorageOptions
{
    /// <summary>The service client to use (its account, credentials and pipeline). Null: made from the other options.</summary>
    public BlobServiceClient? ServiceClient { get; init; }

    /// <summary>
    /// A storage connection string (account, key or SAS, endpoints; Azurite's too). Null: the environment variable
    /// <c>AZURE_STORAGE_CONNECTION_STRING</c>; without either, <see cref="Credential"/> is used.
    /// </summary>
    public string? ConnectionString { get; init; }

    /// <summary>A token credential; null for <c>DefaultAzureCredential</c> (environment, workload/managed identity, Azure CLI, ...).</summary>
    public TokenCredential? Credential { get; init; }

    /// <summary>
    /// The account of <c>az://container/blob</c> URLs when there is no connection string (the endpoint is then
    /// <c>https://ACCOUNT.blob.core.windows.net</c>). Null: the environment variable <c>AZURE_STORAGE_ACCOUNT</c>.
    /// </summary>
    public string? AccountName { get; init; }

    /// <summary>Bytes of the first ranged GET, which also learns the length and the ETag. Default 8 KiB.</summary>
    public int ProbeBytes { get; init; } = 8 << 10;

    /// <summary>Retries of a read after a 5xx, throttling, a timeout or a short body. Default 4.</summary>
    public int MaxRetries { get; init; } = 4;

    /// <summary>Delay before the first retry; doubled each time, capped at 8× this value. Default 100 ms.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Time limit of one request. Default 60 s.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Uploads larger than this are staged in blocks of this size and committed at the end. Default 8 MiB.</summary>
    public int BlockSize { get; init; } = 8 << 20;

    /// <summary>Test hook: called after each staged block with its number (from 1).</summary>
    internal Action<int>? BlockStaged { get; init; }

    /// <summary>The defaults.</summary>
    public static AzureBlobStorageOptions Default { get; } = new();
}

/// <summary>
/// <c>.mla</c> files in Azure Blob Storage, addressed as <c>az://container/blob</c> or by the blob's https URL: opened
/// read-only through ranged GETs (<see cref="OpenAsync"/>), written by uploading a complete local file
/// (<see cref="UploadAsync"/>, <see cref="SaveAsync"/>; large files as staged blocks committed at the end), so that a
/// blob only appears when it is complete.
/// </summary>
public static class AzureBlobStorage
{
    /// <summary>True when <paramref name="url"/> starts with <c>az://</c>.</summary>
    public static bool IsAzureUrl(string url) => url is not null && url.StartsWith("az://", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Opens a blob as an <see cref="IByteRangeSource"/> (one ranged GET: length and ETag). Every later read sends
    /// <c>If-Match</c> with the ETag and checks the ETag and length of the answer.
    /// </summary>
    /// <param name="url"><c>az://container/blob</c>, or <c>https://account.blob.core.windows.net/container/blob</c> (a SAS query string is used and never shown).</param>
    /// <param name="options">Credentials and retries; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <exception cref="ArgumentException">Not a blob URL, or no account to resolve <c>az://</c> against.</exception>
    /// <exception cref="MLArrayRemoteException">Missing container or blob, access denied, no credentials, ...</exception>
    public static async Task<IByteRangeSource> OpenSourceAsync(string url, AzureBlobStorageOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= AzureBlobStorageOptions.Default;
        var (client, name) = ClientFor(url, options, reads: true);
        var source = new AzureRangeSource(client, name, options);
        await source.ProbeAsync(cancellationToken).ConfigureAwait(false);
        return source;
    }

    /// <summary>
    /// Opens the <c>.mla</c> blob read-only: 2 requests (head; offsets index + trailer with the metadata), one after the
    /// other (Blob storage takes no suffix ranges, so the tail waits for the length); array reads
    /// fetch the chunks they touch. The image owns the source.
    /// </summary>
    /// <param name="url"><c>az://container/blob.mla</c> or the blob's https URL.</param>
    /// <param name="options">Credentials and retries; null for the defaults.</param>
    /// <param name="readOptions">Prefetch, cache and concurrency; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the opening requests.</param>
    /// <exception cref="ArgumentException">Not a blob URL ending in <c>.mla</c>.</exception>
    /// <exception cref="MLArrayRemoteException">Missing container or blob, access denied, a replaced blob, ...</exception>
    /// <exception cref="MLArrayFormatException">The blob is not a valid <c>.mla</c> frame.</exception>
    public static async Task<MLArrayFile> OpenAsync(string url, AzureBlobStorageOptions? options = null, RemoteReadOptions? readOptions = null,
        CancellationToken cancellationToken = default)
    {
        CheckMla(url);
        var source = await OpenSourceAsync(url, options, cancellationToken).ConfigureAwait(false);
        return await MLArrayFile.OpenAsync(source, readOptions, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Saves <paramref name="image"/> to a blob: written to a local temporary file, then uploaded (<see cref="UploadAsync"/>).</summary>
    /// <exception cref="ArgumentException">Not a blob URL ending in <c>.mla</c>.</exception>
    /// <exception cref="MLArrayRemoteException">The upload failed (the blob was not created or replaced).</exception>
    public static Task SaveAsync(MLArrayFile image, string url, AzureBlobStorageOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckMla(url);
        return StagedUpload.RunAsync(image.Save, temp => UploadAsync(temp, url, options, cancellationToken));
    }

    /// <summary>
    /// Uploads the local file <paramref name="path"/> as a block blob: one Put Blob up to
    /// <see cref="AzureBlobStorageOptions.BlockSize"/>, else blocks staged one by one and committed at the end, so the
    /// blob never exists half-written (uncommitted blocks are discarded by the service).
    /// </summary>
    /// <exception cref="ArgumentException">Not a blob URL.</exception>
    /// <exception cref="FileNotFoundException"><paramref name="path"/> does not exist.</exception>
    /// <exception cref="MLArrayRemoteException">The upload failed (the blob was not created or replaced).</exception>
    public static Task UploadAsync(string path, string url, AzureBlobStorageOptions? options = null, CancellationToken cancellationToken = default) =>
        UploadCoreAsync(path, url, null, options, cancellationToken);

    /// <summary>
    /// Replaces the blob with the local file <paramref name="path"/> only if the blob still has the ETag
    /// <paramref name="expectedVersionTag"/> (the <see cref="IByteRangeSource.VersionTag"/> of the read it was computed
    /// from): the Put Blob, or the commit of the staged blocks, carries <c>If-Match</c>, which the service enforces. A
    /// changed or deleted blob is left as it is.
    /// </summary>
    /// <exception cref="ArgumentException">Not a blob URL, or an empty tag.</exception>
    /// <exception cref="FileNotFoundException"><paramref name="path"/> does not exist.</exception>
    /// <exception cref="MLArrayRemoteChangedException">The blob changed or disappeared since it was read (nothing was written).</exception>
    /// <exception cref="MLArrayRemoteException">The upload failed (the blob was not replaced).</exception>
    public static Task ReplaceAsync(string path, string url, string expectedVersionTag, AzureBlobStorageOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(expectedVersionTag);
        return UploadCoreAsync(path, url, expectedVersionTag, options, cancellationToken);
    }

    /// <summary>
    /// The blobs directly under <c>az://container/prefix/</c> (not in deeper virtual folders), as <c>az://container/blob</c>
    /// URLs in ordinal order. <c>az://container</c> or <c>az://container/</c> lists the top level of the container.
    /// </summary>
    /// <exception cref="ArgumentException">Not an <c>az://container[/prefix/]</c> URL, or no account to resolve it against.</exception>
    /// <exception cref="MLArrayRemoteException">Missing container, access denied, no credentials, ...</exception>
    public static async Task<IReadOnlyList<string>> ListAsync(string prefixUrl, AzureBlobStorageOptions? options = null, CancellationToken cancellationToken = default)
    {
        var (container, prefix) = StoreUrls.SplitFolder(prefixUrl, "az://", "az://container/prefix/");
        options ??= AzureBlobStorageOptions.Default;
        // The container client of a placeholder blob: the same account, credentials and pipeline as reads and writes.
        var (blobClient, _) = ClientFor($"az://{container}/{prefix}-", options, reads: false);
        var client = blobClient.GetParentBlobContainerClient();
        string name = $"az://{container}/{prefix}";
        try
        {
            var blobs = new List<string>();
            await foreach (var item in client.GetBlobsByHierarchyAsync(BlobTraits.None, BlobStates.None, "/", prefix, cancellationToken).ConfigureAwait(false))
                if (item.IsBlob)
                    blobs.Add($"az://{container}/{item.Blob.Name}");
            blobs.Sort(StringComparer.Ordinal);
            return blobs;
        }
        catch (Exception e) when (e is RequestFailedException or AuthenticationFailedException or CredentialUnavailableException)
        {
            throw Describe(name, e);
        }
    }

    private static async Task UploadCoreAsync(string path, string url, string? ifMatch, AzureBlobStorageOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        options ??= AzureBlobStorageOptions.Default;
        if (options.BlockSize <= 0)
            throw new ArgumentException($"AzureBlobStorageOptions.BlockSize must be positive, got {options.BlockSize}.", nameof(options));
        if (!File.Exists(path))
            throw new FileNotFoundException($"'{path}' does not exist.", path);
        var (client, name) = ClientFor(url, options, reads: false);
        var conditions = ifMatch is null ? null : new BlobRequestConditions { IfMatch = new ETag(ifMatch) };
        try
        {
            await using var file = File.OpenRead(path);
            if (file.Length <= options.BlockSize)
            {
                await client.UploadAsync(file, new BlobUploadOptions { Conditions = conditions }, cancellationToken).ConfigureAwait(false);
                return;
            }
            var ids = new List<string>();
            var buffer = new byte[options.BlockSize];
            for (int number = 1; ; number++)
            {
                int n = await file.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                if (n == 0)
                    break;
                string id = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes($"mla-block-{number:D6}"));
                using var block = new MemoryStream(buffer, 0, n, writable: false);
                await client.StageBlockAsync(id, block, new BlockBlobStageBlockOptions(), cancellationToken).ConfigureAwait(false);
                ids.Add(id);
                options.BlockStaged?.Invoke(number);
            }
            await client.CommitBlockListAsync(ids, new CommitBlockListOptions { Conditions = conditions }, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (ifMatch is not null && (e.Status == 412 || e.ErrorCode is "ConditionNotMet" or "BlobNotFound"))
        {
            // If-Match on a missing blob is a 412 too: the service does not say which of the two happened.
            throw new MLArrayRemoteChangedException($"'{name}': the blob changed since it was read (it was replaced or deleted: its ETag is no longer {ifMatch}); nothing was written. Run again to work on the current blob.", 412);
        }
        catch (Exception e) when (e is RequestFailedException or AuthenticationFailedException or CredentialUnavailableException)
        {
            throw Describe(name, e);
        }
    }

    /// <summary>The block blob client of <paramref name="url"/> and its display name (no secrets).</summary>
    internal static (BlockBlobClient Client, string Name) ClientFor(string url, AzureBlobStorageOptions options, bool reads)
    {
        ArgumentNullException.ThrowIfNull(url);
        var co = new BlobClientOptions();
        co.Retry.MaxRetries = reads ? 0 : options.MaxRetries; // reads are retried (bounded, counted) by the source
        co.Retry.NetworkTimeout = options.RequestTimeout;
        string? connection = options.ConnectionString ?? NonEmpty("AZURE_STORAGE_CONNECTION_STRING");
        if (IsAzureUrl(url))
        {
            string rest = url[5..];
            int slash = rest.IndexOf('/', StringComparison.Ordinal);
            if (slash <= 0 || slash == rest.Length - 1)
                throw new ArgumentException($"'{url}' is not an az://container/blob URL (it needs a container and a blob name).", nameof(url));
            string container = rest[..slash], blob = rest[(slash + 1)..], name = $"az://{container}/{blob}";
            if (options.ServiceClient is { } service)
                return (service.GetBlobContainerClient(container).GetBlockBlobClient(blob), name);
            if (connection is not null)
                return (FromConnectionString(connection, container, blob, co), name);
            string account = options.AccountName ?? NonEmpty("AZURE_STORAGE_ACCOUNT")
                ?? throw new ArgumentException($"'{url}': no storage account: set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT (with credentials DefaultAzureCredential finds), or pass the blob's https URL.", nameof(url));
            var builder = new BlobUriBuilder(new Uri($"https://{account}.blob.core.windows.net")) { BlobContainerName = container, BlobName = blob };
            return (new BlockBlobClient(builder.ToUri(), options.Credential ?? new DefaultAzureCredential(), co), name);
        }
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !HttpRangeSource.IsHttpUrl(uri))
            throw new ArgumentException($"'{(uri is null ? url : HttpRangeSource.Redact(uri))}' is not an az://container/blob or https blob URL.", nameof(url));
        var parts = new BlobUriBuilder(uri);
        if (string.IsNullOrEmpty(parts.BlobContainerName) || string.IsNullOrEmpty(parts.BlobName))
            throw new ArgumentException($"'{HttpRangeSource.Redact(uri)}' names no container and blob.", nameof(url));
        string display = HttpRangeSource.Redact(uri);
        if (options.ServiceClient is { } sc)
            return (sc.GetBlobContainerClient(parts.BlobContainerName).GetBlockBlobClient(parts.BlobName), display);
        if (parts.Sas is not null && !string.IsNullOrEmpty(parts.Sas.Signature))
            return (new BlockBlobClient(uri, co), display);
        if (connection is not null && options.Credential is null)
            return (FromConnectionString(connection, parts.BlobContainerName, parts.BlobName, co), display);
        return (new BlockBlobClient(uri, options.Credential ?? new DefaultAzureCredential(), co), display);
    }

    /// <summary>A client from a connection string; a malformed one is an <see cref="ArgumentException"/> that never shows it (it holds the key).</summary>
    private static BlockBlobClient FromConnectionString(string connection, string container, string blob, BlobClientOptions co)
    {
        try
        {
            return new BlockBlobClient(connection, container, blob, co);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
        {
            // the SDK's message or a stack trace could quote the string: neither is passed on
            throw new ArgumentException(
                $"the storage connection string (AzureBlobStorageOptions.ConnectionString or AZURE_STORAGE_CONNECTION_STRING) is not valid ({e.GetType().Name}); " +
                "it is a list of name=value settings separated by ';' (AccountName with AccountKey or SharedAccessSignature, and BlobEndpoint or EndpointSuffix), " +
                "as the portal's \"Access keys\" page shows it. Its value is not printed: it holds the key.", "options");
        }
    }

    private static void CheckMla(string url)
    {
        string path = IsAzureUrl(url) ? url : Uri.TryCreate(url, UriKind.Absolute, out var u) ? u.AbsolutePath : url;
        if (!path.EndsWith(".mla", StringComparison.Ordinal))
            throw new ArgumentException($"'{(IsAzureUrl(url) ? url : path)}': MLArray requires '.mla' as extension.", nameof(url));
    }

    private static string? NonEmpty(string variable) => Environment.GetEnvironmentVariable(variable) is { Length: > 0 } v ? v : null;

    /// <summary>An SDK failure as a definitive exception naming the blob, or null when it is transient.</summary>
    internal static Exception? Classify(string name, Exception e)
    {
        if (e is OperationCanceledException or HttpRequestException or IOException or AggregateException)
            return null;
        if (e is RequestFailedException { Status: 0 or 408 or 429 or >= 500 })
            return null;
        return Describe(name, e);
    }

    private static MLArrayRemoteException Describe(string name, Exception e)
    {
        if (e is AuthenticationFailedException or CredentialUnavailableException)
            return new MLArrayRemoteException($"'{name}': no usable Azure credentials ({e.GetType().Name}); set AZURE_STORAGE_CONNECTION_STRING, or sign in so that DefaultAzureCredential finds a credential (environment, managed identity, Azure CLI).", null, e);
        if (e is not RequestFailedException rf)
            return new MLArrayRemoteException($"'{name}': the request failed: {e.GetBaseException().Message}", null, e);
        string code = rf.ErrorCode ?? "";
        return code switch
        {
            "ConditionNotMet" => new MLArrayRemoteChangedException($"'{name}': HTTP 412: the blob was replaced while being read (its ETag changed). Reopen it.", 412),
            "ContainerNotFound" => new MLArrayRemoteException($"'{name}': the container does not exist (ContainerNotFound, HTTP 404); check the container name and the account.", rf.Status, e),
            "BlobNotFound" => new MLArrayRemoteException($"'{name}': no blob with this name (BlobNotFound, HTTP 404); check the name.", rf.Status, e),
            "AuthenticationFailed" or "AuthorizationFailure" or "AuthorizationPermissionMismatch" or "InvalidAuthenticationInfo" =>
                new MLArrayRemoteException($"'{name}': the service refused the credentials ({code}, HTTP {rf.Status}); check the account key, the SAS or the role assignment.", rf.Status, e),
            "InvalidRange" => new MLArrayRemoteException($"'{name}': HTTP 416: the range is outside the blob (an empty blob is not an .mla file; was it replaced?).", rf.Status, e),
            _ when rf.Status == 412 => new MLArrayRemoteChangedException($"'{name}': HTTP 412: the blob was replaced while being read. Reopen it.", 412),
            _ when rf.Status == 403 => new MLArrayRemoteException($"'{name}': access denied ({code}, HTTP 403); check the credentials.", 403, e),
            _ when rf.Status == 404 => new MLArrayRemoteException($"'{name}': not found ({code}, HTTP 404); check the container and the blob name.", 404, e),
            _ => new MLArrayRemoteException($"'{name}': the service answered HTTP {rf.Status} ({code}).", rf.Status, e),
        };
    }
}

/// <summary>An <see cref="IByteRangeSource"/> over Blob GET with a range and <c>If-Match</c>.</summary>
internal sealed class AzureRangeSource(BlockBlobClient client, string name, AzureBlobStorageOptions options)
    : ObjectRangeSource(name, new ObjectSourceSettings(options.ProbeBytes, options.MaxRetries, options.RetryDelay, options.RequestTimeout))
{
    protected override async Task<RangeResponse> GetAsync(long offset, int count, string? ifMatch, CancellationToken ct)
    {
        var download = new BlobDownloadOptions { Range = new HttpRange(offset, count) };
        if (ifMatch is not null)
            download.Conditions = new BlobRequestConditions { IfMatch = new ETag(ifMatch) };
        var response = await client.DownloadStreamingAsync(download, ct).ConfigureAwait(false);
        var value = response.Value;
        return new RangeResponse(value.Details.ContentRange, value.Details.ContentLength, value.Details.ETag.ToString(), value.Content, value);
    }

    protected override Exception? Classify(Exception e) => AzureBlobStorage.Classify(DisplayName, e);

    /// <summary>The SDK's clients hold no unmanaged resources.</summary>
    public override void Dispose() { }
}
