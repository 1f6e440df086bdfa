using MLArray.Metadata;

namespace MLArray.Conversion;

/// <summary>The export view of an image's geometry: which axes are spatial and the affine over the file's spatial axes.</summary>
internal sealed class ExportGeometry
{
    internal static readonly HashSet<string> SpatialLabels = ["spatial", "spatial_x", "spatial_y", "spatial_z"];

    public required string[] Labels { get; init; }

    public required bool[] IsSpatial { get; init; }

    /// <summary>Per C axis: its position among the file's spatial axes (x = 0).</summary>
    public required int[] FileSpatialIndex { get; init; }

    /// <summary>(ns+1)² affine: file spatial index (x first) → world (coordinates in the coord_system's own order).</summary>
    public required double[,] FileAffine { get; init; }

    public string? CoordSystem { get; init; }

    public bool HasGeometry { get; init; }

    public static ExportGeometry From(MLArrayMeta meta, long[] shape)
    {
        int n = shape.Length;
        MetaSpatial sp = meta.Spatial;
        string[]? given = sp.AxisLabels?.Select(l => l.Value).ToArray();
        string[] labels;
        if (given is not null && given.Length == n) labels = given;
        else
        {
            int nsp = sp.NumSpatialAxes is { } c ? (int)c : Math.Min(n, 3);
            labels = Enumerable.Range(0, n).Select(i => i >= n - nsp ? "spatial" : "channel").ToArray();
        }

        bool[] isSp = labels.Select(l => SpatialLabels.Contains(l)).ToArray();
        int[] spC = Enumerable.Range(0, n).Where(i => isSp[i]).ToArray();
        int ns = spC.Length;
        bool named = spC.All(i => labels[i] is "spatial_x" or "spatial_y" or "spatial_z") && spC.Select(i => labels[i]).Distinct().Count() == ns;
        // file spatial index of each spatial C axis (x first)
        var fIdx = new int[n];
        int[] f = new int[ns];
        if (named)
        {
            var order = spC.OrderBy(i => labels[i]).ToArray(); // spatial_x < spatial_y < spatial_z
            for (int r = 0; r < ns; r++) fIdx[order[r]] = r;
        }
        else
        {
            for (int q = 0; q < ns; q++) fIdx[spC[q]] = ns - 1 - q;
        }

        for (int q = 0; q < ns; q++) f[q] = fIdx[spC[q]];

        // World order reversed (the seed's ITK era and our converter) unless the file is XYZ-ordered or affine-only unlabeled.
        bool xyzFirst = named && ns > 1 && labels[spC[0]] == "spatial_x";
        bool hasAffine = sp.Affine is not null;
        bool worldReversed = !(xyzFirst || (hasAffine && given is null));
        bool has = sp.Affine is not null || sp.Spacing is not null || sp.Origin is not null || sp.Direction is not null;

        double[,] m = Compose(sp, ns);
        var fa = new double[ns + 1, ns + 1];
        for (int w = 0; w < ns; w++)
        {
            int row = worldReversed ? ns - 1 - w : w;
            for (int q = 0; q < ns; q++) fa[w, f[q]] = m[row, q];
            fa[w, ns] = m[row, ns];
        }

        fa[ns, ns] = 1;
        return new ExportGeometry
        {
            Labels = labels, IsSpatial = isSp, FileSpatialIndex = fIdx, FileAffine = fa,
            CoordSystem = sp.CoordSystem?.Value, HasGeometry = has,
        };
    }

    private static double[,] Compose(MetaSpatial sp, int n)
    {
        if (sp.Affine is { } a && a.Count == n + 1)
        {
            var r = new double[n + 1, n + 1];
            for (int i = 0; i <= n; i++)
                for (int j = 0; j <= n; j++) r[i, j] = a[i][j].ToDouble();
            return r;
        }

        double[] s = sp.Spacing is { } ss && ss.Count == n ? ss.Select(x => x.ToDouble()).ToArray() : Enumerable.Repeat(1.0, n).ToArray();
        double[] o = sp.Origin is { } oo && oo.Count == n ? oo.Select(x => x.ToDouble()).ToArray() : new double[n];
        var m = new double[n + 1, n + 1];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double d = sp.Direction is { } dd && dd.Count == n && dd[i].Count == n ? dd[i][j].ToDouble() : i == j ? 1 : 0;
                m[i, j] = d * s[j];
            }

            m[i, n] = o[i];
        }

        m[n, n] = 1;
        return m;
    }
}
