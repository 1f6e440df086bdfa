using System.IO.Compression;

namespace MLArray.Metadata.Payload;

/// <summary>gzip with a hard limit on the decompressed size, checked while inflating (a gzip bomb is stopped early).</summary>
internal static class BoundedGzip
{
    private const int ChunkSize = 64 * 1024;

    /// <summary>True when <paramref name="data"/> starts with the gzip magic <c>1f 8b</c>.</summary>
    public static bool IsGzip(ReadOnlySpan<byte> data) => data.Length >= 2 && data[0] == 0x1F && data[1] == 0x8B;

    /// <summary>
    /// Inflates all gzip members of <paramref name="data"/> (RFC 1952; concatenated members are decoded one after the
    /// other) in chunks of 64 KiB and stops with <see cref="MLArrayMetadataException"/> as soon as the output would
    /// exceed <paramref name="maxBytes"/>.
    /// </summary>
    public static byte[] Decompress(ReadOnlyMemory<byte> data, long maxBytes)
    {
        if (maxBytes <= 0) throw new ArgumentOutOfRangeException(nameof(maxBytes));
        if (!IsGzip(data.Span))
            throw new MLArrayMetadataException("metadata payload is not gzip data (missing 1f 8b magic)");
        if (data.Length < 18 || data.Span[2] != 8)
            throw new MLArrayMetadataException("metadata payload has a truncated or unsupported gzip header");
        var output = new MemoryStream();
        var buffer = new byte[ChunkSize];
        try
        {
            using var input = new ReadOnlyMemoryStream(data);
            using var gz = new GZipStream(input, CompressionMode.Decompress);
            while (true)
            {
                int n = gz.Read(buffer, 0, buffer.Length);
                if (n == 0) break;
                if (output.Length + n > maxBytes)
                    throw new MLArrayMetadataException(
                        $"metadata payload expands beyond the limit of {maxBytes} bytes while gunzipping (stopped)");
                output.Write(buffer, 0, n);
            }
        }
        catch (InvalidDataException e)
        {
            throw new MLArrayMetadataException($"metadata payload is not valid gzip data: {e.Message}", e);
        }
        catch (EndOfStreamException e)
        {
            throw new MLArrayMetadataException("metadata payload gzip data is truncated", e);
        }
        return output.ToArray();
    }

    /// <summary>Compresses <paramref name="data"/> as one gzip member (smallest size).</summary>
    public static byte[] Compress(ReadOnlySpan<byte> data)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.SmallestSize, leaveOpen: true))
            gz.Write(data);
        return ms.ToArray();
    }

    /// <summary>A read-only, seekable stream over memory (no copy).</summary>
    private sealed class ReadOnlyMemoryStream(ReadOnlyMemory<byte> data) : Stream
    {
        private int _pos;
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => data.Length;
        public override long Position { get => _pos; set => _pos = (int)Math.Clamp(value, 0, data.Length); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            int n = Math.Min(buffer.Length, data.Length - _pos);
            data.Span.Slice(_pos, n).CopyTo(buffer);
            _pos += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin)
        {
            Position = origin switch { SeekOrigin.Begin => offset, SeekOrigin.Current => _pos + offset, _ => data.Length + offset };
            return _pos;
        }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
