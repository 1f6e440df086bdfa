using System.CommandLine;
using System.Globalization;
using MLArray.Blosc2;
using MLArray.Conversion;
using MLArray.IO;
using MLArray.Layout;
using MLArray.Remote;

namespace MLArray.Cli.Commands;

/// <summary>
/// <c>mlarray convert</c>, one command for every conversion: <c>.npy</c> ↔ <c>.mla</c>/<c>.b2nd</c>, NIfTI/NRRD ↔
/// <c>.mla</c>, one file (<c>convert IN OUT</c>, formats from the extensions) or a batch (<c>convert IN… OUTDIR --to
/// FORMAT</c>, inputs may be folders or globs; see <see cref="BatchConvert"/>). The library does the work
/// (<see cref="MLArrayFile"/>, <see cref="MedicalConverter"/>, <see cref="Npy"/>, <see cref="CompressionNames"/>); this
/// class parses the options, refuses to replace existing files without <c>--overwrite</c> and prints.
/// </summary>
internal static class ConvertCommand
{
    /// <summary>What a path is, from its name.</summary>
    internal enum Kind { Other, Npy, Mla, B2nd, Medical }

    internal static Kind KindOf(string pathOrUrl) => KindOfPath(CliInput.PathPart(pathOrUrl));

    private static Kind KindOfPath(string path) => MedicalFormats.FormatOf(path) != MedicalFormat.None ? Kind.Medical
        : MedicalFormats.ExtensionOf(Path.GetFileName(path)) switch
        {
            ".npy" => Kind.Npy,
            ".mla" => Kind.Mla,
            ".b2nd" => Kind.B2nd,
            _ => Kind.Other,
        };

    /// <summary>The parsed options, shared by the single-file and the batch paths.</summary>
    internal sealed record Settings(
        CompressionParams Compression, string FilterSpec, string? Patch, string? Chunk, string? Block, string? Labels,
        int Threads, bool Raw, bool CanonicalRas, bool Overwrite, IReadOnlyList<string> MlaOnlyGiven,
        DType? Cast = null, bool Force = false, bool KeepByteOrder = false);

    public static Command Create(TextWriter stdout, TextWriter stderr, AtomicFileSteps? steps, CancellationToken ct)
    {
        string nifti = string.Join(", ", MedicalFormats.Extensions(MedicalFormat.Nifti));
        string nrrd = string.Join(", ", MedicalFormats.Extensions(MedicalFormat.Nrrd));
        string targets = string.Join("|", MedicalFormats.TargetNames);
        string codecs = string.Join("|", CompressionNames.CodecNames);
        var paths = new Argument<string[]>("paths")
        {
            Description = "IN OUT (one file), or IN… OUTDIR with --to (inputs may be files, folders or globs).",
            Arity = ArgumentArity.OneOrMore,
        };
        var to = new Option<string?>("--to") { Description = $"Batch output format: {targets} (hdr: .hdr/.img pair; nhdr: detached NRRD + .raw.gz)." };
        var jobs = new Option<int?>("--jobs", "-j") { Description = "Files converted in parallel in a batch (default: half the cores, at least 1)." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace output files that already exist (without it, convert refuses to)." };
        var codec = new Option<string>("--codec") { Description = $".mla output: codec {codecs}.", DefaultValueFactory = _ => "lz4hc" };
        var clevel = new Option<int>("--clevel") { Description = ".mla output: compression level 0-9.", DefaultValueFactory = _ => 8 };
        var filter = new Option<string>("--filter")
        {
            Description = $".mla output: filter pipeline applied left to right, names joined by '+' ({string.Join(", ", CompressionNames.FilterNames)}; "
                + $"trunc_prec[N] keeps N mantissa bits of float data), e.g. delta+shuffle, trunc_prec10+shuffle; {string.Join("|", CompressionNames.NoFilterNames)} for none.",
            DefaultValueFactory = _ => "shuffle",
        };
        var split = new Option<string>("--split") { Description = $".mla output: split mode {string.Join("|", CompressionNames.SplitModeNames)}.", DefaultValueFactory = _ => "auto" };
        var patch = new Option<string?>("--patch-size") { Description = ".mla output: patch size the layout is optimised for, one int for all spatial axes or one per spatial axis (default 192)." };
        var chunk = new Option<string?>("--chunk-size") { Description = ".mla/.b2nd output: chunk shape, comma separated (e.g. 80,64,64); with --block-size, instead of --patch-size." };
        var block = new Option<string?>("--block-size") { Description = ".mla/.b2nd output: block shape, comma separated (e.g. 16,16,16); with --chunk-size." };
        var labels = new Option<string?>("--axis-labels") { Description = ".npy -> .mla: one label per axis, comma separated (spatial, spatial_x/y/z, channel, temporal, ...); non-spatial axes are not patched." };
        var threads = new Option<int>("--threads") { Description = "Compression/decompression threads per file (0 = all cores).", DefaultValueFactory = _ => 0 };
        var raw = new Option<bool>("--raw") { Description = "NIfTI input: keep the stored integers of scaled data (the scaling stays in meta.source)." };
        var cast = new Option<string?>("--cast")
        {
            Description = ".npy/.mla/.b2nd input: convert the values to TYPE first (bool, int8..int64, uint8..uint64, float16, float32, float64, "
                + "complex64, complex128, or a NumPy dtype string such as <f4); a cast that can lose values (e.g. float32 -> int16) needs --force.",
        };
        var force = new Option<bool>("--force") { Description = "Allow a --cast that can lose values (rounding, overflow, precision)." };
        var keepOrder = new Option<bool>("--keep-byte-order") { Description = ".npy -> .mla/.b2nd: keep a big-endian input big-endian in the file (default: stored little-endian)." };
        var canonical = new Option<string?>("--canonical") { Description = "NIfTI/NRRD input: 'ras' reorients to the closest RAS+ orientation, XYZ order, affine stored, coord_system RAS+ (the reference's later layout)." };
        var shard = Shard.CreateOption("Batch: convert only shard I of N of the sorted inputs");
        var cmd = new Command("convert",
            "Convert between .npy, .mla/.b2nd, NIfTI and NRRD; the formats come from the file extensions. "
            + ".npy -> .mla or .b2nd; .mla/.b2nd -> .npy; "
            + $"NIfTI ({nifti}) or NRRD ({nrrd}) -> .mla; .mla -> NIfTI or NRRD. "
            + $"Batch: IN… OUTDIR --to {targets}; two inputs that would write the same output are refused. "
            + "Outputs are written atomically; existing files are replaced only with --overwrite. Ctrl+C cancels (exit 130, no partial output).")
        {
            paths, to, jobs, overwrite, codec, clevel, filter, split, patch, chunk, block, labels, threads, raw, canonical, shard, cast, force, keepOrder,
        };
        cmd.SetAction(pr => CliApp.Guard(stderr, () =>
        {
            string[] ps = pr.GetValue(paths)!;
            if (ps.Length < 2) throw new ArgumentException("convert needs an input and an output.");
            string? canon = pr.GetValue(canonical);
            if (canon is not null && !canon.Equals("ras", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"--canonical '{canon}' is not supported; use --canonical ras.");
            var settings = new Settings(
                new CompressionParams
                {
                    Codec = CompressionNames.ParseCodec(pr.GetValue(codec)!),
                    CLevel = pr.GetValue(clevel),
                    SplitMode = CompressionNames.ParseSplitMode(pr.GetValue(split)!),
                    Threads = pr.GetValue(threads),
                },
                pr.GetValue(filter)!, pr.GetValue(patch), pr.GetValue(chunk), pr.GetValue(block), pr.GetValue(labels),
                pr.GetValue(threads), pr.GetValue(raw), canon is not null, pr.GetValue(overwrite),
                new Option[] { codec, clevel, filter, split, patch }.Where(o => pr.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToArray(),
                pr.GetValue(cast) is { } castName ? ParseCastType(castName) : null, pr.GetValue(force), pr.GetValue(keepOrder));
            if (settings.Force && settings.Cast is null)
                throw new ArgumentException("--force applies to --cast only (it allows a cast that can lose values).");
            settings.Compression.Validate();
            if ((settings.Chunk is null) != (settings.Block is null))
                throw new ArgumentException("--chunk-size and --block-size must be given together.");
            if (settings.Patch is not null && settings.Chunk is not null)
                throw new ArgumentException("--patch-size cannot be combined with --chunk-size/--block-size.");
            string? toFmt = pr.GetValue(to);
            bool batch = toFmt is not null || ps.Length > 2 || Directory.Exists(ps[0]) || BatchConvert.IsGlob(ps[0]);
            var sh = Shard.Parse(pr.GetValue(shard));
            if (batch)
            {
                if (HttpRangeSource.IsHttpUrl(ps[^1]))
                    throw new ArgumentException($"a batch cannot write to {CliInput.Display(ps[^1])}: http(s) is read-only; give a local folder or an s3://bucket/prefix/ or az://container/prefix/ URL.");
                BatchConvert.ConvertOne one = CliInput.IsObjectStoreUrl(ps[^1])
                    ? (i, o, progress) => ConvertAndUpload(i, o, settings, progress, steps, ct).What
                    : (i, o, progress) => ConvertOne(i, o, settings, progress, steps, ct);
                return BatchConvert.Run(ps[..^1], ps[^1], toFmt, Math.Max(1, pr.GetValue(jobs) ?? Environment.ProcessorCount / 2), one, settings.Overwrite, stdout, stderr, ct, sh);
            }
            if (sh is not null)
                throw new ArgumentException("--shard applies to batch conversion (IN… OUTDIR --to FORMAT).");

            string input = ps[0], output = ps[1];
            if (CliInput.IsObjectStoreUrl(output))
                return CliApp.Guard(stderr, [input, output], () => ConvertToStore(input, output, settings, stdout, stderr, steps, ct));
            BatchConvert.CheckNotExisting([output], settings.Overwrite);
            return CliApp.Guard(stderr, [input, output], () =>
            {
                try
                {
                    string what = ConvertOne(input, output, settings, stdout, steps, ct);
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {output}: {what}, {new FileInfo(output).Length} bytes"));
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    stderr.WriteLine($"mlarray: cancelled; {output} was not written.");
                    return CliApp.Cancelled;
                }

                return CliApp.Ok;
            });
        }));
        return cmd;
    }

    /// <summary>
    /// Converts one file into an object store: written into a local temporary folder, then uploaded (multipart/staged
    /// for large files), so the object appears only when complete; the temporary folder is always deleted.
    /// </summary>
    private static int ConvertToStore(string input, string output, Settings settings, TextWriter stdout, TextWriter stderr, AtomicFileSteps? steps, CancellationToken ct)
    {
        if (!settings.Overwrite && CliInput.Exists(output))
            throw new ArgumentException($"{output} already exists; pass --overwrite to replace it.");
        try
        {
            var (what, bytes) = ConvertAndUpload(input, output, settings, stdout, steps, ct);
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {output}: {what}, {bytes} bytes (uploaded)"));
            return CliApp.Ok;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            stderr.WriteLine($"mlarray: cancelled; {output} was not written.");
            return CliApp.Cancelled;
        }
    }

    /// <summary>
    /// Converts <paramref name="input"/> into a local temporary folder and uploads the result to the object-store URL
    /// <paramref name="output"/> (a failed conversion uploads nothing); the folder is always deleted. Returns what
    /// <see cref="ConvertOne"/> returns and the bytes uploaded.
    /// </summary>
    internal static (string What, long Bytes) ConvertAndUpload(string input, string output, Settings settings, TextWriter progress, AtomicFileSteps? steps, CancellationToken ct)
    {
        string dir = Directory.CreateTempSubdirectory("mlarray-convert-").FullName;
        try
        {
            string local = Path.Combine(dir, CliInput.FileName(output));
            string what = ConvertOne(input, local, settings, progress, steps, ct);
            long bytes = MedicalFormats.WrittenFiles(local).Sum(f => new FileInfo(f).Length);
            CliInput.Upload(local, output, ct);
            return (what, bytes);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// Converts one file; writes a "converting" line to <paramref name="progress"/> once the input's header is read (the
    /// conversion is then under way). Returns the array's dtype and shape, for the caller's "wrote" line.
    /// </summary>
    internal static string ConvertOne(string input, string output, Settings s, TextWriter progress, AtomicFileSteps? steps, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        Kind inKind = KindOf(input), outKind = KindOf(output);
        if (s.Labels is not null && inKind != Kind.Npy)
            throw new ArgumentException("--axis-labels applies to .npy input only (NIfTI/NRRD axes are labelled from their header).");
        if (s.Cast is not null && inKind is not (Kind.Npy or Kind.Mla or Kind.B2nd))
            throw new ArgumentException("--cast applies to .npy, .mla and .b2nd input (NIfTI/NRRD input keeps its stored type, or is scaled to float).");
        if (s.KeepByteOrder && (inKind != Kind.Npy || outKind is not (Kind.Mla or Kind.B2nd)))
            throw new ArgumentException("--keep-byte-order applies to .npy -> .mla/.b2nd only.");
        if ((s.Raw || s.CanonicalRas) && inKind != Kind.Medical)
            throw new ArgumentException($"{(s.Raw ? "--raw" : "--canonical")} applies to NIfTI/NRRD input only.");
        if (outKind is not (Kind.Mla or Kind.B2nd) && (s.MlaOnlyGiven.Count > 0 || s.Chunk is not null))
            throw new ArgumentException($"{string.Join(", ", s.Chunk is null ? s.MlaOnlyGiven : [.. s.MlaOnlyGiven, "--chunk-size"])} appl{(s.MlaOnlyGiven.Count + (s.Chunk is null ? 0 : 1) > 1 ? "y" : "ies")} to .mla output only; '{Path.GetFileName(output)}' is not an .mla file.");
        switch (inKind, outKind)
        {
            case (Kind.Npy, Kind.Mla or Kind.B2nd):
                return NpyToMla(input, output, outKind == Kind.Mla, s, steps);
            case (Kind.Mla or Kind.B2nd, Kind.Npy):
            {
                using var a = CliInput.OpenArray(input);
                var (data, dtype) = ApplyCast(a.ReadBytes(s.Threads), a.DType, s);
                // values are in the machine's order: a big-endian array is written as a little-endian .npy
                Npy.Write(output, new NpyArray(dtype.AsLittleEndian().Name, a.Shape, data), steps);
                return Describe(dtype.Name, a.Shape);
            }

            case (Kind.Medical, Kind.Mla):
            {
                string what = "";
                MedicalConverter.ToMLArray(input, output, new MedicalToMLArrayOptions
                {
                    Raw = s.Raw,
                    CanonicalRas = s.CanonicalRas,
                    Configure = (dtype, shape) =>
                    {
                        var comp = s.Compression.WithFilters(s.FilterSpec, dtype);
                        comp.Validate();
                        what = Describe(dtype.Name, shape);
                        progress.WriteLine($"converting {input} -> {output}: {what}");
                        return (Layout(s, shape.Length), comp);
                    },
                }, ct);
                return what;
            }

            case (Kind.Mla, Kind.Medical):
                progress.WriteLine($"converting {CliInput.Display(input)} -> {output}");
                if (s.Cast is not null || CliInput.IsObjectStoreUrl(input))
                {
                    using var f = CliInput.IsObjectStoreUrl(input) ? CliInput.OpenFile(input) : MLArrayFile.Open(input);
                    var (data, dtype) = ApplyCast(f.ReadBytes(), f.DType, s);
                    MedicalConverter.FromMLArray(f.Meta, data, f.Shape, dtype, output, ct);
                }
                else
                {
                    MedicalConverter.FromMLArray(input, output, ct);
                }
                return MedicalFormats.FormatOf(output) == MedicalFormat.Nifti ? "NIfTI" : "NRRD";
            default:
                throw new ArgumentException(
                    $"cannot convert '{Path.GetFileName(input)}' to '{Path.GetFileName(output)}': supported are .npy -> .mla/.b2nd, .mla/.b2nd -> .npy, "
                    + "NIfTI/NRRD -> .mla and .mla -> NIfTI/NRRD (see mlarray convert --help).");
        }
    }

    private static string Describe(string dtype, long[] shape) => string.Create(CultureInfo.InvariantCulture, $"{dtype} ({string.Join(", ", shape)})");

    private static string NpyToMla(string input, string output, bool mla, Settings s, AtomicFileSteps? steps)
    {
        var arr = Npy.Read(input);
        var (values, dtype) = ApplyCast(arr.Data, DType.Parse(arr.DType), s);
        if (s.KeepByteOrder && arr.SourceIsBigEndian)
            dtype = dtype.AsBigEndian(); // the writers store it swapped back
        arr = new NpyArray(dtype.AsLittleEndian().Name, arr.Shape, values);
        var compression = s.Compression.WithFilters(s.FilterSpec, dtype);
        compression.Validate();
        string[]? axisLabels = ParseLabels(s.Labels, arr.Shape.Length);
        var layout = Layout(s, arr.Shape.Length);
        if (mla)
        {
            try
            {
                using var img = MLArrayFile.FromBytes(values, arr.Shape, dtype, new MLArrayCreateOptions
                {
                    Layout = layout ?? LayoutOptions.Default, Compression = compression, AxisLabels = axisLabels,
                });
                img.Save(output, steps);
            }
            catch (NotSupportedException e)
            {
                throw new ArgumentException($"--patch-size: {e.Message}", e);
            }
        }
        else
        {
            if (s.Patch is not null || axisLabels is not null)
                throw new ArgumentException("--patch-size and --axis-labels need .mla output (a plain .b2nd file has no MLArray metadata).");
            var (chunkShape, blockShape) = layout is null ? (null, null) : (ParseShape(s.Chunk, arr.Shape.Length, "--chunk-size"), ParseShape(s.Block, arr.Shape.Length, "--block-size"));
            B2ndWriter.Write(output, values, arr.Shape, dtype, new B2ndWriteOptions { ChunkShape = chunkShape, BlockShape = blockShape, Compression = compression }, steps);
        }

        return Describe(dtype.Name, arr.Shape);
    }

    /// <summary>NumPy type names (and dtype strings) for --cast.</summary>
    internal static DType ParseCastType(string name) => name.ToLowerInvariant() switch
    {
        "bool" => DType.Bool,
        "int8" => DType.Int8,
        "uint8" => DType.UInt8,
        "int16" => DType.Int16,
        "uint16" => DType.UInt16,
        "int32" => DType.Int32,
        "uint32" => DType.UInt32,
        "int64" => DType.Int64,
        "uint64" => DType.UInt64,
        "float16" or "half" => DType.Float16,
        "float32" or "float" => DType.Float32,
        "float64" or "double" => DType.Float64,
        "complex64" => DType.Complex64,
        "complex128" => DType.Complex128,
        _ when DType.TryParse(name, out var d) && !d.IsOpaque => d.AsLittleEndian(),
        _ => throw new ArgumentException($"--cast '{name}' is not a numeric type; use bool, int8, uint8, int16, uint16, int32, uint32, int64, uint64, float16, float32, float64, complex64 or complex128."),
    };

    /// <summary>The values converted to --cast's type (refusing a lossy cast without --force); unchanged without --cast.</summary>
    internal static (byte[] Data, DType DType) ApplyCast(byte[] data, DType from, Settings s)
    {
        if (s.Cast is not { } to || to.Code == from.Code)
            return (data, from);
        if (from.Kind == DTypeKind.Complex && to.Kind != DTypeKind.Complex)
            throw new ArgumentException($"--cast {Name(to)}: {from.AsLittleEndian()} is complex and the imaginary part would be dropped; cast to complex64/complex128, or export real parts elsewhere.");
        if (!MLArray.Kernels.ElementConvert.IsExact(from, to) && !s.Force)
            throw new ArgumentException($"--cast {Name(to)} can lose values of {Name(from)} ({DescribeLoss(from, to)}); add --force to cast anyway.");
        return (MLArray.Kernels.ElementConvert.Cast(data, from, to), to);
    }

    private static string Name(DType d) => d.Code.ToString().ToLowerInvariant();

    private static string DescribeLoss(DType from, DType to) => (from.Kind, to.Kind) switch
    {
        (DTypeKind.Float or DTypeKind.Complex, DTypeKind.SignedInteger or DTypeKind.UnsignedInteger or DTypeKind.Bool) => "fractions are truncated and out-of-range values saturate",
        (_, DTypeKind.Float or DTypeKind.Complex) => "precision is rounded away",
        _ => "values outside the target range saturate",
    };

    /// <summary>The layout from --chunk-size/--block-size or --patch-size; null for the default (patch 192).</summary>
    private static LayoutOptions? Layout(Settings s, int ndim) =>
        s.Chunk is not null ? LayoutOptions.Manual(ParseShape(s.Chunk, ndim, "--chunk-size")!, ParseShape(s.Block, ndim, "--block-size")!)
        : s.Patch is not null ? LayoutOptions.Patch(ParseInts(s.Patch, "--patch-size")!)
        : null;

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

    /// <summary>Positive integers separated by commas (e.g. <c>--patch 64,64,64</c>); null for an absent option.</summary>
    internal static int[]? ParseInts(string? s, string option)
    {
        if (string.IsNullOrWhiteSpace(s))
            return null;
        var parts = s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var r = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out r[i]) || r[i] <= 0)
                throw new ArgumentException($"{option} '{s}' must be positive integers separated by commas.");
        }

        return r.Length == 0 ? throw new ArgumentException($"{option} '{s}' has no values.") : r;
    }

    /// <summary><see cref="ParseInts"/> with exactly <paramref name="ndim"/> values.</summary>
    internal static int[]? ParseShape(string? s, int ndim, string option)
    {
        int[]? r = ParseInts(s, option);
        if (r is not null && r.Length != ndim)
            throw new ArgumentException($"{option} '{s}' has {r.Length} values but the array has {ndim} dimensions.");
        return r;
    }
}
