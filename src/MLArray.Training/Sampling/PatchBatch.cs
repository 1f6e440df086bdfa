using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Numerics.Tensors;

namespace MLArray.Training.Sampling;

/// <summary>Where one sample of a batch came from.</summary>
public sealed class PatchSample
{
    internal PatchSample(int spatialRank)
    {
        StartArray = new long[spatialRank];
    }

    internal readonly long[] StartArray;

    /// <summary>Index of the case in the dataset.</summary>
    public int CaseIndex { get; internal set; }

    /// <summary>The case id (the image file name as given in the dataset).</summary>
    public string CaseId { get; internal set; } = "";

    /// <summary>The epoch of the sample (per rank: one pass over this rank's shard of cases).</summary>
    public long Epoch { get; internal set; }

    /// <summary>Start of the read patch per spatial axis (negative or past the end where padded).</summary>
    public ReadOnlySpan<long> Start => StartArray;

    /// <summary>
    /// True when the sampler forced this sample to foreground (label-weighted mode: a label &gt; 0 was drawn). A forced
    /// sample of a case without class locations (or without foreground) is placed uniformly: see <see cref="Label"/>.
    /// </summary>
    public bool ForcedForeground { get; internal set; }

    /// <summary>The label the patch was centred on (−1: none, uniform; 0: background in label-weighted mode).</summary>
    public long Label { get; internal set; }
}

/// <summary>
/// One batch: image patches [B, C, spatial…] and segmentation patches [B, 1, spatial…] in pooled buffers, with the
/// origin of every sample. Dispose it to return the buffers to the loader's pool (the memory is reused: do not keep
/// references to <see cref="Image"/> after disposing).
/// </summary>
public sealed class PatchBatch<TImage, TSegmentation> : IDisposable
    where TImage : unmanaged
    where TSegmentation : unmanaged
{
    private readonly Memory<TImage> _image;
    private readonly Memory<TSegmentation> _seg;
    private readonly long[] _imageShape;
    private readonly long[] _segShape;
    private readonly PatchSample[] _samples;
    private readonly Action<PatchBatch<TImage, TSegmentation>> _return;
    private int _rented;

    internal PatchBatch(long[] imageShape, long[] segShape, bool hasSegmentation, Action<PatchBatch<TImage, TSegmentation>> returnToPool)
    {
        _imageShape = imageShape;
        _segShape = segShape;
        _image = Aligned<TImage>(imageShape.Aggregate(1L, (a, b) => a * b));
        _seg = hasSegmentation ? Aligned<TSegmentation>(segShape.Aggregate(1L, (a, b) => a * b)) : Memory<TSegmentation>.Empty;
        _samples = new PatchSample[imageShape[0]];
        for (int i = 0; i < _samples.Length; i++) _samples[i] = new PatchSample(imageShape.Length - 2);
        _return = returnToPool;
    }

    /// <summary>Position of the batch in the stream (0-based).</summary>
    public long Index { get; internal set; }

    /// <summary>Number of samples (B).</summary>
    public int Count => _samples.Length;

    /// <summary>Image patches, C order over <see cref="ImageShape"/>.</summary>
    public Memory<TImage> Image => _image;

    /// <summary>Segmentation patches, C order over <see cref="SegmentationShape"/>; empty when the dataset has no segmentations.</summary>
    public Memory<TSegmentation> Segmentation => _seg;

    /// <summary>[B, C, spatial…].</summary>
    public ReadOnlySpan<long> ImageShape => _imageShape;

    /// <summary>[B, 1, spatial…].</summary>
    public ReadOnlySpan<long> SegmentationShape => _segShape;

    /// <summary>True when the batch has segmentation patches.</summary>
    public bool HasSegmentation => _seg.Length > 0;

    /// <summary>Where every sample came from.</summary>
    public IReadOnlyList<PatchSample> Samples => _samples;

    /// <summary>The image patches as a tensor view [B, C, spatial…].</summary>
    public TensorSpan<TImage> ImageTensor
    {
        get
        {
            Span<nint> lengths = stackalloc nint[_imageShape.Length];
            for (int i = 0; i < lengths.Length; i++) lengths[i] = (nint)_imageShape[i];
            return new TensorSpan<TImage>(_image.Span, lengths, []);
        }
    }

    /// <summary>The segmentation patches as a tensor view [B, 1, spatial…].</summary>
    /// <exception cref="InvalidOperationException">No segmentations.</exception>
    public TensorSpan<TSegmentation> SegmentationTensor
    {
        get
        {
            if (!HasSegmentation) throw new InvalidOperationException("this dataset has no segmentations.");
            Span<nint> lengths = stackalloc nint[_segShape.Length];
            for (int i = 0; i < lengths.Length; i++) lengths[i] = (nint)_segShape[i];
            return new TensorSpan<TSegmentation>(_seg.Span, lengths, []);
        }
    }

    internal Span<TImage> ImageSpan => _image.Span;
    internal Span<TSegmentation> SegSpan => _seg.Span;

    // Pinned (the pool keeps batches for the loader's lifetime) and starting on a 64-byte boundary: patch rows are
    // decoded straight into these buffers, and rows that do not straddle cache lines write measurably faster.
    private static unsafe Memory<T> Aligned<T>(long count) where T : unmanaged
    {
        int n = checked((int)count);
        int slack = 64 / sizeof(T);
        var store = GC.AllocateUninitializedArray<T>(checked(n + slack), pinned: true);
        long address = (long)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(store));
        int skew = (int)((64 - (address & 63)) & 63) / sizeof(T);
        return new Memory<T>(store, skew, n);
    }
    internal PatchSample SampleAt(int i) => _samples[i];

    internal void MarkRented() => Volatile.Write(ref _rented, 1);

    /// <summary>Returns the buffers to the loader's pool (once; later calls do nothing).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _rented, 0) == 1) _return(this);
    }
}
