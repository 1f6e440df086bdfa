using MLArray.Metadata;
using MLArray.Training.Schema;
using MLArray.Training.Data;
using MLArray.Training.Sampling;

namespace MLArray.Training.Tests;

/// <summary>
/// Segmentation batches narrower than the stored labels (int8 batches of uint8 or int16 segmentations: half the bytes
/// of int16 batches): the labels are checked once per case against the class locations or <c>meta.stats</c>, so a
/// label that does not fit is an error naming the case, never a wrapped value; the −1 padding must fit the type.
/// </summary>
public sealed class SegmentationTypeTests : IDisposable
{
    private readonly string _dir = Synthetic.TempDir("segtype");

    public void Dispose() => Directory.Delete(_dir, true);

    private static PatchLoaderOptions Options(long batches = 6) => new()
    {
        PatchSize = [8, 16, 16], ReadPatchSize = [10, 20, 18], BatchSize = 3, BatchCount = batches, ForegroundFraction = 0.5, Seed = 5, Workers = 2,
    };

    private void Index(string name)
    {
        string seg = Path.Combine(_dir, name + "_seg.mla");
        ClassLocations locations;
        using (var f = MLArrayFile.Open(seg)) locations = ClassLocations.Compute(f);
        locations.Store(seg);
    }

    private static async Task<List<PatchBatchCopy<TSeg>>> Collect<TSeg>(PatchDataset ds, PatchLoaderOptions options) where TSeg : unmanaged, System.Numerics.INumberBase<TSeg>
    {
        using var loader = new PatchLoader<float, TSeg>(ds, options);
        var list = new List<PatchBatchCopy<TSeg>>();
        await foreach (var b in loader)
            using (b)
                list.Add(new(b.Image.ToArray(), b.Segmentation.ToArray(), b.Samples.Select(s => (s.CaseIndex, s.Start.ToArray())).ToArray()));
        return list;
    }

    private sealed record PatchBatchCopy<TSeg>(float[] Image, TSeg[] Seg, (int Case, long[] Start)[] Samples);

    [Theory]
    [InlineData(false)] // uint8 labels, indexed: the class locations tell the largest label
    [InlineData(true)] // int8 labels: always fit, no index needed
    public async Task Int8_batches_hold_the_labels_and_the_padding_of_the_int16_batches(bool int8Stored)
    {
        var cases = Synthetic.Dataset(_dir, 4, [12, 22, 20], int8Seg: int8Stored);
        if (!int8Stored)
            foreach (var c in cases) Index(c.Name);
        using var ds = PatchDataset.FromFolder(_dir);
        var narrow = await Collect<sbyte>(ds, Options());
        var wide = await Collect<short>(ds, Options());
        Assert.Equal(wide.Count, narrow.Count);
        int padded = 0, labelled = 0;
        long per = 10 * 20 * 18;
        for (int k = 0; k < wide.Count; k++)
        {
            Assert.Equal(wide[k].Image, narrow[k].Image);
            Assert.Equal(wide[k].Seg.Select(v => (sbyte)v).ToArray(), narrow[k].Seg);
            for (int i = 0; i < narrow[k].Samples.Length; i++)
            {
                var (caseIndex, start) = narrow[k].Samples[i];
                var c = cases[caseIndex];
                // Independently: the padded crop of the stored labels.
                var expected = Synthetic.Crop(c.Seg.Select(v => (sbyte)v).ToArray(), c.Shape, start, [10, 20, 18], false, (sbyte)-1);
                Assert.Equal(expected, narrow[k].Seg.AsSpan((int)(i * per), (int)per).ToArray());
                if (expected.Contains((sbyte)-1)) padded++;
                if (expected.Any(v => v > 0)) labelled++;
            }
        }
        Assert.True(padded > 0, "no patch was padded");
        Assert.True(labelled > 0, "no patch held a label");
    }

    [Fact]
    public async Task A_uint8_label_above_127_is_an_error_naming_the_case_never_a_wrapped_label()
    {
        var cases = Synthetic.Dataset(_dir, 3, [12, 22, 20]);
        var bad = cases[1];
        for (int i = 0; i < bad.Seg.Length; i++)
            if (bad.Seg[i] == 2) bad.Seg[i] = 200;
        Synthetic.Write(_dir, bad);
        foreach (var c in cases) Index(c.Name);
        using var ds = PatchDataset.FromFolder(_dir);
        var e = await Assert.ThrowsAsync<DatasetCaseException>(() => Collect<sbyte>(ds, Options(20)));
        Assert.Equal(bad.Name + ".mla", e.CaseId);
        Assert.Contains("[0, 200]", e.Message, StringComparison.Ordinal);
        Assert.Contains("SByte", e.Message, StringComparison.Ordinal);
        // int16 batches hold it.
        var wide = await Collect<short>(ds, Options(20));
        Assert.Contains(wide, b => b.Seg.Contains((short)200));
    }

    [Fact]
    public async Task Class_locations_written_with_the_labels_out_of_order_still_give_the_largest_label()
    {
        // Another writer (Python, a script) may list the classes in any order: label 200 first must still be seen.
        var cases = Synthetic.Dataset(_dir, 2, [12, 22, 20]);
        var bad = cases[0];
        for (int i = 0; i < bad.Seg.Length; i++)
            if (bad.Seg[i] == 2) bad.Seg[i] = 200;
        Synthetic.Write(_dir, bad);
        foreach (var c in cases) Index(c.Name);
        string segPath = Path.Combine(_dir, bad.Name + "_seg.mla");
        ClassLocationsRecord record;
        using (var f = MLArrayFile.Open(segPath)) record = ClassLocations.Read(f)!.ToRecord();
        Assert.Equal([1L, 200], record.Classes.Select(c => c.Label));
        var reversed = record with { Classes = [.. record.Classes.Reverse()] };
        using (var f = MLArrayFile.Open(segPath, MLArrayMode.ReadWrite))
        {
            var meta = f.Meta;
            f.Meta = meta with { Extra = new MetaDict(meta.Extra.Entries.Where(e => e.Key != ClassLocations.ExtraKey)
                .Append(new KeyValuePair<string, MetaValue>(ClassLocations.ExtraKey, reversed.ToMetaValue()))) };
            f.Flush();
        }
        using (var f = MLArrayFile.Open(segPath))
            Assert.Equal([1L, 200], ClassLocations.Read(f)!.Labels);
        using var ds = PatchDataset.FromFolder(_dir);
        var e = await Assert.ThrowsAsync<DatasetCaseException>(() => Collect<sbyte>(ds, Options(20)));
        Assert.Equal(bad.Name + ".mla", e.CaseId);
        Assert.Contains("[0, 200]", e.Message, StringComparison.Ordinal);

        // The same label listed twice is refused.
        var twice = record with { Classes = [.. record.Classes, record.Classes[0]] };
        using (var f = MLArrayFile.Open(segPath, MLArrayMode.ReadWrite))
        {
            var meta = f.Meta;
            f.Meta = meta with { Extra = new MetaDict(meta.Extra.Entries.Where(x => x.Key != ClassLocations.ExtraKey)
                .Append(new KeyValuePair<string, MetaValue>(ClassLocations.ExtraKey, twice.ToMetaValue()))) };
            f.Flush();
        }
        using (var f = MLArrayFile.Open(segPath))
            Assert.Contains("label 1 twice", Assert.Throws<ClassLocationsException>(() => ClassLocations.Read(f)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Labels_nothing_tells_are_an_error_unless_meta_stats_give_their_range()
    {
        var cases = Synthetic.Dataset(_dir, 2, [12, 22, 20]); // uint8, not indexed
        using (var ds = PatchDataset.FromFolder(_dir))
        {
            var e = await Assert.ThrowsAsync<DatasetCaseException>(() => Collect<sbyte>(ds, Options(2) with { ForegroundFraction = 0 }));
            Assert.Contains("mlarray index", e.Message, StringComparison.Ordinal);
            Assert.Contains("uint8", e.Message, StringComparison.Ordinal);
        }

        // The same labels with meta.stats min/max: in range passes, out of range (a stats max of 130) fails.
        foreach (var (max, fits) in new[] { (2.0, true), (130.0, false) })
        {
            foreach (var c in cases)
            {
                var meta = new MLArrayMeta { IsSeg = true, Stats = new MetaStatistics { Min = 0, Max = max } };
                using var s = MLArrayFile.FromArray(c.Seg, c.Shape, new MLArrayCreateOptions { Spacing = Synthetic.Spacing, Layout = LayoutOptions.Patch([8, 16, 16]), Meta = meta });
                s.Save(Path.Combine(_dir, c.Name + "_seg.mla"));
            }
            using var ds = PatchDataset.FromFolder(_dir);
            var options = Options(4) with { ForegroundFraction = 0 };
            if (fits)
            {
                var batches = await Collect<sbyte>(ds, options);
                Assert.Equal(4, batches.Count);
                Assert.Contains(batches, b => b.Seg.Contains((sbyte)1) || b.Seg.Contains((sbyte)2));
            }
            else
            {
                var e = await Assert.ThrowsAsync<DatasetCaseException>(() => Collect<sbyte>(ds, options));
                Assert.Contains("meta.stats", e.Message, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task Signed_labels_need_stats_to_narrow_since_class_locations_list_only_positive_labels()
    {
        var c = Synthetic.Make("case_0000", [12, 22, 20], 3);
        Synthetic.Write(_dir, c, withSeg: false);
        var labels = c.Seg.Select(v => (short)v).ToArray();
        using (var s = MLArrayFile.FromArray(labels, c.Shape, new MLArrayCreateOptions { Spacing = Synthetic.Spacing, Meta = new MLArrayMeta { IsSeg = true } }))
            s.Save(Path.Combine(_dir, "case_0000_seg.mla"));
        Index("case_0000");
        using var ds = PatchDataset.FromFolder(_dir);
        var e = await Assert.ThrowsAsync<DatasetCaseException>(() => Collect<sbyte>(ds, Options(2)));
        Assert.Equal("case_0000.mla", e.CaseId);
        Assert.Contains("int16", e.Message, StringComparison.Ordinal);
        Assert.Contains("meta.stats min and max", e.Message, StringComparison.Ordinal);
        Assert.Equal(2, (await Collect<short>(ds, Options(2))).Count);
    }

    [Fact]
    public void A_segmentation_pad_value_the_batch_type_cannot_hold_is_refused()
    {
        Synthetic.Dataset(_dir, 1, [12, 22, 20], int8Seg: true);
        using var ds = PatchDataset.FromFolder(_dir);
        var e = Assert.Throws<ArgumentException>(() => new PatchLoader<float, byte>(ds, Options()));
        Assert.Contains("-1", e.Message, StringComparison.Ordinal);
        Assert.Contains("Byte", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new PatchLoader<float, sbyte>(ds, Options() with { SegmentationPadValue = 300 }));
        Assert.Throws<ArgumentException>(() => new PatchLoader<float, short>(ds, Options() with { SegmentationPadValue = 0.5 }));
        using (new PatchLoader<float, byte>(ds, Options() with { SegmentationPadValue = 255 })) { }
        using (new PatchLoader<float, byte>(ds, Options() with { SegmentationPadMode = PadMode.None, PatchSize = [8, 16, 16], ReadPatchSize = null })) { }
    }
}
