using MLArray.Kernels;
using MLArray.Training.Data;

namespace MLArray.Cli.Commands;

/// <summary>
/// The dtypes <c>mlarray sample</c> writes when the cases of a dataset store different ones: the narrowest dtype that
/// holds every case's values exactly (uint8 + int16 → int16, int16 + float32 → float32, int32 + float32 → float64),
/// or an error naming the cases when none does (int64 with uint64 or a float: float64 rounds integers above 2^53).
/// </summary>
internal static class SampleDTypes
{
    /// <summary>One dataset's dtypes: every case's image dtype and segmentation dtype (null: no segmentation).</summary>
    public sealed record Scan(IReadOnlyList<(string Case, DType Image, DType? Segmentation)> Cases);

    // Candidates, narrowest first; within a size, integers before floats (integers stay integers when they can).
    private static readonly DType[] Candidates =
        [DType.UInt8, DType.Int8, DType.UInt16, DType.Int16, DType.Float16, DType.UInt32, DType.Int32, DType.Float32,
         DType.UInt64, DType.Int64, DType.Float64];

    /// <summary>Opens every case's headers (through the dataset's cache) and records its dtypes; unreadable cases are skipped when <paramref name="skipUnreadable"/>.</summary>
    public static Scan Read(PatchDataset ds, bool skipUnreadable, Action<string> log)
    {
        var list = new List<(string, DType, DType?)>(ds.Count);
        for (int i = 0; i < ds.Count; i++)
        {
            try
            {
                using var lease = ds.Acquire(i);
                list.Add((ds.Cases[i].Id, lease.Image.DType.AsLittleEndian(), lease.Segmentation?.DType.AsLittleEndian()));
            }
            catch (DatasetCaseException e) when (skipUnreadable)
            {
                log($"skipping case '{e.CaseId}' in the dtype scan: {e.Message}");
            }
        }
        if (list.Count == 0) throw new ArgumentException($"none of the {ds.Count} cases could be opened.");
        return new Scan(list);
    }

    /// <summary>
    /// The narrowest dtype holding every value of each of <paramref name="stored"/> exactly (<paramref name="extra"/>
    /// too, e.g. int16 so the −1 padding of segmentations fits), with a sentence saying why; an
    /// <see cref="ArgumentException"/> naming the cases of each dtype when no dtype holds them all.
    /// </summary>
    public static (DType DType, string Why) Common(IEnumerable<(string Case, DType DType)> stored, string what, DType? extra = null)
    {
        var groups = stored.GroupBy(s => s.DType.Code).OrderBy(g => g.Key).ToList();
        string Listing() => string.Join(", ", groups.Select(g => $"{Name(g.Key)}: {Cases(g.Select(x => x.Case).ToList())}"));
        foreach (var g in groups)
            if (g.First().DType.Kind is not (DTypeKind.Bool or DTypeKind.SignedInteger or DTypeKind.UnsignedInteger or DTypeKind.Float))
                throw new MLArrayNotSupportedException($"{what}s of dtype {g.First().DType.Name} cannot be sampled ({Cases(g.Select(x => x.Case).ToList())}).");
        var types = groups.Select(g => g.First().DType).ToList();
        if (extra is { } e && !types.Any(t => t.Code == e.Code)) types.Add(e);
        int at = Array.FindIndex(Candidates, c => types.All(d => ElementConvert.IsExact(d, c)));
        if (at < 0)
            throw new ArgumentException(
                $"the cases' {what} dtypes have no common dtype that holds every value exactly ({Listing()}; float64 rounds 64-bit integers above 2^53 and no integer type holds both int64 and uint64, or a float): store the {what}s in one dtype (e.g. convert the odd cases).");
        var found = Candidates[at];
        string why = groups.Count == 1 && (extra is null || groups[0].Key == found.Code)
            ? "as stored by every case"
            : groups.Count == 1
                ? $"stored {Name(groups[0].Key)}, widened so the −1 padding fits"
                : $"the narrowest dtype holding every case's values exactly: {Listing()}" + (extra is not null ? $", and the −1 padding" : "");
        return (found, why);
    }

    private static string Name(DTypeCode code) => code.ToString().ToLowerInvariant();

    private static string Cases(List<string> cases) =>
        cases.Count switch
        {
            1 => cases[0],
            <= 3 => string.Join(", ", cases),
            _ => $"{cases.Count} cases ({string.Join(", ", cases.Take(3))}, ...)",
        };
}
