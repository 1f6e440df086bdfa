using MLArray.Blosc2;
using MLArray.Metadata;
using MLArray.Metadata.Migration;

namespace MLArray.TestSupport;

/// <summary>
/// One file per error condition of docs/errors.md, written into a test's folder: used by the library's tests (which
/// exception type each door raises) and by the command line's tests (which exit code it maps to).
/// </summary>
internal static class ErrorFiles
{
    /// <summary>Metadata of a 4×4×4 array, valid except where a test changes it.</summary>
    public const string GoodMeta = """
        {"source":{"data":{"id":"x"}},"extra":{"data":{}},
         "spatial":{"spacing":[1.0,1.0,2.0],"origin":null,"direction":null,"affine":null,"shape":[4,4,4],"axis_labels":null,"coord_system":null,"axis_units":null,"_num_spatial_axes":null,"_num_non_spatial_axes":null},
         "stats":null,"bbox":null,"is_seg":{"is_seg":null},"blosc2":null,"_has_array":{"has_array":true},"_image_meta_format":{"image_meta_format":null},"_mlarray_version":"v0"}
        """;

    /// <summary>A short text file with an array file's name: not an MLArray/Blosc2 file (nor .npy, nor NIfTI).</summary>
    public static string Text(string dir, string name)
    {
        string p = Path.Combine(dir, name);
        File.WriteAllText(p, "these are notes, not an array\n");
        return p;
    }

    /// <summary>A valid 4×4×4 float32 .mla file (values 0..63) with the given metadata mapping.</summary>
    public static string WithMeta(string dir, string name, string json)
    {
        string p = Path.Combine(dir, name);
        var data = new float[64];
        for (int i = 0; i < data.Length; i++) data[i] = i;
        B2ndWriter.Write(p, System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()), [4, 4, 4], DType.Float32, new B2ndWriteOptions
        {
            VlMeta = [new(MLArrayMetadata.VlMetaName, MLArrayMetadata.Encode((MetaDict)MetaValue.FromJson(json)))],
        });
        return p;
    }

    /// <summary>A well-formed .mla file whose metadata violates the schema: a 3-D array with a spacing of length 2.</summary>
    public static string InvalidMeta(string dir, string name = "invalid-meta.mla") =>
        WithMeta(dir, name, GoodMeta.Replace("\"spacing\":[1.0,1.0,2.0]", "\"spacing\":[1.0,2.0]", StringComparison.Ordinal));

    /// <summary>A valid .mla file whose frame header claims format version 7 (from a future Blosc2): unsupported, not corrupt.</summary>
    public static string FutureVersion(string dir, string name = "future.mla")
    {
        string p = WithMeta(dir, name, GoodMeta);
        byte[] b = File.ReadAllBytes(p);
        b[25] = (byte)((b[25] & 0xF0) | 7); // general flags: the low nibble is the frame format version
        File.WriteAllBytes(p, b);
        return p;
    }

    /// <summary>A copy of a corpus file (tests/data/mla) into <paramref name="dir"/>.</summary>
    public static string Corpus(string dir, string file)
    {
        string p = Path.Combine(dir, file);
        File.Copy(MlaCorpus.PathOf(file), p, overwrite: true);
        return p;
    }
}
