using MLArray.Training.Sampling;

namespace MLArray.Training.Inference;

/// <summary>Per-channel intensity transform applied to image voxels (never to padding): clip to [Low, High], then (x − Shift)·Scale.</summary>
internal readonly record struct VoxelTransform(float Low, float High, float Shift, float Scale)
{
    public static VoxelTransform Identity { get; } = new(float.NegativeInfinity, float.PositiveInfinity, 0, 1);

    public bool IsIdentity => this == Identity;
}

/// <summary>
/// Reads grid tiles of an image as float32 [channel, spatial…] with all channel axes flattened in stored order,
/// converting the stored dtype, applying a per-channel <see cref="VoxelTransform"/> and padding the parts outside the image
/// with 0 (after the transform, as nnU-Net pads normalised data): the training loader's <see cref="PatchReader"/> with
/// inference's conventions. Decodes only the clipped box, straight into the tile.
/// </summary>
internal sealed class ImagePatchReader
{
    private readonly CaseArray _image;
    private readonly PatchReader _reader = new();
    private readonly float[] _low, _high, _scale, _bias;

    public ImagePatchReader(MLArrayFile image, IReadOnlyList<VoxelTransform>? transforms = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        _image = new CaseArray(image);
        if (_image.Channels > int.MaxValue)
            throw new ArgumentException($"the image has {_image.Channels} channels; too many for inference.", nameof(image));
        Channels = (int)_image.Channels;
        if (transforms is not null && transforms.Count != 1 && transforms.Count != Channels)
            throw new ArgumentException($"normalisation has {transforms.Count} channel entries but the image has {Channels} channels.", nameof(transforms));
        var t = transforms?.Where(x => !x.IsIdentity).Any() == true ? transforms.ToArray() : [];
        _low = t.Select(x => x.Low).ToArray();
        _high = t.Select(x => x.High).ToArray();
        _scale = t.Select(x => x.Scale).ToArray();
        _bias = t.Select(x => (float)(-(double)x.Shift * x.Scale)).ToArray();
    }

    /// <summary>Product of the non-spatial axes.</summary>
    public int Channels { get; }

    /// <summary>The spatial axes' lengths, in stored order.</summary>
    public long[] SpatialShape => _image.SpatialShape;

    /// <summary>Fills <paramref name="destination"/> (<see cref="Channels"/> × tile voxels) with the tile.</summary>
    public void Read(GridPatch patch, Span<float> destination)
    {
        if (destination.Length != Channels * patch.VoxelCount)
            throw new ArgumentException($"the destination has {destination.Length} floats but {Channels} channels × {patch.VoxelCount} voxels need {Channels * patch.VoxelCount}.", nameof(destination));
        Span<long> size = stackalloc long[patch.Size.Length];
        for (int i = 0; i < size.Length; i++) size[i] = patch.Size[i];
        _reader.Read(_image, patch.Start, size, destination, PadMode.Constant, 0f, new ChannelTransform<float>(_scale, _bias, _low, _high));
    }
}
