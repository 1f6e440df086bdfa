using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace MLArray.Display;

/// <summary>A minimal PNG encoder: 8-bit grey (1 byte per pixel), RGB (3) or RGBA (4), filter 0, zlib-compressed IDAT, no colour-space chunks.</summary>
internal static class Png
{
    private static readonly uint[] CrcTable = MakeTable();

    /// <summary>Encodes row-major pixels with <paramref name="channels"/> bytes each.</summary>
    /// <exception cref="ArgumentException">The buffer does not match the size, or channels is not 1, 3 or 4.</exception>
    public static byte[] Encode(int width, int height, byte[] pixels, int channels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        byte colorType = channels switch
        {
            1 => 0, 3 => 2, 4 => 6,
            _ => throw new ArgumentException($"PNG pixels have 1, 3 or 4 channels, not {channels}.", nameof(channels)),
        };
        if (pixels.Length != (long)width * height * channels) throw new ArgumentException("pixel buffer does not match the image size.", nameof(pixels));
        using var ms = new MemoryStream();
        ms.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;
        ihdr[9] = colorType;
        Chunk(ms, "IHDR", ihdr);
        using (var raw = new MemoryStream())
        {
            using (var z = new ZLibStream(raw, CompressionLevel.Fastest, leaveOpen: true))
            {
                int stride = width * channels;
                for (int y = 0; y < height; y++)
                {
                    z.WriteByte(0);
                    z.Write(pixels, y * stride, stride);
                }
            }

            Chunk(ms, "IDAT", raw.ToArray());
        }

        Chunk(ms, "IEND", []);
        return ms.ToArray();
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        s.Write(len);
        byte[] t = Encoding.ASCII.GetBytes(type);
        s.Write(t);
        s.Write(data);
        uint crc = Crc32(Crc32(0xFFFFFFFFu, t), data) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(len, crc);
        s.Write(len);
    }

    private static uint Crc32(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data) crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    private static uint[] MakeTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }

        return t;
    }
}
