using MLArray.Training.Data;
using MLArray.Training.Sampling;

namespace MLArray.Training.Tests;

/// <summary>Cases behind URLs the core cannot open itself (s3://, az://...) go through <see cref="DatasetOptions.Opener"/>.</summary>
public sealed class OpenerTests : IDisposable
{
    private readonly string _dir = Synthetic.TempDir("opener");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string Store = "store://bucket/";

    /// <summary>A manifest of the synthetic cases whose entries are <c>store://bucket/NAME.mla</c> URLs.</summary>
    private string UrlManifest()
    {
        string local = Path.Combine(_dir, "local.json");
        using (var ds = PatchDataset.FromFolder(_dir)) ds.WriteManifest(local, folds: 2, seed: 1);
        string text = File.ReadAllText(local).Replace("\"case_", "\"" + Store + "case_", StringComparison.Ordinal);
        Assert.Contains(Store, text, StringComparison.Ordinal);
        string path = Path.Combine(_dir, "urls.json");
        File.WriteAllText(path, text);
        return path;
    }

    private static List<(string Case, long[] Start, float[] Image, short[] Seg)> Batches(PatchDataset ds)
    {
        var result = new List<(string, long[], float[], short[])>();
        using var loader = new PatchLoader<float, short>(ds, new PatchLoaderOptions { PatchSize = [8, 16, 16], BatchSize = 2, BatchCount = 4, Seed = 9, Workers = 2 });
        foreach (var batch in loader.ToBlockingEnumerable())
            using (batch)
            {
                int n = batch.Image.Length / batch.Count, m = batch.Segmentation.Length / batch.Count;
                for (int s = 0; s < batch.Count; s++)
                    result.Add((Path.GetFileName(batch.Samples[s].CaseId), batch.Samples[s].Start.ToArray(),
                        batch.Image.Span.Slice(s * n, n).ToArray(), batch.Segmentation.Span.Slice(s * m, m).ToArray()));
            }
        return result;
    }

    [Fact]
    public void Url_cases_open_through_the_opener_and_give_the_batches_of_the_local_files()
    {
        Synthetic.Dataset(_dir, 3, [12, 20, 20]);
        string manifest = UrlManifest();
        var opened = new System.Collections.Concurrent.ConcurrentBag<string>();
        var options = new DatasetOptions
        {
            Opener = url =>
            {
                opened.Add(url);
                Assert.StartsWith(Store, url, StringComparison.Ordinal); // kept as a URL, not made a local path
                return MLArrayFile.Open(Path.Combine(_dir, url[Store.Length..]));
            },
        };
        using var remote = PatchDataset.FromManifest(manifest, options: options);
        Assert.All(remote.Cases, c => Assert.StartsWith(Store, c.ImagePath, StringComparison.Ordinal));
        using var local = PatchDataset.FromFolder(_dir);
        var viaOpener = Batches(remote);
        var direct = Batches(local);
        Assert.Equal(direct.Count, viaOpener.Count);
        for (int i = 0; i < direct.Count; i++)
        {
            Assert.Equal(direct[i].Case, viaOpener[i].Case);
            Assert.Equal(direct[i].Start, viaOpener[i].Start);
            Assert.Equal(direct[i].Image, viaOpener[i].Image);
            Assert.Equal(direct[i].Seg, viaOpener[i].Seg);
        }
        Assert.Contains(opened, u => u.EndsWith("_seg.mla", StringComparison.Ordinal));
    }

    [Fact]
    public void Without_an_opener_a_url_case_is_refused_and_opener_failures_name_the_case_without_the_query()
    {
        Synthetic.Dataset(_dir, 2, [8, 16, 16]);
        using (var ds = PatchDataset.FromManifest(UrlManifest()))
        {
            var e = Assert.Throws<DatasetCaseException>(() => ds.Acquire(0));
            Assert.Contains("store://", e.Message, StringComparison.Ordinal);
            Assert.Contains("DatasetOptions.Opener", e.Message, StringComparison.Ordinal);
        }

        var failing = new DatasetOptions { Opener = _ => throw new InvalidOperationException("access denied by the store") };
        using (var ds = PatchDataset.FromCases([new CaseInfo("c", Store + "c.mla?X-Sig=SECRET", null)], failing))
        {
            var e = Assert.Throws<DatasetCaseException>(() => ds.Acquire(0));
            Assert.Contains("access denied by the store", e.Message, StringComparison.Ordinal);
            Assert.Contains(Store + "c.mla", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("SECRET", e.Message, StringComparison.Ordinal);
        }
    }
}
