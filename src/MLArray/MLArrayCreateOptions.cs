using MLArray.Blosc2;
using MLArray.Layout;
using MLArray.Metadata;

namespace MLArray;

/// <summary>
/// What a new image carries besides its data: geometry (spacing, origin, direction, or an affine), axis labels,
/// metadata, the chunk/block layout and the compression parameters. Every setting is optional.
/// </summary>
public sealed record MLArrayCreateOptions
{
    /// <summary>Voxel spacing, one entry per spatial axis (positive).</summary>
    public double[]? Spacing { get; init; }

    /// <summary>World position of the first voxel, one entry per spatial axis.</summary>
    public double[]? Origin { get; init; }

    /// <summary>Direction cosines (spatial × spatial).</summary>
    public double[,]? Direction { get; init; }

    /// <summary>Homogeneous affine ((spatial + 1)²); excludes spacing, origin and direction.</summary>
    public double[,]? Affine { get; init; }

    /// <summary>One label per axis (e.g. <c>spatial_z</c>, <c>channel</c>); non-spatial labels mark axes the layout treats as channels.</summary>
    public string[]? AxisLabels { get; init; }

    /// <summary>Metadata to start from (source, extra, stats, bbox, is_seg, coord system...). Explicit settings above win.</summary>
    public MLArrayMeta? Meta { get; init; }

    /// <summary>
    /// Another image whose metadata fills every field not given here or in <see cref="Meta"/> (python <c>copy=</c>):
    /// spacing/origin/direction (or its affine when none of them is given), axis labels/units, coord system, source,
    /// extra, stats, bbox, is_seg, and its patch size when no <see cref="Layout"/> is given. Explicit settings win.
    /// </summary>
    public MLArrayFile? Copy { get; init; }

    /// <summary>Chunk/block layout (default: patch 192 per spatial axis, see <see cref="LayoutOptions"/>).</summary>
    public LayoutOptions? Layout { get; init; }

    /// <summary>Compression (default: the reference's LZ4HC level 8 with byte shuffle).</summary>
    public CompressionParams? Compression { get; init; }

    /// <summary>The reference's default compression: LZ4HC, clevel 8, shuffle, automatic split.</summary>
    public static CompressionParams DefaultCompression { get; } = new() { Codec = Blosc2Codec.LZ4HC, CLevel = 8, Threads = 0 };
}
