using MLArray.Kernels;
using MLArray.Layout;
using MLArray.Medical.Nifti;
using MLArray.Medical.Nrrd;
using MLArray.Metadata;

namespace MLArray.Conversion;

/// <summary>What an import stores: create options (geometry, labels, meta), the C-order shape, the element types and scaling.</summary>
internal sealed record ImportPlan(MLArrayCreateOptions Opts, long[] Shape, DType InType, DType OutType, (double Slope, double Inter)? Scale);

/// <summary>
/// Import planning: from a NIfTI/NRRD header, what the <c>.mla</c> stores (C-order shape, axis labels, geometry in the
/// seed's convention, <c>meta.source</c>, stored and output element types, scaling), and building the image from bytes.
/// </summary>
internal static class ImportPlanner
{
    internal static ImportPlan PlanNifti(NiftiHeader h, long[] fileShape, long[] shape, DType dtype, int channels, MedicalToMLArrayOptions options)
    {
        // Our export's padding dims (recorded in its marker extension) are dropped again: the image's own axes come back.
        var unpadded = channels == 1 && !options.CanonicalRas ? NiftiAxisLayout.Unpadded(h, fileShape) : null;
        int nsp = unpadded is { } u0 ? u0.Labels.Count(l => ExportGeometry.SpatialLabels.Contains(l)) : Math.Min(3, fileShape.Length);

        // LPS affine over the file's spatial index axes.
        double[,] lps = AffineMath.FlipXY(h.GetBestAffine(), nsp);

        // Labels in C order: reversed file axes (dims ≥ 5 are channels, dim 4 temporal), then an RGB channel axis.
        var fileLabels = new string[fileShape.Length];
        string[] spNames = nsp == 3 ? ["spatial_x", "spatial_y", "spatial_z"] : nsp == 2 ? ["spatial_x", "spatial_y"] : ["spatial_x"];
        for (int i = 0; i < fileShape.Length; i++)
            fileLabels[i] = i < nsp ? spNames[i] : i == 3 ? "temporal" : "channel";
        var labels = fileLabels.Reverse().ToList();
        if (channels > 1) labels.Add("channel");
        if (unpadded is { } u)
        {
            labels = [.. u.Labels];
            shape = u.Shape;
        }

        var source = SourceValues.HeaderToSource(h.ToDictionary());
        var extensions = h.Extensions.Where(e => !NiftiAxisLayout.IsMarker(e)).ToList();
        if (extensions.Count > 0)
        {
            source = SourceValues.Append(source, "extensions", MetaValue.List(extensions.Select(e => (MetaValue)new MetaDict(
            [
                new("ecode", MetaValue.From(e.Code)),
                new("esize", MetaValue.From(e.ESize)),
                new("edata_base64", MetaValue.From(Convert.ToBase64String(e.Data))),
            ]))));
        }

        var meta = new MLArrayMeta { Source = source, ImageMetaFormat = ImageMetaFormat.Nifti, Spatial = new MetaSpatial { CoordSystem = CoordSystem.Lps } };
        (double[] spacing, double[] origin, double[,] direction) = AffineMath.Decompose(lps);
        var opts = new MLArrayCreateOptions
        {
            Spacing = spacing.Reverse().ToArray(),
            Origin = origin.Reverse().ToArray(),
            Direction = AffineMath.Reverse(direction),
            AxisLabels = [.. labels],
            Meta = meta,
            Layout = options.Layout,
            Compression = options.Compression,
        };

        if (!options.Raw && channels == 1 && h.Scaling is (double slope, double inter))
        {
            if (dtype.Kind == DTypeKind.Complex)
                throw new MLArrayNotSupportedException(
                    $"scaled complex NIfTI data (datatype {h.DataType}) (scl_slope {slope}, scl_inter {inter}) is not supported; convert with --raw to keep the stored values (the scaling stays in meta.source).");
            return new ImportPlan(opts, shape, dtype, dtype == DType.Float64 ? DType.Float64 : DType.Float32, (slope, inter));
        }
        return new ImportPlan(opts, shape, dtype, dtype, null);
    }

    internal static int[] NrrdSpatialAxes(NrrdHeader h, int n)
    {
        bool[] spatial = NrrdSpatialFlags(h, n);
        return Enumerable.Range(0, n).Where(i => spatial[i]).ToArray();
    }

    /// <summary>Per file axis: spatial when its space direction is not <c>none</c>, else by its kind (domain/space), else true.</summary>
    internal static bool[] NrrdSpatialFlags(NrrdHeader h, int n)
    {
        double[][]? dirs = h.SpaceDirections;
        string[]? kinds = h.Kinds;
        var spatial = new bool[n];
        for (int i = 0; i < n; i++)
        {
            if (dirs is not null && i < dirs.Length)
                spatial[i] = !dirs[i].Any(double.IsNaN);
            else if (kinds is not null && i < kinds.Length)
                spatial[i] = kinds[i].ToLowerInvariant() is "domain" or "space";
            else
                spatial[i] = true;
        }

        return spatial;
    }

    internal static ImportPlan PlanNrrd(NrrdHeader h, long[] sizes, long[] shape, DType dtype, MedicalToMLArrayOptions options)
    {
        int n = sizes.Length;
        double[][]? dirs = h.SpaceDirections;
        string[]? kinds = h.Kinds;
        bool[] spatial = NrrdSpatialFlags(h, n);
        int[] spAxes = Enumerable.Range(0, n).Where(i => spatial[i]).ToArray();
        int nsp = spAxes.Length;
        string[] spNames = nsp switch
        {
            3 => ["spatial_x", "spatial_y", "spatial_z"],
            2 => ["spatial_x", "spatial_y"],
            1 => ["spatial_x"],
            _ => Enumerable.Repeat("spatial", nsp).ToArray(),
        };
        var fileLabels = new string[n];
        int si = 0;
        for (int i = 0; i < n; i++)
        {
            if (spatial[i]) fileLabels[i] = spNames[si++];
            else fileLabels[i] = kinds is not null && i < kinds.Length && kinds[i].ToLowerInvariant() == "time" ? "temporal" : "channel";
        }

        // Affine in the header's space over the spatial axes (file order).
        double[,]? affine = null;
        if (dirs is not null && nsp > 0 && dirs[spAxes[0]].Length == nsp)
        {
            affine = new double[nsp + 1, nsp + 1];
            double[]? o = h.SpaceOrigin;
            for (int q = 0; q < nsp; q++)
            {
                for (int r = 0; r < nsp; r++) affine[r, q] = dirs[spAxes[q]][r];
            }
            for (int r = 0; r < nsp; r++) affine[r, nsp] = o is not null && r < o.Length && !double.IsNaN(o[r]) ? o[r] : 0;
            affine[nsp, nsp] = 1;
        }
        else if (dirs is null && nsp > 0)
        {
            double[]? sp = h.Spacings;
            affine = new double[nsp + 1, nsp + 1];
            for (int q = 0; q < nsp; q++)
            {
                double s = sp is not null && spAxes[q] < sp.Length && double.IsFinite(sp[spAxes[q]]) && sp[spAxes[q]] > 0 ? sp[spAxes[q]] : 1;
                affine[q, q] = s;
            }
            affine[nsp, nsp] = 1;
        }

        CoordSystem? cs = h.Space switch
        {
            null => (CoordSystem?)null,
            var s when s.Equals("right-anterior-superior", StringComparison.OrdinalIgnoreCase) || s.Equals("RAS", StringComparison.OrdinalIgnoreCase) => CoordSystem.Ras,
            var s when s.Equals("left-posterior-superior", StringComparison.OrdinalIgnoreCase) || s.Equals("LPS", StringComparison.OrdinalIgnoreCase) => CoordSystem.Lps,
            var s => new CoordSystem(s),
        };
        var meta = new MLArrayMeta
        {
            Source = SourceValues.HeaderToSource(h.ToDictionary()),
            ImageMetaFormat = ImageMetaFormat.Nrrd,
            Spatial = new MetaSpatial { CoordSystem = cs },
        };
        var opts = new MLArrayCreateOptions
        {
            AxisLabels = fileLabels.Reverse().ToArray(),
            Meta = meta,
            Layout = options.Layout,
            Compression = options.Compression,
        };
        if (affine is not null && !options.CanonicalRas)
        {
            (double[] spacing, double[] origin, double[,] direction) = AffineMath.Decompose(affine);
            opts = opts with { Spacing = spacing.Reverse().ToArray(), Origin = origin.Reverse().ToArray(), Direction = AffineMath.Reverse(direction) };
        }

        return new ImportPlan(opts, shape, dtype, dtype, null);
    }

    /// <summary>The layout and compression <see cref="MedicalToMLArrayOptions.Configure"/> picks for the stored dtype and shape.</summary>
    internal static MLArrayCreateOptions Configure(MLArrayCreateOptions o, MedicalToMLArrayOptions options, DType dtype, long[] shape)
    {
        if (options.Configure is null) return o;
        (LayoutOptions? layout, CompressionParams? comp) = options.Configure(dtype, shape);
        return o with { Layout = layout ?? o.Layout, Compression = comp ?? o.Compression };
    }

    /// <summary>The stored bytes of an in-memory import: the file's elements, or their scaled values.</summary>
    internal static byte[] StoredBytes(ImportPlan plan, byte[] data)
    {
        if (plan.Scale is not (double slope, double inter)) return data;
        var scaled = GC.AllocateUninitializedArray<byte>(data.Length / plan.InType.ItemSize * plan.OutType.ItemSize);
        ElementConvert.Scale(data, plan.InType, slope, inter, scaled, plan.OutType);
        return scaled;
    }
}
