using MLArray.Blosc2;
using MLArray.Layout;
using MLArray.Metadata;

namespace MLArray.Tests.Api;

/// <summary>The README's "MLArray API" example, compiled and run (same code, in a temporary folder).</summary>
public sealed class ReadmeApiExampleTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-readme-api-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Readme_api_example_runs()
    {
        string path = Path.Combine(_dir, "ct.mla");
        float[] ct = Enumerable.Range(0, 64 * 128 * 96).Select(i => (float)(i % 1000)).ToArray();
        using (var img = MLArrayFile.FromArray(ct, [64, 128, 96], new MLArrayCreateOptions
        {
            Spacing = [2.5, 0.8, 0.8],
            Origin = [-100, 20.5, 30],
            AxisLabels = ["spatial_z", "spatial_y", "spatial_x"],
            Meta = new MLArrayMeta { Source = new MetaDict([new("patient_id", MetaValue.From("p-001"))]), IsSeg = false },
            Layout = LayoutOptions.Patch(64),
        }))
            img.Save(path);

        using (var img = MLArrayFile.Open(path, MLArrayMode.ReadWrite))
        {
            float[] patch = img.Read<float>(0..32, 10..74, ^64..);
            Assert.Equal(32 * 64 * 64, patch.Length);
            Assert.Equal(ct[10 * 96 + 32], patch[0]);
            img.Write<float>([NdIndex.At(0)], new float[128 * 96]);
            img.Meta = img.Meta with { IsSeg = true };
            double[,] affine = img.Affine!.ToArray();
            Assert.Equal(new double[,] { { 2.5, 0, 0, -100 }, { 0, 0.8, 0, 20.5 }, { 0, 0, 0.8, 30 }, { 0, 0, 0, 1 } }, affine);
        }

        using var copy = MLArrayFile.Load(path);
        Assert.True(copy.Meta.IsSeg);
        Assert.Equal([64L, 64, 64], copy.Meta.Blosc2.PatchSize!);
        Assert.All(copy.Read<float>(0), v => Assert.Equal(0f, v));
        Assert.Equal(ct.AsSpan(128 * 96).ToArray(), copy.Read<float>(1..));
    }
}
