using System.Net;
using MLArray.Blosc2;
using MLArray.Remote;
using MLArray.TestSupport;

namespace MLArray.Tests.Remote;

/// <summary>Reading <c>.mla</c> files over HTTP from a real nginx on 127.0.0.1, compared byte for byte with the local file.</summary>
public sealed class HttpRemoteTests(NginxServer nginx) : IClassFixture<NginxServer>
{
    private const string BigName = "mlarray_big_f4_volume_lz4hc8.mla";

    private static string BigLocal => Path.GetFullPath(Path.Combine(MlaCorpus.Dir, "..", "blosc2", BigName));

    private static string SmallLocal => Path.GetFullPath(Path.Combine(MlaCorpus.Dir, "..", "blosc2", "dtype_f4_2d_lz4_shuffle.mla"));

    private static readonly HttpRangeSourceOptions FastRetries = new() { RetryDelay = TimeSpan.FromMilliseconds(1) };

    private Uri Big => nginx.Serve(BigLocal, "data/" + BigName);

    [Fact]
    public async Task Open_costs_two_requests_and_header_metadata_patches_and_full_decode_match_the_local_file()
    {
        using var local = MLArrayFile.Open(BigLocal);
        using var remote = await MLArrayFile.OpenAsync(Big);
        var traffic = remote.RemoteTraffic!;
        Assert.Equal(2, traffic.Requests);
        Assert.Equal(local.Shape, remote.Shape);
        Assert.Equal(local.DType, remote.DType);
        Assert.Equal(local.Meta.ToMetaValue().ToJson(), remote.Meta.ToMetaValue().ToJson());
        Assert.Equal(local.Spacing, remote.Spacing);
        Assert.Equal(2, traffic.Requests); // metadata and header need nothing beyond the open

        var rng = new Random(1234);
        long[] shape = local.Shape;
        for (int p = 0; p < 12; p++)
        {
            var sel = new NdIndex[shape.Length];
            for (int d = 0; d < shape.Length; d++)
            {
                long size = Math.Min(64, shape[d]);
                long start = rng.NextInt64(0, shape[d] - size + 1);
                sel[d] = NdIndex.Slice(start, start + size);
            }
            Assert.Equal(local.Read<float>(sel), remote.Read<float>(sel));
        }
        Assert.True(traffic.Requests > 2);

        Assert.Equal(local.ToArray<float>(), remote.ToArray<float>());
        long fileLength = new FileInfo(BigLocal).Length;
        // Every chunk fetched once (the cache holds this 4.6 MB file): at most the file plus the head/tail prefetches
        // (and the part headers of multi-range answers, under 100 bytes a range).
        Assert.True(traffic.Bytes <= fileLength + (8 << 10) + (64 << 10) + (4 << 10), $"{traffic.Bytes} bytes transferred for a {fileLength}-byte file");
        Assert.Equal(0, traffic.Retries);
    }

    [Fact]
    public async Task Open_sends_the_head_and_tail_requests_together_and_metadata_needs_no_more()
    {
        using var latency = new LatencyHandler(TimeSpan.FromMilliseconds(150));
        using var client = new HttpClient(latency);
        using var remote = await MLArrayFile.OpenAsync(Big, http: new HttpRangeSourceOptions { Client = client });
        _ = remote.Meta.ToMetaValue().ToJson();
        _ = remote.Shape;
        Assert.Equal(2, remote.RemoteTraffic!.Requests);
        Assert.Equal(2, latency.MaxInFlight); // one round trip: the suffix range does not wait for the head's length
        // The tail response holds the offsets index and the trailer: header + tail bytes at most.
        Assert.True(remote.RemoteTraffic.Bytes <= (8 << 10) + (64 << 10), $"{remote.RemoteTraffic.Bytes} bytes");

        // Without the concurrent suffix probe the tail is a second, sequential request.
        latency.ResetMax();
        using var sequential = await MLArrayFile.OpenAsync(Big, http: new HttpRangeSourceOptions { Client = client, ProbeTailBytes = 0 });
        Assert.Equal(2, sequential.RemoteTraffic!.Requests);
        Assert.Equal(1, latency.MaxInFlight);
        Assert.Equal(remote.Meta.ToMetaValue().ToJson(), sequential.Meta.ToMetaValue().ToJson());
    }

    [Fact]
    public async Task Synchronous_doors_accept_urls_read_only()
    {
        var url = Big;
        using (var arr = B2ndArray.Open(url.ToString()))
        using (var local = B2ndArray.Open(BigLocal))
        {
            Assert.Equal(local.Shape, arr.Shape);
            Assert.Equal(local.Read<float>(NdIndex.At(3)), arr.Read<float>(NdIndex.At(3)));
        }
        using (var f = MLArrayFile.Open(url.ToString()))
            Assert.Equal(2, f.RemoteTraffic!.Requests);
        var e1 = Assert.Throws<ArgumentException>(() => B2ndArray.Open(url.ToString(), B2ndOpenMode.ReadWrite));
        Assert.Contains("read-only", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => MLArrayFile.Open(url.ToString(), MLArrayMode.ReadWrite));
        Assert.Contains("read-only", e2.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => MLArrayFile.OpenAsync(url, MLArrayMode.CopyOnWrite));
    }

    [Fact]
    public async Task Server_ignoring_range_is_refused_for_a_large_object_and_used_for_a_small_one()
    {
        var big = nginx.Serve(BigLocal, "noranges/" + BigName);
        var e = await Assert.ThrowsAsync<MLArrayRemoteException>(() => MLArrayFile.OpenAsync(big));
        Assert.Contains("ignores Range", e.Message);
        Assert.Equal(200, e.StatusCode);

        var small = nginx.Serve(SmallLocal, "noranges/small.mla");
        using var local = MLArrayFile.Open(SmallLocal);
        using var remote = await MLArrayFile.OpenAsync(small);
        Assert.Equal(local.ToArray<float>(), remote.ToArray<float>());
        // The whole small body came with the first response; the concurrent suffix request's answer (also 200) is dropped unread.
        Assert.Equal(2, remote.RemoteTraffic!.Requests);
        Assert.True(remote.RemoteTraffic!.Bytes <= new FileInfo(SmallLocal).Length);
    }

    [Fact]
    public async Task Missing_forbidden_not_mla_and_redirect_loop_give_specific_errors_without_query_secrets()
    {
        const string secret = "X-Amz-Signature=SECRET0123456789";
        var missing = new Uri(nginx.Url("data/missing.mla") + "?" + secret);
        var nf = await Assert.ThrowsAsync<FileNotFoundException>(() => MLArrayFile.OpenAsync(missing));
        Assert.Contains("404", nf.Message);
        Assert.Contains("/data/missing.mla", nf.Message);
        Assert.DoesNotContain("SECRET", nf.Message);

        var forbidden = new Uri(nginx.Url("forbidden/x.mla") + "?" + secret);
        var fb = await Assert.ThrowsAsync<MLArrayRemoteException>(() => MLArrayFile.OpenAsync(forbidden));
        Assert.Equal(403, fb.StatusCode);
        Assert.Contains("access denied", fb.Message);
        Assert.DoesNotContain("SECRET", fb.ToString());

        string notMla = Path.Combine(nginx.Root, "data", "notmla.mla");
        Directory.CreateDirectory(Path.GetDirectoryName(notMla)!);
        File.WriteAllBytes(notMla, File.ReadAllBytes(MedicalTestData.PathOf("niftijs/big.nii.gz")));
        var fmt = await Assert.ThrowsAsync<MLArrayFormatException>(() => MLArrayFile.OpenAsync(new Uri(nginx.Url("data/notmla.mla") + "?" + secret)));
        Assert.Contains("is not an MLArray/Blosc2 file", fmt.Message);
        Assert.DoesNotContain("SECRET", fmt.Message);

        var loop = await Assert.ThrowsAsync<MLArrayRemoteException>(() => MLArrayFile.OpenAsync(nginx.Url("loop/start.mla")));
        Assert.Contains("redirect", loop.Message);
    }

    [Fact]
    public async Task Object_replaced_between_reads_fails_instead_of_mixing_data()
    {
        string path = Path.Combine(nginx.Root, "data", "changing.mla");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.Copy(BigLocal, path, overwrite: true);
        using var remote = await MLArrayFile.OpenAsync(nginx.Url("data/changing.mla"));
        var bytes = File.ReadAllBytes(BigLocal);
        bytes[^100] ^= 0xFF; // same length, other content and modification time: a new ETag
        File.WriteAllBytes(path, bytes);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(5));
        var e = Assert.Throws<MLArrayRemoteChangedException>(() => remote.ToArray<float>());
        Assert.Equal(412, e.StatusCode);
    }

    private async Task<(MLArrayFile Remote, TrafficCounters Traffic)> OpenWithFault(Func<int, HttpRequestMessage, HttpResponseMessage, Task<HttpResponseMessage>> rule)
    {
        var handler = new FaultHandler { Rule = rule };
        var client = new HttpClient(handler);
        var source = await HttpRangeSource.OpenAsync(Big, FastRetries with { Client = client });
        var file = await MLArrayFile.OpenAsync(source);
        return (file, source.Traffic);
    }

    [Fact]
    public async Task Server_error_and_truncated_body_are_retried_and_data_stays_exact()
    {
        using var local = MLArrayFile.Open(BigLocal);
        var expected = local.ToArray<float>();

        var (r500, t500) = await OpenWithFault((n, req, resp) =>
            Task.FromResult(n is 3 or 4 ? new HttpResponseMessage(HttpStatusCode.InternalServerError) : resp));
        using (r500)
            Assert.Equal(expected, r500.ToArray<float>());
        Assert.True(t500.Retries >= 2, $"{t500.Retries} retries");

        var (rShort, tShort) = await OpenWithFault(async (n, req, resp) =>
        {
            if (n != 3)
                return resp;
            var body = await resp.Content.ReadAsByteArrayAsync();
            var cut = new ByteArrayContent(body[..(body.Length / 2)]);
            cut.Headers.ContentRange = resp.Content.Headers.ContentRange;
            cut.Headers.ContentType = resp.Content.Headers.ContentType; // a multi-range answer stays multipart
            resp.Content = cut;
            return resp;
        });
        using (rShort)
            Assert.Equal(expected, rShort.ToArray<float>());
        Assert.True(tShort.Retries >= 1);
    }

    [Fact]
    public async Task A_short_first_response_when_opening_is_retried()
    {
        using var local = MLArrayFile.Open(BigLocal);
        // The head range of the opening pair (request 1 or 2: they go out together) arrives cut: tried again.
        var cutOnce = new FaultHandler
        {
            Rule = async (n, req, resp) =>
            {
                if (n > 2 || req.Headers.Range?.Ranges.First().From != 0)
                    return resp;
                var body = await resp.Content.ReadAsByteArrayAsync();
                var cut = new ByteArrayContent(body[..(body.Length / 3)]);
                cut.Headers.ContentRange = resp.Content.Headers.ContentRange;
                resp.Content = cut;
                return resp;
            },
        };
        var source = await HttpRangeSource.OpenAsync(Big, FastRetries with { Client = new HttpClient(cutOnce) });
        Assert.True(source.Traffic.Retries >= 1, $"{source.Traffic.Retries} retries");
        using var remote = await MLArrayFile.OpenAsync(source);
        Assert.Equal(local.ToArray<float>(), remote.ToArray<float>());

        // cut every time: bounded retries, then a remote error saying so
        var cutAlways = new FaultHandler
        {
            Rule = async (n, req, resp) =>
            {
                var body = await resp.Content.ReadAsByteArrayAsync();
                var cut = new ByteArrayContent(body[..(body.Length / 3)]);
                cut.Headers.ContentRange = resp.Content.Headers.ContentRange;
                resp.Content = cut;
                return resp;
            },
        };
        var e = await Assert.ThrowsAsync<MLArrayRemoteException>(() => HttpRangeSource.OpenAsync(Big, FastRetries with { Client = new HttpClient(cutAlways) }));
        Assert.Contains("failed 5 times", e.Message);
        Assert.Contains("short body", e.Message);
    }

    [Fact]
    public async Task Persistent_server_errors_give_up_after_bounded_retries()
    {
        var (remote, traffic) = await OpenWithFault((n, req, resp) =>
            Task.FromResult(n > 2 ? new HttpResponseMessage(HttpStatusCode.ServiceUnavailable) : resp));
        using (remote)
        {
            var oneElement = remote.Shape.Select(_ => NdIndex.At(0)).ToArray(); // one chunk, no prefetch
            var e = Assert.Throws<MLArrayRemoteException>(() => remote.Read<float>(oneElement));
            Assert.Contains("failed 5 times", e.Message);
        }
        Assert.Equal(2 + 5, traffic.Requests); // open, then 1 + MaxRetries attempts of the one chunk
    }

    [Fact]
    public async Task Opening_retries_server_errors_and_an_unreachable_server_is_a_remote_error_naming_the_url()
    {
        using var local = MLArrayFile.Open(BigLocal);
        // 500 to the opening pair (requests 1 and 2, sent together): tried again, then the file opens and reads exactly.
        var flaky = new FaultHandler { Rule = (n, req, resp) => Task.FromResult(n <= 2 ? new HttpResponseMessage(HttpStatusCode.InternalServerError) : resp) };
        var source = await HttpRangeSource.OpenAsync(Big, FastRetries with { Client = new HttpClient(flaky) });
        Assert.True(source.Traffic.Retries >= 1, $"{source.Traffic.Retries} retries");
        using (var remote = await MLArrayFile.OpenAsync(source))
            Assert.Equal(local.ToArray<float>(), remote.ToArray<float>());

        // a server answering 503 to every request: bounded retries, then a remote error (not a bare HttpRequestException)
        var down = new FaultHandler { Rule = (n, req, resp) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.ServiceUnavailable)) };
        var e = await Assert.ThrowsAsync<MLArrayRemoteException>(() => HttpRangeSource.OpenAsync(Big, FastRetries with { Client = new HttpClient(down) }));
        Assert.Contains("failed 5 times", e.Message);
        Assert.Contains("HTTP 503", e.Message);

        // nothing listens on the port: the same, through the public door (an IOException like every unusable file)
        int port = LoopbackServer.FreePort();
        var refused = await Assert.ThrowsAsync<MLArrayRemoteException>(() => MLArrayFile.OpenAsync(new Uri($"http://127.0.0.1:{port}/x.mla?secret=1"), http: FastRetries));
        Assert.Contains($"http://127.0.0.1:{port}/x.mla", refused.Message);
        Assert.Contains("failed 5 times", refused.Message);
        Assert.DoesNotContain("secret", refused.Message);
        Assert.IsAssignableFrom<IOException>(refused);
        Assert.NotNull(refused.InnerException); // the last failure, for diagnostics

        // https:// to a plain-HTTP server: a TLS failure, reported as such at once (retrying cannot fix a handshake)
        var tls = await Assert.ThrowsAsync<MLArrayRemoteException>(() => MLArrayFile.OpenAsync(new Uri($"https://127.0.0.1:{nginx.Port}/data/{BigName}"), http: FastRetries));
        Assert.Contains("TLS", tls.Message);
        Assert.Contains("HttpRangeSourceOptions.Client", tls.Message);
        Assert.DoesNotContain("failed 5 times", tls.Message);
    }

    /// <summary>A 416, and an answer with another ETag, to request 3 (the first read of <paramref name="selection"/>) fail the read.</summary>
    private async Task AssertRangeNotSatisfiableAndChangedETagFail(NdIndex[] selection)
    {
        var (r416, _) = await OpenWithFault((n, req, resp) =>
            Task.FromResult(n == 3 ? new HttpResponseMessage(HttpStatusCode.RequestedRangeNotSatisfiable) : resp));
        using (r416)
            Assert.Equal(416, Assert.Throws<MLArrayRemoteException>(() => r416.Read<float>(selection)).StatusCode);

        var (rTag, _) = await OpenWithFault((n, req, resp) =>
        {
            if (n == 3)
                resp.Headers.ETag = new System.Net.Http.Headers.EntityTagHeaderValue("\"another-version\"");
            return Task.FromResult(resp);
        });
        using (rTag)
            Assert.Throws<MLArrayRemoteChangedException>(() => rTag.Read<float>(selection));
    }

    [Fact]
    public async Task Range_not_satisfiable_changed_etag_and_ignored_range_mid_read_are_specific_errors()
    {
        // NdIndex.At(0) on every axis: one chunk, one single-range request (request 3).
        var oneChunk = Enumerable.Repeat(NdIndex.At(0), 3).ToArray();
        await AssertRangeNotSatisfiableAndChangedETagFail(oneChunk);
        var (r200, _) = await OpenWithFault((n, req, resp) =>
            Task.FromResult(n == 3 ? new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(new byte[16]) } : resp));
        using (r200)
            Assert.Contains("ignores Range", Assert.Throws<MLArrayRemoteException>(() => r200.Read<float>(oneChunk)).Message);
    }

    [Fact]
    public async Task Multi_range_answers_of_416_or_a_changed_etag_are_errors_and_a_200_falls_back_to_single_ranges()
    {
        using var local = MLArrayFile.Open(BigLocal);
        var slab = new[] { NdIndex.At(0) }; // every chunk of the first slab: one multi-range request (request 3)
        await AssertRangeNotSatisfiableAndChangedETagFail(slab);

        // A server that ignores multiple ranges answers 200 with the whole object: its body is not read, the ranges
        // are asked one by one from then on, the data is exact.
        int multi = 0;
        var (r200, t200) = await OpenWithFault((n, req, resp) =>
        {
            if (req.Headers.Range?.Ranges.Count > 1)
            {
                Interlocked.Increment(ref multi);
                return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(new byte[64 << 20]) });
            }
            return Task.FromResult(resp);
        });
        using (r200)
        {
            long b0 = t200.Bytes;
            Assert.Equal(local.Read<float>(slab), r200.Read<float>(slab));
            Assert.Equal(local.Read<float>(NdIndex.At(5)), r200.Read<float>(NdIndex.At(5)));
            Assert.InRange(multi, 1, 4); // the concurrent requests of the first wave; none after it
            Assert.True(t200.Bytes - b0 < new FileInfo(BigLocal).Length, $"{t200.Bytes - b0} bytes: the 200 body was read");
        }
    }
    [Fact]
    public async Task Multipart_answers_arriving_in_small_pieces_decode_exactly_and_a_part_outside_the_ranges_is_an_error()
    {
        using var local = MLArrayFile.Open(BigLocal);
        var slab = new[] { NdIndex.At(0) }; // every chunk of the first slab: one multi-range request
        // Part headers split across reads (a line in several pieces) and data in 7-byte reads: parsed the same.
        int multi = 0;
        var (trickle, tt) = await OpenWithFault(async (n, req, resp) =>
        {
            if (req.Headers.Range?.Ranges.Count is not > 1)
                return resp;
            Interlocked.Increment(ref multi);
            var body = await resp.Content.ReadAsByteArrayAsync();
            var type = resp.Content.Headers.ContentType;
            resp.Content = new StreamContent(new TrickleStream(body, 7));
            resp.Content.Headers.ContentType = type;
            return resp;
        });
        using (trickle)
            Assert.Equal(local.Read<float>(slab), trickle.Read<float>(slab));
        Assert.True(multi >= 1);
        Assert.Equal(0, tt.Retries);

        // A part announcing bytes that were not asked for: a definitive error naming the URL.
        var (outside, _) = await OpenWithFault(async (n, req, resp) =>
        {
            if (req.Headers.Range?.Ranges.Count is not > 1)
                return resp;
            string text = System.Text.Encoding.Latin1.GetString(await resp.Content.ReadAsByteArrayAsync());
            int at = text.IndexOf("Content-Range: bytes ", StringComparison.OrdinalIgnoreCase);
            int end = text.IndexOf('\r', at);
            string total = text[(text.LastIndexOf('/', end) + 1)..end];
            var type = resp.Content.Headers.ContentType;
            resp.Content = new ByteArrayContent(System.Text.Encoding.Latin1.GetBytes(text[..at] + $"Content-Range: bytes 0-9/{total}" + text[end..]));
            resp.Content.Headers.ContentType = type;
            return resp;
        });
        using (outside)
        {
            var e = Assert.Throws<MLArrayRemoteException>(() => outside.Read<float>(slab));
            Assert.Contains("outside the ranges asked", e.Message, StringComparison.Ordinal);
            Assert.Contains(Big.AbsolutePath, e.Message, StringComparison.Ordinal);
        }
    }

    /// <summary>A body that hands out at most a few bytes per read.</summary>
    private sealed class TrickleStream(byte[] data, int step) : MemoryStream(data, writable: false)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, step));

        public override int Read(Span<byte> buffer) => base.Read(buffer[..Math.Min(buffer.Length, step)]);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            base.ReadAsync(buffer, offset, Math.Min(count, step), cancellationToken);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, step)], cancellationToken);
    }
}
