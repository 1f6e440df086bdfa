using MLArray.Blosc2;
using MLArray.Metadata;
using MLArray.Metadata.Migration;
using MLArray.TestSupport;

namespace MLArray.Cli.Tests.Cli;

/// <summary>
/// Every refusal of a single file names the file on stderr, whichever command meets it (the library's messages for
/// refused metadata and for unsupported exports do not carry the path).
/// </summary>
public sealed class RefusalNamesFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-cli-naming-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter { NewLine = "\n" };
        var e = new StringWriter { NewLine = "\n" };
        int code = CliApp.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    public static TheoryData<string> Commands => ["header", "header --json", "validate", "migrate --dry-run", "convert {0} OUT.nii", "convert {0} OUT.nrrd", "preview -o OUT.png"];

    [Theory]
    [MemberData(nameof(Commands))]
    public void A_file_with_refused_metadata_is_named_in_the_message(string command)
    {
        string hostile = Path.Combine(_dir, "hostile.mla");
        File.Copy(MlaCorpus.PathOf("hostile_unknown_opcode.mla"), hostile);
        string[] parts = command.Replace("OUT", Path.Combine(_dir, "out"), StringComparison.Ordinal).Split(' ');
        string[] args = command.Contains("{0}", StringComparison.Ordinal)
            ? parts.Select(p => p == "{0}" ? hostile : p).ToArray()
            : [.. parts, hostile];
        var r = Run(args);
        Assert.Equal(2, r.Code);
        string line = Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"mlarray: {hostile}: refusing unknown pickle opcode", line, StringComparison.Ordinal);
    }

    [Fact]
    public void A_refused_export_names_the_input_and_a_message_that_already_names_a_file_is_kept()
    {
        // a singular geometry (stored by another writer) that NRRD export refuses
        string mla = Path.Combine(_dir, "flat.mla");
        using (var img = MLArrayFile.Zeros([2, 3, 4], DType.UInt8)) img.Save(mla);
        MLArrayMeta meta;
        using (var f = MLArrayFile.Load(mla))
            meta = f.Meta with { Spatial = f.Meta.Spatial with { Spacing = EquatableArray.From(new MetaNumber[] { 0.0, 1.0, 1.0 }) } };
        using (var raw = B2ndArray.Open(mla, B2ndOpenMode.ReadWrite))
            raw.SetVlMeta(MLArrayMetadata.VlMetaName, MLArrayMetadata.Encode(meta));
        var r = Run("convert", mla, Path.Combine(_dir, "flat.nrrd"));
        Assert.NotEqual(0, r.Code);
        Assert.StartsWith($"mlarray: {mla}: the image's geometry is singular", r.Err, StringComparison.Ordinal);

        // corrupt-data messages name the file already: no second name in front
        string junk = Path.Combine(_dir, "junk.mla");
        File.WriteAllBytes(junk, new byte[64]);
        var h = Run("header", junk);
        Assert.Equal(2, h.Code);
        Assert.Contains("junk.mla' is not an MLArray/Blosc2 file", h.Err, StringComparison.Ordinal);
        Assert.DoesNotContain($"{junk}: ", h.Err, StringComparison.Ordinal);

        // usage errors are not about a file
        var u = Run("bench", "--count", "0", mla);
        Assert.Equal("mlarray: --count must be positive, got 0.\n", u.Err);
    }
}
