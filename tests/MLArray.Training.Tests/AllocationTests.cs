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

    // Steady state: batch buffers come from the pool, patches are decoded straight into them (no per-patch arrays),
    // and MLArrayFile's span reads allocate nothing; what is left per batch is rare bookkeeping (a new epoch's case
    // order reuses its array). Patches straddle the border (padding) and cases change every sample.
    [Fact]
    public async Task Steady_state_allocates_nothing_per_batch()
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
        // Three windows of 200 batches; the least of them is the steady state (GC counters are process-wide, so the
        // JIT's background compilations and other tests' threads can add to one window, never take away).
        const int Warmup = 100, Window = 200, Windows = 3;
        var perWindow = new List<double>();
        int n = 0;
        long before = 0;
        await foreach (var b in loader)
        {
            b.Dispose();
            n++;
            if (n >= Warmup && (n - Warmup) % Window == 0)
            {
                long now = GC.GetTotalAllocatedBytes(precise: true);
                if (n > Warmup) perWindow.Add((now - before) / (double)Window);
                before = now;
            }
            if (n == Warmup + (Window * Windows)) break;
        }
        double perBatch = perWindow.Min();
        long core = CoreBytesPerRead(Path.Combine(_dir, "case_0000.mla"));
        output.WriteLine($"allocated per batch: {perBatch:F1} bytes (windows: {string.Join(", ", perWindow.Select(w => w.ToString("F1", System.Globalization.CultureInfo.InvariantCulture)))}); MLArrayFile.Read into a span: {core} bytes per read");
        Assert.Equal(0, core);
        Assert.True(perBatch < 64, $"{perBatch:F1} bytes allocated per batch in steady state");
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

