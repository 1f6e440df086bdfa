using MLArray.TestSupport;
using System.Runtime.InteropServices;
using MLArray.Blosc2;
using MLArray.Metadata;
using MLArray.Metadata.Migration;
using MLArray.Metadata.Payload;

namespace MLArray.Tests.Metadata;

/// <summary>Every file of the MLArray conformance corpus (tests/data/mla) against its MANIFEST.jsonl record.</summary>
public sealed class CorpusMetadataTests
{
    public static TheoryData<string> ValidFiles => MlaCorpus.Files("valid");
    public static TheoryData<string> HostileFiles => MlaCorpus.Files("hostile");
    public static TheoryData<string> CorruptFiles => MlaCorpus.Files("corrupt");

    private static MetaReadResult ReadMeta(string file, out long[] shape)
    {
        using var a = B2ndArray.Open(MlaCorpus.PathOf(file));
        shape = a.Shape;
        return MLArrayMetadata.Read(a) ?? throw new InvalidOperationException("no mlarray entry");
    }

    [Fact]
    public void Corpus_HasAllKinds()
    {
        Assert.Equal(29, MlaCorpus.Files("valid").Count);
        Assert.Equal(5, MlaCorpus.Files("hostile").Count);
        Assert.Equal(3, MlaCorpus.Files("corrupt").Count);
    }

    [Theory]
    [MemberData(nameof(ValidFiles))]
    public void Valid_DecodedEqualsManifestMetadata(string file)
    {
        var e = MlaCorpus.Get(file);
        var m = ReadMeta(file, out _);
        MetaAssert.SameOrdered(e.Metadata, MetaAssert.ManifestForm(m.Payload.Value));
        Assert.Equal(e.Layout == "msgpack-map" ? PayloadFormat.MsgpackMap : PayloadFormat.GzipPickle, m.Payload.Format);
    }

    [Theory]
    [MemberData(nameof(ValidFiles))]
    public void Valid_MigratedEqualsManifestMigrated(string file)
    {
        var e = MlaCorpus.Get(file);
        var m = ReadMeta(file, out var shape);
        MetaAssert.SameOrdered(e.Migrated, MetaAssert.ManifestForm(m.Current));
        Assert.Empty(MLArrayMetadata.Validate(m, shape));
    }

    [Theory]
    [MemberData(nameof(ValidFiles))]
    public void Valid_LayoutDetectedFromStructure(string file)
    {
        var e = MlaCorpus.Get(file);
        var m = ReadMeta(file, out _);
        var expected = e.Version switch
        {
            "v0.0.23" or "v0.0.27" => MetaLayout.V0023,
            "v0.0.28" => MetaLayout.V0028,
            "v0.0.32" => MetaLayout.V0031,
            "v0.0.33" => MetaLayout.V0033,
            "v0.0.34" => MetaLayout.V0034,
            "v0.0.35" or "v0.0.41" => MetaLayout.V0035,
            "v0.0.42" or "v0.0.47" => MetaLayout.V0042,
            "v0.0.48" => MetaLayout.V0048,
            "v0.0.49" => MetaLayout.V0049,
            "v0.0.50" or "v0.0.51" or "v0.0.52" or "v0.0.53" => MetaLayout.V0050,
            _ => MetaLayout.Current,
        };
        Assert.Equal(expected, m.Layout);
        Assert.Equal(e.Layout == "msgpack-map", MetaLayouts.IsLegacy(m.Layout));
    }

    [Theory]
    [MemberData(nameof(HostileFiles))]
    public void Hostile_RefusedWithMetadataException(string file)
    {
        var e = MlaCorpus.Get(file);
        using var a = B2ndArray.Open(MlaCorpus.PathOf(file)); // the container itself is valid
        var ex = Assert.Throws<MLArrayMetadataException>(() => MLArrayMetadata.Read(a));
        string expectedText = e.RejectStage switch
        {
            "pickle-global" => "refusing pickle global posix.system",
            "pickle-opcode" => "unknown pickle opcode 0xff",
            "pickle-truncated" => "truncated",
            "gunzip-limit" => "beyond the limit of 16777216 bytes",
            _ => throw new InvalidOperationException(e.RejectStage),
        };
        Assert.Contains(expectedText, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Hostile_GzipBomb_StoppedWhileInflating()
    {
        using var a = B2ndArray.Open(MlaCorpus.PathOf("hostile_gzip_bomb.mla"));
        // this thread's allocations only: tests running in parallel allocate too
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Throws<MLArrayMetadataException>(() => MLArrayMetadata.Read(a, new PayloadLimits { MaxDecompressedBytes = 1 << 20 }));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 64L << 20, $"allocated {allocated} bytes for a 1 MiB limit (the bomb inflates to 1.2 GB)");
    }

    [Theory]
    [MemberData(nameof(CorruptFiles))]
    public void Corrupt_ContainerGivesFormatException(string file)
    {
        Assert.Throws<MLArrayFormatException>(() =>
        {
            using var a = B2ndArray.Open(MlaCorpus.PathOf(file));
            for (long i = 0; i < a.NChunks; i++) a.GetChunkInfo(i);
            _ = a.ReadBytes(threads: 1);
        });
    }

    [Theory]
    [MemberData(nameof(ValidFiles))]
    public void RoundTrip_OurWriterThenOurReader_SameMigratedMetadata(string file)
    {
        var e = MlaCorpus.Get(file);
        string tmp = Path.Combine(Path.GetTempPath(), $"mla-rt-{Guid.NewGuid():N}.mla");
        try
        {
            MetaDict current;
            using (var a = B2ndArray.Open(MlaCorpus.PathOf(file)))
            {
                current = MLArrayMetadata.Read(a)!.Current;
                byte[] data = a.ReadBytes();
                B2ndWriter.Write(tmp, data, a.Shape, a.DType, new B2ndWriteOptions
                {
                    ChunkShape = a.NChunks == 0 ? null : a.ChunkShape,
                    BlockShape = a.NChunks == 0 ? null : a.BlockShape,
                    VlMeta = [new(MLArrayMetadata.VlMetaName, MLArrayMetadata.Encode(current))],
                });
            }
            using var b = B2ndArray.Open(tmp);
            var back = MLArrayMetadata.Read(b)!;
            Assert.Equal(MetaLayout.Current, back.Layout);
            Assert.Equal(PayloadFormat.GzipPickle, back.Payload.Format);
            Assert.Equal(PickleFeatures.None, back.Payload.Features);
            Assert.Empty(back.Migration.Changes);
            MetaAssert.SameOrdered(current, back.Payload.Value);
            MetaAssert.SameOrdered(e.Migrated, MetaAssert.ManifestForm(back.Current));
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    [Theory]
    [MemberData(nameof(ValidFiles))]
    public void Migrate_RewritesOnlyTheMetadata_ChunksByteIdentical(string file)
    {
        var e = MlaCorpus.Get(file);
        string src = MlaCorpus.PathOf(file);
        string tmp = Path.Combine(Path.GetTempPath(), $"mla-mig-{Guid.NewGuid():N}.mla");
        try
        {
            MetaDict current;
            using (var a = B2ndArray.Open(src))
                current = MLArrayMetadata.Read(a)!.Current;
            B2ndFrameEditor.RewriteVlMeta(src, tmp, new Dictionary<string, byte[]?> { [MLArrayMetadata.VlMetaName] = MLArrayMetadata.Encode(current) });
            FileBytes.AssertSameFrameBody(src, tmp);
            using var b = B2ndArray.Open(tmp);
            var back = MLArrayMetadata.Read(b)!;
            Assert.Equal(MetaLayout.Current, back.Layout);
            MetaAssert.SameOrdered(e.Migrated, MetaAssert.ManifestForm(back.Current));
            if (b.NChunks > 0)
                Assert.Equal(e.ArrayHash, Fnv1a64(b.ReadBytes()).ToString("x16", System.Globalization.CultureInfo.InvariantCulture));
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    internal static ulong Fnv1a64(ReadOnlySpan<byte> data)
    {
        ulong h = 0xcbf29ce484222325;
        foreach (byte x in data) { h ^= x; h *= 0x100000001b3; }
        return h;
    }
}
