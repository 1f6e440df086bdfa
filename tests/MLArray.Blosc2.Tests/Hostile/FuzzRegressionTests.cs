using CsCheck;
using K4os.Compression.LZ4;
using MLArray.Blosc2.Codecs;
using MLArray.Blosc2.Format;

namespace MLArray.Blosc2.Tests.Hostile;

/// <summary>
/// Inputs found by fuzzing (fuzz/README.md), minimised with afl-tmin and committed under tests/data/fuzz-regressions
/// (provenance in tests/data/README.md). Each one must now be refused with a typed exception.
/// </summary>
public sealed class FuzzRegressionTests
{
    private static byte[] Regression(string name) => File.ReadAllBytes(TestData.Path("fuzz-regressions", name));

    /// <summary>
    /// A chunk (LZ4, delta + shuffle) whose LZ4 stream has a match offset of 0. The LZ4 decoder copied the output onto
    /// itself, so the "decoded" bytes were whatever the scratch buffer held before: the result changed with the
    /// previous decode (stale or uninitialised memory returned as data). It must be refused, whatever the buffers held.
    /// </summary>
    [Theory]
    [InlineData(0x00)]
    [InlineData(0xA5)]
    public void Chunk_with_a_zero_lz4_match_offset_is_refused_whatever_the_buffers_held(byte previousContent)
    {
        byte[] chunk = Regression("chunk-lz4-zero-offset.bin");
        var h = ChunkHeader.Parse(chunk, ChunkLocation.Buffer);
        using var ctx = new CodecContext();
        ctx.ScratchA(h.BlockSize).AsSpan().Fill(previousContent);
        var dst = new byte[h.NBytes];
        dst.AsSpan().Fill(previousContent);

        var e = Assert.Throws<MLArrayFormatException>(() => ChunkDecoder.Decompress(chunk, h, dst, ctx, ChunkLocation.Buffer));
        Assert.Contains("lz4 stream 0 of block 0", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Lz4_stream_with_a_zero_offset_is_not_decoded()
    {
        // Token 0x80: 8 literals "abcdefgh", then a match of 4 bytes at offset 0; then the final run of 12 literals.
        byte[] stream = [0x80, .. "abcdefgh"u8, 0x00, 0x00, 0xC0, .. "ijklmnopqrst"u8];
        Assert.False(Lz4Block.IsWellFormed(stream, 24));
        using var ctx = new CodecContext();
        Assert.False(ctx.TryDecode(ChunkFormat.CodecFormatLz4, stream, new byte[24]));

        // The same stream with offset 4 is a valid block of 24 bytes.
        stream[9] = 4;
        Assert.True(Lz4Block.IsWellFormed(stream, 24));
        var dst = new byte[24];
        Assert.True(ctx.TryDecode(ChunkFormat.CodecFormatLz4, stream, dst));
        Assert.Equal("abcdefghefghijklmnopqrst"u8.ToArray(), dst);
    }

    [Fact]
    public void Lz4_offsets_past_the_output_or_dictionary_and_wrong_sizes_are_refused()
    {
        byte[] stream = [0x40, 1, 2, 3, 4, 0x05, 0x00, 0x40, 5, 6, 7, 8];
        Assert.False(Lz4Block.IsWellFormed(stream, 12)); // offset 5 > 4 bytes written
        Assert.True(Lz4Block.IsWellFormed(stream, 12, dictSize: 1)); // reaches 1 byte into a dictionary
        Assert.False(Lz4Block.IsWellFormed(stream, 12, dictSize: 0));
        stream[5] = 4;
        Assert.False(Lz4Block.IsWellFormed(stream, 11)); // decodes to 12, not 11
        Assert.False(Lz4Block.IsWellFormed(stream, 13));
        Assert.False(Lz4Block.IsWellFormed(stream.AsSpan(0, 6), 12)); // cut inside the offset
        Assert.False(Lz4Block.IsWellFormed([], 0)); // a block holds at least its last token
        Assert.True(Lz4Block.IsWellFormed([0x00], 0));
    }

    [Fact]
    public void Every_block_the_lz4_encoder_writes_passes_the_check()
    {
        Gen.Select(Gen.Int[1, 4], Gen.Int[1, 3000], Gen.Int[0, 4]).Sample((alphabet, length, level) =>
        {
            var data = new byte[length];
            var rng = new Random(length * 31 + alphabet);
            for (int i = 0; i < data.Length; i++)
                data[i] = (byte)(rng.Next(alphabet) * 17 + (i % 7 == 0 ? rng.Next(3) : 0));
            var dst = new byte[LZ4Codec.MaximumOutputSize(data.Length)];
            int n = LZ4Codec.Encode(data, dst, level == 0 ? LZ4Level.L00_FAST : LZ4Level.L09_HC + level);
            Assert.True(Lz4Block.IsWellFormed(dst.AsSpan(0, n), data.Length));
            Assert.False(Lz4Block.IsWellFormed(dst.AsSpan(0, n), data.Length + 1));
        }, iter: 300);
    }

    /// <summary>
    /// A NaN special chunk (typesize 4) of 3 158 037 bytes: the NaN fill wrote whole floats only, so the last byte kept
    /// whatever the destination held. A NaN chunk must be a whole number of items.
    /// </summary>
    [Fact]
    public void Nan_special_chunk_that_is_not_a_whole_number_of_items_is_refused()
    {
        byte[] chunk = Regression("chunk-nan-special-partial-item.bin");
        var e = Assert.Throws<MLArrayFormatException>(() => ChunkHeader.Parse(chunk, ChunkLocation.Buffer));
        Assert.Contains("NaN special chunk of 3158037 bytes is not a whole number of 4-byte items", e.Message, StringComparison.Ordinal);

        // The same chunk with nbytes rounded down to whole items is accepted and decodes to NaNs only.
        var fixedChunk = (byte[])chunk.Clone();
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(fixedChunk.AsSpan(4), 3158036);
        var h = ChunkHeader.Parse(fixedChunk, ChunkLocation.Buffer);
        var dst = new byte[h.NBytes];
        using var ctx = new CodecContext();
        ChunkDecoder.Decompress(fixedChunk, h, dst, ctx, ChunkLocation.Buffer);
        Assert.All(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(dst).ToArray(), v => Assert.True(float.IsNaN(v)));
    }

    /// <summary>
    /// A frame (mutated from the C-Blosc2 file <c>struct_f4_i2_zstd_shuffle.b2nd</c>) whose b2nd metalayer holds the
    /// structured dtype <c>[('a', '&lt;f4'), ('b',''&lt;i2')]</c>: the field type '' made the dtype parser index an empty
    /// string (IndexOutOfRangeException). It is a malformed dtype: a format error naming it.
    /// </summary>
    [Fact]
    public void Structured_dtype_with_an_empty_field_type_is_a_format_error()
    {
        byte[] frame = Regression("frame-struct-dtype-empty-field-type.b2nd");
        var e = Assert.Throws<MLArrayFormatException>(() => B2ndArray.Open(frame, "fuzz.b2nd"));
        Assert.Contains("[('a', '<f4'), ('b',''<i2')]", e.Message, StringComparison.Ordinal);
        Assert.Contains("dtype", e.Message, StringComparison.Ordinal);
    }
}
