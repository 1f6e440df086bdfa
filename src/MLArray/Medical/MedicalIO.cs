using System.IO.Compression;
using MLArray.Blosc2;
using MLArray.Kernels;

namespace MLArray.Medical;

/// <summary>Limits applied by the NIfTI and NRRD readers before they allocate or decompress anything.</summary>
public sealed class MedicalReadOptions
{
    /// <summary>The default of <see cref="MaxDataBytes"/>: 16 GiB.</summary>
    public const long DefaultMaxDataBytes = 16L << 30;

    /// <summary>
    /// The largest voxel payload (in bytes, as declared by the header) a reader accepts. Uncompressed data is also
    /// checked against the length of the file; compressed data cannot be, so this bound is what stops a hostile
    /// header from making the reader allocate or inflate without limit. Default <see cref="DefaultMaxDataBytes"/>.
    /// </summary>
    public long MaxDataBytes { get; init; } = DefaultMaxDataBytes;

    /// <summary>The options used when none are given.</summary>
    public static MedicalReadOptions Default { get; } = new();
}

/// <summary>
/// Axis-order helpers. NIfTI and NRRD store voxels with the first index axis varying fastest (x fastest, i.e.
/// Fortran order over the file shape (x, y, z, ...)). The readers return those bytes unchanged in order, described as
/// a C-order array whose shape is the file shape reversed (z, y, x) — the layout ITK/SimpleITK <c>GetArrayFromImage</c>
/// gives and the one the <c>.mla</c> converter stores. nibabel and pynrrd instead present the same voxels as a NumPy
/// array of shape (x, y, z, ...) in C order; <see cref="FileOrderToIndexOrderC"/> produces that layout.
/// </summary>
internal static class MedicalAxisOrder
{
    /// <summary>The C-order shape of a buffer in file order: <paramref name="fileShape"/> reversed.</summary>
    /// <param name="fileShape">The shape in file index order (fastest axis first).</param>
    /// <returns>A new array with the axes reversed.</returns>
    public static long[] ReverseShape(IReadOnlyList<long> fileShape)
    {
        ArgumentNullException.ThrowIfNull(fileShape);
        var r = new long[fileShape.Count];
        for (int i = 0; i < r.Length; i++)
        {
            r[i] = fileShape[fileShape.Count - 1 - i];
        }

        return r;
    }

    /// <summary>
    /// Transposes voxels stored in file order (first axis of <paramref name="fileShape"/> fastest) into C order over
    /// <paramref name="fileShape"/> (last axis fastest), i.e. the array nibabel's <c>get_fdata()</c>/<c>dataobj</c> or
    /// pynrrd's <c>read(index_order='F')</c> returns. Each element is <paramref name="elementBytes"/> bytes and is moved
    /// as a unit (use 3 for RGB24 voxels, 4 for RGBA32).
    /// </summary>
    /// <param name="source">The voxels in file order.</param>
    /// <param name="fileShape">The file shape, fastest axis first.</param>
    /// <param name="elementBytes">Bytes per element.</param>
    /// <returns>A new buffer of the same length in C order over <paramref name="fileShape"/>.</returns>
    /// <exception cref="ArgumentException">The buffer length does not match the shape.</exception>
    public static byte[] FileOrderToIndexOrderC(ReadOnlySpan<byte> source, IReadOnlyList<long> fileShape, int elementBytes)
    {
        ArgumentNullException.ThrowIfNull(fileShape);
        ArgumentOutOfRangeException.ThrowIfLessThan(elementBytes, 1);
        long count = 1;
        foreach (long d in fileShape)
        {
            count = checked(count * d);
        }

        if (checked(count * elementBytes) != source.Length)
        {
            throw new ArgumentException(
                $"buffer holds {source.Length} bytes but shape ({string.Join(", ", fileShape)}) of {elementBytes}-byte elements needs {count * elementBytes}.",
                nameof(source));
        }

        // File order is C order over the reversed shape: reverse the axes back.
        int n = fileShape.Count;
        long[] reversed = ReverseShape(fileShape);
        int[] perm = Enumerable.Range(0, n).Reverse().ToArray();
        var dest = new byte[source.Length];
        AxisPermutation.Permute(source, dest, reversed, perm, elementBytes);
        return dest;
    }
}

/// <summary>Shared internals of the medical readers and writers.</summary>
internal static class MedicalIO
{
    /// <summary>Writes <paramref name="data"/> in 1 MiB slabs, checking <paramref name="ct"/> before each.</summary>
    internal static void WriteSlabs(Stream s, ReadOnlySpan<byte> data, CancellationToken ct)
    {
        const int Slab = 1 << 20;
        for (int off = 0; off < data.Length; off += Slab)
        {
            ct.ThrowIfCancellationRequested();
            s.Write(data.Slice(off, Math.Min(Slab, data.Length - off)));
        }
    }

    internal static bool IsGzip(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        Span<byte> magic = stackalloc byte[2];
        return fs.Read(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    }

    /// <summary>Reads exactly <paramref name="dest"/>.Length bytes or returns how many were read before the end.</summary>
    internal static int ReadUpTo(Stream s, Span<byte> dest)
    {
        int total = 0;
        while (total < dest.Length)
        {
            int n = s.Read(dest[total..]);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }

    /// <summary>Discards <paramref name="count"/> bytes; returns how many were actually skipped.</summary>
    internal static long Skip(Stream s, long count)
    {
        if (count <= 0)
        {
            return 0;
        }

        if (s.CanSeek)
        {
            long avail = Math.Max(0, s.Length - s.Position);
            long k = Math.Min(avail, count);
            s.Seek(k, SeekOrigin.Current);
            return k;
        }

        byte[] buf = new byte[(int)Math.Min(count, 1 << 16)];
        long done = 0;
        while (done < count)
        {
            int n = s.Read(buf, 0, (int)Math.Min(buf.Length, count - done));
            if (n == 0)
            {
                break;
            }

            done += n;
        }

        return done;
    }

    /// <summary>Counts the bytes left in a (decompressing) stream, stopping past <paramref name="limit"/>.</summary>
    internal static long CountToEnd(Stream s, long limit)
    {
        byte[] buf = new byte[1 << 16];
        long total = 0;
        int n;
        while ((n = s.Read(buf, 0, buf.Length)) > 0)
        {
            total += n;
            if (total > limit)
            {
                return total;
            }
        }

        return total;
    }

    internal static long Product(IReadOnlyList<long> shape, string file, string what)
    {
        long p = 1;
        foreach (long d in shape)
        {
            try
            {
                p = checked(p * d);
            }
            catch (OverflowException)
            {
                throw new MLArrayFormatException($"{file}: {what} ({string.Join(", ", shape)}) overflows a 64-bit element count.");
            }
        }

        return p;
    }

    internal static long CheckedBytes(long count, int itemSize, string file, long max)
    {
        long bytes;
        try
        {
            bytes = checked(count * itemSize);
        }
        catch (OverflowException)
        {
            throw new MLArrayFormatException($"{file}: the declared data size ({count} elements of {itemSize} bytes) overflows 64 bits.");
        }

        if (bytes > max)
        {
            throw new MLArrayFormatException(
                $"{file}: the header declares {bytes} bytes of voxel data, more than the limit of {max} bytes " +
                "(MedicalReadOptions.MaxDataBytes).");
        }

        return bytes;
    }

    /// <summary>
    /// Throws <see cref="FileNotFoundException"/> when the file a caller names does not exist, as every other reader
    /// (B2ndArray, MLArrayFile, Npy) does. A file that a header names (a NIfTI pair's image, a detached NRRD's data
    /// file) and that is missing is a broken data set instead: <see cref="MLArrayFormatException"/>.
    /// </summary>
    internal static void RequireFile(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: no such file.", path);
    }

    internal static Stream OpenRead(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        }
        catch (FileNotFoundException e)
        {
            throw new MLArrayFormatException($"{path}: file not found.", e);
        }
        catch (DirectoryNotFoundException e)
        {
            throw new MLArrayFormatException($"{path}: file not found (directory missing).", e);
        }
    }

    internal static GZipStream Gunzip(Stream s, bool leaveOpen = false) => new(s, CompressionMode.Decompress, leaveOpen);

    internal static string FormatShape(IReadOnlyList<long> shape) => "(" + string.Join(", ", shape) + ")";

    internal static DType DTypeOrThrow(string name) => DType.Parse(name);
}

/// <summary>
/// Reads sequentially from a decoded voxel stream into caller buffers, converting to little-endian and turning a
/// premature end or a decompression error into <see cref="MLArrayFormatException"/>.
/// </summary>
internal sealed class VoxelPump(Stream data, long totalBytes, int swapItemSize, string file, bool compressed, bool requireEnd = false) : IDisposable
{
    private long _position;

    public long Position => _position;

    public long TotalBytes => totalBytes;

    public void Read(Span<byte> destination)
    {
        if (destination.Length > totalBytes - _position)
        {
            throw new ArgumentException(
                $"requested {destination.Length} bytes but only {totalBytes - _position} of {totalBytes} remain.", nameof(destination));
        }

        if (swapItemSize > 1 && (destination.Length % swapItemSize != 0 || _position % swapItemSize != 0))
        {
            throw new ArgumentException($"reads must be whole elements of {swapItemSize} bytes.", nameof(destination));
        }

        int got;
        try
        {
            got = MedicalIO.ReadUpTo(data, destination);
        }
        catch (InvalidDataException e)
        {
            throw new MLArrayFormatException(
                $"{file}: compressed data is corrupt (while decoding voxel bytes {_position}–{_position + destination.Length} of {totalBytes}): {e.Message} " +
                "The file is damaged; re-export or re-download it.", e);
        }
        catch (ICSharpCode.SharpZipLib.SharpZipBaseException e)
        {
            throw new MLArrayFormatException(
                $"{file}: bzip2 data is corrupt (while decoding voxel bytes {_position}–{_position + destination.Length} of {totalBytes}): {e.Message} " +
                "The file is damaged; re-export or re-download it.", e);
        }
        catch (EndOfStreamException e)
        {
            throw new MLArrayFormatException($"{file}: {(compressed ? "compressed stream" : "data")} ends early (truncated) after {_position} of {totalBytes} bytes.", e);
        }

        if (got < destination.Length)
        {
            throw new MLArrayFormatException(
                $"{file}: {(compressed ? "compressed stream ends early (truncated file?)" : "data file too short")}: " +
                $"got {_position + got} of the {totalBytes} bytes of voxel data the header declares.");
        }

        if (swapItemSize > 1)
        {
            ByteOrder.SwapInPlace(destination, swapItemSize);
        }

        _position += got;
        if (requireEnd && _position == totalBytes)
        {
            Span<byte> one = stackalloc byte[1];
            int extra;
            try
            {
                extra = data.Read(one);
            }
            catch (Exception e) when (e is InvalidDataException or ICSharpCode.SharpZipLib.SharpZipBaseException or EndOfStreamException)
            {
                extra = 0; // corrupt bytes after the declared data: the data itself is complete
            }

            if (extra > 0)
            {
                throw new MLArrayFormatException(
                    $"{file}: data size mismatch: the decompressed data is longer than the {totalBytes} bytes the header declares " +
                    "(sizes × type size after byte skip); wrong sizes or a missing 'byte skip'?");
            }
        }
    }

    public void Dispose() => data.Dispose();
}

/// <summary>A write-through view of a stream that leaves it open when disposed (so plain and gzip output share one code path).</summary>
internal sealed class NonClosing(Stream inner) : Stream
{
    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => inner.Length;

    public override long Position { get => inner.Position; set => throw new NotSupportedException(); }

    public override void Flush() => inner.Flush();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

    public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);
}

/// <summary>
/// Base of the decoding streams the medical readers chain (prefix, bzip2 guard, ASCII and hex values): forward-only,
/// read-only, no length; subclasses implement <see cref="Read(Span{byte})"/>.
/// </summary>
internal abstract class ForwardReadStream : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush() { }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public abstract override int Read(Span<byte> buffer);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
