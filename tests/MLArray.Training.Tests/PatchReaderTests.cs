using System.Runtime.InteropServices;
using System.Buffers.Binary;
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
        new PatchReader().Read<float>(array, start, size, got, PadMode.Edge, 0f, new ChannelTransform<float>(scale, bias));
        var expected = Synthetic.Crop(data.Select(v => (float)v).ToArray(), shape, [0, .. start], [2, .. size], true, 0f);
        int per = 5 * 7 * 8;
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(expected[i] * scale[i / per] + bias[i / per], got[i], 3);
    }

    public static TheoryData<string, string> DTypesAndFilters()
    {
        var data = new TheoryData<string, string>();
        foreach (var dt in new[] { "|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f4", "<f8", ">i2", ">u2", ">i4", ">f4", ">f8" })
            foreach (var filter in new[] { "shuffle", "bitshuffle", "delta", "none" })
                data.Add(dt, filter);
        return data;
    }

    // The converting read decodes rows straight into their place in the patch: every stored dtype (big-endian ones
    // swapped row by row), through each filter path of the engine (plain shuffle rows, bitshuffle, delta, unfiltered),
    // inside and across the border.
    [Theory]
    [MemberData(nameof(DTypesAndFilters))]
    public void Every_dtype_and_filter_converts_in_place_like_a_crop(string dtypeName, string filter)
    {
        var dtype = DType.Parse(dtypeName);
        long[] shape = [13, 21, 19];
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var values = new double[count];
        var rng = new Random(dtypeName.Length * 31 + filter.Length);
        for (long i = 0; i < count; i++)
            values[i] = dtype.Code switch
            {
                DTypeCode.Bool => rng.Next(2),
                DTypeCode.Float32 => (float)(rng.NextDouble() * 200 - 100), // exactly representable as stored
                DTypeCode.Float64 => rng.NextDouble() * 200 - 100,
                _ => rng.Next(0, 100) - (dtype.Name.Contains('u') ? 0 : 50),
            };
        var bytes = Encode(values, dtype);
        string spec = filter switch { "delta" => "delta+shuffle", _ => filter };
        string path = Path.Combine(_dir, $"dt_{dtype.Code}_{filter}.mla");
        var options = new MLArrayCreateOptions { Layout = LayoutOptions.Manual([8, 8, 8], [4, 4, 8]), Compression = new CompressionParams().WithFilters(spec, dtype) };
        using (var f = MLArrayFile.Create(path, shape, dtype, options))
            WriteAll(f, bytes);
        using var file = MLArrayFile.Open(path);
        var array = new CaseArray(file);
        var reader = new PatchReader();
        var floats = values.Select(v => (float)v).ToArray();
        foreach (var (start, size) in new (long[], long[])[] { ([2, 3, 1], [9, 11, 17]), ([-3, 15, -2], [7, 10, 12]), ([0, 0, 0], [13, 21, 19]) })
        {
            long n = size.Aggregate(1L, (a, b) => a * b);
            var got = new float[n];
            reader.Read(array, start, size, got, PadMode.Constant, -9f);
            Assert.Equal(Synthetic.Crop(floats, shape, start, size, false, -9f), got);
            var edge = new double[n];
            reader.Read(array, start, size, edge, PadMode.Edge, 0d);
            Assert.Equal(Synthetic.Crop(values, shape, start, size, true, 0d), edge);
        }
    }

    // Channels-last arrays (an RGB volume [z, y, x, rgb]) come out as [channel, z, y, x] like every other patch.
    [Fact]
    public void Channels_last_arrays_are_transposed_into_channel_planes()
    {
        long[] shape = [6, 10, 12, 3];
        var data = new byte[6 * 10 * 12 * 3];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(i * 13 % 251);
        string path = Path.Combine(_dir, "rgb.mla");
        using (var f = MLArrayFile.FromArray(data, shape, new MLArrayCreateOptions { AxisLabels = ["spatial_z", "spatial_y", "spatial_x", "channel"] }))
            f.Save(path);
        using var file = MLArrayFile.Open(path);
        var array = new CaseArray(file);
        Assert.Equal([0, 1, 2], array.SpatialAxes);
        long[] start = [1, -2, 5], size = [4, 6, 9];
        var got = new float[3 * 4 * 6 * 9];
        new PatchReader().Read(array, start, size, got, PadMode.Constant, -1f);
        int per = 4 * 6 * 9;
        for (int c = 0; c < 3; c++)
        {
            var plane = new float[6 * 10 * 12];
            for (int v = 0; v < plane.Length; v++) plane[v] = data[v * 3 + c];
            Assert.Equal(Synthetic.Crop(plane, [6, 10, 12], start, size, false, -1f), got.AsSpan(c * per, per).ToArray());
        }
    }

    [Fact]
    public void Clipping_applies_before_scaling_and_never_to_padding()
    {
        var c = Synthetic.Make("clip", [9, 14, 15], 5);
        Synthetic.Write(_dir, c);
        using var file = MLArrayFile.Open(Path.Combine(_dir, "clip.mla"));
        long[] start = [-2, 3, 4], size = [8, 8, 8];
        var got = new float[8 * 8 * 8];
        new PatchReader().Read(new CaseArray(file), start, size, got, PadMode.Constant, 0f, new ChannelTransform<float>([0.5f], [2f], [-100f], [100f]));
        var expected = Synthetic.Crop(c.Image.Select(v => float.NaN).ToArray(), c.Shape, start, size, false, 0f);
        var crop = Synthetic.Crop(c.Image.Select(v => Math.Clamp((float)v, -100f, 100f) * 0.5f + 2f).ToArray(), c.Shape, start, size, false, 0f);
        for (int i = 0; i < got.Length; i++)
            Assert.Equal(float.IsNaN(expected[i]) ? crop[i] : 0f, got[i]);
    }

    private static byte[] Encode(double[] values, DType dtype)
    {
        var b = new byte[values.Length * dtype.ItemSize];
        var span = b.AsSpan();
        for (int i = 0; i < values.Length; i++)
        {
            double v = values[i];
            var at = span.Slice(i * dtype.ItemSize, dtype.ItemSize);
            switch (dtype.Code)
            {
                case DTypeCode.Bool: case DTypeCode.UInt8: at[0] = (byte)v; break;
                case DTypeCode.Int8: at[0] = (byte)(sbyte)v; break;
                case DTypeCode.Int16: BinaryPrimitives.WriteInt16LittleEndian(at, (short)v); break;
                case DTypeCode.UInt16: BinaryPrimitives.WriteUInt16LittleEndian(at, (ushort)v); break;
                case DTypeCode.Int32: BinaryPrimitives.WriteInt32LittleEndian(at, (int)v); break;
                case DTypeCode.UInt32: BinaryPrimitives.WriteUInt32LittleEndian(at, (uint)v); break;
                case DTypeCode.Int64: BinaryPrimitives.WriteInt64LittleEndian(at, (long)v); break;
                case DTypeCode.UInt64: BinaryPrimitives.WriteUInt64LittleEndian(at, (ulong)v); break;
                case DTypeCode.Float32: BinaryPrimitives.WriteSingleLittleEndian(at, (float)v); break;
                case DTypeCode.Float64: BinaryPrimitives.WriteDoubleLittleEndian(at, v); break;
                default: throw new NotSupportedException(dtype.Name);
            }
        }
        return b;
    }

    private static void WriteAll(MLArrayFile f, byte[] b)
    {
        switch (f.DType.Code)
        {
            case DTypeCode.Bool: f.Write(MemoryMarshal.Cast<byte, bool>(b)); break;
            case DTypeCode.UInt8: f.Write<byte>(b); break;
            case DTypeCode.Int8: f.Write(MemoryMarshal.Cast<byte, sbyte>(b)); break;
            case DTypeCode.Int16: f.Write(MemoryMarshal.Cast<byte, short>(b)); break;
            case DTypeCode.UInt16: f.Write(MemoryMarshal.Cast<byte, ushort>(b)); break;
            case DTypeCode.Int32: f.Write(MemoryMarshal.Cast<byte, int>(b)); break;
            case DTypeCode.UInt32: f.Write(MemoryMarshal.Cast<byte, uint>(b)); break;
            case DTypeCode.Int64: f.Write(MemoryMarshal.Cast<byte, long>(b)); break;
            case DTypeCode.UInt64: f.Write(MemoryMarshal.Cast<byte, ulong>(b)); break;
            case DTypeCode.Float32: f.Write(MemoryMarshal.Cast<byte, float>(b)); break;
            case DTypeCode.Float64: f.Write(MemoryMarshal.Cast<byte, double>(b)); break;
            default: throw new NotSupportedException(f.DType.Name);
        }
    }
}
