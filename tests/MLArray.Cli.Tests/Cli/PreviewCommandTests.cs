using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using MLArray.Display;
using MLArray.Metadata;

namespace MLArray.Cli.Tests.Cli;

/// <summary><c>mlarray preview</c>: PNG structure and pixels against the slice.</summary>
public sealed class PreviewCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-preview-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Bitwise CRC-32 (ISO-HDLC), independent of the encoder's table.</summary>
    private static uint Crc(ReadOnlySpan<byte> d)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in d)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        }

        return c ^ 0xFFFFFFFFu;
    }

    /// <summary>Decodes a PNG written by the encoder: checks signature, chunk CRCs, IHDR; returns pixels without filter bytes.</summary>
    private static (int W, int H, int ColorType, byte[] Pixels) Decode(byte[] png)
    {
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        int pos = 8, w = 0, h = 0, ct = -1;
        var idat = new MemoryStream();
        bool end = false;
        while (!end)
        {
            int len = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            string type = Encoding.ASCII.GetString(png, pos + 4, 4);
            byte[] data = png[(pos + 8)..(pos + 8 + len)];
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(pos + 8 + len));
            Assert.Equal(Crc(png.AsSpan(pos + 4, 4 + len)), crc);
            switch (type)
            {
                case "IHDR":
                    w = BinaryPrimitives.ReadInt32BigEndian(data);
                    h = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(4));
                    Assert.Equal(8, data[8]);
                    ct = data[9];
                    Assert.Equal(0, data[10]);
                    Assert.Equal(0, data[11]);
                    Assert.Equal(0, data[12]);
                    break;
                case "IDAT": idat.Write(data); break;
                case "IEND": end = true; break;
            }

            pos += 12 + len;
        }

        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        var raw = new MemoryStream();
        z.CopyTo(raw);
        byte[] r = raw.ToArray();
        int bpp = ct == 2 ? 3 : 1;
        Assert.Equal(h * ((w * bpp) + 1), r.Length);
        var px = new byte[w * h * bpp];
        for (int y = 0; y < h; y++)
        {
            Assert.Equal(0, r[y * ((w * bpp) + 1)]);
            Array.Copy(r, (y * ((w * bpp) + 1)) + 1, px, y * w * bpp, w * bpp);
        }

        return (w, h, ct, px);
    }

    [Fact]
    public void GrayscaleSliceMatchesTheDataWithAWindow()
    {
        long[] shape = [4, 5, 6];
        var data = new float[4 * 5 * 6];
        for (int i = 0; i < data.Length; i++) data[i] = i;
        string mla = Path.Combine(_dir, "a.mla");
        using (var f = MLArrayFile.FromArray(data, shape, new MLArrayCreateOptions { AxisLabels = ["spatial_z", "spatial_y", "spatial_x"] }))
            f.Save(mla);
        string png = Path.Combine(_dir, "a.png");
        var r = CliRun.Run(["preview", mla, "--axis", "z", "--index", "2", "--window", "75,30", "-o", png]);
        Assert.True(r.Code == 0, r.Err);
        var (w, h, ct, px) = Decode(File.ReadAllBytes(png));
        Assert.Equal((6, 5, 0), (w, h, ct));
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 6; x++)
                Assert.Equal(Window.Map(data[(2 * 30) + (y * 6) + x], 60, 90), px[(y * 6) + x]);

        // x slice, middle by default, automatic window: the 1st percentile maps to 0 and the 99th to 255
        r = CliRun.Run(["preview", mla, "--axis", "x", "-o", png]);
        Assert.True(r.Code == 0, r.Err);
        (w, h, ct, px) = Decode(File.ReadAllBytes(png));
        Assert.Equal((5, 4, 0), (w, h, ct));
        double[] slice = Enumerable.Range(0, 20).Select(i => (double)data[(i / 5 * 30) + (i % 5 * 6) + 3]).ToArray();
        var (lo, hi) = Window.Percentiles(slice, 0.01, 0.99);
        for (int i = 0; i < 20; i++) Assert.Equal(Window.Map(slice[i], lo, hi), px[i]);
        Assert.Equal(0, px[0]);
        Assert.Equal(255, px[19]);
    }

    [Theory]
    [InlineData("magnitude", "3,6")]
    [InlineData("real", "0,8")]
    [InlineData("imag", "0,8")]
    [InlineData("phase", "0,6.3")]
    public void Complex_images_show_the_asked_part(string part, string window)
    {
        long[] shape = [4, 5, 6];
        var data = new Complex64[4 * 5 * 6];
        for (int i = 0; i < data.Length; i++) data[i] = new Complex64((i % 7) - 3, (i % 5) - 2);
        string mla = Path.Combine(_dir, "c.mla");
        using (var f = MLArrayFile.FromArray(data, shape, new MLArrayCreateOptions { AxisLabels = ["spatial_z", "spatial_y", "spatial_x"] }))
            f.Save(mla);
        string png = Path.Combine(_dir, "c.png");
        string[] args = part == "magnitude" ? ["preview", mla, "--axis", "z", "--index", "2", "--window", window, "-o", png] // the default part
            : ["preview", mla, "--axis", "z", "--index", "2", "--window", window, "--part", part, "-o", png];
        var r = CliRun.Run(args);
        Assert.True(r.Code == 0, r.Err);
        var (w, h, ct, px) = Decode(File.ReadAllBytes(png));
        Assert.Equal((6, 5, 0), (w, h, ct));
        var (lo, hi) = Window.Parse(window);
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 6; x++)
            {
                var z = data[(2 * 30) + (y * 6) + x];
                double v = part switch { "real" => z.Real, "imag" => z.Imaginary, "phase" => Math.Atan2(z.Imaginary, z.Real), _ => Math.Sqrt((z.Real * z.Real) + (z.Imaginary * z.Imaginary)) };
                Assert.Equal(Window.Map(v, lo, hi), px[(y * 6) + x]);
            }

        r = CliRun.Run(["preview", mla, "--part", "modulus", "-o", Path.Combine(_dir, "bad.png")]);
        Assert.Equal(1, r.Code);
        Assert.Contains("--part must be real, imag, magnitude or phase", r.Err, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "bad.png")));
    }

    [Fact]
    public void SegmentationGetsDistinctColoursPerLabel()
    {
        var data = new byte[3 * 4 * 4];
        for (int i = 0; i < 16; i++) data[16 + i] = (byte)(i % 4);
        string mla = Path.Combine(_dir, "seg.mla");
        using (var f = MLArrayFile.FromArray(data, [3, 4, 4], new MLArrayCreateOptions { Meta = new MLArrayMeta { IsSeg = true } }))
            f.Save(mla);
        string png = Path.Combine(_dir, "seg.png");
        var r = CliRun.Run(["preview", mla, "-o", png]);
        Assert.True(r.Code == 0, r.Err);
        var (w, h, ct, px) = Decode(File.ReadAllBytes(png));
        Assert.Equal((4, 4, 2), (w, h, ct));
        var colours = Enumerable.Range(0, 4).Select(l => (px[3 * l], px[(3 * l) + 1], px[(3 * l) + 2])).ToArray();
        Assert.Equal(((byte)0, (byte)0, (byte)0), colours[0]);
        Assert.Equal(4, colours.Distinct().Count());
        Assert.Equal(LabelColours.Of(2), colours[2]);
    }

    [Fact]
    public void BadIndexIsAUsageErrorAndWritesNothing()
    {
        string mla = Path.Combine(_dir, "b.mla");
        using (var f = MLArrayFile.FromArray(new float[8], [2, 2, 2]))
            f.Save(mla);
        string png = Path.Combine(_dir, "b.png");
        var r = CliRun.Run(["preview", mla, "--index", "5", "-o", png]);
        Assert.Equal(1, r.Code);
        Assert.False(File.Exists(png));
    }

    [Fact]
    public void Oriented_images_render_as_viewers_show_them()
    {
        // (z, y, x) stored with LPS direction diag(1, -1, 1) in the seed's reversed order: y runs anterior, so voxel
        // (z=1, y=0, x=0) is the most posterior row (bottom, anterior is up) and the patient's right (left, radiological)
        var data = new short[3 * 4 * 5];
        data[20] = 100;
        string mla = Path.Combine(_dir, "o.mla");
        using (var f = MLArrayFile.FromArray(data, [3, 4, 5], new MLArrayCreateOptions
        {
            Spacing = [2.0, 1.0, 1.0], Direction = new double[,] { { 1, 0, 0 }, { 0, -1, 0 }, { 0, 0, 1 } },
            Meta = new MLArrayMeta { Spatial = new MetaSpatial { CoordSystem = CoordSystem.Lps } },
        }))
            f.Save(mla);
        string png = Path.Combine(_dir, "o.png");
        var r = CliRun.Run(["preview", mla, "--index", "1", "--window", "50,100", "-o", png]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("axial slice 1 (LPS)", r.Out, StringComparison.Ordinal);
        var (w, h, _, px) = Decode(File.ReadAllBytes(png));
        Assert.Equal((5, 4), (w, h));
        Assert.Equal(255, px[(3 * 5) + 0]);
        Assert.Equal(1, px.Count(b => b == 255));

        r = CliRun.Run(["preview", mla, "--index", "1", "--window", "50,100", "--neurological", "-o", png]);
        Assert.True(r.Code == 0, r.Err);
        (_, _, _, px) = Decode(File.ReadAllBytes(png));
        Assert.Equal(255, px[(3 * 5) + 4]);

        // coronal: 3 slices of 2 mm shown 6 pixels high, superior (z = 2) at the top
        r = CliRun.Run(["preview", mla, "--axis", "coronal", "--index", "0", "--window", "50,100", "-o", png]);
        Assert.True(r.Code == 0, r.Err);
        (w, h, _, px) = Decode(File.ReadAllBytes(png));
        Assert.Equal((5, 6), (w, h));

        // --seg needs an integer image; --frame needs a frame axis
        using (var f = MLArrayFile.FromArray(new float[8], [2, 2, 2])) f.Save(Path.Combine(_dir, "f.mla"));
        r = CliRun.Run(["preview", Path.Combine(_dir, "f.mla"), "--seg", "-o", png]);
        Assert.Equal(1, r.Code);
        Assert.Contains("integer", r.Err, StringComparison.Ordinal);
        r = CliRun.Run(["preview", mla, "--frame", "1", "-o", png]);
        Assert.Equal(1, r.Code);
        Assert.Contains("frame", r.Err, StringComparison.Ordinal);
    }
}
