using MLArray.Layout;
using MLArray.Training.Inference;
using MLArray.Training.Sampling;

namespace MLArray.Training.Tests;

/// <summary>float16 images read into float32 batches (exact widening, padding included); float16 prediction output.</summary>
public sealed class Float16Tests : IDisposable
{
    private readonly string _dir = Synthetic.TempDir("float16");

    public void Dispose() => Directory.Delete(_dir, true);

    [Theory]
    [InlineData(new long[] { 2, 3, 4 }, new long[] { 8, 9, 10 })]   // inside
    [InlineData(new long[] { -3, 10, 5 }, new long[] { 9, 12, 20 })] // padded
    public void Float16_image_patches_read_as_float32(long[] start, long[] size)
    {
        long[] shape = [14, 17, 19];
        var values = Enumerable.Range(0, 14 * 17 * 19).Select(i => (Half)((i % 1000) * 0.125 - 40)).ToArray();
        string path = Path.Combine(_dir, "h.mla");
        using (var f = MLArrayFile.FromArray(values, shape, new MLArrayCreateOptions { Layout = LayoutOptions.Patch(8, 8, 8) }))
            f.Save(path);
        using var file = MLArrayFile.Open(path);
        var array = new CaseArray(file);
        long n = size.Aggregate(1L, (a, b) => a * b);
        var got = new float[n];
        new PatchReader().Read(array, start, size, got, PadMode.Constant, -1f);
        long k = 0;
        for (long z = start[0]; z < start[0] + size[0]; z++)
            for (long y = start[1]; y < start[1] + size[1]; y++)
                for (long x = start[2]; x < start[2] + size[2]; x++, k++)
                {
                    bool inside = z >= 0 && z < shape[0] && y >= 0 && y < shape[1] && x >= 0 && x < shape[2];
                    float expected = inside ? (float)values[(z * shape[1] + y) * shape[2] + x] : -1f;
                    Assert.Equal(expected, got[k]);
                }
    }

    [Fact]
    public void Logits_can_be_written_as_float16()
    {
        var grid = new GridSampler([12, 10], [8, 8], 0.5);
        string p32 = Path.Combine(_dir, "l32.mla"), p16 = Path.Combine(_dir, "l16.mla");
        foreach (var (path, half) in new[] { (p32, false), (p16, true) })
        {
            using var asm = new PatchAssembler(path, grid, 2, new PatchAssemblerOptions { Output = AssembledOutput.Logits, Float16 = half });
            Assert.Equal(half ? DType.Float16 : DType.Float32, asm.OutputDType);
            foreach (var p in grid)
                asm.Add(p, Enumerable.Range(0, 2 * 64).Select(i => (float)Math.Sin(i * 0.1 + p.Index) * 300).ToArray());
            asm.Complete();
        }
        using var f32 = MLArrayFile.Open(p32);
        using var f16 = MLArrayFile.Open(p16);
        Assert.Equal(DType.Float16, f16.DType);
        Assert.Equal(f32.Shape, f16.Shape);
        // the float16 file holds the float32 result rounded to nearest
        Assert.Equal(f32.ToArray<float>().Select(v => (Half)v), f16.ToArray<Half>());
    }
}
