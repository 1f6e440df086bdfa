
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
}
