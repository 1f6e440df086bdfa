using MLArray.Training.Data;
using MLArray.Training.Sampling;

namespace MLArray.Training.Tests;

public sealed class LoaderTests : IDisposable
{
    private readonly string _dir = Synthetic.TempDir("loader");

    public void Dispose() => Directory.Delete(_dir, true);

    private List<Synthetic.CaseData> MakeIndexed(int count, long[] shape, bool index = true, bool int8Seg = false)
    {
        var cases = Synthetic.Dataset(_dir, count, shape, int8Seg: int8Seg);
        if (index)
            foreach (var c in cases)
            {
                string seg = Path.Combine(_dir, c.Name + "_seg.mla");
                ClassLocations locations;
                using (var f = MLArrayFile.Open(seg)) locations = ClassLocations.Compute(f);
                locations.Store(seg);
            }
        return cases;
    }

    private static async Task<List<(long[] Image, short[] Seg, (int Case, long[] Start, bool Forced, long Label)[] Samples)>> Collect(
        PatchLoader<float, short> loader, CancellationToken ct = default)
    {
        var result = new List<(long[], short[], (int, long[], bool, long)[])>();
        await foreach (var b in loader.WithCancellation(ct))
        {
            using (b)
                result.Add((b.Image.ToArray().Select(v => (long)BitConverter.SingleToInt32Bits(v)).ToArray(), b.Segmentation.ToArray(),
                    b.Samples.Select(s => (s.CaseIndex, s.Start.ToArray(), s.ForcedForeground, s.Label)).ToArray()));
        }
        return result;
    }

    [Fact]
    public async Task Every_patch_equals_an_independently_padded_crop_and_forced_samples_hit_foreground()
    {
        var cases = MakeIndexed(6, [14, 30, 26]);
        using var ds = PatchDataset.FromFolder(_dir);
        var options = new PatchLoaderOptions
        {
            PatchSize = [8, 16, 16], ReadPatchSize = [12, 24, 20], BatchSize = 4, BatchCount = 12, ForegroundFraction = 0.5, Seed = 7, Workers = 2,
        };
        using var loader = new PatchLoader<float, short>(ds, options);
        int forced = 0, forcedWithFg = 0, padded = 0;
        await foreach (var b in loader)
        {
            using (b)
            {
                Assert.Equal([4L, 1, 12, 24, 20], b.ImageShape.ToArray());
                Assert.Equal([4L, 1, 12, 24, 20], b.SegmentationShape.ToArray());
                Assert.Equal(4, b.ImageTensor.Lengths[0]);
                long per = 12 * 24 * 20;
                for (int i = 0; i < b.Count; i++)
                {
                    var s = b.Samples[i];
                    var c = cases[s.CaseIndex];
                    Assert.Equal(c.Name + ".mla", s.CaseId);
                    long[] start = s.Start.ToArray();
                    var img = Synthetic.Crop(c.Image, c.Shape, start, [12, 24, 20], false, (short)0).Select(v => (float)v).ToArray();
                    var seg = Synthetic.Crop(c.Seg.Select(v => (short)v).ToArray(), c.Shape, start, [12, 24, 20], false, (short)-1);
                    Assert.Equal(img, b.Image.Slice((int)(i * per), (int)per).ToArray());
                    Assert.Equal(seg, b.Segmentation.Slice((int)(i * per), (int)per).ToArray());
                    Assert.Equal(i >= 2, s.ForcedForeground); // last ⌈0.5·4⌉ = 2
                    if (s.ForcedForeground)
                    {
                        forced++;
                        if (seg.Any(v => v > 0)) forcedWithFg++;
                        Assert.True(s.Label > 0);
                    }
                    if (seg.Contains((short)-1)) padded++;
                }
            }
        }
        Assert.Equal(24, forced);
        Assert.Equal(forced, forcedWithFg);
        Assert.True(padded > 0, "some patches reach past the image (read patch margin)");
        Assert.Equal(0, loader.BuffersOutstanding);
    }

    [Fact]
    public async Task Output_is_identical_whatever_the_worker_count()
    {
        MakeIndexed(5, [10, 20, 20]);
        using var ds = PatchDataset.FromFolder(_dir, new DatasetOptions { CacheCapacity = 2 });
        var baseOptions = new PatchLoaderOptions { PatchSize = [6, 12, 12], BatchSize = 3, BatchCount = 10, Seed = 11, ForegroundMode = ForegroundMode.Probabilistic, ForegroundFraction = 0.5 };
        using var one = new PatchLoader<float, short>(ds, baseOptions with { Workers = 1, PrefetchDepth = 1 });
        using var three = new PatchLoader<float, short>(ds, baseOptions with { Workers = 3, PrefetchDepth = 5 });
        using var other = new PatchLoader<float, short>(ds, baseOptions with { Seed = 12 });
        var a = await Collect(one);
        var b = await Collect(three);
        var c = await Collect(other);
        Assert.Equal(10, a.Count);
        for (int k = 0; k < a.Count; k++)
        {
            Assert.Equal(a[k].Image, b[k].Image);
            Assert.Equal(a[k].Seg, b[k].Seg);
            Assert.Equal(a[k].Samples.Select(s => (s.Case, string.Join(",", s.Start), s.Forced)), b[k].Samples.Select(s => (s.Case, string.Join(",", s.Start), s.Forced)));
        }
        Assert.NotEqual(a.SelectMany(x => x.Samples.Select(s => string.Join(",", s.Start))), c.SelectMany(x => x.Samples.Select(s => string.Join(",", s.Start))));
    }

    [Fact]
    public async Task Ranks_shard_every_case_exactly_once_per_epoch()
    {
        MakeIndexed(10, [4, 8, 8], index: false);
        using var ds = PatchDataset.FromFolder(_dir);
        var seen = new Dictionary<long, List<int>>();
        for (int rank = 0; rank < 3; rank++)
        {
            var options = new PatchLoaderOptions { PatchSize = [4, 8, 8], BatchSize = 1, Seed = 3, Rank = rank, WorldSize = 3, ForegroundFraction = 0 };
            using var probe = new PatchLoader<float, short>(ds, options);
            using var loader = new PatchLoader<float, short>(ds, options with { BatchCount = probe.CasesPerEpoch * 3 });
            await foreach (var b in loader)
                using (b)
                {
                    var s = b.Samples[0];
                    if (!seen.TryGetValue(s.Epoch, out var list)) seen[s.Epoch] = list = [];
                    list.Add(s.CaseIndex);
                }
        }
        Assert.Equal([0L, 1, 2], seen.Keys.Order());
        foreach (var (_, list) in seen) Assert.Equal(Enumerable.Range(0, 10), list.Order());
        Assert.NotEqual(seen[0], seen[1]); // reshuffled per epoch
        Assert.Throws<ArgumentOutOfRangeException>(() => new PatchLoader<float, short>(ds, new PatchLoaderOptions { PatchSize = [4, 8, 8], Rank = 3, WorldSize = 3 }));
    }

    [Fact]
    public async Task Cancellation_stops_workers_and_returns_every_buffer()
    {
        MakeIndexed(3, [8, 16, 16], index: false);
        using var ds = PatchDataset.FromFolder(_dir);
        using var loader = new PatchLoader<float, short>(ds, new PatchLoaderOptions { PatchSize = [8, 8, 8], Workers = 2, PrefetchDepth = 3 });
        using var cts = new CancellationTokenSource();
        var held = new List<PatchBatch<float, short>>();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var b in loader.WithCancellation(cts.Token))
            {
                held.Add(b);
                if (held.Count == 3) cts.Cancel();
            }
        });
        Assert.Equal(3, loader.BuffersOutstanding);
        foreach (var b in held) b.Dispose();
        Assert.Equal(0, loader.BuffersOutstanding);
        Assert.True(loader.BuffersCreated <= 3 + 3 + 2);
        // The loader can be enumerated again.
        int n = 0;
        await foreach (var b in loader) { b.Dispose(); if (++n == 2) break; }
        Assert.Equal(0, loader.BuffersOutstanding);
    }

    [Fact]
    public async Task Zero_batches_yield_nothing_and_leave_the_loader_usable()
    {
        MakeIndexed(2, [8, 16, 16], index: false);
        using var ds = PatchDataset.FromFolder(_dir);
        using var loader = new PatchLoader<float, short>(ds, new PatchLoaderOptions { PatchSize = [8, 8, 8], BatchCount = 0, Workers = 2 });
        int n = 0;
        await foreach (var b in loader) { b.Dispose(); n++; }
        Assert.Equal(0, n);
        Assert.Equal(0, loader.BuffersOutstanding);
        await foreach (var b in loader) { b.Dispose(); n++; } // enumerated again: still nothing, no worker left behind
        Assert.Equal(0, n);
    }

    [Fact]
    public async Task Missing_case_mid_epoch_names_the_case_or_is_skipped()
    {
        MakeIndexed(4, [6, 10, 10], index: false);
        using var ds = PatchDataset.FromFolder(_dir, new DatasetOptions { CacheCapacity = 1 });
        File.Delete(Path.Combine(_dir, "case_0002.mla"));
        var options = new PatchLoaderOptions { PatchSize = [6, 8, 8], BatchSize = 1, BatchCount = 8, Workers = 2 };
        using (var loader = new PatchLoader<float, short>(ds, options))
        {
            var e = await Assert.ThrowsAsync<DatasetCaseException>(async () => { await foreach (var b in loader) b.Dispose(); });
            Assert.Equal("case_0002.mla", e.CaseId);
            Assert.Contains("case_0002.mla", e.Message, StringComparison.Ordinal);
            Assert.Equal(0, loader.BuffersOutstanding);
        }
        var log = new List<string>();
        using (var loader = new PatchLoader<float, short>(ds, options with { SkipUnreadable = true, Log = m => { lock (log) log.Add(m); } }))
        {
            var got = new List<int>();
            await foreach (var b in loader) using (b) got.Add(b.Samples[0].CaseIndex);
            Assert.Equal(8, got.Count);
            Assert.DoesNotContain(2, got);
            Assert.Contains(log, m => m.Contains("case_0002.mla", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Unindexed_cases_fall_back_to_uniform_and_are_reported()
    {
        MakeIndexed(2, [6, 10, 10], index: false);
        using var ds = PatchDataset.FromFolder(_dir);
        var log = new List<string>();
        using var loader = new PatchLoader<float, short>(ds, new PatchLoaderOptions { PatchSize = [4, 4, 4], BatchSize = 2, BatchCount = 4, ForegroundFraction = 1, Log = m => { lock (log) log.Add(m); } });
        await foreach (var b in loader)
            using (b)
                Assert.All(b.Samples, s => Assert.Equal(-1, s.Label));
        Assert.Equal(["case_0000.mla", "case_0001.mla"], loader.CasesWithoutClassLocations);
        Assert.Equal(2, log.Count);
    }

    [Fact]
    public async Task Label_weights_choose_labels_in_proportion()
    {
        MakeIndexed(3, [12, 24, 24]);
        using var ds = PatchDataset.FromFolder(_dir);
        using var loader = new PatchLoader<float, short>(ds, new PatchLoaderOptions
        {
            PatchSize = [4, 6, 6], BatchSize = 10, BatchCount = 60, LabelWeights = new Dictionary<long, double> { [0] = 1, [1] = 0, [2] = 3 },
        });
        var labels = new List<long>();
        await foreach (var b in loader)
            using (b)
                for (int i = 0; i < b.Count; i++)
                {
                    labels.Add(b.Samples[i].Label);
                    if (b.Samples[i].Label == 2)
                        Assert.Contains((short)2, b.Segmentation.Slice(i * 144, 144).ToArray());
                }
        Assert.DoesNotContain(1L, labels);
        double share2 = labels.Count(l => l == 2) / (double)labels.Count;
        Assert.InRange(share2, 0.65, 0.85); // expected 0.75
    }

    [Fact]
    public async Task ZScore_normalisation_and_padding_off()
    {
        var cases = MakeIndexed(2, [6, 10, 10], index: false);
        using var ds = PatchDataset.FromFolder(_dir);
        using var loader = new PatchLoader<float, short>(ds, new PatchLoaderOptions
        {
            PatchSize = [4, 6, 6], BatchSize = 1, BatchCount = 5, Normalization = NormalizationMode.ZScore, Mean = [40], Std = [20],
            ImagePadMode = PadMode.None, SegmentationPadMode = PadMode.None,
        });
        await foreach (var b in loader)
            using (b)
            {
                var s = b.Samples[0];
                Assert.All(s.Start.ToArray().Zip(new long[] { 2, 4, 4 }), t => Assert.InRange(t.First, 0, t.Second));
                var raw = Synthetic.Crop(cases[s.CaseIndex].Image, [6, 10, 10], s.Start.ToArray(), [4, 6, 6], false, (short)0);
                var got = b.Image.ToArray();
                for (int i = 0; i < raw.Length; i++) Assert.Equal((raw[i] - 40) / 20.0, got[i], 4);
            }
        using var tooBig = new PatchLoader<float, short>(ds, new PatchLoaderOptions { PatchSize = [8, 6, 6], BatchCount = 1, ImagePadMode = PadMode.None });
        var e = await Assert.ThrowsAsync<ArgumentException>(async () => { await foreach (var b in tooBig) b.Dispose(); });
        Assert.Contains("padding is off", e.Message, StringComparison.Ordinal);
    }
}
