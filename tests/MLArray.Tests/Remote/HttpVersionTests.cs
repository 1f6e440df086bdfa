using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using MLArray.Blosc2;
using MLArray.Layout;
using MLArray.Remote;

namespace MLArray.Tests.Remote;

/// <summary>
/// Servers that make ranges lie: no ETag (only Last-Modified) while the file is replaced, and compressed
/// (<c>Content-Encoding</c>) answers to range requests. Reads must fail with a specific error, never return other data.
/// </summary>
public sealed class HttpVersionTests(NginxServer nginx) : IClassFixture<NginxServer>, IDisposable
{
    private static readonly HttpRangeSourceOptions FastRetries = new() { RetryDelay = TimeSpan.FromMilliseconds(1) };
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-httpversion-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>An uncompressed float32 [16, 64, 64] file of the seed's values in 4 chunks: every seed gives the same length.</summary>
    private string Volume(int seed, out float[] values)
    {
        var rng = new Random(seed);
        values = new float[16 * 64 * 64];
        for (int i = 0; i < values.Length; i++) values[i] = rng.NextSingle();
        string path = Path.Combine(_dir, $"v{seed}.mla");
        using var f = MLArrayFile.FromArray(values, [16, 64, 64], new MLArrayCreateOptions
        {
            Compression = new CompressionParams { Codec = Blosc2Codec.LZ4, CLevel = 0 },
            Layout = LayoutOptions.Manual([4, 64, 64], [4, 32, 32]),
        });
        f.Save(path);
        return path;
    }

    [Fact]
    public async Task Without_an_ETag_the_Last_Modified_date_pins_the_version_and_a_replaced_file_fails()
    {
        string v1 = Volume(1, out var values1), v2 = Volume(2, out var values2);
        Assert.Equal(new FileInfo(v1).Length, new FileInfo(v2).Length);
        var url = nginx.Serve(v1, "noetag/case.mla");
        string served = Path.Combine(nginx.Root, "noetag", "case.mla");
        File.SetLastWriteTimeUtc(served, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc));

        // unchanged: reads exactly, and every read after the open carries the date it was opened with
        var sent = new List<DateTimeOffset?>();
        var record = new FaultHandler { Rule = (n, req, resp) => { lock (sent) sent.Add(req.Headers.IfUnmodifiedSince); return Task.FromResult(resp); } };
        var recorded = await HttpRangeSource.OpenAsync(url, FastRetries with { Client = new HttpClient(record) });
        Assert.Null(recorded.VersionTag);
        using (var remote = await MLArrayFile.OpenAsync(recorded))
        {
            Assert.Equal(values1, remote.ToArray<float>());
        }
        Assert.True(sent.Count > 2);
        Assert.All(sent.Skip(2), d => Assert.Equal(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), d));

        // replaced (same length, other values) after the open: the read fails, it never returns the new values
        using (var remote = await MLArrayFile.OpenAsync(url, http: FastRetries))
        {
            File.Copy(v2, served, overwrite: true);
            File.SetLastWriteTimeUtc(served, new DateTime(2026, 2, 1, 0, 0, 0, DateTimeKind.Utc));
            var e = Assert.Throws<MLArrayRemoteChangedException>(() => remote.ToArray<float>());
            Assert.Contains("replaced", e.Message);
            Assert.Contains("Reopen", e.Message);
        }

        // a server that ignores If-Unmodified-Since: the answer's own Last-Modified gives it away
        File.Copy(v1, served, overwrite: true);
        File.SetLastWriteTimeUtc(served, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        var ignoring = new FaultHandler
        {
            Rule = (n, req, resp) =>
            {
                if (n > 2)
                    resp.Content.Headers.LastModified = new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);
                return Task.FromResult(resp);
            },
        };
        using (var remote = await MLArrayFile.OpenAsync(await HttpRangeSource.OpenAsync(url, FastRetries with { Client = new HttpClient(ignoring) })))
            Assert.Contains("Last-Modified", Assert.Throws<MLArrayRemoteChangedException>(() => remote.ToArray<float>()).Message);
        Assert.NotEqual(values1, values2);
    }

    [Fact]
    public async Task A_redirect_target_that_stops_working_is_resolved_again_from_the_given_url()
    {
        string v = Volume(4, out var values);
        nginx.Serve(v, "data/signed.mla");
        var url = nginx.Url("signed-redirect/signed.mla");
        // the CDN: signed links seen before "expire" is set answer 403 from then on
        var issued = new HashSet<string>();
        bool expire = false;
        var cdn = new FaultHandler
        {
            Rule = (n, req, resp) =>
            {
                if (!req.RequestUri!.AbsolutePath.StartsWith("/data/", StringComparison.Ordinal))
                    return Task.FromResult(resp);
                lock (issued)
                {
                    if (!Volatile.Read(ref expire))
                        issued.Add(req.RequestUri.Query);
                    else if (issued.Contains(req.RequestUri.Query))
                    {
                        resp.Dispose();
                        return Task.FromResult(new HttpResponseMessage(HttpStatusCode.Forbidden));
                    }
                }
                return Task.FromResult(resp);
            },
        };
        var source = await HttpRangeSource.OpenAsync(url, FastRetries with { Client = new HttpClient(cdn), MaxRangesPerRequest = 1 });
        using var remote = await MLArrayFile.OpenAsync(source);
        Assert.Equal(values.AsSpan(0, 4 * 64 * 64).ToArray(), remote.Read<float>(NdIndex.Slice(0, 4), NdIndex.Slice(0, 64), NdIndex.Slice(0, 64)));
        Assert.InRange(issued.Count, 1, 2); // the opening pair was redirected; later requests went straight to the signed link

        await Task.Delay(20); // the next link is signed at a later millisecond
        Volatile.Write(ref expire, true);
        Assert.Equal(values, remote.ToArray<float>()); // the rest through a fresh link
        Assert.Equal(0, source.Traffic.Retries);

        // the given URL itself refusing is still an error naming the status
        bool deny = false;
        var gone = new FaultHandler { Rule = (n, req, resp) => Task.FromResult(Volatile.Read(ref deny) ? new HttpResponseMessage(HttpStatusCode.Forbidden) : resp) };
        var refused = await HttpRangeSource.OpenAsync(url, FastRetries with { Client = new HttpClient(gone), MaxRangesPerRequest = 1 });
        using var r2 = await MLArrayFile.OpenAsync(refused);
        Volatile.Write(ref deny, true);
        Assert.Equal(403, Assert.Throws<MLArrayRemoteException>(() => r2.ToArray<float>()).StatusCode);
    }

    /// <summary>Answers request <paramref name="which"/> (and later ones) with its body gzipped and <c>Content-Encoding: gzip</c>, Content-Range kept.</summary>
    private static FaultHandler Gzipping(int which) => new()
    {
        Rule = async (n, req, resp) =>
        {
            if (n < which || resp.StatusCode != HttpStatusCode.PartialContent)
                return resp;
            byte[] body = await resp.Content.ReadAsByteArrayAsync();
            var packed = new MemoryStream();
            using (var gz = new GZipStream(packed, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(body);
            var content = new ByteArrayContent(packed.ToArray());
            foreach (var h in resp.Content.Headers.Where(h => h.Key != "Content-Length"))
                content.Headers.TryAddWithoutValidation(h.Key, h.Value);
            content.Headers.ContentEncoding.Add("gzip");
            var answer = new HttpResponseMessage(resp.StatusCode) { Content = content };
            foreach (var h in resp.Headers) answer.Headers.TryAddWithoutValidation(h.Key, h.Value);
            resp.Dispose();
            return answer;
        },
    };

    [Fact]
    public async Task A_compressed_answer_to_a_range_request_is_refused_naming_the_encoding()
    {
        string v1 = Volume(3, out _);
        var url = nginx.Serve(v1, "data/gz.mla");
        var atOpen = await Assert.ThrowsAsync<MLArrayRemoteException>(() => HttpRangeSource.OpenAsync(url, FastRetries with { Client = new HttpClient(Gzipping(1)) }));
        Assert.Contains("Content-Encoding: gzip", atOpen.Message);
        Assert.DoesNotContain("failed 5 times", atOpen.Message); // not a transient failure: not retried

        var source = await HttpRangeSource.OpenAsync(url, FastRetries with { MaxRangesPerRequest = 1, Client = new HttpClient(Gzipping(3)) });
        using var remote = await MLArrayFile.OpenAsync(source);
        var e = Assert.Throws<MLArrayRemoteException>(() => remote.ToArray<float>());
        Assert.Contains("Content-Encoding: gzip", e.Message);
        Assert.Contains("without compression", e.Message);
        Assert.Equal(0, source.Traffic.Retries);
    }
}
