namespace MLArray.Blosc2.Tests.Corpus;

/// <summary>Every file written by C-Blosc2 in tests/data/blosc2 decodes to the manifest's hash.</summary>
public class CorpusDecodeTests
{
    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (var e in CorpusEntry.Load())
            data.Add(e.File);
        return data;
    }

    private static CorpusEntry Entry(string file) => CorpusEntry.Load().Single(e => e.File == file);

    [Theory]
    [MemberData(nameof(Files))]
    public void Decodes_to_manifest_hash(string file)
    {
        var e = Entry(file);
        using var a = B2ndArray.Open(TestData.Blosc2(file));
        Assert.Equal(e.Shape, a.Shape);
        Assert.Equal(e.DType, a.DType.Name);
        Assert.Equal(long.Parse(e.Read["nchunks"], System.Globalization.CultureInfo.InvariantCulture), a.NChunks);
        if (a.Length > 0)
        {
            Assert.Equal(e.ChunkShape, a.ChunkShape);
            Assert.Equal(e.BlockShape, a.BlockShape);
        }
        byte[] serial = a.ReadBytes(threads: 1);
        Assert.Equal(a.NBytes, serial.Length);
        if (e.Hash!.StartsWith("undefined", StringComparison.Ordinal))
        {
            Assert.Equal(ChunkKind.Uninitialized, a.GetChunkInfo(0).Kind);
            return;
        }
        Assert.Equal(e.Hash, TestData.Fnv1a64(serial).ToString("x16", System.Globalization.CultureInfo.InvariantCulture));
        // Parallel decode gives the same bytes.
        Assert.Equal(serial, a.ReadBytes(threads: 4));
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Header_facts_match_manifest(string file)
    {
        var e = Entry(file);
        using var a = B2ndArray.Open(TestData.Blosc2(file));
        Assert.Equal(e.Read["codec"], a.Codec.ToString().ToLowerInvariant());
        Assert.Equal(int.Parse(e.Read["clevel"], System.Globalization.CultureInfo.InvariantCulture), a.CLevel);
        Assert.Equal(e.Read["filters"], string.Join(",", a.Filters.Select(f => (int)f)));
        Assert.Equal(e.Read["filters_meta"], string.Join(",", a.FiltersMeta));
        Assert.Equal(int.Parse(e.Read["nvlmeta"], System.Globalization.CultureInfo.InvariantCulture), a.VlMetaNames.Count);
        long regular = 0, zeros = 0, nans = 0, uninit = 0, repeat = 0;
        for (long c = 0; c < a.NChunks; c++)
        {
            switch (a.GetChunkInfo(c).Kind)
            {
                case ChunkKind.Regular: regular++; break;
                case ChunkKind.Zeros: zeros++; break;
                case ChunkKind.NaN: nans++; break;
                case ChunkKind.Uninitialized: uninit++; break;
                case ChunkKind.RepeatedValue: repeat++; break;
            }
        }
        Assert.Equal(e.Read["chunks_regular"], regular.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(e.Read["chunks_zeros"], zeros.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(e.Read["chunks_nans"], nans.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(e.Read["chunks_uninit"], uninit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(e.Read["chunks_repeatval"], repeat.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
