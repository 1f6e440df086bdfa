using MLArray.TestSupport;
using MLArray.Training.Inference;

namespace MLArray.Onnx.Tests;

/// <summary>The tiny models of tests/data/onnx (see its README.md) and the functions they compute, written independently.</summary>
internal static class OnnxTestData
{
    public static string Model(string name) => OnnxTestModels.PathOf(name);

    /// <summary>make_models.py's conv3_weights: w[o,c,i,j,k] = ((o·7 + c·5 + i·9 + j·3 + k) mod 5 − 2) / 4.</summary>
    public static float Weight(int o, int c, int i, int j, int k) => (((o * 7 + c * 5 + i * 9 + j * 3 + k) % 5) - 2) / 4f;

    /// <summary>
    /// A 3×3×3 cross-correlation (ONNX Conv) of a [channels, Z, Y, X] volume with zero padding at the volume's borders,
    /// one output channel, plus <paramref name="bias"/>; accumulated in double.
    /// </summary>
    public static double[] Conv3(float[] x, int channels, long[] s, double bias)
    {
        long n = s[0] * s[1] * s[2];
        var y = new double[n];
        for (long z = 0; z < s[0]; z++)
            for (long v = 0; v < s[1]; v++)
                for (long u = 0; u < s[2]; u++)
                {
                    double sum = bias;
                    for (int c = 0; c < channels; c++)
                        for (int i = 0; i < 3; i++)
                            for (int j = 0; j < 3; j++)
                                for (int k = 0; k < 3; k++)
                                {
                                    long zz = z + i - 1, vv = v + j - 1, uu = u + k - 1;
                                    if (zz < 0 || vv < 0 || uu < 0 || zz >= s[0] || vv >= s[1] || uu >= s[2]) continue;
                                    sum += Weight(0, c, i, j, k) * x[c * n + (zz * s[1] + vv) * s[2] + uu];
                                }
                    y[(z * s[1] + v) * s[2] + u] = sum;
                }
        return y;
    }

    /// <summary>
    /// Voxels where a sliding-window 3×3×3 conv equals the whole-volume conv exactly: every tile covering the voxel has
    /// its whole receptive field (±1) inside the tile, or the tile's edge there is the image edge (where the tile's zero
    /// padding is the image's zero padding).
    /// </summary>
    public static bool[] ExactConvVoxels(GridSampler grid)
    {
        var s = grid.ImageShape;
        var exact = new bool[s[0] * s[1] * s[2]];
        Array.Fill(exact, true);
        foreach (var p in grid)
        {
            long[] lo = new long[3], hi = new long[3];
            for (int d = 0; d < 3; d++)
            {
                lo[d] = Math.Max(0, p.Start[d]);
                hi[d] = Math.Min(s[d], p.Start[d] + p.Size[d]);
            }
            for (long z = lo[0]; z < hi[0]; z++)
                for (long y = lo[1]; y < hi[1]; y++)
                    for (long x = lo[2]; x < hi[2]; x++)
                    {
                        long[] v = [z, y, x];
                        for (int d = 0; d < 3; d++)
                        {
                            bool lowOk = v[d] - p.Start[d] >= 1 || p.Start[d] <= 0 && v[d] == 0;
                            bool highOk = p.Start[d] + p.Size[d] - 1 - v[d] >= 1 || p.Start[d] + p.Size[d] >= s[d] && v[d] == s[d] - 1;
                            if (!lowOk || !highOk) exact[(z * s[1] + y) * s[2] + x] = false;
                        }
                    }
        }
        return exact;
    }

    public static float[] RandomVolume(int seed, long count, float lo, float hi)
    {
        var rng = new Random(seed);
        var a = new float[count];
        for (long i = 0; i < count; i++) a[i] = lo + (float)rng.NextDouble() * (hi - lo);
        return a;
    }
}
