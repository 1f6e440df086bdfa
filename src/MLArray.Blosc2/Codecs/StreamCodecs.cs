using System.IO.Compression;
using K4os.Compression.LZ4;
using MLArray.Blosc2.Format;
using ZstdSharp;

namespace MLArray.Blosc2.Codecs;

/// <summary>
/// Per-worker codec state (zstd contexts, scratch buffers). Not thread-safe: one worker owns one context at a time.
/// Rent from a <see cref="CodecContextPool"/>.
/// </summary>
internal sealed class CodecContext : IDisposable
{
    private Decompressor? _zstdDecompressor;
    private Compressor? _zstdCompressor;
    private int _zstdLevel = int.MinValue;
    private Lz4HcState? _lz4hc;
    private byte[] _scratchA = [];
    private byte[] _scratchB = [];
    private byte[] _scratchC = [];

    /// <summary>Buffer that holds compressed chunks read from a file; reused across reads (grown as needed).</summary>
    public byte[] ChunkBuffer = [];

    /// <summary>The selection-read state of the array that owns this context's pool (reused by serial reads).</summary>
    public ReadPlan? ReadPlan;

    // Buffer roles: A = ChunkDecoder's filter scratch; B and C = callers (array block/chunk buffers); encoder buffers separate.
    /// <summary>Scratch buffer A with at least <paramref name="size"/> bytes (contents undefined).</summary>
    public byte[] ScratchA(int size) => Ensure(ref _scratchA, size);

    /// <summary>Scratch buffer B with at least <paramref name="size"/> bytes (contents undefined).</summary>
    public byte[] ScratchB(int size) => Ensure(ref _scratchB, size);

    /// <summary>Scratch buffer C with at least <paramref name="size"/> bytes (contents undefined).</summary>
    public byte[] ScratchC(int size) => Ensure(ref _scratchC, size);

    /// <summary>Filter ping-pong buffers reserved for <see cref="Format.ChunkEncoder"/> (callers may use A, B and C freely around it).</summary>
    public byte[] EncoderScratch1(int size) => Ensure(ref _encoder1, size);

    /// <summary>Second encoder buffer; see <see cref="EncoderScratch1"/>.</summary>
    public byte[] EncoderScratch2(int size) => Ensure(ref _encoder2, size);

    private byte[] _encoder1 = [];
    private byte[] _encoder2 = [];

    private static byte[] Ensure(ref byte[] buffer, int size)
    {
        if (buffer.Length < size)
            buffer = GC.AllocateUninitializedArray<byte>(Math.Max(size, 4096));
        return buffer;
    }

    /// <summary>Decodes one stream of the given chunk codec format into exactly <paramref name="dst"/>.Length bytes.</summary>
    /// <returns>False if the stream is corrupt or does not decode to exactly the expected size.</returns>
    public bool TryDecode(int codecFormat, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        switch (codecFormat)
        {
            case ChunkFormat.CodecFormatBloscLz:
                return BloscLz.TryDecompress(src, dst);
            case ChunkFormat.CodecFormatLz4:
                return Lz4Decoder.TryDecode(src, dst);
            case ChunkFormat.CodecFormatZlib:
                return TryZlibDecode(src, dst);
            case ChunkFormat.CodecFormatZstd:
                {
                    _zstdDecompressor ??= new Decompressor();
                    try
                    {
                        return _zstdDecompressor.TryUnwrap(src, dst, out int written) && written == dst.Length;
                    }
                    catch (ZstdException) { return false; }
                }
            default:
                return false;
        }
    }

    private static unsafe bool TryZlibDecode(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        fixed (byte* p = src)
        {
            using var input = new UnmanagedMemoryStream(p, src.Length);
            using var z = new ZLibStream(input, CompressionMode.Decompress);
            int total = 0;
            try
            {
                while (total < dst.Length)
                {
                    int n = z.Read(dst[total..]);
                    if (n == 0)
                        return false;
                    total += n;
                }
                // The stream must end exactly here.
                Span<byte> one = stackalloc byte[1];
                return z.Read(one) == 0;
            }
            catch (InvalidDataException) { return false; }
            catch (IOException) { return false; }
        }
    }

    /// <summary>
    /// Compresses one stream with the given codec. Returns the compressed size, or 0 when the codec could not
    /// produce fewer than <paramref name="src"/>.Length bytes within <paramref name="dst"/>.
    /// </summary>
    public int Encode(Blosc2Codec codec, int clevel, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        int limit = Math.Min(dst.Length, src.Length - 1);
        if (limit <= 0)
            return 0;
        dst = dst[..limit];
        switch (codec)
        {
            case Blosc2Codec.BloscLZ:
                return BloscLz.Compress(src, dst, clevel);
            case Blosc2Codec.LZ4HC when BitConverter.IsLittleEndian:
                // Our own encoder: C-Blosc2 passes clevel straight through as the LZ4 HC level.
                return Lz4Hc.Compress(src, dst, clevel, _lz4hc ??= new Lz4HcState());
            case Blosc2Codec.LZ4:
            case Blosc2Codec.LZ4HC:
                {
                    var level = codec == Blosc2Codec.LZ4 ? LZ4Level.L00_FAST : Lz4HcLevel(clevel);
                    int n = LZ4Codec.Encode(src, dst, level);
                    return n > 0 && n < src.Length ? n : 0;
                }
            case Blosc2Codec.Zlib:
                return ZlibEncode(clevel, src, dst);
            case Blosc2Codec.Zstd:
                {
                    int level = clevel >= 9 ? 22 : 2 * clevel - 1;
                    if (_zstdCompressor is null || _zstdLevel != level)
                    {
                        _zstdCompressor?.Dispose();
                        _zstdCompressor = new Compressor(level);
                        _zstdLevel = level;
                    }
                    return _zstdCompressor.TryWrap(src, dst, out int written) && written < src.Length ? written : 0;
                }
            default:
                throw new ArgumentOutOfRangeException(nameof(codec), codec, "unknown codec");
        }
    }

    private static LZ4Level Lz4HcLevel(int clevel) => clevel switch
    {
        <= 3 => LZ4Level.L03_HC,
        4 => LZ4Level.L04_HC,
        5 => LZ4Level.L05_HC,
        6 => LZ4Level.L06_HC,
        7 => LZ4Level.L07_HC,
        8 => LZ4Level.L08_HC,
        _ => LZ4Level.L09_HC,
    };

    private static unsafe int ZlibEncode(int clevel, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        fixed (byte* p = dst)
        {
            using var output = new UnmanagedMemoryStream(p, 0, dst.Length, FileAccess.Write);
            try
            {
                using (var z = new ZLibStream(output, new ZLibCompressionOptions { CompressionLevel = clevel }, leaveOpen: true))
                    z.Write(src);
            }
            catch (NotSupportedException)
            {
                return 0; // output did not fit
            }
            catch (IOException)
            {
                return 0;
            }
            long n = output.Position;
            return n < src.Length ? (int)n : 0;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _zstdDecompressor?.Dispose();
        _zstdCompressor?.Dispose();
        _zstdDecompressor = null;
        _zstdCompressor = null;
    }
}

/// <summary>
/// A small pool of <see cref="CodecContext"/> instances owned by one array, frame or operation. A locked stack, not a
/// ConcurrentBag: a bag gives every thread that touches it its own queue (a few hundred bytes per thread and array,
/// plus the growth of that thread's ThreadLocal slot table), so loader threads meeting a file for the first time
/// allocated in what should be a steady state. Rent and Return take the lock once per read (not per block).
/// </summary>
internal sealed class CodecContextPool : IDisposable
{
    private readonly Stack<CodecContext> _items = new();

    public CodecContext Rent()
    {
        lock (_items)
            if (_items.TryPop(out var c)) return c;
        return new CodecContext();
    }

    public void Return(CodecContext context)
    {
        lock (_items) _items.Push(context);
    }

    public void Dispose()
    {
        lock (_items)
        {
            while (_items.TryPop(out var c))
                c.Dispose();
        }
    }
}
