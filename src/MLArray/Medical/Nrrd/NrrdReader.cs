using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using ICSharpCode.SharpZipLib.BZip2;
using MLArray.Blosc2;

namespace MLArray.Medical.Nrrd;

/// <summary>
/// An open NRRD image: attached (<c>.nrrd</c>) or detached (<c>.nhdr</c> + the file its <c>data file</c> field names,
/// relative to the header's folder). Encodings raw, gzip, bzip2, ascii/text and hex; either endianness;
/// <c>line skip</c> and <c>byte skip</c> (including -1, "the data are the last bytes"). <see cref="Open"/> parses and
/// checks the header; <see cref="ReadData(Span{byte})"/> streams the voxels, little-endian, in file order (axis 0
/// fastest) — as a C-order array of shape <see cref="Shape"/> = <c>sizes</c> reversed.
/// </summary>
internal sealed class NrrdReader : IDisposable
{
    private const int MaxHeaderBytes = 16 << 20;
    private static readonly System.Buffers.SearchValues<char> InvalidPathChars = System.Buffers.SearchValues.Create(Path.GetInvalidPathChars());
    private readonly VoxelPump _pump;

    private NrrdReader(string headerPath, string dataPath, NrrdHeader header, DType dtype, VoxelPump pump)
    {
        HeaderPath = headerPath;
        DataPath = dataPath;
        Header = header;
        DType = dtype;
        _pump = pump;
        FileShape = header.Sizes;
        Shape = MedicalAxisOrder.ReverseShape(FileShape);
    }

    /// <summary>The header file.</summary>
    public string HeaderPath { get; }

    /// <summary>The data file (the header file when attached).</summary>
    public string DataPath { get; }

    /// <summary>The parsed header.</summary>
    public NrrdHeader Header { get; }

    /// <summary>The element type of the returned data (little-endian).</summary>
    public DType DType { get; }

    /// <summary><c>sizes</c>: the shape in file order, axis 0 fastest.</summary>
    public long[] FileShape { get; }

    /// <summary>The C-order shape of the returned data: <see cref="FileShape"/> reversed.</summary>
    public long[] Shape { get; }

    /// <summary>Total bytes of voxel data.</summary>
    public long DataBytes => _pump.TotalBytes;

    /// <summary>Bytes already returned.</summary>
    public long Position => _pump.Position;

    /// <summary>Opens a NRRD file and positions the data stream at the first voxel.</summary>
    /// <param name="path">A <c>.nrrd</c> or <c>.nhdr</c> file.</param>
    /// <param name="options">Limits, or null.</param>
    /// <returns>The open reader; dispose it.</returns>
    /// <exception cref="FileNotFoundException"><paramref name="path"/> does not exist.</exception>
    /// <exception cref="MLArrayFormatException">Not NRRD, missing required fields, invalid values, a data file path escaping
    /// the header's folder, data too short.</exception>
    /// <exception cref="MLArrayNotSupportedException">Type <c>block</c>, an unknown encoding, multi-file data.</exception>
    public static NrrdReader Open(string path, MedicalReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        MedicalIO.RequireFile(path);
        options ??= MedicalReadOptions.Default;
        (NrrdHeader h, long dataStart) = ReadHeader(path);

        foreach (string req in (string[])["type", "dimension", "sizes", "encoding"])
        {
            if (!h.Fields.ContainsKey(req))
            {
                throw new MLArrayFormatException($"{path}: NRRD header is missing the required field '{req}'.");
            }
        }

        DType dtype = NrrdTypes.Parse((string)h.Fields["type"], path);
        long[] sizes = h.Sizes;
        if (sizes.Length != h.Dimension)
        {
            throw new MLArrayFormatException($"{path}: 'sizes' has {sizes.Length} values but 'dimension' is {h.Dimension}.");
        }

        if (h.Dimension < 1)
        {
            throw new MLArrayFormatException($"{path}: invalid 'dimension' {h.Dimension}.");
        }

        for (int i = 0; i < sizes.Length; i++)
        {
            if (sizes[i] <= 0)
            {
                throw new MLArrayFormatException($"{path}: invalid size {sizes[i]} for axis {i} (sizes must be at least 1).");
            }
        }

        string enc = h.Encoding;
        if (enc is not ("raw" or "gzip" or "bzip2" or "ascii" or "hex"))
        {
            throw new MLArrayNotSupportedException($"{path}: NRRD encoding '{h.Fields["encoding"]}' is not supported (raw, gzip, bzip2, ascii/text, hex are).");
        }

        string? endian = h.Endian?.ToLowerInvariant();
        if (dtype.ItemSize > 1 && enc != "ascii")
        {
            if (endian is null)
            {
                throw new MLArrayFormatException($"{path}: NRRD header is missing the required field 'endian' (needed for {h.Fields["type"]} data in {enc} encoding).");
            }

            if (endian is not ("little" or "big"))
            {
                throw new MLArrayFormatException($"{path}: invalid 'endian' value '{h.Endian}' (little or big).");
            }
        }

        long byteSkip = h.ByteSkip;
        if (byteSkip < -1)
        {
            throw new MLArrayFormatException($"{path}: invalid 'byte skip' {byteSkip}: byte skip < -1 is invalid (-1 means the data are the last bytes).");
        }

        if (byteSkip == -1 && enc is ("ascii" or "hex"))
        {
            throw new MLArrayFormatException($"{path}: 'byte skip: -1' is only valid with raw, gzip or bzip2 encoding, not {enc}.");
        }

        long lineSkip = h.LineSkip;
        if (lineSkip < 0)
        {
            throw new MLArrayFormatException($"{path}: invalid 'line skip' {lineSkip}.");
        }

        long count = MedicalIO.Product(sizes, path, "sizes");
        long bytes = MedicalIO.CheckedBytes(count, dtype.ItemSize, path, options.MaxDataBytes);
        string dataPath = ResolveDataFile(path, h, out bool detached);
        long start = detached ? 0 : dataStart;
        int swap = dtype.ItemSize > 1 && enc != "ascii" && endian == "big" ? dtype.ItemSize : 1;

        Stream? s = null;
        try
        {
            s = OpenAt(dataPath, start, lineSkip, out long afterLines);
            Stream data;
            bool compressed = enc is "gzip" or "bzip2";
            switch (enc)
            {
                case "raw":
                {
                    long len = s.Length;
                    long pos = byteSkip == -1 ? len - bytes : afterLines + byteSkip;
                    if (len - pos < bytes || pos < afterLines)
                    {
                        long available = Math.Max(0, len - (byteSkip == -1 ? afterLines : pos));
                        throw new MLArrayFormatException(
                            $"{dataPath}: data file too short: {bytes} bytes of voxel data ({MedicalIO.FormatShape(sizes)} × {dtype.ItemSize}) " +
                            $"are declared{(byteSkip > 0 ? $" after a byte skip of {byteSkip}" : "")}, but only {available} bytes follow the header and skips.");
                    }

                    s.Seek(pos, SeekOrigin.Begin);
                    data = s;
                    break;
                }

                case "gzip":
                case "bzip2":
                {
                    Stream compressedData = s;
                    data = Guard(() => Decompressor(compressedData, enc), dataPath, enc);
                    long skip = byteSkip;
                    if (byteSkip == -1)
                    {
                        // Find the decompressed length first (a second pass: keeps memory at one buffer).
                        long total;
                        FileStream again = OpenAt(dataPath, start, lineSkip, out _);
                        Stream c;
                        try
                        {
                            c = Guard(() => Decompressor(again, enc), dataPath, enc);
                        }
                        catch
                        {
                            again.Dispose();
                            throw;
                        }

                        using (c)
                        {
                            total = Guard(() => MedicalIO.CountToEnd(c, options.MaxDataBytes + (64L << 20)), dataPath, enc);
                        }

                        if (total < bytes)
                        {
                            throw new MLArrayFormatException($"{dataPath}: data file too short: the decompressed data has {total} bytes, {bytes} declared.");
                        }

                        skip = total - bytes;
                    }

                    long skipped = Guard(() => MedicalIO.Skip(data, skip), dataPath, enc);
                    if (skipped < skip)
                    {
                        throw new MLArrayFormatException($"{dataPath}: data file too short: byte skip {skip} goes past the end of the decompressed data ({skipped} bytes).");
                    }

                    break;
                }

                case "ascii":
                    MedicalIO.Skip(s, byteSkip);
                    data = new AsciiValueStream(s, dtype, dataPath);
                    break;
                default: // hex
                    MedicalIO.Skip(s, byteSkip);
                    data = new HexStream(s, dataPath);
                    break;
            }

            var pump = new VoxelPump(data, bytes, swap, dataPath, compressed, requireEnd: compressed);
            s = null;
            return new NrrdReader(path, dataPath, h, dtype, pump);
        }
        finally
        {
            s?.Dispose();
        }
    }

    /// <summary>Reads the next <paramref name="destination"/>.Length bytes (whole elements), little-endian.</summary>
    /// <param name="destination">The buffer.</param>
    /// <exception cref="MLArrayFormatException">The data ends early, is corrupt, or (compressed) is longer than declared.</exception>
    public void ReadData(Span<byte> destination) => _pump.Read(destination);

    /// <summary>Reads all remaining voxel data.</summary>
    /// <returns>The bytes, file order, little-endian.</returns>
    public byte[] ReadData()
    {
        long n = DataBytes - Position;
        if (n > Array.MaxLength)
        {
            throw new MLArrayNotSupportedException($"{DataPath}: {n} bytes do not fit one .NET array; read in slabs with ReadData(Span<byte>).");
        }

        byte[] b = GC.AllocateUninitializedArray<byte>((int)n);
        _pump.Read(b);
        return b;
    }

    /// <summary>Reads the whole image.</summary>
    /// <returns>The image.</returns>
    public NrrdImage ReadImage() => new(Header, DType, ReadData());

    /// <inheritdoc/>
    public void Dispose() => _pump.Dispose();

    // ------------------------------------------------------------------ helpers

    private static T Guard<T>(Func<T> f, string file, string enc)
    {
        try
        {
            return f();
        }
        catch (InvalidDataException e)
        {
            throw new MLArrayFormatException($"{file}: corrupt {enc} data: {e.Message}", e);
        }
        catch (ICSharpCode.SharpZipLib.SharpZipBaseException e)
        {
            throw new MLArrayFormatException($"{file}: corrupt {enc} data: {e.Message}", e);
        }
        catch (EndOfStreamException e)
        {
            throw new MLArrayFormatException($"{file}: {enc} stream ends early (truncated).", e);
        }
    }

    // The bzip2 stream reads and checks its first block in its constructor: call it under Guard.
    private static Stream Decompressor(Stream s, string enc)
    {
        if (enc == "gzip")
        {
            return MedicalIO.Gunzip(s);
        }

        try
        {
            return new Bzip2Stream(new BZip2InputStream(s) { IsStreamOwner = true });
        }
        catch (IndexOutOfRangeException e)
        {
            throw Bzip2Stream.Corrupt(e);
        }
    }

    /// <summary>
    /// SharpZipLib's bzip2 decoder indexes its tables with values from the stream and throws
    /// <see cref="IndexOutOfRangeException"/> on some corrupt streams (found by fuzzing, see fuzz/README.md): this
    /// wrapper turns that into the <see cref="InvalidDataException"/> that Guard and the voxel pump report as corrupt data.
    /// </summary>
    private sealed class Bzip2Stream(Stream inner) : ForwardReadStream
    {
        public static InvalidDataException Corrupt(Exception e) => new("bzip2 data is corrupt (a code outside the decoder's tables)", e);

        public override int Read(Span<byte> buffer)
        {
            try
            {
                return inner.Read(buffer);
            }
            catch (IndexOutOfRangeException e)
            {
                throw Corrupt(e);
            }
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

    /// <summary>Opens a file at <paramref name="start"/> and skips <paramref name="lines"/> lines.</summary>
    private static FileStream OpenAt(string path, long start, long lines, out long position)
    {
        var fs = (FileStream)MedicalIO.OpenRead(path);
        fs.Seek(Math.Min(start, fs.Length), SeekOrigin.Begin);
        for (long i = 0; i < lines; i++)
        {
            int b;
            while ((b = fs.ReadByte()) >= 0 && b != '\n')
            {
            }

            if (b < 0)
            {
                fs.Dispose();
                throw new MLArrayFormatException($"{path}: data file too short: 'line skip: {lines}' goes past the end of the file.");
            }
        }

        position = fs.Position;
        return fs;
    }

    private static string ResolveDataFile(string headerPath, NrrdHeader h, out bool detached)
    {
        string? df = h.DataFile;
        detached = df is not null;
        if (df is null)
        {
            return headerPath;
        }

        string[] parts = df.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            throw new MLArrayFormatException($"{headerPath}: empty 'data file' field.");
        }

        if (parts[0] == "LIST" || parts.Length > 1)
        {
            throw new MLArrayNotSupportedException($"{headerPath}: multi-file NRRD data ('data file: {df}') is not supported; only a single data file is.");
        }

        string name = df.Trim();
        if (name.AsSpan().IndexOfAny(InvalidPathChars) >= 0)
        {
            throw new MLArrayFormatException($"{headerPath}: 'data file' contains a character that is not valid in a file name (such as NUL); name a file inside the header's folder.");
        }

        string dir = Path.GetDirectoryName(Path.GetFullPath(headerPath)) ?? ".";
        if (Path.IsPathRooted(name) || name.StartsWith('~'))
        {
            throw new MLArrayFormatException($"{headerPath}: 'data file' {name} is an absolute path; a detached header may only name a file inside its own folder.");
        }

        string full = Path.GetFullPath(Path.Combine(dir, name));
        string root = dir.EndsWith(Path.DirectorySeparatorChar) ? dir : dir + Path.DirectorySeparatorChar;
        if (!full.StartsWith(root, StringComparison.Ordinal))
        {
            throw new MLArrayFormatException($"{headerPath}: 'data file' {name} escapes the header's folder ({dir}); refusing to read {full}.");
        }

        if (!File.Exists(full))
        {
            throw new MLArrayFormatException($"{headerPath}: the data file {name} does not exist ({full}).");
        }

        return full;
    }

    private static (NrrdHeader Header, long DataStart) ReadHeader(string path)
    {
        using Stream raw = MedicalIO.OpenRead(path);
        using var bs = new BufferedStream(raw, 1 << 16);
        var h = new NrrdHeader();
        long pos = 0;
        var line = new List<byte>(256);
        bool first = true;
        while (true)
        {
            line.Clear();
            int b;
            bool eof = false;
            while (true)
            {
                b = bs.ReadByte();
                if (b < 0)
                {
                    eof = true;
                    break;
                }

                pos++;
                if (b == '\n')
                {
                    break;
                }

                line.Add((byte)b);
                if (pos > MaxHeaderBytes)
                {
                    throw new MLArrayFormatException($"{path}: NRRD header longer than {MaxHeaderBytes} bytes without the blank line that ends it.");
                }
            }

            if (line.Count > 0 && line[^1] == '\r')
            {
                line.RemoveAt(line.Count - 1);
            }

            string text = Encoding.UTF8.GetString(line.ToArray());
            if (first)
            {
                if (!text.StartsWith("NRRD000", StringComparison.Ordinal) || text.Length != 8 || !char.IsAsciiDigit(text[7]))
                {
                    throw new MLArrayFormatException($"{path}: not a NRRD file: the first line is not a magic 'NRRD000X'.");
                }

                h.Magic = text;
                first = false;
            }
            else if (text.Length == 0)
            {
                return (h, pos);
            }
            else
            {
                h.ParseLine(text, path);
            }

            if (eof)
            {
                return (h, pos);
            }
        }
    }

    /// <summary>Turns whitespace-separated numbers into little-endian elements of a dtype.</summary>
    private sealed class AsciiValueStream(Stream inner, DType dtype, string file) : ForwardReadStream
    {
        private readonly byte[] _pending = new byte[8];
        private int _pendingStart;
        private int _pendingEnd;
        private readonly StringBuilder _token = new();
        private long _index;

        public override int Read(Span<byte> buffer)
        {
            int written = 0;
            while (written < buffer.Length)
            {
                if (_pendingStart < _pendingEnd)
                {
                    int n = Math.Min(buffer.Length - written, _pendingEnd - _pendingStart);
                    _pending.AsSpan(_pendingStart, n).CopyTo(buffer[written..]);
                    _pendingStart += n;
                    written += n;
                    continue;
                }

                string? tok = NextToken();
                if (tok is null)
                {
                    break;
                }

                Encode(tok);
            }

            return written;
        }

        private string? NextToken()
        {
            _token.Clear();
            int b;
            while ((b = inner.ReadByte()) >= 0)
            {
                if (b is ' ' or '\t' or '\n' or '\r' or ',')
                {
                    if (_token.Length > 0)
                    {
                        break;
                    }

                    continue;
                }

                _token.Append((char)b);
            }

            return _token.Length > 0 ? _token.ToString() : null;
        }

        private void Encode(string t)
        {
            Span<byte> p = _pending;
            try
            {
                switch (dtype.Code)
                {
                    case DTypeCode.Float32: BinaryPrimitives.WriteSingleLittleEndian(p, (float)NrrdHeader.ParseDouble(t)); break;
                    case DTypeCode.Float64: BinaryPrimitives.WriteDoubleLittleEndian(p, NrrdHeader.ParseDouble(t)); break;
                    case DTypeCode.UInt64: BinaryPrimitives.WriteUInt64LittleEndian(p, ulong.Parse(t, NumberStyles.Integer, CultureInfo.InvariantCulture)); break;
                    default:
                        long v = long.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out long l) ? l : checked((long)NrrdHeader.ParseDouble(t));
                        switch (dtype.Code)
                        {
                            case DTypeCode.Int8: p[0] = (byte)checked((sbyte)v); break;
                            case DTypeCode.UInt8: p[0] = checked((byte)v); break;
                            case DTypeCode.Int16: BinaryPrimitives.WriteInt16LittleEndian(p, checked((short)v)); break;
                            case DTypeCode.UInt16: BinaryPrimitives.WriteUInt16LittleEndian(p, checked((ushort)v)); break;
                            case DTypeCode.Int32: BinaryPrimitives.WriteInt32LittleEndian(p, checked((int)v)); break;
                            case DTypeCode.UInt32: BinaryPrimitives.WriteUInt32LittleEndian(p, checked((uint)v)); break;
                            default: BinaryPrimitives.WriteInt64LittleEndian(p, v); break;
                        }

                        break;
                }
            }
            catch (Exception e) when (e is FormatException or OverflowException)
            {
                throw new MLArrayFormatException($"{file}: ascii value #{_index} '{t}' is not a valid {dtype}.", e);
            }

            _index++;
            _pendingStart = 0;
            _pendingEnd = dtype.ItemSize;
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

    /// <summary>Turns pairs of hex digits (whitespace ignored) into bytes.</summary>
    private sealed class HexStream(Stream inner, string file) : ForwardReadStream
    {
        private long _digits;

        public override int Read(Span<byte> buffer)
        {
            int n = 0;
            while (n < buffer.Length)
            {
                int hi = NextDigit();
                if (hi < 0)
                {
                    break;
                }

                int lo = NextDigit();
                if (lo < 0)
                {
                    throw new MLArrayFormatException($"{file}: odd number of hex digits in the data.");
                }

                buffer[n++] = (byte)((hi << 4) | lo);
            }

            return n;
        }

        private int NextDigit()
        {
            int b;
            while ((b = inner.ReadByte()) >= 0)
            {
                if (b is ' ' or '\t' or '\n' or '\r')
                {
                    continue;
                }

                _digits++;
                int v = b switch
                {
                    >= '0' and <= '9' => b - '0',
                    >= 'a' and <= 'f' => b - 'a' + 10,
                    >= 'A' and <= 'F' => b - 'A' + 10,
                    _ => -1,
                };
                if (v < 0)
                {
                    throw new MLArrayFormatException($"{file}: invalid character '{(char)b}' in hex data (digit #{_digits}).");
                }

                return v;
            }

            return -1;
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
