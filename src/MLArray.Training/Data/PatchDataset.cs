using System.Text.Json;
using System.Text.Json.Nodes;
using MLArray.Training.Sampling;

namespace MLArray.Training.Data;

/// <summary>Options of a <see cref="PatchDataset"/>.</summary>
public sealed record DatasetOptions
{
    /// <summary>Open cases kept in the LRU handle cache (default 64).</summary>
    public int CacheCapacity { get; init; } = 64;

    /// <summary>Naming rule: the segmentation of <c>NAME.mla</c> is <c>NAME{SegmentationSuffix}.mla</c> beside it (default <c>_seg</c>).</summary>
    public string SegmentationSuffix { get; init; } = "_seg";

    /// <summary>Every case must have a segmentation (default false: cases without one sample uniformly).</summary>
    public bool RequireSegmentation { get; init; }

    /// <summary>
    /// Opens a case given as a URL. Needed for objects in a store the core package has no SDK for:
    /// <c>Opener = url =&gt; S3Storage.OpenAsync(url).GetAwaiter().GetResult()</c> (MLArray.Storage.S3) or
    /// <c>AzureBlobStorage.OpenAsync</c>; optional for http(s) URLs (without it they open with the default HTTP and
    /// remote-read options; with it, e.g. <c>url =&gt; MLArrayFile.OpenAsync(new Uri(url), http: ..., options: new
    /// RemoteReadOptions { MemoryCache = pool }).GetAwaiter().GetResult()</c>, with your own client, a memory pool shared
    /// across epochs or a disk cache). It is called from worker threads (it must be thread-safe), and the dataset owns
    /// and disposes what it returns. Null (the default): URLs other than http(s) are refused with a message saying so.
    /// </summary>
    public Func<string, MLArrayFile>? Opener { get; init; }
}

/// <summary>Which part of a manifest fold to use.</summary>
public enum DatasetSubset
{
    /// <summary>The training cases of the fold.</summary>
    Train,
    /// <summary>The validation cases of the fold.</summary>
    Validation,
}

/// <summary>
/// A list of cases (image <c>.mla</c> + optional segmentation <c>.mla</c>) opened lazily through a bounded, thread-safe
/// LRU cache of handles. Built from a folder and a naming rule, a glob, an explicit list, or a <c>dataset.json</c>
/// manifest that pins the list and seeded train/validation folds.
/// </summary>
public sealed class PatchDataset : IDisposable
{
    private readonly CaseInfo[] _cases;
    private readonly CaseCache _cache;

    private PatchDataset(IEnumerable<CaseInfo> cases, DatasetOptions options, string source)
    {
        _cases = cases.ToArray();
        if (_cases.Length == 0)
            throw new ArgumentException($"the dataset {source} has no cases; put NAME.mla files (segmentations NAME{options.SegmentationSuffix}.mla) there or list them explicitly.");
        var dup = _cases.GroupBy(c => c.Id, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
            throw new ArgumentException($"the dataset {source} lists case '{dup.Key}' {dup.Count()} times; case ids must be unique.");
        if (options.RequireSegmentation && _cases.FirstOrDefault(c => c.SegmentationPath is null) is { } bare)
            throw new DatasetCaseException(bare.Id, $"case '{bare.Id}' has no segmentation (expected NAME{options.SegmentationSuffix}.mla beside '{bare.ImagePath}').");
        Options = options;
        _cache = new CaseCache(options.CacheCapacity, OpenCase);
    }

    /// <summary>The options.</summary>
    public DatasetOptions Options { get; }

    /// <summary>The cases, in dataset order.</summary>
    public IReadOnlyList<CaseInfo> Cases => _cases;

    /// <summary>Number of cases.</summary>
    public int Count => _cases.Length;

    /// <summary>Cases whose files are open now (the LRU bound plus cases evicted while leased).</summary>
    public int OpenCount => _cache.OpenCount;

    /// <summary>The most cases that were open at once.</summary>
    public int PeakOpenCount => _cache.PeakOpenCount;

    /// <summary>
    /// Leases case <paramref name="index"/> (opening it if needed: image and segmentation are checked against each
    /// other). Dispose the lease when done.
    /// </summary>
    /// <exception cref="DatasetCaseException">A file is missing or corrupt, or image and segmentation disagree.</exception>
    public CaseLease Acquire(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _cases.Length);
        return _cache.Acquire(index);
    }

    /// <summary>Closes every cached handle (leased cases close when released).</summary>
    public void Dispose() => _cache.Dispose();

    // ------------------------------------------------------------------ building

    /// <summary>
    /// Every <c>NAME.mla</c> in <paramref name="folder"/> (sorted by name) with <c>NAME{suffix}.mla</c> as its
    /// segmentation when present. Files other than <c>*.mla</c> are not read; a <c>.mla</c> the rule cannot place is an
    /// error (see the exceptions).
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">No such folder.</exception>
    /// <exception cref="ArgumentException">No cases; a segmentation <c>NAME{suffix}.mla</c> without its <c>NAME.mla</c>;
    /// under a suffix other than <c>_seg</c>, a <c>NAME_seg.mla</c> beside its <c>NAME.mla</c> (the messages name the files).</exception>
    public static PatchDataset FromFolder(string folder, DatasetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"No dataset folder at '{folder}'.");
        return FromFiles(Directory.EnumerateFiles(folder, "*.mla"), folder, options ?? new(), $"folder '{folder}'");
    }

    /// <summary>
    /// The image files matching <paramref name="pattern"/> (a folder plus a file-name pattern with <c>*</c> and
    /// <c>?</c>, e.g. <c>data/case_*.mla</c>; <c>data/**/x*.mla</c> searches subfolders), segmentations by the naming rule.
    /// </summary>
    /// <exception cref="ArgumentException">No cases, or a matched file the naming rule cannot place (as <see cref="FromFolder"/>;
    /// a matched segmentation whose image the pattern does not match counts as without an image).</exception>
    public static PatchDataset FromGlob(string pattern, DatasetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        string dir = Path.GetDirectoryName(pattern) is { Length: > 0 } d ? d : ".";
        string name = Path.GetFileName(pattern);
        var search = SearchOption.TopDirectoryOnly;
        if (Path.GetFileName(dir) == "**")
        {
            dir = Path.GetDirectoryName(dir) is { Length: > 0 } p ? p : ".";
            search = SearchOption.AllDirectories;
        }
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"No folder '{dir}' for the pattern '{pattern}'.");
        return FromFiles(Directory.EnumerateFiles(dir, name, search), dir, options ?? new(), $"pattern '{pattern}'");
    }

    /// <summary>An explicit list of cases.</summary>
    public static PatchDataset FromCases(IEnumerable<CaseInfo> cases, DatasetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(cases);
        return new PatchDataset(cases, options ?? new(), "list");
    }

    private static PatchDataset FromFiles(IEnumerable<string> files, string root, DatasetOptions options, string source)
    {
        string suffix = options.SegmentationSuffix + ".mla";
        var all = files.Select(Path.GetFullPath).ToHashSet(StringComparer.Ordinal);
        CheckStrays(all, root, options.SegmentationSuffix, source);
        var cases = new List<CaseInfo>();
        foreach (var f in all.Where(f => !f.EndsWith(suffix, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            string seg = f[..^".mla".Length] + suffix;
            cases.Add(new CaseInfo(Path.GetRelativePath(root, f), f, File.Exists(seg) ? seg : null));
        }
        return new PatchDataset(cases, options, source);
    }

    /// <summary>The default segmentation suffix (<see cref="DatasetOptions.SegmentationSuffix"/>).</summary>
    private const string DefaultSuffix = "_seg";

    /// <summary>
    /// Files the naming rule cannot place are errors, never silently left out or taken as something else: a
    /// segmentation <c>NAME{suffix}.mla</c> without its <c>NAME.mla</c>, and, under another suffix, a
    /// <c>NAME_seg.mla</c> beside its <c>NAME.mla</c> (a segmentation by the default rule, which the configured rule
    /// would take as an image case of its own). Every other <c>.mla</c> is an image case; other files are not read.
    /// </summary>
    private static void CheckStrays(HashSet<string> all, string root, string suffix, string source)
    {
        string segEnd = suffix + ".mla", defaultEnd = DefaultSuffix + ".mla";
        string Name(string f) => Path.GetRelativePath(root, f);
        static string Some(IEnumerable<string> names)
        {
            var list = names.Order(StringComparer.Ordinal).ToList();
            return string.Join(", ", list.Take(10)) + (list.Count > 10 ? $" and {list.Count - 10} more" : "");
        }
        var orphans = all.Where(f => f.EndsWith(segEnd, StringComparison.Ordinal) && !all.Contains(f[..^segEnd.Length] + ".mla"))
            .Select(f => $"{Name(f)} (no {Name(f[..^segEnd.Length] + ".mla")})").ToList();
        if (orphans.Count > 0)
            throw new ArgumentException(
                $"the dataset {source} has {orphans.Count} segmentation(s) without an image: {Some(orphans)}. Every NAME{suffix}.mla needs its NAME.mla " +
                "beside it: add or rename the image, remove or move the segmentation, or list the cases explicitly (PatchDataset.FromCases or a dataset.json manifest).");
        if (suffix == DefaultSuffix) return;
        var others = all.Where(f => f.EndsWith(defaultEnd, StringComparison.Ordinal) && !f.EndsWith(segEnd, StringComparison.Ordinal)
                                    && all.Contains(f[..^defaultEnd.Length] + ".mla"))
            .Select(Name).ToList();
        if (others.Count > 0)
            throw new ArgumentException(
                $"the dataset {source} has {others.Count} file(s) named as segmentations by the default rule (NAME{DefaultSuffix}.mla beside NAME.mla) " +
                $"while the segmentation suffix is '{suffix}': {Some(others)}. The rule would take each as an image case of its own; rename them " +
                $"(NAME{suffix}.mla), move them out, set DatasetOptions.SegmentationSuffix to '{DefaultSuffix}', or list the cases explicitly (PatchDataset.FromCases or a dataset.json manifest).");
    }

    /// <summary>
    /// Opens a dataset from a path as the CLI does: a <c>.json</c> manifest, a folder, or a glob pattern.
    /// </summary>
    public static PatchDataset Open(string path, DatasetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return FromManifest(path, options: options);
        if (Directory.Exists(path))
            return File.Exists(Path.Combine(path, ManifestName)) ? FromManifest(Path.Combine(path, ManifestName), options: options) : FromFolder(path, options);
        if (path.Contains('*', StringComparison.Ordinal) || path.Contains('?', StringComparison.Ordinal)) return FromGlob(path, options);
        throw new DirectoryNotFoundException($"No dataset at '{path}': give a folder of NAME.mla files, a dataset.json manifest or a glob pattern.");
    }

    // ------------------------------------------------------------------ manifest

    /// <summary>The manifest's default file name.</summary>
    public const string ManifestName = "dataset.json";

    private const string ManifestFormat = "mlarray-dataset";

    /// <summary>
    /// Writes a <c>dataset.json</c> manifest pinning the case list (paths relative to the manifest's folder) and
    /// <paramref name="folds"/> seeded train/validation folds (the cases shuffled with <paramref name="seed"/>, split
    /// into nearly equal parts; fold f validates on part f and trains on the rest). The file is replaced atomically.
    /// </summary>
    public void WriteManifest(string path, int folds = 5, long seed = 12345)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (folds < 2 || folds > _cases.Length)
            throw new ArgumentOutOfRangeException(nameof(folds), folds, $"folds must be between 2 and the number of cases ({_cases.Length}).");
        string full = Path.GetFullPath(path);
        string root = Path.GetDirectoryName(full)!;
        var order = Enumerable.Range(0, _cases.Length).ToArray();
        var rng = new Rng(seed);
        rng.Shuffle(order.AsSpan());
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("format", ManifestFormat);
            w.WriteNumber("version", 1);
            w.WriteStartArray("cases");
            foreach (var c in _cases)
            {
                w.WriteStartObject();
                w.WriteString("image", Rel(root, c.ImagePath));
                if (c.SegmentationPath is null) w.WriteNull("seg");
                else w.WriteString("seg", Rel(root, c.SegmentationPath));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNumber("split_seed", seed);
            w.WriteStartArray("folds");
            for (int f = 0; f < folds; f++)
            {
                int lo = (int)((long)f * order.Length / folds), hi = (int)((long)(f + 1) * order.Length / folds);
                w.WriteStartObject();
                w.WriteStartArray("train");
                for (int i = 0; i < order.Length; i++)
                    if (i < lo || i >= hi) w.WriteStringValue(Rel(root, _cases[order[i]].ImagePath));
                w.WriteEndArray();
                w.WriteStartArray("val");
                for (int i = lo; i < hi; i++) w.WriteStringValue(Rel(root, _cases[order[i]].ImagePath));
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        string tmp = full + $".tmp-{Environment.ProcessId}";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write))
            {
                fs.Write(ms.GetBuffer(), 0, (int)ms.Length);
                fs.Flush(true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    private static string Rel(string root, string path) => Path.GetRelativePath(root, path).Replace('\\', '/');

    /// <summary>
    /// Reads a <c>dataset.json</c> manifest: all cases, or with <paramref name="fold"/> the training or validation
    /// cases of that fold. Case ids are the image paths as written in the manifest.
    /// </summary>
    /// <exception cref="MLArrayFormatException">The manifest is not valid JSON of this format.</exception>
    public static PatchDataset FromManifest(string path, int? fold = null, DatasetSubset subset = DatasetSubset.Train, DatasetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        string full = Path.GetFullPath(path);
        string root = Path.GetDirectoryName(full)!;
        JsonNode? doc;
        try
        {
            doc = JsonNode.Parse(File.ReadAllText(full));
        }
        catch (JsonException e)
        {
            throw new MLArrayFormatException($"'{path}' is not valid JSON: {e.Message}", e);
        }
        string Bad(string what) => $"'{path}' is not a dataset manifest ({what}); write one with PatchDataset.WriteManifest.";
        if (doc is not JsonObject o || (string?)o["format"] != ManifestFormat || o["cases"] is not JsonArray arr)
            throw new MLArrayFormatException(Bad($"expected an object with \"format\": \"{ManifestFormat}\" and \"cases\""));
        var cases = new List<CaseInfo>();
        foreach (var item in arr)
        {
            if (item is not JsonObject c || c["image"]?.GetValueKind() != JsonValueKind.String)
                throw new MLArrayFormatException(Bad("every case needs an \"image\" string"));
            string image = (string)c["image"]!;
            string? seg = c["seg"]?.GetValueKind() == JsonValueKind.String ? (string)c["seg"]! : null;
            cases.Add(new CaseInfo(image, Resolve(root, image), seg is null ? null : Resolve(root, seg)));
        }
        if (fold is { } f)
        {
            if (o["folds"] is not JsonArray folds || f < 0 || f >= folds.Count)
                throw new ArgumentOutOfRangeException(nameof(fold), f, $"'{path}' has {(o["folds"] as JsonArray)?.Count ?? 0} folds.");
            var ids = (folds[f]?[subset == DatasetSubset.Train ? "train" : "val"] as JsonArray ?? throw new MLArrayFormatException(Bad($"fold {f} has no list")))
                .Select(n => (string?)n).ToHashSet(StringComparer.Ordinal);
            cases = cases.Where(c => ids.Contains(c.Id)).ToList();
        }
        return new PatchDataset(cases, options ?? new(), $"manifest '{path}'" + (fold is null ? "" : $" fold {fold} {subset}"));
    }

    // ------------------------------------------------------------------ opening

    private OpenCase OpenCase(int index)
    {
        var info = _cases[index];
        MLArrayFile? image = null, seg = null;
        try
        {
            image = OpenFile(info, info.ImagePath, "image");
            var img = new CaseArray(image);
            CaseArray? s = null;
            if (info.SegmentationPath is not null)
            {
                seg = OpenFile(info, info.SegmentationPath, "segmentation");
                s = new CaseArray(seg);
                img = ChannelsFromSegmentation(img, s);
                Check(info, img, s);
            }
            return new OpenCase(index, info, img, s);
        }
        catch
        {
            image?.Dispose();
            seg?.Dispose();
            throw;
        }
    }

    /// <summary>A manifest entry: a URL (http(s), s3://, az://...) as is (a remote case), else a path relative to the manifest's folder.</summary>
    private static string Resolve(string root, string entry) =>
        MLArray.Remote.HttpRangeSource.IsHttpUrl(entry) || OtherUrlScheme(entry) is not null ? entry : Path.GetFullPath(Path.Combine(root, entry));

    /// <summary>True for a case path that is a URL (http(s), s3://, az://...): read over the network.</summary>
    internal static bool IsRemote(string? path) =>
        path is not null && (MLArray.Remote.HttpRangeSource.IsHttpUrl(path) || OtherUrlScheme(path) is not null);

    /// <summary>The scheme of a URL that is neither http(s) nor file (e.g. <c>s3</c>, <c>az</c>); null for paths.</summary>
    private static string? OtherUrlScheme(string path)
    {
        int colon = path.IndexOf("://", StringComparison.Ordinal);
        if (colon < 2) return null; // "C:\..." and relative paths
        string scheme = path[..colon];
        if (!scheme.All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '-' or '.') || !char.IsAsciiLetter(scheme[0])) return null;
        return scheme is "http" or "https" or "file" ? null : scheme;
    }

    private MLArrayFile OpenFile(CaseInfo info, string path, string what)
    {
        string? scheme = OtherUrlScheme(path);
        if (scheme is not null && Options.Opener is null)
            throw new DatasetCaseException(info.Id,
                $"case '{info.Id}': the {what} '{Display(path)}' is a {scheme}:// URL, which the dataset opens only through DatasetOptions.Opener " +
                "(e.g. url => S3Storage.OpenAsync(url).GetAwaiter().GetResult() from MLArray.Storage.S3, or AzureBlobStorage.OpenAsync from MLArray.Storage.Azure).");
        try
        {
            bool viaOpener = Options.Opener is not null && (scheme is not null || MLArray.Remote.HttpRangeSource.IsHttpUrl(path));
            var f = viaOpener ? Options.Opener!(path) : MLArrayFile.Open(path);
            f.DecodeThreads = 1; // one decode context per worker thread: parallelism comes from the workers
            return f;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or MLArray.Remote.MLArrayRemoteException
                                  || (Options.Opener is not null && (scheme is not null || MLArray.Remote.HttpRangeSource.IsHttpUrl(path))
                                      && e is not OperationCanceledException and not DatasetCaseException))
        {
            throw new DatasetCaseException(info.Id, $"case '{info.Id}': cannot open the {what} '{Display(path)}': {e.Message}", e);
        }
    }

    /// <summary>A case path for messages: URLs without their query (presigned and SAS tokens are never shown).</summary>
    private static string Display(string path) =>
        MLArray.Remote.HttpRangeSource.IsHttpUrl(path) ? MLArray.Remote.HttpRangeSource.Redact(new Uri(path))
        : OtherUrlScheme(path) is not null && path.IndexOf('?', StringComparison.Ordinal) is int q and >= 0 ? path[..q] + "?…" : path;

    /// <summary>
    /// An image without axis labels whose every axis counts as spatial but which has more axes than its segmentation,
    /// the last of them of the segmentation's spatial shape (nnU-Net's (c, z, y, x) written without labels, e.g. from
    /// a .npy): its leading axes are channels. Anything else is left to <see cref="Check"/>.
    /// </summary>
    private static CaseArray ChannelsFromSegmentation(CaseArray image, CaseArray seg)
    {
        int n = seg.SpatialShape.Length, extra = image.Shape.Length - n;
        if (image.File.AxisLabels is { Count: > 0 } || extra <= 0 || image.SpatialShape.Length != image.Shape.Length
            || !image.Shape.AsSpan(extra).SequenceEqual(seg.SpatialShape))
            return image;
        return new CaseArray(image.File, n);
    }

    private static void Check(CaseInfo info, CaseArray image, CaseArray seg)
    {
        string Both() => $"case '{info.Id}': image '{info.ImagePath}' and segmentation '{info.SegmentationPath}'";
        if (!image.SpatialShape.AsSpan().SequenceEqual(seg.SpatialShape))
            throw new DatasetCaseException(info.Id, $"{Both()} have different spatial shapes ({string.Join(", ", image.SpatialShape)}) and ({string.Join(", ", seg.SpatialShape)}); resample the segmentation onto the image grid" +
                (image.Shape.Length != seg.Shape.Length ? ", or label the image's channel axes (axis_labels 'channel', e.g. `mlarray convert in.npy out.mla --axis-labels channel,spatial_z,spatial_y,spatial_x`)." : "."));
        try
        {
            ClassLocations.CheckSegmentation(seg);
        }
        catch (ArgumentException e)
        {
            throw new DatasetCaseException(info.Id, $"case '{info.Id}': {e.Message}", e);
        }
        int n = image.SpatialShape.Length;
        var (si, oi, di) = Geometry(image.File, n);
        var (ss, os, ds) = Geometry(seg.File, n);
        if (!Close(si, ss) || !Close(oi, os) || !Close(di, ds))
            throw new DatasetCaseException(info.Id,
                $"{Both()} have different geometry (spacing [{string.Join(", ", si)}] vs [{string.Join(", ", ss)}], origin [{string.Join(", ", oi)}] vs [{string.Join(", ", os)}], " +
                "or direction); they must describe the same voxel grid: resample the segmentation or fix its metadata.");
    }

    private static (double[] Spacing, double[] Origin, double[] Direction) Geometry(MLArrayFile f, int n)
    {
        var spacing = f.Spacing is { } s && s.Count == n ? s.ToArray() : Enumerable.Repeat(1.0, n).ToArray();
        var origin = f.Origin is { } o && o.Count == n ? o.ToArray() : new double[n];
        var dir = new double[n * n];
        if (f.Direction is { } d && d.GetLength(0) == n && d.GetLength(1) == n)
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) dir[i * n + j] = d[i, j];
        else
            for (int i = 0; i < n; i++) dir[i * n + i] = 1;
        return (spacing, origin, dir);
    }

    private static bool Close(double[] a, double[] b)
    {
        for (int i = 0; i < a.Length; i++)
            if (Math.Abs(a[i] - b[i]) > 1e-4 * Math.Max(1, Math.Max(Math.Abs(a[i]), Math.Abs(b[i])))) return false;
        return true;
    }
}
