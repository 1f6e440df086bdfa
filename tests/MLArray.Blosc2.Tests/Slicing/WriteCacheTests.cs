using System.Runtime.InteropServices;
namespace MLArray.Blosc2.Tests.Slicing;

/// <summary>
/// The write-back cache of arrays from <see cref="B2ndArray.Create"/>: partial chunks are compressed once, the file
/// switches to the written content at Flush/Dispose (never before, never torn), reads through the instance see every
/// write, and plane-by-plane assembly leaves no dead space.
/// </summary>
public sealed class WriteCacheTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-wcache-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly B2ndWriteOptions Options = new()
    {
        ChunkShape = [10, 16, 16],
        BlockShape = [5, 8, 8],
        Compression = new CompressionParams { Codec = Blosc2Codec.LZ4HC, CLevel = 8, Filters = CompressionParams.Pipeline(Blosc2Filter.Shuffle) },
    };

    private static readonly long[] Shape = [23, 40, 36];

    private static float[] Volume()
    {
        var v = new float[Shape[0] * Shape[1] * Shape[2]];
        for (int i = 0; i < v.Length; i++)
            v[i] = MathF.Sin(i * 0.001f) * 100 + (i % 7);
        return v;
    }

    private static ReadOnlySpan<byte> Plane(float[] v, long z) =>
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan((int)(z * Shape[1] * Shape[2]), (int)(Shape[1] * Shape[2])));

    [Fact]
    public void Plane_by_plane_writes_give_the_volume_and_the_size_of_one_whole_write()
    {
        var v = Volume();
        string whole = Path.Combine(_dir, "whole.mla"), planes = Path.Combine(_dir, "planes.mla");
        using (var a = B2ndArray.Create(whole, Shape, DType.Float32, Options))
            a.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()));
        using (var a = B2ndArray.Create(planes, Shape, DType.Float32, Options))
        {
            for (long z = 0; z < Shape[0]; z++)
                a.Write([z], Plane(v, z));
            Assert.Equal(0, a.CachedChunks); // every chunk was completed, compressed and appended once
        }
        using var w = B2ndArray.Open(whole);
        using var p = B2ndArray.Open(planes);
        Assert.Equal(v, p.ToArray<float>());
        Assert.Equal(w.CBytes, p.CBytes); // the same chunks, compressed once each: no dead space
        Assert.InRange(new FileInfo(planes).Length, 1, new FileInfo(whole).Length * 105 / 100);
    }

    [Fact]
    public void The_file_switches_to_cached_writes_at_flush_and_reads_of_the_instance_see_them_before()
    {
        var v = Volume();
        string path = Path.Combine(_dir, "flush.mla");
        using var a = B2ndArray.Create(path, Shape, DType.Float32, Options);
        for (long z = 0; z < 3; z++)
            a.Write([z], Plane(v, z));
        Assert.True(a.CachedChunks > 0);
        using (var other = B2ndArray.Open(path)) // another handle: the file as created (all zeros)
            Assert.All(other.ToArray<float>(), x => Assert.Equal(0f, x));
        var expected = new float[v.Length];
        Array.Copy(v, expected, 3 * Shape[1] * Shape[2]);
        Assert.Equal(expected, a.ToArray<float>(threads: 1)); // this instance sees its writes
        Assert.Equal(0, a.CachedChunks); // the read wrote them back (appended, not yet committed)
        using (var other = B2ndArray.Open(path))
            Assert.All(other.ToArray<float>(), x => Assert.Equal(0f, x));
        a.Flush();
        using (var other = B2ndArray.Open(path))
            Assert.Equal(expected, other.ToArray<float>());
    }

    [Fact]
    public void Eviction_under_a_small_bound_keeps_the_content_exact()
    {
        var v = Volume();
        var rng = new Random(5);
        string path = Path.Combine(_dir, "evict.mla");
        var model = new float[v.Length];
        using (var a = B2ndArray.Create(path, Shape, DType.Float32, Options))
        {
            a.WriteCacheLimit = 2 * 10 * 16 * 16 * 4; // two chunks
            for (int i = 0; i < 40; i++)
            {
                // random boxes, overlapping, in random order
                long z0 = rng.Next(0, 23), y0 = rng.Next(0, 40), x0 = rng.Next(0, 36);
                long z1 = rng.Next((int)z0 + 1, 24), y1 = rng.Next((int)y0 + 1, 41), x1 = rng.Next((int)x0 + 1, 37);
                var box = new float[(z1 - z0) * (y1 - y0) * (x1 - x0)];
                int k = 0;
                for (long z = z0; z < z1; z++)
                    for (long y = y0; y < y1; y++)
                        for (long x = x0; x < x1; x++)
                            model[(z * 40 + y) * 36 + x] = box[k++] = rng.NextSingle();
                a.Write([NdIndex.Slice(z0, z1), NdIndex.Slice(y0, y1), NdIndex.Slice(x0, x1)],
                    System.Runtime.InteropServices.MemoryMarshal.AsBytes(box.AsSpan()));
                Assert.InRange(a.CachedChunks, 0, 2); // evicted down to half the bound whenever a write goes over it
            }
        }
        using var r = B2ndArray.Open(path);
        Assert.Equal(model, r.ToArray<float>());
    }

    [Fact]
    public void Saving_a_reopened_file_with_dead_bytes_drops_them_and_an_unchanged_tight_file_is_copied_exactly()
    {
        string path = Path.Combine(_dir, "dead.b2nd");
        var v = Volume();
        B2ndWriter.Write(path, MemoryMarshal.AsBytes(v.AsSpan()), Shape, DType.Float32, Options);
        byte[] tight = File.ReadAllBytes(path);
        using (var a = B2ndArray.Open(path))
        {
            using var copy = new MemoryStream();
            a.Save(copy);
            Assert.Equal(tight, copy.ToArray());
        }
        // An in-place write to an opened file (not from Create) appends the new payload: the old one is dead space.
        var plane = new float[Shape[1] * Shape[2]];
        Array.Fill(plane, -1f);
        using (var a = B2ndArray.Open(path, B2ndOpenMode.ReadWrite))
            a.Write([NdIndex.At(3)], MemoryMarshal.AsBytes(plane.AsSpan()));
        v.AsSpan(3 * plane.Length, plane.Length).Fill(-1f);
        long withDead = new FileInfo(path).Length;
        Assert.True(withDead > tight.Length, $"an in-place write leaves dead bytes ({withDead} vs {tight.Length})");
        using (var a = B2ndArray.Open(path))
        {
            using var saved = new MemoryStream();
            a.Save(saved);
            Assert.True(saved.Length < withDead, $"the saved copy drops the dead bytes ({saved.Length} vs {withDead})");
            using var back = B2ndArray.Open(saved.ToArray(), "saved.b2nd");
            Assert.Equal(v, MemoryMarshal.Cast<byte, float>(back.ReadBytes()).ToArray());
        }
    }
}
