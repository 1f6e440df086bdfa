using MLArray.Blosc2.Format;

namespace MLArray.Blosc2;

/// <summary>
/// The N-d geometry of a b2nd array (spec §9): shape, chunk and block shapes, and everything derived from them.
/// Immutable.
/// </summary>
internal sealed class B2ndLayout
{
    public const int MaxDims = 16;

    public long[] Shape { get; }
    public int[] ChunkShape { get; }
    public int[] BlockShape { get; }
    public int ItemSize { get; }
    public int NDim => Shape.Length;
    public long[] ChunksPerDim { get; }
    public int[] ExtChunkShape { get; }
    public int[] BlocksPerDim { get; }
    public int ChunkNBytes { get; }
    public int BlockNBytes { get; }
    public int BlockItems { get; }
    public long NChunks { get; }
    public int BlocksPerChunk { get; }
    public long NItems { get; }

    /// <summary>Byte strides of the array in C order.</summary>
    public long[] ArrayStrides { get; }

    /// <summary>Byte strides inside a block (C order over the block shape).</summary>
    public long[] BlockStrides { get; }

    public B2ndLayout(long[] shape, int[] chunkShape, int[] blockShape, int itemSize)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(chunkShape);
        ArgumentNullException.ThrowIfNull(blockShape);
        int nd = shape.Length;
        if (nd > MaxDims)
            throw new ArgumentException($"b2nd arrays have at most {MaxDims} dimensions; got {nd}.", nameof(shape));
        if (chunkShape.Length != nd || blockShape.Length != nd)
            throw new ArgumentException($"shape ({nd} dims), chunk shape ({chunkShape.Length}) and block shape ({blockShape.Length}) must have the same number of dimensions.");
        if (itemSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(itemSize), itemSize, "item size must be positive");
        Shape = (long[])shape.Clone();
        ChunkShape = (int[])chunkShape.Clone();
        BlockShape = (int[])blockShape.Clone();
        ItemSize = itemSize;
        ChunksPerDim = new long[nd];
        ExtChunkShape = new int[nd];
        BlocksPerDim = new int[nd];
        long nitems = ItemCount(shape, itemSize);
        bool empty = nitems == 0;
        NItems = nitems;
        if (empty)
        {
            // Zero-element arrays: no chunks (C-Blosc2 writes chunk/block shapes of 0 here).
            NChunks = 0;
            ChunkNBytes = 0;
            BlockNBytes = 0;
        }
        else
        {
            long chunkItems = 1, blockItems = 1, nchunks = 1, blocksPerChunk = 1;
            for (int d = 0; d < nd; d++)
            {
                if (chunkShape[d] <= 0)
                    throw new ArgumentException($"chunk shape[{d}] = {chunkShape[d]} must be positive.", nameof(chunkShape));
                if (blockShape[d] <= 0 || blockShape[d] > chunkShape[d])
                    throw new ArgumentException($"block shape[{d}] = {blockShape[d]} must be between 1 and the chunk shape ({chunkShape[d]}).", nameof(blockShape));
                ChunksPerDim[d] = shape[d] / chunkShape[d] + (shape[d] % chunkShape[d] == 0 ? 0 : 1); // no overflow near long.MaxValue
                BlocksPerDim[d] = (int)(((long)chunkShape[d] + blockShape[d] - 1) / blockShape[d]);
                // The chunk's bytes are checked against the limit after each axis, so no product can overflow
                // (chunk and block shapes near int.MaxValue give a padded extent or a product above 2^63).
                long ext = (long)BlocksPerDim[d] * blockShape[d];
                chunkItems *= ext;
                if (ext > int.MaxValue || chunkItems > MaxChunkBytes / itemSize)
                    throw new ArgumentException($"a chunk of {string.Join(" x ", chunkShape)} items of {itemSize} bytes exceeds the Blosc2 limit of 2 GiB; use a smaller chunk shape.", nameof(chunkShape));
                ExtChunkShape[d] = (int)ext;
                blockItems *= blockShape[d];
                nchunks *= ChunksPerDim[d]; // at most the number of elements
                blocksPerChunk *= BlocksPerDim[d];
            }
            long chunkBytes = chunkItems * itemSize;
            ChunkNBytes = (int)chunkBytes;
            BlockNBytes = (int)(blockItems * itemSize);
            BlockItems = (int)blockItems;
            NChunks = nchunks;
            BlocksPerChunk = (int)blocksPerChunk;
        }
        ArrayStrides = new long[nd];
        BlockStrides = new long[nd];
        long s = itemSize, bs = itemSize;
        for (int d = nd - 1; d >= 0; d--)
        {
            ArrayStrides[d] = s;
            s *= Math.Max(shape[d], 1);
            BlockStrides[d] = bs;
            bs *= blockShape[d];
        }
    }

    /// <summary>
    /// The number of elements of <paramref name="shape"/>; throws <see cref="ArgumentException"/> for a negative axis
    /// and for a shape whose elements or bytes (of <paramref name="itemSize"/>-byte items) 64-bit sizes cannot count
    /// (an axis of 0 makes any shape empty).
    /// </summary>
    public static long ItemCount(long[] shape, int itemSize)
    {
        for (int d = 0; d < shape.Length; d++)
            if (shape[d] < 0)
                throw new ArgumentException($"shape[{d}] = {shape[d]} is negative.", nameof(shape));
        if (Array.IndexOf(shape, 0L) >= 0)
            return 0;
        long nitems = 1;
        foreach (long n in shape)
        {
            if (nitems > long.MaxValue / n / itemSize)
                throw new ArgumentException($"the shape ({string.Join(", ", shape)}) has more elements than 64-bit sizes can count ({itemSize}-byte items); use a smaller shape.", nameof(shape));
            nitems *= n;
        }
        return nitems;
    }

    /// <summary>The largest uncompressed chunk (C-Blosc2: a chunk with its header fits in an int32, minus a margin).</summary>
    private const long MaxChunkBytes = int.MaxValue - ChunkFormat.ExtendedHeaderLength - 4096;

    /// <summary>Total bytes of the array in C order (without padding).</summary>
    public long ArrayNBytes => NItems * ItemSize;

    /// <summary>C-order chunk grid coordinates of chunk <paramref name="chunk"/>.</summary>
    public void ChunkCoords(long chunk, Span<long> coords)
    {
        for (int d = NDim - 1; d >= 0; d--)
        {
            coords[d] = chunk % ChunksPerDim[d];
            chunk /= ChunksPerDim[d];
        }
    }

    /// <summary>C-order block grid coordinates (within a chunk) of block <paramref name="block"/>.</summary>
    public void BlockCoords(int block, Span<int> coords)
    {
        for (int d = NDim - 1; d >= 0; d--)
        {
            coords[d] = block % BlocksPerDim[d];
            block /= BlocksPerDim[d];
        }
    }

    /// <summary>
    /// For block <paramref name="block"/> of the chunk at <paramref name="chunkCoords"/>: its global origin and the
    /// extent that lies inside the array (and inside the chunk). Returns false when the block is pure padding.
    /// </summary>
    public bool BlockRegion(ReadOnlySpan<long> chunkCoords, int block, Span<long> origin, Span<long> extent)
    {
        int b = block;
        for (int d = NDim - 1; d >= 0; d--)
        {
            int bc = b % BlocksPerDim[d];
            b /= BlocksPerDim[d];
            long inChunk = (long)bc * BlockShape[d];
            long g = chunkCoords[d] * ChunkShape[d] + inChunk;
            long e = Math.Min(Math.Min(BlockShape[d], ChunkShape[d] - inChunk), Shape[d] - g);
            if (e <= 0)
                return false;
            origin[d] = g;
            extent[d] = e;
        }
        return true;
    }
}

/// <summary>Strided N-d box copies between C-order buffers (the innermost dimension is contiguous on both sides).</summary>
internal static unsafe class NdCopy
{
    /// <summary>
    /// Copies a box of <paramref name="extent"/> items from <paramref name="src"/> to <paramref name="dst"/>;
    /// strides are in bytes, the innermost stride equals the item size on both sides.
    /// </summary>
    public static void Copy(byte* src, ReadOnlySpan<long> srcStrides, byte* dst, ReadOnlySpan<long> dstStrides, ReadOnlySpan<long> extent, int itemSize)
    {
        int nd = extent.Length;
        if (nd == 0)
        {
            Buffer.MemoryCopy(src, dst, itemSize, itemSize);
            return;
        }
        for (int d = 0; d < nd; d++)
            if (extent[d] <= 0) return;
        if (srcStrides[nd - 1] != itemSize || dstStrides[nd - 1] != itemSize)
        {
            CopyElements(src, srcStrides, dst, dstStrides, extent, itemSize);
            return;
        }
        // Merge trailing dimensions that are contiguous on both sides into one long row.
        long rowBytes = extent[nd - 1] * itemSize;
        int outer = nd - 1;
        while (outer > 0 && srcStrides[outer - 1] == rowBytes && dstStrides[outer - 1] == rowBytes)
        {
            rowBytes *= extent[outer - 1];
            outer--;
        }
        if (outer == 0)
        {
            Buffer.MemoryCopy(src, dst, rowBytes, rowBytes);
            return;
        }
        if (outer == 1)
        {
            long n = extent[0], ss = srcStrides[0], ds = dstStrides[0];
            for (long i = 0; i < n; i++)
                Buffer.MemoryCopy(src + i * ss, dst + i * ds, rowBytes, rowBytes);
            return;
        }
        if (outer == 2)
        {
            long n0 = extent[0], n1 = extent[1];
            long ss0 = srcStrides[0], ss1 = srcStrides[1], ds0 = dstStrides[0], ds1 = dstStrides[1];
            for (long i = 0; i < n0; i++)
            {
                byte* s = src + i * ss0;
                byte* d = dst + i * ds0;
                for (long j = 0; j < n1; j++)
                    Buffer.MemoryCopy(s + j * ss1, d + j * ds1, rowBytes, rowBytes);
            }
            return;
        }
        var at = new OuterOffsets(srcStrides, dstStrides, extent, stackalloc long[outer]);
        do
            Buffer.MemoryCopy(src + at.Src, dst + at.Dst, rowBytes, rowBytes);
        while (at.MoveNext());
    }

    /// <summary>
    /// Converts a box of <paramref name="extent"/> items: <paramref name="convert"/> turns tiles of contiguous source
    /// rows (the two innermost axes) into destination rows of its own element type. Strides are in bytes of each side;
    /// both innermost axes must be contiguous.
    /// </summary>
    public static void ConvertRows(byte* src, ReadOnlySpan<long> srcStrides, byte* dst, ReadOnlySpan<long> dstStrides, ReadOnlySpan<long> extent,
        in MLArray.Kernels.RowConversion convert)
    {
        int nd = extent.Length;
        for (int d = 0; d < nd; d++)
            if (extent[d] <= 0) return;
        if (nd <= 1)
        {
            convert.Rows(src, 0, dst, 0, nd == 0 ? 1 : (nint)extent[0], 1);
            return;
        }
        int outer = nd - 2;
        nint count = (nint)extent[nd - 1], rows = (nint)extent[nd - 2];
        nint ss = (nint)srcStrides[nd - 2], ds = (nint)dstStrides[nd - 2];
        var at = new OuterOffsets(srcStrides, dstStrides, extent, stackalloc long[outer]);
        do
            convert.Rows(src + at.Src, ss, dst + at.Dst, ds, count, rows);
        while (at.MoveNext());
    }

    /// <summary>Element-by-element copy for selections with steps (the innermost axis is not contiguous).</summary>
    private static void CopyElements(byte* src, ReadOnlySpan<long> srcStrides, byte* dst, ReadOnlySpan<long> dstStrides, ReadOnlySpan<long> extent, int itemSize)
    {
        int nd = extent.Length;
        int outer = nd - 1;
        long n = extent[outer], ss = srcStrides[outer], ds = dstStrides[outer];
        var at = new OuterOffsets(srcStrides, dstStrides, extent, stackalloc long[outer]);
        do
        {
            byte* s = src + at.Src;
            byte* t = dst + at.Dst;
            switch (itemSize)
            {
                case 1: for (long i = 0; i < n; i++) t[i * ds] = s[i * ss]; break;
                case 2: for (long i = 0; i < n; i++) *(ushort*)(t + i * ds) = *(ushort*)(s + i * ss); break;
                case 4: for (long i = 0; i < n; i++) *(uint*)(t + i * ds) = *(uint*)(s + i * ss); break;
                case 8: for (long i = 0; i < n; i++) *(ulong*)(t + i * ds) = *(ulong*)(s + i * ss); break;
                default: for (long i = 0; i < n; i++) Buffer.MemoryCopy(s + i * ss, t + i * ds, itemSize, itemSize); break;
            }
        }
        while (at.MoveNext());
    }
}

/// <summary>
/// Walks the outer axes of a strided box in C order (one axis per entry of the index buffer given; none: a single
/// position) and keeps the byte offsets of the current position on both sides: the loop shared by the N-d copies and
/// conversions. Use as <c>do { …at.Src, at.Dst… } while (at.MoveNext());</c>.
/// </summary>
internal ref struct OuterOffsets
{
    private readonly ReadOnlySpan<long> _srcStrides, _dstStrides, _extent;
    private readonly Span<long> _idx;

    /// <summary>Byte offset of the current position on the source side.</summary>
    public long Src;

    /// <summary>Byte offset of the current position on the destination side.</summary>
    public long Dst;

    /// <summary>Starts at the origin (offsets <paramref name="srcStart"/> and <paramref name="dstStart"/>); <paramref name="idx"/> (one entry per outer axis) is the walk's state.</summary>
    public OuterOffsets(ReadOnlySpan<long> srcStrides, ReadOnlySpan<long> dstStrides, ReadOnlySpan<long> extent, Span<long> idx, long srcStart = 0, long dstStart = 0)
    {
        _srcStrides = srcStrides;
        _dstStrides = dstStrides;
        _extent = extent;
        _idx = idx;
        idx.Clear();
        Src = srcStart;
        Dst = dstStart;
    }

    /// <summary>Steps to the next position (the last outer axis fastest); false after the last one.</summary>
    public bool MoveNext()
    {
        for (int k = _idx.Length - 1; k >= 0; k--)
        {
            Src += _srcStrides[k];
            Dst += _dstStrides[k];
            if (++_idx[k] < _extent[k])
                return true;
            Src -= _extent[k] * _srcStrides[k];
            Dst -= _extent[k] * _dstStrides[k];
            _idx[k] = 0;
        }
        return false;
    }
}
