using MLArray.Blosc2;
using MLArray.Remote;
using MLArray.TestSupport;

namespace MLArray.Tests.Remote;

/// <summary>The local disk cache of remote reads, over a real nginx: reuse across opens, invalidation, bound, torn entries.</summary>
public sealed class DiskCacheTests(NginxServer nginx) : IClassFixture<NginxServer>, IDisposable
{
    private static string BigLocal => Path.GetFullPath(Path.Combine(MlaCorpus.Dir, "..", "blosc2", "mlarray_big_f4_volume_lz4hc8.mla"));

    private readonly string _dir = Directory.CreateTempSubdirectory("mla-diskcache-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static NdIndex[][] Patches(long[] shape, int count) =>
        Enumerable.Range(0, count).Select(i => shape.Select(n =>
        {
            long size = Math.Min(32, n), start = (n - size) * i / Math.Max(1, count - 1);
            return NdIndex.Slice(start, start + size);
        }).ToArray()).ToArray();

    private static async Task<(long Requests, float[][] Values, long Bytes)> ReadAll(Uri url, RemoteDiskCache cache, NdIndex[][] patches)
    {
        using var remote = await B2ndArray.OpenAsync(url, options: new RemoteReadOptions { DiskCache = cache });
        var values = patches.Select(p => remote.Read<float>(p)).ToArray();
        return (remote.RemoteSource!.Traffic.Requests, values, remote.RemoteSource.Traffic.Bytes);
    }

    [Fact]
    public async Task A_second_open_reads_from_disk_and_a_replaced_object_invalidates_its_entries()
    {
        string served = Path.Combine(nginx.Root, "cache", "case.mla");
        var url = nginx.Serve(BigLocal, "cache/case.mla");
        using var local = B2ndArray.Open(BigLocal);
        var patches = Patches(local.Shape, 6);
        var expected = patches.Select(p => local.Read<float>(p)).ToArray();

        var (first, v1, _) = await ReadAll(url, new RemoteDiskCache(Path.Combine(_dir, "c")), patches);
        Assert.True(first > 2, $"{first} requests");
        Assert.Equal(expected, v1);
        // A new cache object on the same folder (another process, the next epoch): only the 2 opening requests.
        var (second, v2, _) = await ReadAll(url, new RemoteDiskCache(Path.Combine(_dir, "c")), patches);
        Assert.Equal(2, second);
        Assert.Equal(expected, v2);

        // The object is replaced (other content, new ETag): its old entries are dropped and the data is fetched again.
        string changedLocal = Path.Combine(_dir, "changed.mla");
        using (var src = B2ndArray.Open(BigLocal))
        {
            var all = src.ToArray<float>();
            for (int i = 0; i < all.Length; i++)
                all[i] += 1;
            B2ndWriter.Write(changedLocal, System.Runtime.InteropServices.MemoryMarshal.AsBytes(all.AsSpan()), src.Shape, DType.Float32,
                new B2ndWriteOptions { ChunkShape = src.ChunkShape, BlockShape = src.BlockShape });
        }
        File.Copy(changedLocal, served, overwrite: true);
        File.SetLastWriteTimeUtc(served, DateTime.UtcNow.AddMinutes(5));
        using var newLocal = B2ndArray.Open(changedLocal);
        var (third, v3, _) = await ReadAll(url, new RemoteDiskCache(Path.Combine(_dir, "c")), patches);
        Assert.True(third > 2, $"{third} requests: the stale entries were used");
        Assert.Equal(patches.Select(p => newLocal.Read<float>(p)).ToArray(), v3);
        Assert.Single(Directory.GetDirectories(Directory.GetDirectories(Path.Combine(_dir, "c")).Single()));
    }

    [Fact]
    public async Task The_folder_stays_under_its_bound_and_torn_entries_are_ignored()
    {
        var url = nginx.Serve(BigLocal, "cache/bounded.mla");
        using var local = B2ndArray.Open(BigLocal);
        var patches = Patches(local.Shape, 8);
        var cache = new RemoteDiskCache(Path.Combine(_dir, "b"), maxBytes: 1 << 20);
        var (_, values, fetched) = await ReadAll(url, cache, patches);
        Assert.True(fetched > 2 * cache.MaxBytes, $"only {fetched} bytes fetched: the bound is not exercised");
        Assert.Equal(patches.Select(p => local.Read<float>(p)).ToArray(), values);
        long kept = cache.CountBytes();
        Assert.InRange(kept, 1, 1 << 20);

        // The data file cut short (as a torn write or a full disk would leave it) and a torn index record: the ranges
        // past the cut are ignored, the bytes come from the server, exact.
        var torn = new RemoteDiskCache(Path.Combine(_dir, "t"));
        await ReadAll(url, torn, patches);
        string data = Directory.GetFiles(torn.Directory, "data", SearchOption.AllDirectories).Single();
        using (var f = new FileStream(data, FileMode.Open))
            f.SetLength(f.Length / 2);
        File.AppendAllText(Path.Combine(Path.GetDirectoryName(data)!, "index"), "torn");
        var (requests, again, _) = await ReadAll(url, new RemoteDiskCache(Path.Combine(_dir, "t")), patches);
        Assert.True(requests > 2);
        Assert.Equal(patches.Select(p => local.Read<float>(p)).ToArray(), again);
        // The ranges fetched again were recorded after the torn record: a third open needs only its 2 requests.
        var (third, _, _) = await ReadAll(url, new RemoteDiskCache(Path.Combine(_dir, "t")), patches);
        Assert.Equal(2, third);
    }
}
