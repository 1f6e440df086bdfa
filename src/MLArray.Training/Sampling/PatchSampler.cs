using MLArray.Training.Data;

namespace MLArray.Training.Sampling;

/// <summary>
/// Plans the samples of a seeded patch stream: which case (sharded per rank and epoch as PyTorch's
/// DistributedSampler, without padding), whether it is forced foreground, and the read patch's start. Every choice is a
/// function of (seed, epoch, rank, position), so the stream does not depend on the number of threads.
/// </summary>
internal sealed class PatchSampler
{
    private readonly PatchLoaderOptions _o;
    private readonly int _cases;
    private readonly long _shard;
    private readonly long[] _read;
    private readonly long[] _final;
    private readonly int _forcedPerBatch;
    private readonly object _gate = new();
    private readonly (long Epoch, int[] Perm)[] _perms = new (long, int[])[4];
    private int _nextPerm;

    public PatchSampler(PatchLoaderOptions options, int caseCount)
    {
        _o = options;
        _cases = caseCount;
        for (int i = 0; i < _perms.Length; i++) _perms[i] = (-1, new int[caseCount]); // made here, not at the 4th epoch of a stream
        if (options.WorldSize < 1) throw new ArgumentOutOfRangeException(nameof(options), options.WorldSize, "WorldSize must be ≥ 1.");
        if (options.Rank < 0 || options.Rank >= options.WorldSize)
            throw new ArgumentOutOfRangeException(nameof(options), options.Rank, $"Rank must be in [0, WorldSize) = [0, {options.WorldSize}); got {options.Rank}.");
        if (caseCount < options.WorldSize)
            throw new ArgumentException($"the dataset has {caseCount} cases, fewer than the {options.WorldSize} ranks: every rank needs at least one case.");
        if (options.BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(options), options.BatchSize, "BatchSize must be ≥ 1.");
        if (!(options.ForegroundFraction is >= 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(options), options.ForegroundFraction, "ForegroundFraction must be in [0, 1].");
        _final = options.PatchSize ?? throw new ArgumentException("PatchSize is required.");
        _read = options.ReadPatchSize ?? _final;
        if (_final.Length == 0 || _read.Length != _final.Length)
            throw new ArgumentException($"PatchSize and ReadPatchSize need one entry per spatial axis ({_final.Length} vs {_read.Length}).");
        for (int d = 0; d < _final.Length; d++)
            if (_final[d] < 1 || _read[d] < _final[d])
                throw new ArgumentException($"patch sizes must be ≥ 1 and the read patch at least the final patch; axis {d}: final {_final[d]}, read {_read[d]}.");
        if (options.LabelWeights is { } w && (w.Count == 0 || w.Values.Any(v => !(v >= 0)) || w.Values.Sum() <= 0))
            throw new ArgumentException("LabelWeights needs at least one positive weight and no negative ones.");
        _shard = (caseCount - options.Rank + options.WorldSize - 1) / options.WorldSize;
        _forcedPerBatch = (int)Math.Ceiling(options.ForegroundFraction * options.BatchSize - 1e-9);
    }

    public long[] ReadSize => _read;

    /// <summary>Cases of this rank per epoch.</summary>
    public long ShardSize => _shard;

    /// <summary>The case of sample <paramref name="sample"/> of the stream and its epoch and position in the epoch.</summary>
    public (int Case, long Epoch, long Position) CaseOf(long sample)
    {
        long epoch = sample / _shard, pos = sample % _shard;
        var perm = Permutation(epoch);
        return (perm[_o.Rank + pos * _o.WorldSize], epoch, pos);
    }

    /// <summary>Whether sample <paramref name="index"/> of a batch is forced foreground (LastOfBatch mode; probabilistic uses the sample's generator).</summary>
    public bool Forced(int index, ref Rng rng) => _o.ForegroundMode == ForegroundMode.LastOfBatch
        ? index >= _o.BatchSize - _forcedPerBatch
        : rng.NextDouble() < _o.ForegroundFraction;

    /// <summary>The generator of one sample.</summary>
    public Rng SampleRng(long epoch, long position, int attempt) => new(_o.Seed, epoch, _o.Rank, position * 64 + attempt);

    private int[] Permutation(long epoch)
    {
        lock (_gate)
        {
            foreach (var (e, p) in _perms)
                if (p is not null && e == epoch) return p;
            int slot = _nextPerm++ % _perms.Length;
            var perm = _perms[slot].Perm;
            for (int i = 0; i < perm.Length; i++) perm[i] = i;
            var rng = new Rng(_o.Seed, epoch, -1);
            rng.Shuffle(perm.AsSpan());
            _perms[slot] = (epoch, perm);
            return perm;
        }
    }

    /// <summary>
    /// Chooses the read patch's start (per spatial axis) in a case of spatial shape <paramref name="shape"/>: uniform,
    /// or centred on a class location (clipped to the allowed range, as nnU-Net's get_bbox). Returns the label centred on
    /// (-1: none, 0: background in label-weighted mode).
    /// </summary>
    public long Plan(ref Rng rng, bool forced, ReadOnlySpan<long> shape, ClassLocations? locations, bool padding, Span<long> start, string caseId)
    {
        int n = _read.Length;
        Span<long> lb = stackalloc long[n], ub = stackalloc long[n];
        for (int d = 0; d < n; d++)
        {
            if (!padding)
            {
                if (_read[d] > shape[d])
                    throw new ArgumentException($"case '{caseId}': the patch ({string.Join(", ", _read)}) is larger than the image ({string.Join(", ", shape.ToArray())}) on axis {d} and padding is off; enable padding or use a smaller patch.");
                lb[d] = 0;
                ub[d] = shape[d] - _read[d];
                continue;
            }
            long need = _read[d] - _final[d];
            if (shape[d] + need < _read[d]) need = _read[d] - shape[d];
            lb[d] = -(need / 2);
            ub[d] = shape[d] + need / 2 + need % 2 - _read[d];
        }

        long label = -1;
        if (_o.LabelWeights is { } weights)
            label = PickWeighted(ref rng, weights, locations);
        else if (forced && locations is not null)
            label = PickUniformLabel(ref rng, locations);

        int li = label > 0 ? IndexOf(locations!, label) : -1;
        if (li >= 0)
        {
            var c = locations!.Coordinate(li, (int)rng.Next(locations.CoordinateCount(li)));
            for (int d = 0; d < n; d++) start[d] = Math.Clamp(c[d] - _read[d] / 2, lb[d], ub[d]);
        }
        else
        {
            for (int d = 0; d < n; d++) start[d] = rng.NextInclusive(lb[d], ub[d]);
        }
        return label;
    }

    private static int IndexOf(ClassLocations l, long label)
    {
        for (int i = 0; i < l.Labels.Count; i++) if (l.Labels[i] == label) return i;
        return -1;
    }

    private static long PickUniformLabel(ref Rng rng, ClassLocations l)
    {
        int eligible = 0;
        for (int i = 0; i < l.Labels.Count; i++) if (l.CoordinateCount(i) > 0) eligible++;
        if (eligible == 0) return -1;
        long k = rng.Next(eligible);
        for (int i = 0; i < l.Labels.Count; i++)
            if (l.CoordinateCount(i) > 0 && k-- == 0) return l.Labels[i];
        return -1;
    }

    private static long PickWeighted(ref Rng rng, IReadOnlyDictionary<long, double> weights, ClassLocations? l)
    {
        double total = weights.GetValueOrDefault(0);
        if (l is not null)
            for (int i = 0; i < l.Labels.Count; i++)
                if (l.CoordinateCount(i) > 0) total += weights.GetValueOrDefault(l.Labels[i]);
        if (total <= 0) return -1;
        double u = rng.NextDouble() * total;
        double acc = weights.GetValueOrDefault(0);
        if (u < acc) return 0;
        if (l is not null)
            for (int i = 0; i < l.Labels.Count; i++)
            {
                if (l.CoordinateCount(i) == 0) continue;
                acc += weights.GetValueOrDefault(l.Labels[i]);
                if (u < acc) return l.Labels[i];
            }
        return l is not null ? l.Labels[^1] : 0;
    }
}
