using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using MLArray.Blosc2;

namespace MLArray.Training.Inference;

/// <summary>Per-channel intensity transform applied to image voxels (never to padding): clip to [Low, High], then (x − Shift)·Scale.</summary>
internal readonly record struct VoxelTransform(float Low, float High, float Shift, float Scale)
{
    public static VoxelTransform Identity { get; } = new(float.NegativeInfinity, float.PositiveInfinity, 0, 1);

    public bool IsIdentity => this == Identity;

    public float Apply(float x) => (Math.Clamp(x, Low, High) - Shift) * Scale;

    public void Apply(Span<float> x)
    {
        if (IsIdentity) return;
        if (!float.IsNegativeInfinity(Low) || !float.IsPositiveInfinity(High))
            TensorPrimitives.Clamp(x, Low, High, x);
        TensorPrimitives.Subtract(x, Shift, x);
        TensorPrimitives.Multiply(x, Scale, x);
    }
}

/// <summary>
/// Reads grid tiles of an image as float32 [channel, spatial…] with all channel axes flattened in stored order,
/// converting the stored dtype, applying a per-channel <see cref="VoxelTransform"/> and padding the parts outside the image
/// with 0 (after the transform, as nnU-Net pads normalised data). Decodes only the clipped box.
/// </summary>
/// <remarks>A minimal read-with-padding for inference; the training loader's patch reader is the general one.</remarks>
internal sealed class ImagePatchReader
{
    private static readonly HashSet<string> SpatialLabels = ["spatial", "spatial_x", "spatial_y", "spatial_z"];

    private readonly MLArrayFile _image;
    private readonly long[] _shape;
    private readonly bool[] _spatial;
    private readonly VoxelTransform[] _transforms;

    public ImagePatchReader(MLArrayFile image, IReadOnlyList<VoxelTransform>? transforms = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        _image = image;
        _shape = image.Shape;
        _spatial = SpatialMask(image);
        SpatialShape = Enumerable.Range(0, _shape.Length).Where(d => _spatial[d]).Select(d => _shape[d]).ToArray();
        long channels = 1;
        for (int d = 0; d < _shape.Length; d++)
            if (!_spatial[d]) channels *= _shape[d];
        if (channels > int.MaxValue)
            throw new ArgumentException($"the image has {channels} channels; too many for inference.", nameof(image));
        Channels = (int)channels;
        if (transforms is not null && transforms.Count != 1 && transforms.Count != Channels)
            throw new ArgumentException($"normalisation has {transforms.Count} channel entries but the image has {Channels} channels.", nameof(transforms));
        _transforms = transforms is null ? [VoxelTransform.Identity] : transforms.ToArray();
    }

    /// <summary>Product of the non-spatial axes.</summary>
    public int Channels { get; }

    /// <summary>The spatial axes' lengths, in stored order.</summary>
    public long[] SpatialShape { get; }

    /// <summary>Whether a label names a spatial axis.</summary>
    public static bool IsSpatial(string label) => SpatialLabels.Contains(label);

    /// <summary>Spatial axes: by label when labelled, else the last <see cref="MLArrayFile.SpatialNDim"/> axes.</summary>
    public static bool[] SpatialMask(MLArrayFile image)
    {
        int n = image.NDim;
        if (image.AxisLabels is { } labels && labels.Count == n)
            return labels.Select(IsSpatial).ToArray();
        int sp = image.SpatialNDim;
        return Enumerable.Range(0, n).Select(d => d >= n - sp).ToArray();
    }

    /// <summary>Fills <paramref name="destination"/> (<see cref="Channels"/> × tile voxels) with the tile.</summary>
    public void Read(GridPatch patch, Span<float> destination)
    {
        switch (_image.DType.Name)
        {
            case "|b1": ReadAs<byte>(patch, destination, bool8: true); break;
            case "|i1": ReadAs<sbyte>(patch, destination); break;
            case "|u1": ReadAs<byte>(patch, destination); break;
            case "<i2": ReadAs<short>(patch, destination); break;
            case "<u2": ReadAs<ushort>(patch, destination); break;
            case "<i4": ReadAs<int>(patch, destination); break;
            case "<u4": ReadAs<uint>(patch, destination); break;
            case "<i8": ReadAs<long>(patch, destination); break;
            case "<u8": ReadAs<ulong>(patch, destination); break;
            case "<f4": ReadAs<float>(patch, destination); break;
            case "<f8": ReadAs<double>(patch, destination); break;
            default: throw new MLArrayNotSupportedException($"images of dtype {_image.DType.Name} cannot be read for inference.");
        }
    }

    private void ReadAs<T>(GridPatch patch, Span<float> destination, bool bool8 = false) where T : unmanaged, INumberBase<T>
    {
        int nd = _shape.Length;
        int sd = SpatialShape.Length;
        long tileVoxels = patch.VoxelCount;
        if (destination.Length != Channels * tileVoxels)
            throw new ArgumentException($"the destination has {destination.Length} floats but {Channels} channels × {tileVoxels} voxels need {Channels * tileVoxels}.", nameof(destination));
        destination.Clear();
        // the clipped box in stored axes, and where each of its axes goes in the destination
        var sel = new NdIndex[nd];
        var boxShape = new long[nd];
        var destStride = new long[nd];
        var chanStride = new long[nd];
        long destOffset = 0;
        long boxCount = 1;
        long cs = 1;
        for (int d = nd - 1; d >= 0; d--)
        {
            if (!_spatial[d])
            {
                chanStride[d] = cs;
                destStride[d] = cs * tileVoxels;
                cs *= _shape[d];
            }
        }
        long ts = 1;
        int k = sd - 1;
        for (int d = nd - 1; d >= 0; d--)
        {
            if (_spatial[d])
            {
                long lo = Math.Max(0, patch.Start[k]), hi = Math.Min(_shape[d], patch.Start[k] + patch.Size[k]);
                if (hi <= lo) return; // the tile lies outside the image: all padding
                sel[d] = NdIndex.Slice(lo, hi);
                boxShape[d] = hi - lo;
                destStride[d] = ts;
                destOffset += (lo - patch.Start[k]) * ts;
                ts *= patch.Size[k];
                k--;
            }
            else
            {
                sel[d] = NdIndex.All;
                boxShape[d] = _shape[d];
            }
            boxCount *= boxShape[d];
        }
        var raw = ArrayPool<T>.Shared.Rent((int)boxCount);
        var box = ArrayPool<float>.Shared.Rent((int)boxCount);
        try
        {
            if (bool8)
            {
                var b = new bool[boxCount];
                _image.Read<bool>(sel, b);
                for (long i = 0; i < boxCount; i++) box[i] = b[i] ? 1 : 0;
            }
            else
            {
                _image.Read<T>(sel, raw.AsSpan(0, (int)boxCount));
                if (typeof(T) == typeof(float))
                    ((float[])(object)raw).AsSpan(0, (int)boxCount).CopyTo(box);
                else
                    TensorPrimitives.ConvertTruncating<T, float>(raw.AsSpan(0, (int)boxCount), box.AsSpan(0, (int)boxCount));
            }
            Place(box.AsSpan(0, (int)boxCount), boxShape, destStride, chanStride, destOffset, destination);
        }
        finally
        {
            ArrayPool<T>.Shared.Return(raw);
            ArrayPool<float>.Shared.Return(box);
        }
    }

    private void Place(ReadOnlySpan<float> box, long[] boxShape, long[] destStride, long[] chanStride, long destOffset, Span<float> dest)
    {
        int nd = boxShape.Length;
        int last = nd - 1;
        int line = (int)boxShape[last];
        bool contiguous = _spatial[last];
        Span<long> idx = stackalloc long[nd];
        long src = 0;
        while (true)
        {
            long o = destOffset;
            long channel = 0;
            for (int d = 0; d < last; d++)
            {
                o += idx[d] * destStride[d];
                if (!_spatial[d]) channel += idx[d] * chanStride[d];
            }
            if (contiguous)
            {
                var target = dest.Slice((int)o, line);
                box.Slice((int)src, line).CopyTo(target);
                Transform(channel).Apply(target);
            }
            else
            {
                for (int i = 0; i < line; i++)
                    dest[(int)(o + i * destStride[last])] = Transform(channel + i * chanStride[last]).Apply(box[(int)src + i]);
            }
            src += line;
            int d2 = last - 1;
            for (; d2 >= 0; d2--)
            {
                if (++idx[d2] < boxShape[d2]) break;
                idx[d2] = 0;
            }
            if (d2 < 0) break;
        }
    }

    private VoxelTransform Transform(long channel) => _transforms.Length == 1 ? _transforms[0] : _transforms[channel];
}
