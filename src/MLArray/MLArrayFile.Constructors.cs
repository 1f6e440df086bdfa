using System.Runtime.InteropServices;
using MLArray.Blosc2;
using MLArray.Layout;
using MLArray.Metadata;
using MLArray.Metadata.Migration;

namespace MLArray;

// In-memory constructors (python classmethods empty/zeros/ones/full/arange/linspace/asarray/*_like, mlarray-spec §3.4),
// and compress/decompress.
public sealed partial class MLArrayFile
{
    private const string NoInputArray = "Input MLArray has no array data loaded.";

    /// <summary>True after <see cref="Decompress"/>: chunks are stored uncompressed and <c>meta.blosc2</c> is cleared; <see cref="Save(string)"/> re-lays it out.</summary>
    private bool _decompressed;

    /// <summary>
    /// An image of <paramref name="shape"/> and <paramref name="dtype"/> (python <c>MLArray.empty</c>). Blosc2 has no
    /// uninitialised storage: the elements read as zero.
    /// </summary>
    public static MLArrayFile Empty(long[] shape, DType dtype, MLArrayCreateOptions? options = null) => Zeros(shape, dtype, options);

    /// <summary>An image of zeros (python <c>MLArray.zeros</c>).</summary>
    public static MLArrayFile Zeros(long[] shape, DType dtype, MLArrayCreateOptions? options = null)
    {
        long n = ElementCount(shape);
        return FromBytes(new byte[InMemoryBytes(shape, n, dtype.ItemSize)], shape, dtype, options);
    }

    /// <summary>An image of ones (python <c>MLArray.ones</c>; the dtype defaults to float64 as there).</summary>
    public static MLArrayFile Ones(long[] shape, DType? dtype = null, MLArrayCreateOptions? options = null)
    {
        var dt = dtype ?? DType.Float64;
        return FromBytes(Fill(dt, ElementCount(shape), _ => 1.0), shape, dt, options);
    }

    /// <summary>
    /// An image filled with <paramref name="fillValue"/>; the dtype follows <typeparamref name="T"/> (python
    /// <c>MLArray.full</c> infers it from the value: pass <c>1L</c>/<c>1.0</c> for its int64/float64).
    /// </summary>
    public static MLArrayFile Full<T>(long[] shape, T fillValue, MLArrayCreateOptions? options = null) where T : unmanaged
    {
        long n = ElementCount(shape);
        InMemoryBytes(shape, n, System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
        var data = new T[n];
        data.AsSpan().Fill(fillValue);
        return FromArray(data, shape, options);
    }

    /// <summary>
    /// Evenly spaced int64 values in [<paramref name="start"/>, <paramref name="stop"/>) (python <c>MLArray.arange</c>
    /// with int arguments; a null stop means [0, start)). The count is the reference's <c>int((stop - start) / step)</c>.
    /// Without a layout in <paramref name="options"/> the library chooses one (the reference's default <c>patch_size=None</c>).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="step"/> is 0, or <paramref name="shape"/> does not hold the count.</exception>
    public static MLArrayFile Arange(long start, long? stop = null, long step = 1, long[]? shape = null, MLArrayCreateOptions? options = null)
    {
        if (stop is null) (start, stop) = (0, start);
        if (step == 0) throw new ArgumentException("step must not be zero.", nameof(step));
        long num = Math.Max(0, (long)Math.Truncate((double)(stop.Value - start) / step));
        shape = RangeShape(shape, num);
        var data = new long[num];
        for (long i = 0; i < num; i++) data[i] = start + i * step;
        return FromArray(data, shape, WithAutomaticLayout(options));
    }

    /// <summary>Evenly spaced float64 values (python <c>MLArray.arange</c> with a float argument); see <see cref="Arange(long, long?, long, long[], MLArrayCreateOptions?)"/>.</summary>
    public static MLArrayFile Arange(double start, double? stop = null, double step = 1, long[]? shape = null, MLArrayCreateOptions? options = null)
    {
        if (stop is null) (start, stop) = (0, start);
        if (step == 0 || !double.IsFinite(step)) throw new ArgumentException("step must be a finite non-zero number.", nameof(step));
        double q = (stop.Value - start) / step;
        if (!double.IsFinite(q)) throw new ArgumentException("start and stop must be finite.", nameof(start));
        long num = Math.Max(0, (long)Math.Truncate(q));
        shape = RangeShape(shape, num);
        var data = new double[num];
        for (long i = 0; i < num; i++) data[i] = start + i * step;
        return FromArray(data, shape, WithAutomaticLayout(options));
    }

    /// <summary>
    /// <paramref name="num"/> evenly spaced values from <paramref name="start"/> to <paramref name="stop"/> (python
    /// <c>MLArray.linspace</c>; float64 unless <paramref name="dtype"/> says otherwise). Give <paramref name="num"/>,
    /// <paramref name="shape"/> or both (consistent).
    /// </summary>
    /// <exception cref="ArgumentException">Neither num nor shape, a negative num, or a shape that does not hold num elements.</exception>
    public static MLArrayFile Linspace(double start, double stop, long? num = null, DType? dtype = null, bool endpoint = true, long[]? shape = null, MLArrayCreateOptions? options = null)
    {
        if (num is null && shape is null)
            throw new ArgumentException("Either `shape` or `num` must be specified.");
        long n = num ?? ElementCount(shape!);
        if (num is not null && shape is not null && ElementCount(shape) != num)
            throw new ArgumentException($"Shape is not consistent with the specified num value {num}." + (num < 0 ? "num must be nonnegative." : ""), nameof(shape));
        if (n < 0)
            throw new ArgumentException("num must be nonnegative.", nameof(num));
        shape ??= [n];
        long div = endpoint ? n - 1 : n;
        double step = div > 0 ? (stop - start) / div : 0;
        var dt = dtype ?? DType.Float64;
        var bytes = Fill(dt, n, i => endpoint && i == n - 1 && n > 1 ? stop : start + i * step);
        return FromBytes(bytes, shape, dt, WithAutomaticLayout(options));
    }

    /// <summary>An image holding a copy of <paramref name="data"/> (python <c>MLArray.asarray</c>); same as <see cref="FromArray{T}(ReadOnlySpan{T}, long[], MLArrayCreateOptions?)"/>.</summary>
    public static MLArrayFile AsArray<T>(ReadOnlySpan<T> data, long[] shape, MLArrayCreateOptions? options = null) where T : unmanaged => FromArray(data, shape, options);

    /// <inheritdoc cref="AsArray{T}(ReadOnlySpan{T}, long[], MLArrayCreateOptions?)"/>
    public static MLArrayFile AsArray<T>(T[] data, long[] shape, MLArrayCreateOptions? options = null) where T : unmanaged => FromArray(data, shape, options);

    /// <summary>
    /// An image with the shape of <paramref name="like"/> (python <c>empty_like</c>), its dtype unless
    /// <paramref name="dtype"/> is given, and, unless <paramref name="options"/> brings its own <c>Meta</c>, its metadata
    /// (geometry included; the reference fails there) and its recorded patch size.
    /// </summary>
    /// <exception cref="InvalidOperationException"><paramref name="like"/> holds metadata only.</exception>
    public static MLArrayFile EmptyLike(MLArrayFile like, DType? dtype = null, MLArrayCreateOptions? options = null) => ZerosLike(like, dtype, options);

    /// <summary>Zeros shaped like <paramref name="like"/> (python <c>zeros_like</c>); see <see cref="EmptyLike"/>.</summary>
    public static MLArrayFile ZerosLike(MLArrayFile like, DType? dtype = null, MLArrayCreateOptions? options = null)
    {
        var (shape, dt, o) = LikeArgs(like, dtype, options);
        return Zeros(shape, dt, o);
    }

    /// <summary>Ones shaped like <paramref name="like"/> (python <c>ones_like</c>); see <see cref="EmptyLike"/>.</summary>
    public static MLArrayFile OnesLike(MLArrayFile like, DType? dtype = null, MLArrayCreateOptions? options = null)
    {
        var (shape, dt, o) = LikeArgs(like, dtype, options);
        return Ones(shape, dt, o);
    }

    /// <summary>
    /// An image shaped like <paramref name="like"/> filled with <paramref name="fillValue"/> (python <c>full_like</c>);
    /// the dtype is the source's, the value is converted to it.
    /// </summary>
    public static MLArrayFile FullLike(MLArrayFile like, double fillValue, DType? dtype = null, MLArrayCreateOptions? options = null)
    {
        var (shape, dt, o) = LikeArgs(like, dtype, options);
        return FromBytes(Fill(dt, ElementCount(shape), _ => fillValue), shape, dt, o);
    }

    private static (long[] Shape, DType DType, MLArrayCreateOptions Options) LikeArgs(MLArrayFile like, DType? dtype, MLArrayCreateOptions? options)
    {
        ArgumentNullException.ThrowIfNull(like);
        if (!like.HasArray)
            throw new InvalidOperationException(NoInputArray);
        options ??= new MLArrayCreateOptions();
        var meta = like.Meta;
        if (options.Meta is null)
            options = options with { Meta = meta with { Spatial = meta.Spatial with { Shape = null } } };
        return (like.Shape, dtype ?? like.DType, options);
    }

    /// <summary>
    /// A new in-memory image with the same data and user metadata, re-laid out (python <c>compress</c>): the layout is
    /// computed afresh from <paramref name="layout"/> (default patch 192; the stored patch size is not reused).
    /// This image is left as it is.
    /// </summary>
    /// <exception cref="InvalidOperationException">Metadata-only or disposed image.</exception>
    public MLArrayFile Compress(LayoutOptions? layout = null, CompressionParams? compression = null)
    {
        if (_array is null)
            throw new InvalidOperationException(NoArray);
        lock (_gate)
        {
            var data = Data.ReadBytes();
            var meta = _meta with { Blosc2 = new MetaBlosc2(), Spatial = _meta.Spatial with { Shape = null } };
            return FromBytes(data, Shape, DType, new MLArrayCreateOptions { Meta = meta, Layout = layout ?? LayoutOptions.Default, Compression = compression });
        }
    }

    /// <summary>
    /// A new in-memory image with the same data stored uncompressed (python <c>decompress</c>, which switches to a numpy
    /// store): <c>meta.blosc2</c> is cleared, and <see cref="Save(string)"/> lays the data out afresh (default patch 192).
    /// This image is left as it is.
    /// </summary>
    /// <exception cref="InvalidOperationException">Metadata-only or disposed image.</exception>
    public MLArrayFile Decompress()
    {
        if (_array is null)
            throw new InvalidOperationException(NoArray);
        lock (_gate)
        {
            var data = Data.ReadBytes();
            var shape = Shape;
            var meta = _meta with { Blosc2 = new MetaBlosc2(), Spatial = _meta.Spatial with { Shape = EquatableArray.From(shape) } };
            // One chunk, one block per row-ish: the layout does not matter for an uncompressed store.
            var layout = LayoutResolver.Resolve(LayoutOptions.Automatic, shape, DType.ItemSize, null, null);
            var frame = B2ndWriter.WriteToArray(data, shape, DType, new B2ndWriteOptions
            {
                ChunkShape = layout.ChunkSize, BlockShape = layout.BlockSize,
                Compression = new CompressionParams { Codec = Blosc2Codec.BloscLZ, CLevel = 0 },
                VlMeta = [new(MLArrayMetadata.VlMetaName, Encode(meta))],
            });
            return new MLArrayFile(B2ndArray.Open(frame, null, copyOnWrite: true), meta, MLArrayAccess.InMemory, null) { _decompressed = true };
        }
    }

    /// <summary>True for images from <see cref="Decompress"/> (uncompressed, no recorded layout).</summary>
    public bool IsDecompressed => _decompressed;

    // ------------------------------------------------------------------ helpers

    /// <summary>
    /// Builds an in-memory image from raw little-endian C-order element bytes of <paramref name="dtype"/> (e.g. the data
    /// of an .npy file), with the same options as <see cref="FromArray{T}(ReadOnlySpan{T}, long[], MLArrayCreateOptions?)"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The byte count does not match shape × item size, or invalid options.</exception>
    public static MLArrayFile FromBytes(ReadOnlySpan<byte> data, long[] shape, DType dtype, MLArrayCreateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long n = ElementCount(shape);
        if (checked(n * dtype.ItemSize) != data.Length)
            throw new ArgumentException($"the data has {data.Length / Math.Max(1, dtype.ItemSize)} elements but shape ({string.Join(", ", shape)}) needs {n}.", nameof(data));
        var (meta, write) = Prepare(shape, dtype, options);
        var frame = B2ndWriter.WriteToArray(data, shape, dtype, write with { VlMeta = [new(MLArrayMetadata.VlMetaName, Encode(meta))] });
        return new MLArrayFile(B2ndArray.Open(frame, null, copyOnWrite: true), meta, MLArrayAccess.InMemory, null);
    }

    private static long ElementCount(long[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long n = 1;
        foreach (var s in shape)
        {
            if (s < 0) throw new ArgumentException($"shape entries must not be negative, got ({string.Join(", ", shape)}).", nameof(shape));
            if (s > 0 && n > long.MaxValue / s)
                throw new ArgumentException($"shape ({string.Join(", ", shape)}) has more than {long.MaxValue} elements.", nameof(shape));
            n *= s;
        }
        return n;
    }

    /// <summary>
    /// The bytes of an in-memory image of <paramref name="n"/> items: one .NET array, so at most
    /// <see cref="System.Array.MaxLength"/> bytes; a larger image is an <see cref="ArgumentException"/> pointing to the on-disk
    /// <see cref="Create(string, long[], DType, MLArrayCreateOptions?)"/>.
    /// </summary>
    private static long InMemoryBytes(long[]? shape, long n, int itemSize)
    {
        if (n <= System.Array.MaxLength / Math.Max(1, itemSize))
            return n * itemSize;
        string what = shape is null ? $"{n} items" : $"shape ({string.Join(", ", shape)})";
        throw new ArgumentException(
            $"an in-memory image of {what} with {itemSize}-byte items needs {(decimal)n * itemSize} bytes, more than one .NET array holds ({System.Array.MaxLength}); " +
            "create it on disk with MLArrayFile.Create(path, shape, dtype), which stores it chunk by chunk (chunks never written read as zeros).", nameof(shape));
    }

    private static long[] RangeShape(long[]? shape, long num)
    {
        if (shape is null) return [num];
        if (ElementCount(shape) != num)
            throw new ArgumentException("The shape is not consistent with the start, stop and step values", nameof(shape));
        return shape;
    }

    private static MLArrayCreateOptions WithAutomaticLayout(MLArrayCreateOptions? o)
    {
        o ??= new MLArrayCreateOptions();
        return o.Layout is null ? o with { Layout = LayoutOptions.Automatic } : o;
    }

    /// <summary>n elements of <paramref name="dtype"/> (little-endian), element i = value(i) converted like numpy's astype.</summary>
    private static byte[] Fill(DType dtype, long n, Func<long, double> value)
    {
        int size = dtype.ItemSize;
        var bytes = new byte[InMemoryBytes(null, n, size)];
        Span<double> block = stackalloc double[1024];
        for (long i = 0; i < n; i += block.Length)
        {
            int k = (int)Math.Min(block.Length, n - i);
            for (int j = 0; j < k; j++) block[j] = value(i + j);
            MLArray.Kernels.ElementConvert.FromDouble(block[..k], bytes.AsSpan((int)(i * size)), dtype);
        }
        return bytes;
    }
}
