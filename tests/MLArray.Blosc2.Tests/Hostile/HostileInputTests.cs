using System.Buffers.Binary;
using System.Globalization;
using MLArray.Blosc2.Codecs;
using MLArray.Blosc2.Format;
using Xunit.Abstractions;

namespace MLArray.Blosc2.Tests.Hostile;

/// <summary>
/// Corrupt, truncated and hostile frames built in code from copies of the C-Blosc2 corpus (frame layout: spec §2–§5).
/// The only acceptable outcomes are success or an <see cref="MLArrayException"/> subtype
/// (<see cref="MLArrayFormatException"/> / <see cref="MLArrayNotSupportedException"/>) whose message names the
/// source and the offset or chunk.
/// </summary>
public sealed class HostileInputTests(ITestOutputHelper output)
{
    // ------------------------------------------------------------------------------------------------------------
    // Helpers

    private static byte[] Corpus(string file) => File.ReadAllBytes(TestData.Blosc2(file));

    private static int HeaderLen(byte[] f) => BinaryPrimitives.ReadInt32BigEndian(f.AsSpan(11));

    private static long CBytes(byte[] f) => BinaryPrimitives.ReadInt64BigEndian(f.AsSpan(39));

    private static long NBytes(byte[] f) => BinaryPrimitives.ReadInt64BigEndian(f.AsSpan(30));

    private static int ChunkSize(byte[] f) => BinaryPrimitives.ReadInt32BigEndian(f.AsSpan(58));

    private static int TrailerLen(byte[] f) => (int)BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(f.Length - 22));

    private static byte[] Patch(byte[] f, Action<byte[]> change)
    {
        var copy = (byte[])f.Clone();
        change(copy);
        return copy;
    }

    private static long[] Offsets(byte[] f)
    {
        var r = FrameReader.Open(new MemoryFrameSource(f, "original"));
        return Enumerable.Range(0, (int)r.NChunks).Select(i => r.GetOffset(i)).ToArray();
    }

    /// <summary>Absolute position of chunk <paramref name="k"/> in the frame.</summary>
    private static int ChunkPos(byte[] f, int k) => HeaderLen(f) + (int)Offsets(f)[k];

    private static int ChunkCBytes(byte[] f, int k) => BinaryPrimitives.ReadInt32LittleEndian(f.AsSpan(ChunkPos(f, k) + 12));

    /// <summary>Reassembles header + chunks section + index + trailer and patches frame_len / nbytes / cbytes.</summary>
    private static byte[] Assemble(byte[] header, byte[] chunks, byte[] index, byte[] trailer, long nbytes)
    {
        byte[] f = [.. header, .. chunks, .. index, .. trailer];
        bool vl = header[68] == 0xC3;
        FrameLayout.PatchHeader(f.AsSpan(0, header.Length), f.Length, nbytes, chunks.Length, vl);
        return f;
    }

    private static (byte[] Header, byte[] Chunks, byte[] Index, byte[] Trailer) Split(byte[] f)
    {
        int hl = HeaderLen(f);
        long cb = CBytes(f);
        int tl = TrailerLen(f);
        return (f[..hl], f[hl..(int)(hl + cb)], f[(int)(hl + cb)..^tl], f[^tl..]);
    }

    /// <summary>The same frame with a new offsets index (chunks untouched).</summary>
    private static byte[] WithOffsets(byte[] f, Func<long[], long[]> change)
    {
        var (header, chunks, _, trailer) = Split(f);
        using var ctx = new CodecContext();
        byte[] index = FrameLayout.BuildIndex(change(Offsets(f)), ctx);
        return Assemble(header, chunks, index, trailer, NBytes(f));
    }

    /// <summary>The same frame with chunk <paramref name="k"/> replaced (chunks laid out again, index rebuilt).</summary>
    private static byte[] WithChunk(byte[] f, int k, Func<byte[], byte[]> change)
    {
        var (header, _, _, trailer) = Split(f);
        long[] offsets = Offsets(f);
        int hl = HeaderLen(f);
        var section = new MemoryStream();
        var newOffsets = new long[offsets.Length];
        for (int i = 0; i < offsets.Length; i++)
        {
            if (offsets[i] < 0)
            {
                newOffsets[i] = offsets[i];
                continue;
            }
            int pos = hl + (int)offsets[i];
            int cb = BinaryPrimitives.ReadInt32LittleEndian(f.AsSpan(pos + 12));
            byte[] chunk = f[pos..(pos + cb)];
            if (i == k)
                chunk = change(chunk);
            newOffsets[i] = section.Length;
            section.Write(chunk);
        }
        using var ctx = new CodecContext();
        return Assemble(header, section.ToArray(), FrameLayout.BuildIndex(newOffsets, ctx), trailer, NBytes(f));
    }

    /// <summary>The same frame with another dtype string in its b2nd metalayer (header rebuilt, length may change).</summary>
    private static byte[] WithDType(byte[] f, string dtype)
    {
        var reader = FrameReader.Open(new MemoryFrameSource(f, "original"));
        var entry = reader.Metalayers.Single(m => m.Name == "b2nd");
        var meta = B2ndMeta.Parse(reader.GetMetalayer("b2nd"), entry.ContentOffset, null);
        var newMeta = meta with { DType = dtype };
        byte[] header = FrameLayout.BuildHeader(reader.TypeSize, reader.BlockSize, reader.ChunkSize, new CompressionParams(),
            [("b2nd", newMeta.Encode())], zeroChunkSize: false);
        f.AsSpan(15, 87 - 15).CopyTo(header.AsSpan(15)); // keep every fixed field of the original but header_len
        var (_, chunks, index, trailer) = Split(f);
        return Assemble(header, chunks, index, trailer, NBytes(f));
    }

    /// <summary>Opens and fully reads a frame (data, chunk infos, vlmeta); returns the exception, or null on success.</summary>
    private static Exception? Attempt(byte[] frame, string name, int threads = 0)
    {
        try
        {
            using var a = B2ndArray.Open(frame, name);
            _ = a.ReadBytes(threads);
            for (long k = 0; k < a.NChunks; k++)
                _ = a.GetChunkInfo(k);
            foreach (var v in a.VlMetaNames)
                _ = a.GetVlMeta(v);
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    /// <summary>Asserts an MLArray error naming the source and the offset or chunk.</summary>
    private static MLArrayException AssertWellFormedError(Exception? e, string source, string what)
    {
        Assert.True(e is not null, $"{what}: no error was raised");
        Assert.True(e is MLArrayFormatException or MLArrayNotSupportedException,
            $"{what}: {e!.GetType().Name} is not an MLArray exception: {e}");
        string m = e.Message;
        Assert.True(m.Contains(source, StringComparison.Ordinal), $"{what}: message does not name the source '{source}': {m}");
        Assert.True(m.Contains("offset", StringComparison.OrdinalIgnoreCase) || m.Contains("chunk", StringComparison.OrdinalIgnoreCase),
            $"{what}: message names neither an offset nor a chunk: {m}");
        return (MLArrayException)e;
    }

    private static T AssertRejected<T>(byte[] frame, string what, string? contains = null, string name = "hostile.mla")
        where T : MLArrayException
    {
        var e = AssertWellFormedError(Attempt(frame, name), name, what);
        Assert.True(e is T, $"{what}: expected {typeof(T).Name}, got {e.GetType().Name}: {e.Message}");
        if (contains is not null)
            Assert.Contains(contains, e.Message, StringComparison.Ordinal);
        // the serial path reports the same error
        var serial = Attempt(frame, name, threads: 1);
        Assert.IsType(e.GetType(), serial);
        return (T)e;
    }

    private static MLArrayException AssertRejectedAny(byte[] frame, string what, string name = "hostile.mla") =>
        AssertWellFormedError(Attempt(frame, name), name, what);

    // ------------------------------------------------------------------------------------------------------------
    // Truncation

    [Theory]
    [InlineData("u1_1d_tiny_lz4_shuffle.mla")]
    [InlineData("empty_1d_f8.mla")]
    [InlineData("f4_2d_special_nans.mla")]
    public void Every_prefix_of_a_small_file_is_rejected(string file)
    {
        byte[] f = Corpus(file);
        Assert.Null(Attempt(f, file));
        for (int len = 0; len < f.Length; len++)
            AssertRejected<MLArrayFormatException>(f[..len], $"prefix of {len} bytes", name: file);
    }

    [Theory]
    [InlineData("u1_1d_tiny_lz4_shuffle.mla")]
    [InlineData("mlarray_metadata_only.mla")]
    public void Every_prefix_with_frame_len_patched_to_match_is_rejected(string file)
    {
        // frame_len agrees with the truncated length, so the deeper checks (trailer, index, chunks) must catch it
        byte[] f = Corpus(file);
        for (int len = 0; len < f.Length; len++)
        {
            byte[] t = f[..len];
            if (len >= 24)
                BinaryPrimitives.WriteInt64BigEndian(t.AsSpan(16), len);
            AssertRejectedAny(t, $"prefix of {len} bytes, frame_len patched", file);
        }
    }

    [Fact]
    public void Random_prefix_lengths_of_a_larger_file_are_rejected()
    {
        const string file = "mlarray_small_f4_3d.mla";
        byte[] f = Corpus(file);
        var rng = new Random(20240611);
        for (int i = 0; i < 150; i++)
        {
            int len = i < 10 ? f.Length - 1 - i : rng.Next(f.Length);
            AssertRejected<MLArrayFormatException>(f[..len], $"prefix of {len} bytes", name: file);
            byte[] patched = f[..len];
            if (len >= 24)
                BinaryPrimitives.WriteInt64BigEndian(patched.AsSpan(16), len);
            AssertRejectedAny(patched, $"prefix of {len} bytes, frame_len patched", file);
        }
    }

    [Fact]
    public void Truncated_file_on_disk_names_the_path()
    {
        string dir = Directory.CreateTempSubdirectory("mla-hostile-").FullName;
        try
        {
            string path = Path.Combine(dir, "truncated.mla");
            byte[] f = Corpus("f4_3d_lz4_shuffle.mla");
            File.WriteAllBytes(path, f[..(f.Length / 2)]);
            var e = Assert.ThrowsAny<MLArrayException>(() => B2ndArray.Open(path));
            Assert.IsType<MLArrayFormatException>(e);
            Assert.Contains(path, e.Message, StringComparison.Ordinal);
            Assert.Contains("offset", e.Message, StringComparison.Ordinal);

            // frame_len patched: the reader gets past the header and must fail on a later structure
            byte[] t = f[..(f.Length - 100)];
            BinaryPrimitives.WriteInt64BigEndian(t.AsSpan(16), t.Length);
            File.WriteAllBytes(path, t);
            var e2 = Assert.ThrowsAny<MLArrayException>(() => { using var a = B2ndArray.Open(path); a.ReadBytes(); });
            Assert.Contains(path, e2.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Frame header fields

    [Fact]
    public void Bad_magic_is_rejected()
    {
        byte[] f = Corpus("f4_3d_lz4_shuffle.mla");
        for (int i = 0; i < 10; i++)
        {
            var e = AssertRejected<MLArrayFormatException>(Patch(f, b => b[i] ^= 0x20), $"magic byte {i} changed");
            Assert.Contains("at offset 0", e.Message, StringComparison.Ordinal);
        }
        AssertRejected<MLArrayFormatException>("PK\x03\x04 this is a zip file, not a frame at all............................................................"u8.ToArray(), "zip");
        AssertRejected<MLArrayFormatException>(new byte[4096], "all zero");
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(0)]
    [InlineData(86)]
    [InlineData(int.MaxValue)]
    [InlineData(int.MinValue)]
    public void Header_len_outside_the_file_is_rejected(int headerLen)
    {
        byte[] f = Corpus("i2_2d_zlib_shuffle.mla");
        var e = AssertRejected<MLArrayFormatException>(Patch(f, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(11), headerLen)), $"header_len {headerLen}");
        Assert.Contains("offset 11", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Header_len_inside_the_file_but_wrong_is_rejected()
    {
        byte[] f = Corpus("f8_4d_zstd_shuffle.mla");
        int hl = HeaderLen(f);
        foreach (int v in new[] { 87, 88, hl - 1, hl + 1, hl + 100, f.Length - 1, f.Length })
            AssertRejectedAny(Patch(f, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(11), v)), $"header_len {v}");
    }

    [Fact]
    public void Frame_len_disagreeing_with_the_file_is_rejected()
    {
        byte[] f = Corpus("u1_1d_zstd_shuffle.mla");
        foreach (long v in new[] { f.Length + 1L, f.Length * 2L, long.MaxValue, -1L, long.MinValue })
        {
            var e = AssertRejected<MLArrayFormatException>(Patch(f, b => BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(16), v)), $"frame_len {v}");
            Assert.Contains("offset 16", e.Message, StringComparison.Ordinal);
        }
        foreach (long v in new[] { 0L, 1L, 87L, 200L, f.Length - 1L, f.Length - 35L })
            AssertRejected<MLArrayFormatException>(Patch(f, b => BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(16), v)), $"frame_len {v}");
    }

    [Fact]
    public void Cbytes_pointing_outside_the_file_or_disagreeing_with_the_chunks_is_rejected()
    {
        byte[] f = Corpus("f4_3d_blosclz_shuffle.mla");
        long cb = CBytes(f);
        foreach (long v in new[] { -1L, long.MinValue, long.MaxValue, f.Length, cb + 1000 })
            AssertRejected<MLArrayFormatException>(Patch(f, b => BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(39), v)), $"cbytes {v}");
        // inside the file: the offsets index is then looked for at the wrong place (or chunks run past the section)
        foreach (long v in new[] { cb + 1, cb - 1, cb + 40, cb - 32, cb / 2, 0L })
            AssertRejectedAny(Patch(f, b => BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(39), v)), $"cbytes {v}");
    }

    [Fact]
    public void Typesize_and_nbytes_that_do_not_fit_are_rejected()
    {
        byte[] f = Corpus("i2_2d_lz4_shuffle.mla");
        foreach (int ts in new[] { 0, -2, 4, 255 })
            AssertRejected<MLArrayFormatException>(Patch(f, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(48), ts)), $"typesize {ts}");
        foreach (long nb in new[] { -1L, 0L, 1L, NBytes(f) + 1, NBytes(f) * 2, long.MaxValue, long.MinValue })
            AssertRejected<MLArrayFormatException>(Patch(f, b => BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(30), nb)), $"nbytes {nb}");
        // nbytes one short still implies the same number of chunks: read (leniently) or rejected, never a crash
        var e = Attempt(Patch(f, b => BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(30), NBytes(f) - 1)), "short.mla");
        if (e is not null)
            AssertWellFormedError(e, "short.mla", "nbytes - 1");
    }

    [Fact]
    public void Header_msgpack_markers_are_checked()
    {
        byte[] f = Corpus("f4_3d_lz4_shuffle.mla");
        foreach (int at in new[] { 10, 15, 24, 29, 38, 47, 52, 57, 69 })
        {
            var e = AssertRejected<MLArrayFormatException>(Patch(f, b => b[at] ^= 0x01), $"marker at {at}");
            Assert.Contains($"offset {at}", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Unsupported_frame_variants_are_reported_as_not_supported()
    {
        byte[] f = Corpus("f4_3d_lz4_shuffle.mla");
        AssertRejected<MLArrayNotSupportedException>(Patch(f, b => b[25] = 0x14), "frame version 4", "version 4");
        AssertRejected<MLArrayNotSupportedException>(Patch(f, b => b[25] = 0x10), "frame version 0");
        AssertRejected<MLArrayNotSupportedException>(Patch(f, b => b[25] = 0x02), "32-bit offsets");
        AssertRejected<MLArrayNotSupportedException>(Patch(f, b => b[26] = 0x01), "sparse frame", "sparse");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Trailer

    [Fact]
    public void Trailer_length_pointing_outside_the_file_is_rejected()
    {
        byte[] f = Corpus("mlarray_small_f4_3d.mla");
        foreach (uint v in new[] { 0u, 1u, 22u, (uint)f.Length, (uint)f.Length + 1, uint.MaxValue, (uint)(f.Length - HeaderLen(f) + 1) })
        {
            var e = AssertRejected<MLArrayFormatException>(Patch(f, b => BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(b.Length - 22), v)), $"trailer_len {v}");
            Assert.Contains($"offset {f.Length - 22}", e.Message, StringComparison.Ordinal);
        }
        // inside the frame but not at the trailer: the trailer or the index no longer parse
        int tl = TrailerLen(f);
        foreach (uint v in new[] { (uint)tl - 1, (uint)tl + 1, (uint)tl + 8, 23u })
            AssertRejectedAny(Patch(f, b => BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(b.Length - 22), v)), $"trailer_len {v}");
        AssertRejected<MLArrayFormatException>(Patch(f, b => b[^23] = 0xCD), "trailer marker", "0xCE");
    }

    [Fact]
    public void Vlmeta_entries_pointing_outside_the_trailer_are_rejected()
    {
        byte[] f = Corpus("mlarray_metadata_only.mla");
        int t = f.Length - TrailerLen(f);
        // t+6 = 0xDE map16, t+9 = fixstr "mlarray", then 0xD2 + BE int32 offset
        Assert.Equal(0xDE, f[t + 6]);
        int offAt = t + 9 + 1 + "mlarray".Length + 1;
        foreach (int v in new[] { -1, 0, TrailerLen(f), int.MaxValue })
            AssertRejected<MLArrayFormatException>(Patch(f, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(offAt), v)), $"vlmeta offset {v}", "vlmeta");
        int valueAt = t + BinaryPrimitives.ReadInt32BigEndian(f.AsSpan(offAt));
        AssertRejected<MLArrayFormatException>(Patch(f, b => BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(valueAt + 1), 100_000)), "vlmeta length");
        // the vlmeta chunk itself is corrupt: only GetVlMeta fails
        AssertRejectedAny(Patch(f, b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(valueAt + 5 + 12), 7)), "vlmeta chunk cbytes");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Offsets index and chunks

    [Fact]
    public void Rebuilt_frames_are_valid_before_being_made_hostile()
    {
        foreach (var file in new[] { "f4_3d_lz4_shuffle.mla", "f4_2d_lz4_shuffle_halfzero.mla", "mlarray_small_f4_3d.mla" })
        {
            byte[] f = Corpus(file);
            byte[] expected;
            using (var a = B2ndArray.Open(f, file))
                expected = a.ReadBytes();
            foreach (var rebuilt in new[] { WithOffsets(f, o => o), WithChunk(f, 0, c => c), WithDType(f, "<f4") })
            {
                using var b = B2ndArray.Open(rebuilt, file);
                Assert.Equal(expected, b.ReadBytes());
            }
        }
    }

    [Fact]
    public void Chunk_offset_outside_the_chunks_section_is_rejected()
    {
        byte[] f = Corpus("f4_3d_lz4_shuffle.mla");
        long cb = CBytes(f);
        foreach (long v in new[] { cb, cb - 15, cb + 1, cb + 100_000, long.MaxValue, 1L << 40 })
        {
            var e = AssertRejected<MLArrayFormatException>(WithOffsets(f, o => { o[3] = v; return o; }), $"offset {v}", "chunk 3");
            Assert.Contains("outside the chunks section", e.Message, StringComparison.Ordinal);
        }
        // negative offsets that are no known special value
        foreach (long v in new[] { -1L, long.MinValue, unchecked((long)0x8300000000000000UL), unchecked((long)0x8500000000000000UL), unchecked((long)0xFF00000000000000UL) })
            AssertRejected<MLArrayFormatException>(WithOffsets(f, o => { o[5] = v; return o; }), $"offset 0x{v:X16}", "chunk 5");
        // pointing inside the section but not at a chunk header
        foreach (long delta in new[] { 1L, 7L, 33L })
            AssertRejectedAny(WithOffsets(f, o => { o[2] += delta; return o; }), $"offset +{delta}");
    }

    [Fact]
    public void Offsets_index_that_does_not_match_nchunks_is_rejected()
    {
        byte[] f = Corpus("f4_3d_lz4_shuffle.mla");
        AssertRejected<MLArrayFormatException>(WithOffsets(f, o => o[..^1]), "one offset missing", "offsets index");
        AssertRejected<MLArrayFormatException>(WithOffsets(f, o => [.. o, 0]), "one offset too many", "offsets index");
        // the index chunk itself is corrupt
        var (header, chunks, index, trailer) = Split(f);
        byte[] badIndex = (byte[])index.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(badIndex.AsSpan(12), index.Length + 10);
        AssertRejected<MLArrayFormatException>(Assemble(header, chunks, badIndex, trailer, NBytes(f)), "index cbytes", "offsets index");
        AssertRejected<MLArrayFormatException>(Assemble(header, chunks, [], trailer, NBytes(f)), "index missing", "offsets index");
    }

    [Fact]
    public void Chunk_cbytes_disagreeing_with_the_frame_is_rejected()
    {
        byte[] f = Corpus("f4_3d_zstd_shuffle.mla");
        long[] offsets = Offsets(f);
        int last = Array.IndexOf(offsets, offsets.Max());
        int pos = ChunkPos(f, last);
        int cb = ChunkCBytes(f, last);
        // the last chunk in the section claims more bytes than the section holds
        foreach (int v in new[] { cb + 1, cb + 1000, int.MaxValue })
        {
            var e = AssertRejected<MLArrayFormatException>(Patch(f, b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(pos + 12), v)), $"cbytes {v}", $"chunk {last}");
            Assert.Contains("outside the chunks section", e.Message, StringComparison.Ordinal);
        }
        // less than a header, or less than the block starts need
        foreach (int v in new[] { 40, 31, 16, 15, 0, -1, int.MinValue })
            AssertRejected<MLArrayFormatException>(Patch(f, b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(pos + 12), v)), $"cbytes {v}", $"chunk {last}");
        // fewer bytes than the streams need: chunk 0 has no block lying wholly in the edge padding, so every stream is read
        int pos0 = ChunkPos(f, 0);
        int cb0 = ChunkCBytes(f, 0);
        foreach (int v in new[] { cb0 - 1, cb0 - 5, cb0 - 100, cb0 / 2 })
            AssertRejected<MLArrayFormatException>(Patch(f, b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(pos0 + 12), v)), $"chunk 0 cbytes {v}", "chunk 0");
        // the last chunk's final streams belong to blocks that lie wholly in the padding (never decoded): either outcome is fine
        var lenient = Attempt(Patch(f, b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(pos + 12), cb - 1)), "lenient.mla");
        if (lenient is not null)
            AssertWellFormedError(lenient, "lenient.mla", "last chunk cbytes - 1");
        // a memcpyed chunk whose cbytes is not nbytes + 32
        byte[] m = Corpus("f4_3d_lz4_shuffle_clevel0.mla");
        int mpos = ChunkPos(m, 1);
        int mcb = ChunkCBytes(m, 1);
        AssertRejected<MLArrayFormatException>(Patch(m, b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(mpos + 12), mcb - 1)), "memcpyed cbytes", "memcpyed");
        AssertRejected<MLArrayFormatException>(Patch(m, b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(mpos + 4), BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(mpos + 4)) - 4)), "memcpyed nbytes", "chunk 1");
    }

    [Fact]
    public void Chunk_header_fields_that_do_not_fit_the_array_are_rejected()
    {
        byte[] f = Corpus("f8_4d_lz4_shuffle.mla");
        int pos = ChunkPos(f, 4);
        int nbytes = BinaryPrimitives.ReadInt32LittleEndian(f.AsSpan(pos + 4));
        foreach (int v in new[] { -1, 0, nbytes - 8, nbytes + 8, int.MaxValue })
            AssertRejected<MLArrayFormatException>(Patch(f, b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(pos + 4), v)), $"chunk nbytes {v}", "chunk 4");
        foreach (int v in new[] { 0, -5, 1, 8, 7 })
            AssertRejected<MLArrayFormatException>(Patch(f, b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(pos + 8), v)), $"chunk blocksize {v}", "chunk 4");
        AssertRejected<MLArrayFormatException>(Patch(f, b => b[pos + 3] = 0), "chunk typesize 0", "chunk 4");
        AssertRejected<MLArrayNotSupportedException>(Patch(f, b => b[pos] = 7), "chunk version 7", "chunk 4");
        AssertRejected<MLArrayNotSupportedException>(Patch(f, b => b[pos] = 0), "chunk version 0", "chunk 4");
        // block starts outside the stream area
        foreach (int v in new[] { 0, 31, -1, int.MaxValue, ChunkCBytes(f, 4) })
            AssertRejected<MLArrayFormatException>(Patch(f, b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(pos + 32 + 4), v)), $"bstart {v}", "chunk 4");
        // a stream csize larger than what remains
        int bstart = BinaryPrimitives.ReadInt32LittleEndian(f.AsSpan(pos + 32));
        AssertRejected<MLArrayFormatException>(Patch(f, b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(pos + bstart), 1 << 20)), "stream csize", "chunk 4");
        // a run-length stream with an unknown token
        AssertRejected<MLArrayFormatException>(Patch(f, b => { BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(pos + bstart), -3); b[pos + bstart + 4] = 0x02; }), "token", "token");
    }

    public static TheoryData<Blosc2Codec> AllCodecs() => new(Blosc2Codec.BloscLZ, Blosc2Codec.LZ4, Blosc2Codec.LZ4HC, Blosc2Codec.Zlib, Blosc2Codec.Zstd);

    [Theory]
    [MemberData(nameof(AllCodecs))]
    public void Stream_decoding_to_another_size_than_declared_is_rejected(Blosc2Codec codec)
    {
        // One block per chunk, one stream per block: the stream is then easy to swap for another one.
        var values = Enumerable.Range(0, 40 * 64).Select(i => (i / 7) % 251).Select(v => (byte)v).ToArray();
        byte[] f = B2ndWriter.WriteToArray(values, [40, 64], DType.UInt8, new B2ndWriteOptions
        {
            ChunkShape = [20, 64],
            BlockShape = [20, 64],
            Compression = new CompressionParams { Codec = codec, CLevel = 5, SplitMode = Blosc2SplitMode.Never },
        });
        using (var ok = B2ndArray.Open(f, "ok.mla"))
            Assert.Equal(values, ok.ReadBytes());
        int neblock = 20 * 64;
        using var ctx = new CodecContext();
        foreach (int size in new[] { neblock - 16, neblock - 1, neblock + 1, neblock + 300 })
        {
            var other = Enumerable.Range(0, size).Select(i => (byte)(i / 5)).ToArray();
            var enc = new byte[size + 64];
            int n = ctx.Encode(codec, 5, other, enc);
            Assert.True(n > 0);
            byte[] stream = enc[..n];
            byte[] hostile = WithChunk(f, 1, chunk =>
            {
                int bstart = BinaryPrimitives.ReadInt32LittleEndian(chunk.AsSpan(32));
                byte[] c = [.. chunk[..bstart], 0, 0, 0, 0, .. stream];
                BinaryPrimitives.WriteInt32LittleEndian(c.AsSpan(bstart), n);
                BinaryPrimitives.WriteInt32LittleEndian(c.AsSpan(12), c.Length);
                return c;
            });
            var e = AssertRejected<MLArrayFormatException>(hostile, $"{codec} stream of {size} bytes", "chunk 1");
            Assert.Contains($"declared {neblock} bytes", e.Message, StringComparison.Ordinal);
        }
        // flipped bytes inside the compressed stream: an error or (for codecs without checksums) other data, never a crash
        int pos = ChunkPos(f, 0);
        int cb = ChunkCBytes(f, 0);
        for (int i = pos + 40; i < pos + cb; i += Math.Max(1, (cb - 40) / 25))
        {
            int at = i;
            var e = Attempt(Patch(f, b => b[at] ^= 0x5A), "flip.mla");
            if (e is not null)
                AssertWellFormedError(e, "flip.mla", $"{codec} flip at {at}");
            if (codec == Blosc2Codec.Zlib)
                Assert.NotNull(e); // Adler-32 protects zlib streams
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Unsupported codecs and filters

    [Theory]
    [InlineData(32)]
    [InlineData(33)]
    [InlineData(160)]
    [InlineData(255)]
    public void Plugin_codec_in_a_chunk_is_not_supported(int udcodec)
    {
        byte[] f = Corpus("f4_3d_lz4_shuffle.mla");
        int pos = ChunkPos(f, 2);
        byte[] h = Patch(f, b =>
        {
            b[pos + 2] = (byte)((b[pos + 2] & 0x1F) | (6 << 5)); // codec format 6: user codec, id at byte 22
            b[pos + 22] = (byte)udcodec;
        });
        var e = AssertRejected<MLArrayNotSupportedException>(h, $"udcodec {udcodec}", "chunk 2");
        Assert.Contains(udcodec.ToString(CultureInfo.InvariantCulture), e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(7)]
    public void Reserved_codec_formats_are_not_supported(int format)
    {
        byte[] f = Corpus("f4_3d_lz4_shuffle.mla");
        int pos = ChunkPos(f, 0);
        AssertRejected<MLArrayNotSupportedException>(Patch(f, b => b[pos + 2] = (byte)((b[pos + 2] & 0x1F) | (format << 5))), $"format {format}", "chunk 0");
    }

    [Theory]
    [InlineData(5, 5)]
    [InlineData(17, 5)]
    [InlineData(31, 0)]
    [InlineData(32, 5)]
    [InlineData(34, 4)]
    [InlineData(160, 5)]
    [InlineData(255, 2)]
    public void Unknown_filter_ids_are_not_supported(int filter, int slot)
    {
        byte[] f = Corpus("i2_2d_lz4_shuffle.mla");
        int pos = ChunkPos(f, 1);
        var e = AssertRejected<MLArrayNotSupportedException>(Patch(f, b => b[pos + 16 + slot] = (byte)filter), $"filter {filter} in slot {slot}", "chunk 1");
        Assert.Contains($"filter id {filter}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Instrumented_vl_block_and_lazy_chunks_are_rejected()
    {
        byte[] f = Corpus("i2_2d_lz4_shuffle.mla");
        int pos = ChunkPos(f, 0);
        AssertRejected<MLArrayNotSupportedException>(Patch(f, b => b[pos + 30] |= 0x01), "vl blocks", "variable-length blocks");
        AssertRejected<MLArrayFormatException>(Patch(f, b => b[pos + 31] |= 0x08), "lazy", "lazy");
        AssertRejected<MLArrayNotSupportedException>(Patch(f, b => b[pos + 31] |= 0x80), "instrumented", "instrumented");
        AssertRejected<MLArrayNotSupportedException>(Patch(f, b => b[pos + 31] |= 0x50), "special type 5");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Hostile sizes

    [Fact]
    public void Enormous_nchunks_is_rejected_without_a_huge_allocation()
    {
        byte[] f = Corpus("f4_3d_lz4_shuffle.mla");
        int cs = ChunkSize(f);
        var cases = new List<(string, byte[])>
        {
            ("nbytes 2^62", Patch(f, b => BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(30), 1L << 62))),
            ("nbytes long.MaxValue", Patch(f, b => BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(30), long.MaxValue))),
            ("nchunks just under the limit", Patch(f, b => BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(30), ((1L << 25) - 1) * cs))),
            ("nchunks 2^24", Patch(f, b => BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(30), (1L << 24) * cs))),
            ("chunksize 1", Patch(f, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(58), 1))),
            ("chunksize 1, nbytes 2^40", Patch(f, b =>
            {
                BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(58), 1);
                BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(30), 1L << 40);
            })),
            ("chunksize 0", Patch(f, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(58), 0))),
            ("chunksize -1", Patch(f, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(58), -1))),
            ("chunksize int.MaxValue", Patch(f, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(58), int.MaxValue))),
            ("chunksize int.MaxValue, nbytes 2^50", Patch(f, b =>
            {
                BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(58), int.MaxValue);
                BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(30), 1L << 50);
            })),
            ("b2nd shape 2^40", WithDType(f, "<f4").Let(g => PatchB2ndShape(g, 0, 1L << 40))),
        };
        foreach (var (what, frame) in cases)
        {
            Attempt(frame, "warmup.mla"); // JIT and static initialisation outside the measurement
            long before = GC.GetAllocatedBytesForCurrentThread();
            var e = Attempt(frame, "huge.mla", threads: 1);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            AssertWellFormedError(e, "huge.mla", what);
            output.WriteLine($"{what}: {allocated / 1024} KiB allocated, {e!.GetType().Name}: {e.Message}");
            Assert.True(allocated < 64L << 20, $"{what}: {allocated} bytes were allocated before the error");
        }
        // a caller-supplied limit is honoured
        var limited = new FrameLimits { MaxChunks = 10 };
        var le = Assert.ThrowsAny<MLArrayException>(() => B2ndArray.Open(f, "limited.mla", limited));
        Assert.Contains("MaxChunks", le.Message, StringComparison.Ordinal);
    }

    /// <summary>Overwrites shape[dim] of the b2nd metalayer in place (fixed-width int64 after 0xD3).</summary>
    private static byte[] PatchB2ndShape(byte[] f, int dim, long value)
    {
        var reader = FrameReader.Open(new MemoryFrameSource(f, "original"));
        long content = reader.Metalayers.Single(m => m.Name == "b2nd").ContentOffset;
        // 0x97, version, ndim, 0x90|ndim, then ndim × (0xD3 + 8 bytes)
        int at = (int)content + 4 + dim * 9;
        Assert.Equal(0xD3, f[at]);
        return Patch(f, b => BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(at + 1), value));
    }

    [Fact]
    public void B2nd_metalayer_inconsistent_with_the_frame_is_rejected()
    {
        byte[] f = Corpus("f4_3d_lz4_shuffle.mla");
        AssertRejected<MLArrayFormatException>(PatchB2ndShape(f, 0, 1000), "shape needs more chunks", "chunks");
        AssertRejected<MLArrayFormatException>(PatchB2ndShape(f, 1, -1), "negative shape");
        AssertRejected<MLArrayFormatException>(PatchB2ndShape(f, 2, long.MaxValue), "shape long.MaxValue");
        AssertRejected<MLArrayFormatException>(WithDType(f, "<f8"), "dtype of another item size", "typesize");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Unsupported dtypes

    [Theory]
    [InlineData("|O")]
    [InlineData("<M8[ns]")]
    [InlineData(">m8")]
    public void Unsupported_dtype_in_the_b2nd_metalayer_is_not_supported(string dtype)
    {
        byte[] f = WithDType(Corpus("f4_3d_lz4_shuffle.mla"), dtype);
        var e = AssertRejected<MLArrayNotSupportedException>(f, $"dtype '{dtype}'", "not supported: dtype");
        Assert.Contains($"'{dtype}'", e.Message, StringComparison.Ordinal);
        output.WriteLine(e.Message);
    }

    /// <summary>Strings NumPy would not parse, and absurd item sizes: corrupt metadata, located at the metalayer.</summary>
    [Theory]
    [InlineData("")]
    [InlineData("<f3")]
    [InlineData("<c32")]
    [InlineData("<i16")]
    [InlineData("|S0")]
    [InlineData("|S")]
    [InlineData("|S-4")]
    [InlineData("|S99999999")]
    [InlineData("<U999999")]
    [InlineData("|V1048577")]
    [InlineData("[]")]
    [InlineData("[('a', '<f4')")]
    [InlineData("[('a', '<f4'), ('a', '<i2')]")]
    [InlineData("[('a', '<f4', (0,))]")]
    [InlineData("[('a', '<f8', (1024, 1024))]")]
    [InlineData("[('a', 'float32')]")]
    [InlineData("[('a', '|O')]")]
    [InlineData("[('a', '')]")] // an empty field type (found by afl-fuzz: the parser indexed past an empty string)
    [InlineData("[('a', '<'), ('b', '|')]")]
    [InlineData("[('a', [[[[[[[[[[[[[[[[[[('b', '<f4')]]]]]]]]]]]]]]]]]])]")]
    [InlineData("<f4 ")]
    [InlineData("(2,)<f4")]
    public void Malformed_or_absurd_dtype_in_the_b2nd_metalayer_is_a_format_error(string dtype)
    {
        byte[] f = WithDType(Corpus("f4_3d_lz4_shuffle.mla"), dtype);
        var e = AssertRejected<MLArrayFormatException>(f, $"dtype '{dtype}'", "b2nd metalayer at offset");
        Assert.Contains("dtype", e.Message, StringComparison.Ordinal);
        output.WriteLine(e.Message);
    }

    /// <summary>A valid dtype whose item size disagrees with the frame typesize (4 here): corrupt, located at offset 48.</summary>
    [Theory]
    [InlineData("<c8")]
    [InlineData("<c16")]
    [InlineData(">i2")]
    [InlineData("<f2")]
    [InlineData("|S10")]
    [InlineData("<U5")]
    [InlineData("|V8")]
    [InlineData("[('a', '<i4'), ('b', '<f8')]")]
    public void Dtype_whose_item_size_disagrees_with_the_frame_typesize_is_a_format_error(string dtype)
    {
        byte[] f = WithDType(Corpus("f4_3d_lz4_shuffle.mla"), dtype);
        AssertRejected<MLArrayFormatException>(f, $"dtype '{dtype}'", "typesize");
    }

    /// <summary>
    /// Opaque and big-endian dtypes of the frame's item size (4) open: the f4 file relabelled as 4-byte strings,
    /// void, a structured pair or big-endian float32 reads the stored bytes (swapped for <c>&gt;f4</c>).
    /// </summary>
    [Theory]
    [InlineData("|S4", false)]
    [InlineData("|V4", false)]
    [InlineData("<U1", false)]
    [InlineData("[('a', '<i2'), ('b', '>u2')]", false)]
    [InlineData(">f4", true)]
    [InlineData(">i4", true)]
    public void Dtype_of_the_frame_item_size_opens_and_reads_the_stored_bytes(string dtype, bool swapped)
    {
        byte[] original = Corpus("f4_3d_lz4_shuffle.mla");
        byte[] f = WithDType(original, dtype);
        using var plain = B2ndArray.Open(original, "plain.mla");
        using var a = B2ndArray.Open(f, "relabelled.mla");
        Assert.Equal(dtype, a.DType.Name);
        byte[] expected = plain.ReadBytes();
        if (swapped)
            MLArray.Kernels.ByteOrder.SwapInPlace(expected, 4);
        Assert.Equal(expected, a.ReadBytes());
        if (a.DType.IsOpaque)
        {
            var e = Assert.Throws<ArgumentException>(() => a.ToArray<float>());
            Assert.Contains(dtype, e.Message, StringComparison.Ordinal);
            Assert.Contains("raw bytes", e.Message, StringComparison.Ordinal);
            Assert.Equal(expected, a.ToArray<byte>());
        }
    }

    /// <summary>A data chunk whose header typesize disagrees with the dtype's item size: corrupt, naming the chunk.</summary>
    [Fact]
    public void Chunk_typesize_that_disagrees_with_the_item_size_is_a_format_error()
    {
        byte[] f = Corpus("f4_3d_lz4_shuffle.mla");
        foreach (byte typesize in new byte[] { 1, 2, 8, 255 })
        {
            byte[] g = Patch(f, b => b[ChunkPos(b, 0) + 3] = typesize);
            AssertRejected<MLArrayFormatException>(g, $"chunk typesize {typesize}", "typesize");
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Mutation testing

    public static TheoryData<string, int> MutationCorpus() => new()
    {
        { "f4_3d_lz4_shuffle.mla", 450 },
        { "f4_3d_zstd_delta-shuffle.mla", 350 },
        { "i2_2d_zlib_bitshuffle.mla", 350 },
        { "u1_1d_blosclz_noshuffle.mla", 300 },
        { "f8_4d_lz4hc_shuffle.mla", 300 },
        { "f4_3d_lz4hc_shuffle_alwayssplit.mla", 200 },
        { "f4_2d_lz4_shuffle_halfzero.mla", 300 },
        { "f4_2d_special_nans.mla", 150 },
        { "dtype_b1_2d_zstd_bitshuffle.mla", 250 },
        { "u1_1d_tiny_lz4_shuffle.mla", 300 },
        { "mlarray_metadata_only.mla", 250 },
        { "f4_3d_zstd_trunc_prec-shuffle.mla", 200 },
    };

    [Theory]
    [MemberData(nameof(MutationCorpus))]
    public async Task Mutants_succeed_or_raise_MLArray_exceptions_and_never_hang(string file, int mutants)
    {
        byte[] f = Corpus(file);
        Assert.Null(Attempt(f, file));
        int hl = HeaderLen(f);
        var hot = new List<(int Start, int Length)> { (0, hl), (f.Length - TrailerLen(f), TrailerLen(f)) };
        long cb = CBytes(f);
        hot.Add(((int)(hl + cb), f.Length - TrailerLen(f) - (int)(hl + cb))); // index chunk
        foreach (long o in Offsets(f).Where(o => o >= 0))
            hot.Add((hl + (int)o, Math.Min(48, (int)(cb - o))));             // chunk headers and first bstarts

        var rng = new Random(file.Length * 7919 + mutants); // seeded: the same mutants on every run
        int errors = 0, successes = 0;
        var failures = new List<string>();
        for (int m = 0; m < mutants; m++)
        {
            byte[] x = (byte[])f.Clone();
            string how = Mutate(x, rng, hot);
            int threads = m % 3 == 0 ? 0 : 1;
            var task = Task.Run(() => Attempt(x, "mutant.mla", threads));
            if (await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(30))) != task)
                Assert.Fail($"{file}: mutant {m} ({how}) hangs (no result after 30 s; the inputs are a few KB, so this is a hang, not a slow machine)");
            var e = await task;
            if (e is null)
            {
                successes++;
                continue;
            }
            errors++;
            if (e is not (MLArrayFormatException or MLArrayNotSupportedException))
            {
                failures.Add($"mutant {m} ({how}): {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
                continue;
            }
            if (!e.Message.Contains("mutant.mla", StringComparison.Ordinal) ||
                !(e.Message.Contains("offset", StringComparison.OrdinalIgnoreCase) || e.Message.Contains("chunk", StringComparison.OrdinalIgnoreCase)))
                failures.Add($"mutant {m} ({how}): message lacks the source or the offset/chunk: {e.Message}");
        }
        output.WriteLine($"{file}: {mutants} mutants, {errors} rejected, {successes} read without error");
        Assert.True(failures.Count == 0, $"{failures.Count} bad outcomes for {file}:\n" + string.Join("\n", failures.Take(5)));
    }

    private static string Mutate(byte[] x, Random rng, List<(int Start, int Length)> hot)
    {
        int kind = rng.Next(5);
        var (hs, hlen) = hot[rng.Next(hot.Count)];
        if (hlen <= 0) (hs, hlen) = (0, x.Length);
        switch (kind)
        {
            case 0:
                {
                    int at = rng.Next(x.Length);
                    x[at] ^= (byte)rng.Next(1, 256);
                    return $"flip byte {at}";
                }
            case 1:
                {
                    int n = rng.Next(1, 5);
                    var where = new List<int>();
                    for (int i = 0; i < n; i++)
                    {
                        int at = hs + rng.Next(hlen);
                        x[at] ^= (byte)(1 << rng.Next(8));
                        where.Add(at);
                    }
                    return $"flip bits at {string.Join(",", where)}";
                }
            case 2:
                {
                    int len = rng.Next(1, 65);
                    int at = rng.Next(x.Length);
                    len = Math.Min(len, x.Length - at);
                    byte fill = rng.Next(3) switch { 0 => 0x00, 1 => 0xFF, _ => (byte)rng.Next(256) };
                    bool random = rng.Next(2) == 0;
                    for (int i = 0; i < len; i++)
                        x[at + i] = random ? (byte)rng.Next(256) : fill;
                    return $"overwrite [{at}, {at + len}) with {(random ? "random" : $"0x{fill:X2}")}";
                }
            case 3:
                {
                    int at = hs + rng.Next(Math.Max(1, hlen - 4));
                    at = Math.Min(at, x.Length - 4);
                    int[] interesting = [0, -1, 1, 31, 32, 33, int.MaxValue, int.MinValue, 0x7FFF, 0x10000, -32];
                    int v = interesting[rng.Next(interesting.Length)];
                    if (rng.Next(2) == 0)
                        BinaryPrimitives.WriteInt32LittleEndian(x.AsSpan(at), v);
                    else
                        BinaryPrimitives.WriteInt32BigEndian(x.AsSpan(at), v);
                    return $"int32 {v} at {at}";
                }
            default:
                {
                    int len = rng.Next(1, 17);
                    int at = hs + rng.Next(hlen);
                    len = Math.Min(len, x.Length - at);
                    for (int i = 0; i < len; i++)
                        x[at + i] = (byte)rng.Next(256);
                    return $"randomize hot [{at}, {at + len})";
                }
        }
    }
}

internal static class HostileTestExtensions
{
    public static TOut Let<TIn, TOut>(this TIn value, Func<TIn, TOut> f) => f(value);
}
