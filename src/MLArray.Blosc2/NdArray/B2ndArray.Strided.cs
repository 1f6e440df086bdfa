using MLArray.Blosc2.Codecs;
using MLArray.Kernels;

namespace MLArray.Blosc2;

public sealed partial class B2ndArray
{
    /// <summary>
    /// Reads a selection of unit steps into <paramref name="destination"/> laid out with its own byte strides (one per
    /// array axis; a box inside a larger patch, for instance), copying the stored items or converting them as
    /// <paramref name="conv"/> says into <see cref="RowConversion.OutItemSize"/>-byte items. The engine's conversions
    /// (int16 → float32, uint8 → int16, ...) run while each block is unshuffled into the destination rows; a caller's
    /// row converter gets tiles of just-unshuffled rows (still in cache). Serial, pooled: steady-state calls allocate
    /// nothing. A caller that reads from many arrays on its own threads (the training loader's workers) passes its
    /// own <paramref name="context"/>, so no array's pool has to grow when two threads read it at once.
    /// </summary>
    /// <exception cref="ArgumentException">Strides of the wrong rank, negative or overlapping the destination's end, a stepped selection, or a wrong item size.</exception>
    internal unsafe void ReadStrided(ReadOnlySpan<NdIndex> selection, Span<byte> destination, ReadOnlySpan<long> dstStrides, in RowConversion conv,
        CodecContext? context = null)
    {
        using var use = Use();
        int outItemSize = conv.OutItemSize;
        if (DType.IsBigEndian && conv.Kind != RowConversionKind.Callback)
            throw new MLArrayNotSupportedException($"'{Name}' stores big-endian {DType.Name}; a copying strided read would return the stored bytes. Pass a converter that swaps (the patch readers do), or read it with Read/ToArray (values in machine order).");
        int nd = _layout.NDim;
        if (dstStrides.Length != nd)
            throw new ArgumentException($"'{Name}': {dstStrides.Length} destination strides for {nd} axes.", nameof(dstStrides));
        if (conv.Kind == RowConversionKind.Copy && outItemSize != DType.ItemSize)
            throw new ArgumentException($"'{Name}': a copying read writes {DType.ItemSize}-byte items, not {outItemSize}.", nameof(conv));
        if (conv.IsFused && conv.InItemSize != DType.ItemSize)
            throw new ArgumentException($"'{Name}': {conv.Kind} reads {conv.InItemSize}-byte items, but {DType.Name} items have {DType.ItemSize} bytes.", nameof(conv));
        WriteBackAll(commit: false);
        var ctx = context ?? _contexts.Rent();
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
                if (sel.Step[d] != 1 || sel.Reversed[d])
                    throw new ArgumentException($"'{Name}': a strided read takes unit steps (axis {d} has step {(sel.Reversed[d] ? -sel.Step[d] : sel.Step[d])}).", nameof(selection));
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
                    ReadChunkPart(plan.Chunks[k], sel, plan.OutStrides, p, ctx, conv, fetched is null ? default : fetched[k]);
        }
        finally
        {
            if (context is null) _contexts.Return(ctx);
        }
    }
}
