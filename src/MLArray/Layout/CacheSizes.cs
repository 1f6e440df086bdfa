namespace MLArray;

/// <summary>
/// Cache sizes the layout optimizer targets. The defaults are the Python reference's constants (32 KiB of L1 and
/// 1.375 MiB of L3 per core, 80 % of each used); pass the sizes of the machine that will read the data to tune.
/// </summary>
/// <param name="L1BytesPerCore">L1 data cache per core in bytes: a block must fit in <c>L1 × SafetyFactor</c>.</param>
/// <param name="L3BytesPerCore">L3 cache per core in bytes: chunks grow until <c>L3 × SafetyFactor</c>.</param>
/// <param name="SafetyFactor">Fraction of each cache used (0 &lt; f ≤ 1).</param>
public sealed record CacheSizes(long L1BytesPerCore = 32768, long L3BytesPerCore = 1441792, double SafetyFactor = 0.8)
{
    /// <summary>The Python reference's constants.</summary>
    public static CacheSizes Reference { get; } = new();

    internal void Validate()
    {
        if (L1BytesPerCore <= 0 || L3BytesPerCore <= 0)
            throw new ArgumentException("cache sizes must be positive byte counts.");
        if (!(SafetyFactor > 0 && SafetyFactor <= 1))
            throw new ArgumentException($"the cache safety factor must be in (0, 1], got {SafetyFactor}.");
    }
}
