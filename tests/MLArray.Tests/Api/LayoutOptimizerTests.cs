using CsCheck;
using MLArray.Layout;
using MLArray.Metadata;

namespace MLArray.Tests.Api;

public sealed class LayoutOptimizerTests
{
    private const bool T = true, F = false;

    // mlarray-spec §4.3: every row computed by running the reference's comp_blosc2_params.
    public static TheoryData<string, long[], int, int[], bool[]?, int[], int[]> WorkedExamples => new()
    {
        { "3D float32, default", [128, 256, 256], 4, [192, 192, 192], null, [80, 64, 64], [16, 16, 16] },
        { "test-suite size, default", [16, 32, 32], 4, [192, 192, 192], null, [16, 32, 32], [16, 16, 16] },
        { "small patch", [32, 64, 64], 4, [8, 16, 16], null, [16, 16, 16], [8, 16, 16] },
        { "CT int16, default", [300, 512, 512], 2, [192, 192, 192], null, [160, 64, 64], [32, 16, 16] },
        { "int16, default", [128, 256, 256], 2, [192, 192, 192], null, [128, 80, 64], [32, 16, 16] },
        { "uint8, default", [128, 256, 256], 1, [192, 192, 192], null, [128, 160, 64], [32, 32, 16] },
        { "anisotropic patch, int16", [200, 512, 512], 2, [40, 224, 192], null, [40, 128, 128], [8, 32, 32] },
        { "float64, patch 64", [100, 100, 100], 8, [64, 64, 64], null, [80, 64, 32], [16, 16, 8] },
        { "image smaller than patch, uint8", [20, 30, 40], 1, [192, 192, 192], null, [20, 30, 40], [20, 30, 40] },
        { "image smaller than patch, int16", [20, 30, 40], 2, [192, 192, 192], null, [20, 30, 40], [20, 30, 16] },
        { "2D uint8, default", [512, 512], 1, [192, 192], null, [384, 256], [128, 128] },
        { "2D float32, default", [512, 512], 4, [192, 192], null, [320, 320], [64, 64] },
        { "2D int16, default", [512, 512], 2, [192, 192], null, [384, 192], [128, 64] },
        { "4D channel-last", [32, 64, 64, 3], 4, [192, 192, 192], [T, T, T, F], [32, 64, 48, 3], [16, 16, 8, 3] },
        { "4D channel-first", [4, 128, 128, 128], 4, [128, 128, 128], [F, T, T, T], [4, 80, 32, 32], [4, 16, 8, 8] },
        { "2D + channel-first", [3, 256, 256], 4, [192, 192], [F, T, T], [3, 256, 256], [3, 64, 32] },
        { "slice-wise patch", [64, 512, 512], 2, [1, 256, 256], null, [1, 512, 384], [1, 128, 64] },
    };

    [Theory]
    [MemberData(nameof(WorkedExamples))]
    public void Reproduces_the_reference_worked_examples(string name, long[] shape, int bpp, int[] patch, bool[]? mask, int[] chunk, int[] block)
    {
        var (c, b) = LayoutOptimizer.Compute(shape, patch, mask, bpp);
        Assert.True(chunk.SequenceEqual(c), $"{name}: chunk [{string.Join(",", c)}]");
        Assert.True(block.SequenceEqual(b), $"{name}: block [{string.Join(",", b)}]");
    }

    [Fact]
    public void Caller_cache_sizes_change_the_layout()
    {
        var (c, b) = LayoutOptimizer.Compute([128, 256, 256], [192, 192, 192], default, 4, new CacheSizes(L1BytesPerCore: 65536, L3BytesPerCore: 4 << 20));
        Assert.Equal([32, 16, 16], b); // twice the L1 budget: one halving fewer
        Assert.True(c.Zip(b).All(p => p.First % p.Second == 0 || p.First == 256));
        Assert.NotEqual([80, 64, 64], c);
    }

    [Fact]
    public void Reference_errors_for_unsupported_shapes()
    {
        Assert.Equal("Image size must be 4D.", Assert.Throws<ArgumentException>(() => LayoutOptimizer.Compute([100], [192, 192])).Message.Split(" (Parameter")[0]);
        Assert.Equal("Patch size must be 2D or 3D.", Assert.Throws<ArgumentException>(() => LayoutOptimizer.Compute([10, 10, 10, 10], [4, 4, 4, 4])).Message.Split(" (Parameter")[0]);
        Assert.StartsWith("Automatic blosc2 optimization currently only supports one non-spatial axis.",
            Assert.Throws<ArgumentException>(() => LayoutOptimizer.Compute([3, 3, 64, 64], [64, 64], [F, F, T, T])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_huge_channel_axis_is_a_clear_error_not_an_index_error() =>
        Assert.Contains("Set chunk and block size manually", Assert.Throws<ArgumentException>(() =>
            LayoutOptimizer.Compute([100000, 8, 8, 8], [8, 8, 8], [F, T, T, T], 4)).Message, StringComparison.Ordinal);

    // ------------------------------------------------------------------ §4.1 resolution

    private static readonly long[] Shape3 = [16, 32, 32];

    [Fact]
    public void Default_patch_is_192_per_spatial_axis()
    {
        var r = LayoutResolver.Resolve(null, Shape3, 4);
        Assert.Equal([192, 192, 192], r.PatchSize!);
        Assert.Equal([16, 32, 32], r.ChunkSize);
        Assert.Equal([16, 16, 16], r.BlockSize);
    }

    [Fact]
    public void Explicit_patch_is_kept()
    {
        Assert.Equal([8, 12, 16], LayoutResolver.Resolve(LayoutOptions.Patch(8, 12, 16), Shape3, 4).PatchSize!);
        Assert.Equal([64, 64, 64], LayoutResolver.Resolve(LayoutOptions.Patch(64), Shape3, 4).PatchSize!);
    }

    [Fact]
    public void An_int_patch_with_a_channel_axis_covers_the_spatial_axes_only()
    {
        // The reference expands an int patch to the full ndim and fails ("Patch size must be 2D or 3D.").
        var r = LayoutResolver.Resolve(LayoutOptions.Patch(64), [16, 32, 32, 3], 4, [T, T, T, F]);
        Assert.Equal([64, 64, 64], r.PatchSize!);
        Assert.Equal([16, 32, 32, 3], r.ChunkSize);
        Assert.Equal([16, 16, 8, 3], r.BlockSize);
    }

    [Fact]
    public void Int_chunk_and_block_sizes_apply_to_every_axis()
    {
        var r = LayoutResolver.Resolve(LayoutOptions.Manual([16], [8]), Shape3, 4);
        Assert.Equal([16, 16, 16], r.ChunkSize);
        Assert.Equal([8, 8, 8], r.BlockSize);
        Assert.Null(r.PatchSize!);
    }

    [Fact]
    public void Manual_chunk_and_block_round_trip()
    {
        var r = LayoutResolver.Resolve(LayoutOptions.Manual([1, 16, 16], [1, 8, 8]), Shape3, 4);
        Assert.Equal([1, 16, 16], r.ChunkSize);
        Assert.Equal([1, 8, 8], r.BlockSize);
    }

    [Fact]
    public void Patch_and_chunk_block_are_mutually_exclusive_and_chunk_needs_block()
    {
        Assert.StartsWith("patch_size and chunk_size / block_size cannot both be explicitly set.", Assert.Throws<ArgumentException>(() =>
            LayoutResolver.Resolve(new LayoutOptions { PatchSize = [8], ChunkSize = [8] }, Shape3, 4)).Message, StringComparison.Ordinal);
        Assert.StartsWith("If either chunk/block size is used then both must be set.", Assert.Throws<ArgumentException>(() =>
            LayoutResolver.Resolve(new LayoutOptions { ChunkSize = [8, 8, 8] }, Shape3, 4)).Message, StringComparison.Ordinal);
        Assert.StartsWith("If either chunk/block size is used then both must be set.", Assert.Throws<ArgumentException>(() =>
            LayoutResolver.Resolve(new LayoutOptions { BlockSize = [8, 8, 8] }, Shape3, 4)).Message, StringComparison.Ordinal);
        Assert.StartsWith("meta.blosc2.chunk_size must have length 3", Assert.Throws<ArgumentException>(() =>
            LayoutResolver.Resolve(LayoutOptions.Manual([8, 8], [4, 4]), Shape3, 4)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Explicit_patch_on_unsupported_shapes_is_not_implemented()
    {
        Assert.StartsWith("Chunk and block size optimization based on patch size is only implemented", Assert.Throws<NotSupportedException>(() =>
            LayoutResolver.Resolve(LayoutOptions.Patch(8), [100], 4)).Message, StringComparison.Ordinal);
        Assert.Throws<NotSupportedException>(() => LayoutResolver.Resolve(LayoutOptions.Patch(8), [2, 3, 16, 16], 4, [F, F, T, T]));
    }

    [Fact]
    public void A_loaded_files_patch_size_is_reused_then_its_chunk_and_block()
    {
        var withPatch = new MetaBlosc2 { PatchSize = EquatableArray.From(new long[] { 8, 12, 16 }), ChunkSize = EquatableArray.From(new long[] { 9, 9, 9 }), BlockSize = EquatableArray.From(new long[] { 3, 3, 3 }) };
        Assert.Equal([8, 12, 16], LayoutResolver.Resolve(null, Shape3, 4, existing: withPatch).PatchSize!);
        var chunkOnly = withPatch with { PatchSize = null };
        var r = LayoutResolver.Resolve(null, Shape3, 4, existing: chunkOnly);
        Assert.Equal([9, 9, 9], r.ChunkSize);
        Assert.Equal([3, 3, 3], r.BlockSize);
        Assert.Null(r.PatchSize!);
        // Explicit chunk/block win over the reused ones (the reference silently overrides them).
        Assert.Equal([4, 4, 4], LayoutResolver.Resolve(LayoutOptions.Manual([4], [2]), Shape3, 4, existing: chunkOnly).ChunkSize);
    }

    [Fact]
    public void Automatic_layout_records_no_patch_and_default_patch_falls_back_for_1d()
    {
        var r = LayoutResolver.Resolve(LayoutOptions.Automatic, Shape3, 4);
        Assert.Null(r.PatchSize!);
        Assert.Equal(3, r.ChunkSize.Length);
        var oneD = LayoutResolver.Resolve(null, [1000], 8);
        Assert.Null(oneD.PatchSize!);
        Assert.Single(oneD.ChunkSize);
    }
    [Fact]
    public void A_reverted_step_clipped_at_the_image_edge_keeps_the_chunk_at_least_the_block()
    {
        // 30^3 int16, patch 16: the last growth step is clipped to 30 and the reference subtracts the block (30 - 16 = 14),
        // leaving a chunk below the block that Blosc2 refuses. The chunk keeps its previous extent instead.
        var (c, b) = LayoutOptimizer.Compute([30, 30, 30], [16, 16, 16], default, 2);
        Assert.Equal([16, 16, 16], b);
        Assert.True(c.Zip(b).All(p => p.First >= p.Second), $"chunk [{string.Join(",", c)}] vs block [{string.Join(",", b)}]");

        // And the file is writable and reads back.
        var data = Enumerable.Range(0, 30 * 30 * 30).Select(i => (short)(i % 3000)).ToArray();
        using var img = MLArrayFile.FromArray(data, [30, 30, 30], new MLArrayCreateOptions { Layout = LayoutOptions.Patch(16) });
        Assert.Equal(data, img.ToArray<short>());
        Assert.Equal([16L, 16, 16], img.Meta.Blosc2.BlockSize!);
    }

    [Fact]
    public void Every_computed_layout_has_chunks_at_least_the_blocks_and_within_the_image()
    {
        var gen = Gen.Select(Gen.Int[1, 400].Array[3], Gen.Int[1, 256].Array[3], Gen.OneOfConst(1, 2, 4, 8));
        gen.Sample((shape, patch, bpp) =>
        {
            var (c, b) = LayoutOptimizer.Compute(shape.Select(v => (long)v).ToArray(), patch, default, bpp);
            for (int i = 0; i < 3; i++)
                if (b[i] < 1 || b[i] > c[i] || c[i] > shape[i])
                    return false;
            return true;
        }, iter: 3000);
    }
}
