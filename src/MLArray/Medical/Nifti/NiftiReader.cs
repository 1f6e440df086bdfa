using System.Buffers.Binary;
using MLArray.Blosc2;
using MLArray.Conversion;

namespace MLArray.Medical.Nifti;

/// <summary>
/// An open NIfTI-1/NIfTI-2 image (<c>.nii</c>, <c>.nii.gz</c>, or a <c>.hdr</c>/<c>.img</c> pair, each part optionally
/// gzip-compressed — compression is detected from the bytes, not the name). <see cref="Open"/> reads and validates the
/// header and extensions; <see cref="ReadData(Span{byte})"/> then streams the voxels sequentially, decompressing
/// directly into the caller's buffer and converting to little-endian.
/// <para>
/// Voxel order: exactly the file's order, the first axis (x) varying fastest. Described as a C-order array, its shape
/// is <see cref="Shape"/> = the file shape reversed, (…, t, z, y, x), plus a trailing channel axis of 3 or 4 for
/// RGB24/RGBA32. Use <see cref="MedicalAxisOrder.FileOrderToIndexOrderC"/> for nibabel's (x, y, z, …) C-order layout.
/// </para>
/// </summary>
internal sealed class NiftiReader : IDisposable
{
    private readonly VoxelPump _pump;

    private NiftiReader(string headerPath, string dataPath, NiftiHeader header, DType dtype, int channels, VoxelPump pump, bool compressed)
    {
        HeaderPath = headerPath;
        DataPath = dataPath;
        Header = header;
        DType = dtype;
        Channels = channels;
        _pump = pump;
        IsCompressed = compressed;
        FileShape = header.FileShape;
        long[] rev = MedicalAxisOrder.ReverseShape(FileShape);
        Shape = channels == 1 ? rev : [.. rev, channels];
    }

    /// <summary>The file holding the header.</summary>
    public string HeaderPath { get; }

    /// <summary>The file holding the voxels (same as <see cref="HeaderPath"/> for a single <c>.nii</c>).</summary>
    public string DataPath { get; }

    /// <summary>The header, with its extensions.</summary>
    public NiftiHeader Header { get; }

    /// <summary>The element type of the returned data (little-endian; uint8 for RGB24/RGBA32).</summary>
    public DType DType { get; }

    /// <summary>Values per voxel: 1, or 3 (RGB24) / 4 (RGBA32).</summary>
    public int Channels { get; }

    /// <summary>True when the data file is gzip-compressed.</summary>
    public bool IsCompressed { get; }

    /// <summary>The image shape in file index order (x, y, z, …), x fastest: <c>dim[1..dim[0]]</c>.</summary>
    public long[] FileShape { get; }

    /// <summary>The C-order shape of the returned bytes: <see cref="FileShape"/> reversed, then the channel axis if any.</summary>
    public long[] Shape { get; }

    /// <summary>Total bytes of voxel data.</summary>
    public long DataBytes => _pump.TotalBytes;

    /// <summary>Bytes of voxel data already returned by <see cref="ReadData(Span{byte})"/>.</summary>
    public long Position => _pump.Position;

    /// <summary>
    /// Opens a NIfTI file: reads the header and extensions and checks the declared data against the file (uncompressed)
    /// or against <see cref="MedicalReadOptions.MaxDataBytes"/> (compressed). For a pair, pass either the header or
    /// the image file name.
    /// </summary>
    /// <param name="path">A <c>.nii</c>, <c>.nii.gz</c>, <c>.hdr</c>, <c>.hdr.gz</c>, <c>.img</c> or <c>.img.gz</c> path.</param>
    /// <param name="options">Limits, or null for the defaults.</param>
    /// <returns>The open reader; dispose it.</returns>
    /// <exception cref="FileNotFoundException"><paramref name="path"/> does not exist.</exception>
    /// <exception cref="MLArrayFormatException">The other file of a pair is missing, not NIfTI, corrupt or truncated header, data beyond the file.</exception>
    /// <exception cref="MLArrayNotSupportedException">A datatype with no supported element type.</exception>
    public static NiftiReader Open(string path, MedicalReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        MedicalIO.RequireFile(path);
        options ??= MedicalReadOptions.Default;
        (string headerPath, string? dataPath) = ResolvePair(path);

        NiftiHeader header;
        Stream? hs = null;
        Stream? ds = null;
        try
        {
            hs = MedicalIO.OpenRead(headerPath);
            bool hgz = IsGzip(hs);
            if (hgz)
            {
                hs = MedicalIO.Gunzip(hs);
            }

            byte[] hb = new byte[540];
            int got = ReadHeaderBytes(hs, hb, headerPath);
            header = NiftiHeader.Parse(hb.AsSpan(0, got), headerPath);
            long pos = header.SizeOfHdr;
            if (got > pos)
            {
                // We read 540 bytes for a 348-byte header: the rest is the extender and extension bytes. Push back.
                hs = new PrefixStream(hb.AsMemory((int)pos, got - (int)pos), hs);
            }

            bool single = dataPath is null;
            long voxOffset = (long)header.VoxOffset;
            long minOffset = header.SizeOfHdr + 4;
            if (single && voxOffset < minOffset)
            {
                voxOffset = minOffset; // nibabel: "vox offset too low for single file nifti; setting to minimum"
            }

            ReadExtensions(hs, header, single ? voxOffset - header.SizeOfHdr : long.MaxValue, headerPath, options.MaxDataBytes, ref pos);

            (DType dtype, int channels) = NiftiDataType.ToDType(header.DataType, headerPath);
            long count = MedicalIO.Product(header.FileShape, headerPath, "dim");
            long bytes = MedicalIO.CheckedBytes(count, dtype.ItemSize * channels, headerPath, options.MaxDataBytes);
            int swap = header.IsLittleEndian ? 1 : dtype.SwapSize; // complex: each part

            bool dgz;
            string dfile;
            if (single)
            {
                hs.Dispose();
                hs = null;
                dfile = headerPath;
                ds = MedicalIO.OpenRead(headerPath);
                dgz = hgz;
            }
            else
            {
                hs.Dispose();
                hs = null;
                dfile = dataPath!;
                ds = MedicalIO.OpenRead(dfile);
                dgz = IsGzip(ds);
                if (!single)
                {
                    voxOffset = (long)header.VoxOffset;
                }
            }

            if (!dgz)
            {
                long len = ds.Length;
                if (voxOffset > len)
                {
                    throw new MLArrayFormatException($"{dfile}: vox_offset {voxOffset} is beyond the end of the file ({len} bytes).");
                }

                if (len - voxOffset < bytes)
                {
                    throw new MLArrayFormatException(
                        $"{dfile}: data file too short: the header declares {bytes} bytes of voxel data at offset {voxOffset} " +
                        $"({MedicalIO.FormatShape(header.FileShape)} × {dtype.ItemSize * channels} bytes) but the file has {len - voxOffset}.");
                }

                ds.Seek(voxOffset, SeekOrigin.Begin);
            }
            else
            {
                ds = MedicalIO.Gunzip(ds);
                long skipped;
                try
                {
                    skipped = MedicalIO.Skip(ds, voxOffset);
                }
                catch (InvalidDataException e)
                {
                    throw new MLArrayFormatException($"{dfile}: corrupt gzip data before the voxels: {e.Message}", e);
                }

                if (skipped < voxOffset)
                {
                    throw new MLArrayFormatException(
                        $"{dfile}: vox_offset {voxOffset} is beyond the end of the decompressed file ({skipped} bytes; truncated .gz?).");
                }
            }

            var pump = new VoxelPump(ds, bytes, swap, dfile, dgz);
            ds = null;
            return new NiftiReader(headerPath, dfile, header, dtype, channels, pump, dgz);
        }
        finally
        {
            hs?.Dispose();
            ds?.Dispose();
        }
    }

    /// <summary>Reads only the header (and extensions) of a NIfTI file.</summary>
    /// <param name="path">The file.</param>
    /// <param name="options">Limits, or null.</param>
    /// <returns>The header.</returns>
    public static NiftiHeader ReadHeader(string path, MedicalReadOptions? options = null)
    {
        using NiftiReader r = Open(path, options);
        return r.Header;
    }

    /// <summary>
    /// Reads the next <paramref name="destination"/>.Length bytes of voxel data (file order, little-endian). Calls may
    /// be repeated to stream a large image in slabs; each must cover whole elements.
    /// </summary>
    /// <param name="destination">Where to write; its length must not exceed the bytes remaining.</param>
    /// <exception cref="MLArrayFormatException">The data ends early or the compressed stream is corrupt.</exception>
    public void ReadData(Span<byte> destination) => _pump.Read(destination);

    /// <summary>Reads all (remaining) voxel data into a new array.</summary>
    /// <returns>The bytes, file order, little-endian.</returns>
    /// <exception cref="MLArrayNotSupportedException">More than <see cref="Array.MaxLength"/> bytes: use <see cref="ReadData(Span{byte})"/> in slabs.</exception>
    public byte[] ReadData()
    {
        long n = DataBytes - Position;
        if (n > Array.MaxLength)
        {
            throw new MLArrayNotSupportedException(
                $"{DataPath}: {n} bytes of voxel data do not fit one .NET array; read it in slabs with ReadData(Span<byte>).");
        }

        byte[] buf = GC.AllocateUninitializedArray<byte>((int)n);
        _pump.Read(buf);
        return buf;
    }

    /// <summary>Reads the whole image.</summary>
    /// <returns>The image.</returns>
    public NiftiImage ReadImage() => new(Header, DType, Channels, ReadData());

    /// <inheritdoc/>
    public void Dispose() => _pump.Dispose();

    // ------------------------------------------------------------------ helpers

    private static bool IsGzip(Stream s)
    {
        Span<byte> m = stackalloc byte[2];
        int n = MedicalIO.ReadUpTo(s, m);
        s.Seek(0, SeekOrigin.Begin);
        return n == 2 && m[0] == 0x1f && m[1] == 0x8b;
    }

    private static int ReadHeaderBytes(Stream s, byte[] buf, string file)
    {
        try
        {
            // Read 348 first: a NIfTI-1 pair header may be exactly 348 bytes long.
            int got = MedicalIO.ReadUpTo(s, buf.AsSpan(0, 348));
            if (got == 348 && BinaryPrimitives.ReadInt32LittleEndian(buf) is not 348 && BinaryPrimitives.ReadInt32BigEndian(buf) is not 348)
            {
                got += MedicalIO.ReadUpTo(s, buf.AsSpan(348, 540 - 348));
            }

            return got;
        }
        catch (InvalidDataException e)
        {
            throw new MLArrayFormatException($"{file}: corrupt gzip stream in the header: {e.Message}", e);
        }
        catch (EndOfStreamException e)
        {
            throw new MLArrayFormatException($"{file}: truncated gzip stream in the header.", e);
        }
    }

    private static void ReadExtensions(Stream s, NiftiHeader h, long room, string file, long maxBytes, ref long pos)
    {
        // room = bytes available after the header for extender + extensions (vox_offset - sizeof_hdr for single files).
        Span<byte> ext = stackalloc byte[4];
        if (room < 4)
        {
            return;
        }

        int n;
        try
        {
            n = MedicalIO.ReadUpTo(s, ext);
        }
        catch (InvalidDataException e)
        {
            throw new MLArrayFormatException($"{file}: corrupt gzip stream after the header: {e.Message}", e);
        }

        pos += n;
        if (n < 4 || ext[0] == 0)
        {
            return;
        }

        long left = room - 4;
        Span<byte> eh = stackalloc byte[8];
        while (left >= 8)
        {
            int k = MedicalIO.ReadUpTo(s, eh);
            if (k == 0)
            {
                break;
            }

            if (k < 8)
            {
                throw new MLArrayFormatException($"{file}: truncated NIfTI extension header at byte {pos}.");
            }

            int esize = h.IsLittleEndian ? BinaryPrimitives.ReadInt32LittleEndian(eh) : BinaryPrimitives.ReadInt32BigEndian(eh);
            int ecode = h.IsLittleEndian ? BinaryPrimitives.ReadInt32LittleEndian(eh[4..]) : BinaryPrimitives.ReadInt32BigEndian(eh[4..]);
            if (esize < 8 || esize > left)
            {
                throw new MLArrayFormatException(
                    $"{file}: invalid NIfTI extension at byte {pos}: esize {esize} (must be at least 8 and fit before the data, {left} bytes left).");
            }

            if (esize - 8 > maxBytes)
            {
                throw new MLArrayFormatException(
                    $"{file}: NIfTI extension (ecode {ecode}) at byte {pos} declares {esize - 8} bytes, more than the limit of {maxBytes} bytes " +
                    "(MedicalReadOptions.MaxDataBytes).");
            }

            // esize is bounded by vox_offset, which the header also declares: read in pieces so that memory follows
            // the bytes actually present (a 360-byte file declaring a 2 GB extension allocated 2 GB; found by fuzzing).
            byte[] data = ReadPresent(s, esize - 8, out int got);
            if (got < esize - 8)
            {
                throw new MLArrayFormatException($"{file}: truncated NIfTI extension (ecode {ecode}) at byte {pos}: {got} of {esize - 8} bytes.");
            }

            h.Extensions.Add(new NiftiExtension(ecode, data));
            pos += esize;
            left -= esize;
        }
    }

    /// <summary>Reads up to <paramref name="length"/> bytes, allocating no more than what the stream holds (plus 1 MiB).</summary>
    private static byte[] ReadPresent(Stream s, int length, out int got)
    {
        const int Piece = 1 << 20;
        if (length <= Piece)
        {
            byte[] small = new byte[length];
            got = MedicalIO.ReadUpTo(s, small);
            return small;
        }

        using var ms = new MemoryStream();
        byte[] buffer = new byte[Piece];
        while (ms.Length < length)
        {
            int want = (int)Math.Min(Piece, length - ms.Length);
            int k = MedicalIO.ReadUpTo(s, buffer.AsSpan(0, want));
            ms.Write(buffer, 0, k);
            if (k < want)
            {
                break;
            }
        }

        got = (int)ms.Length;
        return got == length ? ms.ToArray() : [];
    }

    private static (string Header, string? Data) ResolvePair(string path)
    {
        if (MedicalFormats.NiftiPair(path) is not (string stem, bool gzipped))
        {
            return (path, null);
        }

        string gz = gzipped ? ".gz" : "";
        string alt = gz.Length == 0 ? ".gz" : "";
        string Pick(string ext)
        {
            string up = ext.ToUpperInvariant();
            foreach (string cand in (string[])[stem + ext + gz, stem + ext + alt, stem + up + gz.ToUpperInvariant(), stem + up + alt.ToUpperInvariant()])
            {
                if (File.Exists(cand))
                {
                    return cand;
                }
            }

            return stem + ext + gz;
        }

        string hdr = Pick(".hdr");
        string img = Pick(".img");
        if (!File.Exists(hdr))
        {
            throw new MLArrayFormatException($"{path}: NIfTI pair header not found (looked for {hdr}).");
        }

        if (!File.Exists(img))
        {
            throw new MLArrayFormatException($"{hdr}: missing image file: the NIfTI pair's data file {img} does not exist.");
        }

        return (hdr, img);
    }

    /// <summary>A stream that first returns some buffered bytes, then the inner stream.</summary>
    private sealed class PrefixStream(ReadOnlyMemory<byte> prefix, Stream inner) : ForwardReadStream
    {
        private ReadOnlyMemory<byte> _prefix = prefix;

        public override int Read(Span<byte> buffer)
        {
            if (!_prefix.IsEmpty)
            {
                int n = Math.Min(buffer.Length, _prefix.Length);
                _prefix.Span[..n].CopyTo(buffer);
                _prefix = _prefix[n..];
                return n;
            }

            return inner.Read(buffer);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
