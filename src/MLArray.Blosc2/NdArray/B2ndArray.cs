using System.Runtime.InteropServices;
using MLArray.Blosc2.Codecs;
using MLArray.Blosc2.Format;

namespace MLArray.Blosc2;

/// <summary>Storage facts about one chunk of an array.</summary>
/// <param name="Index">Chunk number (C order over the chunk grid).</param>
/// <param name="Kind">Regular (stored payload) or one of the special kinds.</param>
/// <param name="StoredBytes">Bytes the chunk occupies in the frame (0 for special offsets).</param>
public readonly record struct ChunkInfo(long Index, ChunkKind Kind, int StoredBytes);

/// <summary>How a chunk is stored.</summary>
public enum ChunkKind
{
    /// <summary>A compressed (or memcpyed) payload.</summary>
    Regular,
    /// <summary>All zeros, no payload.</summary>
    Zeros,
    /// <summary>All NaN, no payload.</summary>
    NaN,
    /// <summary>Uninitialised (reads as zeros here), no payload.</summary>
    Uninitialized,
    /// <summary>One value repeated, stored once.</summary>
    RepeatedValue,
}

/// <summary>
/// A Blosc2 N-dimensional array (b2nd) stored in a contiguous frame: an <c>.mla</c> or <c>.b2nd</c> file, or a frame in memory.
/// Opening reads the header, the offsets index and the trailer only; data is decoded on request.
/// Reads are positional, so one instance may be read from many threads at once.
/// </summary>
public sealed class B2ndArray : IDisposable
{
    private readonly FrameReader _frame;
    private readonly B2ndLayout _layout;
    private readonly CodecContextPool _contexts = new();
    private bool _disposed;

    private B2ndArray(FrameReader frame)
    {
        _frame = frame;
        byte[]? meta = frame.GetMetalayer(B2ndMeta.Name) ?? frame.GetMetalayer(B2ndMeta.LegacyName);
        if (meta is null)
            throw new MLArrayFormatException($"'{frame.Name ?? "buffer"}': the frame has no 'b2nd' metalayer, so it is a plain Blosc2 super-chunk, not an N-dimensional array. MLArray files are always b2nd arrays.");
        var entry = frame.Metalayers.First(m => m.Name is B2ndMeta.Name or B2ndMeta.LegacyName);
        Meta = B2ndMeta.Parse(meta, entry.ContentOffset, frame.Name);
        DType = DType.Parse(Meta.DType);
        if (DType.ItemSize != frame.TypeSize)
            throw new MLArrayFormatException($"'{frame.Name}': dtype {DType.Name} has {DType.ItemSize}-byte items but the frame typesize is {frame.TypeSize}; the file is corrupt.");
        try
        {
            _layout = new B2ndLayout(Meta.Shape, Meta.ChunkShape, Meta.BlockShape, DType.ItemSize);
        }
        catch (Exception e) when (e is ArgumentException or OverflowException)
        {
            throw new MLArrayFormatException($"'{frame.Name}': the b2nd metalayer describes an impossible layout: {e.Message}", e);
        }
        if (_layout.NChunks != frame.NChunks)
            throw new MLArrayFormatException($"'{frame.Name}': the array layout needs {_layout.NChunks} chunks but the frame has {frame.NChunks}; the file is corrupt.");
        if (_layout.NChunks > 0 && frame.ChunkSize != _layout.ChunkNBytes)
            throw new MLArrayFormatException($"'{frame.Name}': frame chunk size {frame.ChunkSize} differs from the b2nd chunk size {_layout.ChunkNBytes} bytes; the file is corrupt.");
    }

    internal B2ndMeta Meta { get; }

    internal B2ndLayout Layout => _layout;

    internal FrameReader Frame => _frame;

    /// <summary>Opens a <c>.mla</c>/<c>.b2nd</c> file for reading.</summary>
    /// <exception cref="MLArrayFormatException">The file is not a valid b2nd frame.</exception>
    /// <exception cref="MLArrayNotSupportedException">The file uses a feature (dtype, codec, filter) this library does not support.</exception>
    public static B2ndArray Open(string path, FrameLimits? limits = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var source = MappedFrameSource.Open(path);
        try
        {
            return new B2ndArray(FrameReader.Open(source, limits));
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>Opens a frame held in memory.</summary>
    public static B2ndArray Open(ReadOnlyMemory<byte> frame, string? name = null, FrameLimits? limits = null) =>
        new(FrameReader.Open(new MemoryFrameSource(frame, name), limits));

    /// <summary>The file path, or the name given for an in-memory frame.</summary>
    public string? Name => _frame.Name;

    /// <summary>The array shape.</summary>
    public long[] Shape => (long[])_layout.Shape.Clone();

    /// <summary>The chunk shape.</summary>
    public int[] ChunkShape => (int[])_layout.ChunkShape.Clone();

    /// <summary>The block shape.</summary>
    public int[] BlockShape => (int[])_layout.BlockShape.Clone();

    /// <summary>Number of dimensions.</summary>
    public int NDim => _layout.NDim;

    /// <summary>The element type.</summary>
    public DType DType { get; }

    /// <summary>Number of elements.</summary>
    public long Length => _layout.NItems;

    /// <summary>Bytes of the array in C order (elements × item size).</summary>
    public long NBytes => _layout.ArrayNBytes;

    /// <summary>Uncompressed bytes of all chunks including edge padding (the frame's nbytes).</summary>
    public long PaddedNBytes => _frame.NBytes;

    /// <summary>Bytes of the chunks section (compressed data).</summary>
    public long CBytes => _frame.CBytes;

    /// <summary>Total frame size in bytes.</summary>
    public long FrameBytes => _frame.FrameLength;

    /// <summary>Number of chunks.</summary>
    public long NChunks => _frame.NChunks;

    /// <summary>Default codec recorded in the frame header (each chunk carries its own).</summary>
    public Blosc2Codec Codec => _frame.Codec;

    /// <summary>Default compression level recorded in the frame header.</summary>
    public int CLevel => _frame.CLevel;

    /// <summary>Filter pipeline recorded in the frame header (six slots).</summary>
    public IReadOnlyList<Blosc2Filter> Filters => _frame.Filters.Select(f => (Blosc2Filter)f).ToArray();

    /// <summary>Filter parameters recorded in the frame header (six slots).</summary>
    public IReadOnlyList<byte> FiltersMeta => _frame.FiltersMeta;

    /// <summary>Split mode recorded in the frame header.</summary>
    public Blosc2SplitMode SplitMode => _frame.SplitMode;

    /// <summary>The compression parameters recorded in the frame header, usable to write a similar array.</summary>
    public CompressionParams CompressionParams => new()
    {
        Codec = Enum.IsDefined(Codec) ? Codec : Blosc2Codec.Zstd,
        CLevel = CLevel,
        Filters = Filters,
        FiltersMeta = FiltersMeta,
        SplitMode = Enum.IsDefined(SplitMode) ? SplitMode : Blosc2SplitMode.Auto,
    };

    /// <summary>Names of the variable-length metalayers (vlmeta), in stored order.</summary>
    public IReadOnlyList<string> VlMetaNames => _frame.VlMetalayers.Select(m => m.Name).ToArray();

    /// <summary>The decompressed content of a vlmeta entry (python-blosc2 stores msgpack there), or null if absent.</summary>
    public byte[]? GetVlMeta(string name)
    {
        ThrowIfDisposed();
        return _frame.GetVlMeta(name);
    }

    /// <summary>Bytes a vlmeta entry occupies in the file (compressed), or -1 if absent.</summary>
    public int GetVlMetaStoredSize(string name) => _frame.VlMetalayers.FirstOrDefault(m => m.Name == name) is { Name: not null } m ? m.Length : -1;

    /// <summary>Names of the fixed-length metalayers (e.g. "b2nd").</summary>
    public IReadOnlyList<string> MetalayerNames => _frame.Metalayers.Select(m => m.Name).ToArray();

    /// <summary>How chunk <paramref name="index"/> is stored.</summary>
    public ChunkInfo GetChunkInfo(long index)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, NChunks);
        long off = _frame.GetOffset(index);
        if (off < 0)
        {
            int special = (int)((ulong)off >> 56) & 0x7F;
            return new ChunkInfo(index, KindOf(special), 0);
        }
        byte[] buf = new byte[64];
        var chunk = _frame.ReadChunkHeaderOnly(index, buf, out var where);
        var h = ChunkHeader.Parse(chunk, where, requireWholeChunk: false);
        return new ChunkInfo(index, KindOf(h.SpecialType), h.CBytes);
    }

    private static ChunkKind KindOf(int special) => special switch
    {
        ChunkFormat.SpecialZeros => ChunkKind.Zeros,
        ChunkFormat.SpecialNaN => ChunkKind.NaN,
        ChunkFormat.SpecialUninit => ChunkKind.Uninitialized,
        ChunkFormat.SpecialValue => ChunkKind.RepeatedValue,
        _ => ChunkKind.Regular,
    };

    /// <summary>
    /// Decodes the whole array in C order into <paramref name="destination"/> (exactly <see cref="NBytes"/> bytes).
    /// </summary>
    /// <param name="destination">The output buffer.</param>
    /// <param name="threads">Chunks decoded in parallel: 0 = all cores (default), 1 = the calling thread only.</param>
    public unsafe void Read(Span<byte> destination, int threads = 0)
    {
        ThrowIfDisposed();
        if (destination.Length != NBytes)
            throw new ArgumentException($"destination has {destination.Length} bytes but the array holds {NBytes} ({DType.Name}, shape ({string.Join(", ", _layout.Shape)})).", nameof(destination));
        fixed (byte* p = destination)
            ReadAll(p, threads);
    }

    /// <summary>Decodes the whole array in C order into <paramref name="destination"/>, whose element type must match the dtype's size.</summary>
    public void Read<T>(Span<T> destination, int threads = 0) where T : unmanaged
    {
        if (System.Runtime.CompilerServices.Unsafe.SizeOf<T>() != DType.ItemSize)
            throw new ArgumentException($"buffer element type {typeof(T).Name} has {System.Runtime.CompilerServices.Unsafe.SizeOf<T>()} bytes but the array dtype {DType.Name} has {DType.ItemSize}.", nameof(destination));
        Read(MemoryMarshal.AsBytes(destination), threads);
    }

    /// <summary>Decodes the whole array into a new byte array (C order).</summary>
    public byte[] ReadBytes(int threads = 0)
    {
        if (NBytes > Array.MaxLength)
            throw new MLArrayNotSupportedException($"'{Name}': the array holds {NBytes} bytes, more than a single .NET array can hold; read it in slices instead.");
        var result = GC.AllocateUninitializedArray<byte>((int)NBytes);
        Read(result, threads);
        return result;
    }

    /// <summary>Decodes the whole array into a new <typeparamref name="T"/>[] (C order).</summary>
    public T[] ToArray<T>(int threads = 0) where T : unmanaged
    {
        if (System.Runtime.CompilerServices.Unsafe.SizeOf<T>() != DType.ItemSize)
            throw new ArgumentException($"element type {typeof(T).Name} does not match the array dtype {DType.Name}.");
        if (Length > Array.MaxLength)
            throw new MLArrayNotSupportedException($"'{Name}': the array has {Length} elements, more than a single .NET array can hold; read it in slices instead.");
        var result = GC.AllocateUninitializedArray<T>((int)Length);
        Read<T>(result, threads);
        return result;
    }

    private unsafe void ReadAll(byte* dst, int threads)
    {
        long nchunks = NChunks;
        if (nchunks == 0)
            return;
        int workers = threads <= 0 ? Environment.ProcessorCount : threads;
        workers = (int)Math.Min(workers, nchunks);
        if (workers <= 1)
        {
            var ctx = _contexts.Rent();
            try
            {
                for (long c = 0; c < nchunks; c++)
                    DecodeChunkInto(c, dst, ctx);
            }
            finally { _contexts.Return(ctx); }
            return;
        }
        nint dstAddr = (nint)dst;
        Parallel.For(0L, nchunks, new ParallelOptions { MaxDegreeOfParallelism = workers },
            _contexts.Rent,
            (c, _, ctx) =>
            {
                DecodeChunkInto(c, (byte*)dstAddr, ctx);
                return ctx;
            },
            _contexts.Return);
    }

    /// <summary>Decodes chunk <paramref name="c"/> and scatters its valid part into the C-order array at <paramref name="dst"/>.</summary>
    private unsafe void DecodeChunkInto(long c, byte* dst, CodecContext ctx)
    {
        var L = _layout;
        int nd = L.NDim;
        Span<long> chunkCoords = stackalloc long[nd];
        Span<long> origin = stackalloc long[nd];
        Span<long> extent = stackalloc long[nd];
        L.ChunkCoords(c, chunkCoords);
        var chunk = _frame.ReadChunk(c, ref ctx.ChunkBuffer, out var where);
        var h = ChunkHeader.Parse(chunk, where);
        if (h.NBytes != L.ChunkNBytes)
            throw ChunkHeader.Corrupt(where, $"chunk holds {h.NBytes} bytes but the array layout needs {L.ChunkNBytes}");
        bool perBlock = h.IsSpecial || h.IsMemcpyed || h.BlockSize == L.BlockNBytes;
        byte[] chunkBuf = [];
        if (!perBlock)
        {
            chunkBuf = ctx.ScratchC(h.NBytes);
            ChunkDecoder.Decompress(chunk, h, chunkBuf.AsSpan(0, h.NBytes), ctx, where);
        }
        int bnb = L.BlockNBytes;
        byte[] blockBuf = ctx.ScratchB(bnb * (h.HasDelta ? 2 : 1));
        fixed (byte* pb = blockBuf)
        fixed (byte* pc = chunkBuf)
        {
            bool haveBlock0 = false;
            for (int b = 0; b < L.BlocksPerChunk; b++)
            {
                if (!L.BlockRegion(chunkCoords, b, origin, extent))
                    continue;
                byte* blockPtr;
                if (!perBlock)
                {
                    blockPtr = pc + (long)b * bnb;
                }
                else
                {
                    var blockSpan = new Span<byte>(pb, bnb);
                    if (h.IsSpecial)
                    {
                        ChunkDecoder.FillSpecial(chunk, h, blockSpan, b * bnb);
                    }
                    else
                    {
                        var block0 = new Span<byte>(pb + bnb, h.HasDelta ? bnb : 0);
                        if (h.HasDelta && b > 0 && !haveBlock0)
                        {
                            ChunkDecoder.DecodeBlock(chunk, h, 0, block0, default, ctx, where);
                            haveBlock0 = true;
                        }
                        ChunkDecoder.DecodeBlock(chunk, h, b, blockSpan, block0, ctx, where);
                        if (h.HasDelta && b == 0)
                        {
                            blockSpan.CopyTo(block0);
                            haveBlock0 = true;
                        }
                    }
                    blockPtr = pb;
                }
                long dstOff = 0;
                for (int d = 0; d < nd; d++)
                    dstOff += origin[d] * L.ArrayStrides[d];
                NdCopy.Copy(blockPtr, L.BlockStrides, dst + dstOff, L.ArrayStrides, extent, L.ItemSize);
            }
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Releases the file handle.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _frame.Source.Dispose();
        _contexts.Dispose();
    }
}
