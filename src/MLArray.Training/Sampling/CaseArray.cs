namespace MLArray.Training.Sampling;

/// <summary>
/// An open case array with its axis facts computed once (shape, spatial axes, channel count), so patch reads do not
/// query the file's metadata per patch.
/// </summary>
internal sealed class CaseArray
{
    /// <param name="file">The open array.</param>
    /// <param name="spatialNDim">Null: the spatial axes from the file (<see cref="CaseAxes.SpatialAxes"/>); else the
    /// last <paramref name="spatialNDim"/> axes are spatial and the leading ones channels.</param>
    public CaseArray(MLArrayFile file, int? spatialNDim = null)
    {
        File = file;
        Shape = file.Shape;
        DType = file.DType;
        SpatialAxes = spatialNDim is int k ? Enumerable.Range(Shape.Length - k, k).ToArray() : CaseAxes.SpatialAxes(file);
        SpatialShape = CaseAxes.SpatialShape(file, SpatialAxes);
        Channels = CaseAxes.ChannelCount(file, SpatialAxes);
    }

    /// <summary>The file (opened read-only by the dataset).</summary>
    public MLArrayFile File { get; }

    /// <summary>The stored shape.</summary>
    public long[] Shape { get; }

    /// <summary>The stored element type.</summary>
    public DType DType { get; }

    /// <summary>Spatial axes in stored order.</summary>
    public int[] SpatialAxes { get; }

    /// <summary>Sizes of the spatial axes.</summary>
    public long[] SpatialShape { get; }

    /// <summary>Product of the channel (non-spatial) axis sizes; 1 without channel axes.</summary>
    public long Channels { get; }

    /// <summary>Elements of a patch of spatial size <paramref name="size"/> (channel axes whole).</summary>
    public long PatchElements(ReadOnlySpan<long> size)
    {
        long n = Channels;
        foreach (var s in size) n *= s;
        return n;
    }
}
