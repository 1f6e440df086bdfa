using System.IO.Compression;
using System.Text;
using MLArray.Blosc2;

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

/// <summary>Options of <see cref="Nrrd.Write"/>.</summary>
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
    /// Writes an attached NRRD (<c>NRRD0004</c>, data after the header's blank line), raw or gzip, little-endian. All
    /// header fields, key/value pairs and comments are written; <c>type</c>, <c>dimension</c>, <c>sizes</c>,
    /// <c>endian</c> and <c>encoding</c> come from the image; <c>data file</c>, <c>line skip</c>, <c>byte skip</c> are
    /// dropped. Written to a temporary name, then renamed into place.
    /// </summary>
    /// <param name="path">The output <c>.nrrd</c>.</param>
    /// <param name="image">The image.</param>
    /// <param name="options">Options, or null.</param>
    public static void Write(string path, NrrdImage image, NrrdWriteOptions? options = null) => WriteWith(path, image, options, null);

    /// <summary><see cref="Write(string, NrrdImage, NrrdWriteOptions)"/> through the given <see cref="AtomicFileSteps"/>.</summary>
    internal static void WriteWith(string path, NrrdImage image, NrrdWriteOptions? options, AtomicFileSteps? steps)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(image);
        options ??= new NrrdWriteOptions();
        string enc = options.Encoding is { } e ? NrrdHeader.NormaliseEncoding(e) : image.Header.Fields.ContainsKey("encoding") && image.Header.Encoding is "raw" or "gzip" ? image.Header.Encoding : "gzip";
        if (enc is not ("raw" or "gzip"))
        {
            throw new MLArrayNotSupportedException($"{path}: the NRRD writer supports raw and gzip encodings, not '{enc}'.");
        }

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
        byte[] header = Encoding.UTF8.GetBytes(h.Serialise(FieldOrder));

        using (var tx = AtomicFile.Begin(path, steps))
        {
            Stream fs = tx.Stream;
            {
                fs.Write(header);
                if (enc == "gzip")
                {
                    using var gz = new GZipStream(fs, options.GzipLevel, leaveOpen: true);
                    gz.Write(image.Data);
                }
                else
                {
                    fs.Write(image.Data);
                }
            }

            tx.Commit();
        }
    }
}
