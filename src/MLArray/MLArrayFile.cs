using System.Collections.Immutable;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MLArray.Blosc2;
using MLArray.Layout;
using MLArray.Metadata;
using MLArray.Metadata.Migration;

namespace MLArray;

/// <summary>How <see cref="MLArrayFile.Open(string, MLArrayMode)"/> opens a file (python <c>mmap_mode</c> 'r', 'r+', 'c').</summary>
public enum MLArrayMode
{
    /// <summary>Read-only, memory-mapped (python 'r'). Data writes and metadata changes throw <see cref="InvalidOperationException"/>.</summary>
    Read,
    /// <summary>Read/write in place (python 'r+'): writes go to the file; changed metadata is written on <see cref="MLArrayFile.Flush"/>/<see cref="MLArrayFile.Dispose"/>.</summary>
    ReadWrite,
    /// <summary>Copy-on-write (python 'c'): data and metadata changes are visible through the instance only; the file never changes.</summary>
    CopyOnWrite,
}

/// <summary>How an <see cref="MLArrayFile"/> holds its data.</summary>
public enum MLArrayAccess
{
    /// <summary>A file opened read-only (python mmap_mode 'r'): data writes and metadata changes are refused.</summary>
    Read,
    /// <summary>A file opened read/write (python 'r+', or created with 'w+'): data writes go to the file, changed metadata is written on <see cref="MLArrayFile.Dispose"/>.</summary>
    ReadWrite,
    /// <summary>A file opened copy-on-write (python 'c'): writes are visible through the instance only.</summary>
    CopyOnWrite,
    /// <summary>Detached in memory (<see cref="MLArrayFile.Load"/> or built from data); <see cref="MLArrayFile.Save(string)"/> writes it out.</summary>
    InMemory,
}

/// <summary>
/// An MLArray image: an N-dimensional array (Blosc2 b2nd) with its metadata (geometry, source, stats, bboxes...).
/// Open a file (<see cref="Open(string, MLArrayMode)"/>), create one (<see cref="Create"/>), load one into memory
/// (<see cref="Load"/>) or build one from data (<see cref="FromArray{T}(ReadOnlySpan{T}, long[], MLArrayCreateOptions?)"/>),
/// then read and write boxes, read and change metadata, and <see cref="Save(string)"/> (atomic).
/// </summary>
/// <remarks>
/// Any number of threads may read one instance; writes are serialised (see docs/concurrency.md). Metadata-only files
/// (the array has shape (0,) and <c>_has_array</c> is false) expose their metadata; data access throws
/// <see cref="InvalidOperationException"/>.
/// </remarks>
public sealed partial class MLArrayFile : IDisposable
{
    private const string NoArray = "MLArray has no array data loaded.";
    private static readonly HashSet<string> SpatialLabels = ["spatial", "spatial_x", "spatial_y", "spatial_z"];

    private readonly object _gate = new();
    private B2ndArray? _array;
    private MLArrayMeta _meta;
    private bool _metaChanged;

    private MLArrayFile(B2ndArray array, MLArrayMeta meta, MLArrayAccess access, string? filePath)
    {
        _array = array;
        _meta = meta;
        Access = access;
        FilePath = filePath;
    }

    // ------------------------------------------------------------------ files

    /// <summary>
    /// Opens an <c>.mla</c> file with the Python reference's arguments: <paramref name="mode"/> 'r' or 'a' and
    /// <paramref name="mmapMode"/> 'r' (memory-mapped read-only, the default), 'r+' (read/write), 'c' (copy-on-write) or
    /// null (then 'a' opens read/write and 'r' read-only). <c>Open(path)</c> opens read-only; <c>Open(path, mmapMode: "r+")</c> read/write.
    /// </summary>
    /// <exception cref="ArgumentException">Wrong suffix or mode (the reference's messages).</exception>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="MLArrayFormatException">Not a valid b2nd frame.</exception>
    public static MLArrayFile Open(string path, string mode = "r", string? mmapMode = "r") =>
        Remote.HttpRangeSource.IsHttpUrl(path)
            ? OpenUrl(path, mode == "r" && mmapMode is "r" or null ? MLArrayMode.Read : MLArrayMode.ReadWrite)
            : Open(path, ToMode(OpenModes.ResolveOpen(path, mode, mmapMode)));

    /// <summary>
    /// Opens an <c>.mla</c> file: <see cref="MLArrayMode.Read"/> (memory-mapped), <see cref="MLArrayMode.ReadWrite"/>
    /// (one writer per file: a second writer, in this process or another, is refused) or <see cref="MLArrayMode.CopyOnWrite"/>.
    /// Reads the header, index and metadata only, never array chunks.
    /// </summary>
    /// <exception cref="ArgumentException">Wrong suffix or an undefined mode.</exception>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="MLArrayFormatException">Not a valid b2nd frame.</exception>
    /// <exception cref="MLArrayMetadataException">The metadata entry is refused (hostile, beyond a limit) or not decodable.</exception>
    /// <exception cref="MLArrayValidationException">The metadata violates the schema.</exception>
    /// <exception cref="IOException">ReadWrite: the file is already open for writing.</exception>
    public static MLArrayFile Open(string path, MLArrayMode mode)
    {
        var b2ndMode = mode switch
        {
            MLArrayMode.Read => B2ndOpenMode.Read,
            MLArrayMode.ReadWrite => B2ndOpenMode.ReadWrite,
            MLArrayMode.CopyOnWrite => B2ndOpenMode.CopyOnWrite,
            _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "mode must be MLArrayMode.Read, ReadWrite or CopyOnWrite."),
        };
        if (Remote.HttpRangeSource.IsHttpUrl(path))
            return OpenUrl(path, mode);
        OpenModes.CheckSuffix(path);
        OpenModes.ThrowIfMissing(path);
        var array = B2ndArray.Open(path, b2ndMode);
        try
        {
            var access = mode switch { MLArrayMode.ReadWrite => MLArrayAccess.ReadWrite, MLArrayMode.CopyOnWrite => MLArrayAccess.CopyOnWrite, _ => MLArrayAccess.Read };
            return new MLArrayFile(array, ReadMeta(array), access, Path.GetFullPath(path));
        }
        catch
        {
            array.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads a whole <c>.mla</c> file into memory (compressed chunks are copied as they are, not recompressed) and
    /// detaches from it: the file can be changed or deleted afterwards. Changes stay in memory until <see cref="Save(string)"/>.
    /// </summary>
    public static MLArrayFile Load(string path)
    {
        OpenModes.CheckSuffix(path);
        OpenModes.ThrowIfMissing(path);
        var array = B2ndArray.Open(File.ReadAllBytes(path), Path.GetFullPath(path), copyOnWrite: true);
        try
        {
            return new MLArrayFile(array, ReadMeta(array), MLArrayAccess.InMemory, Path.GetFullPath(path));
        }
        catch
        {
            array.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates a new <c>.mla</c> file of <paramref name="shape"/> and <paramref name="dtype"/> filled with zeros
    /// (python <c>MLArray.create</c>, mmap_mode 'w+'; an existing file is replaced) and opens it read/write. The metadata
    /// is written at once; written data reaches the file at <see cref="Flush"/> and <see cref="Dispose"/> (chunks written in
    /// part are cached and compressed once, see docs/concurrency.md), changed metadata on <see cref="Dispose"/>.
    /// </summary>
    public static MLArrayFile Create(string path, long[] shape, DType dtype, MLArrayCreateOptions? options = null)
    {
        OpenModes.ValidateCreate(path);
        ArgumentNullException.ThrowIfNull(shape);
        var (meta, write) = Prepare(shape, dtype, options);
        var array = B2ndArray.Create(path, shape, dtype, write with { VlMeta = [new(MLArrayMetadata.VlMetaName, Encode(meta))] });
        return new MLArrayFile(array, meta, MLArrayAccess.ReadWrite, Path.GetFullPath(path));
    }

    /// <summary>
    /// Builds an in-memory image from C-order <paramref name="data"/> of <paramref name="shape"/> (the dtype follows
    /// <typeparamref name="T"/>), with geometry, labels, metadata, layout and compression from <paramref name="options"/>.
    /// </summary>
    /// <exception cref="ArgumentException">Shape and data disagree, or invalid geometry/layout/metadata.</exception>
    public static MLArrayFile FromArray<T>(ReadOnlySpan<T> data, long[] shape, MLArrayCreateOptions? options = null) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(shape);
        var dtype = DType.Of<T>();
        long n = 1;
        foreach (var s in shape)
        {
            if (s < 0) throw new ArgumentException($"shape entries must not be negative, got ({string.Join(", ", shape)}).", nameof(shape));
            n = checked(n * s);
        }
        if (n != data.Length)
            throw new ArgumentException($"the data has {data.Length} elements but shape ({string.Join(", ", shape)}) needs {n}.", nameof(data));
        var (meta, write) = Prepare(shape, dtype, options);
        var frame = B2ndWriter.WriteToArray(MemoryMarshal.AsBytes(data), shape, dtype,
            write with { VlMeta = [new(MLArrayMetadata.VlMetaName, Encode(meta))] });
        return new MLArrayFile(B2ndArray.Open(frame, null, copyOnWrite: true), meta, MLArrayAccess.InMemory, null);
    }

    /// <inheritdoc cref="FromArray{T}(ReadOnlySpan{T}, long[], MLArrayCreateOptions?)"/>
    public static MLArrayFile FromArray<T>(T[] data, long[] shape, MLArrayCreateOptions? options = null) where T : unmanaged =>
        FromArray((ReadOnlySpan<T>)(data ?? throw new ArgumentNullException(nameof(data))), shape, options);

    /// <summary>
    /// A metadata-only image (python <c>MLArray(array=None, ...)</c>): an empty (0,) array and <c>_has_array</c> false.
    /// Geometry lengths are not checked against any array (there is none).
    /// </summary>
    public static MLArrayFile MetadataOnly(MLArrayCreateOptions? options = null)
    {
        options ??= new MLArrayCreateOptions();
        var meta = (options.Meta ?? new MLArrayMeta()) with { HasArray = false, MLArrayVersion = "v0", Blosc2 = new MetaBlosc2() };
        meta = meta with { Spatial = ApplyGeometry(meta.Spatial, options) with { Shape = null } };
        if (options.Copy is { } copy) meta = FillFrom(meta, copy.Meta);
        meta = meta with { Spatial = WithAxisCounts(meta.Spatial) };
        CheckMeta(meta, null, null);
        var frame = B2ndWriter.WriteToArray([], [0], DType.Float64, new B2ndWriteOptions { Compression = options.Compression ?? new CompressionParams(),
            VlMeta = [new(MLArrayMetadata.VlMetaName, Encode(meta))] });
        return new MLArrayFile(B2ndArray.Open(frame, null, copyOnWrite: true), meta, MLArrayAccess.InMemory, null);
    }

    /// <summary>
    /// Saves the image (data and current metadata) to <paramref name="path"/> atomically: a temporary file in the target
    /// folder is written, flushed and renamed over the target, so a failure leaves an existing file untouched. Compressed
    /// chunks are copied, not recompressed. Saving onto the file this instance has open works: the instance then
    /// continues on the saved file. An image whose data nobody wrote is saved with the file's own bytes (header, chunks,
    /// offsets index), and metadata nobody changed keeps its stored bytes (of whatever era: <c>migrate</c> rewrites them in
    /// the current layout): loading and saving a file, whichever library wrote it, gives the same bytes.
    /// </summary>
    public void Save(string path) => Save(path, null);

    /// <summary><see cref="Save(string)"/> through the given <see cref="AtomicFileSteps"/> (tests simulate failing disks with it).</summary>
    internal void Save(string path, AtomicFileSteps? steps)
    {
        OpenModes.CheckSuffix(path);
        if (_decompressed)
        {
            // As the reference: a decompressed image gets a fresh default layout when it is saved.
            using var compressed = Compress();
            compressed.Save(path, steps);
            return;
        }
        lock (_gate)
        {
            var array = Array;
            string full = Path.GetFullPath(path);
            bool same = Access != MLArrayAccess.InMemory && string.Equals(full, FilePath, StringComparison.Ordinal);
            using var tx = AtomicFile.Begin(full, steps, ownWriter: same && Access == MLArrayAccess.ReadWrite);
            // Metadata nobody changed keeps its stored bytes (whatever era or library wrote them; a frame without MLArray
            // metadata stays without): with the unchanged-frame copy of B2ndArray.Save, loading and saving is byte-exact.
            array.Save(tx.Stream, _metaChanged ? new Dictionary<string, byte[]?> { [MLArrayMetadata.VlMetaName] = Encode(_meta) } : null);
            if (!same)
            {
                tx.Commit();
                return;
            }
            // The target is our own file: release it, replace it, then continue on the new file in the same mode.
            var mode = array.Mode;
            array.Dispose();
            _array = null;
            try
            {
                tx.Commit();
            }
            finally
            {
                _array = B2ndArray.Open(full, mode);
            }
            _metaChanged = false;
        }
    }

    /// <summary>Writes changed metadata (read/write files) and flushes written data to the storage device.</summary>
    public void Flush()
    {
        lock (_gate)
        {
            WriteMetaIfChanged();
            Array.Flush();
        }
    }

    /// <summary>
    /// Writes the metadata to the file if it changed and the file is open read/write, then releases the file. Read-only,
    /// copy-on-write and in-memory images never write here.
    /// </summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_array is null) return;
            try
            {
                WriteMetaIfChanged();
            }
            finally
            {
                _array.Dispose();
                _array = null;
            }
        }
    }

    private void WriteMetaIfChanged()
    {
        if (_metaChanged && Access == MLArrayAccess.ReadWrite)
        {
            Array.SetVlMeta(MLArrayMetadata.VlMetaName, Encode(_meta));
            _metaChanged = false;
        }
    }

    // ------------------------------------------------------------------ identity

    /// <summary>How the data is held.</summary>
    public MLArrayAccess Access { get; }

    /// <summary>The full path of the file opened, created or loaded; null for images built in memory.</summary>
    public string? FilePath { get; }

    /// <summary>False for metadata-only images (no array data).</summary>
    public bool HasArray => _meta.HasArray;

    /// <summary>The one refusal for every change (data or metadata) to an image opened <see cref="MLArrayMode.Read"/>.</summary>
    private void ThrowIfReadOnly(string what)
    {
        if (Access == MLArrayAccess.Read)
            throw new InvalidOperationException(
                $"'{FilePath}' is open read-only (MLArrayMode.Read), so it cannot {what}; open it with MLArrayMode.ReadWrite to change the file, " +
                "or with MLArrayMode.CopyOnWrite (or MLArrayFile.Load) to change it in memory and Save it elsewhere.");
    }

    private static MLArrayMode ToMode(B2ndOpenMode m) => m switch
    {
        B2ndOpenMode.ReadWrite => MLArrayMode.ReadWrite,
        B2ndOpenMode.CopyOnWrite => MLArrayMode.CopyOnWrite,
        _ => MLArrayMode.Read,
    };

    private B2ndArray Array => _array ?? throw new ObjectDisposedException(nameof(MLArrayFile));

    private B2ndArray Data => HasArray ? Array : throw new InvalidOperationException(
        $"{NoArray} {(FilePath is null ? "This image" : $"'{FilePath}'")} holds metadata only (its stored array has shape (0,)); read Meta instead.");

    /// <summary>The array shape.</summary>
    /// <exception cref="InvalidOperationException">Metadata-only image.</exception>
    public long[] Shape => Data.Shape;

    /// <summary>The element type.</summary>
    public DType DType => Data.DType;

    /// <summary>Number of axes.</summary>
    public int NDim => Data.NDim;

    /// <summary>Number of spatial axes: spatial axis labels if labelled, else the stored count, else <see cref="NDim"/>.</summary>
    public int SpatialNDim => SpatialNDimOf(_meta.Spatial, NDim);

    /// <summary>Size of the first axis (0 for metadata-only images).</summary>
    public long Length => !HasArray ? 0 : Data.NDim == 0 ? throw new InvalidOperationException("a 0-d array has no length.") : Data.Shape[0];

    /// <summary>Chunk shape of the stored array.</summary>
    public int[] ChunkShape => Data.ChunkShape;

    /// <summary>Block shape of the stored array.</summary>
    public int[] BlockShape => Data.BlockShape;

    /// <summary>The compression parameters recorded in the file's frame header.</summary>
    public CompressionParams Compression => Array.CompressionParams;

    /// <summary>
    /// The Blosc2 storage underneath, read-only: compression, chunk/block grid, sizes, per-chunk facts, vlmeta entries.
    /// </summary>
    public MLArrayStorage Storage => _storage ??= new MLArrayStorage(() => Array);

    private MLArrayStorage? _storage;

    // ------------------------------------------------------------------ data

    /// <summary>
    /// Chunks decoded in parallel by <see cref="Read{T}(NdIndex[])"/>, <see cref="ToArray{T}"/> and <see cref="CopyTo{T}"/>
    /// (python <c>dparams={"nthreads": n}</c>): null (default) = all cores for whole-array reads and the calling thread
    /// for selections (patch reads scale across the caller's own threads); 0 = all cores; n = at most n threads.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A negative value.</exception>
    public int? DecodeThreads
    {
        get => _decodeThreads;
        set
        {
            if (value is < 0)
                throw new ArgumentOutOfRangeException(nameof(value), value, "DecodeThreads must be null (defaults), 0 (all cores) or a positive thread count.");
            _decodeThreads = value;
        }
    }

    private int? _decodeThreads;

    /// <summary>Reads a selection (per axis an index, a range or a slice) into a new C-order array.</summary>
    /// <example><c>float[] patch = img.Read&lt;float&gt;(10..74, 32..96, ^64..);</c></example>
    public T[] Read<T>(params NdIndex[] selection) where T : unmanaged
    {
        CheckType<T>();
        return Data.Read<T>(selection, DecodeThreads ?? 1);
    }

    /// <summary>Reads a selection into <paramref name="destination"/> (exactly the selection's element count).</summary>
    public void Read<T>(ReadOnlySpan<NdIndex> selection, Span<T> destination) where T : unmanaged
    {
        CheckType<T>();
        Data.Read(selection, destination, DecodeThreads ?? 1);
    }

    /// <summary>
    /// Reads a unit-step selection into <paramref name="destination"/> at element strides
    /// <paramref name="strides"/> (one per axis, the last 1), the stored items copied or converted into
    /// <typeparamref name="TOut"/> as <paramref name="conv"/> says (a copy needs items of the stored size). For the
    /// patch readers: a box lands straight in its place in a padded, converted patch.
    /// </summary>
    internal unsafe void ReadStrided<TOut>(ReadOnlySpan<NdIndex> selection, Span<TOut> destination, ReadOnlySpan<long> strides,
        in MLArray.Kernels.RowConversion conv, MLArray.Blosc2.Codecs.CodecContext? context = null) where TOut : unmanaged
    {
        int size = Unsafe.SizeOf<TOut>();
        if (conv.OutItemSize != size)
            throw new ArgumentException($"the conversion writes {conv.OutItemSize}-byte items, but {typeof(TOut).Name} has {size} bytes.", nameof(conv));
        Span<long> bytes = stackalloc long[strides.Length];
        for (int d = 0; d < strides.Length; d++) bytes[d] = strides[d] * size;
        Data.ReadStrided(selection, MemoryMarshal.AsBytes(destination), bytes, conv, context);
    }

    /// <summary>Writes <paramref name="source"/> (C order over the selection shape) into the selection.</summary>
    /// <exception cref="InvalidOperationException">The image is open read-only.</exception>
    public void Write<T>(ReadOnlySpan<NdIndex> selection, ReadOnlySpan<T> source) where T : unmanaged
    {
        CheckType<T>();
        ThrowIfReadOnly("write data");
        Data.Write(selection, MemoryMarshal.AsBytes(source));
    }

    /// <summary>Writes the whole array from <paramref name="source"/> (C order).</summary>
    public void Write<T>(ReadOnlySpan<T> source) where T : unmanaged => Write(ReadOnlySpan<NdIndex>.Empty, source);

    /// <summary>The raw C-order bytes of a selection in the stored dtype (for the converter and the CLI, which dispatch on <see cref="DType"/>).</summary>
    internal byte[] ReadBytes(params NdIndex[] selection)
    {
        var data = Data;
        long n = data.GetSelectionShape(selection).Aggregate(1L, (a, b) => a * b) * data.DType.ItemSize;
        if (n > System.Array.MaxLength)
            throw new MLArrayNotSupportedException($"the selection holds {n} bytes, more than a .NET array can hold; read it in parts.");
        var bytes = GC.AllocateUninitializedArray<byte>((int)n);
        data.Read(selection, bytes, selection.Length == 0 ? DecodeThreads ?? 0 : DecodeThreads ?? 1);
        return bytes;
    }

    /// <summary>Decodes the whole array into a new C-order array.</summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        CheckType<T>();
        return Data.ToArray<T>(DecodeThreads ?? 0);
    }

    /// <summary>Decodes the whole array into <paramref name="destination"/> (exactly the element count).</summary>
    public void CopyTo<T>(Span<T> destination) where T : unmanaged
    {
        CheckType<T>();
        Data.Read(destination, DecodeThreads ?? 0);
    }

    private void CheckType<T>() where T : unmanaged => DType.CheckElementType<T>(Data.DType);

    // ------------------------------------------------------------------ metadata

    /// <summary>
    /// The metadata record. Assigning validates it against this array (lengths, affine exclusivity...) and keeps the
    /// fields MLArray manages (<c>blosc2</c>, <c>spatial.shape</c>, <c>_has_array</c>, <c>_mlarray_version</c>,
    /// <c>_image_meta_format</c>): changing those throws.
    /// </summary>
    /// <exception cref="ArgumentException">Invalid metadata; the old value is kept.</exception>
    /// <exception cref="InvalidOperationException">A managed field was changed.</exception>
    public MLArrayMeta Meta
    {
        get => _meta;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            lock (_gate)
            {
                var cur = _meta;
                if (value.Blosc2 != cur.Blosc2 && value.Blosc2 != new MetaBlosc2())
                    throw new InvalidOperationException("meta.blosc2 is managed by MLArray and is read-only.");
                if (value.HasArray != cur.HasArray)
                    throw new InvalidOperationException("meta._has_array is managed by MLArray and is read-only.");
                if (value.ImageMetaFormat != cur.ImageMetaFormat && value.ImageMetaFormat is not null)
                    throw new InvalidOperationException("meta._image_meta_format is managed by MLArray and is read-only.");
                if (value.Spatial.Shape is not null && value.Spatial.Shape != cur.Spatial.Shape)
                    throw new InvalidOperationException("meta.spatial.shape is managed by MLArray and is read-only.");
                var next = value with
                {
                    Blosc2 = cur.Blosc2, ImageMetaFormat = cur.ImageMetaFormat, MLArrayVersion = cur.MLArrayVersion,
                    Spatial = WithAxisCounts(value.Spatial with { Shape = cur.Spatial.Shape }),
                };
                SetMeta(next);
            }
        }
    }

    private void SetMeta(MLArrayMeta next)
    {
        ThrowIfReadOnly("change its metadata");
        CheckMeta(next, HasArray ? Array.NDim : null, HasArray ? SpatialNDimOf(next.Spatial, Array.NDim) : null, _meta);
        if (next != _meta)
        {
            _meta = next;
            _metaChanged = true;
        }
    }

    private void UpdateSpatial(Func<MetaSpatial, MetaSpatial> change)
    {
        lock (_gate)
            SetMeta(_meta with { Spatial = change(_meta.Spatial) });
    }

    /// <summary>
    /// Voxel spacing per spatial axis, or null. The list is read-only (<c>img.Spacing[1] = 5.3</c> does not compile):
    /// assign a whole new list (<c>img.Spacing = [1, 5.3, 1]</c>) or change one axis with <see cref="SetSpacing"/>.
    /// </summary>
    /// <exception cref="ArgumentException">Setting: a length other than the number of spatial axes, or a non-positive value.</exception>
    /// <exception cref="InvalidOperationException">Setting on an image opened read-only.</exception>
    public IReadOnlyList<double>? Spacing
    {
        get => Doubles(_meta.Spatial.Spacing);
        set => UpdateSpatial(s => s with { Spacing = Numbers(value) });
    }

    /// <summary>
    /// World position of the first voxel per spatial axis, or null. Read-only list: assign a new one or use <see cref="SetOrigin"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">Setting on an image opened read-only.</exception>
    public IReadOnlyList<double>? Origin
    {
        get => Doubles(_meta.Spatial.Origin);
        set => UpdateSpatial(s => s with { Origin = Numbers(value) });
    }

    /// <summary>Sets the spacing of one spatial axis (the others default to 1 when no spacing was set).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="axis"/> is not a spatial axis index.</exception>
    /// <exception cref="ArgumentException"><paramref name="value"/> is not positive.</exception>
    /// <exception cref="InvalidOperationException">The image is open read-only.</exception>
    public void SetSpacing(int axis, double value) => Spacing = WithItem(Spacing, axis, value, 1.0, nameof(axis));

    /// <summary>Sets the origin of one spatial axis (the others default to 0 when no origin was set).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="axis"/> is not a spatial axis index.</exception>
    /// <exception cref="InvalidOperationException">The image is open read-only.</exception>
    public void SetOrigin(int axis, double value) => Origin = WithItem(Origin, axis, value, 0.0, nameof(axis));

    private double[] WithItem(IReadOnlyList<double>? current, int axis, double value, double fill, string paramName)
    {
        int n = current?.Count ?? SpatialNDim;
        if ((uint)axis >= (uint)n)
            throw new ArgumentOutOfRangeException(paramName, axis, $"axis must be a spatial axis index in [0, {n}).");
        var next = current?.ToArray() ?? Enumerable.Repeat(fill, n).ToArray();
        next[axis] = value;
        return next;
    }

    /// <summary>
    /// Direction cosines (spatial × spatial), or null. Immutable: assign a whole matrix (<c>double[,]</c> converts).
    /// </summary>
    /// <exception cref="InvalidOperationException">Setting on an image opened read-only.</exception>
    public ReadOnlyMatrix? Direction
    {
        get => ToMatrix(_meta.Spatial.Direction);
        set => UpdateSpatial(s => s with { Direction = Matrix(value) });
    }

    /// <summary>The axis labels, or null.</summary>
    public IReadOnlyList<string>? AxisLabels => _meta.Spatial.AxisLabels is { } l ? l.Select(x => x.Value).ToImmutableArray() : null;

    /// <summary>
    /// The homogeneous affine ((spatial + 1)²): as stored, or composed as [[D·diag(spacing), origin], [0…0, 1]] from
    /// spacing, origin and direction (defaults ones, zeros, identity). Null for metadata-only images without a stored
    /// affine. Setting it requires spacing, origin and direction to be null.
    /// </summary>
    /// <exception cref="InvalidOperationException">Setting on an image opened read-only.</exception>
    public ReadOnlyMatrix? Affine
    {
        get => AffineArray() is { } a ? new ReadOnlyMatrix(a) : null;
        set => UpdateSpatial(s => s with { Affine = Matrix(value) });
    }

    private double[,]? AffineArray()
    {
        if (ToArray2D(_meta.Spatial.Affine) is { } stored)
            return stored;
        if (!HasArray)
            return null;
        int n = SpatialNDim;
        IReadOnlyList<double> s = Spacing ?? Enumerable.Repeat(1.0, n).ToArray();
        IReadOnlyList<double> o = Origin ?? new double[n];
        var d = Direction?.ToArray() ?? Identity(n);
        var a = new double[n + 1, n + 1];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
                a[i, j] = d[i, j] * s[j];
            a[i, n] = o[i];
        }
        a[n, n] = 1;
        return a;
    }

    /// <summary>The translation part of <see cref="Affine"/> (its last column without the last row).</summary>
    public IReadOnlyList<double>? Translation => AffineArray() is { } a ? Enumerable.Range(0, a.GetLength(0) - 1).Select(i => a[i, a.GetLength(1) - 1]).ToImmutableArray() : null;

    /// <summary>Column norms of the linear block of <see cref="Affine"/>.</summary>
    public IReadOnlyList<double>? Scale => AffineArray() is { } a ? ScaleOf(a).ToImmutableArray() : null;

    /// <summary>The linear block of <see cref="Affine"/> with its columns divided by <see cref="Scale"/>.</summary>
    public ReadOnlyMatrix? Rotation => AffineArray() is { } a ? new ReadOnlyMatrix(RotationOf(a, ScaleOf(a))) : null;

    /// <summary>Rotationᵀ · linear block, each row i divided by scale[i] (identity for affines without shear).</summary>
    public ReadOnlyMatrix? Shear
    {
        get
        {
            if (AffineArray() is not { } a) return null;
            int n = a.GetLength(0) - 1;
            var sc = ScaleOf(a);
            var r = RotationOf(a, sc);
            var sh = new double[n, n];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                {
                    double sum = 0;
                    for (int k = 0; k < n; k++) sum += r[k, i] * a[k, j];
                    sh[i, j] = sum / sc[i];
                }
            return new ReadOnlyMatrix(sh);
        }
    }

    private static double[] ScaleOf(double[,] a)
    {
        int n = a.GetLength(0) - 1;
        var s = new double[n];
        for (int j = 0; j < n; j++)
        {
            double sum = 0;
            for (int i = 0; i < n; i++) sum += a[i, j] * a[i, j];
            s[j] = Math.Sqrt(sum);
        }
        return s;
    }

    private static double[,] RotationOf(double[,] a, double[] scale)
    {
        int n = scale.Length;
        var r = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                r[i, j] = a[i, j] / scale[j];
        return r;
    }

    private static double[,] Identity(int n)
    {
        var d = new double[n, n];
        for (int i = 0; i < n; i++) d[i, i] = 1;
        return d;
    }

    // ------------------------------------------------------------------ metadata helpers

    private static MLArrayMeta ReadMeta(B2ndArray array)
    {
        var read = MLArrayMetadata.Read(array);
        MLArrayMeta meta;
        if (read is null)
        {
            bool has = !(array.NDim == 1 && array.Shape[0] == 0);
            meta = new MLArrayMeta { HasArray = has, MLArrayVersion = "v0" };
        }
        else
        {
            meta = MetaMigrator.ToRecord(read.Current, array.Shape);
        }
        if (!meta.HasArray)
            return meta;
        // As the reference: shape, chunk and block always come from the store.
        return meta with
        {
            Spatial = meta.Spatial with { Shape = EquatableArray.From(array.Shape) },
            Blosc2 = meta.Blosc2 with
            {
                ChunkSize = EquatableArray.From(array.ChunkShape.Select(v => (long)v)),
                BlockSize = EquatableArray.From(array.BlockShape.Select(v => (long)v)),
            },
        };
    }

    private static (MLArrayMeta Meta, B2ndWriteOptions Write) Prepare(long[] shape, DType dtype, MLArrayCreateOptions? options)
    {
        options ??= new MLArrayCreateOptions();
        var compression = options.Compression ?? MLArrayCreateOptions.DefaultCompression;
        compression.Validate();
        var start = options.Meta ?? new MLArrayMeta();
        start = start with { Spatial = ApplyGeometry(start.Spatial, options) };
        if (options.Copy is { } copy) start = FillFrom(start, copy.Meta);
        var spatial = WithAxisCounts(start.Spatial with { Shape = EquatableArray.From(shape) });
        bool[]? mask = spatial.AxisLabels?.Select(l => SpatialLabels.Contains(l.Value)).ToArray();
        if (mask is not null && mask.Length != shape.Length)
            throw new ArgumentException($"meta.spatial.axis_labels must have length {shape.Length}", nameof(options));
        var reuse = options.Meta?.Blosc2;
        if (options.Layout is null && reuse is not { PatchSize: not null } and not { ChunkSize: not null }
            && options.Copy?.Meta.Blosc2.PatchSize is { } copiedPatch && copiedPatch.Count == SpatialNDimOf(spatial, shape.Length))
            reuse = new MetaBlosc2 { PatchSize = copiedPatch };
        var layout = LayoutResolver.Resolve(options.Layout, shape, dtype.ItemSize, mask, reuse);
        if (layout.ChunkSize.Any(c => c < 1) || layout.BlockSize.Any(b => b < 1))
        {
            // Empty arrays (a zero-length axis): blosc2 and the metadata need chunk and block edges of at least 1.
            layout = layout with { ChunkSize = layout.ChunkSize.Select(c => Math.Max(1, c)).ToArray(), BlockSize = layout.BlockSize.Select(b => Math.Max(1, b)).ToArray() };
        }
        var blosc2 = new MetaBlosc2
        {
            ChunkSize = EquatableArray.From(layout.ChunkSize.Select(v => (long)v)),
            BlockSize = EquatableArray.From(layout.BlockSize.Select(v => (long)v)),
            PatchSize = layout.PatchSize is null ? null : EquatableArray.From(layout.PatchSize.Select(v => (long)v)),
            Cparams = RecordCparams(compression),
            Dparams = new MetaDict([new("nthreads", MetaValue.From(1L))]),
        };
        var meta = start with { Spatial = spatial, Blosc2 = blosc2, HasArray = true, MLArrayVersion = "v0" };
        CheckMeta(meta, shape.Length, SpatialNDimOf(spatial, shape.Length));
        return (meta, new B2ndWriteOptions { ChunkShape = layout.ChunkSize, BlockShape = layout.BlockSize, Compression = compression });
    }

    /// <summary>The cparams recorded in meta.blosc2 (ints for enums, as the reference stores them).</summary>
    private static MetaDict RecordCparams(CompressionParams p)
    {
        var entries = new List<KeyValuePair<string, MetaValue>>
        {
            new("codec", MetaValue.From((long)p.Codec)),
            new("clevel", MetaValue.From((long)p.CLevel)),
        };
        var defaults = new CompressionParams();
        if (!p.Filters.SequenceEqual(defaults.Filters))
            entries.Add(new("filters", MetaValue.List(p.Filters.Select(f => MetaValue.From((long)f)))));
        if (!p.FiltersMeta.SequenceEqual(defaults.FiltersMeta))
            entries.Add(new("filters_meta", MetaValue.List(p.FiltersMeta.Select(f => MetaValue.From((long)f)))));
        if (p.SplitMode != defaults.SplitMode)
            entries.Add(new("splitmode", MetaValue.From((long)p.SplitMode)));
        return new MetaDict(entries);
    }

    private static MetaSpatial ApplyGeometry(MetaSpatial s, MLArrayCreateOptions o)
    {
        if (o.Affine is not null && (o.Spacing is not null || o.Origin is not null || o.Direction is not null))
            throw new ArgumentException("affine cannot be provided together with spacing, origin, or direction.", nameof(o));
        if (o.Spacing is not null) s = s with { Spacing = Numbers(o.Spacing) };
        if (o.Origin is not null) s = s with { Origin = Numbers(o.Origin) };
        if (o.Direction is not null) s = s with { Direction = Matrix(o.Direction) };
        if (o.Affine is not null) s = s with { Affine = Matrix(o.Affine) };
        if (o.AxisLabels is not null) s = s with { AxisLabels = EquatableArray.From(o.AxisLabels.Select(l => new AxisLabel(l ?? throw new ArgumentException("axis labels must not be null.", nameof(o))))) };
        return s;
    }

    /// <summary>The reference's cached axis counts (<c>_num_spatial_axes</c>/<c>_num_non_spatial_axes</c>), derived from the labels.</summary>
    private static MetaSpatial WithAxisCounts(MetaSpatial s)
    {
        if (s.AxisLabels is not { } labels)
            return s;
        int sp = labels.Count(l => SpatialLabels.Contains(l.Value));
        return s with { NumSpatialAxes = sp, NumNonSpatialAxes = labels.Count - sp };
    }

    private static int SpatialNDimOf(MetaSpatial s, int ndim) =>
        s.AxisLabels is { } l ? l.Count(x => SpatialLabels.Contains(x.Value)) : s.NumSpatialAxes is { } n ? (int)n : ndim;

    /// <summary>
    /// Validates <paramref name="meta"/> against the array's dimensions: the schema's rules, then the fixes of the
    /// reference's validation gaps (docs/differences-from-python.md A6, A15, A18–A20, A29). A gap check is skipped for a field
    /// equal to the one in <paramref name="previous"/>, so that editing one namespace of a file written elsewhere never
    /// fails on a value that was already stored.
    /// </summary>
    private static void CheckMeta(MLArrayMeta meta, int? ndim, int? spatialNDim, MLArrayMeta? previous = null)
    {
        var ctx = MetaValidationContext.Empty;
        if (ndim is { } nd) ctx = ctx.WithDimension("ndim", nd);
        if (spatialNDim is { } sd) ctx = ctx.WithDimension("spatial_ndim", sd);
        var report = meta.Validate(ctx);
        var errors = report.Errors.Select(e => e.Message).ToList();
        // Fixes of reference validation gaps (docs/differences-from-python.md).
        var sp0 = previous?.Spatial;
        if (meta.Spatial.Spacing is { } sp && sp != sp0?.Spacing && sp.Any(v => !(v.ToDouble() > 0 && double.IsFinite(v.ToDouble()))))
            errors.Add("meta.spatial.spacing must contain only positive values (finite, > 0)");
        if (meta.Spatial.Origin is { } org && org != sp0?.Origin && org.Any(v => !double.IsFinite(v.ToDouble())))
            errors.Add("meta.spatial.origin must contain only finite values (no NaN or infinity)");
        if (meta.Spatial.Affine is { } af && af != sp0?.Affine && af.Any(r => r.Any(v => !double.IsFinite(v.ToDouble()))))
            errors.Add("meta.spatial.affine must contain only finite values (no NaN or infinity)");
        if (meta.Spatial.Direction is { } dir && dir != sp0?.Direction && !AreDirectionCosines(dir))
            errors.Add($"meta.spatial.direction must hold direction cosines: each column a unit vector (within {DirectionTolerance}) "
                + "and the columns linearly independent; put voxel sizes in meta.spatial.spacing (or store the whole geometry as meta.spatial.affine)");
        if (meta.Spatial.Affine is { } aff && aff != sp0?.Affine && !HasHomogeneousLastRow(aff))
            errors.Add("meta.spatial.affine must have [0, ..., 0, 1] as its last row");
        if (meta.Spatial.Affine is { } affLin && affLin != sp0?.Affine && affLin.All(r => r.All(v => double.IsFinite(v.ToDouble()))) && IsSingularAffine(affLin))
            errors.Add("meta.spatial.affine must be invertible: its linear part (the top-left N x N block) is singular or nearly so "
                + $"(|det| of the column-normalised block < {DirectionTolerance}), so some voxel axis has no size or no direction of its own; "
                + "give every spatial axis a non-zero size and an independent direction");
        if (meta.Bbox.Bboxes is { } boxes)
            for (int i = 0; i < boxes.Count; i++)
            {
                if (previous?.Bbox.Bboxes is { } old && i < old.Count && old[i] == boxes[i])
                    continue; // stored by another writer: kept as it is (A22)
                if (ndim is { } boxDims && boxes[i].Count != boxDims)
                    errors.Add($"meta.bbox.bboxes[{i}] must have one [min, max] row per array axis ({boxDims}), got {boxes[i].Count}");
                if (MetaBbox.RowProblem(boxes[i], i) is { } rowProblem)
                    errors.Add(rowProblem);
            }
        if (meta.Spatial.AxisUnits is { } units)
        {
            if (units.Any(u => u is not MetaString))
                errors.Add("meta.spatial.axis_units must contain only strings");
            if (ndim is { } n && units.Count != n && units.Count != spatialNDim)
                errors.Add(spatialNDim is { } sn && sn != n
                    ? $"meta.spatial.axis_units must have length {n} (one per axis) or {sn} (one per spatial axis)"
                    : $"meta.spatial.axis_units must have length {n}");
        }
        if (errors.Count > 0)
            throw new ArgumentException(string.Join("; ", errors));
    }

    /// <summary>Largest deviation from 1 of a direction column's length, and smallest |det| of the direction matrix.</summary>
    internal const double DirectionTolerance = 1e-3;

    /// <summary>
    /// Unit columns and a non-singular matrix. Orthogonality is not required: NIfTI sforms may carry a shear, which
    /// the converter keeps in the direction so that the composed affine is the file's (docs/differences-from-python.md A18).
    /// </summary>
    private static bool AreDirectionCosines(EquatableArray<EquatableArray<MetaNumber>> rows)
    {
        int n = rows.Count;
        if (n == 0 || rows.Any(r => r.Count != n))
            return true; // the schema's shape rule reports this
        var m = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                m[i, j] = rows[i][j].ToDouble();
        for (int j = 0; j < n; j++)
        {
            double norm2 = 0;
            for (int i = 0; i < n; i++)
                norm2 += m[i, j] * m[i, j];
            if (!(Math.Abs(Math.Sqrt(norm2) - 1) <= DirectionTolerance))
                return false;
        }
        return Math.Abs(MatrixMath.Determinant(m)) >= DirectionTolerance;
    }

    /// <summary>
    /// Whether the linear part of an (n+1)² affine is singular: a zero column, or columns that (normalised to unit
    /// length) span less than n dimensions, judged as <see cref="AreDirectionCosines"/> judges a direction.
    /// </summary>
    private static bool IsSingularAffine(EquatableArray<EquatableArray<MetaNumber>> rows)
    {
        int n = rows.Count - 1;
        if (n < 1 || rows.Any(r => r.Count != n + 1))
            return false; // the schema's shape rule reports this
        var m = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                m[i, j] = rows[i][j].ToDouble();
        return MatrixMath.IsSingular(m, DirectionTolerance);
    }

    private static bool HasHomogeneousLastRow(EquatableArray<EquatableArray<MetaNumber>> rows)
    {
        if (rows.Count == 0)
            return true;
        var last = rows[^1];
        if (last.Count != rows.Count)
            return true; // the schema's shape rule reports this
        for (int j = 0; j < last.Count; j++)
            if (last[j].ToDouble() != (j == last.Count - 1 ? 1 : 0))
                return false;
        return true;
    }

    private static byte[] Encode(MLArrayMeta meta) => MLArrayMetadata.Encode((MetaDict)meta.ToMetaValue());

    private static EquatableArray<MetaNumber>? Numbers(IReadOnlyList<double>? v) => v is null ? null : EquatableArray.From(v.Select(x => (MetaNumber)x));

    private static ImmutableArray<double>? Doubles(EquatableArray<MetaNumber>? v) => v is { } a ? a.Select(n => n.ToDouble()).ToImmutableArray() : null;

    private static EquatableArray<EquatableArray<MetaNumber>>? Matrix(ReadOnlyMatrix? m)
    {
        if (m is null) return null;
        var rows = new List<EquatableArray<MetaNumber>>();
        for (int i = 0; i < m.Rows; i++)
            rows.Add(EquatableArray.From(Enumerable.Range(0, m.Columns).Select(j => (MetaNumber)m[i, j])));
        return EquatableArray.From(rows);
    }

    private static ReadOnlyMatrix? ToMatrix(EquatableArray<EquatableArray<MetaNumber>>? rows) => ToArray2D(rows) is { } a ? new ReadOnlyMatrix(a) : null;

    private static double[,]? ToArray2D(EquatableArray<EquatableArray<MetaNumber>>? rows)
    {
        if (rows is null) return null;
        int r = rows.Count, c = r == 0 ? 0 : rows.Max(x => x.Count);
        var m = new double[r, c];
        for (int i = 0; i < r; i++)
            for (int j = 0; j < rows[i].Count; j++)
                m[i, j] = rows[i][j].ToDouble();
        return m;
    }

    /// <inheritdoc/>
    public override string ToString() =>
        HasArray ? $"MLArrayFile({string.Join("×", Shape)} {DType.Name}{(FilePath is null ? "" : ", " + FilePath)})" : $"MLArrayFile(metadata only{(FilePath is null ? "" : ", " + FilePath)})";
}
