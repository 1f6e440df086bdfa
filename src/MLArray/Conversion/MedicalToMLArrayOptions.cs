using MLArray.Layout;
using MLArray.Medical;

namespace MLArray.Conversion;

/// <summary>Options of <see cref="MedicalConverter.ToMLArray(string, string, MedicalToMLArrayOptions?)"/>.</summary>
public sealed record MedicalToMLArrayOptions
{
    /// <summary>Keep the stored integers of scaled NIfTI data instead of the scaled values (the scaling stays in <c>meta.source</c>).</summary>
    public bool Raw { get; init; }

    /// <summary>Chunk/block layout (default: patch 192).</summary>
    public LayoutOptions? Layout { get; init; }

    /// <summary>Compression (default: LZ4HC level 8, shuffle).</summary>
    public CompressionParams? Compression { get; init; }

    /// <summary>Reader limits.</summary>
    public MedicalReadOptions? ReadOptions { get; init; }

    /// <summary>
    /// Called with the stored dtype and shape once they are known; returns the layout and compression to use (either
    /// null keeps <see cref="Layout"/>/<see cref="Compression"/>). For settings that depend on the data (filters, chunk shapes).
    /// </summary>
    public Func<DType, long[], (LayoutOptions? Layout, CompressionParams? Compression)>? Configure { get; init; }

    /// <summary>
    /// The reference's later layout instead of the seed's: the array reoriented to the closest RAS+ orientation, in
    /// XYZ(T…) order, geometry stored as a RAS <c>affine</c>, <c>coord_system</c> "RAS+".
    /// </summary>
    public bool CanonicalRas { get; init; }
}
