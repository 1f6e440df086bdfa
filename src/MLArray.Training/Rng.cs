namespace MLArray.Training;

/// <summary>
/// Small, fast, platform-independent seeded random generator (SplitMix64 seeding of xoshiro256**). A value type, so
/// per-sample generators cost no allocation; every stream is derived from integers (seed, epoch, rank, sample), so
/// results do not depend on thread scheduling.
/// </summary>
internal struct Rng
{
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>A generator for the key (a, b, c, d): distinct keys give independent streams.</summary>
    public Rng(long a, long b = 0, long c = 0, long d = 0)
    {
        ulong x = Mix((ulong)a) ^ Mix((ulong)b + 0x9E3779B97F4A7C15UL) ^ Mix((ulong)c + 0x3C6EF372FE94F82AUL) ^ Mix((ulong)d + 0xDAA66D2C7DDF743FUL);
        _s0 = SplitMix(ref x);
        _s1 = SplitMix(ref x);
        _s2 = SplitMix(ref x);
        _s3 = SplitMix(ref x);
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static ulong SplitMix(ref ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        return Mix(x);
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, <paramref name="n"/>) (unbiased; n ≥ 1).</summary>
    public long Next(long n)
    {
        if (n <= 1) return 0;
        ulong un = (ulong)n, threshold = (0UL - un) % un;
        while (true)
        {
            ulong r = NextUInt64();
            ulong hi = Math.BigMul(r, un, out ulong lo);
            if (lo >= threshold) return (long)hi;
        }
    }

    /// <summary>Uniform integer in [<paramref name="lo"/>, <paramref name="hi"/>] (inclusive).</summary>
    public long NextInclusive(long lo, long hi) => lo + Next(hi - lo + 1);

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Shuffles <paramref name="values"/> in place (Fisher–Yates).</summary>
    public void Shuffle<T>(Span<T> values)
    {
        for (int i = values.Length - 1; i > 0; i--)
        {
            int j = (int)Next(i + 1);
            (values[i], values[j]) = (values[j], values[i]);
        }
    }
}
