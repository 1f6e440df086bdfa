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
        using var tx = AtomicFile.Begin(destinationPath, steps);
        CopyWithVlMeta(frame, tx.Stream, changes);
        source.Dispose(); // release the source before replacing it (it may be the destination)
        tx.Commit();
    }

    /// <summary>
    /// Writes the frame <paramref name="frame"/> (as its source holds it) to <paramref name="output"/> from its current
    /// position, with the vlmeta <paramref name="changes"/> applied. Header, chunks and offsets index are copied byte
    /// for byte; so is the trailer when no change alters an entry's content (a change to the value an entry already
    /// holds is none), so that an unchanged frame is copied exactly as it was written, by C-Blosc2 or by anyone else.
    /// </summary>
    internal static void CopyWithVlMeta(FrameReader frame, Stream output, IReadOnlyDictionary<string, byte[]?> changes)
    {
        var effective = new Dictionary<string, byte[]?>();
        foreach (var (name, value) in changes)
        {
            var entry = frame.VlMetalayers.FirstOrDefault(m => m.Name == name);
            bool present = entry.Name is not null;
            if (value is null ? present : !present || !frame.DecodeVlMeta(entry).AsSpan().SequenceEqual(value))
                effective[name] = value;
        }
        long start = output.Position;
        if (effective.Count == 0)
        {
            CopyRange(frame.Source, 0, frame.FrameLength, output);
            return;
        }
        var trailer = BuildTrailer(frame, effective);
        CopyRange(frame.Source, 0, frame.TrailerOffset, output);
        output.Write(trailer.Bytes);
        PatchLengths(output, start, frame.TrailerOffset + trailer.Bytes.Length, trailer.Count > 0);
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

    private static void PatchLengths(Stream fs, long start, long frameLen, bool hasVlMeta)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(b, frameLen);
        fs.Position = start + FrameLayout.OffsetFrameLen;
        fs.Write(b);
        fs.Position = start + FrameLayout.OffsetHasVlMeta;
        fs.WriteByte(hasVlMeta ? (byte)0xC3 : (byte)0xC2);
        fs.Position = start + frameLen;
    }
}
