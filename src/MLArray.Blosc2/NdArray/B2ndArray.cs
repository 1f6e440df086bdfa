using System.Buffers;
using System.Runtime.CompilerServices;
using Microsoft.Win32.SafeHandles;
using System.Runtime.InteropServices;
using MLArray.Blosc2.Codecs;
using MLArray.Blosc2.Format;
using MLArray.Kernels;

namespace MLArray.Blosc2;

/// <summary>
/// Reusable state of one serial selection read (kept in a pooled <see cref="CodecContext"/>): the normalised
/// selection, the chunks it touches and the output strides.
/// </summary>
internal sealed class ReadPlan
{
    public ReadPlan(int rank)
    {
        Rank = rank;
        Selection = new NdSelection(rank);
        OutStrides = new long[rank];
        AxisChunks = new List<long>[rank];
        for (int d = 0; d < rank; d++)
            AxisChunks[d] = [];
        Index = new int[rank];
    }

    public int Rank { get; }
    public NdSelection Selection { get; }
    public List<long> Chunks { get; } = [];
    public long[] OutStrides { get; }
    public List<long>[] AxisChunks { get; }
    public int[] Index { get; }
}

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

/// <summary>How an existing array file is opened.</summary>
public enum B2ndOpenMode
{
    /// <summary>Read-only (python mmap_mode 'r'); the file is memory-mapped where the platform allows.</summary>
    Read,
    /// <summary>Read and write in place (python mmap_mode 'r+'); slice writes and vlmeta changes go to the file.</summary>
    ReadWrite,
    /// <summary>Copy-on-write (python mmap_mode 'c'): writes are visible through this instance but never reach the file.</summary>
    CopyOnWrite,
}

/// <summary>
/// A Blosc2 N-dimensional array (b2nd) stored in a contiguous frame: an <c>.mla</c> or <c>.b2nd</c> file, or a frame in memory.
/// Opening reads the header, the offsets index and the trailer only; data is decoded on request, and a slice read
/// decodes only the chunks and blocks it intersects. Reads are positional, so any number of threads may read one
/// instance at the same time; writes (modes <see cref="B2ndOpenMode.ReadWrite"/> and <see cref="B2ndOpenMode.CopyOnWrite"/>,
/// or <see cref="Create"/>) are serialised internally. See docs/concurrency.md.
/// </summary>
public sealed partial class B2ndArray : IDisposable
{
    private readonly FrameReader _frame;
    private static readonly IReadOnlyDictionary<string, byte[]?> EmptyVlMetaChanges = new Dictionary<string, byte[]?>();
    private readonly ChunkStore _store;
    private readonly B2ndLayout _layout;
    private readonly CodecContextPool _contexts = new();
    private readonly object _writeLock = new();
    private int _disposed;
    private int _uses = 1; // the instance's own reference plus one per operation in flight (see Use)
    private int _released;
    private long _blocksDecoded;

    /// <summary>Number of blocks decoded so far by reads (diagnostics; shows that slice reads touch only what they need).</summary>
    internal long BlocksDecoded => Interlocked.Read(ref _blocksDecoded);

    private B2ndArray(FrameReader frame, SafeFileHandle? writeHandle, bool copyOnWrite)
    {
        _frame = frame;
        byte[]? meta = frame.GetMetalayer(B2ndMeta.Name) ?? frame.GetMetalayer(B2ndMeta.LegacyName);
        if (meta is null)
            throw new MLArrayFormatException($"'{frame.Name ?? "buffer"}': the frame has no 'b2nd' metalayer, so it is a plain Blosc2 super-chunk, not an N-dimensional array. MLArray files are always b2nd arrays.");
        var entry = frame.Metalayers.First(m => m.Name is B2ndMeta.Name or B2ndMeta.LegacyName);
        Meta = B2ndMeta.Parse(meta, entry.ContentOffset, frame.Name);
        try
        {
            DType = DType.Parse(Meta.DType);
        }
        catch (MLArrayNotSupportedException e) when (DType.IsValidButUnsupported(Meta.DType))
        {
            throw new MLArrayNotSupportedException($"'{frame.Name ?? "buffer"}': b2nd metalayer at offset {entry.ContentOffset}: {e.Message}", e);
        }
        catch (MLArrayNotSupportedException e)
        {
            throw new MLArrayFormatException($"'{frame.Name ?? "buffer"}': b2nd metalayer at offset {entry.ContentOffset}: the dtype is not one NumPy parses into a fixed item size of 1..{DType.MaxItemSize} bytes; the file is corrupt. ({e.Message})", e);
        }
        if (DType.ItemSize != frame.TypeSize)
            throw new MLArrayFormatException($"'{frame.Name}' at offset 48: dtype {DType.Name} has {DType.ItemSize}-byte items but the frame typesize is {frame.TypeSize}; the file is corrupt.");
        try
        {
            _layout = new B2ndLayout(Meta.Shape, Meta.ChunkShape, Meta.BlockShape, DType.ItemSize);
        }
        catch (Exception e) when (e is ArgumentException or OverflowException)
        {
            throw new MLArrayFormatException($"'{frame.Name}': the b2nd metalayer at offset {entry.ContentOffset} describes an impossible layout: {e.Message}", e);
        }
        if (_layout.NChunks != frame.NChunks)
            throw new MLArrayFormatException($"'{frame.Name}': the array layout needs {_layout.NChunks} chunks but the frame has {frame.NChunks}; the file is corrupt.");
        if (_layout.NChunks > 0 && frame.ChunkSize != _layout.ChunkNBytes)
            throw new MLArrayFormatException($"'{frame.Name}': frame chunk size {frame.ChunkSize} differs from the b2nd chunk size {_layout.ChunkNBytes} bytes; the file is corrupt.");
        _store = new ChunkStore(frame, writeHandle, copyOnWrite);
        Mode = writeHandle is not null ? B2ndOpenMode.ReadWrite : copyOnWrite ? B2ndOpenMode.CopyOnWrite : B2ndOpenMode.Read;
    }

    internal B2ndMeta Meta { get; }

    internal B2ndLayout Layout => _layout;

    /// <summary>The frame source when it can fetch chunks ahead of a read (remote sources), else null.</summary>
    private IChunkPrefetch? Prefetcher => _frame.Source as IChunkPrefetch;

    /// <summary>The frame as it was when opened (header fields, metalayers).</summary>
    internal FrameReader Frame => _frame;

    /// <summary>Opens a <c>.mla</c>/<c>.b2nd</c> file.</summary>
    /// <param name="path">The file.</param>
    /// <param name="mode">Read-only (memory-mapped), read/write in place, or copy-on-write.</param>
    /// <param name="limits">Resource limits for hostile files.</param>
    /// <exception cref="MLArrayFormatException">The file is not a valid b2nd frame.</exception>
    /// <exception cref="MLArrayNotSupportedException">The file uses a feature (dtype, codec, filter) this library does not support.</exception>
    public static B2ndArray Open(string path, B2ndOpenMode mode = B2ndOpenMode.Read, FrameLimits? limits = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!Enum.IsDefined(mode))
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "mode must be Read, ReadWrite or CopyOnWrite.");
        if (MLArray.Remote.HttpRangeSource.IsHttpUrl(path))
            return OpenUrl(path, mode, limits);
        ThrowIfFolder(path);
        for (int attempt = 0; ; attempt++)
        {
            IFrameSource source = mode == B2ndOpenMode.ReadWrite ? new WritableFileSource(path, createNew: false) : MappedFrameSource.Open(path);
            try
            {
                var frame = FrameReader.Open(source, limits);
                return new B2ndArray(frame, (source as WritableFileSource)?.Handle, mode == B2ndOpenMode.CopyOnWrite);
            }
            catch (MLArrayFormatException) when (attempt < 3 && mode != B2ndOpenMode.ReadWrite && GrewSince(path, source.Length))
            {
                // A writer (r+) appended and switched the header between our mapping and our reading of the header:
                // the header describes a frame longer than what we mapped. Map again.
                source.Dispose();
            }
            catch
            {
                source.Dispose();
                throw;
            }
        }
    }

    /// <summary>A folder where a file is expected: say so (opening it would report "access denied", which misleads).</summary>
    /// <exception cref="IOException"><paramref name="path"/> is a folder.</exception>
    internal static void ThrowIfFolder(string path)
    {
        if (Directory.Exists(path))
            throw new IOException($"'{path}' is a folder, not an .mla/.b2nd file; give the path of a file.");
    }

    private static bool GrewSince(string path, long length)
    {
        try
        {
            return new FileInfo(path).Length > length;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Opens a frame held in memory (read-only, or copy-on-write).</summary>
    public static B2ndArray Open(ReadOnlyMemory<byte> frame, string? name = null, FrameLimits? limits = null, bool copyOnWrite = false) =>
        new(FrameReader.Open(new MemoryFrameSource(frame, name), limits), null, copyOnWrite);

    /// <summary>
    /// Creates a new array file (python mode 'w' / mmap_mode 'w+'; an existing file is replaced) whose chunks all
    /// start as special zero chunks, and opens it read/write. Fill it with <see cref="Write(ReadOnlySpan{NdIndex}, ReadOnlySpan{byte}, int)"/>.
    /// Chunks that a write covers only in part (e.g. writing a volume plane by plane) are kept decoded in a bounded
    /// write-back cache and compressed once, when complete or when evicted; the file switches to the written content at
    /// <see cref="Flush"/> and <see cref="Dispose"/> (after a kill it opens as of the last <see cref="Flush"/>, never
    /// torn; see docs/concurrency.md). Reads through this instance always see every write.
    /// </summary>
    public static B2ndArray Create(string path, long[] shape, DType dtype, B2ndWriteOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        B2ndWriter.CreateEmpty(path, shape, dtype, options);
        var array = Open(path, B2ndOpenMode.ReadWrite);
        array._writeCache = new WriteBackCache();
        return array;
    }

    /// <summary>How this instance was opened.</summary>
    public B2ndOpenMode Mode { get; }

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

    /// <summary>Bytes of the chunks section (compressed data, including dead bytes left by in-place writes).</summary>
    public long CBytes => _store.CBytes;

    /// <summary>Total frame size in bytes.</summary>
    public long FrameBytes => _store.FrameLength;

    /// <summary>Number of chunks.</summary>
    public long NChunks => _store.NChunks;

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

    /// <summary>The compression parameters recorded in the frame header; slice writes recompress chunks with these.</summary>
    public CompressionParams CompressionParams => new()
    {
        Codec = Enum.IsDefined(Codec) ? Codec : Blosc2Codec.Zstd,
        CLevel = CLevel,
        Filters = Filters.Select(f => Enum.IsDefined(f) ? f : Blosc2Filter.None).ToArray(),
        FiltersMeta = FiltersMeta,
        SplitMode = Enum.IsDefined(SplitMode) ? SplitMode : Blosc2SplitMode.Auto,
    };

    /// <summary>Names of the variable-length metalayers (vlmeta), in stored order.</summary>
    public IReadOnlyList<string> VlMetaNames => _store.VlMetaNames;

    /// <summary>The decompressed content of a vlmeta entry (python-blosc2 stores msgpack there), or null if absent.</summary>
    public byte[]? GetVlMeta(string name)
    {
        using var use = Use();
        return _store.GetVlMeta(name);
    }

    /// <summary>Bytes a vlmeta entry occupies in the file (compressed), or -1 if absent.</summary>
    public int GetVlMetaStoredSize(string name) => _store.VlMetaStoredSize(name);

    /// <summary>Adds or replaces a vlmeta entry (<paramref name="content"/> is stored as given; python-blosc2 expects msgpack).</summary>
    public void SetVlMeta(string name, byte[] content)
    {
        ArgumentNullException.ThrowIfNull(content);
        B2ndWriter.ValidateName(name);
        using var use = Use();
        _store.UpdateVlMeta(new Dictionary<string, byte[]?> { [name] = content });
    }

    /// <summary>Removes a vlmeta entry (no error if absent).</summary>
    public void DeleteVlMeta(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        using var use = Use();
        _store.UpdateVlMeta(new Dictionary<string, byte[]?> { [name] = null });
    }

    /// <summary>Names of the fixed-length metalayers (e.g. "b2nd").</summary>
    public IReadOnlyList<string> MetalayerNames => _frame.Metalayers.Select(m => m.Name).ToArray();

    /// <summary>The stored bytes of chunk <paramref name="index"/> (benchmarks and diagnostics).</summary>
    internal ReadOnlySpan<byte> RawChunk(long index, ref byte[] buffer) => _store.GetChunk(index, ref buffer, out _);

    /// <summary>How chunk <paramref name="index"/> is stored.</summary>
    public ChunkInfo GetChunkInfo(long index)
    {
        using var use = Use();
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, NChunks);
        WriteBackAll(commit: false);
        byte[] buf = [];
        var chunk = _store.GetChunk(index, ref buf, out var where);
        var h = ChunkHeader.Parse(chunk, where);
        return new ChunkInfo(index, h.SpecialType switch
        {
            ChunkFormat.SpecialZeros => ChunkKind.Zeros,
            ChunkFormat.SpecialNaN => ChunkKind.NaN,
            ChunkFormat.SpecialUninit => ChunkKind.Uninitialized,
            ChunkFormat.SpecialValue => ChunkKind.RepeatedValue,
            _ => ChunkKind.Regular,
        }, _store.GetOffset(index) < 0 ? 0 : h.CBytes);
    }

    // ------------------------------------------------------------------ reads

    /// <summary>The shape of the result of a selection (integer indices drop their axis).</summary>
    public long[] GetSelectionShape(params NdIndex[] selection) => NdSelection.Create(_layout.Shape, selection).OutShape;

    /// <summary>
    /// Decodes the whole array in C order into <paramref name="destination"/> (exactly <see cref="NBytes"/> bytes).
    /// </summary>
    /// <param name="destination">The output buffer.</param>
    /// <param name="threads">Chunks decoded in parallel: 0 = all cores (default), 1 = the calling thread only.</param>
    public void Read(Span<byte> destination, int threads = 0) => Read(ReadOnlySpan<NdIndex>.Empty, destination, threads);

    /// <summary>Decodes the whole array in C order into <paramref name="destination"/>, whose element type must match the dtype's size.</summary>
    public void Read<T>(Span<T> destination, int threads = 0) where T : unmanaged =>
        Read(ReadOnlySpan<NdIndex>.Empty, destination, threads);

    /// <summary>
    /// Reads a selection (per axis an index or a slice; missing trailing axes are taken whole) in C order into
    /// <paramref name="destination"/>. Only the chunks and, inside them, the blocks that intersect the selection are decoded.
    /// </summary>
    /// <param name="selection">Per-axis selection.</param>
    /// <param name="destination">Exactly prod(selection shape) × item size bytes.</param>
    /// <param name="threads">Chunks decoded in parallel: 1 (default for slices), 0 = all cores.</param>
    /// <remarks>Values of a big-endian dtype arrive in the machine's byte order (swapped after decoding).</remarks>
    public void Read(ReadOnlySpan<NdIndex> selection, Span<byte> destination, int threads = 1)
    {
        ReadStored(selection, destination, threads);
        if (DType.IsBigEndian)
            ByteOrder.SwapInPlace(destination, DType.SwapSize);
        if (HasNegativeStep(selection))
            NdSelection.Create(_layout.Shape, selection).ReverseAxes(destination, DType.ItemSize); // read ascending, then reversed
    }

    private static bool HasNegativeStep(ReadOnlySpan<NdIndex> selection)
    {
        foreach (var s in selection)
            if (s.Step < 0) return true;
        return false;
    }

    /// <summary>Decodes a selection with the bytes as stored (no byte-order conversion).</summary>
    private unsafe void ReadStored(ReadOnlySpan<NdIndex> selection, Span<byte> destination, int threads)
    {
        using var use = Use();
        WriteBackAll(commit: false);
        if (threads == 1)
        {
            // The serial path (patch reads): selection, chunk list and strides live in the pooled context, so a
            // steady stream of reads allocates nothing.
            var ctx = _contexts.Rent();
            try
            {
                var plan = ctx.ReadPlan is { } existing && existing.Rank == _layout.NDim ? existing : ctx.ReadPlan = new ReadPlan(_layout.NDim);
                plan.Selection.Set(_layout.Shape, selection);
                if (CheckDestination(plan.Selection, destination.Length))
                    return;
                ChunksOf(plan.Selection, plan);
                OutStrides(plan.Selection, plan.OutStrides);
                // Remote sources: fetch the chunks (or the needed blocks of large chunks) concurrently first.
                var fetched = Prefetcher is { } prefetcher ? FetchForRead(prefetcher, plan) : null;
                fixed (byte* p = destination)
                    for (int k = 0; k < plan.Chunks.Count; k++)
                        ReadChunkPart(plan.Chunks[k], plan.Selection, plan.OutStrides, p, ctx, RowConversion.Copy(_layout.ItemSize), fetched is null ? default : fetched[k]);
            }
            finally
            {
                _contexts.Return(ctx);
            }
            return;
        }
        var sel = NdSelection.Create(_layout.Shape, selection);
        if (CheckDestination(sel, destination.Length))
            return;
        fixed (byte* p = destination)
            ReadSelection(sel, p, threads);
    }

    /// <summary>Throws when the destination does not fit the selection; true when the selection is empty.</summary>
    private bool CheckDestination(NdSelection sel, int length)
    {
        long need = sel.NItems * DType.ItemSize;
        if (length != need)
            throw new ArgumentException($"destination has {length} bytes but the selection ({string.Join(", ", sel.OutShape)}) of {DType.Name} needs {need}.", "destination");
        return need == 0;
    }

    /// <summary>Reads a selection into a typed buffer (element size must match the dtype).</summary>
    public void Read<T>(ReadOnlySpan<NdIndex> selection, Span<T> destination, int threads = 1) where T : unmanaged
    {
        CheckElementType<T>();
        Read(selection, MemoryMarshal.AsBytes(destination), threads);
    }

    /// <summary>Reads a selection into a new array (C order), e.g. <c>a.Read&lt;float&gt;(5, 10..74, ..)</c>.</summary>
    public T[] Read<T>(params NdIndex[] selection) where T : unmanaged => Read<T>(selection, threads: 1);

    /// <summary>Reads a selection into a new array (C order), decoding chunks on up to <paramref name="threads"/> threads (0 = all cores).</summary>
    public T[] Read<T>(ReadOnlySpan<NdIndex> selection, int threads) where T : unmanaged
    {
        CheckElementType<T>();
        using var use = Use();
        long items;
        var ctx = _contexts.Rent();
        try
        {
            var plan = ctx.ReadPlan is { } existing && existing.Rank == _layout.NDim ? existing : ctx.ReadPlan = new ReadPlan(_layout.NDim);
            plan.Selection.Set(_layout.Shape, selection);
            items = plan.Selection.NItems;
        }
        finally
        {
            _contexts.Return(ctx);
        }
        items *= DType.ItemSize / Unsafe.SizeOf<T>(); // opaque dtypes: raw bytes, whole items
        if (items > Array.MaxLength)
            throw new MLArrayNotSupportedException($"'{Name}': the selection has {items} elements, more than a .NET array can hold; read it in parts.");
        var result = GC.AllocateUninitializedArray<T>((int)items);
        Read<T>(selection, result, threads);
        return result;
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
        CheckElementType<T>();
        long count = Length * (DType.ItemSize / Unsafe.SizeOf<T>()); // opaque dtypes: raw bytes, whole items
        if (count > Array.MaxLength)
            throw new MLArrayNotSupportedException($"'{Name}': the array has {count} elements, more than a single .NET array can hold; read it in slices instead.");
        var result = GC.AllocateUninitializedArray<T>((int)count);
        Read<T>(result, threads);
        return result;
    }

    private void CheckElementType<T>() where T : unmanaged => DType.CheckElementType<T>(DType);

    private unsafe void ReadSelection(NdSelection sel, byte* dst, int threads)
    {
        var chunks = ChunksOf(sel);
        if (chunks.Count == 0)
            return;
        Prefetcher?.PrefetchChunks(chunks); // remote sources: fetch the chunks concurrently first
        var outStrides = OutStrides(sel, new long[_layout.NDim]);
        int workers = threads <= 0 ? Environment.ProcessorCount : threads;
        nint dstAddr = (nint)dst;
        var copy = RowConversion.Copy(_layout.ItemSize);
        ParallelChunks.For(chunks.Count, workers, _contexts, (k, ctx) => ReadChunkPart(chunks[k], sel, outStrides, (byte*)dstAddr, ctx, copy));
    }

    /// <summary>Byte strides of the output (C order over the selection counts; dropped axes have count 1).</summary>
    private long[] OutStrides(NdSelection sel, long[] s)
    {
        int nd = _layout.NDim;
        long acc = DType.ItemSize;
        for (int d = nd - 1; d >= 0; d--)
        {
            s[d] = acc;
            acc *= sel.Count[d];
        }
        return s;
    }

    /// <summary>First selected index ≥ <paramref name="lo"/> on axis <paramref name="d"/>, and how many selected indices lie in [lo, hi).</summary>
    private static (long First, long Count) Selected(NdSelection sel, int d, long lo, long hi)
    {
        long s = sel.Start[d], k = sel.Step[d];
        long last = s + (sel.Count[d] - 1) * k;
        long first = lo <= s ? s : s + (lo - s + k - 1) / k * k;
        long end = Math.Min(hi - 1, last);
        if (sel.Count[d] == 0 || first > end)
            return (first, 0);
        return (first, (end - first) / k + 1);
    }

    /// <summary>The chunks (C order) that contain at least one selected element.</summary>
    private List<long> ChunksOf(NdSelection sel)
    {
        var plan = new ReadPlan(_layout.NDim);
        ChunksOf(sel, plan);
        return plan.Chunks;
    }

    /// <summary>Fills <paramref name="plan"/>.Chunks with the chunks (C order) that contain at least one selected element.</summary>
    private void ChunksOf(NdSelection sel, ReadPlan plan)
    {
        var L = _layout;
        int nd = L.NDim;
        var result = plan.Chunks;
        result.Clear();
        if (sel.NItems == 0 || L.NChunks == 0)
            return;
        var lists = plan.AxisChunks;
        for (int d = 0; d < nd; d++)
        {
            lists[d].Clear();
            long cs = L.ChunkShape[d];
            long firstChunk = sel.Start[d] / cs;
            long lastChunk = (sel.Start[d] + (sel.Count[d] - 1) * sel.Step[d]) / cs;
            for (long c = firstChunk; c <= lastChunk; c++)
                if (Selected(sel, d, c * cs, (c + 1) * cs).Count > 0)
                    lists[d].Add(c);
        }
        var idx = plan.Index;
        Array.Clear(idx);
        while (true)
        {
            long linear = 0;
            for (int d = 0; d < nd; d++)
                linear = linear * L.ChunksPerDim[d] + lists[d][idx[d]];
            result.Add(linear);
            int k = nd - 1;
            while (k >= 0)
            {
                if (++idx[k] < lists[k].Count) break;
                idx[k] = 0;
                k--;
            }
            if (k < 0) break;
        }
    }

    /// <summary>
    /// Intersects block <paramref name="b"/> of the chunk at <paramref name="chunkCoords"/> with the selection: the
    /// extent per axis, the block-side byte offset and strides (the selection's steps applied) and the byte offset in
    /// the selection-shaped buffer. Returns false when no selected element lies in the block.
    /// </summary>
    private bool IntersectBlock(NdSelection sel, ReadOnlySpan<long> chunkCoords, int b, Span<int> blockCoords, long[] selStrides,
        Span<long> extent, Span<long> blockStrides, out long blockOffset, out long selOffset)
    {
        var L = _layout;
        L.BlockCoords(b, blockCoords);
        blockOffset = 0;
        selOffset = 0;
        for (int d = 0; d < L.NDim; d++)
        {
            long inChunk = (long)blockCoords[d] * L.BlockShape[d];
            long g = chunkCoords[d] * L.ChunkShape[d] + inChunk;
            long hi = Math.Min(g + Math.Min(L.BlockShape[d], L.ChunkShape[d] - inChunk), L.Shape[d]);
            var (first, count) = Selected(sel, d, g, hi);
            if (count == 0)
                return false;
            extent[d] = count;
            blockOffset += (first - g) * L.BlockStrides[d];
            blockStrides[d] = sel.Step[d] * L.BlockStrides[d];
            selOffset += (first - sel.Start[d]) / sel.Step[d] * selStrides[d];
        }
        return true;
    }

    /// <summary>Asks a remote source for the chunks of a read, block by block where the chunks are large.</summary>
    private ReadOnlyMemory<byte>[] FetchForRead(IChunkPrefetch prefetcher, ReadPlan plan) =>
        prefetcher.FetchForRead(plan.Chunks, _layout.BlocksPerChunk, _layout.BlockNBytes, (c, b) =>
        {
            int nd = _layout.NDim;
            Span<long> chunkCoords = stackalloc long[nd];
            Span<int> blockCoords = stackalloc int[nd];
            Span<long> extent = stackalloc long[nd];
            Span<long> strides = stackalloc long[nd];
            _layout.ChunkCoords(c, chunkCoords);
            return IntersectBlock(plan.Selection, chunkCoords, b, blockCoords, plan.OutStrides, extent, strides, out _, out _);
        });

    /// <summary>
    /// Decodes the blocks of chunk <paramref name="c"/> that hold selected elements and copies them out (or converts
    /// them row by row into another element type as <paramref name="conv"/> says: see <see cref="ReadStrided"/>).
    /// The chunk's bytes come from the store, or from <paramref name="fetched"/> (a remote source's image of the chunk
    /// holding at least the needed blocks) when not empty.
    /// </summary>
    private unsafe void ReadChunkPart(long c, NdSelection sel, long[] outStrides, byte* dst, CodecContext ctx, in RowConversion conv,
        ReadOnlyMemory<byte> fetched = default)
    {
        var L = _layout;
        int nd = L.NDim;
        Span<long> chunkCoords = stackalloc long[nd];
        Span<int> blockCoords = stackalloc int[nd];
        Span<long> srcStrides = stackalloc long[nd];
        Span<long> extent = stackalloc long[nd];
        L.ChunkCoords(c, chunkCoords);
        ReadOnlySpan<byte> chunk;
        ChunkLocation where;
        if (fetched.IsEmpty)
        {
            chunk = _store.GetChunk(c, ref ctx.ChunkBuffer, out where);
        }
        else
        {
            chunk = fetched.Span;
            where = new ChunkLocation(Name, "chunk", _frame.HeaderLength + _store.GetOffset(c), c);
        }
        var h = ChunkHeader.Parse(chunk, where);
        CheckChunk(h, where);
        // Memcpyed chunks whose header block size differs from the layout's are copied whole (DecodeBlock would cut them at the header's block size).
        bool perBlock = h.IsSpecial || h.BlockSize == L.BlockNBytes;
        byte[] chunkBuf = [];
        if (!perBlock)
        {
            chunkBuf = ctx.ScratchC(h.NBytes);
            ChunkDecoder.Decompress(chunk, h, chunkBuf.AsSpan(0, h.NBytes), ctx, where);
        }
        int bnb = L.BlockNBytes;
        if (perBlock && nd > 0 && sel.Step[nd - 1] == 1 && ChunkDecoder.PlainShuffleWidth(h) == L.ItemSize)
        {
            ReadShuffledBlocks(chunk, h, where, sel, chunkCoords, outStrides, dst, ctx, conv);
            return;
        }
        bool delta = perBlock && !h.IsSpecial && !h.IsMemcpyed && h.HasDelta;
        byte[] blockBuf = ctx.ScratchB(bnb * (delta ? 2 : 1));
        fixed (byte* pb = blockBuf)
        fixed (byte* pc = chunkBuf)
        {
            bool haveBlock0 = false;
            int decoded = 0;
            for (int b = 0; b < L.BlocksPerChunk; b++)
            {
                if (!IntersectBlock(sel, chunkCoords, b, blockCoords, outStrides, extent, srcStrides, out long srcOff, out long dstOff))
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
                        var block0 = new Span<byte>(pb + bnb, delta ? bnb : 0);
                        if (delta && b > 0 && !haveBlock0)
                        {
                            ChunkDecoder.DecodeBlock(chunk, h, 0, block0, default, ctx, where);
                            haveBlock0 = true;
                            decoded++;
                        }
                        ChunkDecoder.DecodeBlock(chunk, h, b, blockSpan, block0, ctx, where);
                        decoded++;
                        if (delta && b == 0)
                        {
                            blockSpan.CopyTo(block0);
                            haveBlock0 = true;
                        }
                    }
                    blockPtr = pb;
                }
                if (conv.Kind == RowConversionKind.Copy)
                    NdCopy.Copy(blockPtr + srcOff, srcStrides, dst + dstOff, outStrides, extent, L.ItemSize);
                else
                    NdCopy.ConvertRows(blockPtr + srcOff, srcStrides, dst + dstOff, outStrides, extent, conv);
            }
            Interlocked.Add(ref _blocksDecoded, perBlock ? decoded : L.BlocksPerChunk);
        }
    }

    /// <summary>
    /// The selected blocks of a chunk whose only filter is a byte shuffle of the item size: each block's streams are
    /// decoded into a scratch buffer and unshuffled straight into the destination rows (no unshuffled temporary),
    /// converted on the way by the engine's conversions; a caller's row converter gets a tile of unshuffled rows.
    /// </summary>
    private unsafe void ReadShuffledBlocks(ReadOnlySpan<byte> chunk, in ChunkHeader h, in ChunkLocation where, NdSelection sel,
        ReadOnlySpan<long> chunkCoords, long[] outStrides, byte* dst, CodecContext ctx, in RowConversion conv)
    {
        var L = _layout;
        int nd = L.NDim;
        int bnb = L.BlockNBytes;
        int w = L.ItemSize;
        Span<int> blockCoords = stackalloc int[nd];
        Span<long> srcStrides = stackalloc long[nd];
        Span<long> extent = stackalloc long[nd];
        Span<long> idx = stackalloc long[Math.Max(nd - 2, 1)];
        byte[] planesBuf = ctx.ScratchB(bnb + MLArray.Blosc2.Filters.Shuffle.RowsReadSlack);
        int decoded = 0;
        fixed (byte* planes = planesBuf)
        {
            var planeSpan = new Span<byte>(planes, bnb);
            for (int b = 0; b < L.BlocksPerChunk; b++)
            {
                if (!IntersectBlock(sel, chunkCoords, b, blockCoords, outStrides, extent, srcStrides, out long srcOff, out long dstOff))
                    continue;
                nint n = bnb / w;
                nint count = (nint)extent[nd - 1];
                nint rows = nd >= 2 ? (nint)extent[nd - 2] : 1;
                nint rowStep = nd >= 2 ? (nint)(srcStrides[nd - 2] / w) : 0;
                nint rowStride = nd >= 2 ? (nint)outStrides[nd - 2] : 0;
                ChunkDecoder.DecodeStreams(chunk, h, b, planeSpan, ctx, where);
                decoded++;
                // Outer axes before the last two (one for 3-d arrays, none below).
                var at = new OuterOffsets(srcStrides, outStrides, extent, idx[..Math.Max(nd - 2, 0)], srcOff, dstOff);
                do
                {
                    if (conv.Kind == RowConversionKind.Copy)
                    {
                        MLArray.Blosc2.Filters.Shuffle.InverseRows(w, planes, n, (nint)(at.Src / w), count, rows, rowStep, dst + at.Dst, rowStride);
                    }
                    else if (conv.IsFused)
                    {
                        conv.ShuffledRows(planes, n, (nint)(at.Src / w), count, rows, rowStep, dst + at.Dst, rowStride);
                    }
                    else
                    {
                        // Unshuffle the rows into a tile (at most one block: it stays in cache), then convert the tile's rows into place.
                        byte[] tileBuf = ctx.ScratchC((int)(count * rows * w));
                        fixed (byte* tile = tileBuf)
                        {
                            MLArray.Blosc2.Filters.Shuffle.InverseRows(w, planes, n, (nint)(at.Src / w), count, rows, rowStep, tile, count * w);
                            conv.Callback(tile, count * w, dst + at.Dst, rowStride, count, rows);
                        }
                    }
                }
                while (at.MoveNext());
            }
        }
        Interlocked.Add(ref _blocksDecoded, decoded);
    }

    // ------------------------------------------------------------------ writes

    /// <summary>Writes the whole array from <paramref name="source"/> (C order).</summary>
    public void Write(ReadOnlySpan<byte> source, int threads = 0) => Write(ReadOnlySpan<NdIndex>.Empty, source, threads);

    /// <summary>
    /// Writes <paramref name="source"/> (C order over the selection shape) into the selection. Only the chunks the
    /// selection touches are recompressed (partially covered chunks are decoded, updated and recompressed); the frame
    /// is valid for C-Blosc2 after the call returns.
    /// </summary>
    /// <exception cref="InvalidOperationException">The array is open read-only.</exception>
    /// <remarks>Values of a big-endian dtype are given in the machine's byte order; the file keeps its stored order.</remarks>
    public void Write(ReadOnlySpan<NdIndex> selection, ReadOnlySpan<byte> source, int threads = 1)
    {
        if (!DType.IsBigEndian || source.IsEmpty)
        {
            WriteStored(selection, source, threads);
            return;
        }
        byte[] swapped = ArrayPool<byte>.Shared.Rent(source.Length);
        try
        {
            ByteOrder.Swap(source, swapped, DType.SwapSize);
            WriteStored(selection, swapped.AsSpan(0, source.Length), threads);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(swapped);
        }
    }

    /// <summary>Writes bytes in the stored byte order.</summary>
    private unsafe void WriteStored(ReadOnlySpan<NdIndex> selection, ReadOnlySpan<byte> source, int threads)
    {
        using var use = Use();
        if (!_store.Writable)
            throw new InvalidOperationException($"'{Name}' is open read-only; open it with B2ndOpenMode.ReadWrite (or CopyOnWrite for in-memory changes) to write.");
        var sel = NdSelection.Create(_layout.Shape, selection);
        long need = sel.NItems * DType.ItemSize;
        if (source.Length != need)
            throw new ArgumentException($"source has {source.Length} bytes but the selection ({string.Join(", ", sel.OutShape)}) of {DType.Name} needs {need}.", nameof(source));
        if (need == 0)
            return;
        byte[]? reversed = null;
        if (sel.AnyReversed)
        {
            // Negative steps: the source in ascending order along those axes, then written as for positive steps.
            reversed = ArrayPool<byte>.Shared.Rent((int)need);
            source.CopyTo(reversed);
            sel.ReverseAxes(reversed.AsSpan(0, (int)need), DType.ItemSize);
            source = reversed.AsSpan(0, (int)need);
        }
        try
        {
            WriteSelection(sel, source, threads);
        }
        finally
        {
            if (reversed is not null) ArrayPool<byte>.Shared.Return(reversed);
        }
    }

    private unsafe void WriteSelection(NdSelection sel, ReadOnlySpan<byte> source, int threads)
    {
        var chunks = ChunksOf(sel);
        var outStrides = OutStrides(sel, new long[_layout.NDim]);
        var p = CompressionParams with { Threads = 1 };
        int workers = threads <= 0 ? Environment.ProcessorCount : threads;
        workers = Math.Max(1, Math.Min(workers, chunks.Count));
        int maxChunk = ChunkEncoder.MaxChunkSize(_layout.ChunkNBytes);
        lock (_writeLock)
        {
            if (_writeCache is not null)
            {
                WriteCached(chunks, sel, outStrides, source, p, maxChunk, workers);
                return;
            }
            // Batches bound the memory; the file switches to the new state once, after the last batch, so a crash
            // leaves the array as it was before this Write or after it (docs/concurrency.md). A Write that throws
            // halfway (disk full, corrupt chunk) is undone: the touched chunks point at their old payloads again.
            var snapshot = _store.Snapshot(chunks);
            try
            {
                WriteBatches(chunks, sel, outStrides, source, p, maxChunk, workers);
                _store.Commit();
            }
            catch
            {
                _store.Restore(snapshot);
                throw;
            }
        }
    }

    /// <summary>Rebuilds and appends the touched chunks in memory-bounded batches (the caller commits the file).</summary>
    private unsafe void WriteBatches(List<long> chunks, NdSelection sel, long[] outStrides, ReadOnlySpan<byte> source, CompressionParams p, int maxChunk, int workers)
    {
        fixed (byte* src = source)
        {
            nint srcAddr = (nint)src;
            CompressAndAppend(chunks, workers, (c, ctx) => WriteChunkPart(c, sel, outStrides, (byte*)srcAddr, p, maxChunk, ctx));
        }
    }

    /// <summary>
    /// Builds compressed chunks on up to <paramref name="workers"/> threads in batches that bound the memory, and appends
    /// each batch (uncommitted); <paramref name="appended"/> runs for each chunk once its batch is in the file.
    /// </summary>
    private void CompressAndAppend(List<long> chunks, int workers, Func<long, CodecContext, (long, byte[], int)> build, Action<long>? appended = null)
    {
        int batch = Math.Max(1, workers * 2);
        for (int first = 0; first < chunks.Count; first += batch)
        {
            int count = Math.Min(batch, chunks.Count - first);
            var results = new (long, byte[], int)[count];
            int start = first;
            ParallelChunks.For(count, workers, _contexts, (k, ctx) => results[k] = build(chunks[start + k], ctx));
            AppendCompressed(results);
            if (appended is not null)
                for (int k = start; k < start + count; k++)
                    appended(chunks[k]);
        }
    }

    /// <summary>Appends compressed chunks (uncommitted) and returns their pooled buffers.</summary>
    private void AppendCompressed((long, byte[], int)[] results)
    {
        try
        {
            _store.PutChunks(results, commit: false);
        }
        finally
        {
            foreach (var (_, buffer, _) in results)
                if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Builds the new content of chunk <paramref name="c"/> and compresses it.</summary>
    private unsafe (long, byte[], int) WriteChunkPart(long c, NdSelection sel, long[] selStrides, byte* src, CompressionParams p, int maxChunk, CodecContext ctx)
    {
        var L = _layout;
        byte[] chunkBuf = ctx.ScratchC(L.ChunkNBytes);
        var chunkSpan = chunkBuf.AsSpan(0, L.ChunkNBytes);
        long covered = CoveredItems(c, sel, out long valid);
        if (covered == valid)
        {
            if (!FillsWholeBuffer(c))
                chunkSpan.Clear(); // padding must be zeros; an interior chunk is overwritten entirely
        }
        else
        {
            DecodeChunkForUpdate(c, chunkSpan, ctx);
        }
        fixed (byte* pc = chunkBuf)
            CopyIntoChunk(c, sel, selStrides, src, pc);
        return CompressChunk(c, chunkSpan, p, maxChunk, ctx);
    }

    /// <summary>Compresses a chunk's content into a pooled buffer (the caller returns it to <see cref="ArrayPool{T}.Shared"/>).</summary>
    private (long, byte[], int) CompressChunk(long c, ReadOnlySpan<byte> content, CompressionParams p, int maxChunk, CodecContext ctx)
    {
        var output = ArrayPool<byte>.Shared.Rent(maxChunk);
        int n = ChunkEncoder.Compress(content, _layout.ItemSize, _layout.BlockNBytes, p, output, ctx);
        return (c, output, n);
    }

    /// <summary>
    /// Throws unless a data chunk's header fits the array: its size is the layout's chunk size and its typesize is the
    /// dtype's item size (C-Blosc2 writes 1 for items above 255 bytes).
    /// </summary>
    private void CheckChunk(in ChunkHeader h, in ChunkLocation where)
    {
        if (h.NBytes != _layout.ChunkNBytes)
            throw ChunkHeader.Corrupt(where, $"chunk holds {h.NBytes} bytes but the array layout needs {_layout.ChunkNBytes}");
        int expected = DType.ItemSize <= 255 ? DType.ItemSize : 1;
        if (h.TypeSize != expected)
            throw ChunkHeader.Corrupt(where, $"chunk typesize {h.TypeSize} disagrees with the {DType.ItemSize}-byte items of dtype {DType.Name}");
    }

    /// <summary>Decodes chunk <paramref name="c"/> as stored into <paramref name="chunkSpan"/> (ChunkNBytes long).</summary>
    private void DecodeChunkForUpdate(long c, Span<byte> chunkSpan, CodecContext ctx)
    {
        var old = _store.GetChunk(c, ref ctx.ChunkBuffer, out var where);
        var h = ChunkHeader.Parse(old, where);
        CheckChunk(h, where);
        ChunkDecoder.Decompress(old, h, chunkSpan, ctx, where);
    }

    /// <summary>Copies the part of the selection-shaped <paramref name="src"/> that falls into chunk <paramref name="c"/> into its decoded buffer.</summary>
    private unsafe void CopyIntoChunk(long c, NdSelection sel, long[] selStrides, byte* src, byte* chunk)
    {
        var L = _layout;
        int nd = L.NDim;
        Span<long> chunkCoords = stackalloc long[nd];
        Span<int> blockCoords = stackalloc int[nd];
        Span<long> blkStrides = stackalloc long[nd];
        Span<long> extent = stackalloc long[nd];
        L.ChunkCoords(c, chunkCoords);
        int bnb = L.BlockNBytes;
        for (int b = 0; b < L.BlocksPerChunk; b++)
        {
            if (!IntersectBlock(sel, chunkCoords, b, blockCoords, selStrides, extent, blkStrides, out long blkOff, out long srcOff))
                continue;
            NdCopy.Copy(src + srcOff, selStrides, chunk + (long)b * bnb + blkOff, blkStrides, extent, L.ItemSize);
        }
    }

    /// <summary>How many elements of chunk <paramref name="c"/> the selection covers, and how many valid (non-padding) elements it has.</summary>
    private long CoveredItems(long c, NdSelection sel, out long valid)
    {
        var L = _layout;
        Span<long> cc = stackalloc long[L.NDim];
        L.ChunkCoords(c, cc);
        long covered = 1;
        valid = 1;
        for (int d = 0; d < L.NDim; d++)
        {
            long lo = cc[d] * L.ChunkShape[d];
            long hi = Math.Min(lo + L.ChunkShape[d], L.Shape[d]);
            covered *= Selected(sel, d, lo, hi).Count;
            valid *= hi - lo;
        }
        return covered;
    }

    /// <summary>True when every byte of chunk <paramref name="c"/>'s decoded buffer holds an array element (no edge or block padding).</summary>
    private bool FillsWholeBuffer(long c)
    {
        var L = _layout;
        Span<long> cc = stackalloc long[L.NDim];
        L.ChunkCoords(c, cc);
        long items = 1;
        for (int d = 0; d < L.NDim; d++)
        {
            if ((cc[d] + 1) * L.ChunkShape[d] > L.Shape[d])
                return false;
            items *= L.ChunkShape[d];
        }
        return items * L.ItemSize == L.ChunkNBytes;
    }

    // ------------------------------------------------------------------ saving

    /// <summary>
    /// Writes the array as it is now (including in-place and copy-on-write changes and vlmeta edits) as a compact
    /// contiguous frame to <paramref name="output"/> (writable and seekable), starting at its position. Compressed chunks
    /// are copied byte for byte, never recompressed; dead bytes left by in-place writes are dropped. An array nothing was
    /// written to since it was opened, whose frame has no dead bytes, is copied exactly as its frame was written (whichever
    /// library wrote it), with only the trailer rebuilt when <paramref name="vlmetaChanges"/> change an entry's content.
    /// </summary>
    /// <param name="output">The destination stream.</param>
    /// <param name="vlmetaChanges">vlmeta entries to replace (content) or drop (null) in the saved copy only; this instance is not changed.</param>
    public void Save(Stream output, IReadOnlyDictionary<string, byte[]?>? vlmetaChanges = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!output.CanSeek || !output.CanWrite)
            throw new ArgumentException("the output stream must be writable and seekable (the frame header is completed at the end).", nameof(output));
        using var use = Use();
        WriteBackAll(commit: false);
        lock (_writeLock)
        {
            if (!_store.Modified && ChunksSectionIsTight())
            {
                // Nothing written since open: the frame's own bytes (header, chunks, index, trailer) are copied as they are.
                foreach (var name in (vlmetaChanges ?? EmptyVlMetaChanges).Keys)
                    B2ndWriter.ValidateName(name);
                B2ndFrameEditor.CopyWithVlMeta(_frame, output, vlmetaChanges ?? EmptyVlMetaChanges);
                return;
            }
            long start = output.Position;
            var header = new byte[_frame.HeaderLength];
            _frame.Source.Read(0, header);
            output.Write(header);
            long n = _store.NChunks;
            var offsets = new long[n];
            long cbytes = 0;
            byte[] buf = [];
            for (long i = 0; i < n; i++)
            {
                var chunk = _store.GetChunk(i, ref buf, out _);
                if (chunk.Length == ChunkFormat.ExtendedHeaderLength && ((chunk[31] >> 4) & 7) is var special
                    && special is ChunkFormat.SpecialZeros or ChunkFormat.SpecialNaN or ChunkFormat.SpecialUninit)
                {
                    offsets[i] = unchecked((long)((0x80UL | (ulong)special) << 56));
                    continue;
                }
                offsets[i] = cbytes;
                output.Write(chunk);
                cbytes += chunk.Length;
            }
            if (n > 0)
            {
                using var ctx = new CodecContext();
                output.Write(FrameLayout.BuildIndex(offsets, ctx));
            }
            var vl = _store.RawVlMetaEntries.ToList();
            if (vlmetaChanges is { Count: > 0 })
            {
                using var ctx = new CodecContext();
                foreach (var (name, value) in vlmetaChanges)
                {
                    B2ndWriter.ValidateName(name);
                    int at = vl.FindIndex(v => v.Name == name);
                    if (value is null)
                    {
                        if (at >= 0) vl.RemoveAt(at);
                        continue;
                    }
                    var chunk = FrameLayout.EncodeVlMetaValue(value, ctx);
                    if (at >= 0) vl[at] = (name, chunk);
                    else vl.Add((name, chunk));
                }
            }
            output.Write(FrameLayout.BuildTrailer(vl));
            long frameLen = output.Position - start;
            FrameLayout.PatchHeader(header, frameLen, _frame.NBytes, cbytes, vl.Count > 0);
            output.Position = start;
            output.Write(header);
            output.Position = start + frameLen;
        }
    }

    /// <summary>
    /// True when the frame's chunks section holds exactly the chunks its index references: no dead bytes left by
    /// in-place writes of an earlier session, which <see cref="Save(Stream, IReadOnlyDictionary{string, byte[]})"/> drops.
    /// </summary>
    private bool ChunksSectionIsTight()
    {
        long referenced = 0;
        var seen = new HashSet<long>();
        var buffer = new byte[ChunkFormat.ExtendedHeaderLength];
        for (long i = 0; i < _frame.NChunks; i++)
        {
            long offset = _frame.GetOffset(i);
            if (offset < 0 || !seen.Add(offset))
                continue; // special chunks have no bytes; a payload referenced twice counts once
            referenced += ChunkHeader.PeekCBytes(_frame.ReadChunkHeaderOnly(i, buffer, out _));
        }
        return referenced == _frame.CBytes;
    }

    /// <summary>
    /// Writes the array as it is now to <paramref name="path"/> atomically (temporary file in the target folder, flushed,
    /// renamed over the target; on failure the target is untouched). See <see cref="Save(Stream, IReadOnlyDictionary{string, byte[]})"/>. To save onto the
    /// file this instance has open, dispose it before the rename: use <see cref="AtomicFile"/> with <see cref="Save(Stream, IReadOnlyDictionary{string, byte[]})"/>.
    /// </summary>
    public void Save(string path, IReadOnlyDictionary<string, byte[]?>? vlmetaChanges = null) => Save(path, vlmetaChanges, null);

    /// <summary><see cref="Save(string, IReadOnlyDictionary{string, byte[]})"/> through the given <see cref="AtomicFileSteps"/>.</summary>
    internal void Save(string path, IReadOnlyDictionary<string, byte[]?>? vlmetaChanges, AtomicFileSteps? steps)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var tx = AtomicFile.Begin(path, steps);
        Save(tx.Stream, vlmetaChanges);
        tx.Commit();
    }

    /// <summary>
    /// Commits written data to the file and flushes it to the storage device (ReadWrite mode). For an array from
    /// <see cref="Create"/> this is also where cached partial chunks are compressed and the file switches to them.
    /// </summary>
    public void Flush()
    {
        using var use = Use();
        WriteBackAll(commit: true);
        _store.Flush();
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>
    /// Marks an operation that uses the file (its mapping, handle or codec contexts) as in flight until the returned
    /// scope is disposed; throws <see cref="ObjectDisposedException"/> after <see cref="Dispose"/>. A mapped file's
    /// chunks are decoded straight from the mapping, so <see cref="Dispose"/> may not unmap it while another thread
    /// decodes from it (that would be an access violation, which ends the process): <see cref="Dispose"/> drops the
    /// instance's own reference and the last operation still in flight releases the mapping and handle.
    /// </summary>
    private UseScope Use()
    {
        Interlocked.Increment(ref _uses);
        if (Volatile.Read(ref _disposed) != 0)
        {
            EndUse();
            ThrowIfDisposed();
        }
        return new UseScope(this);
    }

    private void EndUse()
    {
        if (Interlocked.Decrement(ref _uses) == 0 && Interlocked.Exchange(ref _released, 1) == 0)
        {
            _store.Dispose();
            _contexts.Dispose();
        }
    }

    /// <summary>One in-flight operation (see <see cref="Use"/>).</summary>
    private readonly struct UseScope(B2ndArray owner) : IDisposable
    {
        public void Dispose() => owner.EndUse();
    }

    /// <summary>
    /// Releases the file mapping and handle; afterwards the file can be deleted or replaced. An array from
    /// <see cref="Create"/> first writes back its cached chunks and commits them (not flushed to the device: call
    /// <see cref="Flush"/> when power loss matters).
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            WriteBackAll(commit: true); // an array from Create: its written data reaches the file here at the latest
        }
        finally
        {
            EndUse(); // the instance's own reference: the mapping and handle go now or when the last read in flight returns
        }
    }
}
