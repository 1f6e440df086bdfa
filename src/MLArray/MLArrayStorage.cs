using MLArray.Blosc2;

namespace MLArray;

/// <summary>
/// The storage of an image as the Blosc2 layer sees it (<see cref="MLArrayFile.Storage"/>): compression, chunk and
/// block grid, sizes, per-chunk facts and the variable-length metalayers. Read-only: an image changes only through
/// <see cref="MLArrayFile"/> (data writes, metadata), so the metadata entry and the frame can never disagree. For plain
/// <c>.b2nd</c> work without MLArray metadata, use <see cref="B2ndArray"/> directly (the lower layer).
/// </summary>
public sealed class MLArrayStorage
{
    private readonly Func<B2ndArray> _array;

    internal MLArrayStorage(Func<B2ndArray> array) => _array = array;

    private B2ndArray A => _array();

    /// <summary>The compression parameters recorded in the frame header.</summary>
    public CompressionParams Compression => A.CompressionParams;

    /// <summary>Chunk shape of the stored array.</summary>
    public IReadOnlyList<int> ChunkShape => A.ChunkShape;

    /// <summary>Block shape of the stored array.</summary>
    public IReadOnlyList<int> BlockShape => A.BlockShape;

    /// <summary>Number of chunks.</summary>
    public long ChunkCount => A.NChunks;

    /// <summary>Uncompressed bytes of the array (shape × item size).</summary>
    public long UncompressedBytes => A.NBytes;

    /// <summary>Compressed bytes of the chunks.</summary>
    public long CompressedBytes => A.CBytes;

    /// <summary>Bytes of the whole frame (header, chunks, index, trailer).</summary>
    public long FrameBytes => A.FrameBytes;

    /// <summary>How chunk <paramref name="index"/> is stored (regular payload or a special kind, and its stored bytes).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is not a chunk number.</exception>
    public ChunkInfo GetChunkInfo(long index) => A.GetChunkInfo(index);

    /// <summary>Names of the fixed-length metalayers (e.g. <c>b2nd</c>).</summary>
    public IReadOnlyList<string> MetalayerNames => A.MetalayerNames;

    /// <summary>Names of the variable-length metalayers (vlmeta), in stored order; MLArray's metadata is <c>mlarray</c>.</summary>
    public IReadOnlyList<string> VlMetaNames => A.VlMetaNames;

    /// <summary>The decompressed content of a vlmeta entry as stored in the file (a copy), or null if absent.</summary>
    public byte[]? GetVlMeta(string name) => A.GetVlMeta(name);
}
