using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using MLArray.Blosc2;
using MLArray.Conversion;
using MLArray.Kernels;

namespace MLArray.Medical.Nifti;

/// <summary>
/// A whole NIfTI image in memory: header, element type and the raw stored voxel values (no scaling applied) in file
/// order (x fastest), little-endian. As a C-order array the data has shape <see cref="Shape"/> (file shape reversed,
/// plus a channel axis for RGB).
/// </summary>
public sealed class NiftiImage
{
    /// <summary>Creates an image from a header and data that match it.</summary>
    /// <param name="header">The header (its dims define the shape).</param>
    /// <param name="dtype">The element type.</param>
    /// <param name="channels">1, or 3/4 for RGB24/RGBA32.</param>
    /// <param name="data">The raw voxels, file order, little-endian.</param>
    /// <exception cref="ArgumentException">The data length does not match the header's dims.</exception>
    public NiftiImage(NiftiHeader header, DType dtype, int channels, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(data);
        Header = header;
        DType = dtype;
        Channels = channels;
        Data = data;
        FileShape = header.FileShape;
        long n = 1;
        foreach (long d in FileShape)
        {
            n = checked(n * d);
        }

        if (checked(n * dtype.ItemSize * channels) != data.Length)
        {
            throw new ArgumentException(
                $"data has {data.Length} bytes but shape {MedicalIO.FormatShape(FileShape)} of {dtype} × {channels} needs {n * dtype.ItemSize * channels}.", nameof(data));
        }

        long[] rev = MedicalAxisOrder.ReverseShape(FileShape);
        Shape = channels == 1 ? rev : [.. rev, channels];
    }

    /// <summary>
    /// Creates an image with a fresh NIfTI-1 header (<see cref="NiftiHeader.Create"/>: sform and qform from the affine).
    /// </summary>
    /// <param name="data">Voxels in file order (x fastest), little-endian.</param>
    /// <param name="dtype">The element type.</param>
    /// <param name="fileShape">The shape, x fastest (without the RGB channel axis).</param>
    /// <param name="affine">The 4×4 voxel-to-RAS affine.</param>
    /// <param name="channels">1, or 3/4 for uint8 RGB24/RGBA32.</param>
    /// <returns>The image.</returns>
    public static NiftiImage Create(byte[] data, DType dtype, IReadOnlyList<long> fileShape, double[,] affine, int channels = 1) =>
        new(NiftiHeader.Create(dtype, fileShape, affine, channels), dtype, channels, data);

    /// <summary>The header.</summary>
    public NiftiHeader Header { get; }

    /// <summary>The element type (uint8 for RGB).</summary>
    public DType DType { get; }

    /// <summary>Values per voxel.</summary>
    public int Channels { get; }

    /// <summary>The raw voxels, file order (x fastest), little-endian.</summary>
    public byte[] Data { get; }

    /// <summary>The shape in file index order, x first.</summary>
    public long[] FileShape { get; }

    /// <summary>The C-order shape of <see cref="Data"/>: file shape reversed, then the channel axis if any.</summary>
    public long[] Shape { get; }

    /// <summary>The affine nibabel reports (<see cref="NiftiHeader.GetBestAffine"/>).</summary>
    public double[,] Affine => Header.GetBestAffine();

    /// <summary>The data in nibabel's layout: C order over (x, y, z, …[, channel]).</summary>
    /// <returns>A new buffer.</returns>
    public byte[] ToIndexOrderC() => MedicalAxisOrder.FileOrderToIndexOrderC(Data, FileShape, DType.ItemSize * Channels);

    /// <summary>
    /// The values users see, as nibabel's <c>get_fdata()</c> computes them: <c>raw * scl_slope + scl_inter</c> in
    /// float64 when <see cref="NiftiHeader.Scaling"/> is set, else the raw values as float64. File order.
    /// </summary>
    /// <returns>A new array.</returns>
    public double[] GetScaledFloat64()
    {
        var v = new double[Data.Length / DType.ItemSize];
        if (Header.Scaling is (double slope, double inter))
        {
            ElementConvert.Scale(Data, DType, slope, inter, MemoryMarshal.AsBytes(v.AsSpan()), MLArray.DType.Float64);
        }
        else
        {
            ElementConvert.ToDouble(Data, DType, v);
        }

        return v;
    }

    /// <summary>As <see cref="GetScaledFloat64"/>, rounded to float32 (the converter's storage type for scaled integer data).</summary>
    /// <returns>A new array.</returns>
    public float[] GetScaledFloat32()
    {
        var v = new float[Data.Length / DType.ItemSize];
        if (Header.Scaling is (double slope, double inter))
        {
            ElementConvert.Scale(Data, DType, slope, inter, MemoryMarshal.AsBytes(v.AsSpan()), MLArray.DType.Float32);
        }
        else
        {
            ElementConvert.FromDouble(GetScaledFloat64(), MemoryMarshal.AsBytes(v.AsSpan()), MLArray.DType.Float32);
        }

        return v;
    }
}

/// <summary>Options of <see cref="Nifti.Write(string, NiftiImage, NiftiWriteOptions?)"/>.</summary>
public sealed class NiftiWriteOptions
{
    /// <summary>Compress with gzip; null (default) decides from the file name (<c>.gz</c>).</summary>
    public bool? Gzip { get; init; }

    /// <summary>
    /// 1 (NIfTI-1) or 2 (NIfTI-2); null (default) writes NIfTI-1 unless a dimension or slice index does not fit its
    /// 16-bit fields, then NIfTI-2.
    /// </summary>
    public int? Version { get; init; }

    /// <summary>The gzip level. Default <see cref="CompressionLevel.Fastest"/>.</summary>
    public CompressionLevel GzipLevel { get; init; } = CompressionLevel.Fastest;
}

/// <summary>Reading and writing NIfTI images in one call. See <see cref="NiftiReader"/> for streaming reads.</summary>
public static class Nifti
{
    /// <summary>Reads a whole NIfTI image (any supported variant; see <see cref="NiftiReader.Open"/>).</summary>
    /// <param name="path">The file.</param>
    /// <param name="options">Limits, or null.</param>
    /// <returns>The image.</returns>
    public static NiftiImage Read(string path, MedicalReadOptions? options = null)
    {
        using NiftiReader r = NiftiReader.Open(path, options);
        return r.ReadImage();
    }

    /// <summary>
    /// Writes a NIfTI-1 (or, see <see cref="NiftiWriteOptions.Version"/>, NIfTI-2) image, little-endian: a single file
    /// (<c>.nii</c>, or <c>.nii.gz</c> gzip-compressed) or a header/image pair (<c>.hdr</c> + <c>.img</c>, or
    /// <c>.hdr.gz</c> + <c>.img.gz</c>; either name of the pair may be given), from the image's header fields as they are
    /// (use <see cref="NiftiHeader.SetAffine"/> to set sform and qform from an affine): <c>sizeof_hdr</c>, <c>magic</c>
    /// ("n+1"/"n+2" single, "ni1"/"ni2" pair), <c>datatype</c>/<c>bitpix</c> and <c>vox_offset</c> (0 for a pair) are
    /// set by the writer, extensions are written after the header. Each file is written atomically
    /// (<see cref="AtomicFile"/>: a temporary file renamed into place); for a pair the image file is committed first.
    /// </summary>
    /// <param name="path">The output path.</param>
    /// <param name="image">The image.</param>
    /// <param name="options">Options, or null.</param>
    /// <exception cref="MLArrayNotSupportedException">Version 1 with dims too large for it.</exception>
    public static void Write(string path, NiftiImage image, NiftiWriteOptions? options = null) =>
        Write(path, image, options, CancellationToken.None);

    /// <summary>
    /// <see cref="Write(string, NiftiImage, NiftiWriteOptions?)"/>, cancellable between 1 MiB slabs of voxel data
    /// (cancelling throws <see cref="OperationCanceledException"/> and leaves no file behind).
    /// </summary>
    /// <param name="path">The output path.</param>
    /// <param name="image">The image.</param>
    /// <param name="options">Options, or null.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    public static void Write(string path, NiftiImage image, NiftiWriteOptions? options, CancellationToken cancellationToken) =>
        WriteWith(path, image, options, null, cancellationToken);

    /// <summary><see cref="Write(string, NiftiImage, NiftiWriteOptions, CancellationToken)"/> through the given <see cref="AtomicFileSteps"/>.</summary>
    internal static void WriteWith(string path, NiftiImage image, NiftiWriteOptions? options, AtomicFileSteps? steps,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(image);
        options ??= new NiftiWriteOptions();
        string? stem = MedicalFormats.NiftiPair(path)?.Stem;
        bool pair = stem is not null;
        bool gzip = options.Gzip ?? path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
        NiftiHeader h = image.Header.Clone();
        h.Version = options.Version ?? (h.FitsNifti1() ? 1 : 2);
        h.Magic = (h.Version, pair) switch { (2, false) => "n+2", (2, true) => "ni2", (_, false) => "n+1", _ => "ni1" };
        h.EolCheck = [13, 10, 26, 10];
        h.DataType = NiftiDataType.FromDType(image.DType, image.Channels);
        h.BitPix = NiftiDataType.BitPix(h.DataType);
        long extBytes = 0;
        foreach (NiftiExtension e in h.Extensions)
        {
            extBytes += e.ESize;
        }

        h.VoxOffset = pair ? 0 : h.SizeOfHdr + 4 + extBytes;
        h.Validate(path);
        byte[] hb = h.Version == 2 ? h.ToNifti2Bytes() : h.ToNifti1Bytes(path);
        string gz = gzip ? ".gz" : "";
        string headerPath = pair ? stem + ".hdr" + gz : path;
        using var headerTx = AtomicFile.Begin(headerPath, steps);
        using AtomicFile? dataTx = pair ? AtomicFile.Begin(stem + ".img" + gz, steps) : null;
        using (Stream hs = gzip ? new GZipStream(headerTx.Stream, options.GzipLevel, leaveOpen: true) : new NonClosing(headerTx.Stream))
        {
            hs.Write(hb);
            Span<byte> extender = stackalloc byte[4];
            extender.Clear();
            extender[0] = (byte)(h.Extensions.Count > 0 ? 1 : 0);
            if (!pair || h.Extensions.Count > 0)
            {
                hs.Write(extender);
            }

            Span<byte> eh = stackalloc byte[8];
            foreach (NiftiExtension e in h.Extensions)
            {
                BinaryPrimitives.WriteInt32LittleEndian(eh, e.ESize);
                BinaryPrimitives.WriteInt32LittleEndian(eh[4..], e.Code);
                hs.Write(eh);
                hs.Write(e.Data);
                hs.Write(new byte[e.ESize - 8 - e.Data.Length]);
            }

            if (dataTx is null)
            {
                MedicalIO.WriteSlabs(hs, image.Data, cancellationToken);
            }
        }

        if (dataTx is not null)
        {
            using (Stream ds = gzip ? new GZipStream(dataTx.Stream, options.GzipLevel, leaveOpen: true) : new NonClosing(dataTx.Stream))
            {
                MedicalIO.WriteSlabs(ds, image.Data, cancellationToken);
            }

            cancellationToken.ThrowIfCancellationRequested();
            dataTx.Commit();
        }

        cancellationToken.ThrowIfCancellationRequested();
        headerTx.Commit();
    }
}
