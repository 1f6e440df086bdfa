using System.Buffers.Binary;
using System.CommandLine;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using MLArray.Blosc2;

namespace MLArray.Cli.Commands;

/// <summary>
/// <c>mlarray preview FILE [--axis z|y|x|N] [--index I] [--window C,W] -o slice.png</c>: one 2-D slice (the middle
/// one by default) as an 8-bit PNG, grayscale with a 1st–99th percentile window for images, one colour per label for
/// segmentations (<c>is_seg</c>). Only the chunks the slice touches are decoded.
/// </summary>
internal static class PreviewCommand
{
    private static readonly HashSet<string> Spatial = ["spatial", "spatial_x", "spatial_y", "spatial_z"];

    public static Command Create(TextWriter stdout, TextWriter stderr, AtomicFileSteps? steps = null)
    {
        var file = new Argument<string>("file") { Description = "The .mla file." };
        var axis = new Option<string>("--axis") { Description = "Slice axis: z, y, x, or an axis number.", DefaultValueFactory = _ => "z" };
        var index = new Option<long?>("--index") { Description = "Slice index along the axis (default: the middle)." };
        var window = new Option<string?>("--window") { Description = "Intensity window CENTER,WIDTH (default: 1st–99th percentile)." };
        var output = new Option<string>("--output", "-o") { Description = "The PNG to write (atomically).", Required = true };
        var cache = CliInput.CacheOption();
        var cmd = new Command("preview", "Render one slice of an .mla file to a PNG.") { file, axis, index, window, output, cache };
        cmd.SetAction(pr => CliApp.Guard(stderr, () =>
        {
            string path = pr.GetValue(file)!;
            string outPath = pr.GetValue(output)!;
            using var img = CliInput.OpenFile(path, pr.GetValue(cache));
            var (w, h, pixels, rgb) = Render(img, pr.GetValue(axis)!, pr.GetValue(index), pr.GetValue(window));
            byte[] png = Png.Encode(w, h, pixels, rgb);
            AtomicFile.Write(outPath, s => s.Write(png), steps);

            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {outPath}: {w}×{h} {(rgb ? "RGB labels" : "grayscale")}"));
            return CliApp.Ok;
        }));
        return cmd;
    }

    /// <summary>The selection of one 2-D slice: (selection, slice axis, remaining row axis, column axis).</summary>
    internal static (NdIndex[] Selection, int Rows, int Cols) SliceOf(long[] shape, IReadOnlyList<string>? labels, string axisSpec, long? index)
    {
        int n = shape.Length;
        if (n < 2) throw new ArgumentException($"preview needs at least 2 dimensions; the array has {n}.");
        int[] spatial = labels is { } l && l.Count == n ? Enumerable.Range(0, n).Where(i => Spatial.Contains(l[i])).ToArray() : Enumerable.Range(Math.Max(0, n - 3), Math.Min(n, 3)).ToArray();
        if (spatial.Length < 2) spatial = Enumerable.Range(n - 2, 2).ToArray();
        int ax;
        if (int.TryParse(axisSpec, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int num))
        {
            ax = num < 0 ? n + num : num;
            if (ax < 0 || ax >= n) throw new ArgumentException($"--axis {axisSpec} is out of range for {n} dimensions.");
        }
        else
        {
            string want = "spatial_" + axisSpec.ToLowerInvariant();
            int byLabel = labels is { } ll && ll.Count == n ? ll.ToList().IndexOf(want) : -1;
            if (byLabel >= 0) ax = byLabel;
            else
            {
                // unlabeled: spatial axes in C order are (z, y, x)
                int k = axisSpec.ToLowerInvariant() switch
                {
                    "z" => 0, "y" => 1, "x" => 2,
                    _ => throw new ArgumentException($"--axis must be z, y, x or an axis number, not '{axisSpec}'."),
                };
                k -= 3 - spatial.Length;
                if (k < 0 || spatial.Length == 2 && axisSpec is "z" or "Z") ax = -1;
                else ax = spatial[k];
            }
        }

        var sel = new NdIndex[n];
        var keep = new List<int>();
        foreach (int i in spatial)
        {
            if (i != ax) keep.Add(i);
        }

        // a 2-D image without z: nothing to slice along the spatial axes
        if (ax >= 0 && !spatial.Contains(ax) && keep.Count > 2) keep = keep.TakeLast(2).ToList();
        while (keep.Count > 2) keep.RemoveAt(0);
        for (int i = 0; i < n; i++)
        {
            if (keep.Contains(i)) sel[i] = NdIndex.All;
            else if (i == ax)
            {
                long idx = index ?? shape[i] / 2;
                if (idx < 0) idx += shape[i];
                if (idx < 0 || idx >= shape[i]) throw new ArgumentException($"--index {index} is out of range for axis {i} of size {shape[i]}.");
                sel[i] = NdIndex.At(idx);
            }
            else
            {
                sel[i] = NdIndex.At(spatial.Contains(i) ? shape[i] / 2 : 0);
            }
        }

        if (keep.Count != 2) throw new ArgumentException("cannot find two axes to display.");
        return (sel, keep[0], keep[1]);
    }

    internal static (int W, int H, byte[] Pixels, bool Rgb) Render(MLArrayFile img, string axisSpec, long? index, string? window)
    {
        long[] shape = img.Shape;
        var (sel, rows, cols) = SliceOf(shape, img.AxisLabels, axisSpec, index);
        double[] v = ReadAsDouble(img, sel);
        int h = (int)shape[rows], w = (int)shape[cols];
        if (img.Meta.IsSeg == true)
        {
            var px = new byte[v.Length * 3];
            for (int i = 0; i < v.Length; i++)
            {
                var (r, g, b) = LabelColour(v[i]);
                px[3 * i] = r;
                px[(3 * i) + 1] = g;
                px[(3 * i) + 2] = b;
            }

            return (w, h, px, true);
        }

        double lo, hi;
        if (window is not null)
        {
            var parts = window.Split(',');
            if (parts.Length != 2 || !double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double c) ||
                !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double wd) || !(wd > 0))
                throw new ArgumentException($"--window '{window}' must be CENTER,WIDTH with a positive width.");
            lo = c - (wd / 2);
            hi = c + (wd / 2);
        }
        else
        {
            (lo, hi) = Percentiles(v, 0.01, 0.99);
        }

        var gray = new byte[v.Length];
        for (int i = 0; i < v.Length; i++) gray[i] = Map(v[i], lo, hi);
        return (w, h, gray, false);
    }

    internal static byte Map(double v, double lo, double hi)
    {
        if (double.IsNaN(v)) return 0;
        if (!(hi > lo)) return v >= hi ? (byte)255 : (byte)0;
        double t = (v - lo) / (hi - lo);
        return (byte)Math.Clamp(Math.Round(t * 255), 0, 255);
    }

    /// <summary>Linear-interpolated percentiles (NumPy's default) of the finite values.</summary>
    internal static (double Lo, double Hi) Percentiles(double[] v, double p, double q)
    {
        double[] s = v.Where(double.IsFinite).ToArray();
        if (s.Length == 0) return (0, 1);
        Array.Sort(s);
        double At(double f)
        {
            double pos = f * (s.Length - 1);
            int i = (int)Math.Floor(pos);
            int j = Math.Min(i + 1, s.Length - 1);
            return s[i] + ((s[j] - s[i]) * (pos - i));
        }

        return (At(p), At(q));
    }

    /// <summary>Label 0 is black; other labels get well-separated hues (golden-ratio steps), full saturation.</summary>
    internal static (byte R, byte G, byte B) LabelColour(double label)
    {
        if (double.IsNaN(label) || label == 0) return (0, 0, 0);
        long k = (long)Math.Round(label);
        double hue = ((k * 0.618033988749895) % 1 + 1) % 1;
        double val = (k / 7 % 2 == 0) ? 1.0 : 0.7;
        return Hsv(hue, 0.85, val);
    }

    private static (byte, byte, byte) Hsv(double h, double s, double v)
    {
        double c = v * s, x = c * (1 - Math.Abs((h * 6 % 2) - 1)), m = v - c;
        (double r, double g, double b) = (int)(h * 6) switch
        {
            0 => (c, x, 0.0), 1 => (x, c, 0.0), 2 => (0.0, c, x), 3 => (0.0, x, c), 4 => (x, 0.0, c), _ => (c, 0.0, x),
        };
        return ((byte)Math.Round((r + m) * 255), (byte)Math.Round((g + m) * 255), (byte)Math.Round((b + m) * 255));
    }

    private static double[] ReadAsDouble(MLArrayFile img, NdIndex[] sel)
    {
        byte[] raw = img.ReadBytes(sel);
        var values = new double[raw.Length / img.DType.ItemSize];
        MLArray.Kernels.ElementConvert.ToDouble(raw, img.DType, values);
        return values;
    }
}

/// <summary>A minimal PNG encoder: 8-bit grayscale or RGB, filter 0, zlib-compressed IDAT.</summary>
internal static class Png
{
    private static readonly uint[] CrcTable = MakeTable();

    public static byte[] Encode(int width, int height, byte[] pixels, bool rgb)
    {
        int bpp = rgb ? 3 : 1;
        if (pixels.Length != (long)width * height * bpp) throw new ArgumentException("pixel buffer does not match the image size.");
        using var ms = new MemoryStream();
        ms.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;
        ihdr[9] = (byte)(rgb ? 2 : 0);
        Chunk(ms, "IHDR", ihdr);
        using (var raw = new MemoryStream())
        {
            using (var z = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
            {
                int stride = width * bpp;
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

    internal static uint Crc32(uint crc, ReadOnlySpan<byte> data)
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
