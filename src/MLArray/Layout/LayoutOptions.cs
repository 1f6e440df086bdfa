using MLArray.Metadata;

using MLArray.Layout;

namespace MLArray;

/// <summary>
/// How the chunk and block shapes of a new array are chosen (mlarray-spec §4.1): from a patch size through
/// <see cref="LayoutOptimizer"/> (the default: 192 per spatial axis, or the patch size of the metadata being reused),
/// given explicitly as chunk + block, or chosen by the library (<see cref="Automatic"/>, python <c>patch_size=None</c>).
/// </summary>
public sealed record LayoutOptions
{
    /// <summary>The reference's default patch edge (per spatial axis).</summary>
    public const int DefaultPatchEdge = 192;

    /// <summary>The default: reuse the patch (or chunk/block) recorded in the metadata, else 192 per spatial axis.</summary>
    public static LayoutOptions Default { get; } = new();

    /// <summary>Library-chosen chunk and block shapes, no patch recorded (python <c>patch_size=None</c>).</summary>
    public static LayoutOptions Automatic { get; } = new() { AutomaticLayout = true };

    /// <summary>Optimise for patches of <paramref name="patchSize"/> (one entry per spatial axis, or one entry for all).</summary>
    public static LayoutOptions Patch(params int[] patchSize) => new() { PatchSize = patchSize };

    /// <summary>Explicit chunk and block shapes (one entry per axis, or one entry for all axes).</summary>
    public static LayoutOptions Manual(int[] chunkSize, int[] blockSize) => new() { ChunkSize = chunkSize, BlockSize = blockSize };

    /// <summary>Patch size over the spatial axes; a single entry applies to every spatial axis. Excludes chunk/block.</summary>
    public int[]? PatchSize { get; init; }

    /// <summary>Chunk shape (with <see cref="BlockSize"/>); a single entry applies to every axis.</summary>
    public int[]? ChunkSize { get; init; }

    /// <summary>Block shape (with <see cref="ChunkSize"/>); a single entry applies to every axis.</summary>
    public int[]? BlockSize { get; init; }

    /// <summary>Let the library choose chunk and block (no patch); excludes the other settings.</summary>
    public bool AutomaticLayout { get; init; }

    /// <summary>Cache sizes for the optimizer; the reference's constants by default.</summary>
    public CacheSizes Cache { get; init; } = CacheSizes.Reference;
}

/// <summary>A resolved layout: the chunk and block shapes to write, and the patch size to record (null if none).</summary>
/// <param name="ChunkSize">Chunk shape, one entry per axis.</param>
/// <param name="BlockSize">Block shape, one entry per axis.</param>
/// <param name="PatchSize">Patch size over the spatial axes the layout was optimised for, or null.</param>
internal sealed record ResolvedLayout(int[] ChunkSize, int[] BlockSize, int[]? PatchSize);

/// <summary>The reference's parameter resolution (<c>_comp_and_validate_blosc2_meta</c>, mlarray-spec §4.1), without its bugs.</summary>
internal static class LayoutResolver
{
    private const string PatchNotImplemented = "Chunk and block size optimization based on patch size is only implemented for 2D and 3D spatial images with at most one further non-spatial axis. Please set the chunk and block size manually or set to None for blosc2 to determine a chunk and block size.";

    /// <summary>
    /// Resolves <paramref name="options"/> for an array of <paramref name="shape"/>.
    /// </summary>
    /// <param name="options">The caller's layout options (null = <see cref="LayoutOptions.Default"/>).</param>
    /// <param name="shape">Array shape.</param>
    /// <param name="itemSize">Item size of the dtype.</param>
    /// <param name="spatialAxisMask">One flag per axis (true = spatial), from the axis labels; null = all spatial.</param>
    /// <param name="existing">The blosc2 namespace of metadata being reused (a loaded file's), or null.</param>
    /// <exception cref="ArgumentException">Conflicting or invalid options.</exception>
    /// <exception cref="NotSupportedException">An explicit patch size on a shape the optimizer does not handle.</exception>
    public static ResolvedLayout Resolve(LayoutOptions? options, long[] shape, int itemSize, bool[]? spatialAxisMask = null, MetaBlosc2? existing = null)
    {
        options ??= LayoutOptions.Default;
        ArgumentNullException.ThrowIfNull(shape);
        int ndim = shape.Length;
        bool[] mask = spatialAxisMask ?? Enumerable.Repeat(true, ndim).ToArray();
        if (mask.Length != ndim)
            throw new ArgumentException($"{mask.Length} axis flags given for an array with {ndim} axes.", nameof(spatialAxisMask));
        int s = mask.Count(m => m), ns = ndim - s;
        bool unsupported = s is < 2 or > 3 || ns > 1;
        bool hasChunk = options.ChunkSize is not null, hasBlock = options.BlockSize is not null;

        if (options.PatchSize is not null && unsupported)
            throw new NotSupportedException(PatchNotImplemented);
        if (options.PatchSize is not null && (hasChunk || hasBlock))
            throw new ArgumentException("patch_size and chunk_size / block_size cannot both be explicitly set.", nameof(options));
        if (hasChunk != hasBlock)
            throw new ArgumentException("If either chunk/block size is used then both must be set.", nameof(options));
        if (options.AutomaticLayout && (options.PatchSize is not null || hasChunk))
            throw new ArgumentException("AutomaticLayout cannot be combined with a patch size or chunk/block sizes.", nameof(options));

        if (hasChunk)
            return new ResolvedLayout(Expand(options.ChunkSize!, ndim, "chunk_size"), Expand(options.BlockSize!, ndim, "block_size"), null);

        int[]? patch = null;
        if (options.PatchSize is not null)
        {
            patch = Expand(options.PatchSize, s, "patch_size");
        }
        else if (!options.AutomaticLayout)
        {
            if (existing?.PatchSize is { } p && p.Count == s && !unsupported)
                patch = p.Select(v => checked((int)v)).ToArray();
            else if (existing?.ChunkSize is { } c && existing.BlockSize is { } b && c.Count == ndim && b.Count == ndim)
                return new ResolvedLayout(c.Select(v => checked((int)v)).ToArray(), b.Select(v => checked((int)v)).ToArray(), null);
            else if (!unsupported)
                patch = Enumerable.Repeat(LayoutOptions.DefaultPatchEdge, s).ToArray();
            // else: the default patch cannot apply (1-D, >3 spatial or >1 non-spatial axes): library-chosen layout
        }
        if (patch is not null)
        {
            var (chunk, block) = LayoutOptimizer.Compute(shape, patch, mask, itemSize, options.Cache);
            return new ResolvedLayout(chunk, block, patch);
        }
        var autoChunk = MLArray.Blosc2.B2ndWriter.DefaultChunkShape(shape, itemSize);
        return new ResolvedLayout(autoChunk, MLArray.Blosc2.B2ndWriter.DefaultBlockShape(autoChunk, itemSize), null);
    }

    private static int[] Expand(int[] values, int n, string name)
    {
        if (values.Length == 1 && n != 1)
            values = Enumerable.Repeat(values[0], n).ToArray();
        if (values.Length != n)
            throw new ArgumentException($"meta.blosc2.{name} must have length {n}", name);
        foreach (var v in values)
            if (v < 1) throw new ArgumentException($"meta.blosc2.{name} entries must be positive, got [{string.Join(", ", values)}].", name);
        return values;
    }
}
