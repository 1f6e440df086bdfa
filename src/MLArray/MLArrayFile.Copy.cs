using System.Numerics.Tensors;
using MLArray.Blosc2;
using MLArray.Interop;
using MLArray.Metadata;

namespace MLArray;

// copy= (fill unset fields), AddBbox, and data-access niceties (rows, tensors).
public sealed partial class MLArrayFile
{
    /// <summary>
    /// <paramref name="meta"/> with every unset field taken from <paramref name="from"/> (python <c>copy_from</c> as the
    /// constructor's <c>copy=</c> runs it). An explicit affine keeps the copied spacing/origin/direction out and vice versa.
    /// </summary>
    private static MLArrayMeta FillFrom(MLArrayMeta meta, MLArrayMeta from)
    {
        var s = meta.Spatial;
        var c = from.Spatial;
        if (s.Affine is null)
            s = s with { Spacing = s.Spacing ?? c.Spacing, Origin = s.Origin ?? c.Origin, Direction = s.Direction ?? c.Direction };
        if (s.Spacing is null && s.Origin is null && s.Direction is null)
            s = s with { Affine = s.Affine ?? c.Affine };
        s = s with
        {
            AxisLabels = s.AxisLabels ?? c.AxisLabels,
            AxisUnits = s.AxisUnits ?? c.AxisUnits,
            CoordSystem = s.CoordSystem ?? c.CoordSystem,
        };
        return meta with
        {
            Spatial = s,
            Source = meta.Source.Entries.Count == 0 ? from.Source : meta.Source,
            Extra = meta.Extra.Entries.Count == 0 ? from.Extra : meta.Extra,
            Stats = meta.Stats == new MetaStatistics() ? from.Stats : meta.Stats,
            Bbox = meta.Bbox == new MetaBbox() ? from.Bbox : meta.Bbox,
            IsSeg = meta.IsSeg ?? from.IsSeg,
            ImageMetaFormat = meta.ImageMetaFormat ?? from.ImageMetaFormat,
        };
    }

    /// <summary>
    /// Appends a bounding box (one [min, max] pair per axis) with an optional score and label to <c>Meta.Bbox</c>
    /// (python <c>meta.add_bbox</c>); the first box may carry a score or label (the reference fails there).
    /// </summary>
    /// <exception cref="ArgumentException">See <see cref="MetaBbox.Add"/>; the metadata is left unchanged.</exception>
    public void AddBbox(IReadOnlyList<IReadOnlyList<MetaNumber>> bbox, MetaNumber? score = null, MetaValue? label = null)
    {
        lock (_gate)
            SetMeta(_meta with { Bbox = _meta.Bbox.Add(bbox, score, label) });
    }

    /// <summary>Reads a selection (python <c>img[...]</c>) into a new C-order array; an alias of <see cref="Read{T}(NdIndex[])"/>.</summary>
    /// <example><c>float[] slab = img.Slice&lt;float&gt;(5, .., 10..20);</c></example>
    public T[] Slice<T>(params NdIndex[] selection) where T : unmanaged => Read<T>(selection);

    /// <summary>
    /// Enumerates the first axis (python <c>for x in img</c>): each item is the sub-array <c>img[i]</c> in C order.
    /// Rows are decoded one at a time.
    /// </summary>
    /// <exception cref="InvalidOperationException">Metadata-only or 0-d image.</exception>
    public IEnumerable<T[]> Rows<T>() where T : unmanaged
    {
        CheckType<T>();
        long n = Length;
        return Iterate();

        IEnumerable<T[]> Iterate()
        {
            for (long i = 0; i < n; i++)
                yield return Read<T>(i);
        }
    }

    /// <summary>Decodes the whole array into a new <see cref="Tensor{T}"/> with the image's shape.</summary>
    public Tensor<T> ToTensor<T>() where T : unmanaged
    {
        CheckType<T>();
        return Data.ToTensor<T>();
    }

    /// <summary>Decodes a selection into a new <see cref="Tensor{T}"/> shaped like the selection (indices drop their axis).</summary>
    public Tensor<T> ToTensor<T>(params NdIndex[] selection) where T : unmanaged
    {
        CheckType<T>();
        var shape = Data.GetSelectionShape(selection);
        var data = Data.Read<T>(selection);
        return Tensor.Create(data, shape.Select(x => checked((nint)x)).ToArray());
    }

    /// <summary>
    /// Builds an in-memory image from a tensor (its lengths become the shape; a non-dense tensor is copied densely first).
    /// </summary>
    public static MLArrayFile FromTensor<T>(Tensor<T> tensor, MLArrayCreateOptions? options = null) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var shape = tensor.Lengths.ToArray().Select(x => (long)x).ToArray();
        var data = new T[tensor.FlattenedLength];
        tensor.FlattenTo(data);
        return FromArray(data, shape, options);
    }
}
