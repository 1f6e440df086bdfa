using System.Numerics.Tensors;
using MLArray.Blosc2;
using MLArray.Interop;

namespace MLArray.Tests.Interop;

public class TensorTests
{
    private static string Corpus(string file)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "tests", "data", "blosc2", file)))
            dir = dir.Parent;
        return Path.Combine(dir!.FullName, "tests", "data", "blosc2", file);
    }

    [Fact]
    public void Read_into_a_tensor_span_equals_the_array_read()
    {
        using var a = B2ndArray.Open(Corpus("mlarray_big_f4_volume_lz4hc8.mla"));
        NdIndex[] sel = [10..50, 7, 96..160];
        var expected = a.Read<float>(sel);
        var t = Tensor.Create<float>(new float[40 * 64], [40, 64]);
        a.Read(sel, t.AsTensorSpan());
        Assert.Equal(expected, t.ToArray());
    }

    [Fact]
    public void ToTensor_has_the_array_shape_and_values()
    {
        using var a = B2ndArray.Open(Corpus("f4_3d_lz4_shuffle.mla"));
        var t = a.ToTensor<float>();
        Assert.Equal([25, 30, 21], t.Lengths.ToArray());
        Assert.Equal(a.ToArray<float>(), t.ToArray());
        Assert.Equal(a.Read<float>(3, 4, 5)[0], t[3, 4, 5]);
    }

    [Fact]
    public void Wrong_tensor_shape_or_type_is_refused()
    {
        using var a = B2ndArray.Open(Corpus("f4_3d_lz4_shuffle.mla"));
        var t = Tensor.Create<float>(new float[10], [10]);
        var e = Assert.Throws<ArgumentException>(() => a.Read([0..5, 0], t.AsTensorSpan()));
        Assert.Contains("shape (10)", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => a.ToTensor<double>());
    }
}
