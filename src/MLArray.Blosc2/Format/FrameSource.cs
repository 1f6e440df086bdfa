using Microsoft.Win32.SafeHandles;

namespace MLArray.Blosc2.Format;

/// <summary>Positional, cursor-free read access to the bytes of a frame. Safe for concurrent reads.</summary>
internal interface IFrameSource : IDisposable
{
    /// <summary>Name for error messages (file path), or null for in-memory data.</summary>
    string? Name { get; }

    /// <summary>Total number of bytes available.</summary>
    long Length { get; }

    /// <summary>Reads exactly <paramref name="destination"/>.Length bytes at <paramref name="offset"/>.</summary>
    void Read(long offset, Span<byte> destination);

    /// <summary>
    /// For sources backed by memory (in-memory frames, memory-mapped files): the bytes at <paramref name="offset"/>
    /// without copying. Returns false for sources that must copy (then use <see cref="Read"/>).
    /// The span stays valid until the source is disposed.
    /// </summary>
    bool TryGetSpan(long offset, int length, out ReadOnlySpan<byte> span);
}

/// <summary>
/// Optional capability of sources with expensive reads (remote objects): fetch, ahead of the reads, the chunks
/// (by index) a selection needs, concurrently.
/// </summary>
internal interface IChunkPrefetch
{
    /// <summary>Fetches the listed chunks (by chunk index) so that the following reads of them are served from memory.</summary>
    void PrefetchChunks(IReadOnlyList<long> chunks);

    /// <summary>
    /// Fetches what a read of the listed chunks needs, concurrently: whole chunks, or, for large chunks of which
    /// <paramref name="blockNeeded"/>(chunk, block) selects a minority of blocks, only those blocks. Returns per chunk
    /// either empty (read it through the frame as usual: whole chunks, now cached, and special chunks) or an image of
    /// the chunk, cbytes long, whose header, block starts and needed blocks (block 0 too for DELTA) hold the stored
    /// bytes; the other blocks' bytes are not defined. The images may live in a per-thread buffer: they are valid only
    /// until the same thread's next call (decode them before fetching again; never keep them).
    /// </summary>
    ReadOnlyMemory<byte>[] FetchForRead(IReadOnlyList<long> chunks, int blocksPerChunk, int blockNBytes, Func<long, int, bool> blockNeeded);

    /// <summary>
    /// Fetches ahead into the memory pool what reads of the listed chunks will need (as <see cref="FetchForRead"/>
    /// chooses: whole chunks, or the needed blocks of large chunks), skipping what is held or in flight already.
    /// </summary>
    Task PrefetchAsync(IReadOnlyList<long> chunks, int blocksPerChunk, int blockNBytes, Func<long, int, bool> blockNeeded, CancellationToken cancellationToken);
}

/// <summary>A file opened for positional reads (<see cref="RandomAccess"/>).</summary>
internal sealed class FileFrameSource : IFrameSource
{
    private readonly SafeFileHandle _handle;

    public FileFrameSource(string path)
    {
        Name = path;
        try
        {
            _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, FileOptions.RandomAccess);
        }
        catch (FileNotFoundException e)
        {
            throw new FileNotFoundException($"'{path}' does not exist; check the path.", path, e);
        }
        Length = RandomAccess.GetLength(_handle);
    }

    public string? Name { get; }

    public long Length { get; }

    public void Read(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset > Length - destination.Length)
            throw new MLArrayFormatException($"'{Name}': read of {destination.Length} bytes at offset {offset} is outside the file ({Length} bytes). The file is corrupt or truncated.");
        int done = 0;
        while (done < destination.Length)
        {
            int n = RandomAccess.Read(_handle, destination[done..], offset + done);
            if (n == 0)
                throw new MLArrayFormatException($"'{Name}': unexpected end of file at offset {offset + done} (the file shrank while being read?).");
            done += n;
        }
    }

    public bool TryGetSpan(long offset, int length, out ReadOnlySpan<byte> span)
    {
        span = default;
        return false;
    }

    public void Dispose() => _handle.Dispose();
}

/// <summary>A read-only memory-mapped file: chunk bytes are used in place, without copies.</summary>
internal sealed unsafe class MappedFrameSource : IFrameSource
{
    private readonly System.IO.MemoryMappedFiles.MemoryMappedFile _map;
    private readonly System.IO.MemoryMappedFiles.MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private int _disposed;

    private MappedFrameSource(string path, System.IO.MemoryMappedFiles.MemoryMappedFile map, System.IO.MemoryMappedFiles.MemoryMappedViewAccessor view, long length)
    {
        Name = path;
        _map = map;
        _view = view;
        Length = length;
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + view.PointerOffset;
    }

    /// <summary>Maps <paramref name="path"/> read-only; falls back to positional reads for empty files.</summary>
    public static IFrameSource Open(string path)
    {
        var fs = OpenFile(path);
        long length = fs.Length;
        if (length == 0)
        {
            fs.Dispose();
            return new FileFrameSource(path);
        }
        System.IO.MemoryMappedFiles.MemoryMappedFile? map = null;
        try
        {
            map = System.IO.MemoryMappedFiles.MemoryMappedFile.CreateFromFile(fs, null, 0,
                System.IO.MemoryMappedFiles.MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            var view = map.CreateViewAccessor(0, 0, System.IO.MemoryMappedFiles.MemoryMappedFileAccess.Read);
            return new MappedFrameSource(path, map, view, length);
        }
        catch (IOException)
        {
            // Platforms or file systems without mapping support: positional reads work everywhere.
            map?.Dispose();
            fs.Dispose();
            return new FileFrameSource(path);
        }
    }

    private static FileStream OpenFile(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1, FileOptions.RandomAccess);
        }
        catch (FileNotFoundException e)
        {
            throw new FileNotFoundException($"'{path}' does not exist; check the path.", path, e);
        }
    }

    public string? Name { get; }

    public long Length { get; }

    public void Read(long offset, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (offset < 0 || offset > Length - destination.Length)
            throw new MLArrayFormatException($"'{Name}': read of {destination.Length} bytes at offset {offset} is outside the file ({Length} bytes). The file is corrupt or truncated.");
        new ReadOnlySpan<byte>(_base + offset, destination.Length).CopyTo(destination);
    }

    public bool TryGetSpan(long offset, int length, out ReadOnlySpan<byte> span)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (offset < 0 || length < 0 || offset > Length - length)
            throw new MLArrayFormatException($"'{Name}': {length} bytes at offset {offset} are outside the file ({Length} bytes). The file is corrupt or truncated.");
        span = new ReadOnlySpan<byte>(_base + offset, length);
        return true;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}

/// <summary>A frame held in memory.</summary>
internal sealed class MemoryFrameSource(ReadOnlyMemory<byte> data, string? name = null) : IFrameSource
{
    public string? Name { get; } = name;

    public long Length => data.Length;

    public ReadOnlyMemory<byte> Data => data;

    public void Read(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset > data.Length - destination.Length)
            throw new MLArrayFormatException($"{(Name is null ? "buffer" : $"'{Name}'")}: read of {destination.Length} bytes at offset {offset} is outside the data ({data.Length} bytes). The frame is corrupt or truncated.");
        data.Span.Slice((int)offset, destination.Length).CopyTo(destination);
    }

    public bool TryGetSpan(long offset, int length, out ReadOnlySpan<byte> span)
    {
        if (offset < 0 || length < 0 || offset > data.Length - length)
            throw new MLArrayFormatException($"{(Name is null ? "buffer" : $"'{Name}'")}: {length} bytes at offset {offset} are outside the data ({data.Length} bytes). The frame is corrupt or truncated.");
        span = data.Span.Slice((int)offset, length);
        return true;
    }

    public void Dispose() { }
}
