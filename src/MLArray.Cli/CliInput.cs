using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLArray.Blosc2;
using MLArray.Conversion;
using MLArray.Remote;
using MLArray.Storage.Azure;
using MLArray.Storage.S3;

namespace MLArray.Cli;

/// <summary>
/// Inputs given as a path, an http(s) URL, <c>s3://bucket/key</c> or <c>az://container/blob</c> (remote ones opened
/// read-only through range requests), and outputs to object stores (written locally, then uploaded). Object-store
/// credentials come from the SDKs' standard chains (AWS: environment, profile, roles; Azure:
/// <c>AZURE_STORAGE_CONNECTION_STRING</c>, else <c>AZURE_STORAGE_ACCOUNT</c> + DefaultAzureCredential); S3-compatible
/// stores through <c>AWS_ENDPOINT_URL_S3</c>.
/// </summary>
internal static class CliInput
{
    /// <summary>True for <c>s3://</c> and <c>az://</c> URLs.</summary>
    public static bool IsObjectStoreUrl(string pathOrUrl) => S3Storage.IsS3Url(pathOrUrl) || AzureBlobStorage.IsAzureUrl(pathOrUrl);

    /// <summary>
    /// Opens an array from a path, an http(s) URL or an object-store URL (read-only for URLs; remote reads through the
    /// disk cache in <paramref name="cacheDir"/> when given).
    /// </summary>
    public static B2ndArray OpenArray(string pathOrUrl, string? cacheDir = null) =>
        IsObjectStoreUrl(pathOrUrl) ? Block(async () => await B2ndArray.OpenAsync(await OpenSourceAsync(pathOrUrl).ConfigureAwait(false), RemoteOptions(cacheDir)).ConfigureAwait(false))
            : cacheDir is not null && HttpRangeSource.IsHttpUrl(pathOrUrl) ? Block(() => B2ndArray.OpenAsync(new Uri(pathOrUrl), null, RemoteOptions(cacheDir)))
            : B2ndArray.Open(pathOrUrl);

    /// <summary>Opens an image from a path, an http(s) URL or an object-store URL (see <see cref="OpenArray"/>).</summary>
    public static MLArrayFile OpenFile(string pathOrUrl, string? cacheDir = null) =>
        IsObjectStoreUrl(pathOrUrl) ? Block(async () => await MLArrayFile.OpenAsync(await OpenSourceAsync(pathOrUrl).ConfigureAwait(false), RemoteOptions(cacheDir)).ConfigureAwait(false))
            : cacheDir is not null && HttpRangeSource.IsHttpUrl(pathOrUrl) ? Block(() => MLArrayFile.OpenAsync(new Uri(pathOrUrl), MLArrayMode.Read, null, RemoteOptions(cacheDir)))
            : MLArrayFile.Open(pathOrUrl);

    /// <summary>The <c>--cache DIR</c> option of the commands that read an input which may be remote.</summary>
    public static Option<string?> CacheOption() => new("--cache")
    {
        Description = "Folder keeping the byte ranges read from a remote input (keyed by URL and ETag), so later runs read them from disk.",
    };

    private static RemoteReadOptions? RemoteOptions(string? cacheDir) =>
        cacheDir is null ? null : new RemoteReadOptions { DiskCache = new RemoteDiskCache(cacheDir) };

    /// <summary>Opens an <c>s3://</c> or <c>az://</c> object as a byte-range source (its length and ETag learned).</summary>
    public static Task<IByteRangeSource> OpenSourceAsync(string url, CancellationToken ct = default) =>
        S3Storage.IsS3Url(url) ? S3Storage.OpenSourceAsync(url, null, ct) : AzureBlobStorage.OpenSourceAsync(url, null, ct);

    /// <summary><paramref name="url"/> (an object-store folder) ending with exactly one '/'.</summary>
    public static string Prefix(string url) => url.TrimEnd('/') + "/";

    /// <summary>The objects directly under the object-store prefix <paramref name="prefixUrl"/>, as URLs in ordinal order.</summary>
    public static IReadOnlyList<string> List(string prefixUrl, CancellationToken ct = default) =>
        Block(() => S3Storage.IsS3Url(prefixUrl) ? S3Storage.ListAsync(prefixUrl, null, ct) : AzureBlobStorage.ListAsync(prefixUrl, null, ct));

    /// <summary>
    /// Uploads the local file <paramref name="local"/> over the object <paramref name="url"/> only if the object still
    /// has the ETag <paramref name="versionTag"/>; else <see cref="MLArrayRemoteChangedException"/> and nothing written.
    /// </summary>
    public static void Replace(string local, string url, string versionTag, CancellationToken ct) =>
        Block(() => S3Storage.IsS3Url(url) ? S3Storage.ReplaceAsync(local, url, versionTag, null, ct) : AzureBlobStorage.ReplaceAsync(local, url, versionTag, null, ct));

    /// <summary>A path, or a URL without its query string (which may hold credentials), for messages.</summary>
    public static string Display(string pathOrUrl) =>
        HttpRangeSource.IsHttpUrl(pathOrUrl) ? HttpRangeSource.Redact(new Uri(pathOrUrl)) : pathOrUrl;

    /// <summary>True when an object exists at <paramref name="url"/> (one ranged GET).</summary>
    public static bool Exists(string url)
    {
        try
        {
            Block(() => OpenSourceAsync(url)).Dispose();
            return true;
        }
        catch (MLArrayRemoteException e) when (e.StatusCode == 404)
        {
            return false; // no such key/blob (a missing bucket or container is then reported by the upload)
        }
        catch (MLArrayRemoteException e) when (e.StatusCode == 416)
        {
            return true; // an empty object
        }
    }

    /// <summary>
    /// Uploads the local files written for <paramref name="local"/> (a NIfTI pair and a detached NRRD are two) next to
    /// <paramref name="url"/>: companions first, the named file last, each as one complete object.
    /// </summary>
    public static void Upload(string local, string url, CancellationToken ct)
    {
        string prefix = url[..(url.LastIndexOf('/') + 1)];
        foreach (var file in MedicalFormats.WrittenFiles(local).OrderBy(f => f == local ? 1 : 0))
        {
            string target = file == local ? url : prefix + Path.GetFileName(file);
            Block(() => S3Storage.IsS3Url(url) ? S3Storage.UploadAsync(file, target, null, ct) : AzureBlobStorage.UploadAsync(file, target, null, ct));
        }
    }

    /// <summary>The file name of an object-store URL (its last path segment).</summary>
    public static string FileName(string url) => url[(url.LastIndexOf('/') + 1)..];

    /// <summary>The synchronous CLI blocks on the SDKs' asynchronous calls (on the thread pool, so no context deadlocks).</summary>
    public static T Block<T>(Func<Task<T>> run) => Task.Run(run).GetAwaiter().GetResult();

    public static void Block(Func<Task> run) => Task.Run(run).GetAwaiter().GetResult();

    /// <summary>A local path as given, or the path part of an http(s) URL (its query string, which may hold credentials, dropped).</summary>
    public static string PathPart(string pathOrUrl) => HttpRangeSource.IsHttpUrl(pathOrUrl) ? new Uri(pathOrUrl).AbsolutePath : pathOrUrl;

    /// <summary>The extension of a path, or of a URL's path (its query string ignored).</summary>
    public static string Extension(string pathOrUrl) => Path.GetExtension(PathPart(pathOrUrl));

    /// <summary>The traffic of a remote array, or null for a local file.</summary>
    public static TrafficCounters? Traffic(B2ndArray a) => a.RemoteSource?.Traffic;

    /// <summary>Writes "requests" and "bytes" (remote arrays only) into a JSON object being written.</summary>
    public static void WriteTraffic(Utf8JsonWriter w, B2ndArray a)
    {
        if (Traffic(a) is not { } t)
            return;
        w.WriteNumber("requests", t.Requests);
        w.WriteNumber("bytes", t.Bytes);
    }

    /// <summary>Adds "requests" and "bytes" (remote arrays only) to a JSON object text.</summary>
    public static string WithTraffic(string json, B2ndArray a)
    {
        if (Traffic(a) is not { } t)
            return json;
        var node = JsonNode.Parse(json)!.AsObject();
        node["requests"] = t.Requests;
        node["bytes"] = t.Bytes;
        return node.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    /// <summary>A text line with the traffic of a remote array, or null.</summary>
    public static string? TrafficLine(B2ndArray a) => Traffic(a) is { } t ? $"{"remote",-12}{t.Requests} requests, {t.Bytes} bytes" : null;
}
