using MLArray.Blosc2;
using MLArray.Medical.Nifti;
using MLArray.Medical.Nrrd;
using MLArray.Metadata;

namespace MLArray.Conversion;

/// <summary>
/// NIfTI/NRRD ↔ MLArray conversion with the seed's (ITK-based) conventions: the array is stored in NumPy C order, i.e.
/// the file's index order reversed (x, y, z → z, y, x); spacing and origin are reversed, the direction matrix has its
/// rows and columns reversed; NIfTI world coordinates are LPS (<c>coord_system</c> "LPS", nibabel's RAS affine with the
/// x and y rows negated); NRRD keeps its declared space (RAS, LPS, other strings verbatim, none → unset). Every header
/// field goes into <c>meta.source</c>; <c>_image_meta_format</c> is "nifti" or "nrrd".
/// </summary>
/// <remarks>
/// The facade of the converter: import planning (<see cref="ImportPlanner"/>), streaming import (<see cref="StreamingImport"/>),
/// canonical RAS (<see cref="CanonicalRas"/>), export (<see cref="NiftiExport"/>, <see cref="NrrdExport"/>) and export geometry
/// (<see cref="ExportGeometry"/>) each live in their own file; element work is done by <c>MLArray.Kernels</c>.
/// </remarks>
public static class MedicalConverter
{
    /// <summary>The format of a path, from its name.</summary>
    /// <param name="path">A file name.</param>
    /// <returns>The format, or <see cref="MedicalFormat.None"/>.</returns>
    public static MedicalFormat FormatOf(string path) => MedicalFormats.FormatOf(path);

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
                ImportPlan plan = ImportPlanner.PlanNifti(r.Header, r.FileShape, r.Shape, r.DType, r.Channels, options);
                StreamingImport.Run(r.ReadData, r.DataBytes, plan, output, options, cancellationToken);
                break;
            }

            case MedicalFormat.Nrrd:
            {
                using NrrdReader r = NrrdReader.Open(input, options.ReadOptions);
                ImportPlan plan = ImportPlanner.PlanNrrd(r.Header, r.FileShape, r.Shape, r.DType, options);
                StreamingImport.Run(r.ReadData, r.DataBytes, plan, output, options, cancellationToken);
                break;
            }

            default:
                throw NotMedical(input);
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
            _ => throw NotMedical(input),
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
        ImportPlan plan = ImportPlanner.PlanNifti(img.Header, img.FileShape, img.Shape, img.DType, img.Channels, options);
        byte[] data = ImportPlanner.StoredBytes(plan, img.Data);
        if (options.CanonicalRas)
        {
            if (img.Channels != 1) throw new MLArrayNotSupportedException("--canonical ras does not support RGB NIfTI images.");
            return CanonicalRas.Build(data, plan.OutType, img.FileShape, img.Header.GetBestAffine(), plan.Opts, options);
        }

        return MLArrayFile.FromBytes(data, plan.Shape, plan.OutType, ImportPlanner.Configure(plan.Opts, options, plan.OutType, plan.Shape));
    }

    /// <summary>Builds an image from a NRRD image (see the class remarks for the conventions).</summary>
    /// <param name="img">The NRRD image.</param>
    /// <param name="options">Options, or null.</param>
    /// <returns>The in-memory image.</returns>
    public static MLArrayFile FromNrrd(NrrdImage img, MedicalToMLArrayOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(img);
        options ??= new MedicalToMLArrayOptions();
        ImportPlan plan = ImportPlanner.PlanNrrd(img.Header, img.FileShape, img.Shape, img.DType, options);
        if (options.CanonicalRas)
        {
            double[,]? rasA = img.Header.GetAffineRas();
            int[] sp = ImportPlanner.NrrdSpatialAxes(img.Header, img.FileShape.Length);
            if (rasA is null || !sp.SequenceEqual([0, 1, 2]))
                throw new MLArrayNotSupportedException("--canonical ras needs a NRRD with a RAS/LAS/LPS space and its three spatial axes first.");
            return CanonicalRas.Build(img.Data, img.DType, img.FileShape, rasA, plan.Opts, options);
        }

        return MLArrayFile.FromBytes(img.Data, plan.Shape, plan.OutType, ImportPlanner.Configure(plan.Opts, options, plan.OutType, plan.Shape));
    }

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
        using MLArrayFile f = MLArrayFile.Open(input); // one open: metadata and data from the same handle
        byte[] data = f.ReadBytes();
        cancellationToken.ThrowIfCancellationRequested();
        FromMLArray(f.Meta, data, f.Shape, f.DType, output, cancellationToken);
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
        if (fmt == MedicalFormat.Nifti) NiftiExport.Write(meta, g, data, shape, dtype, output, cancellationToken);
        else NrrdExport.Write(meta, g, data, shape, dtype, output, cancellationToken);
    }

    private static ArgumentException NotMedical(string input) =>
        new($"'{input}' is not a NIfTI (.nii, .nii.gz, .hdr, .img) or NRRD (.nrrd, .nhdr) file.");
}
