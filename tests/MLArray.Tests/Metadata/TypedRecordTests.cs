using MLArray.TestSupport;
using MLArray.Blosc2;
using MLArray.Metadata;
using MLArray.Metadata.Migration;

namespace MLArray.Tests.Metadata;

/// <summary>The migrated tree converts into the generated typed records (issue 4) and back without change.</summary>
public sealed class TypedRecordTests
{
    public static TheoryData<string> ValidFiles => MlaCorpus.Files("valid");

    [Theory]
    [MemberData(nameof(ValidFiles))]
    public void Migrated_ToTypedRecord_AndBack_IsCanonical(string file)
    {
        using var a = B2ndArray.Open(MlaCorpus.PathOf(file));
        var m = MLArrayMetadata.Read(a)!;
        MLArrayMeta typed = MetaMigrator.ToRecord(m.Current, a.Shape);
        MetaAssert.SameOrdered(m.Current, typed.ToMetaValue());
        MetaAssert.SameOrdered(MlaCorpus.Get(file).Migrated, MetaAssert.ManifestForm(typed.ToMetaValue()));
    }

    [Fact]
    public void TypedRecord_EditedAndEncoded_ReadsBack_AndInvalidRecordsAreNotWritten()
    {
        using var a = B2ndArray.Open(MlaCorpus.PathOf(MlaCorpus.Entries.First(e => e.Kind == "valid" && e.Layout == "gzip-pickle").File));
        var read = MLArrayMetadata.Read(a)!;
        var edited = read.Meta with { IsSeg = true };
        var back = MLArrayMetadata.Decode(MLArrayMetadata.Encode(edited), a.Shape);
        Assert.Equal(edited, back.Meta);
        var bad = edited with { Spatial = edited.Spatial with { NumSpatialAxes = 99, AxisLabels = [AxisLabel.SpatialX] } };
        Assert.Throws<MLArray.MLArrayValidationException>(() => MLArrayMetadata.Encode(bad));
    }
}
