using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;
using MLArray.Blosc2.Codecs;

namespace MLArray.Blosc2.Format;

/// <summary>
/// The mutable view of a frame's chunks and vlmeta: the offsets index, the chunks section length and the vlmeta
/// entries, over a read source, with an optional write path (in place, append-only) or a copy-on-write overlay.
/// </summary>
/// <remarks>
/// Writes never overwrite bytes the current header refers to: new chunk payloads, then a new offsets index and
/// trailer are appended after the end of the frame, and only then the header's cbytes/frame_len fields are updated
/// (one small write inside the first sector), once per <c>B2ndArray.Write</c>. A crash at any point leaves a frame
/// that opens with the content before or after the whole write. Old payloads become dead bytes inside the chunks section, which every Blosc2 reader
/// accepts (offsets are looked up, never assumed contiguous).
/// </remarks>
internal sealed class ChunkStore : IDisposable
{
    private readonly IFrameSource _source;
    private readonly SafeFileHandle? _writeHandle;
    private readonly Dictionary<long, byte[]>? _overlay;
    private readonly object _writeLock = new();
    private readonly long[] _offsets;
    private long _cbytes;
    private long _frameLength;
    private long _appendPos; // where the next chunk payload goes: the frame end, or after payloads not yet committed
    private bool _uncommitted; // chunks replaced in memory whose index the file's header does not point at yet
    private bool _modified; // any chunk or vlmeta entry replaced since open
    private (string Name, byte[] Chunk)[] _vlmeta;

    public ChunkStore(FrameReader frame, SafeFileHandle? writeHandle, bool copyOnWrite)
    {
        _source = frame.Source;
        Name = frame.Name;
        HeaderLength = frame.HeaderLength;
        TypeSize = frame.TypeSize;
        ChunkSize = frame.ChunkSize;
        NChunks = frame.NChunks;
        Limits = frame.Limits;
        _cbytes = frame.CBytes;
        _frameLength = frame.FrameLength;
        _appendPos = _frameLength;
        _offsets = new long[NChunks];
        for (long i = 0; i < NChunks; i++)
            _offsets[i] = frame.GetOffset(i);
        _vlmeta = frame.VlMetalayers.Select(m => (m.Name, frame.RawVlMeta(m).ToArray())).ToArray();
        _writeHandle = writeHandle;
        if (copyOnWrite)
            _overlay = [];
    }

    public string? Name { get; }
    public int HeaderLength { get; }
    public int TypeSize { get; }
    public int ChunkSize { get; }
    public long NChunks { get; }
    public FrameLimits Limits { get; }
    public bool Writable => _writeHandle is not null || _overlay is not null;

    /// <summary>True once any chunk or vlmeta entry was replaced: until then the frame's bytes are those it was opened with.</summary>
    public bool Modified => Volatile.Read(ref _modified);
    public long CBytes => Volatile.Read(ref _cbytes);
    public long FrameLength => Volatile.Read(ref _frameLength);

    public long GetOffset(long i) => Volatile.Read(ref _offsets[i]);

    /// <summary>
    /// The bytes of chunk <paramref name="i"/> (mapped in place where possible, else read into <paramref name="buffer"/>).
    /// Special offsets come back as the equivalent 32-byte special chunk.
    /// </summary>
    public ReadOnlySpan<byte> GetChunk(long i, ref byte[] buffer, out ChunkLocation where)
    {
        if (_overlay is not null)
        {
            lock (_overlay)
            {
                if (_overlay.TryGetValue(i, out var own))
                {
                    where = new ChunkLocation(Name, $"chunk {i} (modified in memory)", -1);
                    return own;
                }
            }
        }
        long off = GetOffset(i);
        return ReadChunk(_source, Name, HeaderLength, CBytes, TypeSize, ChunkSize, i, off, ref buffer, out where);
    }

    /// <summary>Reads one chunk of a frame given its index entry.</summary>
    public static ReadOnlySpan<byte> ReadChunk(IFrameSource source, string? name, int headerLength, long cbytesSection, int typesize,
        int chunkSize, long i, long off, ref byte[] buffer, out ChunkLocation where)
    {
        if (off < 0)
        {
            where = new ChunkLocation(name, "chunk", -1, i, off);
            int special = (int)((ulong)off >> 56) & 0x7F;
            if (special is not (ChunkFormat.SpecialZeros or ChunkFormat.SpecialNaN or ChunkFormat.SpecialUninit))
                throw new MLArrayFormatException($"{where}: unknown special chunk value; the file is corrupt.");
            if (chunkSize <= 0)
                throw new MLArrayFormatException($"{where}: special chunks need a fixed chunk size but the frame declares variable-size chunks; the file is corrupt.");
            if (buffer.Length < ChunkFormat.ExtendedHeaderLength)
                buffer = new byte[64];
            ChunkEncoder.WriteSpecial(buffer, special, typesize, chunkSize);
            return buffer.AsSpan(0, ChunkFormat.ExtendedHeaderLength);
        }
        long pos = headerLength + off;
        where = new ChunkLocation(name, "chunk", pos, i);
        if (off > cbytesSection - ChunkFormat.Blosc1HeaderLength)
            throw new MLArrayFormatException($"{where}: offset {off} is outside the chunks section ({cbytesSection} bytes); the file is corrupt or truncated.");
        Span<byte> head = stackalloc byte[ChunkFormat.Blosc1HeaderLength];
        source.Read(pos, head);
        int cbytes = ChunkHeader.PeekCBytes(head);
        if (cbytes < ChunkFormat.Blosc1HeaderLength || cbytes > cbytesSection - off)
            throw new MLArrayFormatException($"{where}: chunk declares {cbytes} compressed bytes, which runs outside the chunks section ({cbytesSection - off} bytes left); the file is corrupt or truncated.");
        if (source.TryGetSpan(pos, cbytes, out var mapped))
            return mapped;
        if (buffer.Length < cbytes)
            buffer = GC.AllocateUninitializedArray<byte>(Math.Max(cbytes, 4096));
        source.Read(pos, buffer.AsSpan(0, cbytes));
        return buffer.AsSpan(0, cbytes);
    }

    /// <summary>The vlmeta entries as stored (compressed chunks), in order.</summary>
    public (string Name, byte[] Chunk)[] RawVlMetaEntries => Volatile.Read(ref _vlmeta);

    public IReadOnlyList<string> VlMetaNames => Volatile.Read(ref _vlmeta).Select(v => v.Name).ToArray();

    public int VlMetaStoredSize(string name) => Array.Find(Volatile.Read(ref _vlmeta), v => v.Name == name).Chunk?.Length ?? -1;

    public byte[]? GetVlMeta(string name)
    {
        var entry = Array.Find(Volatile.Read(ref _vlmeta), v => v.Name == name);
        return entry.Chunk is null ? null : DecodeVlMeta(entry.Chunk, new ChunkLocation(Name, $"vlmeta '{name}'", -1), Limits);
    }

    public static byte[] DecodeVlMeta(ReadOnlySpan<byte> chunk, in ChunkLocation where, FrameLimits limits)
    {
        var h = ChunkHeader.Parse(chunk, where);
        if (h.NBytes > limits.MaxMetaBytes)
            throw new MLArrayFormatException($"{where}: value declares {h.NBytes} bytes, above the limit of {limits.MaxMetaBytes} (FrameLimits.MaxMetaBytes).");
        var result = new byte[h.NBytes];
        using var ctx = new CodecContext();
        ChunkDecoder.Decompress(chunk, h, result, ctx, where);
        return result;
    }

    /// <summary>Sets (content) or deletes (null) vlmeta entries and commits.</summary>
    public void UpdateVlMeta(IReadOnlyDictionary<string, byte[]?> changes)
    {
        ThrowIfReadOnly();
        lock (_writeLock)
        {
            var list = _vlmeta.ToList();
            using var ctx = new CodecContext();
            foreach (var (name, value) in changes)
            {
                int at = list.FindIndex(v => v.Name == name);
                if (value is null)
                {
                    if (at >= 0) list.RemoveAt(at);
                    continue;
                }
                var chunk = FrameLayout.EncodeVlMetaValue(value, ctx);
                if (at >= 0) list[at] = (name, chunk);
                else list.Add((name, chunk));
            }
            Volatile.Write(ref _vlmeta, list.ToArray());
            Volatile.Write(ref _modified, true);
            if (_overlay is null)
                CommitFile([]);
        }
    }

    /// <summary>Replaces chunks (complete Blosc2 chunks; a 32-byte special-zeros chunk becomes a special offset) and commits.</summary>
    public void PutChunks(IReadOnlyList<(long Index, byte[] Chunk, int Length)> chunks) => PutChunks(chunks, commit: true);

    /// <summary>
    /// Replaces chunks. With <paramref name="commit"/> false (file mode) the payloads are appended and visible to
    /// readers of this instance, but the file's header keeps describing the previous frame until <see cref="Commit"/>:
    /// a multi-batch write then switches the file to its new state once, at the end.
    /// </summary>
    public void PutChunks(IReadOnlyList<(long Index, byte[] Chunk, int Length)> chunks, bool commit)
    {
        ThrowIfReadOnly();
        lock (_writeLock)
        {
            if (chunks.Count > 0)
                Volatile.Write(ref _modified, true);
            if (_overlay is not null)
            {
                lock (_overlay)
                {
                    foreach (var (index, chunk, length) in chunks)
                        _overlay[index] = chunk.AsSpan(0, length).ToArray();
                }
                return;
            }
            AppendChunks(chunks);
            if (commit)
                CommitFile([]);
        }
    }

    /// <summary>Writes the offsets index, trailer and header for chunks appended with <c>commit: false</c> (no-op otherwise).</summary>
    public void Commit()
    {
        lock (_writeLock)
        {
            if (_overlay is null && _writeHandle is not null && _uncommitted)
                CommitFile([]);
        }
    }

    /// <summary>The offsets of <paramref name="indices"/> and the commit state, to undo a write that fails halfway (<see cref="Restore"/>).</summary>
    public (long[] Indices, long[] Offsets, bool Uncommitted) Snapshot(IReadOnlyList<long> indices)
    {
        lock (_writeLock)
        {
            var idx = indices.ToArray();
            return (idx, idx.Select(GetOffset).ToArray(), _uncommitted);
        }
    }

    /// <summary>
    /// Points the chunks of <paramref name="snapshot"/> back at their old payloads (file mode; payloads appended since
    /// stay as unused bytes). The file's header was not switched in between, so file and instance agree again.
    /// </summary>
    public void Restore((long[] Indices, long[] Offsets, bool Uncommitted) snapshot)
    {
        lock (_writeLock)
        {
            if (_overlay is not null || _writeHandle is null)
                return;
            for (int i = 0; i < snapshot.Indices.Length; i++)
                Volatile.Write(ref _offsets[snapshot.Indices[i]], snapshot.Offsets[i]);
            _uncommitted = snapshot.Uncommitted;
        }
    }

    /// <summary>Appends chunk payloads after the frame (and after payloads appended since the last commit) and publishes their offsets in memory.</summary>
    private void AppendChunks(IReadOnlyList<(long Index, byte[] Chunk, int Length)> chunks)
    {
        var handle = _writeHandle!;
        long pos = _appendPos;
        var newOffsets = new List<(long, long)>(chunks.Count);
        foreach (var (index, chunk, length) in chunks)
        {
            if (length == ChunkFormat.ExtendedHeaderLength && ((chunk[31] >> 4) & 7) == ChunkFormat.SpecialZeros)
            {
                newOffsets.Add((index, FrameLayout.SpecialZerosOffset));
                continue;
            }
            RandomAccess.Write(handle, chunk.AsSpan(0, length), pos);
            newOffsets.Add((index, pos - HeaderLength));
            pos += length;
        }
        // Publish: readers that see a new offset must also see the grown chunks section.
        Volatile.Write(ref _cbytes, pos - HeaderLength);
        foreach (var (index, off) in newOffsets)
            Volatile.Write(ref _offsets[index], off);
        if (_source is WritableFileSource w)
            w.SetLength(pos);
        _appendPos = pos;
        _uncommitted |= chunks.Count > 0;
    }

    private void CommitFile(IReadOnlyList<(long Index, byte[] Chunk, int Length)> chunks)
    {
        AppendChunks(chunks);
        var handle = _writeHandle!;
        long pos = _appendPos;
        long newCBytes = pos - HeaderLength;

        using var ctx = new CodecContext();
        byte[] indexChunk = NChunks > 0 ? FrameLayout.BuildIndex(_offsets, ctx) : [];
        RandomAccess.Write(handle, indexChunk, pos);
        pos += indexChunk.Length;
        var vl = _vlmeta;
        byte[] trailer = FrameLayout.BuildTrailer(vl.Select(v => (v.Name, v.Chunk)).ToList());
        RandomAccess.Write(handle, trailer, pos);
        pos += trailer.Length;
        if (_source is WritableFileSource w2)
            w2.SetLength(pos);
        // Finally switch the header to the new index and trailer: frame_len, cbytes and the vlmeta flag change in ONE
        // positional write (bytes 16-68, inside the first sector), so a kill can never leave a header that mixes the
        // new frame length with the old chunks-section length.
        const int first = FrameLayout.OffsetFrameLen, last = FrameLayout.OffsetHasVlMeta;
        Span<byte> h = stackalloc byte[last - first + 1];
        if (RandomAccess.Read(handle, h, first) != h.Length)
            throw new IOException($"'{Name}': could not re-read the frame header before updating it.");
        BinaryPrimitives.WriteInt64BigEndian(h[(FrameLayout.OffsetFrameLen - first)..], pos);
        BinaryPrimitives.WriteInt64BigEndian(h[(FrameLayout.OffsetCBytes - first)..], newCBytes);
        h[last - first] = vl.Length > 0 ? (byte)0xC3 : (byte)0xC2;
        RandomAccess.Write(handle, h, first);
        Volatile.Write(ref _frameLength, pos);
        _appendPos = pos;
        _uncommitted = false;
    }

    private void ThrowIfReadOnly()
    {
        if (!Writable)
            throw new InvalidOperationException($"'{Name}' is open read-only; open it with B2ndOpenMode.ReadWrite (or CopyOnWrite for in-memory changes) to write.");
    }

    public void Flush()
    {
        if (_writeHandle is not null)
            RandomAccess.FlushToDisk(_writeHandle);
    }

    public void Dispose()
    {
        _source.Dispose();
        if (_writeHandle is not null && !ReferenceEquals((_source as WritableFileSource)?.Handle, _writeHandle))
            _writeHandle.Dispose();
    }
}

/// <summary>A file opened read/write for positional I/O (modes r+ and w+).</summary>
internal sealed class WritableFileSource : IFrameSource
{
    private long _length;

    public WritableFileSource(string path, bool createNew)
    {
        Name = path;
        // Registered before the handle is opened: FileMode.Create would truncate a file another writer of this process holds.
        _registration = WriterRegistry.Acquire(path);
        try
        {
            try
            {
                Handle = File.OpenHandle(path, createNew ? FileMode.Create : FileMode.Open, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete, FileOptions.RandomAccess);
            }
            catch (FileNotFoundException e)
            {
                throw new FileNotFoundException($"'{path}' does not exist; check the path.", path, e);
            }
            _length = RandomAccess.GetLength(Handle);
            LockForWriting(path);
        }
        catch
        {
            _registration.Dispose();
            throw;
        }
    }

    private readonly IDisposable _registration;

    private FileStream? _lockStream;

    /// <summary>
    /// One writer per file across processes: an advisory lock on a byte far beyond any real frame (the data stays
    /// readable by others). Not available on macOS/iOS, where the contract is documented only.
    /// </summary>
    private void LockForWriting(string path)
    {
        if (OperatingSystem.IsMacOS() || OperatingSystem.IsIOS() || OperatingSystem.IsTvOS() || OperatingSystem.IsMacCatalyst())
            return;
        _lockStream = new FileStream(Handle, FileAccess.ReadWrite, 1);
        try
        {
            _lockStream.Lock(WriterRegistry.LockOffset, 1);
        }
        catch (IOException e)
        {
            Handle.Dispose();
            throw new IOException(WriterRegistry.AlreadyOpenMessage(path), e);
        }
    }

    public SafeFileHandle Handle { get; }

    public string? Name { get; }

    public long Length => Volatile.Read(ref _length);

    public void SetLength(long length) => Volatile.Write(ref _length, Math.Max(length, _length));

    public void Read(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset > Length - destination.Length)
            throw new MLArrayFormatException($"'{Name}': read of {destination.Length} bytes at offset {offset} is outside the file ({Length} bytes). The file is corrupt or truncated.");
        int done = 0;
        while (done < destination.Length)
        {
            int n = RandomAccess.Read(Handle, destination[done..], offset + done);
            if (n == 0)
                throw new MLArrayFormatException($"'{Name}': unexpected end of file at offset {offset + done}.");
            done += n;
        }
    }

    public bool TryGetSpan(long offset, int length, out ReadOnlySpan<byte> span)
    {
        span = default;
        return false;
    }

    public void Dispose()
    {
        if (_lockStream is not null && !(OperatingSystem.IsMacOS() || OperatingSystem.IsIOS() || OperatingSystem.IsTvOS() || OperatingSystem.IsMacCatalyst()))
        {
            try { _lockStream.Unlock(WriterRegistry.LockOffset, 1); } catch (IOException) { }
        }
        Handle.Dispose();
        _registration.Dispose();
    }
}
