using MLArray.Training.Data;
using System.Numerics.Tensors;
using MLArray.Training.Sampling;

namespace MLArray.Training.Tests;

/// <summary>The C# snippet of src/MLArray.Training/README.md (the package's page), run on a real synthetic dataset.</summary>
public sealed class ReadmeSnippetTests : IDisposable
{
    private readonly string _dir = Synthetic.TempDir("readme");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Package_readme_indexes_a_folder_and_trains_on_its_batches()
    {
        var cases = Synthetic.Dataset(_dir, 3, [20, 40, 40]);
        string trainFolder = _dir;
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var token = cts.Token;
        var seen = new List<(int Case, long[] Start, float First)>();

        void Train(TensorSpan<float> image, TensorSpan<short> labels, IReadOnlyList<PatchSample> samples)
        {
            Assert.Equal([2L, 1, 16, 32, 32], image.Lengths.ToArray().Select(l => (long)l));
            Assert.Equal([2L, 1, 16, 32, 32], labels.Lengths.ToArray().Select(l => (long)l));
            for (int s = 0; s < samples.Count; s++)
                seen.Add((samples[s].CaseIndex, samples[s].Start.ToArray(), image[s, 0, 0, 0, 0]));
        }

        // README:begin training-package
        // once per dataset (or `mlarray index DATASET`): nnU-Net's class locations, stored in each segmentation's metadata
        foreach (string segPath in Directory.EnumerateFiles(trainFolder, "*_seg.mla"))
        {
            ClassLocations locations;
            using (var seg = MLArrayFile.Open(segPath))
                locations = ClassLocations.Compute(seg);
            locations.Store(segPath);                                  // rewrites the metadata only
        }

        using var dataset = PatchDataset.FromFolder(trainFolder);     // case_0001.mla + case_0001_seg.mla, ...
        using var loader = new PatchLoader<float, short>(dataset, new PatchLoaderOptions
        {
            PatchSize = [16, 32, 32], BatchSize = 2, BatchCount = 4,   // 4 batches of 2 patches per epoch
            ForegroundFraction = 0.33, Workers = 2, Seed = 7,           // the last ⌈0.33·2⌉ patch of a batch: on a label
        });
        await foreach (var batch in loader.WithCancellation(token))
        {
            using (batch)                                              // returns its buffers to the pool
                Train(batch.ImageTensor, batch.SegmentationTensor, batch.Samples);   // [2, 1, 16, 32, 32]: float32, int16 (−1 outside)
        }
        // README:end

        Assert.Equal(8, seen.Count);
        using var check = PatchDataset.FromFolder(trainFolder);
        for (int i = 0; i < check.Count; i++)
        {
            using var lease = check.Acquire(i);
            Assert.NotNull(lease.ClassLocations);
        }
        foreach (var (caseIndex, start, first) in seen)
        {
            var c = cases[caseIndex];
            bool inside = start.Select((s, a) => s >= 0 && s < c.Shape[a]).All(b => b);
            float expected = inside ? c.Image[(start[0] * c.Shape[1] + start[1]) * c.Shape[2] + start[2]] : 0f;
            Assert.Equal(expected, first);
        }
    }
}
