using System.Runtime.InteropServices;
using MLArray;
using MLArray.Blosc2;
using MLArray.Metadata;
using MLArray.Metadata.Migration;

namespace SeedExamples;

/// <summary>
/// The examples of the Python reference's README, ported to C# in the same order: create/save/load, memory-mapped
/// access (read-only, read/write, create), metadata, copying metadata, the standardized metadata and patch sizes.
/// Each region marked <c>README:</c> is quoted verbatim in the repository README.
/// </summary>
public static class Examples
{
    /// <summary>Runs every example in <paramref name="dir"/> (the working folder), printing what Python prints.</summary>
    /// <returns>0 when every check held.</returns>
    public static int Run(TextWriter output, string dir)
    {
        ArgumentNullException.ThrowIfNull(output);
        string cwd = Environment.CurrentDirectory;
        Environment.CurrentDirectory = dir;
        try
        {
            DefaultUsage();
            MemoryMapped();
            Metadata(output);
            CopyWithOverrides();
            StandardizedMetadata(output);
            PatchSizes();
            LowerLayer();
            Records(output);
            return Check(output) ? 0 : 1;
        }
        finally
        {
            Environment.CurrentDirectory = cwd;
        }
    }

    private static double[] RandomArray(long n, int seed = 0)
    {
        var rng = new Random(seed);
        var a = new double[n];
        for (long i = 0; i < n; i++) a[i] = rng.NextDouble();
        return a;
    }

    private static void DefaultUsage()
    {
        // README:begin default
        double[] array = RandomArray(64 * 128 * 128);
        using (var image = MLArrayFile.FromArray(array, [64, 128, 128]))  // create an MLArray image
            image.Save("sample.mla");

        using var loaded = MLArrayFile.Load("sample.mla");                 // load it (into memory)
        // README:end
        if (!loaded.ToArray<double>().AsSpan().SequenceEqual(array)) throw new InvalidOperationException("load gave other data");
    }

    private static void MemoryMapped()
    {
        double[] array = RandomArray(64 * 128 * 128, seed: 1);
        // README:begin mmap
        // read-only, partial access (the default)
        using (var image = MLArrayFile.Open("sample.mla"))
        {
            double[] crop = image.Read<double>(10..20, 50..60);             // image[10:20, 50:60]: decodes only what it touches
        }

        // read/write, partial access
        using (var image = MLArrayFile.Open("sample.mla", MLArrayMode.ReadWrite))   // or Open(path, mmapMode: "r+")
        {
            double[] crop = image.Read<double>(10..20, 50..60);
            for (int i = 0; i < crop.Length; i++) crop[i] *= 5;
            image.Write<double>([10..20, 50..60], crop);                   // image[10:20, 50:60] *= 5, on disk
        }

        // read/write, create or overwrite (python mmap_mode 'w+')
        using (var image = MLArrayFile.Create("sample.mla", [64, 128, 128], DType.Float64))
            image.Write<double>(array);                                    // image[...] = array
        // README:end
        using var back = MLArrayFile.Open("sample.mla");
        if (!back.ToArray<double>().AsSpan().SequenceEqual(array)) throw new InvalidOperationException("w+ write lost data");
    }

    private static void Metadata(TextWriter output)
    {
        double[] array = RandomArray(32 * 64 * 64, seed: 2);
        // README:begin metadata
        using (var image = MLArrayFile.FromArray(array, [32, 64, 64], new MLArrayCreateOptions
        {
            Spacing = [1.0, 1.0, 1.5],
            Origin = [10.0, 10.0, 30.0],
            Direction = new double[,] { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } },
            Meta = new MLArrayMeta { Source = new MetaDict([new("patient_id", "123"), new("modality", "CT")]) },  // any source metadata, e.g. raw DICOM
        }))
        {
            output.WriteLine(string.Join(", ", image.Spacing!));          // 1, 1, 1.5
            output.WriteLine(string.Join(", ", image.Origin!));           // 10, 10, 30
            output.WriteLine(image.Meta.Source);                           // {"patient_id": "123", "modality": "CT"}

            image.SetSpacing(1, 5.3);                                      // python: image.spacing[1] = 5.3
            image.Meta = image.Meta with { Source = image.Meta.Source.With("study_id", "study-001") };
            image.Save("with-metadata.mla");
        }

        // memory-mapped: the changed metadata is written when the image is disposed (or on Flush)
        using (var image = MLArrayFile.Open("with-metadata.mla", MLArrayMode.ReadWrite))
            image.Meta = image.Meta with { Source = image.Meta.Source.With("study_id", "new-study") };
        // README:end
    }

    private static void CopyWithOverrides()
    {
        // README:begin copy
        using var baseImage = MLArrayFile.Load("with-metadata.mla");
        double[] array = RandomArray(32 * 64 * 64, seed: 3);
        using var image = MLArrayFile.FromArray(array, [32, 64, 64], new MLArrayCreateOptions
        {
            Spacing = [0.8, 0.8, 1.0],
            Copy = baseImage,                                              // every field not given here comes from baseImage
        });
        image.Save("copied-metadata.mla");
        // README:end
    }

    private static void StandardizedMetadata(TextWriter output)
    {
        double[] array = RandomArray(32 * 64 * 64, seed: 4);
        // README:begin standardized
        using var image = MLArrayFile.FromArray(array, [32, 64, 64], new MLArrayCreateOptions
        {
            Meta = new MLArrayMeta { Source = new MetaDict([new("patient_id", "123"), new("modality", "CT")]), IsSeg = true },
        });
        output.WriteLine(image.Meta.Source);                               // {"patient_id": "123", "modality": "CT"}
        output.WriteLine(image.Meta.IsSeg);                                // True

        image.Meta = image.Meta with { Source = image.Meta.Source.With("study_id", "study-001"), IsSeg = false };
        image.Save("standardized.mla");
        // README:end
    }

    private static void PatchSizes()
    {
        // README:begin patch
        using var image = MLArrayFile.Load("sample.mla");
        image.Save("default-patch.mla");                                   // the layout it has (new images: patch size 192)

        using (var relaid = image.Compress(LayoutOptions.Patch(512)))      // isotropic patch size 512
            relaid.Save("patch-512.mla");
        using (var relaid = image.Compress(LayoutOptions.Patch(128, 192, 256)))   // one patch size per spatial axis
            relaid.Save("patch-non-iso.mla");
        using (var relaid = image.Compress(LayoutOptions.Manual([1, 128, 128], [1, 32, 32])))   // chunk and block by hand
            relaid.Save("manual-chunk-block.mla");
        using (var relaid = image.Compress(LayoutOptions.Automatic))       // let Blosc2 choose chunk and block
            relaid.Save("blosc2-auto.mla");
        // README:end
    }

    private static void LowerLayer()
    {
        float[] newSlab = new float[128 * 128];
        // README:begin b2nd
        using (var a = B2ndArray.Open("sample.mla"))                       // any .b2nd/.mla frame; the metadata is not interpreted
        {
            double[] patch = a.Read<double>(10..42, 32..96, ^64..);         // decodes only the blocks it touches
            double[] slice = a.Read<double>(-1, .., NdIndex.Slice(0, null, 2));   // an integer drops the axis; NumPy slices
            Console.WriteLine($"{a.Codec} level {a.CLevel}, {a.NChunks} chunks, {a.CBytes} of {a.NBytes} bytes");

            B2ndWriter.Write("plain.b2nd", MemoryMarshal.AsBytes(a.ToArray<double>().AsSpan()), a.Shape, a.DType,
                new B2ndWriteOptions { ChunkShape = a.ChunkShape, BlockShape = a.BlockShape,
                    Compression = new CompressionParams { Codec = Blosc2Codec.Zstd, CLevel = 5 } });
        }

        using (var w = B2ndArray.Create("plain-f4.b2nd", [64, 128, 128], DType.Float32))   // zero chunks; or Open(path, B2ndOpenMode.ReadWrite)
            w.Write([NdIndex.At(5)], MemoryMarshal.AsBytes(newSlab.AsSpan()));             // recompresses only the touched chunks
        // README:end
    }

    private static void Records(TextWriter output)
    {
        // README:begin records
        using var a = B2ndArray.Open("with-metadata.mla");
        var read = MLArrayMetadata.Read(a);                      // null when the file has no "mlarray" entry
        MLArrayMeta meta = read!.Meta;                           // typed, current layout (read.Layout: the stored era)
        var spacing = meta.Spatial.Spacing;                      // EquatableArray<MetaNumber>? (ints stay ints)

        var report = MLArrayMetadata.Validate(read, a.Shape);    // generated validator: (Severity, JSON-pointer Path, Code, Message)
        foreach (var issue in report.Errors) output.WriteLine(issue);

        var edited = meta with { IsSeg = true, Source = meta.Source.With("reviewed", true) };
        byte[] vlmeta = MLArrayMetadata.Encode(edited);          // validated; plain pickle, gzip, msgpack bin (what Python reads)
        // README:end
        if (!report.IsValid || vlmeta.Length == 0 || spacing is null) throw new InvalidOperationException("metadata records example failed");
    }

    /// <summary>Reads the files back and checks what each example promised.</summary>
    private static bool Check(TextWriter output)
    {
        bool ok = true;
        void Expect(bool condition, string what)
        {
            if (!condition) { output.WriteLine("FAILED: " + what); ok = false; }
        }
        using (var m = MLArrayFile.Open("with-metadata.mla"))
        {
            Expect(m.Spacing!.SequenceEqual([1.0, 5.3, 1.5]), "spacing[1] = 5.3 persisted");
            Expect(m.Meta.Source["study_id"]?.ToString() == "new-study" && m.Meta.Source["patient_id"]?.ToString() == "123",
                "source edits persisted: " + m.Meta.Source);
        }
        using (var c = MLArrayFile.Open("copied-metadata.mla"))
        {
            Expect(c.Spacing!.SequenceEqual([0.8, 0.8, 1.0]), "copy: explicit spacing wins");
            Expect(c.Origin!.SequenceEqual([10.0, 10.0, 30.0]), "copy: origin from the base image");
        }
        using (var s = MLArrayFile.Open("standardized.mla"))
            Expect(s.Meta.IsSeg == false && s.Meta.Source["study_id"]?.ToString() == "study-001", "standardized metadata persisted");
        using (var p = MLArrayFile.Open("manual-chunk-block.mla"))
            Expect(p.ChunkShape.SequenceEqual([1, 128, 128]) && p.BlockShape.SequenceEqual([1, 32, 32]), "manual chunk/block");
        using (var b = B2ndArray.Open("plain.b2nd"))
            Expect(b.Codec == Blosc2Codec.Zstd && b.VlMetaNames.Count == 0, "plain .b2nd written with ZSTD, no metadata");
        using (var p = MLArrayFile.Open("patch-512.mla"))
            Expect(p.Meta.Blosc2.PatchSize is { } ps && ps.All(v => v == 512), "patch 512 recorded");
        output.WriteLine(ok ? "all seed examples ran" : "some seed examples failed");
        return ok;
    }
}
