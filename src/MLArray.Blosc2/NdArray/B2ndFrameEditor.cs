using System.Buffers.Binary;
using MLArray.Blosc2.Codecs;
using MLArray.Blosc2.Format;

namespace MLArray.Blosc2;

/// <summary>Changes the variable-length metalayers (vlmeta) of existing frame files without touching their chunks.</summary>
internal static class B2ndFrameEditor
{
    /// <summary>
    /// Copies the frame at <paramref name="sourcePath"/> to <paramref name="destinationPath"/> with the vlmeta entries
    /// changed: a value is the new content (python-blosc2 stores msgpack there), null deletes the entry. Header,
    /// chunks and offsets index are copied byte for byte; existing entries keep their order, new ones are appended.
    /// The destination is written atomically (temporary file in its folder, then renamed over it) and may be the
    /// source itself.
    /// </summary>
    /// <exception cref="MLArrayFormatException">The source is not a valid frame.</exception>
    public static void RewriteVlMeta(string sourcePath, string destinationPath, IReadOnlyDictionary<string, byte[]?> changes) =>
        RewriteVlMeta(sourcePath, destinationPath, changes, null);

    /// <summary><see cref="RewriteVlMeta(string, string, IReadOnlyDictionary{string, byte[]})"/> through the given <see cref="AtomicFileSteps"/>.</summary>
    internal static void RewriteVlMeta(string sourcePath, string destinationPath, IReadOnlyDictionary<string, byte[]?> changes, AtomicFileSteps? steps)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourcePath);
        ArgumentException.ThrowIfNullOrEmpty(destinationPath);
        ArgumentNullException.ThrowIfNull(changes);
        foreach (var name in changes.Keys)
            B2ndWriter.ValidateName(name);
        using var source = new FileFrameSource(sourcePath);
        var frame = FrameReader.Open(source);
        var trailer = BuildTrailer(frame, changes);
        using var tx = AtomicFile.Begin(destinationPath, steps);
        CopyRange(source, 0, frame.TrailerOffset, tx.Stream);
        tx.Stream.Write(trailer.Bytes);
        PatchLengths(tx.Stream, frame.TrailerOffset + trailer.Bytes.Length, trailer.Count > 0);
        source.Dispose(); // release the source before replacing it (it may be the destination)
        tx.Commit();
    }

    private static (byte[] Bytes, int Count) BuildTrailer(FrameReader frame, IReadOnlyDictionary<string, byte[]?> changes)
    {
        var entries = new List<(string, byte[])>();
        using var ctx = new CodecContext();
        foreach (var m in frame.VlMetalayers)
        {
            if (changes.TryGetValue(m.Name, out var value))
            {
                if (value is not null)
                    entries.Add((m.Name, FrameLayout.EncodeVlMetaValue(value, ctx)));
            }
            else
            {
                entries.Add((m.Name, frame.RawVlMeta(m).ToArray()));
            }
        }
        foreach (var (name, value) in changes)
            if (value is not null && !frame.VlMetalayers.Any(m => m.Name == name))
                entries.Add((name, FrameLayout.EncodeVlMetaValue(value, ctx)));
        return (FrameLayout.BuildTrailer(entries), entries.Count);
    }

    private static void CopyRange(IFrameSource source, long start, long length, Stream output)
    {
        var buf = new byte[1 << 20];
        long done = 0;
        while (done < length)
        {
            int n = (int)Math.Min(buf.Length, length - done);
            source.Read(start + done, buf.AsSpan(0, n));
            output.Write(buf, 0, n);
            done += n;
        }
    }

    private static void PatchLengths(Stream fs, long frameLen, bool hasVlMeta)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(b, frameLen);
        fs.Position = FrameLayout.OffsetFrameLen;
        fs.Write(b);
        fs.Position = FrameLayout.OffsetHasVlMeta;
        fs.WriteByte(hasVlMeta ? (byte)0xC3 : (byte)0xC2);
        fs.Position = frameLen;
    }
}
