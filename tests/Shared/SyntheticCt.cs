using MLArray.Medical.Nifti;

namespace MLArray.TestSupport;

/// <summary>Synthetic CT-like volumes written as NIfTI, for conversion tests that need a large input of known voxels.</summary>
internal static class SyntheticCt
{
    /// <summary>A CT-like int16 volume (air, a noisy soft-tissue ellipsoid, a bone shell) as .nii.gz; returns its voxels.</summary>
    public static short[] Write(string path, int nx, int ny, int nz, uint seed)
    {
        var v = new short[nx * ny * nz];
        uint s = seed;
        for (int z = 0; z < nz; z++)
        {
            for (int y = 0; y < ny; y++)
            {
                for (int x = 0; x < nx; x++)
                {
                    double dx = (x - (nx / 2.0)) / (nx * 0.42), dy = (y - (ny / 2.0)) / (ny * 0.36), dz = (z - (nz / 2.0)) / (nz * 0.45);
                    double r = Math.Sqrt((dx * dx) + (dy * dy) + (dz * dz));
                    s = (s * 1664525) + 1013904223;
                    int noise = (int)(s >> 27) - 16;
                    v[x + (nx * (y + (ny * z)))] = (short)(r > 1 ? -1000 + (noise / 4) : r > 0.9 ? 700 + (noise * 3) : 40 + noise);
                }
            }
        }

        var affine = new double[,] { { -0.8, 0, 0, 100 }, { 0, -0.8, 0, 120 }, { 0, 0, 1.5, -80 }, { 0, 0, 0, 1 } };
        var bytes = new byte[v.Length * 2];
        Buffer.BlockCopy(v, 0, bytes, 0, bytes.Length);
        Nifti.Write(path, NiftiImage.Create(bytes, DType.Int16, [nx, ny, nz], affine));
        return v;
    }
}
