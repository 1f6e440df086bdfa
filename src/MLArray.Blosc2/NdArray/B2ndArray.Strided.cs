using MLArray.Blosc2.Codecs;

namespace MLArray.Blosc2;

public sealed partial class B2ndArray
{
    /// <summary>
    /// Reads a selection of unit steps into <paramref name="destination"/> laid out with its own byte strides (one per
    /// array axis; a box inside a larger patch, for instance), converting the decoded rows of stored items with
    /// <paramref name="convert"/> into <paramref name="outItemSize"/>-byte items, or copying them when it is null
    /// (then <paramref name="outItemSize"/> must be the item size). <paramref name="convert"/> gets a tile of rows:
    /// (source, source row stride, destination, destination row stride, items per row, rows), strides in bytes.
    /// Serial, pooled: steady-state calls allocate nothing,
    /// and the conversion runs on rows that were just decoded (still in cache), so a converting read costs about what a
    /// plain read costs.
    /// </summary>
    /// <exception cref="ArgumentException">Strides of the wrong rank, negative or overlapping the destination's end, a stepped selection, or a wrong item size.</exception>
    internal unsafe void ReadStrided(ReadOnlySpan<NdIndex> selection, Span<byte> destination, ReadOnlySpan<long> dstStrides, int outItemSize,
        delegate*<byte*, nint, byte*, nint, nint, nint, void> convert)
    {
        ThrowIfDisposed();
        if (DType.IsBigEndian && convert == null)
            throw new MLArrayNotSupportedException($"'{Name}' stores big-endian {DType.Name}; a copying strided read would return the stored bytes. Pass a converter that swaps (the patch readers do), or read it with Read/ToArray (values in machine order).");
        int nd = _layout.NDim;
        if (dstStrides.Length != nd)
            throw new ArgumentException($"'{Name}': {dstStrides.Length} destination strides for {nd} axes.", nameof(dstStrides));
        if (convert == null && outItemSize != DType.ItemSize)
            throw new ArgumentException($"'{Name}': a copying read writes {DType.ItemSize}-byte items, not {outItemSize}.", nameof(outItemSize));
        WriteBackAll(commit: false);
        var ctx = _contexts.Rent();
        try
        {
            var plan = ctx.ReadPlan is { } existing && existing.Rank == nd ? existing : ctx.ReadPlan = new ReadPlan(nd);
            var sel = plan.Selection;
            sel.Set(_layout.Shape, selection);
            if (sel.NItems == 0)
                return;
            long end = outItemSize;
            for (int d = 0; d < nd; d++)
            {
                if (sel.Step[d] != 1)
                    throw new ArgumentException($"'{Name}': a strided read takes unit steps (axis {d} has step {sel.Step[d]}).", nameof(selection));
                if (dstStrides[d] < 0 || (d == nd - 1 && dstStrides[d] != outItemSize))
                    throw new ArgumentException($"'{Name}': destination stride {dstStrides[d]} on axis {d} is not valid (the last axis must be contiguous).", nameof(dstStrides));
                end += (sel.Count[d] - 1) * dstStrides[d];
            }
            if (end > destination.Length)
                throw new ArgumentException($"'{Name}': the selection ({string.Join(", ", sel.OutShape)}) with these strides ends at byte {end}, past the destination's {destination.Length}.", nameof(destination));
            ChunksOf(sel, plan);
            dstStrides.CopyTo(plan.OutStrides);
            // Remote sources: fetch the chunks (or the needed blocks of large chunks) concurrently first.
            var fetched = Prefetcher is { } prefetcher ? FetchForRead(prefetcher, plan) : null;
            fixed (byte* p = destination)
                for (int k = 0; k < plan.Chunks.Count; k++)
                    ReadChunkPart(plan.Chunks[k], sel, plan.OutStrides, p, ctx, convert, fetched is null ? default : fetched[k]);
        }
        finally
        {
            _contexts.Return(ctx);
        }
    }
}
