using System.IO.Compression;
using System.Text;
using MLArray.Blosc2;
using MLArray.Conversion;

namespace MLArray.Medical.Nrrd;

/// <summary>
/// A whole NRRD image in memory: header, element type and the voxels in file order (axis 0 fastest), little-endian;
/// as a C-order array its shape is <see cref="Shape"/> = <c>sizes</c> reversed.
/// </summary>
public sealed class NrrdImage
{
    /// <summary>Creates an image; the data length must match the header's <c>sizes</c> and the dtype.</summary>
    /// <param name="header">The header (its <c>sizes</c> define the shape).</param>
    /// <param name="dtype">The element type.</param>
    /// <param name="data">The voxels, file order, little-endian.</param>
    /// <exception cref="ArgumentException">The length does not match.</exception>
    public NrrdImage(NrrdHeader header, DType dtype, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(data);
        Header = header;
        DType = dtype;
        Data = data;
        FileShape = header.Sizes;
        long n = 1;
        foreach (long d in FileShape)
        {
            n = checked(n * d);
        }

        if (checked(n * dtype.ItemSize) != data.Length)
        {
            throw new ArgumentException($"data has {data.Length} bytes but sizes {MedicalIO.FormatShape(FileShape)} of {dtype} need {n * dtype.ItemSize}.", nameof(data));
        }

        Shape = MedicalAxisOrder.ReverseShape(FileShape);
    }

    /// <summary>The header.</summary>
    public NrrdHeader Header { get; }

    /// <summary>The element type.</summary>
    public DType DType { get; }

    /// <summary>The voxels, file order, little-endian.</summary>
    public byte[] Data { get; }

    /// <summary><c>sizes</c>, axis 0 first.</summary>
    public long[] FileShape { get; }

    /// <summary>The C-order shape of <see cref="Data"/>: <c>sizes</c> reversed.</summary>
    public long[] Shape { get; }

    /// <summary>The data as pynrrd returns it with <c>index_order='F'</c>: C order over <c>sizes</c>.</summary>
    /// <returns>A new buffer.</returns>
    public byte[] ToIndexOrderC() => MedicalAxisOrder.FileOrderToIndexOrderC(Data, FileShape, DType.ItemSize);
}

/// <summary>Options of <see cref="Nrrd.Write(string, NrrdImage, NrrdWriteOptions?)"/>.</summary>
public sealed class NrrdWriteOptions
{
    /// <summary>"raw" or "gzip"; null (default) keeps the header's encoding when it is one of those, else gzip.</summary>
    public string? Encoding { get; init; }

    /// <summary>The gzip level. Default <see cref="CompressionLevel.Fastest"/>.</summary>
    public CompressionLevel GzipLevel { get; init; } = CompressionLevel.Fastest;
}

/// <summary>Reading and writing NRRD images in one call. See <see cref="NrrdReader"/> for streaming reads.</summary>
public static class Nrrd
{
    private static readonly string[] FieldOrder =
    [
        "type", "dimension", "space", "space dimension", "sizes", "space directions", "kinds", "endian", "encoding",
        "space origin", "measurement frame", "space units", "spacings", "thicknesses", "axis mins", "axis maxs",
        "centerings", "labels", "units", "content", "sample units", "min", "max", "old min", "old max",
    ];

    private static readonly HashSet<string> NotCopied = ["data file", "line skip", "byte skip", "block size", "number"];

    /// <summary>Reads a whole NRRD image.</summary>
    /// <param name="path">A <c>.nrrd</c> or <c>.nhdr</c> file.</param>
    /// <param name="options">Limits, or null.</param>
    /// <returns>The image.</returns>
    public static NrrdImage Read(string path, MedicalReadOptions? options = null)
    {
        using NrrdReader r = NrrdReader.Open(path, options);
        return r.ReadImage();
    }

    /// <summary>
    /// Writes a NRRD image, raw or gzip, little-endian: attached (<c>.nrrd</c>, <c>NRRD0004</c>, data after the header's
    /// blank line) or detached (<c>.nhdr</c>: the header names its data file with a relative <c>data file:</c> — the
    /// header's name with <c>.raw</c> or, for gzip, <c>.raw.gz</c> — written next to it). All header fields, key/value
    /// pairs and comments are written; <c>type</c>, <c>dimension</c>, <c>sizes</c>, <c>endian</c> and
    /// <c>encoding</c> come from the image; <c>line skip</c> and <c>byte skip</c> are dropped. Each file is written
    /// atomically (<see cref="AtomicFile"/>); for a detached pair the data file is committed first.
    /// </summary>
    /// <param name="path">The output <c>.nrrd</c> or <c>.nhdr</c>.</param>
    /// <param name="image">The image.</param>
    /// <param name="options">Options, or null.</param>
    public static void Write(string path, NrrdImage image, NrrdWriteOptions? options = null) =>
        Write(path, image, options, CancellationToken.None);

    /// <summary>
    /// <see cref="Write(string, NrrdImage, NrrdWriteOptions?)"/>, cancellable between 1 MiB slabs of voxel data
    /// (cancelling throws <see cref="OperationCanceledException"/> and leaves no file behind).
    /// </summary>
    /// <param name="path">The output <c>.nrrd</c> or <c>.nhdr</c>.</param>
    /// <param name="image">The image.</param>
    /// <param name="options">Options, or null.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    public static void Write(string path, NrrdImage image, NrrdWriteOptions? options, CancellationToken cancellationToken) =>
        WriteWith(path, image, options, null, cancellationToken);

    /// <summary><see cref="Write(string, NrrdImage, NrrdWriteOptions, CancellationToken)"/> through the given <see cref="AtomicFileSteps"/>.</summary>
    internal static void WriteWith(string path, NrrdImage image, NrrdWriteOptions? options, AtomicFileSteps? steps,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(image);
        options ??= new NrrdWriteOptions();
        string enc = options.Encoding is { } e ? NrrdHeader.NormaliseEncoding(e) : image.Header.Fields.ContainsKey("encoding") && image.Header.Encoding is "raw" or "gzip" ? image.Header.Encoding : "gzip";
        if (enc is not ("raw" or "gzip"))
        {
            throw new MLArrayNotSupportedException($"{path}: the NRRD writer supports raw and gzip encodings, not '{enc}'.");
        }

        bool detached = MedicalFormats.IsDetachedNrrd(path);
        var h = new NrrdHeader { Magic = image.Header.Magic is "NRRD0005" ? "NRRD0005" : "NRRD0004" };
        h.Comments.AddRange(image.Header.Comments);
        foreach ((string k, object v) in image.Header.Fields)
        {
            if (!NotCopied.Contains(k))
            {
                h.Fields[k] = v;
            }
        }

        foreach ((string k, string v) in image.Header.KeyValues)
        {
            h.KeyValues[k] = v;
        }

        h.Fields["type"] = NrrdTypes.CanonicalName(image.DType);
        h.Fields["dimension"] = (long)image.FileShape.Length;
        h.Fields["sizes"] = (long[])image.FileShape.Clone();
        if (image.DType.ItemSize > 1)
        {
            h.Fields["endian"] = "little";
        }
        else
        {
            h.Fields.Remove("endian");
        }

        h.Fields["encoding"] = enc;
        string? dataPath = null;
        if (detached)
        {
            string dataName = MedicalFormats.StripExtension(Path.GetFileName(path)) + (enc == "gzip" ? ".raw.gz" : ".raw");
            h.Fields["data file"] = dataName;
            dataPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", dataName);
        }

        string[] order = detached ? [.. FieldOrder, "data file"] : FieldOrder;
        byte[] header = Encoding.UTF8.GetBytes(h.Serialise(order));
        using var headerTx = AtomicFile.Begin(path, steps);
        using AtomicFile? dataTx = dataPath is null ? null : AtomicFile.Begin(dataPath, steps);
        headerTx.Stream.Write(header);
        Stream ds = (dataTx ?? headerTx).Stream;
        using (Stream s = enc == "gzip" ? new GZipStream(ds, options.GzipLevel, leaveOpen: true) : new NonClosing(ds))
        {
            MedicalIO.WriteSlabs(s, image.Data, cancellationToken);
        }

        cancellationToken.ThrowIfCancellationRequested();
        dataTx?.Commit();
        headerTx.Commit();
    }
}
