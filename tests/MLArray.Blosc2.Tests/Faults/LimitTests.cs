using MLArray.Blosc2.Format;

namespace MLArray.Blosc2.Tests.Faults;

/// <summary>One test per engine limit of docs/limits.md that had none: the typed exception and its message.</summary>
public sealed class LimitTests
{
    [Fact]
    public void More_than_16_dimensions_are_refused_on_write_and_on_read()
    {
        long[] shape = Enumerable.Repeat(1L, 17).ToArray();
        var w = Assert.Throws<ArgumentException>(() => B2ndWriter.WriteToArray(new byte[4], shape, DType.Float32));
        Assert.Contains("at most 16 dimensions; got 17", w.Message, StringComparison.Ordinal);

        // A valid 1-d frame whose b2nd metalayer is patched to declare 17 dimensions.
        byte[] frame = B2ndWriter.WriteToArray(new byte[16], [4], DType.Float32);
        int at = frame.AsSpan().IndexOf((ReadOnlySpan<byte>)[0x97, 0x00, 0x01]); // fixarray(7), version 0, ndim 1
        Assert.True(at > 0, "b2nd metalayer not found");
        frame[at + 2] = 17;
        var r = Assert.Throws<MLArrayFormatException>(() => B2ndArray.Open(frame, "ndim17.b2nd"));
        Assert.Contains("ndim 17 is outside 0..16", r.Message, StringComparison.Ordinal);
        Assert.Contains("ndim17.b2nd", r.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_chunk_of_2_GiB_or_more_is_refused_before_anything_is_allocated_or_written()
    {
        string dir = Directory.CreateTempSubdirectory("mla-limit-").FullName;
        try
        {
            string path = Path.Combine(dir, "big.b2nd");
            var e = Assert.Throws<ArgumentException>(() => B2ndArray.Create(path, [40000, 40000], DType.Float32,
                new B2ndWriteOptions { ChunkShape = [40000, 40000], BlockShape = [100, 100] }));
            Assert.Contains("exceeds the Blosc2 limit of 2 GiB; use a smaller chunk shape", e.Message, StringComparison.Ordinal);
            Assert.Empty(Directory.GetFileSystemEntries(dir));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData(new long[] { 4, 4, 4 }, new[] { 2_000_000_000, 2_000_000_000, 2_000_000_000 }, new[] { 1, 1, 1 })] // chunk items overflow 64 bits
    [InlineData(new long[] { 4 }, new[] { 2_000_000_000 }, new[] { 1_500_000_000 })] // the padded chunk (2 blocks) passes int.MaxValue
    [InlineData(new long[] { 4, 4 }, new[] { 100_000, 100_000 }, new[] { 100_000, 100_000 })]
    public void Chunk_and_block_shapes_near_int_MaxValue_are_an_ArgumentException_not_an_overflow(long[] shape, int[] chunk, int[] block)
    {
        var e = Assert.Throws<ArgumentException>(() => B2ndWriter.WriteToArray(new byte[shape.Aggregate(1L, (a, b) => a * b)], shape, DType.UInt8,
            new B2ndWriteOptions { ChunkShape = chunk, BlockShape = block }));
        Assert.Contains("exceeds the Blosc2 limit of 2 GiB; use a smaller chunk shape", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_shape_with_more_elements_or_bytes_than_64_bits_count_is_an_ArgumentException_not_an_overflow()
    {
        string dir = Directory.CreateTempSubdirectory("mla-limit-").FullName;
        try
        {
            string path = Path.Combine(dir, "huge.b2nd");
            var e = Assert.Throws<ArgumentException>(() => B2ndArray.Create(path, [1L << 40, 1L << 40], DType.Float32,
                new B2ndWriteOptions { ChunkShape = [1000, 1000], BlockShape = [100, 100] }));
            Assert.Contains("has more elements than 64-bit sizes can count (4-byte items); use a smaller shape", e.Message, StringComparison.Ordinal);
            Assert.Empty(Directory.GetFileSystemEntries(dir));
            // 2^62 four-byte items: the element count fits 64 bits, the byte count does not
            Assert.Throws<ArgumentException>(() => B2ndArray.Create(path, [1L << 31, 1L << 31], DType.Float32,
                new B2ndWriteOptions { ChunkShape = [1, 1], BlockShape = [1, 1] }));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_vlmeta_value_above_MaxMetaBytes_is_refused_and_the_limit_can_be_raised()
    {
        byte[] value = Enumerable.Range(0, 5000).Select(i => (byte)(i * 7)).ToArray();
        byte[] frame = B2ndWriter.WriteToArray(new byte[16], [4], DType.Float32, new B2ndWriteOptions { VlMeta = [new("big", value)] });
        using (var limited = B2ndArray.Open(frame, "meta.b2nd", new FrameLimits { MaxMetaBytes = 4096 }))
        {
            var e = Assert.Throws<MLArrayFormatException>(() => limited.GetVlMeta("big"));
            Assert.Contains("value declares 5000 bytes, above the limit of 4096 (FrameLimits.MaxMetaBytes)", e.Message, StringComparison.Ordinal);
            Assert.Contains("vlmeta 'big'", e.Message, StringComparison.Ordinal);
        }
        using var raised = B2ndArray.Open(frame, "meta.b2nd", new FrameLimits { MaxMetaBytes = 8192 });
        Assert.Equal(value, raised.GetVlMeta("big"));
    }
}

/// <summary>A <c>Write</c> that throws halfway is undone, in the instance and in the file.</summary>
public sealed class FailedWriteTests
{
    [Fact]
    public void A_write_that_fails_on_a_corrupt_chunk_after_earlier_batches_leaves_file_and_instance_unchanged()
    {
        string dir = Directory.CreateTempSubdirectory("mla-failwrite-").FullName;
        try
        {
            string path = Path.Combine(dir, "a.b2nd");
            var values = Enumerable.Range(0, 8 * 64).Select(i => i * 31 + 7).ToArray();
            B2ndWriter.Write(path, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()), [8, 64], DType.Int32,
                new B2ndWriteOptions { ChunkShape = [8, 8], BlockShape = [4, 8] });
            // Break the last of the 8 chunks: its header declares one byte less than the layout needs.
            byte[] file = File.ReadAllBytes(path);
            var frame = FrameReader.Open(new MemoryFrameSource(file));
            file[frame.HeaderLength + frame.GetOffset(7) + 4]--;
            File.WriteAllBytes(path, file);
            // the first 7 chunks (columns 0..55)
            int[] expected = Enumerable.Range(0, 8).SelectMany(row => values.Skip(row * 64).Take(56)).ToArray();
            using (var a = B2ndArray.Open(path, B2ndOpenMode.ReadWrite))
            {
                var fill = new byte[4 * 60 * 4];
                Array.Fill(fill, (byte)0x7F);
                // rows 2..5 of every chunk: all partial, decoded and appended in batches of 2; chunk 7 fails last
                var e = Assert.Throws<MLArrayFormatException>(() => a.Write([NdIndex.Slice(2, 6), NdIndex.Slice(2, 62)], fill, threads: 1));
                Assert.Contains("chunk 7", e.Message, StringComparison.Ordinal);
                Assert.Equal(expected, a.Read<int>(NdIndex.All, NdIndex.Slice(0, 56)));
            }
            // the header was never switched: the file still describes the old frame (appended bytes are unused space)
            Assert.Equal(file.AsSpan(0, 64).ToArray(), File.ReadAllBytes(path).AsSpan(0, 64).ToArray());
            using var reopened = B2ndArray.Open(path);
            Assert.Equal(expected, reopened.Read<int>(NdIndex.All, NdIndex.Slice(0, 56)));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
