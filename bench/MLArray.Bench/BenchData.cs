namespace MLArray.Bench;

internal static class BenchData
{
    /// <summary>The corpus volume the performance targets are stated for (float32 128×192×160, LZ4HC 8, shuffle).</summary>
    public static string Volume()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null)
        {
            var p = Path.Combine(dir.FullName, "tests", "data", "blosc2", "mlarray_big_f4_volume_lz4hc8.mla");
            if (File.Exists(p)) return p;
            dir = dir.Parent;
        }
        throw new FileNotFoundException("tests/data/blosc2/mlarray_big_f4_volume_lz4hc8.mla not found above " + AppContext.BaseDirectory);
    }
}
