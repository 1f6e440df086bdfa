using MLArray.Training.Data;

namespace MLArray.Cli.Tests.Cli;

/// <summary><c>--shard I/N</c> of <c>convert</c> (batch) and <c>index</c>: a disjoint, complete and stable partition of the sorted inputs.</summary>
public sealed class ShardTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-cli-shard-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string MakeInputs(int count)
    {
        string inDir = Path.Combine(_dir, "in");
        Directory.CreateDirectory(inDir);
        for (int k = 0; k < count; k++)
        {
            var data = Enumerable.Range(0, 3 * 4 * 5).Select(i => (float)(i * k)).ToArray();
            using var f = MLArrayFile.FromArray(data, [3, 4, 5]);
            f.Save(Path.Combine(inDir, $"case_{k:D2}.mla"));
        }
        return inDir;
    }

    private static string[] Outputs(string dir) => Directory.Exists(dir) ? Directory.GetFiles(dir).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray() : [];

    [Fact]
    public void Convert_shards_are_disjoint_cover_all_inputs_and_are_stable()
    {
        string inDir = MakeInputs(7);
        var all = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            string outDir = Path.Combine(_dir, $"out{i}");
            var r = CliRun.Run("convert", inDir, outDir, "--to", "nrrd", "--shard", $"{i}/3");
            Assert.True(r.Code == 0, r.Err + r.Out);
            Assert.Contains($"shard {i}/3: {(i == 0 ? 3 : 2)} of 7 inputs", r.Out, StringComparison.Ordinal);
            all.AddRange(Outputs(outDir));
        }
        Assert.Equal(7, all.Count);
        Assert.Equal(7, all.Distinct().Count());
        Assert.Equal(Enumerable.Range(0, 7).Select(k => $"case_{k:D2}.nrrd"), all.Order(StringComparer.Ordinal));
        // Shard k mod N of the sorted names, whatever the order of the arguments.
        Assert.Equal(["case_01.nrrd", "case_04.nrrd"], Outputs(Path.Combine(_dir, "out1")));
        var files = Directory.GetFiles(inDir).OrderByDescending(f => f, StringComparer.Ordinal).ToArray();
        var again = CliRun.Run(["convert", .. files, Path.Combine(_dir, "again"), "--to", "nrrd", "--shard", "1/3"]);
        Assert.True(again.Code == 0, again.Err);
        Assert.Equal(Outputs(Path.Combine(_dir, "out1")), Outputs(Path.Combine(_dir, "again")));

        var empty = CliRun.Run("convert", Path.Combine(inDir, "case_00.mla"), Path.Combine(inDir, "case_01.mla"), Path.Combine(_dir, "empty"), "--to", "nrrd", "--shard", "2/3");
        Assert.Equal(0, empty.Code);
        Assert.Contains("shard 2/3: 0 of 2 inputs", empty.Out, StringComparison.Ordinal);
        Assert.Empty(Outputs(Path.Combine(_dir, "empty")));
    }

    [Theory]
    [InlineData("3/3", "must be in 0..2")]
    [InlineData("-1/3", "must be I/N")]
    [InlineData("1/0", "at least 1")]
    [InlineData("a/b", "must be I/N")]
    [InlineData("2", "must be I/N")]
    public void Bad_shard_values_are_refused_before_any_work(string spec, string message)
    {
        string inDir = MakeInputs(2);
        string outDir = Path.Combine(_dir, "out");
        var r = CliRun.Run("convert", inDir, outDir, "--to", "nrrd", "--shard", spec);
        Assert.Equal(CliApp.InvalidInput, r.Code);
        Assert.Contains(message, r.Err, StringComparison.Ordinal);
        Assert.Empty(Outputs(outDir));
        var idx = CliRun.Run("index", inDir, "--shard", spec);
        Assert.Equal(CliApp.InvalidInput, idx.Code);
        Assert.Contains(message, idx.Err, StringComparison.Ordinal);
        var single = CliRun.Run("convert", Path.Combine(inDir, "case_00.mla"), Path.Combine(_dir, "one.npy"), "--shard", "0/2");
        Assert.Equal(CliApp.InvalidInput, single.Code);
        Assert.Contains("applies to batch conversion", single.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Index_shards_partition_the_segmentations()
    {
        string ds = Path.Combine(_dir, "ds");
        Directory.CreateDirectory(ds);
        long[] shape = [6, 8, 8];
        for (int k = 0; k < 5; k++)
        {
            var img = new short[6 * 8 * 8];
            var seg = new byte[img.Length];
            for (int i = 0; i < seg.Length; i++)
                seg[i] = (byte)(i % 8 < 3 && i / 64 == k % 6 ? 1 : 0);
            using (var f = MLArrayFile.FromArray(img, shape))
                f.Save(Path.Combine(ds, $"case_{k:D4}.mla"));
            using (var f = MLArrayFile.FromArray(seg, shape))
                f.Save(Path.Combine(ds, $"case_{k:D4}_seg.mla"));
        }
        bool[] Indexed() => Enumerable.Range(0, 5).Select(k =>
        {
            using var f = MLArrayFile.Open(Path.Combine(ds, $"case_{k:D4}_seg.mla"));
            return ClassLocations.IsStored(f);
        }).ToArray();

        var r0 = CliRun.Run("index", ds, "--shard", "0/2");
        Assert.True(r0.Code == 0, r0.Err);
        Assert.Contains("shard 0/2: 3 of 5 segmentations", r0.Out, StringComparison.Ordinal);
        Assert.Contains("indexed 3, skipped 0", r0.Out, StringComparison.Ordinal);
        Assert.Equal([true, false, true, false, true], Indexed());
        var r1 = CliRun.Run("index", ds, "--shard", "1/2");
        Assert.Contains("indexed 2, skipped 0", r1.Out, StringComparison.Ordinal);
        Assert.All(Indexed(), Assert.True);
        Assert.Contains("indexed 0, skipped 3", CliRun.Run("index", ds, "--shard", "0/2").Out, StringComparison.Ordinal);
    }
}
