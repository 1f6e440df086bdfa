namespace MLArray.Training.Sampling;

/// <summary>Which axes of a case array are spatial (patched) and which are channel axes (always read whole).</summary>
internal static class CaseAxes
{
    /// <summary>
    /// Spatial axes in stored order: by the axis labels when the file has them (<c>spatial</c>, <c>spatial_x|y|z</c>),
    /// else the last <see cref="MLArrayFile.SpatialNDim"/> axes (leading axes are channels, as nnU-Net's (c, x, y, z)).
    /// </summary>
    public static int[] SpatialAxes(MLArrayFile file)
    {
        var labels = file.AxisLabels;
        int ndim = file.NDim;
        if (labels is { Count: > 0 } && labels.Count == ndim)
        {
            var axes = new List<int>(ndim);
            for (int i = 0; i < ndim; i++)
                if (IsSpatialLabel(labels[i])) axes.Add(i);
            return [.. axes];
        }
        int s = Math.Clamp(file.SpatialNDim, 0, ndim);
        return Enumerable.Range(ndim - s, s).ToArray();
    }

    /// <summary>Whether an axis label names a spatial axis (<c>spatial</c>, <c>spatial_x|y|z</c>...).</summary>
    public static bool IsSpatialLabel(string label) =>
        label == "spatial" || label.StartsWith("spatial_", StringComparison.Ordinal);

    /// <summary>The spatial shape of <paramref name="file"/> (sizes of <paramref name="spatialAxes"/>).</summary>
    public static long[] SpatialShape(MLArrayFile file, int[] spatialAxes)
    {
        var shape = file.Shape;
        var result = new long[spatialAxes.Length];
        for (int i = 0; i < result.Length; i++) result[i] = shape[spatialAxes[i]];
        return result;
    }

    /// <summary>Number of channels: the product of the non-spatial axis sizes (1 without channel axes).</summary>
    public static long ChannelCount(MLArrayFile file, int[] spatialAxes)
    {
        var shape = file.Shape;
        long c = 1;
        for (int i = 0; i < shape.Length; i++)
            if (Array.IndexOf(spatialAxes, i) < 0) c *= shape[i];
        return c;
    }
}
