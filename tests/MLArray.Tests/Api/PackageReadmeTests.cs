using MLArray.Blosc2;
using MLArray.Metadata;
using MLArray.Metadata.Migration;
using MLArray.Metadata.Payload;
using MLArray.TestSupport;

namespace MLArray.Tests.Api;

/// <summary>
/// The C# snippets of the package READMEs (src/MLArray, src/MLArray.Blosc2) and of docs/limits.md, run on the corpus
/// volume (tests/data/blosc2: float32 128×192×160, written by C-Blosc2 with the reference's metadata).
/// </summary>
public sealed class PackageReadmeTests
{
    private static readonly string Volume = Path.Combine(Path.GetDirectoryName(MlaCorpus.Dir)!, "blosc2", "mlarray_big_f4_volume_lz4hc8.mla");

    private static float[] Expected(long z0, long z1, long y0, long y1, long x0, long x1)
    {
        using var whole = MLArrayFile.Open(Volume);
        var all = whole.ToArray<float>();
        long[] s = whole.Shape;
        var result = new List<float>();
        for (long z = z0; z < z1; z++)
            for (long y = y0; y < y1; y++)
                for (long x = x0; x < x1; x++)
                    result.Add(all[(z * s[1] + y) * s[2] + x]);
        return [.. result];
    }

    [Fact]
    public void MLArray_package_readme_reads_a_patch_and_the_spacing()
    {
        string path = Volume;
        // README:begin mlarray-package
        using var img = MLArrayFile.Open(path);                      // memory-mapped; decodes only what you read
        float[] patch = img.Read<float>(10..74, 32..96, ^64..);      // a 64³ patch
        Console.WriteLine(img.Spacing is { } s ? string.Join(", ", s) : "no spacing");
        // README:end
        Assert.NotNull(img.Spacing);
        Assert.Equal(64 * 64 * 64, patch.Length);
        Assert.Equal(Expected(10, 74, 32, 96, 160 - 64, 160), patch);
    }

    [Fact]
    public void Blosc2_package_readme_reads_a_slab_of_a_plain_frame()
    {
        string path = Volume;
        // README:begin blosc2-package
        using var a = B2ndArray.Open(path);                          // any b2nd frame (C-Blosc2, python-blosc2, .mla)
        float[] slab = a.Read<float>(5, .., ..);                     // a[5, :, :]
        // README:end
        Assert.Equal(Expected(5, 6, 0, 192, 0, 160), slab);
    }

    [Fact]
    public void Limits_doc_reads_metadata_with_raised_limits()
    {
        string path = Volume;
        // README:begin limits-read
        var limits = PayloadLimits.Default with { MaxDecompressedBytes = 256L << 20, MaxItems = 10_000_000, MaxStringBytes = 256L << 20 };
        using var array = B2ndArray.Open(path);
        MetaReadResult? meta = MLArrayMetadata.Read(array, limits);   // or MLArrayMetadata.Decode(vlmetaBytes, shape, limits)
        // README:end
        Assert.NotNull(meta);
        using var img = MLArrayFile.Open(path);
        Assert.Equal(img.Meta.ToMetaValue().ToJson(), meta.Meta.ToMetaValue().ToJson());
        // the limits are applied: far lower ones refuse the same metadata
        Assert.ThrowsAny<MLArrayException>(() => MLArrayMetadata.Read(array, PayloadLimits.Default with { MaxItems = 1 }));
    }
}
