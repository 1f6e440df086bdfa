namespace MLArray.Training.Inference;

/// <summary>
/// nnU-Net's importance map for blending sliding-window tiles: a Gaussian centred on voxel ⌊size/2⌋ of each axis with
/// σ = size·<c>sigmaScale</c> (default 1/8), truncated at 4σ as a discrete filter is (radius ⌊4σ + 0.5⌋), scaled so that
/// its maximum is 1; zero weights (outside the truncation radius) are raised to the smallest non-zero weight, so every
/// voxel of a tile counts.
/// </summary>
/// <remarks>
/// nnU-Net builds the map by Gaussian-filtering a unit impulse (scipy <c>gaussian_filter</c>, mode constant) and
/// dividing by the maximum. The filter is separable and its kernel normalisation cancels in that division, so the map
/// equals the product over axes of exp(−d²/(2σ²)) for offsets d within the radius, which is what is computed here
/// (in double, stored as float; the product's smallest value for σ = size/8 is e^(−8·n) ≈ 3.8·10⁻¹¹ in 3-D, well inside float).
/// </remarks>
public static class GaussianImportance
{
    /// <summary>The map for a tile of <paramref name="patchSize"/>, in C order.</summary>
    /// <exception cref="ArgumentException">Non-positive sizes or scale.</exception>
    public static float[] Compute(IReadOnlyList<int> patchSize, double sigmaScale = 1.0 / 8)
    {
        ArgumentNullException.ThrowIfNull(patchSize);
        if (patchSize.Count == 0 || patchSize.Any(p => p < 1))
            throw new ArgumentException($"patch sizes must be positive, got ({string.Join(", ", patchSize)}).", nameof(patchSize));
        if (!(sigmaScale > 0))
            throw new ArgumentException($"sigmaScale must be positive, got {sigmaScale}.", nameof(sigmaScale));
        int n = patchSize.Count;
        var axes = new double[n][];
        long total = 1;
        for (int d = 0; d < n; d++)
        {
            int size = patchSize[d];
            double sigma = size * sigmaScale;
            int radius = (int)(4 * sigma + 0.5);
            int center = size / 2;
            axes[d] = new double[size];
            for (int i = 0; i < size; i++)
            {
                int off = i - center;
                axes[d][i] = Math.Abs(off) <= radius ? Math.Exp(-0.5 * off * off / (sigma * sigma)) : 0;
            }
            total = checked(total * size);
        }
        var map = new float[total];
        Span<int> idx = stackalloc int[n];
        float minPositive = float.MaxValue;
        for (long k = 0; k < total; k++)
        {
            double w = 1;
            for (int d = 0; d < n; d++) w *= axes[d][idx[d]];
            float f = (float)w;
            map[k] = f;
            if (f > 0 && f < minPositive) minPositive = f;
            for (int d = n - 1; d >= 0; d--)
            {
                if (++idx[d] < patchSize[d]) break;
                idx[d] = 0;
            }
        }
        for (long k = 0; k < total; k++)
            if (map[k] == 0) map[k] = minPositive;
        return map;
    }
}
