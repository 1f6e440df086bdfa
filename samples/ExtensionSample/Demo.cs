using System.Runtime.InteropServices;
using ExtensionSample.Lab;
using MLArray;
using MLArray.Blosc2;
using MLArray.Metadata;
using MLArray.Metadata.Migration;

namespace ExtensionSample;

/// <summary>Builds typed lab annotations, stores them under meta.extra in an .mla file, reads them back typed.</summary>
public static class Demo
{
    /// <summary>The key of the extension inside <c>meta.extra</c>.</summary>
    public const string ExtraKey = "lab_annotations";

    /// <summary>Runs the round trip; returns 0 when everything came back equal.</summary>
    public static int Run(TextWriter output, string? directory = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        var lab = new LabAnnotations
        {
            Annotator = "dr. müller",
            Protocol = Protocol.Recist11,
            SliceThicknessMm = 1.25,
            Lesions =
            [
                new Lesion { Id = 1, Label = "target", CenterVoxel = [12, 40.5, 33], VolumeMl = 3.2 },
                new Lesion { Id = 2, Label = "non-target", CenterVoxel = [20, 10, 8] },
            ],
        };
        var report = lab.Validate();
        output.WriteLine($"lab annotations valid: {report.IsValid}");
        if (!report.IsValid)
        {
            output.WriteLine(report);
            return 1;
        }

        // The core record (generated from schema/mlarray-meta.schema.json) carries the extension in meta.extra.
        var meta = new MLArrayMeta
        {
            Extra = new MetaDict([new(ExtraKey, lab.ToMetaValue())]),
            Spatial = new MetaSpatial { Spacing = [1.0, 0.8, 0.8], Shape = [4, 8, 8], AxisLabels = [AxisLabel.SpatialZ, AxisLabel.SpatialY, AxisLabel.SpatialX], CoordSystem = CoordSystem.RasPlus,
                NumSpatialAxes = 3, NumNonSpatialAxes = 0 }, // the reference caches these; its reader recomputes them
            IsSeg = false,
            HasArray = true,
            MLArrayVersion = "v0",
        };
        meta.Validate().ThrowIfInvalid();

        // 1. JSON round trip.
        var json = meta.ToJson(indented: true);
        var fromJson = MLArrayMeta.FromJson(json);
        var labFromJson = LabAnnotations.FromMetaValue(fromJson.Extra[ExtraKey]!);

        // 2. A real .mla file: array data plus the metadata payload in the "mlarray" vlmeta entry.
        var dir = directory ?? Path.GetTempPath();
        var path = Path.Combine(dir, $"extension-sample-{Environment.ProcessId}.mla");
        var voxels = new float[4 * 8 * 8];
        for (int i = 0; i < voxels.Length; i++) voxels[i] = i * 0.5f;
        B2ndWriter.Write(path, MemoryMarshal.AsBytes(voxels.AsSpan()), [4, 8, 8], DType.Float32,
            new B2ndWriteOptions { VlMeta = [new(MLArrayMetadata.VlMetaName, MLArrayMetadata.Encode((MetaDict)meta.ToMetaValue()))] });
        LabAnnotations labFromFile;
        MLArrayMeta fromFile;
        try
        {
            using var array = B2ndArray.Open(path);
            var read = MLArrayMetadata.Read(array) ?? throw new InvalidOperationException("the file has no metadata");
            fromFile = MLArrayMeta.FromMetaValue(read.Current);
            labFromFile = LabAnnotations.FromMetaValue(fromFile.Extra[ExtraKey]!);
        }
        finally
        {
            File.Delete(path);
        }

        bool ok = labFromJson == lab && labFromFile == lab && fromJson == meta && fromFile == meta;
        output.WriteLine($"annotator: {labFromFile.Annotator}; protocol: {labFromFile.Protocol} (standard: {labFromFile.Protocol?.IsKnown}); lesions: {labFromFile.Lesions.Count}");
        output.WriteLine($"json round trip equal: {labFromJson == lab && fromJson == meta}; .mla round trip equal: {labFromFile == lab && fromFile == meta}");
        return ok ? 0 : 1;
    }
}
