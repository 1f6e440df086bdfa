using System.CommandLine;
using System.Globalization;

namespace MLArray.Cli;

/// <summary>
/// <c>--shard I/N</c>: shard I (0 ≤ I &lt; N) of a deterministic partition of the inputs into N shards, for array jobs
/// (Slurm <c>--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT</c>, Kubernetes indexed jobs
/// <c>--shard $JOB_COMPLETION_INDEX/N</c>). The inputs are sorted by ordinal string comparison and input k goes to
/// shard k mod N: the N shards are disjoint, their union is all inputs, and the assignment depends only on the input
/// names, not on the machine, the order of the arguments or the file system's listing order.
/// </summary>
internal readonly record struct Shard(int Index, int Count)
{
    public static Option<string?> CreateOption(string what) =>
        new("--shard") { Description = $"{what}: I/N with 0 <= I < N (input k of the sorted list goes to shard k mod N), e.g. --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT." };

    /// <summary>Parses <c>I/N</c>; null when <paramref name="spec"/> is null.</summary>
    /// <exception cref="ArgumentException">Not two integers with 0 ≤ I &lt; N.</exception>
    public static Shard? Parse(string? spec)
    {
        if (spec is null)
            return null;
        int slash = spec.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0
            || !int.TryParse(spec.AsSpan(0, slash), NumberStyles.None, CultureInfo.InvariantCulture, out int index)
            || !int.TryParse(spec.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int count))
            throw new ArgumentException($"--shard '{spec}' must be I/N with integers 0 <= I < N, e.g. --shard 0/4.");
        if (count < 1)
            throw new ArgumentException($"--shard '{spec}': the number of shards N must be at least 1.");
        if (index >= count)
            throw new ArgumentException($"--shard '{spec}': the shard index I must be in 0..{count - 1} (indices start at 0; Slurm's SLURM_ARRAY_TASK_ID does with --array=0-{count - 1}).");
        return new Shard(index, count);
    }

    /// <summary>The items of this shard: sorted by <paramref name="key"/> (ordinal), every N-th from the I-th.</summary>
    public List<T> Select<T>(IEnumerable<T> items, Func<T, string> key)
    {
        int index = Index, count = Count;
        return items.OrderBy(key, StringComparer.Ordinal).Where((_, k) => k % count == index).ToList();
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");
}
