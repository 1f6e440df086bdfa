using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Win32.SafeHandles;
using MLArray.Blosc2;

namespace MLArray.Remote;

/// <summary>
/// A local folder keeping the byte ranges read from remote objects, so that a second pass over the same data (the
/// next training epoch, another process) reads them from disk instead of the network. Set it in
/// <see cref="RemoteReadOptions.DiskCache"/>; one instance may serve many arrays, and processes may share the folder.
/// </summary>
/// <remarks>
/// Each version of an object (keyed by its name without credentials, <see cref="IByteRangeSource.DisplayName"/>, and
/// its version tag) has a subfolder with one sparse data file, written at the object's offsets and kept open while the
/// object is, and an index of the ranges written (fixed-size records with a checksum, appended after their data):
/// a reader (in this or another process) uses only ranges whose record is whole.
/// Opening an object still costs its requests (they learn the current tag); the subfolders of any other version of
/// that object are deleted then. Objects without a version tag are not cached (a replaced object could not be told
/// apart). The folder is kept under <see cref="MaxBytes"/> by deleting the least recently opened object versions;
/// an object version alone larger than 90 % of the bound stops being extended.
/// </remarks>
public sealed class RemoteDiskCache
{
    internal const string DataFile = "data";
    internal const string IndexFile = "index";
    private readonly object _sweepLock = new();
    private long _bytes = -1; // estimate of the folder's cached bytes; -1 until first counted

    /// <summary>Creates (if needed) the cache folder.</summary>
    /// <param name="directory">The folder (created if missing).</param>
    /// <param name="maxBytes">Bound on the bytes of the entries in the folder. Default 10 GiB.</param>
    /// <exception cref="ArgumentException">Empty directory or a bound below 1 MiB.</exception>
    public RemoteDiskCache(string directory, long maxBytes = 10L << 30)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (maxBytes < 1 << 20)
            throw new ArgumentException($"the disk cache bound must be at least 1 MiB (got {maxBytes} bytes).", nameof(maxBytes));
        Directory = Path.GetFullPath(directory);
        MaxBytes = maxBytes;
        System.IO.Directory.CreateDirectory(Directory);
    }

    /// <summary>The cache folder.</summary>
    public string Directory { get; }

    /// <summary>Bound on the bytes of the entries kept.</summary>
    public long MaxBytes { get; }

    /// <summary>Bytes of the ranges held in the folder (as listed by the indexes), counted now.</summary>
    public long CountBytes() => VersionFolders().Sum(d => DiskCachedObject.IndexedBytes(d.FullName));

    /// <summary>The entries of <paramref name="source"/>'s current version, or null when it has no version tag.</summary>
    internal DiskCachedObject? For(IByteRangeSource source)
    {
        if (string.IsNullOrEmpty(source.VersionTag))
            return null;
        string objectDir = Path.Combine(Directory, Hash(source.DisplayName));
        string versionDir = Path.Combine(objectDir, Hash(source.VersionTag + "|" + source.Length.ToString(CultureInfo.InvariantCulture)));
        if (System.IO.Directory.Exists(objectDir))
        {
            foreach (string other in System.IO.Directory.EnumerateDirectories(objectDir))
                if (other != versionDir)
                    TryDeleteFolder(other); // another version of the object: stale
        }
        try
        {
            System.IO.Directory.CreateDirectory(versionDir);
            System.IO.Directory.SetLastWriteTimeUtc(versionDir, DateTime.UtcNow); // orders the eviction
            return new DiskCachedObject(this, versionDir, source.Length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // a read-only or full disk: no caching
        }
    }

    private static string Hash(string s) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s)))[..32];

    private IEnumerable<DirectoryInfo> VersionFolders() =>
        new DirectoryInfo(Directory).EnumerateDirectories().SelectMany(o => o.EnumerateDirectories());

    /// <summary>Counts newly cached bytes; over the bound, deletes the least recently opened object versions (not <paramref name="current"/>) down to 90 % of it.</summary>
    internal void Added(long bytes, string current)
    {
        lock (_sweepLock)
        {
            if (_bytes < 0)
                _bytes = CountBytes();
            else
                _bytes += bytes;
            if (_bytes <= MaxBytes)
                return;
            var folders = VersionFolders().Select(d => (Dir: d, Bytes: DiskCachedObject.IndexedBytes(d.FullName))).ToList();
            long total = folders.Sum(f => f.Bytes);
            foreach (var (dir, size) in folders.OrderBy(f => f.Dir.LastWriteTimeUtc))
            {
                if (total <= MaxBytes * 9 / 10)
                    break;
                if (dir.FullName != current && TryDeleteFolder(dir.FullName))
                    total -= size;
            }
            _bytes = total;
        }
    }

    private static bool TryDeleteFolder(string path)
    {
        try
        {
            System.IO.Directory.Delete(path, recursive: true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}

/// <summary>
/// The cached ranges of one version of one object: a sparse data file as long as the object (kept open, read and
/// written with positioned reads and writes) and an index of the ranges in it, loaded when opened and extended by this
/// process's writes; a read is served when cached ranges cover it entirely.
/// </summary>
internal sealed class DiskCachedObject : IDisposable
{
    private const int RecordBytes = 16; // offset (8), length (4), check (4)
    private const uint CheckSeed = 0x6D6C6131; // "mla1"
    private readonly RemoteDiskCache _cache;
    private readonly string _dir;
    private readonly long _objectLength;
    private readonly object _lock = new();
    private readonly SortedList<long, int> _entries = []; // offset → longest entry length at that offset
    private readonly SafeFileHandle _data;
    private readonly SafeFileHandle _index;
    private long _bytes;
    private bool _full;
    private int _disposed;

    public DiskCachedObject(RemoteDiskCache cache, string dir, long objectLength)
    {
        _cache = cache;
        _dir = dir;
        _objectLength = objectLength;
        _data = File.OpenHandle(Path.Combine(dir, RemoteDiskCache.DataFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        try
        {
            _index = File.OpenHandle(Path.Combine(dir, RemoteDiskCache.IndexFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        }
        catch
        {
            _data.Dispose();
            throw;
        }
        try
        {
            long dataLength = RandomAccess.GetLength(_data);
            var records = Records(_index);
            if (dataLength != objectLength && records.Count > 0)
            {
                // The data file was cut (a full disk, a copy gone wrong): its records may point at holes, so this
                // version's cache starts again empty.
                RandomAccess.SetLength(_index, 0);
                records.Clear();
            }
            if (dataLength < objectLength)
                RandomAccess.SetLength(_data, objectLength); // sparse: costs no space until written
            foreach (var (offset, length) in records)
            {
                if (offset + length > objectLength)
                    continue;
                if (!_entries.TryGetValue(offset, out int old) || old < length)
                    _entries[offset] = length;
                _bytes += length;
            }
        }
        catch
        {
            _data.Dispose();
            _index.Dispose();
            throw;
        }
    }

    /// <summary>The valid records of an index (a torn or damaged record fails its check and is skipped).</summary>
    private static List<(long Offset, int Length)> Records(SafeFileHandle index)
    {
        long size = RandomAccess.GetLength(index);
        var all = new byte[(int)Math.Min(size, int.MaxValue / 2) / RecordBytes * RecordBytes];
        int got = RandomAccess.Read(index, all, 0);
        var result = new List<(long Offset, int Length)>(got / RecordBytes);
        for (int pos = 0; pos + RecordBytes <= got; pos += RecordBytes)
        {
            var r = all.AsSpan(pos, RecordBytes);
            long offset = BinaryPrimitives.ReadInt64LittleEndian(r);
            int length = BinaryPrimitives.ReadInt32LittleEndian(r[8..]);
            if (offset >= 0 && length > 0 && BinaryPrimitives.ReadUInt32LittleEndian(r[12..]) == Check(offset, length))
                result.Add((offset, length));
        }
        return result;
    }

    /// <summary>Bytes listed by the index in <paramref name="dir"/> (0 when it has none).</summary>
    public static long IndexedBytes(string dir)
    {
        try
        {
            using var index = File.OpenHandle(Path.Combine(dir, RemoteDiskCache.IndexFile), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            return Records(index).Sum(r => (long)r.Length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    private static uint Check(long offset, int length)
    {
        ulong h = ((ulong)offset * 0x9E3779B97F4A7C15UL) ^ ((ulong)(uint)length * 0xC2B2AE3D27D4EB4FUL) ^ CheckSeed;
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9UL;
        return (uint)(h ^ (h >> 32));
    }

    /// <summary>True when cached ranges cover [offset, offset + length).</summary>
    public bool Covers(long offset, int length)
    {
        lock (_lock)
            return _disposed == 0 && Covered(offset, length);
    }

    /// <summary>Fills <paramref name="destination"/> from the cached ranges covering it; false when they do not (or the data file was cut).</summary>
    public bool TryRead(long offset, Span<byte> destination)
    {
        if (!Covers(offset, destination.Length))
            return false;
        try
        {
            return RandomAccess.Read(_data, destination, offset) == destination.Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            return false; // unreadable: fetched again
        }
    }

    /// <summary>True when entries cover [offset, offset + length) (caller holds the lock).</summary>
    private bool Covered(long offset, int length)
    {
        long pos = offset, end = offset + length;
        var keys = _entries.Keys;
        while (pos < end)
        {
            // The entries starting at or before pos (a few back: ranges rarely overlap) that reach furthest past it.
            int i = LastAtOrBefore(keys, pos);
            long reach = -1;
            for (int j = i; j >= 0 && j > i - 16; j--)
                reach = Math.Max(reach, keys[j] + _entries.GetValueAtIndex(j));
            if (reach <= pos)
                return false;
            pos = reach;
        }
        return true;
    }

    private static int LastAtOrBefore(IList<long> keys, long pos)
    {
        int lo = 0, hi = keys.Count - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (keys[mid] <= pos)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return found;
    }

    /// <summary>Stores the bytes fetched at <paramref name="offset"/>: written into the data file, then recorded in the index.</summary>
    public void Store(long offset, ReadOnlySpan<byte> data)
    {
        if (data.Length == 0 || offset < 0 || offset + data.Length > _objectLength)
            return;
        lock (_lock)
        {
            if (_full || Covered(offset, data.Length))
                return;
            if (_bytes + data.Length > _cache.MaxBytes * 9 / 10)
            {
                _full = true; // this object version alone would fill the cache: keep what is there
                return;
            }
            Span<byte> record = stackalloc byte[RecordBytes];
            BinaryPrimitives.WriteInt64LittleEndian(record, offset);
            BinaryPrimitives.WriteInt32LittleEndian(record[8..], data.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(record[12..], Check(offset, data.Length));
            try
            {
                RandomAccess.Write(_data, data, offset);
                // Records sit at multiples of their size: a torn one (a process that died) never shifts the next.
                long end = RandomAccess.GetLength(_index);
                RandomAccess.Write(_index, record, (end + RecordBytes - 1) / RecordBytes * RecordBytes);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
            {
                return; // a full or read-only disk, a removed folder: the read itself succeeded, only caching is skipped
            }
            if (!_entries.TryGetValue(offset, out int old) || old < data.Length)
                _entries[offset] = data.Length;
            _bytes += data.Length;
        }
        _cache.Added(data.Length, _dir);
    }

    public void Dispose()
    {
        lock (_lock)
            _disposed = 1;
        _data.Dispose();
        _index.Dispose();
    }
}
