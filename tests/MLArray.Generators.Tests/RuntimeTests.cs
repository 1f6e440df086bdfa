using System.Text.Json.Nodes;
using MLArray.Metadata;
using NJsonSchema;

namespace MLArray.Generators.Tests;

/// <summary>The types generated into src/MLArray from schema/mlarray-meta.schema.json, checked against schema/examples and NJsonSchema.</summary>
public class RuntimeTests
{
    // NJsonSchema 11 does not resolve "#/$defs/..." references nested inside anyOf branches of a definition; its draft-7
    // spelling "definitions" resolves everywhere and means the same, so the oracle gets the schema with that spelling.
    private static readonly Lazy<JsonSchema> Oracle = new(() => JsonSchema.FromJsonAsync(
        File.ReadAllText(TestPaths.RealSchema).Replace("\"$defs\"", "\"definitions\"", StringComparison.Ordinal).Replace("#/$defs/", "#/definitions/", StringComparison.Ordinal),
        TestPaths.RealSchema).GetAwaiter().GetResult());

    private static string Valid(string name) => Path.Combine(TestPaths.SchemaDir, "examples", "valid", name);

    private static string Invalid(string name) => Path.Combine(TestPaths.SchemaDir, "examples", "invalid", name);

    public static TheoryData<string> ValidExamples() => new(Directory.GetFiles(Path.Combine(TestPaths.SchemaDir, "examples", "valid"), "*.json").Select(Path.GetFileName).Order(StringComparer.Ordinal)!);

    public static TheoryData<string> InvalidExamples() => new(Directory.GetFiles(Path.Combine(TestPaths.SchemaDir, "examples", "invalid"), "*.json").Select(Path.GetFileName).Order(StringComparer.Ordinal)!);

    private static JsonObject Expected(string file) =>
        (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.SchemaDir, "examples", "invalid.expected.json")))![file]!;

    private static MetaValidationContext ContextFor(JsonObject expected)
    {
        var ctx = MetaValidationContext.Empty;
        if (expected["context"] is JsonObject c)
            foreach (var (k, v) in c) ctx = ctx.WithDimension(k, v!.GetValue<int>());
        return ctx;
    }

    private static bool HasPlainSchemaError(ValidationReport report) =>
        report.Errors.Any(i => !i.Code.StartsWith("x-", StringComparison.Ordinal));

    [Theory]
    [MemberData(nameof(ValidExamples))]
    public void ValidExample_IsValid_ForGeneratedValidator_AndNJsonSchema(string file)
    {
        var json = File.ReadAllText(Valid(file));
        var report = MLArrayMeta.ValidateJson(json);
        Assert.True(report.Count == 0, report.ToString());
        var oracle = Oracle.Value.Validate(json);
        Assert.True(oracle.Count == 0, string.Join("; ", oracle.Select(e => e.Kind + " at " + e.Path)));
    }

    [Theory]
    [MemberData(nameof(InvalidExamples))]
    public void InvalidExample_GivesExpectedCodeAndPath_AndAgreesWithNJsonSchema(string file)
    {
        var json = File.ReadAllText(Invalid(file));
        var expected = Expected(file);
        var report = MLArrayMeta.ValidateJson(json, ContextFor(expected));
        var code = (string)expected["code"]!;
        var path = (string)expected["path"]!;
        var severity = (string)expected["severity"]! == "warning" ? ValidationSeverity.Warning : ValidationSeverity.Error;
        var issue = report.FirstOrDefault(i => i.Code == code && i.Path == path);
        Assert.True(issue is not null, $"expected {code} at {path}; got:\n{report}");
        Assert.Equal(severity, issue.Severity);
        if (expected["message"] is { } message) Assert.Equal((string)message!, issue.Message);
        Assert.True(file.StartsWith(code + "--", StringComparison.Ordinal), "invalid examples are named <code>--<what>.json");

        // The plain JSON Schema part must agree with an independent validator; x- rules are ours alone.
        var oracle = Oracle.Value.Validate(json);
        Assert.True(HasPlainSchemaError(report) == (oracle.Count > 0),
            $"generated validator and NJsonSchema disagree.\nours:\n{report}\nNJsonSchema: {string.Join("; ", oracle.Select(e => e.Kind + " at " + e.Path))}");
        if (severity == ValidationSeverity.Error) Assert.False(report.IsValid);
        else Assert.True(report.IsValid);
    }

    [Fact]
    public void ThereAreAtLeastTwentyInvalidExamples_EachListedInTheManifest()
    {
        var manifest = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.SchemaDir, "examples", "invalid.expected.json")))!;
        var files = Directory.GetFiles(Path.Combine(TestPaths.SchemaDir, "examples", "invalid"), "*.json").Select(f => Path.GetFileName(f)).ToList();
        Assert.True(files.Count >= 20);
        Assert.Equal(files.Order(StringComparer.Ordinal), manifest.Select(kv => kv.Key).Order(StringComparer.Ordinal));
        // every rule of the schema has at least one vector
        foreach (var code in new[] { "type", "additionalProperties", "minItems", "maxItems", "minimum", "x-length", "x-shape", "x-exclusive-with", "x-same-length-as", "x-ordered" })
            Assert.Contains(files, f => f.StartsWith(code + "--", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(ValidExamples))]
    public void CanonicalExamples_RoundTripToIdenticalJson_OthersAreIdempotent(string file)
    {
        var json = File.ReadAllText(Valid(file));
        var meta = MLArrayMeta.FromJson(json);
        var written = meta.ToJson();
        if (file.StartsWith("canonical-", StringComparison.Ordinal))
            Assert.Equal(MetaSchemaRuntime.ToCanonicalJson(MetaSchemaRuntime.ParseJson(json)), written);
        var again = MLArrayMeta.FromJson(written);
        Assert.Equal(meta, again);
        Assert.Equal(written, again.ToJson());
        Assert.Equal(written, MLArrayMeta.FromJson(meta.ToJson(indented: true)).ToJson());
    }

    [Theory]
    [MemberData(nameof(ValidExamples))]
    public void MetaValueRoundTrip_PreservesTheRecord(string file)
    {
        var json = File.ReadAllText(Valid(file));
        var tree = MetaSchemaRuntime.ParseJson(json);
        var meta = MLArrayMeta.FromMetaValue(tree);
        Assert.Equal(meta, MLArrayMeta.FromJson(json));
        var back = meta.ToMetaValue();
        Assert.Equal(meta, MLArrayMeta.FromMetaValue(back));
        if (file.StartsWith("canonical-", StringComparison.Ordinal)) Assert.Equal(tree, back);
        Assert.Equal(MetaSchemaRuntime.ToCanonicalJson(back), meta.ToJson());
    }

    [Fact]
    public void Reference_1_4_Mapping_IsReadTyped()
    {
        var meta = MLArrayMeta.FromJson(File.ReadAllText(Valid("canonical-ct-3d.json")));
        Assert.Equal([2.5, 0.8, 0.8], meta.Spatial.Spacing!.Select(n => n.ToDouble()));
        Assert.True(meta.Spatial.Direction![0][0].IsInteger); // ints stay ints
        Assert.Equal(new MetaNumber(-1024), meta.Stats.Min);
        Assert.Equal(new MetaNumber(3071.0), meta.Stats.Max);
        Assert.NotEqual(meta.Stats.Min, new MetaNumber(-1024.0));
        Assert.Equal(CoordSystem.LpsPlus, meta.Spatial.CoordSystem);
        Assert.Equal([AxisLabel.SpatialZ, AxisLabel.SpatialY, AxisLabel.SpatialX], meta.Spatial.AxisLabels!);
        Assert.True(meta.IsSeg);
        Assert.True(meta.HasArray);
        Assert.Null(meta.ImageMetaFormat);
        Assert.Equal("v0", meta.MLArrayVersion);
        Assert.Equal(new MetaString("p-001"), ((MetaDict)meta.Source)["patient_id"]);
        Assert.Equal(2, ((MetaDict)meta.Blosc2.Cparams!)["codec"] is MetaInt i ? (int)i.Value : -1);
        Assert.Equal("1.0.0", MLArrayMeta.SchemaVersion);
    }

    [Theory]
    [InlineData("""{"is_seg": {"is_seg": true}}""")]
    [InlineData("""{"is_seg": true}""")]
    public void SingleKeyNamespaces_AcceptWrappedAndBare_WriteCanonical(string json)
    {
        var meta = MLArrayMeta.FromJson(json);
        Assert.True(meta.IsSeg);
        var written = meta.ToJson();
        Assert.Contains("\"is_seg\":{\"is_seg\":true}", written, StringComparison.Ordinal);
        Assert.Contains("\"_mlarray_version\":null", written, StringComparison.Ordinal);
        Assert.Contains("\"_has_array\":{\"has_array\":false}", written, StringComparison.Ordinal);
    }

    [Fact]
    public void Records_HaveValueEquality_AndAreWithFriendly()
    {
        var a = new MLArrayMeta { Spatial = new MetaSpatial { Spacing = [1.0, 2.0], Shape = [3, 4] }, IsSeg = true };
        var b = new MLArrayMeta { Spatial = new MetaSpatial { Spacing = [1.0, 2.0], Shape = [3, 4] }, IsSeg = true };
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        var c = a with { Spatial = a.Spatial with { Spacing = [1.0, 2.5] } };
        Assert.NotEqual(a, c);
        Assert.Equal([1.0, 2.0], a.Spatial.Spacing!.Select(n => n.ToDouble())); // the original is untouched
    }

    [Fact]
    public void OpenVocabularies_KeepUnknownValues()
    {
        Assert.Equal("RAS+", CoordSystem.RasPlus.Value);
        Assert.True(CoordSystem.LpsPlus.IsKnown);
        CoordSystem custom = "scanner";
        Assert.False(custom.IsKnown);
        Assert.Equal(6, CoordSystem.KnownValues.Count);
        var meta = new MLArrayMeta { Spatial = new MetaSpatial { CoordSystem = custom, AxisLabels = ["spatial_x", "wavelength"] } };
        var back = MLArrayMeta.FromJson(meta.ToJson());
        Assert.Equal(custom, back.Spatial.CoordSystem);
        Assert.False(back.Spatial.AxisLabels![1].IsKnown);
    }

    [Fact]
    public void Validate_UsesDimensionsFromTheDocumentOrTheContext()
    {
        var meta = new MLArrayMeta { Spatial = new MetaSpatial { Spacing = [1.0, 1.0] } };
        Assert.True(meta.Validate().IsValid); // ndim unknown: no length rule applies (reference §1.7)
        var report = meta.Validate(MetaValidationContext.Empty.WithDimension("ndim", 3));
        var issue = Assert.Single(report);
        Assert.Equal(("/spatial/spacing", "x-length", "meta.spatial.spacing must have length 3"), (issue.Path, issue.Code, issue.Message));
    }

    [Fact]
    public void FromJson_RejectsInvalidMetadata_WithPythonsMessage()
    {
        var e = Assert.Throws<MLArrayValidationException>(() => MLArrayMeta.FromJson("""{"spatial": {"channel_axis": 0}}"""));
        Assert.StartsWith("Unknown MetaSpatial keys in from_mapping: ['channel_axis']", e.Message, StringComparison.Ordinal);
        var report = MLArrayMeta.ValidateJson("{not json");
        Assert.Equal("json", Assert.Single(report).Code);
    }

    [Fact]
    public void NonFiniteAndHugeNumbers_RoundTrip()
    {
        var meta = new MLArrayMeta
        {
            Stats = new MetaStatistics { Min = double.NegativeInfinity, Max = double.NaN, Mean = new MetaNumber(System.Numerics.BigInteger.Pow(10, 30)) },
        };
        var back = MLArrayMeta.FromJson(meta.ToJson());
        Assert.Equal(meta, back);
        Assert.Equal(meta, MLArrayMeta.FromMetaValue(meta.ToMetaValue()));
    }

    [Fact]
    public void ExtensionSample_RoundTripsTypedExtension()
    {
        using var output = new StringWriter();
        var dir = Directory.CreateTempSubdirectory("mla-ext-").FullName;
        try
        {
            Assert.Equal(0, ExtensionSample.Demo.Run(output, dir));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
        Assert.Contains(".mla round trip equal: True", output.ToString(), StringComparison.Ordinal);
    }
}
