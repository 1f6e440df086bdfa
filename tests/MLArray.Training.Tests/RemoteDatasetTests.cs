using MLArray.Tests.Remote;
using MLArray.Training.Data;

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
}
