using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace MLArray.Cli.Viewer;

/// <summary>
/// Notices a local file that another program rewrote in place (<c>cp new.mla case.mla</c>, <c>truncate</c>, an editor)
/// before the viewer reads it again. The viewer reads local files through a memory mapping: a file cut under the mapping
/// faults the next read of the cut pages (SIGBUS ends the process), and one rewritten at the same size would mix old and
/// new bytes. The watch holds its own handle, opened with the file, and compares that handle's size and modification
/// time with those at open; a file replaced by rename (every writer of this library, <c>mv</c>) is not a change, since
/// the handle, like the mapping, keeps the old file.
/// </summary>
internal sealed class LocalFileWatch : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly long _length;
    private readonly DateTime _modified;

    private LocalFileWatch(string path, SafeFileHandle handle)
    {
        Path = path;
        _handle = handle;
        _length = RandomAccess.GetLength(handle);
        _modified = File.GetLastWriteTimeUtc(handle);
    }

    /// <summary>The watched path.</summary>
    public string Path { get; }

    /// <summary>
    /// A watch of <paramref name="pathOrUrl"/>, or null for a URL or a path that cannot be opened (opening the file itself
    /// then reports why).
    /// </summary>
    public static LocalFileWatch? TryOpen(string pathOrUrl)
    {
        if (ViewerSession.IsUrl(pathOrUrl)) return null;
        try
        {
            var handle = File.OpenHandle(pathOrUrl, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            try
            {
                return new LocalFileWatch(pathOrUrl, handle);
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Throws <see cref="ViewedFileChangedException"/> when the file was rewritten in place since it was opened.</summary>
    public void ThrowIfChanged()
    {
        long length = RandomAccess.GetLength(_handle);
        DateTime modified = File.GetLastWriteTimeUtc(_handle);
        if (length == _length && modified == _modified) return;
        string what = length != _length
            ? string.Create(CultureInfo.InvariantCulture, $"its size went from {_length} to {length} bytes")
            : string.Create(CultureInfo.InvariantCulture, $"it was modified at {modified:yyyy-MM-dd HH:mm:ss.fff} UTC, at the same size");
        throw new ViewedFileChangedException(
            $"'{Path}' was rewritten in place while being viewed ({what}); reading it now could show mixed data or end the viewer. " +
            "Write new files under another name and rename them over the old one (as this library's writers do).");
    }

    /// <inheritdoc/>
    public void Dispose() => _handle.Dispose();
}

/// <summary>A local file the viewer has open was rewritten in place (<see cref="LocalFileWatch"/>).</summary>
internal sealed class ViewedFileChangedException(string message) : IOException(message);
