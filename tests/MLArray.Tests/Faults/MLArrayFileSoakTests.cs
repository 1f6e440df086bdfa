using MLArray.Blosc2;

namespace MLArray.Tests.Faults;

/// <summary>8 threads slicing one open <see cref="MLArrayFile"/> (iteration count, no timing) against a serial decode.</summary>
public sealed class MLArrayFileSoakTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-soak-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(MLArrayMode.Read)]
    [InlineData(MLArrayMode.ReadWrite)]
    public void Eight_threads_of_random_patches_match_the_serial_decode(MLArrayMode mode)
    {
        string path = Path.Combine(_dir, "s.mla");
        long[] shape = [40, 48, 56];
        var values = Enumerable.Range(0, 40 * 48 * 56).Select(i => (float)Math.Sin(i * 0.001) * 100 + i % 7).ToArray();
        using (var img = MLArrayFile.FromArray(values, shape, new MLArrayCreateOptions { Layout = LayoutOptions.Patch([16]) }))
            img.Save(path);
        using var f = MLArrayFile.Open(path, mode);
        float[] serial = f.ToArray<float>();
        Assert.Equal(values, serial);
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var threads = Enumerable.Range(0, 8).Select(t => new Thread(() =>
        {
            var rng = new Random(t);
            try
            {
                for (int i = 0; i < 300; i++)
                {
                    long z = rng.Next(40), y = rng.Next(48), x = rng.Next(56);
                    long dz = 1 + rng.Next((int)Math.Min(16, 40 - z)), dy = 1 + rng.Next((int)Math.Min(16, 48 - y)), dx = 1 + rng.Next((int)Math.Min(16, 56 - x));
                    float[] got = f.Read<float>(NdIndex.Slice(z, z + dz), NdIndex.Slice(y, y + dy), NdIndex.Slice(x, x + dx));
                    int k = 0;
                    for (long a = z; a < z + dz; a++)
                        for (long b = y; b < y + dy; b++)
                            for (long c = x; c < x + dx; c++)
                                if (got[k++] != serial[(a * 48 + b) * 56 + c])
                                {
                                    errors.Enqueue($"thread {t} patch {i}: value at ({a},{b},{c}) differs");
                                    return;
                                }
                }
            }
            catch (Exception e)
            {
                errors.Enqueue(e.ToString());
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Empty(errors);
    }
}
