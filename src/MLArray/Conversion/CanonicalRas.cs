using MLArray.Kernels;
using MLArray.Metadata;

namespace MLArray.Conversion;

/// <summary>The reference's later layout (<c>--canonical ras</c>): the volume reoriented to the closest RAS+ orientation, XYZ order, a RAS affine.</summary>
internal static class CanonicalRas
{
    /// <summary>
    /// Reorients file-order data (first axis fastest) with a 4×4 RAS affine over its first three axes to the closest
    /// RAS+ orientation (greedy largest-cosine axis matching, as nibabel's <c>io_orientation</c> for non-degenerate
    /// affines) and stores it in XYZ(T…) C order with the affine and coord_system "RAS+".
    /// </summary>
    internal static MLArrayFile Build(byte[] fileData, DType dtype, long[] fileShape, double[,] ras, MLArrayCreateOptions opts, MedicalToMLArrayOptions options)
    {
        int n = fileShape.Length;
        if (n < 3) throw new MLArrayNotSupportedException("--canonical ras needs at least three spatial axes.");
        // world axis w ← voxel axis vOf[w] with sign
        var (vOf, flip) = AffineMath.ClosestAxes(ras);

        // output C axes: x, y, z, then file axes 3.. ; each maps to a file axis
        int[] src = [.. vOf, .. Enumerable.Range(3, n - 3)];
        bool[] flips = [.. flip, .. Enumerable.Repeat(false, n - 3)];
        long[] outShape = src.Select(a => fileShape[a]).ToArray();
        // File order is C order over the reversed file shape: file axis a is C axis n-1-a.
        long[] cShape = [.. fileShape.Reverse()];
        int[] perm = src.Select(a => n - 1 - a).ToArray();
        byte[] outData = AxisPermutation.Permute(fileData, cShape, perm, dtype.ItemSize, flips);

        // new affine: new index i_w → old voxel index (flipped) → world
        var a4 = new double[4, 4];
        a4[3, 3] = 1;
        for (int r = 0; r < 3; r++)
        {
            double t = ras[r, 3];
            for (int w = 0; w < 3; w++)
            {
                double col = ras[r, vOf[w]];
                a4[r, w] = flip[w] ? -col : col;
                if (flip[w]) t += col * (fileShape[vOf[w]] - 1);
            }

            for (int w = 0; w < 3; w++)
            {
                double rounded = Math.Round(a4[r, w]);
                if (Math.Abs(a4[r, w] - rounded) < 1e-6) a4[r, w] = rounded;
            }

            a4[r, 3] = Math.Abs(t - Math.Round(t)) < 1e-6 ? Math.Round(t) : t;
        }

        string[] labels = [.. (string[])["spatial_x", "spatial_y", "spatial_z"], .. Enumerable.Range(3, n - 3).Select(a => a == 3 ? "temporal" : "channel")];
        var meta = (opts.Meta ?? new MLArrayMeta()) is var m0 ? m0 with { Spatial = m0.Spatial with { CoordSystem = CoordSystem.RasPlus } } : null;
        var o2 = opts with { Spacing = null, Origin = null, Direction = null, Affine = a4, AxisLabels = labels, Meta = meta };
        return MLArrayFile.FromBytes(outData, outShape, dtype, ImportPlanner.Configure(o2, options, dtype, outShape));
    }
}
