using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLArray.Blosc2;
using MLArray.Remote;

namespace MLArray.Cli;

/// <summary>Inputs given as a path or an http(s) URL (opened read-only through range requests).</summary>
internal static class CliInput
{
    /// <summary>A local path as given, or the path part of an http(s) URL (its query string, which may hold credentials, dropped).</summary>
    public static string PathPart(string pathOrUrl) => HttpRangeSource.IsHttpUrl(pathOrUrl) ? new Uri(pathOrUrl).AbsolutePath : pathOrUrl;

    /// <summary>The extension of a path, or of a URL's path (its query string ignored).</summary>
    public static string Extension(string pathOrUrl) => Path.GetExtension(PathPart(pathOrUrl));

    /// <summary>The <c>--cache DIR</c> option of the commands that read an input which may be an http(s) URL.</summary>
    public static Option<string?> CacheOption() => new("--cache")
    {
        Description = "Folder keeping the byte ranges read from an http(s) input (keyed by URL and ETag), so later runs read them from disk.",
    };

    /// <summary>Opens a path or an http(s) URL read-only (a URL with the disk cache in <paramref name="cacheDir"/> when given).</summary>
    public static B2ndArray OpenArray(string pathOrUrl, string? cacheDir) =>
        RemoteOptions(pathOrUrl, cacheDir) is { } options
            ? Task.Run(() => B2ndArray.OpenAsync(new Uri(pathOrUrl), null, options)).GetAwaiter().GetResult()
            : B2ndArray.Open(pathOrUrl);

    /// <summary>Opens an .mla path or http(s) URL read-only (a URL with the disk cache in <paramref name="cacheDir"/> when given).</summary>
    public static MLArrayFile OpenFile(string pathOrUrl, string? cacheDir) =>
        RemoteOptions(pathOrUrl, cacheDir) is { } options
            ? Task.Run(() => MLArrayFile.OpenAsync(new Uri(pathOrUrl), MLArrayMode.Read, null, options)).GetAwaiter().GetResult()
            : MLArrayFile.Open(pathOrUrl);

    private static RemoteReadOptions? RemoteOptions(string pathOrUrl, string? cacheDir) =>
        cacheDir is not null && HttpRangeSource.IsHttpUrl(pathOrUrl) ? new RemoteReadOptions { DiskCache = new RemoteDiskCache(cacheDir) } : null;

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
