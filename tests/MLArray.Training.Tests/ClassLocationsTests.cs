using MLArray.Metadata;
using MLArray.Training.Data;

namespace MLArray.Training.Tests;

public sealed class ClassLocationsTests : IDisposable
{
    private readonly string _dir = Synthetic.TempDir("locations");

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Computed_locations_follow_nnunet_rule_and_round_trip_through_the_file()
    {
        var c = Synthetic.Make("a", [20, 40, 36], 4, blobs: 4);
        // A big label-3 slab so the 1 % rule is above 10 000? Too big for a test; instead use a small cap.
        Synthetic.Write(_dir, c);
        string segPath = Path.Combine(_dir, "a_seg.mla");
        ClassLocations computed;
        using (var seg = MLArrayFile.Open(segPath))
        {
            Assert.Null(ClassLocations.Read(seg));
            computed = ClassLocations.Compute(seg, seed: 5, maxPerClass: 50, minFraction: 0.3);
        }
        var counts = c.Seg.Where(v => v > 0).GroupBy(v => (long)v).ToDictionary(g => g.Key, g => (long)g.Count());
        Assert.Equal(counts.Keys.Order(), computed.Labels);
        for (int i = 0; i < computed.Labels.Count; i++)
        {
            long n = counts[computed.Labels[i]];
            Assert.Equal(n, computed.VoxelCount(i));
            Assert.Equal(Math.Max(Math.Min(n, 50), (long)Math.Ceiling(n * 0.3)), computed.CoordinateCount(i));
            var seen = new HashSet<long>();
            for (int k = 0; k < computed.CoordinateCount(i); k++)
            {
                var p = computed.Coordinate(i, k);
                long flat = (p[0] * 40 + p[1]) * 36 + p[2];
                Assert.Equal(computed.Labels[i], c.Seg[flat]);
                Assert.True(seen.Add(flat), "coordinates are distinct");
            }
        }
        long before = new FileInfo(segPath).Length;
        byte[] data;
        using (var seg = MLArrayFile.Open(segPath)) data = seg.ToArray<byte>();
        computed.Store(segPath);
        using (var seg = MLArrayFile.Open(segPath))
        {
            var back = ClassLocations.Read(seg)!;
            Assert.Equal(computed.ToRecord(), back.ToRecord());
            Assert.Equal(data, seg.ToArray<byte>());
            Assert.True(seg.Meta.IsSeg);
            // Python sees a plain dict: the JSON form has the schema's keys.
            string json = seg.Meta.Extra[ClassLocations.ExtraKey]!.ToJson();
            Assert.Contains("\"classes\":[{\"label\":1,\"voxels\":", json, StringComparison.Ordinal);
        }
        Assert.True(new FileInfo(segPath).Length > before);
        // Same seed, same coordinates.
        using (var seg = MLArrayFile.Open(segPath))
            Assert.Equal(computed.ToRecord(), ClassLocations.Compute(seg, seed: 5, maxPerClass: 50, minFraction: 0.3).ToRecord());
    }

    [Fact]
    public void Reading_never_rewrites_the_file()
    {
        Synthetic.Write(_dir, Synthetic.Make("a", [6, 8, 8], 2));
        string segPath = Path.Combine(_dir, "a_seg.mla");
        var bytes = File.ReadAllBytes(segPath);
        using (var ds = PatchDataset.FromFolder(_dir))
        using (var lease = ds.Acquire(0))
            Assert.Null(lease.ClassLocations);
        Assert.Equal(bytes, File.ReadAllBytes(segPath));
    }

    [Fact]
    public void Invalid_stored_locations_are_a_ClassLocationsException()
    {
        Synthetic.Write(_dir, Synthetic.Make("a", [6, 8, 8], 2));
        string segPath = Path.Combine(_dir, "a_seg.mla");
        void Put(MetaValue v)
        {
            using var f = MLArrayFile.Open(segPath, MLArrayMode.ReadWrite);
            f.Meta = f.Meta with { Extra = new MetaDict([new(ClassLocations.ExtraKey, v)]) };
        }
        Put(MetaValue.FromJson("""{"seed": 1, "spatial_shape": [6, 8, 8], "classes": [{"label": 1, "voxels": "many", "coords": []}]}"""));
        using (var f = MLArrayFile.Open(segPath))
            Assert.Contains("voxels", Assert.Throws<ClassLocationsException>(() => ClassLocations.Read(f)).Message, StringComparison.Ordinal);
        Put(MetaValue.FromJson("""{"seed": 1, "spatial_shape": [6, 8, 8], "classes": [{"label": 1, "voxels": 3, "coords": [[5, 9, 0]]}]}"""));
        using (var f = MLArrayFile.Open(segPath))
            Assert.Contains("outside", Assert.Throws<ClassLocationsException>(() => ClassLocations.Read(f)).Message, StringComparison.Ordinal);
        Put(MetaValue.FromJson("""{"seed": 1, "spatial_shape": [6, 8, 9], "classes": []}"""));
        using (var f = MLArrayFile.Open(segPath))
            Assert.Contains("spatial shape", Assert.Throws<ClassLocationsException>(() => ClassLocations.Read(f)).Message, StringComparison.Ordinal);
    }
}
