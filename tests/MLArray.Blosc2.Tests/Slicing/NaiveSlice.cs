namespace MLArray.Blosc2.Tests.Slicing;

/// <summary>An obviously-correct element-by-element implementation of NumPy basic indexing, used as the oracle.</summary>
internal static class NaiveSlice
{
    public static (long Start, long Count, long Step, bool Drop)[] Normalize(long[] shape, NdIndex[] sel)
    {
        var r = new (long, long, long, bool)[shape.Length];
        for (int d = 0; d < shape.Length; d++)
        {
            long n = shape[d];
            var s = d < sel.Length ? sel[d] : NdIndex.All;
            if (s.IsIndex)
            {
                long i = s.Start!.Value < 0 ? s.Start.Value + n : s.Start.Value;
                r[d] = (i, 1, 1, true);
                continue;
            }
            if (s.Step < 0)
            {
                // Python's slice.indices for a negative step: bounds clipped to [-1, n - 1], walked downwards.
                long hi = s.Start ?? n - 1, lo = s.Stop ?? -1;
                if (s.Start is not null) hi = hi < 0 ? Math.Max(-1, hi + n) : Math.Min(hi, n - 1);
                if (s.Stop is not null) lo = lo < 0 ? Math.Max(-1, lo + n) : Math.Min(lo, n - 1);
                long down = 0;
                for (long x = hi; x > lo; x += s.Step) down++;
                r[d] = (hi, down, s.Step, false);
                continue;
            }
            long a = s.Start ?? 0, b = s.Stop ?? n;
            if (a < 0) a = Math.Max(0, a + n);
            if (b < 0) b = Math.Max(0, b + n);
            a = Math.Min(a, n);
            b = Math.Min(b, n);
            long cnt = 0;
            for (long x = a; x < b; x += s.Step) cnt++;
            r[d] = (a, cnt, s.Step, false);
        }
        return r;
    }

    /// <summary>(position in the selection, linear index in the array) for every selected element, in C order.</summary>
    private static IEnumerable<(long Out, long Src)> Elements(long[] shape, NdIndex[] sel)
    {
        var n = Normalize(shape, sel);
        long total = n.Aggregate(1L, (acc, x) => acc * x.Count);
        var idx = new long[shape.Length];
        for (long o = 0; o < total; o++)
        {
            long rem = o;
            for (int d = shape.Length - 1; d >= 0; d--)
            {
                idx[d] = n[d].Start + rem % n[d].Count * n[d].Step;
                rem /= n[d].Count;
            }
            long src = 0;
            for (int d = 0; d < shape.Length; d++) src = src * shape[d] + idx[d];
            yield return (o, src);
        }
    }

    public static byte[] Read(byte[] full, long[] shape, int itemSize, NdIndex[] sel)
    {
        long total = Normalize(shape, sel).Aggregate(1L, (acc, x) => acc * x.Count);
        var result = new byte[total * itemSize];
        foreach (var (o, src) in Elements(shape, sel))
            Array.Copy(full, src * itemSize, result, o * itemSize, itemSize);
        return result;
    }

    public static void Write(byte[] full, long[] shape, int itemSize, NdIndex[] sel, byte[] values)
    {
        foreach (var (o, dst) in Elements(shape, sel))
            Array.Copy(values, o * itemSize, full, dst * itemSize, itemSize);
    }

    /// <summary>A random selection: per axis an index (possibly negative), a slice with optional negative bounds and a step (possibly negative), or all.</summary>
    public static NdIndex[] RandomSelection(Random rng, long[] shape)
    {
        int len = rng.Next(0, shape.Length + 1);
        var sel = new NdIndex[len];
        for (int d = 0; d < len; d++)
        {
            long n = shape[d];
            switch (rng.Next(5))
            {
                case 0 when n > 0:
                    long i = rng.NextInt64(0, n);
                    sel[d] = NdIndex.At(rng.Next(2) == 0 ? i : i - n);
                    break;
                case 1:
                    sel[d] = NdIndex.All;
                    break;
                default:
                    long a = rng.NextInt64(-n - 2, n + 2), b = rng.NextInt64(-n - 2, n + 3);
                    long step = rng.Next(3) == 0 ? rng.Next(2, 7) : 1;
                    if (rng.Next(4) == 0) step = -step; // NumPy's backwards slices
                    sel[d] = NdIndex.Slice(rng.Next(4) == 0 ? null : a, rng.Next(4) == 0 ? null : b, step);
                    break;
            }
        }
        return sel;
    }
}
