using System.Numerics;

namespace MLArray.Layout;

/// <summary>
/// The chunk/block layout heuristic of the Python reference (<c>comp_blosc2_params</c>, mlarray-spec §4.2), reproduced
/// exactly: blocks are the next power of two of the patch, shrunk until they fit the L1 budget; chunks then grow by
/// whole blocks until the L3 budget or until they are 1.5 patches on average. Deterministic (stable 3-element sorts,
/// integer powers of two).
/// </summary>
internal static class LayoutOptimizer
{
    /// <summary>
    /// Computes (chunk, block) for an image of <paramref name="imageShape"/> (2, 3 or 4 axes) read in patches of
    /// <paramref name="patchSize"/> (one entry per spatial axis, 2 or 3 of them).
    /// </summary>
    /// <param name="imageShape">The array shape.</param>
    /// <param name="patchSize">The patch shape over the spatial axes.</param>
    /// <param name="spatialAxisMask">One flag per axis (true = spatial); at most one false. Null: all spatial.</param>
    /// <param name="bytesPerItem">Item size of the dtype.</param>
    /// <param name="cache">Cache budget; null = the reference's constants.</param>
    /// <exception cref="ArgumentException">Shapes the heuristic does not support (messages as in the reference).</exception>
    public static (int[] Chunk, int[] Block) Compute(ReadOnlySpan<long> imageShape, ReadOnlySpan<int> patchSize,
        ReadOnlySpan<bool> spatialAxisMask = default, int bytesPerItem = 4, CacheSizes? cache = null)
    {
        cache ??= CacheSizes.Reference;
        cache.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(bytesPerItem, 1);
        foreach (var p in patchSize)
            if (p < 1) throw new ArgumentException($"patch sizes must be positive, got [{string.Join(", ", patchSize.ToArray())}].", nameof(patchSize));
        foreach (var s in imageShape)
            if (s < 0) throw new ArgumentException("image sizes must not be negative.", nameof(imageShape));

        int squeezes = imageShape.Length switch { 2 => 2, 3 => 1, _ => 0 };
        var image = new List<long>();
        for (int i = 0; i < squeezes; i++) image.Add(1);
        foreach (var s in imageShape) image.Add(s);

        int nonSpatial = -1;
        if (!spatialAxisMask.IsEmpty)
        {
            if (spatialAxisMask.Length != imageShape.Length)
                throw new ArgumentException($"the spatial axis mask has {spatialAxisMask.Length} entries but the image has {imageShape.Length} axes.", nameof(spatialAxisMask));
            int count = 0;
            for (int i = 0; i < spatialAxisMask.Length; i++)
                if (!spatialAxisMask[i]) { count++; nonSpatial = i; }
            if (count > 1)
                throw new ArgumentException("Automatic blosc2 optimization currently only supports one non-spatial axis. Please set chunk and block size manually.", nameof(spatialAxisMask));
            if (nonSpatial >= 0)
            {
                long v = image[nonSpatial + squeezes];
                image.RemoveAt(nonSpatial + squeezes);
                image.Insert(0, v);
            }
        }
        if (image.Count != 4)
            throw new ArgumentException("Image size must be 4D.", nameof(imageShape));
        if (patchSize.Length is not (2 or 3))
            throw new ArgumentException("Patch size must be 2D or 3D.", nameof(patchSize));

        long[] img = [.. image];
        long[] patch = patchSize.Length == 2 ? [1, patchSize[0], patchSize[1]] : [patchSize[0], patchSize[1], patchSize[2]];
        long[] block = [img[0], NextPow2(patch[0]), NextPow2(patch[1]), NextPow2(patch[2])];
        double l1 = cache.L1BytesPerCore * cache.SafetyFactor;
        double l3 = cache.L3BytesPerCore * cache.SafetyFactor;

        while (Bytes(block, bytesPerItem) > l1)
        {
            var order = StableArgsort([(double)block[1] / patch[0], (double)block[2] / patch[1], (double)block[3] / patch[2]]);
            Array.Reverse(order);
            int a = -1;
            foreach (var o in order)
                if (block[o + 1] != 1) { a = o; break; }
            if (a < 0)
                throw new ArgumentException($"the block cannot shrink below the L1 budget of {l1} bytes: the non-spatial axis alone ({img[0]} items of {bytesPerItem} bytes) is too large. Set chunk and block size manually.");
            block[a + 1] = PrevPow2Below(block[a + 1]);
            block[a + 1] = Math.Min(block[a + 1], img[a + 1]);
        }
        for (int i = 0; i < 4; i++) block[i] = Math.Min(img[i], block[i]);

        long[] chunk = (long[])block.Clone();
        while (Bytes(chunk, bytesPerItem) < l3)
        {
            if (patch[0] == 1 && chunk[2] == img[2] && chunk[3] == img[3]) break;
            if (chunk.AsSpan().SequenceEqual(img)) break;
            var order = StableArgsort([(double)chunk[1] / block[1], (double)chunk[2] / block[2], (double)chunk[3] / block[3]]);
            int a = -1;
            foreach (var o in order)
                if (chunk[o + 1] != img[o + 1] && patch[o] != 1) { a = o; break; }
            if (a < 0)
                break; // the reference raises IndexError here; nothing can grow, so the chunk is final
            long before = chunk[a + 1];
            chunk[a + 1] = Math.Min(chunk[a + 1] + block[a + 1], img[a + 1]);
            double mean = ((double)chunk[1] / patch[0] + (double)chunk[2] / patch[1] + (double)chunk[3] / patch[2]) / 3;
            if (mean > 1.5)
            {
                chunk[a + 1] -= block[a + 1];
                // The reference subtracts the block even when the step was clipped to the image edge, which can leave
                // the chunk smaller than the block (30 clipped from 32, minus 16 = 14 < 16): a layout Blosc2 refuses.
                // Then the chunk keeps the extent it had before this step (differences-from-python L9).
                if (chunk[a + 1] < block[a + 1])
                    chunk[a + 1] = before;
                break;
            }
        }
        for (int i = 0; i < 4; i++) chunk[i] = Math.Min(img[i], chunk[i]);

        var c = chunk.ToList();
        var b = block.ToList();
        if (nonSpatial >= 0)
        {
            long cv = c[0], bv = b[0];
            c.RemoveAt(0); b.RemoveAt(0);
            c.Insert(nonSpatial + squeezes, cv);
            b.Insert(nonSpatial + squeezes, bv);
        }
        return (c.Skip(squeezes).Select(ToInt).ToArray(), b.Skip(squeezes).Select(ToInt).ToArray());
    }

    private static int ToInt(long v) => v > int.MaxValue ? throw new ArgumentException($"a chunk or block extent of {v} items exceeds the Blosc2 limit.") : (int)v;

    private static double Bytes(long[] shape, int itemSize)
    {
        double p = itemSize;
        foreach (var s in shape) p *= s;
        return p;
    }

    /// <summary>2^max(0, ceil(log2 p)): the smallest power of two ≥ p.</summary>
    internal static long NextPow2(long p) => p <= 1 ? 1 : (long)BitOperations.RoundUpToPowerOf2((ulong)p);

    /// <summary>2^max(0, floor(log2(v - 1))): the largest power of two strictly below v (v ≥ 2).</summary>
    internal static long PrevPow2Below(long v) => v <= 2 ? 1 : 1L << BitOperations.Log2((ulong)(v - 1));

    /// <summary>Indices that sort <paramref name="values"/> ascending; equal values keep their order (numpy's argsort on 3 floats).</summary>
    private static int[] StableArgsort(double[] values)
    {
        int[] idx = [.. Enumerable.Range(0, values.Length)];
        return [.. idx.OrderBy(i => values[i])]; // LINQ OrderBy is stable
    }
}
