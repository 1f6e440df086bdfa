using MLArray.Kernels;
using System.Buffers;
using MLArray.Blosc2.Codecs;
using MLArray.Blosc2.Format;

namespace MLArray.Blosc2;

/// <summary>Options for writing a b2nd array.</summary>
public sealed record B2ndWriteOptions
{
    /// <summary>Chunk shape; null = chosen by <see cref="B2ndWriter.DefaultChunkShape"/>.</summary>
    public int[]? ChunkShape { get; init; }

    /// <summary>Block shape; null = chosen by <see cref="B2ndWriter.DefaultBlockShape"/>.</summary>
    public int[]? BlockShape { get; init; }

    /// <summary>Compression parameters (codec, clevel, filters, split mode, threads).</summary>
    public CompressionParams Compression { get; init; } = new();

    /// <summary>Variable-length metalayers to store: name → content (python-blosc2 stores msgpack-encoded values).</summary>
    public IReadOnlyList<KeyValuePair<string, byte[]>> VlMeta { get; init; } = [];
}

/// <summary>Writes b2nd arrays as contiguous Blosc2 frames that C-Blosc2 and python-blosc2 read.</summary>
public static class B2ndWriter
{
    /// <summary>
    /// Writes <paramref name="data"/> (C order, items of <paramref name="dtype"/> in the machine's byte order; a
    /// big-endian dtype is stored byte-swapped) as a new file at
    /// <paramref name="path"/>. The write is atomic: the frame goes to a temporary file in the same folder which then
    /// replaces the target; on failure the target is untouched and the temporary file is removed.
    /// </summary>
    public static void Write(string path, ReadOnlySpan<byte> data, long[] shape, DType dtype, B2ndWriteOptions? options = null) =>
        Write(path, data, shape, dtype, options, null);

    /// <summary><see cref="Write(string, ReadOnlySpan{byte}, long[], DType, B2ndWriteOptions?)"/> through the given <see cref="AtomicFileSteps"/>.</summary>
    internal static void Write(string path, ReadOnlySpan<byte> data, long[] shape, DType dtype, B2ndWriteOptions? options, AtomicFileSteps? steps)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var tx = AtomicFile.Begin(path, steps);
        Write(tx.Stream, data, shape, dtype, options);
        tx.Commit();
    }

    /// <summary>Writes the frame into a new byte array.</summary>
    public static byte[] WriteToArray(ReadOnlySpan<byte> data, long[] shape, DType dtype, B2ndWriteOptions? options = null)
    {
        using var ms = new MemoryStream();
        Write(ms, data, shape, dtype, options);
        return ms.ToArray();
    }

    /// <summary>Writes the frame to a seekable stream, starting at its current position.</summary>
    public static void Write(Stream output, ReadOnlySpan<byte> data, long[] shape, DType dtype, B2ndWriteOptions? options = null) =>
        Write(output, data, shape, dtype, options, null, CancellationToken.None);

    /// <summary>
    /// Writes the frame to a seekable stream while <paramref name="data"/> is still being filled, front to back, by
    /// another thread (e.g. a decompressing reader): before a chunk is compressed, <paramref name="waitForBytes"/> is
    /// called with the number of leading bytes of <paramref name="data"/> that chunk needs and must return once they are
    /// written (or throw). Chunks go in C order over the chunk grid, so chunks whose slab along axis 0 is complete are
    /// compressed while the rest is still arriving.
    /// </summary>
    /// <param name="output">A writable, seekable stream.</param>
    /// <param name="data">The whole array's C-order bytes (being filled).</param>
    /// <param name="shape">The array shape.</param>
    /// <param name="dtype">The element type.</param>
    /// <param name="options">Layout and compression.</param>
    /// <param name="waitForBytes">Blocks until the first N bytes are ready; null when all data is ready.</param>
    /// <param name="cancellationToken">Checked before each chunk; cancelling throws <see cref="OperationCanceledException"/>.</param>
    public static unsafe void Write(Stream output, ReadOnlySpan<byte> data, long[] shape, DType dtype, B2ndWriteOptions? options,
        Action<long>? waitForBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!output.CanSeek || !output.CanWrite)
            throw new ArgumentException("the output stream must be writable and seekable (the frame header is completed at the end).", nameof(output));
        var (layout, p, header) = Prepare(shape, dtype, options, data.Length);
        options ??= new B2ndWriteOptions();
        using var contexts = new CodecContextPool();
        long start = output.Position;
        output.Write(header);

        long nchunks = layout.NChunks;
        int swapSize = dtype.IsBigEndian ? dtype.SwapSize : 0;
        var offsets = new long[nchunks];
        long cbytes = 0;
        if (nchunks > 0)
        {
            int workers = (int)Math.Min(p.EffectiveThreads, nchunks);
            int batch = Math.Max(1, workers * 2);
            int maxChunk = ChunkEncoder.MaxChunkSize(layout.ChunkNBytes);
            var outputs = new byte[batch][];
            var sizes = new int[batch];
            for (int i = 0; i < batch; i++)
                outputs[i] = ArrayPool<byte>.Shared.Rent(maxChunk);
            try
            {
                fixed (byte* src = data)
                {
                    nint srcAddr = (nint)src;
                    for (long first = 0; first < nchunks; first += batch)
                    {
                        int count = (int)Math.Min(batch, nchunks - first);
                        long firstChunk = first;
                        cancellationToken.ThrowIfCancellationRequested();
                        ParallelChunks.For(count, workers, contexts, (k, ctx) =>
                        {
                            cancellationToken.ThrowIfCancellationRequested();
                            waitForBytes?.Invoke(BytesNeeded(layout, firstChunk + k));
                            sizes[k] = CompressChunk(layout, (byte*)srcAddr, firstChunk + k, p, outputs[k], ctx, swapSize);
                        });
                        for (int k = 0; k < count; k++)
                        {
                            if (IsSpecialZeros(outputs[k], sizes[k]))
                            {
                                offsets[first + k] = FrameLayout.SpecialZerosOffset;
                                continue;
                            }
                            offsets[first + k] = cbytes;
                            output.Write(outputs[k], 0, sizes[k]);
                            cbytes += sizes[k];
                        }
                    }
                }
            }
            finally
            {
                foreach (var o in outputs)
                    ArrayPool<byte>.Shared.Return(o);
            }
            var indexCtx = contexts.Rent();
            output.Write(FrameLayout.BuildIndex(offsets, indexCtx));
            contexts.Return(indexCtx);
        }

        var ctx0 = contexts.Rent();
        var vl = EncodeVlMeta(options.VlMeta, ctx0);
        output.Write(FrameLayout.BuildTrailer(vl));
        long frameLen = output.Position - start;
        FrameLayout.PatchHeader(header, frameLen, nchunks * (long)layout.ChunkNBytes, cbytes, vl.Count > 0);
        output.Position = start;
        output.Write(header);
        output.Position = start + frameLen;
        contexts.Return(ctx0);
    }


    /// <summary>Validates the arguments, computes the layout and builds the frame header (lengths patched later).</summary>
    private static (B2ndLayout Layout, CompressionParams Params, byte[] Header) Prepare(long[] shape, DType dtype, B2ndWriteOptions? options, long dataLength)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (dtype.Name is null)
            throw new ArgumentException("dtype is not set; use one of the DType members.", nameof(dtype));
        options ??= new B2ndWriteOptions();
        var p = options.Compression;
        p.Validate();
        foreach (var f in p.Filters)
            if (f == Blosc2Filter.TruncPrec && !CompressionNames.TruncPrecApplies(dtype))
                throw new ArgumentException($"trunc_prec only applies to little-endian float32/float64 data (as in C-Blosc2), not {dtype.Name}.", nameof(options));
        if (shape.Length > B2ndLayout.MaxDims)
            throw new ArgumentException($"b2nd arrays have at most {B2ndLayout.MaxDims} dimensions; got {shape.Length}.", nameof(shape));
        long nitems = B2ndLayout.ItemCount(shape, dtype.ItemSize);
        if (dataLength >= 0 && dataLength != nitems * dtype.ItemSize)
            throw new ArgumentException($"data has {dataLength} bytes but shape ({string.Join(", ", shape)}) of {dtype.Name} needs {nitems * dtype.ItemSize}.", "data");
        bool empty = nitems == 0;
        int[] chunkShape = empty ? new int[shape.Length] : options.ChunkShape ?? DefaultChunkShape(shape, dtype.ItemSize);
        int[] blockShape = empty ? new int[shape.Length] : options.BlockShape ?? DefaultBlockShape(chunkShape, dtype.ItemSize);
        if (chunkShape.Length != shape.Length || blockShape.Length != shape.Length)
            throw new ArgumentException($"chunk shape ({chunkShape.Length} dims) and block shape ({blockShape.Length} dims) must have as many dimensions as the shape ({shape.Length}).", nameof(options));
        var layout = new B2ndLayout(shape, chunkShape, blockShape, dtype.ItemSize);
        var meta = new B2ndMeta(shape, chunkShape, blockShape, dtype.Name);
        byte[] header = FrameLayout.BuildHeader(dtype.ItemSize, layout.BlockNBytes, layout.ChunkNBytes, p,
            [(B2ndMeta.Name, meta.Encode())], zeroChunkSize: empty);
        return (layout, p, header);
    }

    /// <summary>
    /// Writes a new frame file whose chunks are all special zero chunks (no payload), with the given vlmeta:
    /// the starting point of <see cref="B2ndArray.Create"/>. Atomic like <see cref="Write(string, ReadOnlySpan{byte}, long[], DType, B2ndWriteOptions?)"/>.
    /// </summary>
    internal static void CreateEmpty(string path, long[] shape, DType dtype, B2ndWriteOptions? options)
    {
        var (layout, _, header) = Prepare(shape, dtype, options, -1);
        options ??= new B2ndWriteOptions();
        if (layout.NChunks * 8 > int.MaxValue - 64)
            throw new ArgumentException($"{layout.NChunks} chunks are too many for one frame; use a larger chunk shape.", nameof(options));
        using var tx = AtomicFile.Begin(path);
        var fs = tx.Stream;
        {
            fs.Write(header);
            if (layout.NChunks > 0)
            {
                // The offsets index as a repeated-value special chunk (what C-Blosc2 writes for b2nd_zeros).
                var index = new byte[ChunkFormat.ExtendedHeaderLength + 8];
                ChunkEncoder.WriteSpecial(index, ChunkFormat.SpecialValue, 8, checked((int)(layout.NChunks * 8)));
                System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(index.AsSpan(12), index.Length);
                System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(index.AsSpan(ChunkFormat.ExtendedHeaderLength), FrameLayout.SpecialZerosOffset);
                fs.Write(index);
            }
            using var ctx = new CodecContext();
            var vl = EncodeVlMeta(options.VlMeta, ctx);
            fs.Write(FrameLayout.BuildTrailer(vl));
            FrameLayout.PatchHeader(header, fs.Length, layout.NChunks * (long)layout.ChunkNBytes, 0, vl.Count > 0);
            fs.Position = 0;
            fs.Write(header);
        }
        tx.Commit();
    }

    private static List<(string, byte[])> EncodeVlMeta(IReadOnlyList<KeyValuePair<string, byte[]>> entries, CodecContext ctx)
    {
        var vl = new List<(string, byte[])>(entries.Count);
        foreach (var kv in entries)
        {
            ValidateName(kv.Key);
            if (vl.Exists(x => x.Item1 == kv.Key))
                throw new ArgumentException($"vlmeta name '{kv.Key}' is given twice.", nameof(entries));
            vl.Add((kv.Key, FrameLayout.EncodeVlMetaValue(kv.Value, ctx)));
        }
        return vl;
    }

    internal static void ValidateName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (System.Text.Encoding.UTF8.GetByteCount(name) > 31)
            throw new ArgumentException($"metalayer name '{name}' is longer than 31 bytes (the Blosc2 limit).", nameof(name));
    }

    private static bool IsSpecialZeros(byte[] chunk, int size) =>
        size == ChunkFormat.ExtendedHeaderLength && ((chunk[31] >> 4) & 7) == ChunkFormat.SpecialZeros;

    /// <summary>How many leading bytes of the C-order source chunk <paramref name="c"/> reads (up to the end of its slab along axis 0).</summary>
    private static long BytesNeeded(B2ndLayout l, long c)
    {
        if (l.NDim == 0)
            return l.ArrayNBytes;
        Span<long> coords = stackalloc long[l.NDim];
        l.ChunkCoords(c, coords);
        long rows = Math.Min((coords[0] + 1) * l.ChunkShape[0], l.Shape[0]);
        return rows * l.ArrayStrides[0];
    }

    /// <summary>Gathers chunk <paramref name="c"/> from the C-order source into block layout and compresses it.</summary>
    private static unsafe int CompressChunk(B2ndLayout L, byte* src, long c, CompressionParams p, byte[] dst, CodecContext ctx, int swapSize)
    {
        int nd = L.NDim;
        Span<long> chunkCoords = stackalloc long[nd];
        Span<long> origin = stackalloc long[nd];
        Span<long> extent = stackalloc long[nd];
        L.ChunkCoords(c, chunkCoords);
        byte[] chunkBuf = ctx.ScratchC(L.ChunkNBytes);
        int bnb = L.BlockNBytes;
        fixed (byte* pc = chunkBuf)
        {
            for (int b = 0; b < L.BlocksPerChunk; b++)
            {
                byte* blk = pc + (long)b * bnb;
                if (!L.BlockRegion(chunkCoords, b, origin, extent))
                {
                    new Span<byte>(blk, bnb).Clear();
                    continue;
                }
                bool full = true;
                for (int d = 0; d < nd; d++)
                    full &= extent[d] == L.BlockShape[d];
                if (!full)
                    new Span<byte>(blk, bnb).Clear();
                long srcOff = 0;
                for (int d = 0; d < nd; d++)
                    srcOff += origin[d] * L.ArrayStrides[d];
                NdCopy.Copy(src + srcOff, L.ArrayStrides, blk, L.BlockStrides, extent, L.ItemSize);
            }
        }
        if (swapSize > 1)
            ByteOrder.SwapInPlace(chunkBuf.AsSpan(0, L.ChunkNBytes), swapSize); // big-endian dtype: store the values swapped
        return ChunkEncoder.Compress(chunkBuf.AsSpan(0, L.ChunkNBytes), L.ItemSize, bnb, p, dst, ctx);
    }

    /// <summary>
    /// Default chunk shape: the array shape, halved along the largest dimension until a chunk holds at most 4 MiB.
    /// (MLArray files use the layout optimizer of the MLArray layer instead.)
    /// </summary>
    public static int[] DefaultChunkShape(long[] shape, int itemSize) => Shrink(shape.Select(s => Math.Max(1L, s)).ToArray(), itemSize, 4L << 20);

    /// <summary>Default block shape: the chunk shape halved along its largest dimension until a block holds at most 32 KiB.</summary>
    public static int[] DefaultBlockShape(int[] chunkShape, int itemSize) => Shrink(chunkShape.Select(c => (long)Math.Max(1, c)).ToArray(), itemSize, 32L << 10);

    private static int[] Shrink(long[] dims, int itemSize, long maxBytes)
    {
        ArgumentNullException.ThrowIfNull(dims);
        var r = dims.Select(d => Math.Min(d, int.MaxValue)).ToArray();
        while (true)
        {
            long bytes = itemSize;
            foreach (long d in r) bytes = bytes > maxBytes ? bytes : bytes * d;
            if (bytes <= maxBytes) break;
            int largest = 0;
            for (int i = 1; i < r.Length; i++)
                if (r[i] > r[largest]) largest = i;
            if (r[largest] == 1) break;
            r[largest] = (r[largest] + 1) / 2;
        }
        return r.Select(x => (int)x).ToArray();
    }
}
