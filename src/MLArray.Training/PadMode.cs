namespace MLArray.Training;

/// <summary>How the parts of a patch that lie outside the image are filled.</summary>
public enum PadMode
{
    /// <summary>A constant value (images: 0 by default; segmentations: −1 by default, nnU-Net's convention).</summary>
    Constant,
    /// <summary>The nearest voxel inside the image (NumPy <c>mode="edge"</c>); for images.</summary>
    Edge,
    /// <summary>No padding: a patch that leaves the image is an error (<see cref="ArgumentException"/>).</summary>
    None,
}
