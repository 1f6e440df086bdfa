namespace MLArray.Medical.Nifti;

/// <summary>qform quaternion ↔ affine conversions, following nibabel (<c>quat2mat</c>, <c>fillpositive</c>, <c>set_qform</c>).</summary>
internal static class NiftiAffine
{
    /// <summary>
    /// The qform affine: rotation from the quaternion (b, c, d) with a = sqrt(1 - b² - c² - d²) (0 when negative),
    /// times diag(zooms) with the third zoom multiplied by <paramref name="qfac"/>, translated by the qoffset.
    /// </summary>
    /// <param name="b">quatern_b.</param>
    /// <param name="c">quatern_c.</param>
    /// <param name="d">quatern_d.</param>
    /// <param name="qx">qoffset_x.</param>
    /// <param name="qy">qoffset_y.</param>
    /// <param name="qz">qoffset_z.</param>
    /// <param name="qfac">-1 or 1 (pixdim[0]; anything but -1 counts as 1).</param>
    /// <param name="zooms">The three voxel sizes (already made positive).</param>
    /// <param name="nifti2">Unused precision hint kept for symmetry with nibabel's per-version threshold.</param>
    /// <returns>A new 4×4 matrix.</returns>
    public static double[,] QuaternionToAffine(double b, double c, double d, double qx, double qy, double qz, double qfac, IReadOnlyList<double> zooms, bool nifti2 = false)
    {
        ArgumentNullException.ThrowIfNull(zooms);
        _ = nifti2;
        double w2 = 1.0 - ((b * b) + (c * c) + (d * d));
        double a = w2 < 0 ? 0 : Math.Sqrt(w2);
        double[,] r = QuatToMat(a, b, c, d);
        double[] z = [zooms[0], zooms[1], zooms[2] * (qfac < 0 ? -1 : 1)];
        var m = new double[4, 4];
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                m[i, j] = r[i, j] * z[j];
            }
        }

        m[0, 3] = qx;
        m[1, 3] = qy;
        m[2, 3] = qz;
        m[3, 3] = 1;
        return m;
    }

    /// <summary>nibabel <c>quat2mat</c>: the rotation matrix of a (not necessarily unit) quaternion (w, x, y, z).</summary>
    /// <param name="w">w.</param>
    /// <param name="x">x.</param>
    /// <param name="y">y.</param>
    /// <param name="z">z.</param>
    /// <returns>A new 3×3 matrix (identity for a zero quaternion).</returns>
    public static double[,] QuatToMat(double w, double x, double y, double z)
    {
        double nq = (w * w) + (x * x) + (y * y) + (z * z);
        if (nq < 2.220446049250313e-16)
        {
            return new double[,] { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } };
        }

        double s = 2.0 / nq;
        double xs = x * s, ys = y * s, zs = z * s;
        double wx = w * xs, wy = w * ys, wz = w * zs;
        double xx = x * xs, xy = x * ys, xz = x * zs;
        double yy = y * ys, yz = y * zs, zz = z * zs;
        return new double[,]
        {
            { 1.0 - (yy + zz), xy - wz, xz + wy },
            { xy + wz, 1.0 - (xx + zz), yz - wx },
            { xz - wy, yz + wx, 1.0 - (xx + yy) },
        };
    }

    /// <summary>
    /// nibabel <c>set_qform</c>: zooms = column norms of the 3×3 part, qfac = -1 when the normalised matrix has a
    /// negative determinant (its third column is then flipped), the closest rotation (polar decomposition, shears
    /// stripped) becomes the quaternion with a ≥ 0.
    /// </summary>
    /// <param name="affine">A 4×4 affine.</param>
    /// <returns>quatern_b, quatern_c, quatern_d, qfac and the three zooms.</returns>
    public static (double B, double C, double D, double QFac, double[] Zooms) AffineToQuaternion(double[,] affine)
    {
        ArgumentNullException.ThrowIfNull(affine);
        var r = new double[3, 3];
        var zooms = new double[3];
        for (int j = 0; j < 3; j++)
        {
            double n = Math.Sqrt((affine[0, j] * affine[0, j]) + (affine[1, j] * affine[1, j]) + (affine[2, j] * affine[2, j]));
            zooms[j] = n;
            for (int i = 0; i < 3; i++)
            {
                r[i, j] = n == 0 ? (i == j ? 1 : 0) : affine[i, j] / n;
            }
        }

        double qfac = 1;
        if (Det(r) <= 0)
        {
            qfac = -1;
            for (int i = 0; i < 3; i++)
            {
                r[i, 2] = -r[i, 2];
            }
        }

        double[,] pr = ClosestRotation(r);
        (double w, double x, double y, double z) = MatToQuat(pr);
        return (x, y, z, qfac, zooms);
    }

    /// <summary>Shepperd's method; the result has w ≥ 0 (nibabel's <c>mat2quat</c> sign convention).</summary>
    /// <param name="m">A rotation matrix.</param>
    /// <returns>The unit quaternion (w, x, y, z).</returns>
    public static (double W, double X, double Y, double Z) MatToQuat(double[,] m)
    {
        ArgumentNullException.ThrowIfNull(m);
        double tr = m[0, 0] + m[1, 1] + m[2, 2];
        double w, x, y, z;
        if (tr > 0)
        {
            double s = Math.Sqrt(tr + 1.0) * 2;
            w = 0.25 * s;
            x = (m[2, 1] - m[1, 2]) / s;
            y = (m[0, 2] - m[2, 0]) / s;
            z = (m[1, 0] - m[0, 1]) / s;
        }
        else if (m[0, 0] > m[1, 1] && m[0, 0] > m[2, 2])
        {
            double s = Math.Sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2;
            w = (m[2, 1] - m[1, 2]) / s;
            x = 0.25 * s;
            y = (m[0, 1] + m[1, 0]) / s;
            z = (m[0, 2] + m[2, 0]) / s;
        }
        else if (m[1, 1] > m[2, 2])
        {
            double s = Math.Sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2;
            w = (m[0, 2] - m[2, 0]) / s;
            x = (m[0, 1] + m[1, 0]) / s;
            y = 0.25 * s;
            z = (m[1, 2] + m[2, 1]) / s;
        }
        else
        {
            double s = Math.Sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2;
            w = (m[1, 0] - m[0, 1]) / s;
            x = (m[0, 2] + m[2, 0]) / s;
            y = (m[1, 2] + m[2, 1]) / s;
            z = 0.25 * s;
        }

        double n = Math.Sqrt((w * w) + (x * x) + (y * y) + (z * z));
        if (w < 0)
        {
            n = -n;
        }

        return (w / n, x / n, y / n, z / n);
    }

    /// <summary>The orthogonal polar factor of a non-singular 3×3 matrix (Newton iteration X ← (X + X⁻ᵀ)/2).</summary>
    /// <param name="m">The matrix.</param>
    /// <returns>The closest orthogonal matrix (identity if <paramref name="m"/> is singular).</returns>
    public static double[,] ClosestRotation(double[,] m)
    {
        ArgumentNullException.ThrowIfNull(m);
        var x = (double[,])m.Clone();
        for (int iter = 0; iter < 100; iter++)
        {
            double det = Det(x);
            if (Math.Abs(det) < 1e-300)
            {
                return new double[,] { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } };
            }

            // inverse transpose = cofactor matrix / det
            var next = new double[3, 3];
            double diff = 0;
            for (int i = 0; i < 3; i++)
            {
                for (int j = 0; j < 3; j++)
                {
                    int i1 = (i + 1) % 3, i2 = (i + 2) % 3, j1 = (j + 1) % 3, j2 = (j + 2) % 3;
                    double cof = (x[i1, j1] * x[i2, j2]) - (x[i1, j2] * x[i2, j1]);
                    next[i, j] = 0.5 * (x[i, j] + (cof / det));
                    diff = Math.Max(diff, Math.Abs(next[i, j] - x[i, j]));
                }
            }

            x = next;
            if (diff < 1e-15)
            {
                break;
            }
        }

        return x;
    }

    private static double Det(double[,] a) =>
        (a[0, 0] * ((a[1, 1] * a[2, 2]) - (a[1, 2] * a[2, 1])))
        - (a[0, 1] * ((a[1, 0] * a[2, 2]) - (a[1, 2] * a[2, 0])))
        + (a[0, 2] * ((a[1, 0] * a[2, 1]) - (a[1, 1] * a[2, 0])));
}
