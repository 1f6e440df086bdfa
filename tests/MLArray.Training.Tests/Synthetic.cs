using MLArray.Metadata;

namespace MLArray.Training.Tests;

/// <summary>Small synthetic CT-like datasets: int16 images (air −1000, a body ellipsoid, noise) and uint8/int8
/// segmentations of known blobs, written as real .mla files with a multi-chunk layout.</summary>
internal static class Synthetic
{
    public sealed record CaseData(string Name, long[] Shape, short[] Image, byte[] Seg);

    public static string TempDir(string tag)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"mla-train-{tag}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>An image with a body ellipsoid and noise, and a segmentation with <paramref name="blobs"/> spheres
    /// (label 1 and 2 alternating) at seeded positions.</summary>
    public static CaseData Make(string name, long[] shape, int seed, int blobs = 2)
    {
        var rng = new Random(seed);
        long n = shape.Aggregate(1L, (a, b) => a * b);
        var img = new short[n];
        var seg = new byte[n];
        var centres = new (double z, double y, double x, double r, byte label)[blobs];
        for (int b = 0; b < blobs; b++)
            centres[b] = (Inner(rng, shape[0], 2), Inner(rng, shape[1], 3), Inner(rng, shape[2], 3), 1.5 + rng.NextDouble() * 2.5, (byte)(b % 2 + 1));
        long i = 0;
        for (int z = 0; z < shape[0]; z++)
            for (int y = 0; y < shape[1]; y++)
                for (int x = 0; x < shape[2]; x++, i++)
                {
                    double ey = (y - shape[1] / 2.0) / (shape[1] * 0.45), ex = (x - shape[2] / 2.0) / (shape[2] * 0.45);
                    bool body = ey * ey + ex * ex < 1;
                    short v = (short)((body ? 40 : -1000) + rng.Next(-20, 21));
                    foreach (var c in centres)
                    {
                        double dz = z - c.z, dy = y - c.y, dx = x - c.x;
                        if (dz * dz + dy * dy + dx * dx <= c.r * c.r)
                        {
                            seg[i] = c.label;
                            v = (short)(150 + 100 * c.label + rng.Next(-10, 11));
                        }
                    }
                    img[i] = v;
                }
        return new CaseData(name, shape, img, seg);
    }

    private static int Inner(Random rng, long size, int margin) =>
        size > 2 * margin ? rng.Next(margin, (int)size - margin) : rng.Next(0, (int)size);

    public static readonly double[] Spacing = [2.0, 0.8, 0.8];

    /// <summary>Writes NAME.mla and NAME_seg.mla (seg as uint8, or int8 when <paramref name="int8Seg"/>).</summary>
    public static void Write(string dir, CaseData c, int[]? patch = null, bool int8Seg = false, bool withSeg = true)
    {
        var layout = LayoutOptions.Patch(patch ?? [8, 16, 16]);
        using (var f = MLArrayFile.FromArray(c.Image, c.Shape, new MLArrayCreateOptions { Spacing = Spacing, Layout = layout }))
            f.Save(Path.Combine(dir, c.Name + ".mla"));
        if (!withSeg) return;
        var segOptions = new MLArrayCreateOptions { Spacing = Spacing, Layout = layout, Meta = new MLArrayMeta { IsSeg = true } };
        if (int8Seg)
        {
            using var s = MLArrayFile.FromArray(c.Seg.Select(v => (sbyte)v).ToArray(), c.Shape, segOptions);
            s.Save(Path.Combine(dir, c.Name + "_seg.mla"));
        }
        else
        {
            using var s = MLArrayFile.FromArray(c.Seg, c.Shape, segOptions);
            s.Save(Path.Combine(dir, c.Name + "_seg.mla"));
        }
    }

    /// <summary>Computes the class locations of the segmentation at <paramref name="segPath"/> and stores them in it.</summary>
    public static void Index(string segPath)
    {
        Data.ClassLocations locations;
        using (var f = MLArrayFile.Open(segPath)) locations = Data.ClassLocations.Compute(f);
        locations.Store(segPath);
    }

    /// <summary>Makes and writes <paramref name="count"/> cases case_0000… into <paramref name="dir"/>.</summary>
    public static List<CaseData> Dataset(string dir, int count, long[] shape, int seed = 1, bool int8Seg = false)
    {
        var list = new List<CaseData>();
        for (int k = 0; k < count; k++)
        {
            var c = Make($"case_{k:D4}", shape, seed * 1000 + k);
            Write(dir, c, int8Seg: int8Seg);
            list.Add(c);
        }
        return list;
    }

    /// <summary>
    /// NumPy-style padded crop computed element by element from the whole array (independent of PatchReader):
    /// C-order array of <paramref name="shape"/>, box [start, start + size) on every axis, constant or edge.
    /// </summary>
    public static T[] Crop<T>(T[] whole, long[] shape, long[] start, long[] size, bool edge, T pad)
    {
        int n = shape.Length;
        long count = size.Aggregate(1L, (a, b) => a * b);
        var result = new T[count];
        var idx = new long[n];
        for (long k = 0; k < count; k++)
        {
            long rem = k, off = 0;
            bool outside = false;
            for (int d = n - 1; d >= 0; d--)
            {
                idx[d] = rem % size[d];
                rem /= size[d];
            }
            for (int d = 0; d < n; d++)
            {
                long c = start[d] + idx[d];
                if (c < 0 || c >= shape[d])
                {
                    outside = true;
                    c = Math.Clamp(c, 0, shape[d] - 1);
                }
                off = off * shape[d] + c;
            }
            result[k] = outside && !edge ? pad : whole[off];
        }
        return result;
    }
}
