using MLArray.TestSupport;
using System.Security.Cryptography;
using System.Text.Json;
using MLArray.Blosc2;
using MLArray.Metadata;
using MLArray.Metadata.Migration;
using MLArray.Metadata.Payload;

namespace MLArray.Cli.Tests.Metadata;

/// <summary>The metadata parts of <c>mlarray header</c>, and <c>mlarray validate</c> / <c>mlarray migrate</c>.</summary>
public sealed class MetadataCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"mla-cli-{Guid.NewGuid():N}");

    public MetadataCliTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> ValidFiles => MlaCorpus.Files("valid");
    public static TheoryData<string> HostileFiles => MlaCorpus.Files("hostile");
    public static TheoryData<string> CorruptFiles => MlaCorpus.Files("corrupt");

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter { NewLine = "\n" };
        var e = new StringWriter { NewLine = "\n" };
        int code = CliApp.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private string Copy(string corpusFile)
    {
        string p = Path.Combine(_dir, corpusFile);
        File.Copy(MlaCorpus.PathOf(corpusFile), p, overwrite: true);
        return p;
    }

    private static string Sha(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    /// <summary>A small 3D float32 file whose metadata is the given JSON mapping (written as a current payload).</summary>
    private string WriteWithMeta(string name, string json)
    {
        string p = Path.Combine(_dir, name);
        var data = new byte[4 * 4 * 4 * 4];
        B2ndWriter.Write(p, data, [4, 4, 4], DType.Parse("<f4"), new B2ndWriteOptions
        {
            VlMeta = [new(MLArrayMetadata.VlMetaName, MetaPayloadCodec.Encode(MetaValue.FromJson(json)))],
        });
        return p;
    }

    private const string GoodMeta = """
        {"source":{"data":{"id":"x"}},"extra":{"data":{}},
         "spatial":{"spacing":[1.0,1.0,2.0],"origin":null,"direction":null,"affine":null,"shape":[4,4,4],"axis_labels":null,"coord_system":null,"axis_units":null,"_num_spatial_axes":null,"_num_non_spatial_axes":null},
         "stats":null,"bbox":null,"is_seg":{"is_seg":null},"blosc2":null,"_has_array":{"has_array":true},"_image_meta_format":{"image_meta_format":null},"_mlarray_version":"v0"}
        """;

    // ------------------------------------------------------------------ header

    private static readonly string[] HeaderKeys =
        ["shape", "dtype", "chunk_size", "block_size", "codec", "clevel", "filters", "filter_slots", "filters_meta", "split_mode", "nchunks", "nbytes", "cbytes", "ratio", "frame_bytes", "vlmeta", "meta", "meta_layout"];

    [Theory]
    [MemberData(nameof(ValidFiles))]
    public void HeaderJson_HasMetaAndLayout_KeepsTheExistingKeys(string file)
    {
        var (code, stdout, _) = Run("header", "--json", MlaCorpus.PathOf(file));
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(HeaderKeys, doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray());
        var e = MlaCorpus.Get(file);
        MetaAssert.SameOrdered(e.Migrated, MetaValue.FromJson(doc.RootElement.GetProperty("meta")));
        using var a = B2ndArray.Open(MlaCorpus.PathOf(file));
        Assert.Equal(MetaLayouts.Id(MLArrayMetadata.Read(a)!.Layout), doc.RootElement.GetProperty("meta_layout").GetString());
        Assert.Equal(e.Shape, doc.RootElement.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray());
    }

    [Fact]
    public void HeaderJson_LegacyLayoutNamed_AndNaNAsStrings()
    {
        using (var doc = JsonDocument.Parse(Run("header", "--json", MlaCorpus.PathOf("v0028_original_shape_null.mla")).Out))
            Assert.Equal("v0.0.28-v0.0.30", doc.RootElement.GetProperty("meta_layout").GetString());
        string nifti = Run("header", "--json", MlaCorpus.PathOf("head_cli_nifti.mla")).Out;
        Assert.Contains("\"NaN\"", nifti, StringComparison.Ordinal);
        Assert.DoesNotContain(": NaN", nifti, StringComparison.Ordinal);
    }

    [Fact]
    public void HeaderJson_FileWithoutMetadata_HasNullMeta()
    {
        string p = Path.Combine(_dir, "plain.mla");
        B2ndWriter.Write(p, new byte[16], [4], DType.Parse("<f4"));
        using var doc = JsonDocument.Parse(Run("header", "--json", p).Out);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("meta").ValueKind);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("meta_layout").ValueKind);
    }

    [Fact]
    public void HeaderText_ShowsMetadataTree_Snapshot()
    {
        var (code, stdout, _) = Run("header", MlaCorpus.PathOf("v0028_original_shape_null.mla"));
        Assert.Equal(0, code);
        string tree = stdout[stdout.IndexOf("metadata (layout", StringComparison.Ordinal)..].Replace("\r\n", "\n", StringComparison.Ordinal);
        Assert.Equal(V0028Tree, tree);
    }

    private const string V0028Tree = """
        metadata (layout v0.0.28-v0.0.30)
        ├── source
        │   ├── patient_id: "p-0028"
        │   └── modality: "CT"
        ├── extra: {}
        ├── spatial
        │   ├── spacing: [2.5,0.8,0.8]
        │   ├── origin: [-100.0,20.5,30.0]
        │   ├── direction: [[1.0,0.0,0.0],[0.0,1.0,0.0],[0.0,0.0,1.0]]
        │   ├── affine: null
        │   ├── shape: [24,48,40]
        │   ├── axis_labels: null
        │   ├── coord_system: null
        │   ├── axis_units: null
        │   ├── _num_spatial_axes: null
        │   └── _num_non_spatial_axes: null
        ├── stats
        │   ├── min: -1004
        │   ├── max: 1204
        │   ├── mean: null
        │   ├── median: null
        │   ├── std: null
        │   ├── percentile_min: null
        │   ├── percentile_max: null
        │   ├── percentile_mean: null
        │   ├── percentile_median: null
        │   ├── percentile_std: null
        │   ├── percentile_min_key: null
        │   └── percentile_max_key: null
        ├── bbox
        │   ├── bboxes: null
        │   ├── scores: null
        │   └── labels: null
        ├── is_seg: null
        ├── blosc2
        │   ├── chunk_size: [24,48,40]
        │   ├── block_size: [24,16,16]
        │   ├── patch_size: [192,192,192]
        │   ├── cparams: null
        │   └── dparams: null
        ├── _has_array: true
        ├── _image_meta_format: null
        └── _mlarray_version: "v0"

        """;

    [Theory]
    [MemberData(nameof(HostileFiles))]
    public void Header_HostileMetadata_Exit2(string file)
    {
        var (code, _, stderr) = Run("header", "--json", MlaCorpus.PathOf(file));
        Assert.Equal(2, code);
        Assert.StartsWith("mlarray: ", stderr, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------------ validate

    [Theory]
    [MemberData(nameof(ValidFiles))]
    public void Validate_CorpusFiles_Exit0(string file)
    {
        var (code, stdout, _) = Run("validate", MlaCorpus.PathOf(file));
        Assert.Equal(0, code);
        Assert.Contains(": valid (", stdout, StringComparison.Ordinal);
        if (MlaCorpus.Get(file).Layout == "msgpack-map")
            Assert.Contains("migrates cleanly", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(HostileFiles))]
    [MemberData(nameof(CorruptFiles))]
    public void Validate_HostileOrCorrupt_Exit2(string file)
    {
        var (code, _, stderr) = Run("validate", MlaCorpus.PathOf(file));
        Assert.Equal(2, code);
        Assert.StartsWith("mlarray: ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_InvalidMetadata_Exit1_WithPointerCodeMessage()
    {
        string bad = WriteWithMeta("bad.mla", GoodMeta
            .Replace("\"spacing\":[1.0,1.0,2.0]", "\"spacing\":[1.0,2.0]", StringComparison.Ordinal)
            .Replace("\"axis_units\":null,", "\"axis_units\":null,\"channel_x\":null,", StringComparison.Ordinal)
            .Replace("\"is_seg\":{\"is_seg\":null}", "\"is_seg\":{\"is_seg\":\"yes\"}", StringComparison.Ordinal));
        var (code, stdout, _) = Run("validate", bad);
        Assert.Equal(1, code);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(": invalid (layout", lines[0], StringComparison.Ordinal);
        Assert.Contains("  /spatial/channel_x  additionalProperties  Unknown MetaSpatial keys in from_mapping: ['channel_x']", lines);
        Assert.Contains("  /spatial/spacing  x-length  meta.spatial.spacing must have length 3", lines);
        Assert.Contains("  /is_seg/is_seg  type  meta.is_seg must be a bool or None", lines);
    }

    [Fact]
    public void Validate_BoolsWhereNumbersBelong_AreInvalid()
    {
        // Python's isinstance(True, int) lets the reference accept bools in spacing, stats and scores (spec §8.8).
        string bad = WriteWithMeta("bools.mla", GoodMeta
            .Replace("\"spacing\":[1.0,1.0,2.0]", "\"spacing\":[true,1.0,2.0]", StringComparison.Ordinal)
            .Replace("\"stats\":null", "\"stats\":{\"min\":false}", StringComparison.Ordinal)
            .Replace("\"bbox\":null", "\"bbox\":{\"bboxes\":[[[0,1],[0,1],[0,1]]],\"scores\":[true]}", StringComparison.Ordinal));
        var (code, stdout, _) = Run("validate", bad);
        Assert.Equal(1, code);
        Assert.Contains("  /spatial/spacing/0  type  meta.spatial.spacing must contain only floats or ints", stdout, StringComparison.Ordinal);
        Assert.Contains("/stats/min  type", stdout, StringComparison.Ordinal);
        Assert.Contains("/bbox/scores/0  type  meta.bbox.scores must contain only floats or ints", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_GoodFileWrittenByUs_Exit0_AndWorstCodeOfSeveralFiles()
    {
        string good = WriteWithMeta("good.mla", GoodMeta);
        Assert.Equal(0, Run("validate", good).Code);
        string bad = WriteWithMeta("bad2.mla", GoodMeta.Replace("\"shape\":[4,4,4]", "\"shape\":[4,4,5]", StringComparison.Ordinal));
        var r = Run("validate", good, bad);
        Assert.Equal(1, r.Code);
        Assert.Contains("/spatial/shape  shape-mismatch", r.Out, StringComparison.Ordinal);
        Assert.Equal(2, Run("validate", good, bad, MlaCorpus.PathOf("hostile_reduce_os_system.mla")).Code);
        string plain = Path.Combine(_dir, "plain.mla");
        B2ndWriter.Write(plain, new byte[16], [4], DType.Parse("<f4"));
        Assert.Equal(1, Run("validate", plain).Code);
    }

    // ------------------------------------------------------------------ migrate

    [Fact]
    public void Migrate_DryRun_ChangesNothing_AndPrintsTheChanges()
    {
        string p = Copy("v0028_original_shape_null.mla");
        string before = Sha(p);
        var (code, stdout, _) = Run("migrate", "--dry-run", p);
        Assert.Equal(0, code);
        Assert.Equal(before, Sha(p));
        Assert.Contains("layout v0.0.28-v0.0.30 -> current", stdout, StringComparison.Ordinal);
        Assert.Contains("  - original -> source", stdout, StringComparison.Ordinal);
        Assert.Contains("  - spatial.shape: null -> [24,48,40] (from the b2nd array)", stdout, StringComparison.Ordinal);
        Assert.Contains("  - _blosc2 -> blosc2", stdout, StringComparison.Ordinal);
        Assert.Contains("dry run: nothing written", stdout, StringComparison.Ordinal);
        Assert.Single(Directory.GetFiles(_dir));
    }

    [Theory]
    [MemberData(nameof(ValidFiles))]
    public void Migrate_Output_WritesCurrentLayout_ChunksByteIdentical(string file)
    {
        string src = MlaCorpus.PathOf(file);
        string outPath = Path.Combine(_dir, "out.mla");
        string before = Sha(src);
        var (code, stdout, stderr) = Run("migrate", src, "-o", outPath);
        Assert.True(code == 0, stderr + stdout);
        Assert.Equal(before, Sha(src));
        FileBytes.AssertSameFrameBody(src, outPath);
        using var b = B2ndArray.Open(outPath);
        var m = MLArrayMetadata.Read(b)!;
        Assert.Equal(MetaLayout.Current, m.Layout);
        Assert.Empty(m.Migration.Changes);
        MetaAssert.SameOrdered(MlaCorpus.Get(file).Migrated, MetaAssert.ManifestForm(m.Current));
        Assert.Equal(0, Run("validate", outPath).Code);
    }

    [Fact]
    public void Migrate_InPlace_ThenNothingLeftToChange()
    {
        string p = Copy("v0023_image_f32_3d.mla");
        string orig = MlaCorpus.PathOf("v0023_image_f32_3d.mla");
        var (code, stdout, _) = Run("migrate", "--in-place", p);
        Assert.Equal(0, code);
        Assert.Contains("image -> original", stdout, StringComparison.Ordinal);
        Assert.Contains("wrote " + p, stdout, StringComparison.Ordinal);
        FileBytes.AssertSameFrameBody(orig, p);
        string after = Sha(p);
        var again = Run("migrate", "--in-place", p);
        Assert.Equal(0, again.Code);
        Assert.Contains("already in the current layout; nothing to change", again.Out, StringComparison.Ordinal);
        Assert.Equal(after, Sha(p));
        Assert.Single(Directory.GetFiles(_dir)); // no temporary file left behind
    }

    [Fact]
    public void Migrate_SeveralFilesIntoDirectory()
    {
        string outDir = Path.Combine(_dir, "out");
        Directory.CreateDirectory(outDir);
        var r = Run("migrate", MlaCorpus.PathOf("v0034_source_rename.mla"), MlaCorpus.PathOf("head_cli_nifti.mla"), "-o", outDir);
        Assert.Equal(0, r.Code);
        Assert.True(File.Exists(Path.Combine(outDir, "v0034_source_rename.mla")));
        Assert.True(File.Exists(Path.Combine(outDir, "head_cli_nifti.mla")));
        Assert.Contains("_image_meta_format: \"nifti\" -> wrapped", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Migrate_SeveralFiles_RefusedMetadataNamesItsFile()
    {
        // one refused file among several: the others are migrated, and the refusal says which file it is
        string outDir = Path.Combine(_dir, "out");
        Directory.CreateDirectory(outDir);
        string hostile = MlaCorpus.PathOf("hostile_unknown_opcode.mla");
        var r = Run("migrate", MlaCorpus.PathOf("v0034_source_rename.mla"), hostile, "-o", outDir);
        Assert.Equal(2, r.Code);
        Assert.True(File.Exists(Path.Combine(outDir, "v0034_source_rename.mla")));
        Assert.False(File.Exists(Path.Combine(outDir, "hostile_unknown_opcode.mla")));
        Assert.Contains($"{hostile}: not migrated: refused: refusing unknown pickle opcode", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Migrate_UsageErrors_InvalidAndHostileFiles()
    {
        string p = Copy("v0034_source_rename.mla");
        Assert.Equal(1, Run("migrate", p).Code);
        Assert.Equal(1, Run("migrate", p, "--in-place", "-o", Path.Combine(_dir, "x.mla")).Code);
        Assert.Equal(1, Run("migrate", p, p, "-o", Path.Combine(_dir, "missing-dir")).Code);
        string bad = WriteWithMeta("bad.mla", GoodMeta.Replace("\"spacing\":[1.0,1.0,2.0]", "\"spacing\":[1.0,2.0]", StringComparison.Ordinal));
        string badSha = Sha(bad);
        var r = Run("migrate", "--in-place", bad);
        Assert.Equal(1, r.Code);
        Assert.Contains("/spatial/spacing  x-length", r.Out, StringComparison.Ordinal);
        Assert.Equal(badSha, Sha(bad));
        string hostile = Copy("hostile_reduce_os_system.mla");
        string hostileSha = Sha(hostile);
        Assert.Equal(2, Run("migrate", "--in-place", hostile).Code);
        Assert.Equal(hostileSha, Sha(hostile));
    }
}
