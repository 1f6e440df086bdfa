using MLArray.Blosc2;

namespace MLArray.TestSupport;

/// <summary>Files and checks shared by the object-store tests (S3, Azure, CLI).</summary>
internal static class RemoteTestFiles
{
    /// <summary>The corpus volume (4.6 MB, many chunks) copied from the reference corpus.</summary>
    public static string Big => Path.GetFullPath(Path.Combine(MlaCorpus.Dir, "..", "blosc2", "mlarray_big_f4_volume_lz4hc8.mla"));

    /// <summary>A corpus image with standardized metadata (spacing, origin...).</summary>
    public static string WithMeta => MlaCorpus.PathOf("head_ct_int16_lps.mla");

    /// <summary>
    /// Writes an incompressible float32 <c>.mla</c> of about <paramref name="megabytes"/> MB (random values, fixed seed)
    /// into <paramref name="dir"/>: larger than a multipart part size.
    /// </summary>
    public static string Incompressible(string dir, int megabytes, string name = "incompressible.mla", int seed = 7)
    {
        long z = megabytes * (1L << 20) / (4 * 128 * 128) + 1;
        var rng = new Random(seed);
        var data = new float[z * 128 * 128];
        for (int i = 0; i < data.Length; i++)
            data[i] = (float)rng.NextDouble();
        string path = Path.Combine(dir, name);
        using var img = MLArrayFile.FromArray(data, [z, 128, 128]);
        img.Save(path);
        return path;
    }

    /// <summary>Random 3-D patches (at most 48 per axis) within <paramref name="shape"/>, fixed seed.</summary>
    public static IEnumerable<NdIndex[]> Patches(long[] shape, int count, int seed = 1234)
    {
        var rng = new Random(seed);
        for (int p = 0; p < count; p++)
        {
            var sel = new NdIndex[shape.Length];
            for (int d = 0; d < shape.Length; d++)
            {
                long size = Math.Min(48, shape[d]);
                long start = rng.NextInt64(0, shape[d] - size + 1);
                sel[d] = NdIndex.Slice(start, start + size);
            }
            yield return sel;
        }
    }
}
