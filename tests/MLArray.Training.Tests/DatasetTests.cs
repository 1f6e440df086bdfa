using MLArray.Training.Sampling;
using MLArray.Training.Data;

namespace MLArray.Training.Tests;

public sealed class DatasetTests : IDisposable
{
    private readonly string _dir = Synthetic.TempDir("dataset");

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Folder_pairs_images_with_segmentations_by_the_naming_rule()
    {
        Synthetic.Dataset(_dir, 3, [6, 8, 8]);
        Synthetic.Write(_dir, Synthetic.Make("noseg", [6, 8, 8], 9), withSeg: false);
        using var ds = PatchDataset.FromFolder(_dir);
        Assert.Equal(["case_0000.mla", "case_0001.mla", "case_0002.mla", "noseg.mla"], ds.Cases.Select(c => c.Id));
        Assert.EndsWith("case_0001_seg.mla", ds.Cases[1].SegmentationPath, StringComparison.Ordinal);
        Assert.Null(ds.Cases[3].SegmentationPath);
        using var glob = PatchDataset.FromGlob(Path.Combine(_dir, "case_*.mla"));
        Assert.Equal(3, glob.Count);
        Assert.Throws<DatasetCaseException>(() => PatchDataset.FromFolder(_dir, new DatasetOptions { RequireSegmentation = true }));
    }

    [Fact]
    public void An_orphan_segmentation_is_an_error_naming_it_never_silently_left_out()
    {
        Synthetic.Dataset(_dir, 2, [6, 8, 8]);
        var orphan = Synthetic.Make("lost", [6, 8, 8], 7);
        Synthetic.Write(_dir, orphan);
        File.Delete(Path.Combine(_dir, "lost.mla")); // lost_seg.mla stays, without its image
        var e = Assert.Throws<ArgumentException>(() => PatchDataset.FromFolder(_dir));
        Assert.Contains("lost_seg.mla (no lost.mla)", e.Message, StringComparison.Ordinal);
        Assert.Contains("explicitly", e.Message, StringComparison.Ordinal);
        var g = Assert.Throws<ArgumentException>(() => PatchDataset.FromGlob(Path.Combine(_dir, "*.mla")));
        Assert.Contains("lost_seg.mla", g.Message, StringComparison.Ordinal);
        // A glob that leaves the orphan out is explicit about it, as is a list.
        using (var glob = PatchDataset.FromGlob(Path.Combine(_dir, "case_*.mla")))
            Assert.Equal(2, glob.Count);
        File.Move(Path.Combine(_dir, "lost_seg.mla"), Path.Combine(_dir, "lost.mla"));
        using var ds = PatchDataset.FromFolder(_dir);
        Assert.Equal(["case_0000.mla", "case_0001.mla", "lost.mla"], ds.Cases.Select(c => c.Id));
    }

    [Fact]
    public void Under_a_custom_suffix_default_named_segmentations_and_orphans_are_errors()
    {
        var c = Synthetic.Make("a", [6, 8, 8], 3);
        Synthetic.Write(_dir, c); // a.mla + a_seg.mla
        var options = new DatasetOptions { SegmentationSuffix = "_label" };
        var e = Assert.Throws<ArgumentException>(() => PatchDataset.FromFolder(_dir, options));
        Assert.Contains("a_seg.mla", e.Message, StringComparison.Ordinal);
        Assert.Contains("'_label'", e.Message, StringComparison.Ordinal);
        File.Move(Path.Combine(_dir, "a_seg.mla"), Path.Combine(_dir, "a_label.mla"));
        File.Copy(Path.Combine(_dir, "a_label.mla"), Path.Combine(_dir, "b_label.mla"));
        var o = Assert.Throws<ArgumentException>(() => PatchDataset.FromFolder(_dir, options));
        Assert.Contains("b_label.mla (no b.mla)", o.Message, StringComparison.Ordinal);
        File.Delete(Path.Combine(_dir, "b_label.mla"));
        File.WriteAllText(Path.Combine(_dir, "notes.txt"), "not a case"); // other files are not read
        using var ds = PatchDataset.FromFolder(_dir, options);
        Assert.Equal(["a.mla"], ds.Cases.Select(x => x.Id));
        Assert.EndsWith("a_label.mla", ds.Cases[0].SegmentationPath, StringComparison.Ordinal);
    }

    [Fact]
    public void Lru_cache_of_200_cases_with_capacity_8_never_holds_more_than_8()
    {
        Synthetic.Dataset(_dir, 200, [2, 4, 4]);
        using var ds = PatchDataset.FromFolder(_dir, new DatasetOptions { CacheCapacity = 8 });
        var rng = new Random(5);
        for (int i = 0; i < 600; i++)
        {
            using var lease = ds.Acquire(i < 200 ? i : rng.Next(200));
            Assert.Equal(lease.Info.Id, ds.Cases[i < 200 ? i : lease.Case.Index].Id);
            Assert.True(ds.OpenCount <= 8, $"{ds.OpenCount} open");
        }
        Assert.Equal(8, ds.PeakOpenCount);
    }

    [Fact]
    public void Evicted_case_in_use_is_closed_only_when_released()
    {
        Synthetic.Dataset(_dir, 4, [4, 6, 6]);
        using var ds = PatchDataset.FromFolder(_dir, new DatasetOptions { CacheCapacity = 1 });
        var held = ds.Acquire(0);
        using (ds.Acquire(1)) { }  // evicts case 0 from the cache while it is leased
        using (ds.Acquire(2)) { }
        var data = held.Image.Read<short>(0..2, 0..2, 0..2); // still readable
        Assert.Equal(8, data.Length);
        Assert.Equal(2, ds.OpenCount);
        held.Dispose();
        Assert.Equal(1, ds.OpenCount);
        Assert.Throws<ObjectDisposedException>(() => held.Image.Read<short>(0..2, 0..2, 0..2));
    }

    [Fact]
    public void Cache_is_thread_safe_under_parallel_leases()
    {
        Synthetic.Dataset(_dir, 30, [2, 4, 4]);
        using var ds = PatchDataset.FromFolder(_dir, new DatasetOptions { CacheCapacity = 4 });
        Parallel.For(0, 2000, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            using var lease = ds.Acquire(i * 7 % 30);
            Assert.Equal(32, lease.Image.Read<short>(.., .., ..).Length);
        });
        Assert.True(ds.OpenCount <= 4);
    }

    [Fact]
    public void Mismatched_shape_geometry_or_float_segmentation_names_both_files()
    {
        var a = Synthetic.Make("a", [4, 6, 6], 1);
        Synthetic.Write(_dir, a);
        using (var s = MLArrayFile.FromArray(new byte[4 * 6 * 5], [4, 6, 5], new MLArrayCreateOptions { Spacing = Synthetic.Spacing }))
            s.Save(Path.Combine(_dir, "a_seg.mla"));
        using (var ds = PatchDataset.FromFolder(_dir))
        {
            var e = Assert.Throws<DatasetCaseException>(() => ds.Acquire(0));
            Assert.Contains("a.mla", e.Message, StringComparison.Ordinal);
            Assert.Contains("a_seg.mla", e.Message, StringComparison.Ordinal);
            Assert.Contains("spatial shapes", e.Message, StringComparison.Ordinal);
        }
        using (var s = MLArrayFile.FromArray(new byte[4 * 6 * 6], [4, 6, 6], new MLArrayCreateOptions { Spacing = [2.0, 0.8, 0.9] }))
            s.Save(Path.Combine(_dir, "a_seg.mla"));
        using (var ds = PatchDataset.FromFolder(_dir))
            Assert.Contains("geometry", Assert.Throws<DatasetCaseException>(() => ds.Acquire(0)).Message, StringComparison.Ordinal);
        using (var s = MLArrayFile.FromArray(new float[4 * 6 * 6], [4, 6, 6], new MLArrayCreateOptions { Spacing = Synthetic.Spacing }))
            s.Save(Path.Combine(_dir, "a_seg.mla"));
        using (var ds = PatchDataset.FromFolder(_dir))
            Assert.Contains("integer labels", Assert.Throws<DatasetCaseException>(() => ds.Acquire(0)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unlabelled_image_with_one_more_axis_than_its_segmentation_has_leading_channels()
    {
        // nnU-Net's (c, z, y, x) written without axis labels (e.g. converted from a .npy): 2 channels of 6×8×10
        long[] spatial = [6, 8, 10];
        var rng = new Random(3);
        var image = new short[2 * 6 * 8 * 10];
        for (int i = 0; i < image.Length; i++) image[i] = (short)rng.Next(-500, 500);
        var seg = new byte[6 * 8 * 10];
        seg[(3 * 8 + 4) * 10 + 5] = 1;
        using (var f = MLArrayFile.FromArray(image, [2, .. spatial])) f.Save(Path.Combine(_dir, "c.mla"));
        using (var f = MLArrayFile.FromArray(seg, spatial)) f.Save(Path.Combine(_dir, "c_seg.mla"));
        using (var ds = PatchDataset.FromFolder(_dir))
        using (var loader = new PatchLoader<float, short>(ds, new PatchLoaderOptions { PatchSize = [4, 4, 4], BatchSize = 1, BatchCount = 3, Seed = 5 }))
        {
            int batches = 0;
            foreach (var batch in loader.ToBlockingEnumerable())
                using (batch)
                {
                    batches++;
                    Assert.Equal([1L, 2, 4, 4, 4], batch.ImageShape.ToArray());
                    long[] start = batch.Samples[0].Start.ToArray();
                    var expected = new List<float>();
                    for (int c = 0; c < 2; c++)
                        expected.AddRange(Synthetic.Crop(image.Skip(c * 480).Take(480).ToArray(), spatial, start, [4, 4, 4], edge: false, (short)0).Select(v => (float)v));
                    Assert.Equal(expected, batch.Image.ToArray());
                }
            Assert.Equal(3, batches);
        }

        // one more axis that does not end in the segmentation's shape: still an error, which says how to label channels
        using (var f = MLArrayFile.FromArray(image, [6, 8, 10, 2])) f.Save(Path.Combine(_dir, "c.mla"));
        using (var ds = PatchDataset.FromFolder(_dir))
        {
            var e = Assert.Throws<DatasetCaseException>(() => ds.Acquire(0));
            Assert.Contains("spatial shapes", e.Message, StringComparison.Ordinal);
            Assert.Contains("--axis-labels", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Empty_folder_and_missing_file_are_specific_errors()
    {
        Assert.Contains("no cases", Assert.Throws<ArgumentException>(() => PatchDataset.FromFolder(_dir)).Message, StringComparison.Ordinal);
        using var ds = PatchDataset.FromCases([new CaseInfo("gone.mla", Path.Combine(_dir, "gone.mla"), null)]);
        var e = Assert.Throws<DatasetCaseException>(() => ds.Acquire(0));
        Assert.Equal("gone.mla", e.CaseId);
    }

    [Fact]
    public void Manifest_pins_cases_and_seeded_folds()
    {
        Synthetic.Dataset(_dir, 10, [2, 4, 4]);
        string manifest = Path.Combine(_dir, "dataset.json");
        using (var ds = PatchDataset.FromFolder(_dir)) ds.WriteManifest(manifest, folds: 3, seed: 7);
        string first = File.ReadAllText(manifest);
        using (var ds = PatchDataset.FromFolder(_dir)) ds.WriteManifest(manifest, folds: 3, seed: 7);
        Assert.Equal(first, File.ReadAllText(manifest));
        var vals = new List<string>();
        for (int f = 0; f < 3; f++)
        {
            using var train = PatchDataset.FromManifest(manifest, f, DatasetSubset.Train);
            using var val = PatchDataset.FromManifest(manifest, f, DatasetSubset.Validation);
            Assert.Equal(10, train.Count + val.Count);
            Assert.Empty(train.Cases.Select(c => c.Id).Intersect(val.Cases.Select(c => c.Id)));
            vals.AddRange(val.Cases.Select(c => c.Id));
            using var lease = val.Acquire(0);
            Assert.NotNull(lease.Segmentation);
        }
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"case_{i:D4}.mla").Order(), vals.Order());
        using var all = PatchDataset.Open(_dir);   // folder with dataset.json → the manifest
        Assert.Equal(10, all.Count);
    }
}
