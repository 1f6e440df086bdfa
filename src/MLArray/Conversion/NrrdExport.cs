using MLArray.Kernels;
using MLArray.Medical.Nrrd;
using MLArray.Metadata;

namespace MLArray.Conversion;

/// <summary>
/// <c>.mla</c> → NRRD: file axes from the export geometry, <c>space directions</c>/<c>space origin</c> (or
/// <c>spacings</c> when the source had no directions), the other fields and key/values from <c>meta.source</c>.
/// </summary>
internal static class NrrdExport
{
    private static readonly HashSet<string> NrrdGeometryFields = new(StringComparer.Ordinal)
    {
        "type", "dimension", "sizes", "endian", "encoding", "space", "space dimension", "space directions", "space origin",
        "data file", "line skip", "byte skip", "NRRD_space", "datafile", "lineskip", "byteskip",
    };

    private static readonly HashSet<string> NrrdKnownFields = new(StringComparer.Ordinal)
    {
        "type", "dimension", "sizes", "endian", "encoding", "content", "space", "space dimension", "space directions",
        "space origin", "space units", "measurement frame", "kinds", "spacings", "thicknesses", "axis mins", "axis maxs",
        "centerings", "labels", "units", "min", "max", "old min", "old max", "block size", "line skip", "byte skip",
        "data file", "sample units", "number",
    };

    private static readonly HashSet<string> NrrdPerAxisFields = new(StringComparer.Ordinal)
    {
        "kinds", "spacings", "thicknesses", "axis mins", "axis maxs", "centerings", "labels", "units",
    };

    internal static void Write(MLArrayMeta meta, ExportGeometry g, byte[] data, long[] shape, DType dtype, string output, CancellationToken ct)
    {
        int n = shape.Length;
        // File axes: reversed C order, the spatial slots refilled so that x comes first.
        int[] rev = Enumerable.Range(0, n).Reverse().ToArray();
        var spSorted = rev.Where(i => g.IsSpatial[i]).OrderBy(i => g.FileSpatialIndex[i]).ToList();
        int k = 0;
        int[] fileAxes = rev.Select(i => g.IsSpatial[i] ? spSorted[k++] : i).ToArray();
        long[] sizes = fileAxes.Select(i => shape[i]).ToArray();
        byte[] fileData = AxisPermutation.Permute(data, shape, fileAxes.Reverse().ToArray(), dtype.ItemSize);

        var h = NrrdHeader.Create(dtype, sizes);
        foreach (KeyValuePair<string, MetaValue> e in meta.Source.Entries)
        {
            if (NrrdGeometryFields.Contains(e.Key)) continue;
            if (NrrdKnownFields.Contains(e.Key))
            {
                object? v = SourceValues.FromMeta(e.Value, e.Key);
                if (v is null) continue;
                if (NrrdPerAxisFields.Contains(e.Key) && v is Array arr && arr.Length != n) continue; // a per-axis field of another axis count
                h.Fields[e.Key] = v;
            }
            else
            {
                h.KeyValues[e.Key] = e.Value is MetaString s ? s.Value : e.Value.ToJson();
            }
        }

        double[,] world = g.FileAffine;
        int ns = world.GetLength(0) - 1;
        if (g.HasGeometry && ns > 0 && MatrixMath.IsSingular(MatrixMath.Linear(world, ns), MLArrayFile.DirectionTolerance))
            throw new MLArrayNotSupportedException(
                "the image's geometry is singular (a zero voxel size, or spatial axes without independent directions: "
                + $"|det| of the normalised directions < {MLArrayFile.DirectionTolerance}); NRRD space directions must be invertible for "
                + "readers such as ITK and 3D Slicer. Fix meta.spatial (spacing/direction or affine), or export to NIfTI, which keeps a singular sform.");
        bool diagonal = true;
        for (int r = 0; r < ns; r++)
        {
            for (int c = 0; c <= ns; c++)
            {
                if (r != c && world[r, c] != 0) diagonal = false;
            }
        }

        if (g.HasGeometry && ns > 0 && diagonal && !meta.Source.TryGetValue("space directions", out _) && g.CoordSystem is null)
        {
            // the source had no directions (spacings only): keep it that way
            var spc = new double[n];
            int q = 0;
            for (int a = 0; a < n; a++) spc[a] = g.IsSpatial[fileAxes[a]] ? world[q, q++] : double.NaN;
            bool hadSpacings = meta.Source.TryGetValue("spacings", out _);
            if (hadSpacings || spc.Any(x => !double.IsNaN(x) && x != 1)) h.Fields["spacings"] = spc;
        }
        else if (g.HasGeometry && ns > 0)
        {
            string? space = g.CoordSystem switch
            {
                "RAS" or "RAS+" => "right-anterior-superior",
                "LPS" or "LPS+" => "left-posterior-superior",
                _ => null,
            };
            if (space is not null && ns == 3) h.Fields["space"] = space;
            else h.Fields["space dimension"] = (long)ns;
            var dirs = new double[n][];
            int q = 0;
            for (int a = 0; a < n; a++)
            {
                if (g.IsSpatial[fileAxes[a]])
                {
                    dirs[a] = Enumerable.Range(0, ns).Select(r => world[r, q]).ToArray();
                    q++;
                }
                else
                {
                    dirs[a] = Enumerable.Repeat(double.NaN, ns).ToArray();
                }
            }

            h.Fields["space directions"] = dirs;
            h.Fields["space origin"] = Enumerable.Range(0, ns).Select(r => world[r, ns]).ToArray();
            h.Fields.Remove("spacings");
        }

        ct.ThrowIfCancellationRequested();
        Nrrd.Write(output, new NrrdImage(h, dtype, fileData), new NrrdWriteOptions { Encoding = "gzip" }, ct);
    }
}
