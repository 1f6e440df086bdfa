namespace MLArray;

/// <summary>Small dense-matrix helpers for geometry checks (direction cosines, affines).</summary>
internal static class MatrixMath
{
    /// <summary>Whether the n×n matrix, its columns normalised to unit length, has |det| below <paramref name="tolerance"/> (a zero or non-finite column counts as singular).</summary>
    internal static bool IsSingular(double[,] m, double tolerance)
    {
        int n = m.GetLength(0);
        var u = new double[n, n];
        for (int j = 0; j < n; j++)
        {
            double norm2 = 0;
            for (int i = 0; i < n; i++)
                norm2 += m[i, j] * m[i, j];
            double norm = Math.Sqrt(norm2);
            if (!(norm > 0) || !double.IsFinite(norm))
                return true;
            for (int i = 0; i < n; i++)
                u[i, j] = m[i, j] / norm;
        }
        return !(Math.Abs(Determinant(u)) >= tolerance);
    }

    /// <summary>The top-left <paramref name="n"/>×<paramref name="n"/> block (an affine's linear part), copied.</summary>
    internal static double[,] Linear(double[,] affine, int n)
    {
        var m = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                m[i, j] = affine[i, j];
        return m;
    }

    /// <summary>Determinant by Gaussian elimination with partial pivoting (n ≤ 16); <paramref name="a"/> is overwritten.</summary>
    internal static double Determinant(double[,] a)
    {
        int n = a.GetLength(0);
        double det = 1;
        for (int c = 0; c < n; c++)
        {
            int p = c;
            for (int r = c + 1; r < n; r++)
                if (Math.Abs(a[r, c]) > Math.Abs(a[p, c])) p = r;
            if (a[p, c] == 0) return 0;
            if (p != c)
            {
                det = -det;
                for (int k = 0; k < n; k++) (a[p, k], a[c, k]) = (a[c, k], a[p, k]);
            }
            det *= a[c, c];
            for (int r = c + 1; r < n; r++)
            {
                double f = a[r, c] / a[c, c];
                for (int k = c; k < n; k++) a[r, k] -= f * a[c, k];
            }
        }
        return det;
    }
}
