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
        List<int> slots = NiftiAxisLayout.Slots([.. fileAxes.Select(i => g.IsSpatial[i] ? "spatial" : g.Labels[i])]);
        long[] fileShape = [.. slots.Select(s => s < 0 ? 1 : shape[fileAxes[s]])];
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

        int sformCode = (int)(SourceValues.Source(meta, "sform_code") is > 0 and var sc ? sc : 1);
        int qformCode = (int)(SourceValues.Source(meta, "qform_code") is > 0 and var qc ? qc : 1);
        var h = NiftiHeader.Create(outType, fileShape, ras, channels, sformCode, qformCode);
        int ns = g.FileAffine.GetLength(0) - 1;
        if (ns < 3 && SourceForms(meta) is { } forms && SamePlane(forms.Best, ras, ns))
            RestoreSourceForms(h, forms); // a 2-D image of a 3-D sform/qform: the out-of-plane parts come back from meta.source
        else if (MatrixMath.IsSingular(MatrixMath.Linear(ras, 3), MLArrayFile.DirectionTolerance))
            WithoutQform(h, ras); // the sform is a general affine in NIfTI; a qform must be a rotation, so it is not set
        srcHeader = h;
        CopyNiftiSource(meta.Source, h, fileShape.Length, keepScaling: scaledOnImport || dtype.Kind != DTypeKind.Float || srcType is null ||
            (NiftiDataTypeOrNull((int)srcType) is { } sd && sd == dtype));
        // Padding dims (dims 1-3 are space, dim 4 time): record the labels so that our import can drop them again.
        // Only when the file axes are the C axes reversed, so that dropping the padding gives back the C order.
        if (channels == 1 && slots.Contains(-1) && meta.Spatial.AxisLabels is { } given && given.Count == n && fileAxes.SequenceEqual(Enumerable.Range(0, n).Reverse()))
            h.Extensions.Add(NiftiAxisLayout.Marker([.. given.Select(l => l.Value)]));
        int version = SourceValues.Source(meta, "sizeof_hdr") == 540 ? 2 : 1;
        ct.ThrowIfCancellationRequested();
        Nifti.Write(output, new NiftiImage(srcHeader, outType, channels, fileData), new NiftiWriteOptions { Version = version == 2 ? 2 : null }, ct);
    }

    /// <summary>The sform and qform a NIfTI source header held (from <c>meta.source</c>), with their codes.</summary>
    private sealed record SourceFormSet(double[,]? Sform, int SformCode, double[,]? Qform, int QformCode, double[] QParams, double[] PixDim)
    {
        /// <summary>nibabel's <c>get_best_affine</c> over the stored forms (the import used the same rule).</summary>
        public double[,] Best => SformCode > 0 && Sform is not null ? Sform : Qform!;
    }

    /// <summary>
    /// The source's sform (when sform_code &gt; 0) and qform (when qform_code &gt; 0); null when it holds neither or
    /// was not a single plane.
    /// </summary>
    private static SourceFormSet? SourceForms(MLArrayMeta meta)
    {
        double[]? Vec(string key, int n)
        {
            if (!meta.Source.TryGetValue(key, out MetaValue? v) || v is not MetaList l || l.Items.Count < n) return null;
            var r = new double[n];
            for (int i = 0; i < n; i++)
                if (SourceValues.ToDouble(l.Items[i]) is not { } d || !double.IsFinite(d)) return null;
                else r[i] = d;
            return r;
        }

        // Only a source that was itself one plane (dim[0] < 3 or dim[3] == 1): a 2-D image cut from a volume does not
        // lie where the volume's form puts its first slice.
        if (Vec("dim", 4) is not { } dim || !(dim[0] < 3 || dim[3] == 1)) return null;
        double Num(string key) => SourceValues.SourceDouble(meta, key);
        int sCode = (int)(SourceValues.Source(meta, "sform_code") ?? 0), qCode = (int)(SourceValues.Source(meta, "qform_code") ?? 0);
        double[]? x = Vec("srow_x", 4), y = Vec("srow_y", 4), z = Vec("srow_z", 4), pix = Vec("pixdim", 8) ?? Vec("pixdim", 4);
        double[,]? sform = sCode > 0 && x is not null && y is not null && z is not null
            ? new double[,] { { x[0], x[1], x[2], x[3] }, { y[0], y[1], y[2], y[3] }, { z[0], z[1], z[2], z[3] }, { 0, 0, 0, 1 } }
            : null;
        double[] q = [Num("quatern_b"), Num("quatern_c"), Num("quatern_d"), Num("qoffset_x"), Num("qoffset_y"), Num("qoffset_z")];
        double[,]? qform = null;
        if (qCode > 0 && pix is not null && q.All(double.IsFinite))
        {
            double[] zooms = [.. pix.Skip(1).Take(3).Select(v => Math.Abs(v) is var a && a > 0 ? a : 1)];
            qform = NiftiAffine.QuaternionToAffine(q[0], q[1], q[2], q[3], q[4], q[5], pix[0] < 0 ? -1 : 1, zooms);
        }
        if (sform is null && qform is null) return null;
        return new SourceFormSet(sform, sform is null ? 0 : sCode, qform, qform is null ? 0 : qCode, q, pix!);
    }

    /// <summary>
    /// Whether the exported in-plane geometry (RAS rows and columns of the <paramref name="ns"/> spatial axes, and their
    /// offsets) is still the source form's: the image was imported from that header and its geometry not changed since.
    /// </summary>
    private static bool SamePlane(double[,] best, double[,] ras, int ns)
    {
        double scale = 0;
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++) scale = Math.Max(scale, Math.Abs(best[r, c]));
        double tol = 1e-6 * Math.Max(1, scale);
        for (int r = 0; r < ns; r++)
        {
            for (int c = 0; c < ns; c++)
                if (!(Math.Abs(best[r, c] - ras[r, c]) <= tol)) return false;
            if (!(Math.Abs(best[r, 3] - ras[r, 3]) <= tol)) return false;
        }
        return true;
    }

    private static void RestoreSourceForms(NiftiHeader h, SourceFormSet f)
    {
        h.SetAffine(f.Best, f.SformCode, f.QformCode);
        if (f.Qform is not null)
        {
            // the stored quaternion, offsets and qfac, bit for bit (SetAffine derived them from the best form)
            (h.QuaternB, h.QuaternC, h.QuaternD, h.QOffsetX, h.QOffsetY, h.QOffsetZ) = (f.QParams[0], f.QParams[1], f.QParams[2], f.QParams[3], f.QParams[4], f.QParams[5]);
            for (int i = 0; i < 4; i++) h.PixDim[i] = f.PixDim[i];
        }
    }

    /// <summary>
    /// A singular affine: kept as the sform (NIfTI-1 calls it a general affine), qform_code 0 with a null rotation
    /// (a quaternion can only express a rotation), pixdim[1..3] the column lengths.
    /// </summary>
    private static void WithoutQform(NiftiHeader h, double[,] ras)
    {
        h.QformCode = 0;
        (h.QuaternB, h.QuaternC, h.QuaternD) = (0, 0, 0);
        (h.QOffsetX, h.QOffsetY, h.QOffsetZ) = (ras[0, 3], ras[1, 3], ras[2, 3]);
        h.PixDim[0] = 1;
        for (int j = 0; j < 3; j++)
            h.PixDim[j + 1] = Math.Sqrt((ras[0, j] * ras[0, j]) + (ras[1, j] * ras[1, j]) + (ras[2, j] * ras[2, j]));
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
                        var ext = new NiftiExtension((int)ci.Value, Convert.FromBase64String(bs.Value));
                        if (!NiftiAxisLayout.IsMarker(ext)) h.Extensions.Add(ext); // the export writes its own
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
