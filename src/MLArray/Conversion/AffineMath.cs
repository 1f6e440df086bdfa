
namespace MLArray.Conversion;

/// <summary>The matrix maths of the converter: affines ↔ spacing/origin/direction, axis reversal, LPS ↔ RAS.</summary>
internal static class AffineMath
{
    /// <summary>Spacing (column norms), origin and direction (normalised columns) of an (n+1)² affine.</summary>
    internal static (double[] Spacing, double[] Origin, double[,] Direction) Decompose(double[,] a)
    {
        int n = a.GetLength(0) - 1;
        var s = new double[n];
        var o = new double[n];
        var d = new double[n, n];
        for (int j = 0; j < n; j++)
        {
            double sum = 0;
            for (int i = 0; i < n; i++) sum += a[i, j] * a[i, j];
            s[j] = Math.Sqrt(sum);
            for (int i = 0; i < n; i++) d[i, j] = s[j] > 0 ? a[i, j] / s[j] : i == j ? 1 : 0;
            if (!(s[j] > 0)) s[j] = 1;
        }

        for (int i = 0; i < n; i++) o[i] = a[i, n];
        return (s, o, d);
    }

    /// <summary>The matrix with rows and columns reversed.</summary>
    internal static double[,] Reverse(double[,] m)
    {
        int r = m.GetLength(0), c = m.GetLength(1);
        var x = new double[r, c];
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++) x[i, j] = m[r - 1 - i, c - 1 - j];
        return x;
    }

    /// <summary>
    /// The (ns+1)² affine with its first two world rows (x, y) negated, restricted or padded to <paramref name="size"/>
    /// spatial axes: LPS ↔ RAS. The last column (translation) of the source is <c>a[i, ns]</c>.
    /// </summary>
    /// <param name="a">An (ns+1)² affine.</param>
    /// <param name="size">Spatial axes of the result (the result is (size+1)², identity where <paramref name="a"/> has none).</param>
    /// <param name="flip">Negate the x and y rows.</param>
    internal static double[,] FlipXY(double[,] a, int size, bool flip = true)
    {
        int ns = a.GetLength(0) - 1;
        var r = new double[size + 1, size + 1];
        for (int i = 0; i <= size; i++) r[i, i] = 1;
        int m = Math.Min(ns, size);
        for (int i = 0; i < m; i++)
        {
            double sign = flip && i < 2 ? -1 : 1;
            for (int j = 0; j < m; j++) r[i, j] = sign * a[i, j];
            r[i, size] = sign * a[i, ns];
        }

        return r;
    }

    /// <summary>
    /// The voxel axis closest to each of the first three world axes of <paramref name="m"/> (columns = voxel axes, at
    /// least 3×3): greedy largest cosine, as nibabel's <c>io_orientation</c> for non-degenerate matrices, and whether the
    /// voxel axis runs against the world axis.
    /// </summary>
    internal static (int[] AxisOf, bool[] Flip) ClosestAxes(double[,] m)
    {
        var axisOf = new int[3];
        var flip = new bool[3];
        var usedW = new bool[3];
        var usedV = new bool[3];
        var norms = new double[3];
        for (int v = 0; v < 3; v++) norms[v] = Math.Sqrt((m[0, v] * m[0, v]) + (m[1, v] * m[1, v]) + (m[2, v] * m[2, v]));
        for (int step = 0; step < 3; step++)
        {
            double best = -1;
            int bw = 0, bv = 0;
            for (int w = 0; w < 3; w++)
            {
                for (int v = 0; v < 3; v++)
                {
                    if (usedW[w] || usedV[v]) continue;
                    double c = Math.Abs(m[w, v]) / (norms[v] > 0 ? norms[v] : 1);
                    if (c > best)
                    {
                        best = c;
                        bw = w;
                        bv = v;
                    }
                }
            }

            usedW[bw] = usedV[bv] = true;
            axisOf[bw] = bv;
            flip[bw] = m[bw, bv] < 0;
        }

        return (axisOf, flip);
    }
}
