using MLArray.Metadata;
using MLArray.Training.Sampling;
using MLArray.Training.Schema;

namespace MLArray.Training.Data;

/// <summary>
/// Sampled voxel coordinates per label of a segmentation, the index foreground-oversampled patch sampling centres
/// patches on (nnU-Net's class locations). Computed once (<see cref="Compute"/>), stored in the segmentation file's
/// <c>meta.extra["class_locations"]</c> as the typed record <see cref="ClassLocationsRecord"/> (generated from
/// <c>class-locations.schema.json</c>; Python reads it as a plain dict), read back with <see cref="Read"/>.
/// </summary>
public sealed class ClassLocations
{
    /// <summary>The key under <c>meta.extra</c>.</summary>
    public const string ExtraKey = "class_locations";

    /// <summary>nnU-Net's seed for the sampling.</summary>
    public const long DefaultSeed = 1234;

    /// <summary>nnU-Net's cap of coordinates per label.</summary>
    public const int DefaultMaxPerClass = 10000;

    /// <summary>nnU-Net's minimum share of a label's voxels.</summary>
    public const double DefaultMinFraction = 0.01;

    private readonly long[] _labels;
    private readonly long[] _voxels;
    private readonly long[][] _coords;

    private ClassLocations(long seed, long[] spatialShape, long[] labels, long[] voxels, long[][] coords)
    {
        Seed = seed;
        _shape = spatialShape;
        _labels = labels;
        _voxels = voxels;
        _coords = coords;
    }

    private readonly long[] _shape;

    /// <summary>The seed the coordinates were drawn with.</summary>
    public long Seed { get; }

    /// <summary>The spatial shape of the segmentation.</summary>
    public IReadOnlyList<long> SpatialShape => _shape;

    /// <summary>The labels present (&gt; 0), ascending.</summary>
    public IReadOnlyList<long> Labels => _labels;

    /// <summary>Number of voxels of label number <paramref name="labelIndex"/> (index into <see cref="Labels"/>).</summary>
    public long VoxelCount(int labelIndex) => _voxels[labelIndex];

    /// <summary>Number of stored coordinates of label number <paramref name="labelIndex"/>.</summary>
    public int CoordinateCount(int labelIndex) => _coords[labelIndex].Length / _shape.Length;

    /// <summary>Coordinate <paramref name="k"/> of label number <paramref name="labelIndex"/> (spatial axes, stored order).</summary>
    public ReadOnlySpan<long> Coordinate(int labelIndex, int k) => _coords[labelIndex].AsSpan(k * _shape.Length, _shape.Length);

    /// <summary>
    /// Computes the class locations of a segmentation: for every label &gt; 0 with N voxels, max(min(N, maxPerClass),
    /// ⌈minFraction·N⌉) distinct voxels drawn uniformly without replacement with <paramref name="seed"/> (nnU-Net's rule).
    /// Reads the segmentation slab by slab (two passes), so memory stays bounded.
    /// </summary>
    /// <exception cref="ArgumentException">The array is not an integer (or bool: labels 0 and 1) segmentation with one channel, or bad parameters.</exception>
    public static ClassLocations Compute(MLArrayFile segmentation, long seed = DefaultSeed, int maxPerClass = DefaultMaxPerClass, double minFraction = DefaultMinFraction)
    {
        ArgumentNullException.ThrowIfNull(segmentation);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPerClass, 1);
        if (!(minFraction is >= 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(minFraction), minFraction, "minFraction must be in [0, 1].");
        var seg = new CaseArray(segmentation);
        CheckSegmentation(seg);
        var shape = seg.SpatialShape;
        long plane = 1;
        for (int d = 1; d < shape.Length; d++) plane *= shape[d];
        long slab = Math.Max(1, Math.Min(shape[0], (8L << 20) / Math.Max(1, plane)));
        var buffer = new int[slab * plane];
        using var reader = new PatchReader();

        // Pass 1: voxels per label.
        var counts = new SortedDictionary<int, long>();
        ForEachSlab(seg, reader, buffer, slab, plane, (values, _) =>
        {
            foreach (var v in values)
                if (v > 0) counts[v] = counts.GetValueOrDefault(v) + 1;
        });

        var labels = counts.Keys.ToArray();
        var slot = labels.Select((l, i) => (l, i)).ToDictionary(t => t.l, t => t.i);
        var chosen = new long[labels.Length][];
        var coords = new long[labels.Length][];
        for (int i = 0; i < labels.Length; i++)
        {
            long n = counts[labels[i]];
            long k = Math.Max(Math.Min(n, maxPerClass), (long)Math.Ceiling(n * minFraction));
            var rng = new Rng(seed, labels[i]);
            chosen[i] = Choose(ref rng, n, k);
            coords[i] = new long[k * shape.Length];
        }

        // Pass 2: keep the chosen ordinals of each label.
        var ordinal = new long[labels.Length];
        var next = new int[labels.Length];
        ForEachSlab(seg, reader, buffer, slab, plane, (values, firstVoxel) =>
        {
            for (int j = 0; j < values.Length; j++)
            {
                int v = values[j];
                if (v <= 0) continue;
                int s = slot[v];
                if (next[s] < chosen[s].Length && chosen[s][next[s]] == ordinal[s])
                {
                    Unravel(firstVoxel + j, shape, coords[s].AsSpan(next[s] * shape.Length, shape.Length));
                    next[s]++;
                }
                ordinal[s]++;
            }
        });
        return new ClassLocations(seed, shape, labels.Select(l => (long)l).ToArray(), labels.Select(l => counts[l]).ToArray(), coords);
    }

    internal static void CheckSegmentation(CaseArray seg)
    {
        // bool (NumPy's binary masks, as the Python reference writes them) holds the labels 0 and 1, read as uint8.
        if (seg.DType.Kind is not (DTypeKind.SignedInteger or DTypeKind.UnsignedInteger or DTypeKind.Bool))
            throw new ArgumentException($"'{seg.File.FilePath}' stores {seg.DType.Name}: a segmentation must hold integer labels (or bool: 0 and 1); convert it to an integer dtype (e.g. uint8).");
        if (seg.Channels != 1)
            throw new ArgumentException($"'{seg.File.FilePath}' has {seg.Channels} channels: a segmentation must have one channel.");
        if (seg.DType.ItemSize > 4 || seg.DType == DType.UInt32)
            throw new MLArrayNotSupportedException($"'{seg.File.FilePath}' stores {seg.DType.Name}: segmentation labels must fit in 32-bit signed integers (use int8/uint8/int16/uint16/int32).");
    }

    private static void ForEachSlab(CaseArray seg, PatchReader reader, int[] buffer, long slab, long plane, Action<ReadOnlySpan<int>, long> body)
    {
        var shape = seg.SpatialShape;
        var start = new long[shape.Length];
        var size = (long[])shape.Clone();
        for (long z = 0; z < shape[0]; z += slab)
        {
            start[0] = z;
            size[0] = Math.Min(slab, shape[0] - z);
            var span = buffer.AsSpan(0, (int)(size[0] * plane));
            reader.Read(seg, start, size, span, PadMode.None, 0);
            body(span, z * plane);
        }
    }

    private static void Unravel(long flat, long[] shape, Span<long> coord)
    {
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            coord[d] = flat % shape[d];
            flat /= shape[d];
        }
    }

    /// <summary><paramref name="k"/> distinct ordinals of [0, n), ascending (Floyd's algorithm; all when k = n).</summary>
    private static long[] Choose(ref Rng rng, long n, long k)
    {
        if (k >= n)
        {
            var all = new long[n];
            for (long i = 0; i < n; i++) all[i] = i;
            return all;
        }
        var set = new HashSet<long>();
        for (long j = n - k; j < n; j++)
        {
            long t = rng.Next(j + 1);
            if (!set.Add(t)) set.Add(j);
        }
        var result = set.ToArray();
        Array.Sort(result);
        return result;
    }

    /// <summary>The typed record stored under <c>meta.extra["class_locations"]</c>.</summary>
    public ClassLocationsRecord ToRecord() => new()
    {
        Seed = Seed,
        SpatialShape = [.. _shape],
        Classes = [.. _labels.Select((l, i) => new ClassLocationEntry
        {
            Label = l,
            Voxels = _voxels[i],
            Coords = [.. Enumerable.Range(0, CoordinateCount(i)).Select(k => (EquatableArray<long>)[.. Coordinate(i, k)])],
        })],
    };

    /// <summary>
    /// The class locations stored in <paramref name="segmentation"/>'s metadata, or null when it has none. Never
    /// writes to the file.
    /// </summary>
    /// <exception cref="ClassLocationsException">The stored entry does not validate against the schema, or does not fit the array.</exception>
    public static ClassLocations? Read(MLArrayFile segmentation)
    {
        ArgumentNullException.ThrowIfNull(segmentation);
        if (!segmentation.Meta.Extra.TryGetValue(ExtraKey, out var value) || value is MetaNull)
            return null;
        var report = ClassLocationsRecord.ValidateTree(value);
        if (!report.IsValid)
            throw new ClassLocationsException(
                $"'{segmentation.FilePath}': meta.extra[\"{ExtraKey}\"] does not follow the class-locations schema ({ClassLocationsRecord.SchemaId}): " +
                $"{string.Join("; ", report.Errors.Take(5).Select(e => $"{e.Path}: {e.Message}"))}. Rebuild it with 'mlarray index --force'.");
        var record = ClassLocationsRecord.FromMetaValue(value);
        var seg = new CaseArray(segmentation);
        var shape = seg.SpatialShape;
        string Where() => $"'{segmentation.FilePath}': meta.extra[\"{ExtraKey}\"]";
        // Labels ascending, as Labels promises (another writer may list the classes in any order), each once.
        var classes = record.Classes.OrderBy(c => c.Label).ToList();
        for (int i = 1; i < classes.Count; i++)
            if (classes[i].Label == classes[i - 1].Label)
                throw new ClassLocationsException($"{Where()} lists label {classes[i].Label} twice; rebuild it with 'mlarray index --force'.");
        if (!record.SpatialShape.SequenceEqual(shape))
            throw new ClassLocationsException($"{Where()} was computed for spatial shape ({string.Join(", ", record.SpatialShape)}) but the array's is ({string.Join(", ", shape)}); rebuild it with 'mlarray index --force'.");
        var coords = new long[classes.Count][];
        for (int i = 0; i < coords.Length; i++)
        {
            var entry = classes[i];
            coords[i] = new long[entry.Coords.Count * shape.Length];
            for (int k = 0; k < entry.Coords.Count; k++)
            {
                var c = entry.Coords[k];
                if (c.Count != shape.Length)
                    throw new ClassLocationsException($"{Where()}: label {entry.Label} coordinate {k} has {c.Count} values, expected {shape.Length}.");
                for (int d = 0; d < shape.Length; d++)
                {
                    if (c[d] >= shape[d])
                        throw new ClassLocationsException($"{Where()}: label {entry.Label} coordinate {k} ({string.Join(", ", c)}) lies outside the array ({string.Join(", ", shape)}).");
                    coords[i][k * shape.Length + d] = c[d];
                }
            }
        }
        return new ClassLocations(record.Seed, shape, classes.Select(c => c.Label).ToArray(), classes.Select(c => c.Voxels).ToArray(), coords);
    }

    /// <summary>True when <paramref name="segmentation"/> has a class-locations entry (not validated).</summary>
    public static bool IsStored(MLArrayFile segmentation)
    {
        ArgumentNullException.ThrowIfNull(segmentation);
        return segmentation.Meta.Extra.TryGetValue(ExtraKey, out var v) && v is not MetaNull;
    }

    /// <summary>
    /// Stores these locations in the segmentation file at <paramref name="segmentationPath"/>: the file is opened
    /// read/write and its metadata entry replaced (a new metadata trailer, then one header switch: a crash leaves the
    /// old or the new metadata, see docs/concurrency.md). Array data is not touched.
    /// </summary>
    public void Store(string segmentationPath)
    {
        ArgumentNullException.ThrowIfNull(segmentationPath);
        var value = ToRecord().ToMetaValue();
        using var file = MLArrayFile.Open(segmentationPath, MLArrayMode.ReadWrite);
        var shape = new CaseArray(file).SpatialShape;
        if (!shape.AsSpan().SequenceEqual(_shape))
            throw new ArgumentException($"these class locations are for spatial shape ({string.Join(", ", _shape)}) but '{segmentationPath}' has ({string.Join(", ", shape)}).", nameof(segmentationPath));
        var meta = file.Meta;
        var entries = meta.Extra.Entries.Where(e => e.Key != ExtraKey).Append(new KeyValuePair<string, MetaValue>(ExtraKey, value));
        file.Meta = meta with { Extra = new MetaDict(entries) };
        file.Flush();
    }
}
