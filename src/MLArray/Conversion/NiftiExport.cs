using MLArray.Kernels;
using MLArray.Medical.Nifti;
using MLArray.Metadata;

namespace MLArray.Conversion;

/// <summary>
/// <c>.mla</c> → NIfTI: file axes from the export geometry, the affine in RAS (sform and qform), scaled values
/// requantised to the source's stored type, the other header fields from <c>meta.source</c>.
/// </summary>
internal static class NiftiExport
{
    internal static void Write(MLArrayMeta meta, ExportGeometry g, byte[] data, long[] shape, DType dtype, string output, CancellationToken ct)
    {
        int n = shape.Length;
        // RGB: a trailing uint8 channel axis of 3/4 with nothing else non-spatial but spatial axes.
        int channels = 1;
        int[] axes = Enumerable.Range(0, n).ToArray();
        if (dtype == DType.UInt8 && n >= 2 && g.Labels[n - 1] == "channel" && shape[n - 1] is 3 or 4 &&
            Enumerable.Range(0, n - 1).All(i => g.IsSpatial[i]) && SourceValues.Source(meta, "datatype") is 128 or 2304)
        {
            channels = (int)shape[n - 1];
            axes = Enumerable.Range(0, n - 1).ToArray();
        }

        // File axes (fastest first): spatial x, y, z, then temporal, then the others in reversed C order.
        var fileAxes = axes.Where(i => g.IsSpatial[i]).OrderBy(i => g.FileSpatialIndex[i]).ToList();
        fileAxes.AddRange(axes.Reverse().Where(i => !g.IsSpatial[i] && g.Labels[i] == "temporal"));
        fileAxes.AddRange(axes.Reverse().Where(i => !g.IsSpatial[i] && g.Labels[i] != "temporal"));
        long[] fileShape = NiftiFileShape(fileAxes, shape, g);
        if (fileShape.Length > 7)
            throw new MLArrayNotSupportedException($"NIfTI holds at most 7 dimensions; the array needs {fileShape.Length} (its non-spatial axes start at dim 4 or 5).");
        int[] perm = fileAxes.AsEnumerable().Reverse().ToArray();
        if (channels > 1) perm = [.. perm, n - 1];
        byte[] fileData = AxisPermutation.Permute(data, shape, perm, dtype.ItemSize);

        // Affine over file spatial axes, in RAS, padded to 4×4.
        double[,] ras = AffineMath.FlipXY(g.FileAffine, 3, flip: g.CoordSystem is "LPS" or "LPS+");

        // Requantise values scaled on import back to the stored type.
        NiftiHeader? srcHeader = null;
        long? srcType = SourceValues.Source(meta, "datatype");
        double slope = SourceValues.SourceDouble(meta, "scl_slope"), inter = SourceValues.SourceDouble(meta, "scl_inter");
        bool scaledOnImport = false;
        DType outType = dtype;
        if (srcType is { } st && st is not (128 or 2304) && channels == 1 && dtype.Kind == DTypeKind.Float && double.IsFinite(slope) && slope != 0 &&
            !(slope == 1 && (inter == 0 || !double.IsFinite(inter))))
        {
            try
            {
                (DType stored, int _) = NiftiDataType.ToDType((int)st, output);
                if (stored != dtype && stored.Kind != DTypeKind.Float)
                {
                    scaledOnImport = true;
                    outType = stored;
                    byte[] requantised = GC.AllocateUninitializedArray<byte>(fileData.Length / dtype.ItemSize * stored.ItemSize);
                    ElementConvert.Requantise(fileData, dtype, slope, double.IsFinite(inter) ? inter : 0, requantised, stored);
                    fileData = requantised;
                }
            }
            catch (MLArrayException)
            {
                // unknown source datatype: keep the float values
            }
        }

        var h = NiftiHeader.Create(outType, fileShape, ras, channels,
            sformCode: (int)(SourceValues.Source(meta, "sform_code") is > 0 and var sc ? sc : 1),
            qformCode: (int)(SourceValues.Source(meta, "qform_code") is > 0 and var qc ? qc : 1));
        srcHeader = h;
        CopyNiftiSource(meta.Source, h, fileShape.Length, keepScaling: scaledOnImport || dtype.Kind != DTypeKind.Float || srcType is null ||
            (NiftiDataTypeOrNull((int)srcType) is { } sd && sd == dtype));
        int version = SourceValues.Source(meta, "sizeof_hdr") == 540 ? 2 : 1;
        ct.ThrowIfCancellationRequested();
        Nifti.Write(output, new NiftiImage(srcHeader, outType, channels, fileData), new NiftiWriteOptions { Version = version == 2 ? 2 : null }, ct);
    }

    /// <summary>
    /// The NIfTI dims of the file axes: dims 1-3 are always space, dim 4 time, dims 5+ the other axes (the import's
    /// reading), so fewer than three spatial axes are padded with 1s when non-spatial axes follow, and dim 4 is 1
    /// when there are other axes but no temporal one. Padding adds size-1 dims only: the data order is unchanged.
    /// </summary>
    private static long[] NiftiFileShape(List<int> fileAxes, long[] shape, ExportGeometry g)
    {
        int temporal = fileAxes.Count(i => !g.IsSpatial[i] && g.Labels[i] == "temporal");
        var dims = new List<long>(8);
        foreach (int i in fileAxes)
        {
            if (!g.IsSpatial[i] && dims.Count < 3) dims.AddRange(Enumerable.Repeat(1L, 3 - dims.Count));
            if (!g.IsSpatial[i] && g.Labels[i] != "temporal" && temporal == 0 && dims.Count == 3) dims.Add(1);
            dims.Add(shape[i]);
        }

        return [.. dims];
    }

    private static DType? NiftiDataTypeOrNull(int code)
    {
        try
        {
            return NiftiDataType.ToDType(code, "").DType;
        }
        catch (MLArrayException)
        {
            return null;
        }
    }

    private static void CopyNiftiSource(MetaDict src, NiftiHeader h, int ndim, bool keepScaling)
    {
        string S(string k) => src.TryGetValue(k, out MetaValue? v) && v is MetaString s ? s.Value : "";
        double D(string k, double def) => src.TryGetValue(k, out MetaValue? v) ? SourceValues.ToDouble(v) ?? def : def;
        long L(string k, long def) => src.TryGetValue(k, out MetaValue? v) && v is MetaInt i ? (long)i.Value : def;
        if (src.Entries.Count == 0) return;
        h.DataTypeString = S("data_type");
        h.DbName = S("db_name");
        h.Extents = L("extents", 0);
        h.SessionError = L("session_error", 0);
        h.Regular = src.TryGetValue("regular", out _) ? S("regular") : "r";
        h.DimInfo = L("dim_info", 0);
        h.IntentP1 = D("intent_p1", 0);
        h.IntentP2 = D("intent_p2", 0);
        h.IntentP3 = D("intent_p3", 0);
        h.IntentCode = L("intent_code", 0);
        h.SliceStart = L("slice_start", 0);
        h.SliceEnd = L("slice_end", 0);
        h.SliceCode = L("slice_code", 0);
        h.XyztUnits = L("xyzt_units", 10);
        h.CalMax = D("cal_max", 0);
        h.CalMin = D("cal_min", 0);
        h.SliceDuration = D("slice_duration", 0);
        h.TOffset = D("toffset", 0);
        h.GlMax = L("glmax", 0);
        h.GlMin = L("glmin", 0);
        h.Descrip = S("descrip");
        h.AuxFile = S("aux_file");
        h.IntentName = S("intent_name");
        h.UnusedStr = S("unused_str");
        if (keepScaling)
        {
            h.SclSlope = D("scl_slope", double.NaN);
            h.SclInter = D("scl_inter", double.NaN);
        }

        if (src.TryGetValue("pixdim", out MetaValue? pd) && pd is MetaList pl)
        {
            for (int i = 4; i < Math.Min(8, pl.Items.Count); i++)
            {
                if (i <= ndim && SourceValues.ToDouble(pl.Items[i]) is { } d) h.PixDim[i] = d;
            }
        }

        if (src.TryGetValue("extensions", out MetaValue? ev) && ev is MetaList el)
        {
            foreach (MetaValue e in el.Items)
            {
                if (e is MetaDict ed && ed.TryGetValue("ecode", out MetaValue? c) && c is MetaInt ci &&
                    ed.TryGetValue("edata_base64", out MetaValue? b) && b is MetaString bs)
                {
                    try
                    {
                        h.Extensions.Add(new NiftiExtension((int)ci.Value, Convert.FromBase64String(bs.Value)));
                    }
                    catch (FormatException)
                    {
                        // not ours: skip
                    }
                }
            }
        }
    }
}
