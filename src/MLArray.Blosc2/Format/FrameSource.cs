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

    public void Dispose() => _handle.Dispose();
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

    public void Dispose() { }
}
