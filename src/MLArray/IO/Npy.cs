using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using MLArray.Blosc2;
using MLArray.Kernels;

namespace MLArray.IO;

/// <summary>
/// The header of a NumPy <c>.npy</c> file, as declared by the file (nothing normalised).
/// </summary>
/// <param name="Descr">
/// The <c>descr</c> entry exactly as written in the file: a dtype string such as <c>'&lt;f8'</c> or <c>'&gt;i4'</c>,
/// or, for a structured dtype, the Python literal of its field list (e.g. <c>[('a', '&lt;i4'), ('b', '&lt;f8')]</c>).
/// </param>
/// <param name="FortranOrder">True when the data is stored in Fortran (column-major) order.</param>
/// <param name="Shape">The dimensions; empty for a 0-d (scalar) array.</param>
/// <param name="Version">The major format version: 1, 2 or 3.</param>
/// <param name="DataOffset">
/// Where the array data starts, in bytes from the start of the <c>.npy</c> content
/// (the stream position at which reading began).
/// </param>
public sealed record NpyHeader(string Descr, bool FortranOrder, long[] Shape, int Version, long DataOffset);

/// <summary>
/// An N-dimensional array read from or to be written to a <c>.npy</c> file: a normalised dtype, a shape and the
/// raw items in C (row-major) order, numbers in the machine's (little-endian) byte order.
/// </summary>
public sealed class NpyArray
{
    /// <summary>
    /// Creates an array. <paramref name="dtype"/> must be one of the supported little-endian dtype strings
    /// (<c>|b1 |i1 |u1 &lt;i2 &lt;u2 &lt;i4 &lt;u4 &lt;i8 &lt;u8 &lt;f2 &lt;f4 &lt;f8 &lt;c8 &lt;c16</c>) or an opaque
    /// fixed-size dtype (<c>|S8</c>, <c>&lt;U4</c>, <c>|V12</c>, a structured field list; its bytes are kept as they
    /// are), <paramref name="data"/> holds the items in C order, little-endian, and its length must be the product of
    /// <paramref name="shape"/> times the item size. The shape is copied; the data buffer is not.
    /// </summary>
    /// <param name="dtype">The dtype string, e.g. <c>&lt;f4</c>.</param>
    /// <param name="shape">The dimensions (empty for a scalar); every dimension must be zero or more.</param>
    /// <param name="data">The items, C order, little-endian.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The dtype is not supported, a dimension is negative, or the data length does not match the shape.</exception>
    public NpyArray(string dtype, long[] shape, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(dtype);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        int itemSize = Npy.CanonicalItemSize(dtype);
        if (itemSize == 0)
        {
            throw new ArgumentException(
                $"dtype '{dtype}' is not supported by NpyArray; use one of {Npy.SupportedDTypesText} " +
                "(little-endian; 1-byte types use '|').", nameof(dtype));
        }

        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] < 0)
            {
                throw new ArgumentException(
                    $"shape {Npy.FormatShape(shape)} has a negative dimension {shape[i]} at axis {i}.", nameof(shape));
            }
        }

        if (!Npy.TryByteCount(shape, itemSize, out long count, out long bytes))
        {
            throw new ArgumentException($"shape {Npy.FormatShape(shape)} of '{dtype}' has more than 2^63 bytes.", nameof(shape));
        }

        if (bytes != data.LongLength)
        {
            throw new ArgumentException(
                $"data has {data.LongLength} bytes but shape {Npy.FormatShape(shape)} of '{dtype}' needs {bytes} bytes.", nameof(data));
        }

        DType = dtype;
        Shape = (long[])shape.Clone();
        Data = data;
        ItemSize = itemSize;
        ElementCount = count;
    }

    /// <summary>The normalised dtype string: a little-endian numeric dtype or an opaque one as the file spells it.</summary>
    public string DType { get; }

    /// <summary>
    /// True when the file this array was read from stored big-endian numbers (<c>&gt;</c>); <see cref="Data"/> holds
    /// them in the machine's order either way. A writer that wants to keep the file's byte order stores
    /// <c>DType.Parse(DType).AsBigEndian()</c>.
    /// </summary>
    public bool SourceIsBigEndian { get; init; }

    /// <summary>The dimensions (empty for a 0-d scalar).</summary>
    public long[] Shape { get; }

    /// <summary>The items in C (row-major) order, numbers little-endian.</summary>
    public byte[] Data { get; }

    /// <summary>The size of one item in bytes (1, 2, 4, 8 or 16 for numbers; any size for opaque dtypes).</summary>
    public int ItemSize { get; }

    /// <summary>The number of items: the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long ElementCount { get; }
}

/// <summary>
/// Reads and writes NumPy <c>.npy</c> files (format versions 1.0, 2.0 and 3.0) for the numeric dtypes
/// <c>|b1 |i1 |u1 &lt;i2 &lt;u2 &lt;i4 &lt;u4 &lt;i8 &lt;u8 &lt;f2 &lt;f4 &lt;f8 &lt;c8 &lt;c16</c> (big-endian variants are read and
/// converted) and opaque fixed-size dtypes (byte and unicode strings, void, structured; bytes kept as they are).
/// Arrays are always returned in C order with little-endian numbers.
/// </summary>
public static class Npy
{
    internal const string SupportedDTypesText = "|b1 |i1 |u1 <i2 <u2 <i4 <u4 <i8 <u8 <f2 <f4 <f8 <c8 <c16, |S<n> <U<n> |V<n> and structured dtypes";

    private const int MaxHeaderBytes = 16 * 1024 * 1024;
    private const int NonSeekableInitialChunk = 1 << 20;
    private const int ArrayAlign = 64;
    private const int GrowthAxisMaxDigits = 21;

    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>
    /// Reads and validates the header of a <c>.npy</c> stream and leaves the stream positioned at the start of the data.
    /// The dtype is not checked for support (see <see cref="Read(Stream, string?)"/>).
    /// </summary>
    /// <param name="stream">The stream, positioned at the start of the <c>.npy</c> content.</param>
    /// <param name="fileName">The file name used in error messages, if known.</param>
    /// <returns>The header.</returns>
    /// <exception cref="MLArrayFormatException">The magic string, the version, the header length or the header dictionary is invalid, or the stream is truncated.</exception>
    /// <exception cref="MLArrayNotSupportedException">The format version is newer than 3.0.</exception>
    public static NpyHeader ReadHeader(Stream stream, string? fileName = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return ReadHeaderCore(stream, fileName).Header;
    }

    /// <summary>Reads a whole <c>.npy</c> file into memory (C order, little-endian items).</summary>
    /// <param name="path">The file path.</param>
    /// <returns>The array.</returns>
    /// <exception cref="MLArrayFormatException">The file is corrupt or truncated.</exception>
    /// <exception cref="MLArrayNotSupportedException">The dtype is not supported, or the array exceeds the largest .NET byte array.</exception>
    public static NpyArray Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return Read(fs, path);
    }

    /// <summary>
    /// Reads a whole <c>.npy</c> array from a stream positioned at the start of the <c>.npy</c> content.
    /// Fortran-order data is transposed into C order and big-endian items are byte-swapped to little-endian;
    /// the dtype is normalised (<c>'?'</c> and <c>'&lt;b1'</c> become <c>'|b1'</c>, <c>'&lt;u1'</c> becomes
    /// <c>'|u1'</c>, <c>'&gt;i4'</c> and <c>'=i4'</c> become <c>'&lt;i4'</c>, ...). The declared size is checked
    /// against the stream length (when the stream can seek) before any data buffer is allocated.
    /// </summary>
    /// <param name="stream">The stream.</param>
    /// <param name="fileName">The file name used in error messages, if known.</param>
    /// <returns>The array.</returns>
    /// <exception cref="MLArrayFormatException">The stream is corrupt or truncated.</exception>
    /// <exception cref="MLArrayNotSupportedException">The dtype is not supported, or the array exceeds the largest .NET byte array.</exception>
    public static NpyArray Read(Stream stream, string? fileName = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        (NpyHeader header, bool structured) = ReadHeaderCore(stream, fileName);
        string where = Where(fileName);
        DTypeInfo dt = structured
            ? (MLArray.DType.TryParse(header.Descr, out var sd) ? new DTypeInfo(header.Descr, sd.ItemSize, 1)
                : throw Unsupported(where, header.Descr, "structured (record) dtype with fields this reader cannot size"))
            : ResolveDType(header.Descr, where);

        if (!TryByteCount(header.Shape, dt.ItemSize, out _, out long total))
        {
            throw new MLArrayFormatException(
                $"{where}: the header declares shape {FormatShape(header.Shape)} of '{header.Descr}', more than 2^63 bytes; " +
                "the header is corrupt. Re-create the file (e.g. with numpy.save).");
        }

        if (stream.CanSeek)
        {
            long remaining = stream.Length - stream.Position;
            if (total > remaining)
            {
                throw Truncated(where, header, total, Math.Max(0, remaining));
            }
        }

        if (total > Array.MaxLength)
        {
            throw new MLArrayNotSupportedException(
                $"{where}: not supported: the array of shape {FormatShape(header.Shape)} '{header.Descr}' has {total} bytes, " +
                $"more than the largest .NET byte array ({Array.MaxLength} bytes). Split the array into smaller files.");
        }

        byte[] data = ReadData(stream, (int)total, where, header);
        if (dt.SwapSize > 1)
        {
            ByteOrder.SwapInPlace(data, dt.SwapSize);
        }

        if (header.FortranOrder)
        {
            data = FortranToC(data, header.Shape, dt.ItemSize);
        }

        return new NpyArray(dt.Canonical, header.Shape, data) { SourceIsBigEndian = dt.SwapSize > 1 };
    }

    /// <summary>
    /// Writes an array as a <c>.npy</c> stream the way <c>numpy.save</c> does: format version 1.0 (2.0 if the header
    /// does not fit in 65535 bytes), C order, the header padded with spaces and ended with <c>'\n'</c> so that the
    /// data starts at a multiple of 64 bytes.
    /// </summary>
    /// <param name="stream">The writable stream.</param>
    /// <param name="array">The array.</param>
    public static void Write(Stream stream, NpyArray array)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(array);
        stream.Write(BuildHeader(array.DType, array.Shape));
        stream.Write(array.Data);
    }

    /// <summary>
    /// Writes an array to a <c>.npy</c> file (see <see cref="Write(Stream, NpyArray)"/>) atomically: the data goes to
    /// a temporary file in the same folder, which then replaces <paramref name="path"/>. On failure the temporary file
    /// is deleted and the existing file, if any, is left untouched.
    /// </summary>
    /// <param name="path">The destination file path.</param>
    /// <param name="array">The array.</param>
    public static void Write(string path, NpyArray array) => Write(path, array, null);

    /// <summary><see cref="Write(string, NpyArray)"/> through the given <see cref="AtomicFileSteps"/>.</summary>
    internal static void Write(string path, NpyArray array, AtomicFileSteps? steps)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(array);
        AtomicFile.Write(path, s => Write(s, array), steps);
    }

    /// <summary>
    /// Element and byte counts of a shape with non-negative dimensions (a zero dimension makes both 0 whatever the
    /// others are); false when either count overflows 64 bits.
    /// </summary>
    internal static bool TryByteCount(long[] shape, int itemSize, out long count, out long bytes)
    {
        count = 1;
        bytes = 0;
        if (Array.IndexOf(shape, 0L) >= 0)
        {
            count = 0;
            return true;
        }

        foreach (long d in shape)
        {
            if (d > long.MaxValue / count)
            {
                return false;
            }

            count *= d;
        }

        if (count > long.MaxValue / itemSize)
        {
            return false;
        }

        bytes = count * itemSize;
        return true;
    }

    // ------------------------------------------------------------------ header writing

    internal static byte[] BuildHeader(string descr, long[] shape)
    {
        var sb = new StringBuilder(128);
        // A structured dtype's descr is a Python list literal, written unquoted (as numpy.save writes descr).
        string quoted = descr.StartsWith('[') ? descr : "'" + descr + "'";
        sb.Append("{'descr': ").Append(quoted).Append(", 'fortran_order': False, 'shape': ");
        sb.Append(FormatShape(shape)).Append(", }");
        if (shape.Length > 0)
        {
            // numpy >= 1.23 leaves room to grow the first axis in place.
            int digits = shape[0].ToString(CultureInfo.InvariantCulture).Length;
            sb.Append(' ', Math.Max(0, GrowthAxisMaxDigits - digits));
        }

        int hlen = sb.Length + 1; // + '\n'
        int version = 1;
        int prefix = Magic.Length + 2 + 2;
        int padlen = ArrayAlign - ((prefix + hlen) % ArrayAlign);
        if (hlen + padlen > ushort.MaxValue)
        {
            version = 2;
            prefix = Magic.Length + 2 + 4;
            padlen = ArrayAlign - ((prefix + hlen) % ArrayAlign);
        }

        sb.Append(' ', padlen).Append('\n');
        byte[] result = new byte[prefix + sb.Length];
        Magic.CopyTo(result);
        result[6] = (byte)version;
        result[7] = 0;
        if (version == 1)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(result.AsSpan(8), (ushort)sb.Length);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(result.AsSpan(8), (uint)sb.Length);
        }

        Encoding.ASCII.GetBytes(sb.ToString(), result.AsSpan(prefix));
        return result;
    }

    /// <summary>Python tuple literal of a shape: <c>()</c>, <c>(5,)</c>, <c>(3, 4, 5)</c>.</summary>
    internal static string FormatShape(long[] shape)
    {
        if (shape.Length == 1)
        {
            return "(" + shape[0].ToString(CultureInfo.InvariantCulture) + ",)";
        }

        return "(" + string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")";
    }

    // ------------------------------------------------------------------ header reading

    private static string Where(string? fileName) => fileName is null ? "The .npy stream" : $"'{fileName}'";

    private static (NpyHeader Header, bool Structured) ReadHeaderCore(Stream stream, string? fileName)
    {
        string where = Where(fileName);
        Span<byte> pre = stackalloc byte[12];
        int got = ReadAtMost(stream, pre[..8]);
        int cmp = Math.Min(got, Magic.Length);
        if (!pre[..cmp].SequenceEqual(Magic[..cmp]) || got == 0)
        {
            string found = Convert.ToHexString(pre[..Math.Min(got, 8)]);
            string hint = got >= 2 && pre[0] == (byte)'P' && pre[1] == (byte)'K'
                ? " It looks like a zip archive (.npz?): extract the .npy members first."
                : " Check that the file really is a NumPy .npy file (written by numpy.save).";
            throw new MLArrayFormatException(
                $"{where}: not a NumPy .npy file: it does not start with the magic string \\x93NUMPY " +
                $"(first bytes: {(got == 0 ? "none, the file is empty" : found)}).{hint}");
        }

        if (got < 8)
        {
            throw new MLArrayFormatException(
                $"{where}: truncated: the file ends after {got} bytes, inside the 10-byte .npy preamble. The file is incomplete; re-create it.");
        }

        int major = pre[6], minor = pre[7];
        int lenSize;
        if (minor == 0 && major == 1)
        {
            lenSize = 2;
        }
        else if (minor == 0 && major is 2 or 3)
        {
            lenSize = 4;
        }
        else if (major > 3)
        {
            throw new MLArrayNotSupportedException(
                $"{where}: not supported: .npy format version {major}.{minor}; this reader supports versions 1.0, 2.0 and 3.0. " +
                "Re-save the array with numpy.save using an older format version.");
        }
        else
        {
            throw new MLArrayFormatException(
                $"{where}: invalid .npy format version {major}.{minor} (expected 1.0, 2.0 or 3.0); the file is corrupt.");
        }

        if (ReadAtMost(stream, pre.Slice(8, lenSize)) < lenSize)
        {
            throw new MLArrayFormatException(
                $"{where}: truncated: the file ends inside the header length field. The file is incomplete; re-create it.");
        }

        long hlen = lenSize == 2
            ? BinaryPrimitives.ReadUInt16LittleEndian(pre[8..])
            : BinaryPrimitives.ReadUInt32LittleEndian(pre[8..]);
        if (hlen == 0)
        {
            throw new MLArrayFormatException($"{where}: the .npy header length is 0; the file is corrupt.");
        }

        if (stream.CanSeek)
        {
            long remaining = stream.Length - stream.Position;
            if (hlen > remaining)
            {
                throw new MLArrayFormatException(
                    $"{where}: truncated: the header length field declares {hlen} bytes but only {Math.Max(0, remaining)} bytes follow. " +
                    "The file is incomplete or corrupt; re-create it.");
            }
        }

        if (hlen > MaxHeaderBytes)
        {
            throw new MLArrayFormatException(
                $"{where}: the header length field declares {hlen} bytes, more than the {MaxHeaderBytes}-byte limit; the file is corrupt.");
        }

        byte[] headerBytes = new byte[hlen];
        int read = ReadAtMost(stream, headerBytes);
        if (read < hlen)
        {
            throw new MLArrayFormatException(
                $"{where}: truncated: the header length field declares {hlen} bytes but the file ends after {read}. " +
                "The file is incomplete; re-create it.");
        }

        string text;
        if (major == 3)
        {
            try
            {
                text = new UTF8Encoding(false, true).GetString(headerBytes);
            }
            catch (DecoderFallbackException e)
            {
                throw new MLArrayFormatException($"{where}: the version 3.0 header is not valid UTF-8; the file is corrupt.", e);
            }
        }
        else
        {
            text = Encoding.Latin1.GetString(headerBytes);
        }

        (string descr, bool structured, bool fortran, long[] shape) = ParseHeaderDict(text, where);
        return (new NpyHeader(descr, fortran, shape, major, 8 + lenSize + hlen), structured);
    }

    private static (string Descr, bool Structured, bool Fortran, long[] Shape) ParseHeaderDict(string text, string where)
    {
        var parser = new PyLiteralParser(text, where);
        Dictionary<string, (object? Value, string Raw)> dict = parser.ParseHeader();
        foreach (string key in dict.Keys)
        {
            if (key is not ("descr" or "fortran_order" or "shape"))
            {
                throw BadHeader(where, text, $"unexpected key '{key}' (a .npy header has exactly 'descr', 'fortran_order' and 'shape')");
            }
        }

        foreach (string key in (string[])["descr", "fortran_order", "shape"])
        {
            if (!dict.ContainsKey(key))
            {
                throw BadHeader(where, text, $"the key '{key}' is missing");
            }
        }

        (object? descrValue, string descrRaw) = dict["descr"];
        string descr;
        bool structured;
        if (descrValue is string s)
        {
            descr = s;
            structured = false;
        }
        else if (descrValue is PyList)
        {
            descr = descrRaw;
            structured = true;
        }
        else
        {
            throw BadHeader(where, text, $"'descr' is not a dtype descriptor: {descrRaw}");
        }

        if (dict["fortran_order"].Value is not bool fortran)
        {
            throw BadHeader(where, text, $"'fortran_order' is not True or False: {dict["fortran_order"].Raw}");
        }

        if (dict["shape"].Value is not PyTuple tuple)
        {
            throw BadHeader(where, text, $"'shape' is not a tuple of integers: {dict["shape"].Raw}");
        }

        long[] shape = new long[tuple.Items.Count];
        for (int i = 0; i < shape.Length; i++)
        {
            if (tuple.Items[i] is not long d)
            {
                throw BadHeader(where, text, $"'shape' is not a tuple of integers: {dict["shape"].Raw}");
            }

            if (d < 0)
            {
                throw BadHeader(where, text, $"'shape' {dict["shape"].Raw} has a negative dimension at axis {i}");
            }

            shape[i] = d;
        }

        return (descr, structured, fortran, shape);
    }

    private static MLArrayFormatException BadHeader(string where, string text, string what)
    {
        string shown = text.TrimEnd();
        if (shown.Length > 200)
        {
            shown = shown[..200] + "...";
        }

        return new MLArrayFormatException(
            $"{where}: invalid .npy header: {what}. Header text: \"{shown}\". The file is corrupt or was not written by NumPy; re-create it with numpy.save.");
    }

    private static MLArrayFormatException Truncated(string where, NpyHeader header, long declared, long available) =>
        new($"{where}: truncated: the header declares shape {FormatShape(header.Shape)} of '{header.Descr}' = {declared} data bytes, " +
            $"but only {available} bytes follow the header. The file is incomplete or corrupt; re-create it (e.g. with numpy.save).");

    private static int ReadAtMost(Stream stream, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = stream.Read(buffer[total..]);
            if (n <= 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }

    private static byte[] ReadData(Stream stream, int total, string where, NpyHeader header)
    {
        if (stream.CanSeek || total <= NonSeekableInitialChunk)
        {
            byte[] data = GC.AllocateUninitializedArray<byte>(total);
            int got = ReadAtMost(stream, data);
            if (got < total)
            {
                throw Truncated(where, header, total, got);
            }

            return data;
        }

        // Unknown length: grow geometrically so that a corrupt header declaring a huge size does not allocate it up front.
        byte[] buf = GC.AllocateUninitializedArray<byte>(NonSeekableInitialChunk);
        int filled = 0;
        while (true)
        {
            filled += ReadAtMost(stream, buf.AsSpan(filled));
            if (filled == total)
            {
                return buf;
            }

            if (filled < buf.Length)
            {
                throw Truncated(where, header, total, filled);
            }

            int next = (int)Math.Min(total, (long)buf.Length * 2);
            byte[] bigger = GC.AllocateUninitializedArray<byte>(next);
            buf.AsSpan(0, filled).CopyTo(bigger);
            buf = bigger;
        }
    }

    // ------------------------------------------------------------------ dtypes

    /// <summary>A file dtype: the normalised spelling, its item size and the byte-swap unit (1 = none; complex: half the item).</summary>
    private readonly record struct DTypeInfo(string Canonical, int ItemSize, int SwapSize);

    /// <summary>Item size of a canonical (normalised) dtype string, or 0 if it is not one.</summary>
    internal static int CanonicalItemSize(string dtype) =>
        MLArray.DType.TryParse(dtype, out MLArray.DType d) && d.Name == dtype && !d.IsBigEndian ? d.ItemSize : 0;

    private static DTypeInfo ResolveDType(string descr, string where)
    {
        if (!MLArray.DType.TryParse(descr, out var d))
        {
            string body = descr.Length > 0 && descr[0] is '<' or '>' or '=' or '|' ? descr[1..] : descr;
            throw Unsupported(where, descr, DescribeUnsupported(body));
        }

        if (d.IsOpaque)
        {
            return new DTypeInfo(descr, d.ItemSize, 1); // opaque bytes are kept as the file has them
        }

        return new DTypeInfo(d.AsLittleEndian().Name, d.ItemSize, d.IsBigEndian ? d.SwapSize : 1);
    }

    private static string DescribeUnsupported(string body)
    {
        if (body.Length == 0)
        {
            return "empty dtype string";
        }

        string digits = new(body.Skip(1).TakeWhile(char.IsAsciiDigit).ToArray());
        return body[0] switch
        {
            'c' => $"{digits}-byte complex",
            'O' => "object: pickled Python objects",
            'S' or 'a' => "byte strings",
            'U' => "unicode strings",
            'V' => "void / raw bytes",
            'M' => "datetime64",
            'm' => "timedelta64",
            'f' => $"{digits}-byte float",
            'i' or 'u' => $"{digits}-byte integer",
            _ => "unrecognised dtype",
        };
    }

    private static MLArrayNotSupportedException Unsupported(string where, string descr, string kind) =>
        new($"{where}: not supported: dtype '{descr}' ({kind}); supported dtypes are {SupportedDTypesText} " +
            "(big-endian '>' variants are converted). Convert the array in NumPy first, e.g. numpy.save(path, arr.astype('<f8')).");

    // ------------------------------------------------------------------ byte order and layout

    /// <summary>
    /// Converts Fortran-order (column-major) data of the given shape into C order. Returns the input itself when the
    /// two layouts coincide (at most one axis longer than 1).
    /// </summary>
    internal static byte[] FortranToC(byte[] src, long[] shape, int itemSize)
    {
        if (src.Length == 0)
        {
            return src;
        }

        int[] dims = shape.Where(d => d != 1).Select(d => checked((int)d)).ToArray();
        if (dims.Length <= 1)
        {
            return src;
        }

        // Fortran order over shape is C order over the reversed shape: reverse the axes back.
        long[] reversed = dims.Select(d => (long)d).Reverse().ToArray();
        int[] perm = Enumerable.Range(0, dims.Length).Reverse().ToArray();
        return AxisPermutation.Permute(src, reversed, perm, itemSize);
    }

    // ------------------------------------------------------------------ Python literal parser

    private sealed class PyTuple(List<object?> items)
    {
        public List<object?> Items { get; } = items;
    }

    private sealed class PyList(List<object?> items)
    {
        public List<object?> Items { get; } = items;
    }

    /// <summary>
    /// A parser for the subset of Python literals used in .npy headers: a dict of string keys whose values are
    /// strings, True/False/None, integers (an optional Python 2 'L' suffix is accepted), tuples and lists.
    /// </summary>
    private sealed class PyLiteralParser(string text, string where)
    {
        private int _pos;

        public Dictionary<string, (object? Value, string Raw)> ParseHeader()
        {
            var dict = new Dictionary<string, (object?, string)>(StringComparer.Ordinal);
            SkipWs();
            Expect('{');
            SkipWs();
            while (Peek() != '}')
            {
                if (Peek() is not ('\'' or '"'))
                {
                    throw Error("expected a quoted key or '}'");
                }

                string key = ParseString();
                SkipWs();
                Expect(':');
                SkipWs();
                int start = _pos;
                object? value = ParseValue(0);
                dict[key] = (value, text[start.._pos]);
                SkipWs();
                if (Peek() == ',')
                {
                    _pos++;
                    SkipWs();
                }
                else if (Peek() != '}')
                {
                    throw Error("expected ',' or '}'");
                }
            }

            _pos++;
            SkipWs();
            if (_pos != text.Length)
            {
                throw Error("unexpected text after the closing '}'");
            }

            return dict;
        }

        private char Peek() => _pos < text.Length ? text[_pos] : '\0';

        private void SkipWs()
        {
            while (_pos < text.Length && text[_pos] is ' ' or '\t' or '\n' or '\r' or '\f' or '\v')
            {
                _pos++;
            }
        }

        private void Expect(char c)
        {
            if (Peek() != c)
            {
                throw Error($"expected '{c}'");
            }

            _pos++;
        }

        private MLArrayFormatException Error(string what)
        {
            string at = _pos < text.Length ? $"'{text[_pos]}'" : "the end of the header";
            return BadHeader(where, text, $"cannot parse the header dictionary at character {_pos} ({at}): {what}");
        }

        private object? ParseValue(int depth)
        {
            if (depth > 64)
            {
                throw Error("nesting too deep");
            }

            char c = Peek();
            switch (c)
            {
                case '\'' or '"':
                    return ParseString();
                case 'u' or 'U' when _pos + 1 < text.Length && text[_pos + 1] is '\'' or '"':
                    _pos++;
                    return ParseString();
                case '(':
                    {
                        _pos++;
                        (List<object?> items, bool comma) = ParseSequence(')', depth);
                        return items.Count == 1 && !comma ? items[0] : new PyTuple(items);
                    }

                case '[':
                    {
                        _pos++;
                        (List<object?> items, _) = ParseSequence(']', depth);
                        return new PyList(items);
                    }

                case '-' or '+' or (>= '0' and <= '9'):
                    return ParseInt();
                default:
                    if (TryWord("True"))
                    {
                        return true;
                    }

                    if (TryWord("False"))
                    {
                        return false;
                    }

                    if (TryWord("None"))
                    {
                        return null;
                    }

                    throw Error("expected a string, an integer, True, False, None, a tuple or a list");
            }
        }

        private bool TryWord(string word)
        {
            if (string.CompareOrdinal(text, _pos, word, 0, word.Length) != 0)
            {
                return false;
            }

            int end = _pos + word.Length;
            if (end < text.Length && (char.IsAsciiLetterOrDigit(text[end]) || text[end] == '_'))
            {
                return false;
            }

            _pos = end;
            return true;
        }

        private (List<object?> Items, bool Comma) ParseSequence(char close, int depth)
        {
            var items = new List<object?>();
            bool comma = false;
            SkipWs();
            while (Peek() != close)
            {
                items.Add(ParseValue(depth + 1));
                SkipWs();
                if (Peek() == ',')
                {
                    comma = true;
                    _pos++;
                    SkipWs();
                }
                else if (Peek() != close)
                {
                    throw Error($"expected ',' or '{close}'");
                }
            }

            _pos++;
            return (items, comma);
        }

        private long ParseInt()
        {
            int start = _pos;
            bool negative = false;
            if (Peek() is '-' or '+')
            {
                negative = Peek() == '-';
                _pos++;
                SkipWs();
            }

            int digitsStart = _pos;
            while (_pos < text.Length && char.IsAsciiDigit(text[_pos]))
            {
                _pos++;
            }

            if (_pos == digitsStart)
            {
                _pos = start;
                throw Error("expected an integer");
            }

            string digits = text[digitsStart.._pos];
            if (Peek() is 'L' or 'l')
            {
                _pos++; // Python 2 long suffix
            }

            if (Peek() is '.' or 'e' or 'E' or 'j' or 'J' or '_' || char.IsAsciiLetter(Peek()))
            {
                throw Error("only integers are expected here");
            }

            if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long v))
            {
                _pos = start;
                throw Error($"integer {(negative ? "-" : string.Empty)}{digits} does not fit in 64 bits");
            }

            return negative ? -v : v;
        }

        private string ParseString()
        {
            char quote = text[_pos];
            _pos++;
            var sb = new StringBuilder();
            while (true)
            {
                if (_pos >= text.Length)
                {
                    throw Error("unterminated string");
                }

                char c = text[_pos++];
                if (c == quote)
                {
                    return sb.ToString();
                }

                if (c is '\n' or '\r')
                {
                    throw Error("unterminated string");
                }

                if (c == '\\' && _pos < text.Length)
                {
                    char e = text[_pos++];
                    sb.Append(e switch
                    {
                        'n' => "\n",
                        't' => "\t",
                        'r' => "\r",
                        '\\' or '\'' or '"' => e.ToString(),
                        _ => "\\" + e,
                    });
                    continue;
                }

                sb.Append(c);
            }
        }
    }
}
