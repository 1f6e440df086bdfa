using System.Globalization;
using System.Runtime.InteropServices;
using MLArray.Blosc2;
using MLArray.Layout;
using MLArray.Medical;
using MLArray.Medical.Nifti;
using MLArray.Medical.Nrrd;
using MLArray.Metadata;

namespace MLArray.Conversion;

/// <summary>The medical formats <see cref="MedicalConverter"/> reads and writes.</summary>
public enum MedicalFormat
{
    /// <summary>Not a medical format (e.g. <c>.mla</c>, <c>.npy</c>).</summary>
    None,
    /// <summary>NIfTI-1/2: <c>.nii</c>, <c>.nii.gz</c>, <c>.hdr</c>/<c>.img</c> (optionally gzipped).</summary>
    Nifti,
    /// <summary>NRRD: <c>.nrrd</c> or a detached <c>.nhdr</c>.</summary>
    Nrrd,
}

/// <summary>Options of <see cref="MedicalConverter.ToMLArray(string, string, MedicalToMLArrayOptions?)"/>.</summary>
public sealed record MedicalToMLArrayOptions
{
    /// <summary>Keep the stored integers of scaled NIfTI data instead of the scaled values (the scaling stays in <c>meta.source</c>).</summary>
    public bool Raw { get; init; }

    /// <summary>Chunk/block layout (default: patch 192).</summary>
    public LayoutOptions? Layout { get; init; }

    /// <summary>Compression (default: LZ4HC level 8, shuffle).</summary>
    public CompressionParams? Compression { get; init; }

    /// <summary>Reader limits.</summary>
    public MedicalReadOptions? ReadOptions { get; init; }

    /// <summary>
    /// Called with the stored dtype and shape once they are known; returns the layout and compression to use (either
    /// null keeps <see cref="Layout"/>/<see cref="Compression"/>). For settings that depend on the data (filters, chunk shapes).
    /// </summary>
    public Func<DType, long[], (LayoutOptions? Layout, CompressionParams? Compression)>? Configure { get; init; }

    /// <summary>
    /// The reference's later layout instead of the seed's: the array reoriented to the closest RAS+ orientation, in
    /// XYZ(T…) order, geometry stored as a RAS <c>affine</c>, <c>coord_system</c> "RAS+".
    /// </summary>
    public bool CanonicalRas { get; init; }
}

/// <summary>
/// NIfTI/NRRD ↔ MLArray conversion with the seed's (ITK-based) conventions: the array is stored in NumPy C order, i.e.
/// the file's index order reversed (x, y, z → z, y, x); spacing and origin are reversed, the direction matrix has its
/// rows and columns reversed; NIfTI world coordinates are LPS (<c>coord_system</c> "LPS", nibabel's RAS affine with the
/// x and y rows negated); NRRD keeps its declared space (RAS, LPS, other strings verbatim, none → unset). Every header
/// field goes into <c>meta.source</c>; <c>_image_meta_format</c> is "nifti" or "nrrd".
/// </summary>
public static class MedicalConverter
{
    private static readonly HashSet<string> SpatialLabels = ["spatial", "spatial_x", "spatial_y", "spatial_z"];

    /// <summary>The format of a path, from its name.</summary>
    /// <param name="path">A file name.</param>
    /// <returns>The format, or <see cref="MedicalFormat.None"/>.</returns>
    public static MedicalFormat FormatOf(string path) => MedicalFormats.FormatOf(path);

    // ================================================================== import

    /// <summary>Converts a NIfTI or NRRD file into an <c>.mla</c> file (written atomically).</summary>
    /// <param name="input">The NIfTI/NRRD file.</param>
    /// <param name="output">The <c>.mla</c> path.</param>
    /// <param name="options">Options, or null.</param>
    public static void ToMLArray(string input, string output, MedicalToMLArrayOptions? options = null) =>
        ToMLArray(input, output, options, CancellationToken.None);

    /// <summary>
    /// Converts a NIfTI or NRRD file into an <c>.mla</c> file, streaming: the voxels are decoded (inflated) straight into
    /// one buffer of the stored array while chunks whose slab is complete are already being compressed, in parallel,
    /// and written to a temporary file that replaces <paramref name="output"/> only when everything succeeded. Peak
    /// memory is one copy of the stored (decoded) volume plus per-thread chunk buffers (≈ 3 chunks per thread); the
    /// compressed file is never held in memory. Scaled NIfTI data is converted slab by slab (the stored integers are
    /// never held whole). <see cref="MedicalToMLArrayOptions.CanonicalRas"/> reorders the volume, so it needs a second
    /// copy of it.
    /// </summary>
    /// <param name="input">The NIfTI/NRRD file.</param>
    /// <param name="output">The <c>.mla</c> path.</param>
    /// <param name="options">Options, or null.</param>
    /// <param name="cancellationToken">Cancels the conversion: <see cref="OperationCanceledException"/> is thrown and no
    /// output (and no temporary file) is left.</param>
    /// <exception cref="MLArrayFormatException">Corrupt, truncated or invalid input.</exception>
    /// <exception cref="MLArrayNotSupportedException">Valid input this converter cannot store.</exception>
    public static void ToMLArray(string input, string output, MedicalToMLArrayOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        options ??= new MedicalToMLArrayOptions();
        cancellationToken.ThrowIfCancellationRequested();
        if (options.CanonicalRas)
        {
            using MLArrayFile f = ToMLArray(input, options);
            cancellationToken.ThrowIfCancellationRequested();
            f.Save(output);
            return;
        }

        switch (FormatOf(input))
        {
            case MedicalFormat.Nifti:
            {
                using NiftiReader r = NiftiReader.Open(input, options.ReadOptions);
                ImportPlan plan = PlanNifti(r.Header, r.FileShape, r.Shape, r.DType, r.Channels, options);
                StreamToFile(r.ReadData, r.DataBytes, plan, output, options, cancellationToken);
                break;
            }

            case MedicalFormat.Nrrd:
            {
                using NrrdReader r = NrrdReader.Open(input, options.ReadOptions);
                ImportPlan plan = PlanNrrd(r.Header, r.FileShape, r.Shape, r.DType, options);
                StreamToFile(r.ReadData, r.DataBytes, plan, output, options, cancellationToken);
                break;
            }

            default:
                throw new ArgumentException($"'{input}' is not a NIfTI (.nii, .nii.gz, .hdr, .img) or NRRD (.nrrd, .nhdr) file.");
        }
    }

    /// <summary>What an import stores: create options (geometry, labels, meta), the C-order shape, the element types and scaling.</summary>
    private sealed record ImportPlan(MLArrayCreateOptions Opts, long[] Shape, DType InType, DType OutType, (double Slope, double Inter)? Scale);

    private delegate void ReadSlab(Span<byte> destination);

    /// <summary>
    /// Decodes the voxels on a producer thread into the stored array's buffer (scaling slab by slab) while
    /// <see cref="MLArrayFile.WriteNew"/> compresses every chunk whose bytes have arrived.
    /// </summary>
    private static void StreamToFile(ReadSlab read, long inBytes, ImportPlan plan, string output, MedicalToMLArrayOptions options, CancellationToken ct)
    {
        MLArrayCreateOptions opts = Configure(plan.Opts, options, plan.OutType, plan.Shape);
        int inItem = plan.InType.ItemSize, outItem = plan.OutType.ItemSize;
        long outBytes = checked(inBytes / inItem * outItem);
        if (outBytes > Array.MaxLength)
            throw new MLArrayNotSupportedException($"{output}: the volume has {outBytes} bytes; one conversion handles at most {Array.MaxLength} bytes (one .NET array).");
        byte[] dest = GC.AllocateUninitializedArray<byte>((int)outBytes);
        var gate = new object();
        long ready = 0;
        Exception? failed = null;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        CancellationToken token = stop.Token;
        Task producer = Task.Factory.StartNew(() =>
        {
            try
            {
                // Slabs of whole elements, about 1 MiB of decoded input.
                int slab = Math.Max(inItem, (1 << 20) / inItem * inItem);
                byte[]? scratch = plan.Scale is null ? null : new byte[(int)Math.Min(slab, Math.Max(inBytes, inItem))];
                double[]? values = plan.Scale is null ? null : new double[scratch!.Length / inItem];
                long inPos = 0, outPos = 0;
                while (inPos < inBytes)
                {
                    token.ThrowIfCancellationRequested();
                    int n = (int)Math.Min(slab, inBytes - inPos);
                    int m = n / inItem * outItem;
                    if (plan.Scale is not (double slope, double inter))
                    {
                        read(dest.AsSpan((int)outPos, n));
                    }
                    else
                    {
                        read(scratch.AsSpan(0, n));
                        ScaleInto(scratch.AsSpan(0, n), plan.InType, values!, dest.AsSpan((int)outPos, m), plan.OutType, slope, inter);
                    }

                    inPos += n;
                    outPos += m;
                    lock (gate)
                    {
                        ready = outPos;
                        Monitor.PulseAll(gate);
                    }
                }
            }
            catch (Exception e)
            {
                lock (gate)
                {
                    failed = e;
                    Monitor.PulseAll(gate);
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        void WaitFor(long need)
        {
            lock (gate)
            {
                while (ready < need)
                {
                    if (failed is not null) throw new OperationCanceledException("the reader stopped.", failed);
                    token.ThrowIfCancellationRequested();
                    Monitor.Wait(gate, 50);
                }
            }
        }

        try
        {
            MLArrayFile.WriteNew(output, dest, plan.Shape, plan.OutType, opts, WaitFor, token);
            producer.Wait(CancellationToken.None);
            if (failed is not null) throw new OperationCanceledException("the reader stopped.", failed);
        }
        catch (Exception)
        {
            stop.Cancel();
            producer.Wait(CancellationToken.None);
            if (failed is not null and not OperationCanceledException)
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failed);
            ct.ThrowIfCancellationRequested();
            throw;
        }
    }

    /// <summary>Scaled values of a slab of stored elements: float32 <c>(float)(raw * slope + inter)</c>, or float64.</summary>
    private static void ScaleInto(ReadOnlySpan<byte> raw, DType from, double[] values, Span<byte> dst, DType to, double slope, double inter)
    {
        int n = raw.Length / from.ItemSize;
        MedicalValues.ToDoubles(raw, from, values);
        if (to == DType.Float64)
        {
            Span<double> d = MemoryMarshal.Cast<byte, double>(dst);
            for (int i = 0; i < n; i++) d[i] = (values[i] * slope) + inter;
        }
        else
        {
            Span<float> f = MemoryMarshal.Cast<byte, float>(dst);
            for (int i = 0; i < n; i++) f[i] = (float)((values[i] * slope) + inter);
        }
    }

    /// <summary>Reads a NIfTI or NRRD file into an in-memory <see cref="MLArrayFile"/>.</summary>
    /// <param name="input">The NIfTI/NRRD file.</param>
    /// <param name="options">Options, or null.</param>
    /// <returns>The image (in memory; <see cref="MLArrayFile.Save(string)"/> it).</returns>
    /// <exception cref="ArgumentException">Not a NIfTI/NRRD file name.</exception>
    public static MLArrayFile ToMLArray(string input, MedicalToMLArrayOptions? options = null)
    {
        options ??= new MedicalToMLArrayOptions();
        return FormatOf(input) switch
        {
            MedicalFormat.Nifti => FromNifti(Nifti.Read(input, options.ReadOptions), options),
            MedicalFormat.Nrrd => FromNrrd(Nrrd.Read(input, options.ReadOptions), options),
            _ => throw new ArgumentException($"'{input}' is not a NIfTI (.nii, .nii.gz, .hdr, .img) or NRRD (.nrrd, .nhdr) file."),
        };
    }

    /// <summary>Builds an image from a NIfTI image (see the class remarks for the conventions).</summary>
    /// <param name="img">The NIfTI image.</param>
    /// <param name="options">Options, or null.</param>
    /// <returns>The in-memory image.</returns>
    public static MLArrayFile FromNifti(NiftiImage img, MedicalToMLArrayOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(img);
        options ??= new MedicalToMLArrayOptions();
        ImportPlan plan = PlanNifti(img.Header, img.FileShape, img.Shape, img.DType, img.Channels, options);
        byte[] data = img.Data;
        if (plan.Scale is (double slope, double inter))
        {
            data = new byte[img.Data.Length / img.DType.ItemSize * plan.OutType.ItemSize];
            ScaleInto(img.Data, img.DType, new double[img.Data.Length / img.DType.ItemSize], data, plan.OutType, slope, inter);
        }

        if (options.CanonicalRas)
        {
            if (img.Channels != 1) throw new MLArrayNotSupportedException("--canonical ras does not support RGB NIfTI images.");
            return Canonical(data, plan.OutType, img.FileShape, img.Header.GetBestAffine(), plan.Opts, options);
        }

        return FromBytes(data, plan.Shape, plan.OutType, Configure(plan.Opts, options, plan.OutType, plan.Shape));
    }

    private static ImportPlan PlanNifti(NiftiHeader h, long[] fileShape, long[] shape, DType dtype, int channels, MedicalToMLArrayOptions options)
    {
        int nsp = Math.Min(3, fileShape.Length);

        // LPS affine over the file's spatial index axes.
        double[,] ras = h.GetBestAffine();
        var lps = new double[nsp + 1, nsp + 1];
        for (int i = 0; i < nsp; i++)
        {
            double sign = i < 2 ? -1 : 1;
            for (int j = 0; j < nsp; j++) lps[i, j] = sign * ras[i, j];
            lps[i, nsp] = sign * ras[i, 3];
        }
        lps[nsp, nsp] = 1;

        // Labels in C order: reversed file axes (dims ≥ 5 are channels, dim 4 temporal), then an RGB channel axis.
        var fileLabels = new string[fileShape.Length];
        string[] spNames = nsp == 3 ? ["spatial_x", "spatial_y", "spatial_z"] : nsp == 2 ? ["spatial_x", "spatial_y"] : ["spatial_x"];
        for (int i = 0; i < fileShape.Length; i++)
            fileLabels[i] = i < nsp ? spNames[i] : i == 3 ? "temporal" : "channel";
        var labels = fileLabels.Reverse().ToList();
        if (channels > 1) labels.Add("channel");

        var source = HeaderToSource(h.ToDictionary());
        if (h.Extensions.Count > 0)
        {
            source = Append(source, "extensions", MetaValue.List(h.Extensions.Select(e => (MetaValue)new MetaDict(
            [
                new("ecode", MetaValue.From(e.Code)),
                new("esize", MetaValue.From(e.ESize)),
                new("edata_base64", MetaValue.From(Convert.ToBase64String(e.Data))),
            ]))));
        }

        var meta = new MLArrayMeta { Source = source, ImageMetaFormat = ImageMetaFormat.Nifti, Spatial = new MetaSpatial { CoordSystem = CoordSystem.Lps } };
        (double[] spacing, double[] origin, double[,] direction) = Decompose(lps);
        var opts = new MLArrayCreateOptions
        {
            Spacing = spacing.Reverse().ToArray(),
            Origin = origin.Reverse().ToArray(),
            Direction = Reverse(direction),
            AxisLabels = [.. labels],
            Meta = meta,
            Layout = options.Layout,
            Compression = options.Compression,
        };

        if (!options.Raw && channels == 1 && h.Scaling is (double slope, double inter))
            return new ImportPlan(opts, shape, dtype, dtype == DType.Float64 ? DType.Float64 : DType.Float32, (slope, inter));
        return new ImportPlan(opts, shape, dtype, dtype, null);
    }

    /// <summary>Builds an image from a NRRD image (see the class remarks for the conventions).</summary>
    /// <param name="img">The NRRD image.</param>
    /// <param name="options">Options, or null.</param>
    /// <returns>The in-memory image.</returns>
    public static MLArrayFile FromNrrd(NrrdImage img, MedicalToMLArrayOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(img);
        options ??= new MedicalToMLArrayOptions();
        ImportPlan plan = PlanNrrd(img.Header, img.FileShape, img.Shape, img.DType, options);
        if (options.CanonicalRas)
        {
            double[,]? rasA = img.Header.GetAffineRas();
            int[] sp = NrrdSpatialAxes(img.Header, img.FileShape.Length);
            if (rasA is null || !sp.SequenceEqual([0, 1, 2]))
                throw new MLArrayNotSupportedException("--canonical ras needs a NRRD with a RAS/LAS/LPS space and its three spatial axes first.");
            return Canonical(img.Data, img.DType, img.FileShape, rasA, plan.Opts, options);
        }

        return FromBytes(img.Data, plan.Shape, plan.OutType, Configure(plan.Opts, options, plan.OutType, plan.Shape));
    }

    private static int[] NrrdSpatialAxes(NrrdHeader h, int n)
    {
        bool[] spatial = NrrdSpatialFlags(h, n);
        return Enumerable.Range(0, n).Where(i => spatial[i]).ToArray();
    }

    /// <summary>Per file axis: spatial when its space direction is not <c>none</c>, else by its kind (domain/space), else true.</summary>
    private static bool[] NrrdSpatialFlags(NrrdHeader h, int n)
    {
        double[][]? dirs = h.SpaceDirections;
        string[]? kinds = h.Kinds;
        var spatial = new bool[n];
        for (int i = 0; i < n; i++)
        {
            if (dirs is not null && i < dirs.Length)
                spatial[i] = !dirs[i].Any(double.IsNaN);
            else if (kinds is not null && i < kinds.Length)
                spatial[i] = kinds[i].ToLowerInvariant() is "domain" or "space";
            else
                spatial[i] = true;
        }

        return spatial;
    }

    private static ImportPlan PlanNrrd(NrrdHeader h, long[] sizes, long[] shape, DType dtype, MedicalToMLArrayOptions options)
    {
        int n = sizes.Length;
        double[][]? dirs = h.SpaceDirections;
        string[]? kinds = h.Kinds;
        bool[] spatial = NrrdSpatialFlags(h, n);
        int[] spAxes = Enumerable.Range(0, n).Where(i => spatial[i]).ToArray();
        int nsp = spAxes.Length;
        string[] spNames = nsp switch
        {
            3 => ["spatial_x", "spatial_y", "spatial_z"],
            2 => ["spatial_x", "spatial_y"],
            1 => ["spatial_x"],
            _ => Enumerable.Repeat("spatial", nsp).ToArray(),
        };
        var fileLabels = new string[n];
        int si = 0;
        for (int i = 0; i < n; i++)
        {
            if (spatial[i]) fileLabels[i] = spNames[si++];
            else fileLabels[i] = kinds is not null && i < kinds.Length && kinds[i].ToLowerInvariant() == "time" ? "temporal" : "channel";
        }

        // Affine in the header's space over the spatial axes (file order).
        double[,]? affine = null;
        if (dirs is not null && nsp > 0 && dirs[spAxes[0]].Length == nsp)
        {
            affine = new double[nsp + 1, nsp + 1];
            double[]? o = h.SpaceOrigin;
            for (int q = 0; q < nsp; q++)
            {
                for (int r = 0; r < nsp; r++) affine[r, q] = dirs[spAxes[q]][r];
            }
            for (int r = 0; r < nsp; r++) affine[r, nsp] = o is not null && r < o.Length && !double.IsNaN(o[r]) ? o[r] : 0;
            affine[nsp, nsp] = 1;
        }
        else if (dirs is null && nsp > 0)
        {
            double[]? sp = h.Spacings;
            affine = new double[nsp + 1, nsp + 1];
            for (int q = 0; q < nsp; q++)
            {
                double s = sp is not null && spAxes[q] < sp.Length && double.IsFinite(sp[spAxes[q]]) && sp[spAxes[q]] > 0 ? sp[spAxes[q]] : 1;
                affine[q, q] = s;
            }
            affine[nsp, nsp] = 1;
        }

        CoordSystem? cs = h.Space switch
        {
            null => (CoordSystem?)null,
            var s when s.Equals("right-anterior-superior", StringComparison.OrdinalIgnoreCase) || s.Equals("RAS", StringComparison.OrdinalIgnoreCase) => CoordSystem.Ras,
            var s when s.Equals("left-posterior-superior", StringComparison.OrdinalIgnoreCase) || s.Equals("LPS", StringComparison.OrdinalIgnoreCase) => CoordSystem.Lps,
            var s => new CoordSystem(s),
        };
        var meta = new MLArrayMeta
        {
            Source = HeaderToSource(h.ToDictionary()),
            ImageMetaFormat = ImageMetaFormat.Nrrd,
            Spatial = new MetaSpatial { CoordSystem = cs },
        };
        var opts = new MLArrayCreateOptions
        {
            AxisLabels = fileLabels.Reverse().ToArray(),
            Meta = meta,
            Layout = options.Layout,
            Compression = options.Compression,
        };
        if (affine is not null && !options.CanonicalRas)
        {
            (double[] spacing, double[] origin, double[,] direction) = Decompose(affine);
            opts = opts with { Spacing = spacing.Reverse().ToArray(), Origin = origin.Reverse().ToArray(), Direction = Reverse(direction) };
        }

        return new ImportPlan(opts, shape, dtype, dtype, null);
    }

    /// <summary>
    /// Reorients file-order data (first axis fastest) with a 4×4 RAS affine over its first three axes to the closest
    /// RAS+ orientation (greedy largest-cosine axis matching, as nibabel's <c>io_orientation</c> for non-degenerate
    /// affines) and stores it in XYZ(T…) C order with the affine and coord_system "RAS+".
    /// </summary>
    private static MLArrayFile Canonical(byte[] fileData, DType dtype, long[] fileShape, double[,] ras, MLArrayCreateOptions opts, MedicalToMLArrayOptions options)
    {
        int n = fileShape.Length;
        if (n < 3) throw new MLArrayNotSupportedException("--canonical ras needs at least three spatial axes.");
        // world axis w ← voxel axis vOf[w] with sign
        var vOf = new int[3];
        var flip = new bool[3];
        var usedW = new bool[3];
        var usedV = new bool[3];
        var norms = new double[3];
        for (int v = 0; v < 3; v++) norms[v] = Math.Sqrt((ras[0, v] * ras[0, v]) + (ras[1, v] * ras[1, v]) + (ras[2, v] * ras[2, v]));
        for (int step = 0; step < 3; step++)
        {
            double best = -1;
            int bw = 0, bv = 0;
            for (int w = 0; w < 3; w++)
            {
                for (int v = 0; v < 3; v++)
                {
                    if (usedW[w] || usedV[v]) continue;
                    double c = Math.Abs(ras[w, v]) / (norms[v] > 0 ? norms[v] : 1);
                    if (c > best) { best = c; bw = w; bv = v; }
                }
            }

            usedW[bw] = usedV[bv] = true;
            vOf[bw] = bv;
            flip[bw] = ras[bw, bv] < 0;
        }

        // output C axes: x, y, z, then file axes 3.. ; each maps to a file axis
        int[] src = [.. vOf, .. Enumerable.Range(3, n - 3)];
        bool[] flips = [.. flip, .. Enumerable.Repeat(false, n - 3)];
        long[] outShape = src.Select(a => fileShape[a]).ToArray();
        var fileStride = new long[n];
        long st = 1;
        for (int a = 0; a < n; a++) { fileStride[a] = st; st *= fileShape[a]; }
        int isz = dtype.ItemSize;
        var outData = new byte[fileData.Length];
        var idx = new long[n];
        long count = st;
        for (long o = 0; o < count; o++)
        {
            long off = 0;
            for (int k = 0; k < n; k++) off += (flips[k] ? outShape[k] - 1 - idx[k] : idx[k]) * fileStride[src[k]];
            Buffer.BlockCopy(fileData, (int)(off * isz), outData, (int)(o * isz), isz);
            for (int k = n - 1; k >= 0; k--)
            {
                if (++idx[k] < outShape[k]) break;
                idx[k] = 0;
            }
        }

        // new affine: new index i_w → old voxel index (flipped) → world
        var a4 = new double[4, 4];
        a4[3, 3] = 1;
        for (int r = 0; r < 3; r++)
        {
            double t = ras[r, 3];
            for (int w = 0; w < 3; w++)
            {
                double col = ras[r, vOf[w]];
                a4[r, w] = flip[w] ? -col : col;
                if (flip[w]) t += col * (fileShape[vOf[w]] - 1);
            }

            for (int w = 0; w < 3; w++)
            {
                double rounded = Math.Round(a4[r, w]);
                if (Math.Abs(a4[r, w] - rounded) < 1e-6) a4[r, w] = rounded;
            }

            a4[r, 3] = Math.Abs(t - Math.Round(t)) < 1e-6 ? Math.Round(t) : t;
        }

        string[] labels = [.. (string[])["spatial_x", "spatial_y", "spatial_z"], .. Enumerable.Range(3, n - 3).Select(a => a == 3 ? "temporal" : "channel")];
        var meta = (opts.Meta ?? new MLArrayMeta()) is var m0 ? m0 with { Spatial = m0.Spatial with { CoordSystem = CoordSystem.RasPlus } } : null;
        var o2 = opts with { Spacing = null, Origin = null, Direction = null, Affine = a4, AxisLabels = labels, Meta = meta };
        return FromBytes(outData, outShape, dtype, Configure(o2, options, dtype, outShape));
    }

    private static MLArrayCreateOptions Configure(MLArrayCreateOptions o, MedicalToMLArrayOptions options, DType dtype, long[] shape)
    {
        if (options.Configure is null) return o;
        (LayoutOptions? layout, CompressionParams? comp) = options.Configure(dtype, shape);
        return o with { Layout = layout ?? o.Layout, Compression = comp ?? o.Compression };
    }

    /// <summary>Builds an in-memory image from C-order bytes of any supported dtype.</summary>
    /// <param name="data">The bytes (little-endian, C order over <paramref name="shape"/>).</param>
    /// <param name="shape">The shape.</param>
    /// <param name="dtype">The element type.</param>
    /// <param name="opts">Create options.</param>
    /// <returns>The image.</returns>
    public static MLArrayFile FromBytes(ReadOnlySpan<byte> data, long[] shape, DType dtype, MLArrayCreateOptions opts) => dtype.Name switch
    {
        "|b1" => MLArrayFile.FromArray(MemoryMarshal.Cast<byte, bool>(data), shape, opts),
        "|i1" => MLArrayFile.FromArray(MemoryMarshal.Cast<byte, sbyte>(data), shape, opts),
        "|u1" => MLArrayFile.FromArray(data, shape, opts),
        "<i2" => MLArrayFile.FromArray(MemoryMarshal.Cast<byte, short>(data), shape, opts),
        "<u2" => MLArrayFile.FromArray(MemoryMarshal.Cast<byte, ushort>(data), shape, opts),
        "<i4" => MLArrayFile.FromArray(MemoryMarshal.Cast<byte, int>(data), shape, opts),
        "<u4" => MLArrayFile.FromArray(MemoryMarshal.Cast<byte, uint>(data), shape, opts),
        "<i8" => MLArrayFile.FromArray(MemoryMarshal.Cast<byte, long>(data), shape, opts),
        "<u8" => MLArrayFile.FromArray(MemoryMarshal.Cast<byte, ulong>(data), shape, opts),
        "<f4" => MLArrayFile.FromArray(MemoryMarshal.Cast<byte, float>(data), shape, opts),
        "<f8" => MLArrayFile.FromArray(MemoryMarshal.Cast<byte, double>(data), shape, opts),
        _ => throw new MLArrayNotSupportedException($"dtype {dtype.Name} cannot be stored in an MLArray file."),
    };

    // ================================================================== export

    /// <summary>
    /// Converts an <c>.mla</c> file into NIfTI (<c>.nii</c>/<c>.nii.gz</c>) or NRRD (<c>.nrrd</c>), written atomically.
    /// Geometry comes from <c>meta.spatial</c> (honouring <c>axis_labels</c> and <c>coord_system</c>); only
    /// <c>meta.source</c> is copied into the header, minus the fields the geometry rewrites.
    /// </summary>
    /// <param name="input">The <c>.mla</c> file.</param>
    /// <param name="output">The NIfTI/NRRD path.</param>
    public static void FromMLArray(string input, string output) => FromMLArray(input, output, CancellationToken.None);

    /// <summary>
    /// <see cref="FromMLArray(string, string)"/>, cancellable (between reading and writing, and between 1 MiB slabs
    /// of the output): cancelling throws <see cref="OperationCanceledException"/> and leaves no output file.
    /// </summary>
    /// <param name="input">The <c>.mla</c> file.</param>
    /// <param name="output">The NIfTI/NRRD path: <c>.nii</c>, <c>.nii.gz</c>, <c>.hdr</c>/<c>.img</c> pair
    /// (<c>.hdr.gz</c> for a gzipped pair), <c>.nrrd</c> or detached <c>.nhdr</c> (+ <c>.raw.gz</c> data file).</param>
    /// <param name="cancellationToken">Cancels the conversion.</param>
    public static void FromMLArray(string input, string output, CancellationToken cancellationToken)
    {
        using MLArrayFile f = MLArrayFile.Open(input);
        using B2ndArray a = B2ndArray.Open(input);
        byte[] data = a.ReadBytes();
        cancellationToken.ThrowIfCancellationRequested();
        FromMLArray(f.Meta, data, a.Shape, a.DType, output, cancellationToken);
    }

    /// <summary>Writes C-order data with MLArray metadata as NIfTI or NRRD (see <see cref="FromMLArray(string, string)"/>).</summary>
    /// <param name="meta">The metadata.</param>
    /// <param name="data">C-order bytes.</param>
    /// <param name="shape">The array shape.</param>
    /// <param name="dtype">The element type.</param>
    /// <param name="output">The output path (its name picks the format).</param>
    public static void FromMLArray(MLArrayMeta meta, byte[] data, long[] shape, DType dtype, string output) =>
        FromMLArray(meta, data, shape, dtype, output, CancellationToken.None);

    /// <summary>Writes C-order data with MLArray metadata as NIfTI or NRRD, cancellable (see <see cref="FromMLArray(string, string, CancellationToken)"/>).</summary>
    /// <param name="meta">The metadata.</param>
    /// <param name="data">C-order bytes.</param>
    /// <param name="shape">The array shape.</param>
    /// <param name="dtype">The element type.</param>
    /// <param name="output">The output path (its name picks the format).</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    public static void FromMLArray(MLArrayMeta meta, byte[] data, long[] shape, DType dtype, string output, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(meta);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        MedicalFormat fmt = FormatOf(output);
        if (fmt == MedicalFormat.None)
            throw new ArgumentException($"'{output}' is not a NIfTI (.nii, .nii.gz, .hdr/.img) or NRRD (.nrrd, .nhdr) file name.");
        var g = ExportGeometry.From(meta, shape);
        if (fmt == MedicalFormat.Nifti) WriteNifti(meta, g, data, shape, dtype, output, cancellationToken);
        else WriteNrrd(meta, g, data, shape, dtype, output, cancellationToken);
    }

    private static void WriteNifti(MLArrayMeta meta, ExportGeometry g, byte[] data, long[] shape, DType dtype, string output, CancellationToken ct)
    {
        int n = shape.Length;
        // RGB: a trailing uint8 channel axis of 3/4 with nothing else non-spatial but spatial axes.
        int channels = 1;
        int[] axes = Enumerable.Range(0, n).ToArray();
        if (dtype == DType.UInt8 && n >= 2 && g.Labels[n - 1] == "channel" && shape[n - 1] is 3 or 4 &&
            Enumerable.Range(0, n - 1).All(i => g.IsSpatial[i]) && Source(meta, "datatype") is 128 or 2304)
        {
            channels = (int)shape[n - 1];
            axes = Enumerable.Range(0, n - 1).ToArray();
        }

        // File axes (fastest first): spatial x, y, z, then temporal, then the others in reversed C order.
        var fileAxes = axes.Where(i => g.IsSpatial[i]).OrderBy(i => g.FileSpatialIndex[i]).ToList();
        fileAxes.AddRange(axes.Reverse().Where(i => !g.IsSpatial[i] && g.Labels[i] == "temporal"));
        fileAxes.AddRange(axes.Reverse().Where(i => !g.IsSpatial[i] && g.Labels[i] != "temporal"));
        if (fileAxes.Count > 7)
            throw new MLArrayNotSupportedException($"NIfTI holds at most 7 dimensions; the array has {fileAxes.Count}.");
        long[] fileShape = fileAxes.Select(i => shape[i]).ToArray();
        int[] perm = fileAxes.AsEnumerable().Reverse().ToArray();
        if (channels > 1) perm = [.. perm, n - 1];
        byte[] fileData = Permute(data, shape, perm, dtype.ItemSize);

        // Affine over file spatial axes, in RAS, padded to 4×4.
        double[,] world = g.FileAffine;
        int ns = world.GetLength(0) - 1;
        bool lps = g.CoordSystem is "LPS" or "LPS+";
        var ras = new double[4, 4];
        for (int i = 0; i < 4; i++) ras[i, i] = 1;
        for (int i = 0; i < Math.Min(ns, 3); i++)
        {
            double sign = lps && i < 2 ? -1 : 1;
            for (int j = 0; j < Math.Min(ns, 3); j++) ras[i, j] = sign * world[i, j];
            ras[i, 3] = sign * world[i, ns];
        }

        // Requantise values scaled on import back to the stored type.
        NiftiHeader? srcHeader = null;
        long? srcType = Source(meta, "datatype");
        double slope = SourceDouble(meta, "scl_slope"), inter = SourceDouble(meta, "scl_inter");
        bool scaledOnImport = false;
        DType outType = dtype;
        if (srcType is { } st && st is not (128 or 2304) && channels == 1 && dtype.Kind == DTypeKind.Float && double.IsFinite(slope) && slope != 0 &&
            !(slope == 1 && (inter == 0 || !double.IsFinite(inter))))
        {
            try
            {
                (DType stored, int _) = NiftiDataType.ToDType((int)st, output);
                if (stored != dtype && stored.Kind != DTypeKind.Float)
                {
                    scaledOnImport = true;
                    outType = stored;
                    fileData = Requantise(fileData, dtype, stored, slope, double.IsFinite(inter) ? inter : 0);
                }
            }
            catch (MLArrayException)
            {
                // unknown source datatype: keep the float values
            }
        }

        var h = NiftiHeader.Create(outType, fileShape, ras, channels,
            sformCode: (int)(Source(meta, "sform_code") is > 0 and var sc ? sc : 1),
            qformCode: (int)(Source(meta, "qform_code") is > 0 and var qc ? qc : 1));
        srcHeader = h;
        CopyNiftiSource(meta.Source, h, fileShape.Length, keepScaling: scaledOnImport || dtype.Kind != DTypeKind.Float || srcType is null ||
            (NiftiDataTypeOrNull((int)srcType) is { } sd && sd == dtype));
        int version = Source(meta, "sizeof_hdr") == 540 ? 2 : 1;
        ct.ThrowIfCancellationRequested();
        Nifti.Write(output, new NiftiImage(srcHeader, outType, channels, fileData), new NiftiWriteOptions { Version = version == 2 ? 2 : null }, ct);
    }

    private static DType? NiftiDataTypeOrNull(int code)
    {
        try
        {
            return NiftiDataType.ToDType(code, "").DType;
        }
        catch (MLArrayException)
        {
            return null;
        }
    }

    private static void CopyNiftiSource(MetaDict src, NiftiHeader h, int ndim, bool keepScaling)
    {
        string S(string k) => src.TryGetValue(k, out MetaValue? v) && v is MetaString s ? s.Value : "";
        double D(string k, double def) => src.TryGetValue(k, out MetaValue? v) ? ToDouble(v) ?? def : def;
        long L(string k, long def) => src.TryGetValue(k, out MetaValue? v) && v is MetaInt i ? (long)i.Value : def;
        if (src.Entries.Count == 0) return;
        h.DataTypeString = S("data_type");
        h.DbName = S("db_name");
        h.Extents = L("extents", 0);
        h.SessionError = L("session_error", 0);
        h.Regular = src.TryGetValue("regular", out _) ? S("regular") : "r";
        h.DimInfo = L("dim_info", 0);
        h.IntentP1 = D("intent_p1", 0);
        h.IntentP2 = D("intent_p2", 0);
        h.IntentP3 = D("intent_p3", 0);
        h.IntentCode = L("intent_code", 0);
        h.SliceStart = L("slice_start", 0);
        h.SliceEnd = L("slice_end", 0);
        h.SliceCode = L("slice_code", 0);
        h.XyztUnits = L("xyzt_units", 10);
        h.CalMax = D("cal_max", 0);
        h.CalMin = D("cal_min", 0);
        h.SliceDuration = D("slice_duration", 0);
        h.TOffset = D("toffset", 0);
        h.GlMax = L("glmax", 0);
        h.GlMin = L("glmin", 0);
        h.Descrip = S("descrip");
        h.AuxFile = S("aux_file");
        h.IntentName = S("intent_name");
        h.UnusedStr = S("unused_str");
        if (keepScaling)
        {
            h.SclSlope = D("scl_slope", double.NaN);
            h.SclInter = D("scl_inter", double.NaN);
        }

        if (src.TryGetValue("pixdim", out MetaValue? pd) && pd is MetaList pl)
        {
            for (int i = 4; i < Math.Min(8, pl.Items.Count); i++)
            {
                if (i <= ndim && ToDouble(pl.Items[i]) is { } d) h.PixDim[i] = d;
            }
        }

        if (src.TryGetValue("extensions", out MetaValue? ev) && ev is MetaList el)
        {
            foreach (MetaValue e in el.Items)
            {
                if (e is MetaDict ed && ed.TryGetValue("ecode", out MetaValue? c) && c is MetaInt ci &&
                    ed.TryGetValue("edata_base64", out MetaValue? b) && b is MetaString bs)
                {
                    try
                    {
                        h.Extensions.Add(new NiftiExtension((int)ci.Value, Convert.FromBase64String(bs.Value)));
                    }
                    catch (FormatException)
                    {
                        // not ours: skip
                    }
                }
            }
        }
    }

    private static readonly HashSet<string> NrrdGeometryFields = new(StringComparer.Ordinal)
    {
        "type", "dimension", "sizes", "endian", "encoding", "space", "space dimension", "space directions", "space origin",
        "data file", "line skip", "byte skip", "NRRD_space", "datafile", "lineskip", "byteskip",
    };

    private static readonly HashSet<string> NrrdKnownFields = new(StringComparer.Ordinal)
    {
        "type", "dimension", "sizes", "endian", "encoding", "content", "space", "space dimension", "space directions",
        "space origin", "space units", "measurement frame", "kinds", "spacings", "thicknesses", "axis mins", "axis maxs",
        "centerings", "labels", "units", "min", "max", "old min", "old max", "block size", "line skip", "byte skip",
        "data file", "sample units", "number",
    };

    private static readonly HashSet<string> NrrdPerAxisFields = new(StringComparer.Ordinal)
    {
        "kinds", "spacings", "thicknesses", "axis mins", "axis maxs", "centerings", "labels", "units",
    };

    private static void WriteNrrd(MLArrayMeta meta, ExportGeometry g, byte[] data, long[] shape, DType dtype, string output, CancellationToken ct)
    {
        int n = shape.Length;
        // File axes: reversed C order, the spatial slots refilled so that x comes first.
        int[] rev = Enumerable.Range(0, n).Reverse().ToArray();
        var spSorted = rev.Where(i => g.IsSpatial[i]).OrderBy(i => g.FileSpatialIndex[i]).ToList();
        int k = 0;
        int[] fileAxes = rev.Select(i => g.IsSpatial[i] ? spSorted[k++] : i).ToArray();
        long[] sizes = fileAxes.Select(i => shape[i]).ToArray();
        byte[] fileData = Permute(data, shape, fileAxes.Reverse().ToArray(), dtype.ItemSize);

        var h = NrrdHeader.Create(dtype, sizes);
        bool perAxisOk = true;
        foreach (KeyValuePair<string, MetaValue> e in meta.Source.Entries)
        {
            if (NrrdGeometryFields.Contains(e.Key)) continue;
            if (NrrdKnownFields.Contains(e.Key))
            {
                object? v = FromMeta(e.Value, e.Key);
                if (v is null) continue;
                if (NrrdPerAxisFields.Contains(e.Key) && v is Array arr && arr.Length != n) { perAxisOk = false; continue; }
                h.Fields[e.Key] = v;
            }
            else
            {
                h.KeyValues[e.Key] = e.Value is MetaString s ? s.Value : e.Value.ToJson();
            }
        }

        _ = perAxisOk;
        double[,] world = g.FileAffine;
        int ns = world.GetLength(0) - 1;
        bool diagonal = true;
        for (int r = 0; r < ns; r++)
        {
            for (int c = 0; c <= ns; c++)
            {
                if (r != c && world[r, c] != 0) diagonal = false;
            }
        }

        if (g.HasGeometry && ns > 0 && diagonal && !meta.Source.TryGetValue("space directions", out _) && g.CoordSystem is null)
        {
            // the source had no directions (spacings only): keep it that way
            var spc = new double[n];
            int q = 0;
            for (int a = 0; a < n; a++) spc[a] = g.IsSpatial[fileAxes[a]] ? world[q, q++] : double.NaN;
            bool hadSpacings = meta.Source.TryGetValue("spacings", out _);
            if (hadSpacings || spc.Any(x => !double.IsNaN(x) && x != 1)) h.Fields["spacings"] = spc;
        }
        else if (g.HasGeometry && ns > 0)
        {
            string? space = g.CoordSystem switch
            {
                "RAS" or "RAS+" => "right-anterior-superior",
                "LPS" or "LPS+" => "left-posterior-superior",
                _ => null,
            };
            if (space is not null && ns == 3) h.Fields["space"] = space;
            else h.Fields["space dimension"] = (long)ns;
            var dirs = new double[n][];
            int q = 0;
            for (int a = 0; a < n; a++)
            {
                if (g.IsSpatial[fileAxes[a]])
                {
                    dirs[a] = Enumerable.Range(0, ns).Select(r => world[r, q]).ToArray();
                    q++;
                }
                else
                {
                    dirs[a] = Enumerable.Repeat(double.NaN, ns).ToArray();
                }
            }

            h.Fields["space directions"] = dirs;
            h.Fields["space origin"] = Enumerable.Range(0, ns).Select(r => world[r, ns]).ToArray();
            h.Fields.Remove("spacings");
        }

        ct.ThrowIfCancellationRequested();
        Nrrd.Write(output, new NrrdImage(h, dtype, fileData), new NrrdWriteOptions { Encoding = "gzip" }, ct);
    }

    // ================================================================== geometry

    /// <summary>The export view of an image's geometry: which axes are spatial and the affine over the file's spatial axes.</summary>
    private sealed class ExportGeometry
    {
        public required string[] Labels { get; init; }

        public required bool[] IsSpatial { get; init; }

        /// <summary>Per C axis: its position among the file's spatial axes (x = 0).</summary>
        public required int[] FileSpatialIndex { get; init; }

        /// <summary>(ns+1)² affine: file spatial index (x first) → world (coordinates in the coord_system's own order).</summary>
        public required double[,] FileAffine { get; init; }

        public string? CoordSystem { get; init; }

        public bool HasGeometry { get; init; }

        public static ExportGeometry From(MLArrayMeta meta, long[] shape)
        {
            int n = shape.Length;
            MetaSpatial sp = meta.Spatial;
            string[]? given = sp.AxisLabels?.Select(l => l.Value).ToArray();
            string[] labels;
            if (given is not null && given.Length == n) labels = given;
            else
            {
                int nsp = sp.NumSpatialAxes is { } c ? (int)c : Math.Min(n, 3);
                labels = Enumerable.Range(0, n).Select(i => i >= n - nsp ? "spatial" : "channel").ToArray();
            }

            bool[] isSp = labels.Select(l => SpatialLabels.Contains(l)).ToArray();
            int[] spC = Enumerable.Range(0, n).Where(i => isSp[i]).ToArray();
            int ns = spC.Length;
            bool named = spC.All(i => labels[i] is "spatial_x" or "spatial_y" or "spatial_z") && spC.Select(i => labels[i]).Distinct().Count() == ns;
            // file spatial index of each spatial C axis (x first)
            var fIdx = new int[n];
            int[] f = new int[ns];
            if (named)
            {
                var order = spC.OrderBy(i => labels[i]).ToArray(); // spatial_x < spatial_y < spatial_z
                for (int r = 0; r < ns; r++) fIdx[order[r]] = r;
            }
            else
            {
                for (int q = 0; q < ns; q++) fIdx[spC[q]] = ns - 1 - q;
            }

            for (int q = 0; q < ns; q++) f[q] = fIdx[spC[q]];

            // World order reversed (the seed's ITK era and our converter) unless the file is XYZ-ordered or affine-only unlabeled.
            bool xyzFirst = named && ns > 1 && labels[spC[0]] == "spatial_x";
            bool hasAffine = sp.Affine is not null;
            bool worldReversed = !(xyzFirst || (hasAffine && given is null));
            bool has = sp.Affine is not null || sp.Spacing is not null || sp.Origin is not null || sp.Direction is not null;

            double[,] m = Compose(sp, ns);
            var fa = new double[ns + 1, ns + 1];
            for (int w = 0; w < ns; w++)
            {
                int row = worldReversed ? ns - 1 - w : w;
                for (int q = 0; q < ns; q++) fa[w, f[q]] = m[row, q];
                fa[w, ns] = m[row, ns];
            }

            fa[ns, ns] = 1;
            return new ExportGeometry
            {
                Labels = labels, IsSpatial = isSp, FileSpatialIndex = fIdx, FileAffine = fa,
                CoordSystem = sp.CoordSystem?.Value, HasGeometry = has,
            };
        }

        private static double[,] Compose(MetaSpatial sp, int n)
        {
            if (sp.Affine is { } a && a.Count == n + 1)
            {
                var r = new double[n + 1, n + 1];
                for (int i = 0; i <= n; i++)
                    for (int j = 0; j <= n; j++) r[i, j] = a[i][j].ToDouble();
                return r;
            }

            double[] s = sp.Spacing is { } ss && ss.Count == n ? ss.Select(x => x.ToDouble()).ToArray() : Enumerable.Repeat(1.0, n).ToArray();
            double[] o = sp.Origin is { } oo && oo.Count == n ? oo.Select(x => x.ToDouble()).ToArray() : new double[n];
            var m = new double[n + 1, n + 1];
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    double d = sp.Direction is { } dd && dd.Count == n && dd[i].Count == n ? dd[i][j].ToDouble() : i == j ? 1 : 0;
                    m[i, j] = d * s[j];
                }

                m[i, n] = o[i];
            }

            m[n, n] = 1;
            return m;
        }
    }

    /// <summary>Spacing (column norms), origin and direction (normalised columns) of an (n+1)² affine.</summary>
    internal static (double[] Spacing, double[] Origin, double[,] Direction) Decompose(double[,] a)
    {
        int n = a.GetLength(0) - 1;
        var s = new double[n];
        var o = new double[n];
        var d = new double[n, n];
        for (int j = 0; j < n; j++)
        {
            double sum = 0;
            for (int i = 0; i < n; i++) sum += a[i, j] * a[i, j];
            s[j] = Math.Sqrt(sum);
            for (int i = 0; i < n; i++) d[i, j] = s[j] > 0 ? a[i, j] / s[j] : i == j ? 1 : 0;
            if (!(s[j] > 0)) s[j] = 1;
        }

        for (int i = 0; i < n; i++) o[i] = a[i, n];
        return (s, o, d);
    }

    /// <summary>The matrix with rows and columns reversed.</summary>
    internal static double[,] Reverse(double[,] m)
    {
        int r = m.GetLength(0), c = m.GetLength(1);
        var x = new double[r, c];
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++) x[i, j] = m[r - 1 - i, c - 1 - j];
        return x;
    }

    /// <summary>
    /// Transposes a C-order array: the result is C order over <c>shape[perm[0]], shape[perm[1]], …</c>. Returns the
    /// input when <paramref name="perm"/> is the identity.
    /// </summary>
    internal static byte[] Permute(byte[] data, long[] shape, int[] perm, int itemSize)
    {
        int n = shape.Length;
        if (perm.Select((p, i) => p == i).All(x => x)) return data;
        var srcStride = new long[n];
        long s = 1;
        for (int i = n - 1; i >= 0; i--) { srcStride[i] = s; s *= shape[i]; }
        long count = s;
        var outShape = perm.Select(p => shape[p]).ToArray();
        var strideInOut = perm.Select(p => srcStride[p]).ToArray();
        var dst = new byte[data.Length];
        var idx = new long[n];
        long src = 0;
        for (long o = 0; o < count; o++)
        {
            Buffer.BlockCopy(data, (int)(src * itemSize), dst, (int)(o * itemSize), itemSize);
            for (int k = n - 1; k >= 0; k--)
            {
                idx[k]++;
                src += strideInOut[k];
                if (idx[k] < outShape[k]) break;
                src -= idx[k] * strideInOut[k];
                idx[k] = 0;
            }
        }

        return dst;
    }

    private static byte[] Requantise(byte[] data, DType from, DType to, double slope, double inter)
    {
        double[] v = MedicalValues.ToDoubles(data, from);
        var outBytes = new byte[v.Length * to.ItemSize];
        (double lo, double hi) = to.Name switch
        {
            "|u1" => (0.0, 255.0), "|i1" => (-128.0, 127.0), "<i2" => (short.MinValue, short.MaxValue), "<u2" => (0.0, ushort.MaxValue),
            "<i4" => (int.MinValue, int.MaxValue), "<u4" => (0.0, uint.MaxValue), _ => (long.MinValue, (double)long.MaxValue),
        };
        for (int i = 0; i < v.Length; i++)
        {
            double r = Math.Round((v[i] - inter) / slope);
            r = double.IsNaN(r) ? 0 : Math.Clamp(r, lo, hi);
            Span<byte> o = outBytes.AsSpan(i * to.ItemSize, to.ItemSize);
            switch (to.Name)
            {
                case "|u1": o[0] = (byte)r; break;
                case "|i1": o[0] = unchecked((byte)(sbyte)r); break;
                case "<i2": MemoryMarshal.Write(o, (short)r); break;
                case "<u2": MemoryMarshal.Write(o, (ushort)r); break;
                case "<i4": MemoryMarshal.Write(o, (int)r); break;
                case "<u4": MemoryMarshal.Write(o, (uint)r); break;
                case "<u8": MemoryMarshal.Write(o, (ulong)r); break;
                default: MemoryMarshal.Write(o, (long)r); break;
            }
        }

        return outBytes;
    }

    // ================================================================== source ↔ header values

    /// <summary>Header values (long, int, double, string, arrays, nested arrays) as a <c>meta.source</c> dict.</summary>
    internal static MetaDict HeaderToSource(IEnumerable<KeyValuePair<string, object>> header) =>
        new(header.Select(kv => new KeyValuePair<string, MetaValue>(kv.Key, ToMeta(kv.Value))));

    private static MetaDict Append(MetaDict d, string key, MetaValue v) => new(d.Entries.Append(new(key, v)));

    internal static MetaValue ToMeta(object? v) => v switch
    {
        null => MetaValue.Null,
        MetaValue m => m,
        string s => MetaValue.From(s),
        bool b => MetaValue.From(b),
        long l => MetaValue.From(l),
        int i => MetaValue.From(i),
        short i => MetaValue.From(i),
        byte i => MetaValue.From(i),
        double d => MetaValue.From(d),
        float d => MetaValue.From(d),
        byte[] bs => MetaValue.From(System.Text.Encoding.UTF8.GetString(bs)),
        System.Collections.IEnumerable e => MetaValue.List(e.Cast<object?>().Select(ToMeta)),
        _ => MetaValue.From(Convert.ToString(v, CultureInfo.InvariantCulture)),
    };

    private static double? ToDouble(MetaValue v) => v switch
    {
        MetaFloat f => f.Value,
        MetaInt i => (double)i.Value,
        MetaString s when s.Value == "NaN" => double.NaN,
        _ => null,
    };

    /// <summary>A NRRD field value from its JSON form (as pynrrd types it).</summary>
    private static object? FromMeta(MetaValue v, string key)
    {
        switch (v)
        {
            case MetaString s: return s.Value;
            case MetaInt i: return (long)i.Value;
            case MetaFloat f: return f.Value;
            case MetaList l when l.Items.Count == 0: return null;
            case MetaList l when l.Items.All(x => x is MetaList):
                return l.Items.Select(x => ((MetaList)x).Items.Select(y => ToDouble(y) ?? double.NaN).ToArray()).ToArray();
            case MetaList l when l.Items.All(x => x is MetaString): return l.Items.Select(x => ((MetaString)x).Value).ToArray();
            case MetaList l when l.Items.All(x => x is MetaInt) && key is "sizes" or "block size": return l.Items.Select(x => (long)((MetaInt)x).Value).ToArray();
            case MetaList l: return l.Items.Select(x => ToDouble(x) ?? double.NaN).ToArray();
            default: return null;
        }
    }

    private static long? Source(MLArrayMeta meta, string key) =>
        meta.Source.TryGetValue(key, out MetaValue? v) && v is MetaInt i ? (long)i.Value : null;

    private static double SourceDouble(MLArrayMeta meta, string key) =>
        meta.Source.TryGetValue(key, out MetaValue? v) ? ToDouble(v) ?? double.NaN : double.NaN;
}
