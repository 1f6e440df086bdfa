using MLArray.TestSupport;
using MLArray.Training.Sampling;

namespace MLArray.Training.Tests;

/// <summary>
/// Converting patch reads on real data (the corpus CT, int16): int16 → float32 through cached slabs and straight from
/// each block, with and without a clip and scale folded into the conversion, and label maps derived from it
/// (uint8 and int8, odd block shapes) into int16 padded with −1; patches with odd sizes crossing blocks and the
/// image's edges, against a crop computed element by element from the whole array.
/// </summary>
public sealed class ConvertingReadTests : IDisposable
{
    private readonly string _dir = Synthetic.TempDir("convert");

    public void Dispose() => Directory.Delete(_dir, true);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Ct_patches_into_float32_equal_the_converted_crop_with_and_without_a_folded_transform(bool staging)
    {
        using var file = MLArrayFile.Open(MlaCorpus.PathOf("head_ct_int16_lps.mla"));
        var array = new CaseArray(file);
        var shape = file.Shape;
        var whole = file.Read<short>();
        var plain = whole.Select(v => (float)v).ToArray();
        // A CT window and a z-score as one transform: clamp, then multiply and add in float32.
        const float Low = -200f, High = 400f, Scale = 1 / 173.5f, Bias = -0.25f;
        var windowed = whole.Select(v => Math.Clamp((float)v, Low, High) * Scale + Bias).ToArray();
        var reader = new PatchReader { Staging = staging };
        var rng = new Random(7);
        for (int iter = 0; iter < 40; iter++)
        {
            var size = shape.Select(s => (long)rng.Next(1, (int)Math.Min(s + 6, 41))).ToArray();
            var start = shape.Zip(size, (s, z) => (long)rng.Next(-4, (int)(s - z + 5))).ToArray();
            var got = new float[size.Aggregate(1L, (a, b) => a * b)];
            bool edge = iter % 3 == 0;
            var mode = edge ? PadMode.Edge : PadMode.Constant;
            reader.Read(array, start, size, got, mode, -3f);
            Assert.Equal(Synthetic.Crop(plain, shape, start, size, edge, -3f), got);
            reader.Read<float>(array, start, size, got, mode, -3f, new ChannelTransform<float>([Scale], [Bias], [Low], [High]));
            Assert.Equal(Synthetic.Crop(windowed, shape, start, size, edge, -3f), got);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Label_maps_into_int16_padded_with_minus_one_equal_the_crop(bool int8)
    {
        using var ct = MLArrayFile.Open(MlaCorpus.PathOf("head_ct_int16_lps.mla"));
        var shape = ct.Shape;
        var image = ct.Read<short>();
        // Labels from the CT's intensities (air, tissue, bone, and a negative label for the int8 map), written with
        // odd block shapes so rows are cut everywhere.
        var labels = image.Select(v => (short)(v < -500 ? 0 : v < 300 ? 1 : int8 ? -2 : 2)).ToArray();
        string path = Path.Combine(_dir, int8 ? "seg_i1.mla" : "seg_u1.mla");
        var options = new MLArrayCreateOptions { Layout = LayoutOptions.Patch(7, 9, 11), Meta = new Metadata.MLArrayMeta { IsSeg = true } };
        if (int8)
            using (var f = MLArrayFile.FromArray(labels.Select(v => (sbyte)v).ToArray(), shape, options)) f.Save(path);
        else
            using (var f = MLArrayFile.FromArray(labels.Select(v => (byte)v).ToArray(), shape, options)) f.Save(path);
        using var seg = MLArrayFile.Open(path);
        var array = new CaseArray(seg);
        var reader = new PatchReader();
        var rng = new Random(int8 ? 3 : 4);
        for (int iter = 0; iter < 40; iter++)
        {
            var size = shape.Select(s => (long)rng.Next(1, (int)Math.Min(s + 6, 41))).ToArray();
            var start = shape.Zip(size, (s, z) => (long)rng.Next(-4, (int)(s - z + 5))).ToArray();
            var got = new short[size.Aggregate(1L, (a, b) => a * b)];
            reader.Read(array, start, size, got, PadMode.Constant, (short)-1);
            Assert.Equal(Synthetic.Crop(labels, shape, start, size, false, (short)-1), got);
            var asFloat = new float[got.Length];
            reader.Read(array, start, size, asFloat, PadMode.Constant, -1f);
            Assert.Equal(Synthetic.Crop(labels.Select(v => (float)v).ToArray(), shape, start, size, false, -1f), asFloat);
        }
    }
}
