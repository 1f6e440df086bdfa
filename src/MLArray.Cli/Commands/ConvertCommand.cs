using System.CommandLine;
using System.Globalization;
using MLArray.Blosc2;
using MLArray.IO;
using MLArray.Layout;

namespace MLArray.Cli.Commands;

/// <summary>
/// <c>mlarray convert IN OUT</c>: .npy → .mla and .mla → .npy. .mla output goes through <see cref="MLArrayFile"/>, so it
/// carries the "mlarray" metadata entry and its layout comes from the layout optimizer (patch 192 by default).
/// </summary>
internal static class ConvertCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr, AtomicFileSteps? steps = null)
    {
        var input = new Argument<string>("input") { Description = "Input file (.npy or .mla)." };
        var output = new Argument<string>("output") { Description = "Output file (.mla or .npy); written atomically." };
        var codec = new Option<string>("--codec") { Description = "Codec for .mla output: blosclz, lz4, lz4hc (default), zlib, zstd.", DefaultValueFactory = _ => "lz4hc" };
        var clevel = new Option<int>("--clevel") { Description = "Compression level 0-9 (default 8).", DefaultValueFactory = _ => 8 };
        var filter = new Option<string>("--filter") { Description = "Filter pipeline, applied left to right: e.g. shuffle (default), bitshuffle, delta+shuffle, trunc_prec10+shuffle, none.", DefaultValueFactory = _ => "shuffle" };
        var split = new Option<string>("--split") { Description = "Split mode: auto (default), always, never.", DefaultValueFactory = _ => "auto" };
        var chunk = new Option<string?>("--chunk-size") { Description = "Chunk shape, comma separated (e.g. 80,64,64); with --block-size, instead of --patch-size." };
        var block = new Option<string?>("--block-size") { Description = "Block shape, comma separated (e.g. 16,16,16); with --chunk-size." };
        var patch = new Option<string?>("--patch-size") { Description = "Patch size the layout is optimised for: one int for all spatial axes or one per spatial axis (default 192)." };
        var labels = new Option<string?>("--axis-labels") { Description = "One label per axis, comma separated (spatial, spatial_x/y/z, channel, temporal, ...); non-spatial axes are not patched." };
        var threads = new Option<int>("--threads") { Description = "Compression threads (0 = all cores, default).", DefaultValueFactory = _ => 0 };
        var cmd = new Command("convert", "Convert between .npy and .mla.")
        {
            input, output, codec, clevel, filter, split, chunk, block, patch, labels, threads,
        };
        cmd.SetAction(pr => CliApp.Guard(stderr, () =>
        {
            string inPath = pr.GetValue(input)!;
            string outPath = pr.GetValue(output)!;
            var inKind = KindOf(inPath, "input");
            var outKind = KindOf(outPath, "output");
            if (inKind == outKind)
                throw new ArgumentException($"input and output are both {inKind} files; convert goes between .npy and .mla.");
            if (inKind == FileKind.Npy)
            {
                var compression = new CompressionParams
                {
                    Codec = ParseCodec(pr.GetValue(codec)!),
                    CLevel = pr.GetValue(clevel),
                    SplitMode = ParseSplit(pr.GetValue(split)!),
                    Threads = pr.GetValue(threads),
                };
                var arr = Npy.Read(inPath);
                var dtype = DType.Parse(arr.DType);
                var (filters, meta) = ParseFilters(pr.GetValue(filter)!, dtype);
                compression = compression with { Filters = filters, FiltersMeta = meta };
                compression.Validate();
                var chunkShape = ParseShape(pr.GetValue(chunk), arr.Shape.Length, "--chunk-size");
                var blockShape = ParseShape(pr.GetValue(block), arr.Shape.Length, "--block-size");
                if ((chunkShape is null) != (blockShape is null))
                    throw new ArgumentException("--chunk-size and --block-size must be given together.");
                string[]? axisLabels = ParseLabels(pr.GetValue(labels), arr.Shape.Length);
                int[]? patchSize = ParseInts(pr.GetValue(patch), "--patch-size");
                if (patchSize is not null && chunkShape is not null)
                    throw new ArgumentException("--patch-size cannot be combined with --chunk-size/--block-size.");
                if (outPath.EndsWith(".mla", StringComparison.Ordinal))
                {
                    var layout = chunkShape is not null ? LayoutOptions.Manual(chunkShape, blockShape!)
                        : patchSize is not null ? LayoutOptions.Patch(patchSize) : LayoutOptions.Default;
                    try
                    {
                        using var img = MLArrayFile.FromBytes(arr.Data, arr.Shape, dtype, new MLArrayCreateOptions
                        {
                            Layout = layout, Compression = compression, AxisLabels = axisLabels,
                        });
                        img.Save(outPath, steps);
                    }
                    catch (NotSupportedException e)
                    {
                        throw new ArgumentException($"--patch-size: {e.Message}", e);
                    }
                }
                else
                {
                    if (patchSize is not null || axisLabels is not null)
                        throw new ArgumentException("--patch-size and --axis-labels need .mla output (a plain .b2nd file has no MLArray metadata).");
                    B2ndWriter.Write(outPath, arr.Data, arr.Shape, dtype, new B2ndWriteOptions { ChunkShape = chunkShape, BlockShape = blockShape, Compression = compression }, steps);
                }
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {outPath}: {arr.DType} ({string.Join(", ", arr.Shape)}), {new FileInfo(outPath).Length} bytes"));
            }
            else
            {
                using var a = B2ndArray.Open(inPath);
                var data = a.ReadBytes(pr.GetValue(threads));
                Npy.Write(outPath, new NpyArray(a.DType.Name, a.Shape, data), steps);
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {outPath}: {a.DType.Name} ({string.Join(", ", a.Shape)}), {new FileInfo(outPath).Length} bytes"));
            }
            return CliApp.Ok;
        }));
        return cmd;
    }

    private enum FileKind { Npy, Mla }

    private static FileKind KindOf(string path, string role)
    {
        string ext = CliInput.Extension(path).ToLowerInvariant();
        return ext switch
        {
            ".npy" => FileKind.Npy,
            ".mla" or ".b2nd" => FileKind.Mla,
            _ => throw new ArgumentException($"cannot tell the format of {role} '{path}' from its extension '{ext}'; use .npy or .mla."),
        };
    }

    internal static Blosc2Codec ParseCodec(string s) => s.ToLowerInvariant() switch
    {
        "blosclz" => Blosc2Codec.BloscLZ,
        "lz4" => Blosc2Codec.LZ4,
        "lz4hc" => Blosc2Codec.LZ4HC,
        "zlib" => Blosc2Codec.Zlib,
        "zstd" => Blosc2Codec.Zstd,
        _ => throw new ArgumentException($"unknown codec '{s}'; use blosclz, lz4, lz4hc, zlib or zstd."),
    };

    internal static Blosc2SplitMode ParseSplit(string s) => s.ToLowerInvariant() switch
    {
        "auto" => Blosc2SplitMode.Auto,
        "always" => Blosc2SplitMode.Always,
        "never" => Blosc2SplitMode.Never,
        "forward" or "forward_compat" => Blosc2SplitMode.ForwardCompat,
        _ => throw new ArgumentException($"unknown split mode '{s}'; use auto, always or never."),
    };

    /// <summary>Parses e.g. "delta+shuffle" or "trunc_prec12+bitshuffle" into six python-blosc2-style slots.</summary>
    internal static (Blosc2Filter[] Filters, byte[] Meta) ParseFilters(string spec, DType dtype)
    {
        var names = new List<Blosc2Filter>();
        var metas = new List<byte>();
        if (!spec.Equals("none", StringComparison.OrdinalIgnoreCase) && spec.Length > 0)
        {
            foreach (var raw in spec.Split('+'))
            {
                string t = raw.Trim().ToLowerInvariant();
                if (t == "shuffle") { names.Add(Blosc2Filter.Shuffle); metas.Add(0); }
                else if (t == "bitshuffle") { names.Add(Blosc2Filter.BitShuffle); metas.Add(0); }
                else if (t == "delta") { names.Add(Blosc2Filter.Delta); metas.Add(0); }
                else if (t.StartsWith("trunc_prec", StringComparison.Ordinal))
                {
                    if (dtype.Kind != DTypeKind.Float)
                        throw new ArgumentException($"trunc_prec only applies to float data, not {dtype.Name}.");
                    string num = t["trunc_prec".Length..];
                    int bits = num.Length == 0 ? (dtype.ItemSize == 4 ? 10 : 20)
                        : int.TryParse(num, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int b) ? b
                        : throw new ArgumentException($"bad trunc_prec precision '{num}' in --filter; use e.g. trunc_prec10.");
                    int mant = dtype.ItemSize == 4 ? 23 : 52;
                    if (bits is < -127 or > 127 || Math.Abs(bits) >= mant || bits == 0)
                        throw new ArgumentException($"trunc_prec precision {bits} is out of range for {dtype.Name} (1..{mant - 1} bits to keep, or -1..-{mant - 1} to drop).");
                    names.Add(Blosc2Filter.TruncPrec);
                    metas.Add(unchecked((byte)(sbyte)bits));
                }
                else
                    throw new ArgumentException($"unknown filter '{raw}' in --filter; use shuffle, bitshuffle, delta, trunc_prec[N] joined by '+', or none.");
            }
        }
        if (names.Count > 6)
            throw new ArgumentException("at most 6 filters fit in a Blosc2 pipeline.");
        var filters = CompressionParams.Pipeline([.. names]);
        var meta = new byte[6];
        metas.ToArray().CopyTo(meta, 6 - metas.Count);
        return (filters, meta);
    }

    internal static string[]? ParseLabels(string? s, int ndim)
    {
        if (string.IsNullOrWhiteSpace(s))
            return null;
        var parts = s.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Any(p => p.Length == 0))
            throw new ArgumentException($"--axis-labels '{s}' has an empty label.");
        if (parts.Length != ndim)
            throw new ArgumentException($"--axis-labels '{s}' has {parts.Length} labels but the array has {ndim} dimensions.");
        return parts;
    }

    internal static int[]? ParseInts(string? s, string option)
    {
        if (string.IsNullOrWhiteSpace(s))
            return null;
        var parts = s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var r = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out r[i]) || r[i] <= 0)
                throw new ArgumentException($"{option} '{s}' must be positive integers separated by commas.");
        return r.Length == 0 ? throw new ArgumentException($"{option} '{s}' has no values.") : r;
    }

    internal static int[]? ParseShape(string? s, int ndim, string option)
    {
        if (string.IsNullOrWhiteSpace(s))
            return null;
        var parts = s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var r = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out r[i]) || r[i] <= 0)
                throw new ArgumentException($"{option} '{s}' must be positive integers separated by commas.");
        if (r.Length != ndim)
            throw new ArgumentException($"{option} '{s}' has {r.Length} values but the array has {ndim} dimensions.");
        return r;
    }
}
