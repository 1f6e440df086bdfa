using MLArray.Training.Data;
using MLArray.Training.Sampling;
using Xunit.Abstractions;

namespace MLArray.Training.Tests;

[CollectionDefinition("allocation", DisableParallelization = true)]
public sealed class AllocationCollection;

[Collection("allocation")]
public sealed class AllocationTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Synthetic.TempDir("alloc");

    public void Dispose() => Directory.Delete(_dir, true);

    // MLArrayFile.Read itself allocates per call today (~1.4 KB per box read: selection and chunk bookkeeping in the
    // core). The loader's own steady state must add at most a few hundred bytes per batch on top of those reads
    // (no batch buffers, no per-patch arrays); the exact numbers are printed.
    [Fact]
    public async Task Steady_state_allocates_no_batch_memory()
    {
        var cases = Synthetic.Dataset(_dir, 4, [16, 32, 32]);
        foreach (var c in cases)
        {
            string seg = Path.Combine(_dir, c.Name + "_seg.mla");
            ClassLocations l;
            using (var f = MLArrayFile.Open(seg)) l = ClassLocations.Compute(f);
            l.Store(seg);
        }
        using var ds = PatchDataset.FromFolder(_dir);
        using var loader = new PatchLoader<float, short>(ds, new PatchLoaderOptions { PatchSize = [12, 20, 20], BatchSize = 2, Workers = 2, PrefetchDepth = 2, Seed = 1 });
        int n = 0;
        long before = 0;
        const int Warmup = 40, Measured = 100;
        await foreach (var b in loader)
        {
            b.Dispose();
            n++;
            if (n == Warmup) before = GC.GetTotalAllocatedBytes(precise: true);
            if (n == Warmup + Measured) break;
        }
        long perBatch = (GC.GetTotalAllocatedBytes(precise: true) - before) / Measured;
        long core = CoreBytesPerRead(Path.Combine(_dir, "case_0000.mla"));
        long overhead = perBatch - 4 * core; // 2 samples × (image + segmentation)
        output.WriteLine($"allocated per batch: {perBatch} bytes; MLArrayFile.Read: {core} bytes per read; loader overhead: {overhead} bytes per batch");
        Assert.InRange(overhead, -1024, 1024);
        Assert.Equal(0, loader.BuffersOutstanding);
        Assert.True(loader.BuffersCreated <= 2 + 2 + 1, $"{loader.BuffersCreated} batch buffers");
    }

    private static long CoreBytesPerRead(string path)
    {
        using var f = MLArrayFile.Open(path);
        f.DecodeThreads = 1;
        var dest = new short[12 * 20 * 20];
        var sel = new[] { NdIndex.Slice(2, 14), NdIndex.Slice(5, 25), NdIndex.Slice(6, 26) };
        for (int i = 0; i < 10; i++) f.Read<short>(sel, dest);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) f.Read<short>(sel, dest);
        return (GC.GetAllocatedBytesForCurrentThread() - before) / 100;
    }
}

