using MLArray.Kernels;

namespace MLArray.Tests.Kernels;

/// <summary>The one byte swap: each item's bytes reversed, in place and copying, for every length around the vector widths.</summary>
public sealed class ByteOrderTests
{
    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    public void SwapReversesEachItemAndRoundTrips(int itemSize)
    {
        var rng = new Random(itemSize);
        foreach (int items in (int[])[0, 1, 3, 15, 16, 17, 63, 64, 65, 1000])
        {
            var data = new byte[items * itemSize];
            rng.NextBytes(data);
            byte[] expected = data.Chunk(itemSize).SelectMany(c => c.Reverse()).ToArray();
            var copy = new byte[data.Length];
            ByteOrder.Swap(data, copy, itemSize);
            Assert.Equal(expected, copy);
            byte[] inPlace = (byte[])data.Clone();
            ByteOrder.SwapInPlace(inPlace, itemSize);
            Assert.Equal(expected, inPlace);
            ByteOrder.SwapInPlace(inPlace, itemSize);
            Assert.Equal(data, inPlace);
        }
    }

    [Fact]
    public void SwapReadsBigEndianValues()
    {
        byte[] be = [0x12, 0x34, 0x56, 0x78];
        ByteOrder.SwapInPlace(be, 4);
        Assert.Equal(0x12345678, BitConverter.ToInt32(be));
    }

    [Fact]
    public void OneByteItemsAreCopiedAndOtherSizesRefused()
    {
        byte[] d = [1, 2, 3];
        var c = new byte[3];
        ByteOrder.Swap(d, c, 1);
        Assert.Equal(d, c);
        Assert.Throws<ArgumentException>(() => ByteOrder.SwapInPlace(new byte[6], 3));
        Assert.Throws<ArgumentException>(() => ByteOrder.SwapInPlace(new byte[6], 4));
        Assert.Throws<ArgumentException>(() => ByteOrder.Swap(new byte[8], new byte[4], 4));
    }
}
