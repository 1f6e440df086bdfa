using MLArray.Training.Sampling;

namespace MLArray.Training.Tests;

public sealed class PatchReaderTests : IDisposable
{
    private readonly string _dir = Synthetic.TempDir("reader");

    public void Dispose() => Directory.Delete(_dir, true);

    public static TheoryData<long[], long[]> Boxes => new()
    {
        { [0, 0, 0], [8, 16, 16] },        // inside, chunk-aligned
        { [3, 5, 7], [9, 11, 13] },        // inside, unaligned
        { [-4, -3, 10], [10, 12, 40] },    // outside low on two axes, past the end on the last
        { [10, 30, 30], [12, 20, 20] },    // past the end on every axis
        { [-30, 0, 0], [5, 4, 4] },        // completely outside on axis 0
        { [-2, -2, -2], [24, 44, 40] },    // larger than the image
    };

    [Theory]
    [MemberData(nameof(Boxes))]
    public void Constant_and_edge_padding_match_a_numpy_style_crop(long[] start, long[] size)
    {
        var c = Synthetic.Make("a", [17, 33, 29], 3);
        Synthetic.Write(_dir, c);
        using var file = MLArrayFile.Open(Path.Combine(_dir, "a.mla"));
        var array = new CaseArray(file);
        var reader = new PatchReader();
        long n = size.Aggregate(1L, (a, b) => a * b);

        var asStored = new short[n];
        reader.Read(array, start, size, asStored, PadMode.Constant, (short)-7);
        Assert.Equal(Synthetic.Crop(c.Image, c.Shape, start, size, false, (short)-7), asStored);

        var asFloat = new float[n];
        reader.Read(array, start, size, asFloat, PadMode.Constant, 0f);
        Assert.Equal(Synthetic.Crop(c.Image.Select(v => (float)v).ToArray(), c.Shape, start, size, false, 0f), asFloat);

        bool fullyOutside = start.Zip(size, c.Shape).Any(t => t.First + t.Second <= 0 || t.First >= t.Third);
        if (!fullyOutside)
        {
            var edge = new float[n];
            reader.Read(array, start, size, edge, PadMode.Edge, 0f);
            Assert.Equal(Synthetic.Crop(c.Image.Select(v => (float)v).ToArray(), c.Shape, start, size, true, 0f), edge);
        }

        bool inside = start.Zip(size, c.Shape).All(t => t.First >= 0 && t.First + t.Second <= t.Third);
        if (!inside)
        {
            var ex = Assert.Throws<ArgumentException>(() => reader.Read(array, start, size, new short[n], PadMode.None, (short)0));
            Assert.Contains("padding is off", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Channel_axes_are_read_whole_and_scaled_per_channel()
    {
        long[] shape = [2, 9, 10, 11];
        var data = new short[2 * 9 * 10 * 11];
        for (int i = 0; i < data.Length; i++) data[i] = (short)(i * 7 % 1000 - 500);
        string path = Path.Combine(_dir, "ch.mla");
        using (var f = MLArrayFile.FromArray(data, shape, new MLArrayCreateOptions { AxisLabels = ["channel", "spatial_z", "spatial_y", "spatial_x"], Layout = LayoutOptions.Patch(4, 4, 4) }))
            f.Save(path);
        using var file = MLArrayFile.Open(path);
        var array = new CaseArray(file);
        Assert.Equal([1, 2, 3], array.SpatialAxes);
        Assert.Equal(2, array.Channels);
        long[] start = [-1, 4, 6], size = [5, 7, 8];
        var got = new float[2 * 5 * 7 * 8];
        float[] scale = [0.5f, 2f], bias = [1f, -3f];
        new PatchReader().Read<float>(array, start, size, got, PadMode.Edge, 0f, scale, bias);
        var expected = Synthetic.Crop(data.Select(v => (float)v).ToArray(), shape, [0, .. start], [2, .. size], true, 0f);
        int per = 5 * 7 * 8;
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(expected[i] * scale[i / per] + bias[i / per], got[i], 3);
    }
}
