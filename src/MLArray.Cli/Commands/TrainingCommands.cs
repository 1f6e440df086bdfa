using System.CommandLine;
using System.CommandLine.Help;
using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text.Json;
using MLArray.IO;
using MLArray.Training.Data;
using MLArray.Training.Sampling;

namespace MLArray.Cli.Commands;

/// <summary>
/// Training-data commands: <c>mlarray index DATASET [--force]</c> (class locations for foreground sampling),
/// <c>mlarray sample DATASET …</c> (runs the patch loader, optionally writing every sample as .npy plus samples.jsonl)
/// and <c>mlarray bench --loader DATASET …</c> (the loader's numbers without output).
/// </summary>
internal static class TrainingCommands
{
    // ------------------------------------------------------------------ index

    public static Command CreateIndex(TextWriter stdout, TextWriter stderr)
    {
        var dataset = new Argument<string>("dataset") { Description = "A folder of NAME.mla + NAME_seg.mla, a dataset.json manifest, a glob, or an s3://bucket/prefix/ or az://container/prefix/ URL of such files (updated objects are replaced only if unchanged since read)." };
        var force = new Option<bool>("--force") { Description = "Recompute cases that already have class locations." };
        var threads = new Option<int>("--threads") { Description = "Cases indexed in parallel (default: all cores).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var seed = new Option<long>("--seed") { Description = $"Seed of the sampling (default {ClassLocations.DefaultSeed}, nnU-Net's).", DefaultValueFactory = _ => ClassLocations.DefaultSeed };
        var shard = Shard.CreateOption("Index only shard I of N of the segmentations (sorted by path)");
        var cmd = new Command("index", "Compute class locations (sampled voxel coordinates per label) of every segmentation and store them in its metadata (meta.extra.class_locations). Resumable: indexed cases are skipped unless --force.")
        {
            dataset, force, threads, seed, shard,
        };
        cmd.SetAction(pr => CliApp.Guard(stderr, () =>
        {
            int t = pr.GetValue(threads);
            if (t <= 0) throw new ArgumentException($"--threads must be positive, got {t}.");
            var sh = Shard.Parse(pr.GetValue(shard));
            string where = pr.GetValue(dataset)!;
            if (MLArray.Remote.HttpRangeSource.IsHttpUrl(where))
                throw new ArgumentException($"cannot index {CliInput.Display(where)}: http(s) is read-only and index writes the class locations into each segmentation; index the files in a folder or an object store (s3://bucket/prefix/, az://container/prefix/).");
            List<CaseInfo> cases;
            if (CliInput.IsObjectStoreUrl(where))
                cases = RemoteIndex.Cases(where);
            else
                using (var ds = PatchDataset.Open(where)) cases = [.. ds.Cases];
            var todo = cases.Where(c => c.SegmentationPath is not null).ToList();
            int withoutSegmentation = cases.Count - todo.Count;
            if (sh is { } s)
            {
                int all = todo.Count;
                todo = s.Select(todo, c => c.SegmentationPath!);
                stdout.WriteLine($"shard {s}: {todo.Count} of {all} segmentations");
            }
            int done = 0, skipped = 0, computed = 0, failed = 0;
            var gate = new object();
            var sw = Stopwatch.StartNew();
            Parallel.ForEach(todo, new ParallelOptions { MaxDegreeOfParallelism = t }, c =>
            {
                string status;
                try
                {
                    ClassLocations? locations = null;
                    string segPath = c.SegmentationPath!;
                    if (MLArray.Remote.HttpRangeSource.IsHttpUrl(segPath))
                        throw new ArgumentException($"{CliInput.Display(segPath)} is read-only (http(s)): the class locations cannot be written into it; index the files where they can be written (a folder, s3://, az://).");
                    if (CliInput.IsObjectStoreUrl(segPath))
                    {
                        // Read, indexed from a local copy, uploaded only if the object did not change meanwhile.
                        locations = RemoteIndex.IndexOne(segPath, pr.GetValue(force), pr.GetValue(seed), CancellationToken.None);
                    }
                    else
                    {
                        using (var seg = MLArrayFile.Open(segPath))
                        {
                            seg.DecodeThreads = 1;
                            if (pr.GetValue(force) || !ClassLocations.IsStored(seg))
                                locations = ClassLocations.Compute(seg, pr.GetValue(seed));
                        }
                        locations?.Store(segPath);
                    }
                    if (locations is null)
                    {
                        Interlocked.Increment(ref skipped);
                        status = "already indexed";
                    }
                    else
                    {
                        Interlocked.Increment(ref computed);
                        status = $"{locations.Labels.Count} labels";
                    }
                }
                catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
                {
                    Interlocked.Increment(ref failed);
                    status = "FAILED: " + e.Message;
                }
                lock (gate)
                {
                    done++;
                    stderr.WriteLine($"[{done}/{todo.Count}] {c.Id}: {status}");
                }
            });
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"indexed {computed}, skipped {skipped} already indexed, {withoutSegmentation} without segmentation, {failed} failed ({sw.Elapsed.TotalSeconds:F1} s)"));
            return failed > 0 ? CliApp.Unreadable : CliApp.Ok;
        }));
        return cmd;
    }

    // ------------------------------------------------------------------ sample

    private sealed record SampleArgs(string Dataset, long[] Patch, long[]? ReadPatch, int BatchSize, long Batches, double Foreground, long Seed,
        int Rank, int WorldSize, int Workers, int Prefetch, string? Out, bool Json, bool SkipUnreadable, Dictionary<long, double>? LabelWeights);

    public static Command CreateSample(TextWriter stdout, TextWriter stderr)
    {
        var dataset = new Argument<string>("dataset") { Description = "A folder of NAME.mla + NAME_seg.mla, a dataset.json manifest or a glob." };
        var (options, read) = SamplerOptions(withOut: true);
        var cmd = new Command("sample", "Run the patch sampler over a dataset and report patches/s, MB/s and the foreground share; with --out write every sample as .npy plus samples.jsonl.")
        {
            dataset,
        };
        foreach (var o in options) cmd.Options.Add(o);
        cmd.SetAction(pr => CliApp.Guard(stderr, () => RunSample(read(pr, pr.GetValue(dataset)!), stdout, stderr)));
        return cmd;
    }

    /// <summary>True for <c>bench --loader …</c>, which this class handles (the file benchmark keeps its own command).</summary>
    public static bool WantsBenchLoader(string[] args) => args.Length >= 2 && args[0] == "bench" && args.Contains("--loader");

    public static int RunBenchLoader(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var loader = new Option<string>("--loader") { Description = "The dataset to run the loader over.", Required = true };
        var (options, read) = SamplerOptions(withOut: false);
        var cmd = new Command("bench", "Benchmark the patch loader over a dataset (the numbers of 'sample' without output).") { loader };
        foreach (var o in options) cmd.Options.Add(o);
        cmd.SetAction(pr => CliApp.Guard(stderr, () => RunSample(read(pr, pr.GetValue(loader)!), stdout, stderr)));
        var root = new Command(CliApp.Name) { new HelpOption(), cmd }; // named as the tool, as CliApp's root
        return root.Parse(args).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
    }

    private static (List<Option> Options, Func<ParseResult, string, SampleArgs> Read) SamplerOptions(bool withOut)
    {
        var patch = new Option<string>("--patch") { Description = "Patch size per spatial axis, e.g. 96,96,96 (one number: every axis).", Required = true };
        var readPatch = new Option<string?>("--read-patch") { Description = "Read patch size (≥ --patch; margin for spatial augmentation, nnU-Net's need_to_pad)." };
        var batch = new Option<int>("--batch-size") { Description = "Samples per batch (default 2).", DefaultValueFactory = _ => 2 };
        var batches = new Option<long>("--batches") { Description = "Batches to draw (default 50).", DefaultValueFactory = _ => 50 };
        var fg = new Option<double>("--oversample-foreground") { Description = "Share of each batch forced to foreground, the last ⌈p·B⌉ samples (default 0.33).", DefaultValueFactory = _ => 0.33 };
        var seed = new Option<long>("--seed") { Description = "Seed (default 0).", DefaultValueFactory = _ => 0 };
        var rank = new Option<int>("--rank") { Description = "This rank (distributed sharding; default 0).", DefaultValueFactory = _ => 0 };
        var world = new Option<int>("--world-size") { Description = "Number of ranks (default 1).", DefaultValueFactory = _ => 1 };
        var workers = new Option<int>("--workers") { Description = "Worker threads (default 2).", DefaultValueFactory = _ => 2 };
        var prefetch = new Option<int>("--prefetch") { Description = "Batches prepared ahead (default 4).", DefaultValueFactory = _ => 4 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var skip = new Option<bool>("--skip-unreadable") { Description = "Skip cases that cannot be read (logged) instead of stopping." };
        var weights = new Option<string?>("--label-weights") { Description = "Label-weighted sampling instead of foreground oversampling: LABEL=WEIGHT pairs, e.g. 0=1,1=2,2=2 (label 0: a uniform position)." };
        var output = new Option<string?>("--out") { Description = "Write every sample as .npy (image and seg, stored axis order, values as stored) plus samples.jsonl into this folder." };
        List<Option> all = [patch, readPatch, batch, batches, fg, seed, rank, world, workers, prefetch, json, skip, weights];
        if (withOut) all.Add(output);
        return (all, (pr, ds) => new SampleArgs(ds, ParseSizes(pr.GetValue(patch)!, "--patch"), pr.GetValue(readPatch) is { } rp ? ParseSizes(rp, "--read-patch") : null,
            pr.GetValue(batch), pr.GetValue(batches), pr.GetValue(fg), pr.GetValue(seed), pr.GetValue(rank), pr.GetValue(world), pr.GetValue(workers),
            pr.GetValue(prefetch), withOut ? pr.GetValue(output) : null, pr.GetValue(json), pr.GetValue(skip),
            pr.GetValue(weights) is { } w ? ParseWeights(w) : null));
    }

    private static Dictionary<long, double> ParseWeights(string s)
    {
        var result = new Dictionary<long, double>();
        foreach (var part in s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = part.Split('=', StringSplitOptions.TrimEntries);
            if (kv.Length != 2 || !long.TryParse(kv[0], NumberStyles.None, CultureInfo.InvariantCulture, out long label)
                || !double.TryParse(kv[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double weight) || !(weight >= 0) || double.IsInfinity(weight)
                || !result.TryAdd(label, weight))
                throw new ArgumentException($"--label-weights '{s}' must be LABEL=WEIGHT pairs separated by commas (labels ≥ 0, each once; weights ≥ 0), e.g. 0=1,1=2.");
        }
        if (result.Count == 0) throw new ArgumentException("--label-weights needs at least one LABEL=WEIGHT pair.");
        return result;
    }

    private static long[] ParseSizes(string s, string name)
    {
        var parts = s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var values = new long[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!long.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out values[i]) || values[i] <= 0)
                throw new ArgumentException($"{name} '{s}' must be positive integers separated by commas.");
        if (values.Length == 0) throw new ArgumentException($"{name} needs at least one size.");
        return values;
    }

    private static int RunSample(SampleArgs a, TextWriter stdout, TextWriter stderr)
    {
        if (a.Batches <= 0) throw new ArgumentException($"--batches must be positive, got {a.Batches}.");
        if (a.Out is not null && File.Exists(a.Out))
            throw new ArgumentException($"--out '{a.Out}' is a file; give a folder for the samples.");
        if (a.Out is not null && Directory.Exists(a.Out) && Directory.EnumerateFileSystemEntries(a.Out).Any())
            throw new ArgumentException($"--out '{a.Out}' is not empty: the files of an earlier run would mix with this run's (samples.jsonl lists only this run's); give a new or empty folder.");
        // cases in object stores (a manifest listing s3:// or az:// URLs) open through the storage packages
        using var ds = PatchDataset.Open(a.Dataset, new DatasetOptions { Opener = url => CliInput.OpenFile(url) });
        Action<string> log = m => { lock (stderr) stderr.WriteLine($"mlarray: {m}"); };
        long[] imageShape;
        long[]? segShape = null;
        int spatialRank;
        using (var first = ds.Acquire(0))
        {
            imageShape = first.Image.Shape;
            spatialRank = first.Image.SpatialNDim;
            segShape = first.Segmentation?.Shape;
        }
        // Values as stored: every case's dtypes are looked at up front (headers only); the image batch takes the
        // narrowest dtype that holds every case's values exactly, the segmentation batch that of the segmentations
        // and of int16 (so the −1 padding fits).
        var scan = SampleDTypes.Read(ds, a.SkipUnreadable, log);
        var (imageType, imageWhy) = SampleDTypes.Common(scan.Cases.Select(c => (c.Case, c.Image)), "image");
        var segs = scan.Cases.Where(c => c.Segmentation is not null).Select(c => (c.Case, c.Segmentation!.Value)).ToList();
        var (segType, segWhy) = segs.Count > 0 ? SampleDTypes.Common(segs, "segmentation", DType.Int16) : (DType.Int16, "no segmentations");
        long[] Expand(long[] v) => v.Length == 1 ? Enumerable.Repeat(v[0], spatialRank).ToArray() : v;
        var options = new PatchLoaderOptions
        {
            PatchSize = Expand(a.Patch), ReadPatchSize = a.ReadPatch is null ? null : Expand(a.ReadPatch), BatchSize = a.BatchSize, BatchCount = a.Batches,
            ForegroundFraction = a.Foreground, Seed = a.Seed, Rank = a.Rank, WorldSize = a.WorldSize, Workers = a.Workers, PrefetchDepth = a.Prefetch,
            SkipUnreadable = a.SkipUnreadable, Log = log, LabelWeights = a.LabelWeights,
        };
        var types = new SampleTypes(imageType, imageWhy, segs.Count > 0 ? segType : null, segWhy);
        var ctx = new SampleContext(ds, options, a, imageShape, segShape, types, stdout);
        return imageType.Code switch
        {
            DTypeCode.Int8 => Seg<sbyte>(ctx, segType), DTypeCode.UInt8 => Seg<byte>(ctx, segType),
            DTypeCode.Int16 => Seg<short>(ctx, segType), DTypeCode.UInt16 => Seg<ushort>(ctx, segType),
            DTypeCode.Int32 => Seg<int>(ctx, segType), DTypeCode.UInt32 => Seg<uint>(ctx, segType),
            DTypeCode.Int64 => Seg<long>(ctx, segType), DTypeCode.UInt64 => Seg<ulong>(ctx, segType),
            DTypeCode.Float16 => Seg<Half>(ctx, segType),
            DTypeCode.Float32 => Seg<float>(ctx, segType), DTypeCode.Float64 => Seg<double>(ctx, segType),
            _ => throw new MLArrayNotSupportedException($"images of dtype {imageType.Name} cannot be sampled."),
        };
    }

    private static int Seg<TI>(SampleContext ctx, DType segType) where TI : unmanaged, INumberBase<TI> =>
        segType.Code switch
        {
            DTypeCode.Int16 => ctx.Run<TI, short>(),
            DTypeCode.Int32 => ctx.Run<TI, int>(),
            _ => throw new MLArrayNotSupportedException($"segmentation batches of dtype {segType.Name} cannot be sampled (labels must fit int32)."),
        };

    /// <summary>The batch dtypes of a run and why they were chosen (printed with the results).</summary>
    private sealed record SampleTypes(DType Image, string ImageWhy, DType? Segmentation, string SegmentationWhy);

    private sealed class SampleContext(PatchDataset ds, PatchLoaderOptions options, SampleArgs a, long[] imageShape, long[]? segShape, SampleTypes types, TextWriter stdout)
    {
        public int Run<TI, TS>() where TI : unmanaged, INumberBase<TI> where TS : unmanaged, INumberBase<TS>
        {
            using var loader = new PatchLoader<TI, TS>(ds, options);
            StreamWriter? jsonl = null;
            if (a.Out is not null)
            {
                Directory.CreateDirectory(a.Out);
                jsonl = new StreamWriter(Path.Combine(a.Out, "samples.jsonl"), false, new System.Text.UTF8Encoding(false)) { NewLine = "\n" };
            }
            long patches = 0, forced = 0, withFg = 0, bytes = 0;
            var sw = Stopwatch.StartNew();
            try
            {
                var task = Consume();
                task.GetAwaiter().GetResult();

                async Task Consume()
                {
                    await foreach (var b in loader.ConfigureAwait(false))
                    {
                        using (b)
                        {
                            long imagePer = b.Image.Length / b.Count, segPer = b.HasSegmentation ? b.Segmentation.Length / b.Count : 0;
                            bytes += b.Image.Length * Marshal.SizeOf<TI>() + b.Segmentation.Length * Marshal.SizeOf<TS>();
                            for (int i = 0; i < b.Count; i++)
                            {
                                var s = b.Samples[i];
                                patches++;
                                if (s.ForcedForeground) forced++;
                                if (b.HasSegmentation)
                                {
                                    var seg = b.Segmentation.Span.Slice((int)(i * segPer), (int)segPer);
                                    foreach (var v in seg)
                                        if (TS.IsPositive(v) && !TS.IsZero(v)) { withFg++; break; }
                                }
                                if (jsonl is not null)
                                    Write(b, i, s, imagePer, segPer, jsonl);
                            }
                        }
                    }
                }
            }
            finally
            {
                jsonl?.Dispose();
            }
            double secs = Math.Max(sw.Elapsed.TotalSeconds, 1e-9);
            var missing = loader.CasesWithoutClassLocations;
            if (a.Json)
            {
                using var ms = new MemoryStream();
                using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
                {
                    w.WriteStartObject();
                    w.WriteString("dataset", a.Dataset);
                    w.WriteNumber("cases", ds.Count);
                    w.WriteNumber("patches", patches);
                    w.WriteNumber("seconds", Math.Round(secs, 4));
                    w.WriteNumber("patches_per_s", Math.Round(patches / secs, 2));
                    w.WriteNumber("mb_per_s", Math.Round(bytes / secs / 1e6, 2));
                    w.WriteNumber("forced_foreground_share", patches == 0 ? 0 : Math.Round(forced / (double)patches, 4));
                    w.WriteNumber("foreground_patch_share", patches == 0 ? 0 : Math.Round(withFg / (double)patches, 4));
                    w.WriteNumber("workers", options.Workers);
                    w.WriteString("image_dtype", Name(types.Image));
                    w.WriteString("image_dtype_reason", types.ImageWhy);
                    if (types.Segmentation is null) w.WriteNull("seg_dtype");
                    else w.WriteString("seg_dtype", Name(types.Segmentation.Value));
                    w.WriteString("seg_dtype_reason", types.SegmentationWhy);
                    w.WriteStartArray("cases_without_class_locations");
                    foreach (var m in missing) w.WriteStringValue(m);
                    w.WriteEndArray();
                    w.WriteStartObject("cases_without_weighted_labels");
                    foreach (var (id, labels) in loader.CasesWithoutWeightedLabels)
                    {
                        w.WriteStartArray(id);
                        foreach (var l in labels) w.WriteNumberValue(l);
                        w.WriteEndArray();
                    }
                    w.WriteEndObject();
                    w.WriteEndObject();
                }
                stdout.WriteLine(System.Text.Encoding.UTF8.GetString(ms.ToArray()));
            }
            else
            {
                stdout.WriteLine($"image dtype {Name(types.Image)} ({types.ImageWhy})" +
                    (types.Segmentation is null ? "" : $"; segmentation dtype {Name(types.Segmentation.Value)} ({types.SegmentationWhy})"));
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{patches} patches in {secs:F2} s: {patches / secs:F1} patches/s, {bytes / secs / 1e6:F1} MB/s; forced foreground {forced / (double)Math.Max(1, patches):P1}, patches containing foreground {withFg / (double)Math.Max(1, patches):P1} ({options.Workers} workers)"));
                if (missing.Count > 0)
                    stdout.WriteLine($"cases without class locations (uniform sampling; run 'mlarray index'): {string.Join(", ", missing)}");
                if (loader.CasesWithoutWeightedLabels is { Count: > 0 } absent)
                    stdout.WriteLine($"warning: --label-weights could not be honoured in {absent.Count} case(s) without voxels of a weighted label (their samples chose among the labels they hold): " +
                        string.Join(", ", absent.Select(e => $"{e.Key} (label {string.Join(", ", e.Value)})")));
            }
            return CliApp.Ok;
        }

        private void Write<TI, TS>(PatchBatch<TI, TS> b, int i, PatchSample s, long imagePer, long segPer, StreamWriter jsonl)
            where TI : unmanaged where TS : unmanaged
        {
            string stem = string.Create(CultureInfo.InvariantCulture, $"b{b.Index:D5}_s{i:D2}");
            var size = options.ReadPatchSize ?? options.PatchSize;
            int nc = imageShape.Length - size.Length;
            long[] npyShape = [.. imageShape.Take(nc), .. size];
            WriteNpy(Path.Combine(a.Out!, stem + "_image.npy"), b.Image.Span.Slice((int)(i * imagePer), (int)imagePer), npyShape);
            string? segName = null;
            if (b.HasSegmentation && segShape is not null)
            {
                segName = stem + "_seg.npy";
                long[] segNpy = [.. segShape.Take(segShape.Length - size.Length), .. size];
                WriteNpy(Path.Combine(a.Out!, segName), b.Segmentation.Span.Slice((int)(i * segPer), (int)segPer), segNpy);
            }
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms))
            {
                w.WriteStartObject();
                w.WriteNumber("batch", b.Index);
                w.WriteNumber("index", i);
                w.WriteString("case", s.CaseId);
                w.WriteStartArray("start");
                foreach (var v in s.Start) w.WriteNumberValue(v);
                w.WriteEndArray();
                w.WriteStartArray("size");
                foreach (var v in size) w.WriteNumberValue(v);
                w.WriteEndArray();
                w.WriteBoolean("forced_foreground", s.ForcedForeground);
                w.WriteString("image", stem + "_image.npy");
                if (segName is null) w.WriteNull("seg");
                else w.WriteString("seg", segName);
                w.WriteEndObject();
            }
            jsonl.WriteLine(System.Text.Encoding.UTF8.GetString(ms.ToArray()));
        }

        private static string Name(DType t) => t.Code.ToString().ToLowerInvariant();

        private static void WriteNpy<T>(string path, ReadOnlySpan<T> data, long[] shape) where T : unmanaged =>
            Npy.Write(path, new NpyArray(DType.Of<T>().Name, shape, MemoryMarshal.AsBytes(data).ToArray()));
    }
}
