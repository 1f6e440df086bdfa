using MLArray.Training.Data;
using MLArray.Training.Sampling;

namespace MLArray.Training.Tests;

/// <summary>
/// Integer image batch types (<c>short</c> for int16 images: values as stored, as <c>mlarray sample --out</c> writes
/// them): a stored type whose range does not fit the batch type is an error naming the case, never truncated or wrapped
/// values; normalisation (its scale 1/std would be rounded to an integer) and a pad value the type cannot hold are
/// refused at construction.
/// </summary>
public sealed class ImageTypeTests : IDisposable
{
    private readonly string _dir = Synthetic.TempDir("imagetype");

    public void Dispose() => Directory.Delete(_dir, true);

    private static PatchLoaderOptions Options => new() { PatchSize = [8, 16, 16], BatchSize = 2, BatchCount = 4, Seed = 3, Workers = 1 };

    private static async Task<int> Drain<TImage>(PatchDataset ds, PatchLoaderOptions options, Action<PatchBatch<TImage, short>>? check = null)
        where TImage : unmanaged, System.Numerics.INumberBase<TImage>
    {
        using var loader = new PatchLoader<TImage, short>(ds, options);
        int n = 0;
        await foreach (var b in loader)
            using (b) { check?.Invoke(b); n++; }
        return n;
    }

    [Fact]
    public async Task Int16_images_in_short_batches_are_exact_and_narrower_types_are_refused_naming_the_case()
    {
        var cases = Synthetic.Dataset(_dir, 2, [10, 20, 18]);
        using var ds = PatchDataset.FromFolder(_dir);
        int batches = await Drain<short>(ds, Options, b =>
        {
            for (int s = 0; s < b.Count; s++)
            {
                var smp = b.Samples[s];
                var expected = Synthetic.Crop(cases[smp.CaseIndex].Image, [10, 20, 18], smp.Start.ToArray(), [8, 16, 16], false, (short)0);
                Assert.Equal(expected, b.Image.Span.Slice(s * expected.Length, expected.Length).ToArray());
            }
        });
        Assert.Equal(4, batches);

        // int16 values such as −1000 and 250 wrapped into sbyte before: now refused for the first case read
        var e = await Assert.ThrowsAsync<DatasetCaseException>(() => Drain<sbyte>(ds, Options));
        Assert.Contains("int16", e.Message, StringComparison.Ordinal);
        Assert.Contains("SByte", e.Message, StringComparison.Ordinal);
        Assert.StartsWith("case_000", e.CaseId, StringComparison.Ordinal);
        await Assert.ThrowsAsync<DatasetCaseException>(() => Drain<byte>(ds, Options));
    }

    [Fact]
    public async Task A_float_case_among_int16_cases_is_refused_in_short_batches_and_read_exactly_in_float_batches()
    {
        var cases = Synthetic.Dataset(_dir, 1, [10, 20, 18]);
        var values = cases[0].Image.Select(v => v + 0.25f).ToArray();
        using (var f = MLArrayFile.FromArray(values, [10, 20, 18], new MLArrayCreateOptions { Spacing = Synthetic.Spacing }))
            f.Save(Path.Combine(_dir, "case_0001.mla"));
        File.Copy(Path.Combine(_dir, "case_0000_seg.mla"), Path.Combine(_dir, "case_0001_seg.mla"));
        using var ds = PatchDataset.FromFolder(_dir);
        var e = await Assert.ThrowsAsync<DatasetCaseException>(() => Drain<short>(ds, Options with { BatchCount = 8 }));
        Assert.Equal("case_0001.mla", e.CaseId);
        Assert.Contains("float32", e.Message, StringComparison.Ordinal);

        int fractional = 0;
        await Drain<float>(ds, Options with { BatchCount = 8 }, b =>
        {
            for (int s = 0; s < b.Count; s++)
                if (b.Samples[s].CaseIndex == 1) fractional += b.Image.Span.Slice(s * 8 * 16 * 16, 8 * 16 * 16).ToArray().Count(v => v - MathF.Floor(v) == 0.25f);
        });
        Assert.True(fractional > 0);
    }

    [Fact]
    public void Normalisation_and_pad_values_an_integer_image_type_cannot_hold_are_refused()
    {
        Synthetic.Dataset(_dir, 1, [10, 20, 18]);
        using var ds = PatchDataset.FromFolder(_dir);
        var z = Assert.Throws<ArgumentException>(() => new PatchLoader<short, short>(ds, Options with { Normalization = NormalizationMode.ZScore, Mean = [100], Std = [50] }));
        Assert.Contains("floating-point", z.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new PatchLoader<short, short>(ds, Options with { Normalization = NormalizationMode.ZScoreFromStats }));
        var p = Assert.Throws<ArgumentException>(() => new PatchLoader<short, short>(ds, Options with { ImagePadValue = 1e9 }));
        Assert.Contains("Int16", p.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new PatchLoader<short, short>(ds, Options with { ImagePadValue = 0.5 }));
        using (new PatchLoader<short, short>(ds, Options with { ImagePadValue = -1024 })) { }
        using (new PatchLoader<short, short>(ds, Options with { ImagePadValue = 1e9, ImagePadMode = PadMode.Edge })) { }
        using (new PatchLoader<float, short>(ds, Options with { ImagePadValue = 0.1, Normalization = NormalizationMode.ZScore, Mean = [1], Std = [3] })) { }
    }
}
