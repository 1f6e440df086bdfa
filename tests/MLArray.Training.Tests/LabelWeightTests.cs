using MLArray.Training.Data;
using MLArray.Training.Sampling;

namespace MLArray.Training.Tests;

/// <summary>
/// Label weights that a case cannot honour (it has no voxel of the label) are reported, never silently uniform: per
/// case by <c>CasesWithoutWeightedLabels</c> and the log; a weighted label that no case holds is an
/// <see cref="ArgumentException"/> at construction when the dataset is local and fits the case cache.
/// </summary>
public sealed class LabelWeightTests : IDisposable
{
    private readonly string _dir = Synthetic.TempDir("weights");

    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly long[] Shape = [10, 20, 20];

    /// <summary>case_0000 and case_0002 hold labels 1 and 2, case_0001 only label 1; all indexed.</summary>
    private void Make()
    {
        for (int k = 0; k < 3; k++)
        {
            var c = Synthetic.Make($"case_{k:D4}", Shape, 70 + k, blobs: k == 1 ? 1 : 4);
            Assert.Equal(k == 1 ? [0, 1] : new byte[] { 0, 1, 2 }, c.Seg.Distinct().Order().ToArray());
            Synthetic.Write(_dir, c);
            Synthetic.Index(Path.Combine(_dir, c.Name + "_seg.mla"));
        }
    }

    private static PatchLoaderOptions Options(Dictionary<long, double> weights, List<string> log) => new()
    {
        PatchSize = [4, 8, 8], BatchSize = 3, BatchCount = 6, Seed = 2, Workers = 2, LabelWeights = weights, Log = m => { lock (log) log.Add(m); },
    };

    [Fact]
    public async Task A_case_without_a_weighted_label_is_listed_and_logged()
    {
        Make();
        using var ds = PatchDataset.FromFolder(_dir);
        var log = new List<string>();
        using var loader = new PatchLoader<float, short>(ds, Options(new() { [1] = 1, [2] = 3 }, log));
        Assert.Empty(loader.CasesWithoutWeightedLabels);
        int label2 = 0;
        await foreach (var b in loader)
            using (b)
                for (int i = 0; i < b.Count; i++)
                {
                    if (b.Samples[i].CaseId == "case_0001.mla") Assert.Equal(1, b.Samples[i].Label); // its only label
                    if (b.Samples[i].Label == 2) label2++;
                }
        Assert.True(label2 > 0);
        var absent = Assert.Single(loader.CasesWithoutWeightedLabels);
        Assert.Equal("case_0001.mla", absent.Key);
        Assert.Equal([2L], absent.Value);
        Assert.Single(log, m => m.Contains("case_0001.mla", StringComparison.Ordinal) && m.Contains("weighted label 2", StringComparison.Ordinal));
    }

    [Fact]
    public void A_weighted_label_no_case_holds_is_an_argument_exception_at_construction()
    {
        Make();
        using var ds = PatchDataset.FromFolder(_dir);
        var e = Assert.Throws<ArgumentException>(() => new PatchLoader<float, short>(ds, Options(new() { [0] = 1, [5] = 2, [2] = 1 }, [])));
        Assert.Contains("label 5,", e.Message, StringComparison.Ordinal);
        Assert.Contains("labels 1, 2", e.Message, StringComparison.Ordinal);
        // A zero weight asks for nothing.
        using var fine = new PatchLoader<float, short>(ds, Options(new() { [0] = 1, [5] = 0 }, []));
    }

    [Fact]
    public async Task A_dataset_larger_than_the_cache_is_not_opened_up_front_and_reports_as_cases_are_met()
    {
        Make();
        using var ds = PatchDataset.FromFolder(_dir, new DatasetOptions { CacheCapacity = 2 });
        var log = new List<string>();
        using var loader = new PatchLoader<float, short>(ds, Options(new() { [0] = 1, [5] = 2 }, log));
        Assert.Equal(1, ds.PeakOpenCount); // only the first case, for the shapes
        var labels = new List<long>();
        await foreach (var b in loader)
            using (b)
                for (int i = 0; i < b.Count; i++) labels.Add(b.Samples[i].Label);
        Assert.All(labels, l => Assert.Equal(0, l)); // background only: label 5 is nowhere
        Assert.Equal(["case_0000.mla", "case_0001.mla", "case_0002.mla"], loader.CasesWithoutWeightedLabels.Keys);
        Assert.All(loader.CasesWithoutWeightedLabels.Values, v => Assert.Equal([5L], v));
        Assert.Equal(3, log.Count(m => m.Contains("weighted label 5", StringComparison.Ordinal)));
    }
}
