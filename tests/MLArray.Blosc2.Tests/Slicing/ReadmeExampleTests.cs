using System.Runtime.InteropServices;

namespace MLArray.Blosc2.Tests.Slicing;

/// <summary>The README's library example, compiled and run on a corpus file.</summary>
public sealed class ReadmeExampleTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-readme-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Readme_library_example_runs()
    {
        string copy = Path.Combine(_dir, "copy.mla");
        using var a = B2ndArray.Open(TestData.Blosc2("mlarray_big_f4_volume_lz4hc8.mla"));
        float[] voxels = a.ToArray<float>();
        float[] patch = a.Read<float>(10..74, 32..96, ^64..);
        float[] slice = a.Read<float>(-1, .., NdIndex.Slice(0, null, 2));
        Assert.Equal(64 * 64 * 64, patch.Length);
        Assert.Equal(192 * 80, slice.Length);
        Assert.Equal(voxels[(10 * 192 + 32) * 160 + 96], patch[0]);
        Assert.Equal(voxels[127 * 192 * 160 + 2], slice[1]);

        B2ndWriter.Write(copy, MemoryMarshal.AsBytes(voxels.AsSpan()), a.Shape, a.DType,
            new B2ndWriteOptions { ChunkShape = a.ChunkShape, BlockShape = a.BlockShape,
                Compression = new CompressionParams { Codec = Blosc2Codec.LZ4HC, CLevel = 8, Threads = 0 } });
        var newSlab = new float[192 * 160];
        using (var w = B2ndArray.Open(copy, B2ndOpenMode.ReadWrite))
            w.Write([NdIndex.At(5)], MemoryMarshal.AsBytes(newSlab.AsSpan()));
        using var r = B2ndArray.Open(copy);
        Assert.All(r.Read<float>(5), v => Assert.Equal(0f, v));
        Assert.Equal(a.Read<float>(6), r.Read<float>(6));
    }
}
