using MLArray.Remote;
using MLArray.Tests.Remote;
using MLArray.Training.Data;
using MLArray.Training.Sampling;

namespace MLArray.Training.Tests;

/// <summary>Dataset cases given as http(s) URLs, served by a real nginx on 127.0.0.1.</summary>
public sealed class RemoteDatasetTests(NginxServer nginx) : IClassFixture<NginxServer>, IDisposable
{
    private readonly string _dir = Synthetic.TempDir("remote-dataset");

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Remote_cases_read_like_local_ones_and_class_locations_cost_no_extra_request()
    {
        var c = Synthetic.Make("r", [20, 40, 36], 4, blobs: 4);
        Synthetic.Write(_dir, c);
        string segPath = Path.Combine(_dir, "r_seg.mla");
        ClassLocations computed;
        using (var seg = MLArrayFile.Open(segPath))
            computed = ClassLocations.Compute(seg, seed: 5, maxPerClass: 50, minFraction: 0.3);
        computed.Store(segPath);
        var image = nginx.Serve(Path.Combine(_dir, "r.mla"), "ds/r.mla").ToString();
        var seg2 = nginx.Serve(segPath, "ds/r_seg.mla").ToString();

        // A manifest listing URLs keeps them as URLs.
        string manifest = Path.Combine(_dir, "dataset.json");
        File.WriteAllText(manifest, $$"""{"format": "mlarray-dataset", "cases": [{"image": "{{image}}", "seg": "{{seg2}}"}]}""");
        using var fromManifest = PatchDataset.FromManifest(manifest);
        Assert.Equal(image, fromManifest.Cases.Single().ImagePath);

        using var ds = PatchDataset.FromCases([new CaseInfo("r", image, seg2)]);
        using var lease = ds.Acquire(0);
        Assert.Equal(computed.ToRecord(), lease.ClassLocations!.ToRecord());
        Assert.Equal(2, lease.Image.RemoteTraffic!.Requests);
        Assert.Equal(2, lease.Segmentation!.RemoteTraffic!.Requests); // the class locations came with the opening tail read
        Assert.Equal(c.Image, lease.Image.ToArray<short>());
        Assert.Equal(c.Seg, lease.Segmentation.ToArray<byte>());

        using var missing = PatchDataset.FromCases([new CaseInfo("gone", nginx.Url("ds/gone.mla") + "?sig=SECRET", null)]);
        var e = Assert.Throws<DatasetCaseException>(() => missing.Acquire(0));
        Assert.Contains("404", e.Message);
        Assert.DoesNotContain("SECRET", e.Message);
    }

    [Fact]
    public async Task A_loader_over_remote_cases_fetches_batches_ahead_concurrently_and_yields_exactly_the_local_loaders_batches()
    {
        var cases = Synthetic.Dataset(_dir, 4, [40, 96, 96], seed: 3);
        using var latency = new LatencyHandler(TimeSpan.FromMilliseconds(10));
        using var client = new HttpClient(latency);
        var http = new HttpRangeSourceOptions { Client = client };
        var remoteCases = cases.Select(c => new CaseInfo(c.Name + ".mla", nginx.Serve(Path.Combine(_dir, c.Name + ".mla"), $"ahead/{c.Name}.mla").ToString(),
            nginx.Serve(Path.Combine(_dir, c.Name + "_seg.mla"), $"ahead/{c.Name}_seg.mla").ToString())).ToList();
        var options = new PatchLoaderOptions { PatchSize = [16, 32, 32], BatchSize = 2, BatchCount = 10, Seed = 5, Workers = 1, ForegroundFraction = 0 };
        using var local = PatchDataset.FromFolder(_dir);
        var expected = await Collect(new PatchLoader<float, short>(local, options));

        async Task<(List<(float[], short[], string)> Batches, int MaxInFlight)> Remote(int readAhead)
        {
            // The Opener gives the cases our client (the added latency); all cases are opened before the loader runs, so
            // the requests in flight counted are the patches' (the openings send 2 at once).
            using var ds = PatchDataset.FromCases(remoteCases, new DatasetOptions { Opener = url => MLArrayFile.OpenAsync(new Uri(url), http: http).GetAwaiter().GetResult() });
            for (int i = 0; i < ds.Count; i++)
                using (ds.Acquire(i)) { }
            latency.ResetMax();
            var batches = await Collect(new PatchLoader<float, short>(ds, options with { RemoteReadAheadBatches = readAhead }));
            return (batches, latency.MaxInFlight);
        }
        var (ahead, aheadInFlight) = await Remote(2);
        var (plain, plainInFlight) = await Remote(0);
        Assert.Equal(expected.Count, ahead.Count);
        for (int k = 0; k < expected.Count; k++)
        {
            Assert.Equal(expected[k].Item3, ahead[k].Item3);
            Assert.Equal(expected[k].Item1, ahead[k].Item1);
            Assert.Equal(expected[k].Item2, ahead[k].Item2);
            Assert.Equal(expected[k].Item1, plain[k].Item1);
            Assert.Equal(expected[k].Item2, plain[k].Item2);
        }
        // One worker: without read-ahead its patches are fetched one read at a time; with it, the patches of the next
        // batches are in flight together.
        Assert.True(aheadInFlight > plainInFlight, $"{aheadInFlight} requests in flight at most with read-ahead, {plainInFlight} without");
        Assert.InRange(aheadInFlight, 3, 64);

        // Cancelling an endless remote enumeration with fetches ahead in flight stops it and returns every buffer.
        using var again = PatchDataset.FromCases(remoteCases, new DatasetOptions { Opener = url => MLArrayFile.OpenAsync(new Uri(url), http: http).GetAwaiter().GetResult() });
        using var endless = new PatchLoader<float, short>(again, options with { BatchCount = null, Workers = 2 });
        using var cts = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var b in endless.WithCancellation(cts.Token))
                using (b)
                    if (++seen == 3)
                        cts.Cancel();
        });
        Assert.Equal(3, seen);
        Assert.Equal(0, endless.BuffersOutstanding);
    }

    private static async Task<List<(float[], short[], string)>> Collect(PatchLoader<float, short> loader)
    {
        using (loader)
        {
            var result = new List<(float[], short[], string)>();
            await foreach (var b in loader)
                using (b)
                    result.Add((b.Image.ToArray(), b.Segmentation.ToArray(),
                        string.Join(";", b.Samples.Select(s => $"{s.CaseId}@{string.Join(",", s.Start.ToArray())}"))));
            return result;
        }
    }
}
