using System.Numerics;
using MLArray.Metadata;
using MLArray.Training.Data;
using MLArray.Training.Sampling;

namespace MLArray.Training.Tests;

/// <summary>
/// Boolean segmentations (dtype bool, the Python reference's binary masks) are labels 0 and 1 wherever a uint8
/// segmentation works: class locations, foreground and label-weighted sampling, padding, every batch type. Checked
/// against the same masks stored as uint8 0/1 (identical batches for identical seeds) and against crops computed
/// element by element.
/// </summary>
public sealed class BoolSegmentationTests : IDisposable
{
    private readonly string _dir = Synthetic.TempDir("boolseg");

    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly long[] Shape = [12, 22, 20];

    /// <summary>Writes the cases with bool masks into bool/ and the same masks as uint8 0/1 into uint8/, both indexed.</summary>
    private (string Bool, string UInt8, List<Synthetic.CaseData> Cases) Make()
    {
        string b = Path.Combine(_dir, "bool"), u = Path.Combine(_dir, "uint8");
        Directory.CreateDirectory(b);
        Directory.CreateDirectory(u);
        var cases = new List<Synthetic.CaseData>();
        for (int k = 0; k < 4; k++)
        {
            var c = Synthetic.Make($"case_{k:D4}", Shape, 40 + k, blobs: 3);
            var mask = c.Seg.Select(v => (byte)(v > 0 ? 1 : 0)).ToArray();
            c = c with { Seg = mask };
            Synthetic.Write(u, c);
            Synthetic.Write(b, c, withSeg: false);
            var options = new MLArrayCreateOptions { Spacing = Synthetic.Spacing, Layout = LayoutOptions.Patch(8, 16, 16), Meta = new MLArrayMeta { IsSeg = true } };
            using (var f = MLArrayFile.FromArray(mask.Select(v => v == 1).ToArray(), Shape, options))
                f.Save(Path.Combine(b, c.Name + "_seg.mla"));
            cases.Add(c);
        }
        foreach (var dir in new[] { b, u })
            foreach (var c in cases)
                Synthetic.Index(Path.Combine(dir, c.Name + "_seg.mla"));
        return (b, u, cases);
    }

    private static PatchLoaderOptions Options(IReadOnlyDictionary<long, double>? weights = null) => new()
    {
        PatchSize = [8, 16, 16], ReadPatchSize = [10, 20, 18], BatchSize = 3, BatchCount = 8, ForegroundFraction = 0.5, Seed = 11, Workers = 2,
        LabelWeights = weights,
    };

    private static async Task<List<(float[] Image, TSeg[] Seg, (int Case, long[] Start, bool Forced)[] Samples)>> Collect<TSeg>(string dir, PatchLoaderOptions options)
        where TSeg : unmanaged, INumberBase<TSeg>
    {
        using var ds = PatchDataset.FromFolder(dir);
        using var loader = new PatchLoader<float, TSeg>(ds, options);
        var list = new List<(float[], TSeg[], (int, long[], bool)[])>();
        await foreach (var b in loader)
            using (b)
                list.Add((b.Image.ToArray(), b.Segmentation.ToArray(), b.Samples.Select(s => (s.CaseIndex, s.Start.ToArray(), s.ForcedForeground)).ToArray()));
        Assert.Empty(loader.CasesWithoutClassLocations);
        return list;
    }

    [Fact]
    public void Class_locations_of_a_bool_mask_equal_those_of_the_uint8_mask()
    {
        var (b, u, cases) = Make();
        foreach (var c in cases)
        {
            using var fb = MLArrayFile.Open(Path.Combine(b, c.Name + "_seg.mla"));
            using var fu = MLArrayFile.Open(Path.Combine(u, c.Name + "_seg.mla"));
            Assert.Equal(DType.Bool, fb.DType);
            var lb = ClassLocations.Read(fb)!;
            var lu = ClassLocations.Read(fu)!;
            Assert.Equal([1L], lb.Labels);
            Assert.Equal(c.Seg.LongCount(v => v == 1), lb.VoxelCount(0));
            Assert.Equal(lu.ToRecord(), lb.ToRecord());
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // label-weighted
    public async Task Bool_masks_give_the_batches_of_uint8_masks_in_short_and_sbyte(bool weighted)
    {
        var (b, u, cases) = Make();
        var options = Options(weighted ? new Dictionary<long, double> { [0] = 1, [1] = 3 } : null);
        var shortBool = await Collect<short>(b, options);
        var shortU8 = await Collect<short>(u, options);
        var sbyteBool = await Collect<sbyte>(b, options);
        Assert.Equal(shortU8.Count, shortBool.Count);
        int padded = 0, forcedWithFg = 0, forced = 0;
        long per = 10 * 20 * 18;
        for (int k = 0; k < shortBool.Count; k++)
        {
            Assert.Equal(shortU8[k].Image, shortBool[k].Image);
            Assert.Equal(shortU8[k].Seg, shortBool[k].Seg);
            Assert.Equal(shortBool[k].Seg.Select(v => (sbyte)v), sbyteBool[k].Seg);
            for (int i = 0; i < shortBool[k].Samples.Length; i++)
            {
                var (caseIndex, start, isForced) = shortBool[k].Samples[i];
                Assert.Equal(shortU8[k].Samples[i].Start, start);
                var expected = Synthetic.Crop(cases[caseIndex].Seg.Select(v => (short)v).ToArray(), cases[caseIndex].Shape, start, [10, 20, 18], false, (short)-1);
                var got = shortBool[k].Seg.AsSpan((int)(i * per), (int)per).ToArray();
                Assert.Equal(expected, got);
                if (got.Contains((short)-1)) padded++;
                if (isForced)
                {
                    forced++;
                    if (got.Contains((short)1)) forcedWithFg++;
                }
            }
        }
        Assert.True(padded > 0, "no patch was padded");
        Assert.True(forced > 0, "no sample was forced onto foreground");
        Assert.Equal(forced, forcedWithFg); // every forced sample is centred on a mask voxel
    }
}
