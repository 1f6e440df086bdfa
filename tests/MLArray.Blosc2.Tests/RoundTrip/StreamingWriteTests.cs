namespace MLArray.Blosc2.Tests.RoundTrip;

/// <summary>
/// <see cref="B2ndWriter.Write(Stream, ReadOnlySpan{byte}, long[], DType, B2ndWriteOptions?, Action{long}?, CancellationToken)"/>
/// with data that arrives front to back: the buffer holds only what the writer has asked to wait for, so a chunk that
/// read beyond its request would see zeros and change the frame.
/// </summary>
public sealed class StreamingWriteTests
{
    [Theory]
    [InlineData(new long[] { 37, 21, 18 }, new[] { 10, 8, 7 }, new[] { 5, 4, 7 }, 2)]
    [InlineData(new long[] { 64, 64 }, new[] { 64, 16 }, new[] { 16, 16 }, 4)]
    [InlineData(new long[] { 5, 3, 4, 9 }, new[] { 2, 3, 4, 4 }, new[] { 1, 3, 2, 4 }, 8)]
    [InlineData(new long[] { 1000 }, new[] { 128 }, new[] { 32 }, 1)]
    public void Frame_equals_the_one_written_from_complete_data(long[] shape, int[] chunk, int[] block, int itemSize)
    {
        long n = shape.Aggregate(1L, (a, b) => a * b) * itemSize;
        var source = new byte[n];
        var rnd = new Random(42);
        for (int i = 0; i < source.Length; i++) source[i] = (byte)(rnd.Next(4) == 0 ? rnd.Next(256) : i / 97);
        DType dtype = itemSize switch { 1 => DType.UInt8, 2 => DType.Int16, 4 => DType.Float32, _ => DType.Float64 };
        var options = new B2ndWriteOptions
        {
            ChunkShape = chunk, BlockShape = block, Compression = new CompressionParams { Codec = Blosc2Codec.LZ4, CLevel = 5, Threads = 1 },
        };
        byte[] expected = B2ndWriter.WriteToArray(source, shape, dtype, options);

        var arriving = new byte[n];
        long filled = 0, lastRequest = 0;
        void WaitFor(long bytes)
        {
            Assert.InRange(bytes, 1, n);
            Assert.True(bytes >= lastRequest, "requests go front to back");
            lastRequest = bytes;
            if (bytes > filled)
            {
                source.AsSpan((int)filled, (int)(bytes - filled)).CopyTo(arriving.AsSpan((int)filled));
                filled = bytes;
            }
        }

        using var ms = new MemoryStream();
        B2ndWriter.Write(ms, arriving, shape, dtype, options, WaitFor, CancellationToken.None);
        Assert.Equal(n, lastRequest);
        Assert.Equal(expected, ms.ToArray());
    }

    [Fact]
    public void Cancelling_stops_before_the_next_chunk()
    {
        var data = new byte[64 * 64];
        using var cts = new CancellationTokenSource();
        int calls = 0;
        var options = new B2ndWriteOptions { ChunkShape = [8, 64], BlockShape = [8, 64], Compression = new CompressionParams { Threads = 1 } };
        using var ms = new MemoryStream();
        Assert.ThrowsAny<OperationCanceledException>(() =>
            B2ndWriter.Write(ms, data, [64, 64], DType.UInt8, options, _ => { if (++calls == 3) cts.Cancel(); }, cts.Token));
        Assert.Equal(3, calls);
    }
}
