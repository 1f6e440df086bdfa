using MLArray.Medical.Nrrd;

namespace MLArray.Cli.Tests.Medical;

/// <summary>
/// NRRD inputs found by fuzzing (fuzz/README.md), committed under tests/data/fuzz-regressions (provenance in
/// tests/data/README.md). Each escaped the reader as an untyped exception from the bzip2 decoder; each must now be
/// refused with <see cref="MLArrayFormatException"/> naming the file and the bzip2 problem.
/// </summary>
public sealed class NrrdFuzzRegressionTests
{
    private static string Regression(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "data", "fuzz-regressions", name);
            if (File.Exists(candidate))
                return candidate;
        }

        throw new FileNotFoundException($"tests/data/fuzz-regressions/{name} not found above {AppContext.BaseDirectory}");
    }

    [Theory]
    // No bzip2 data at all after the header: EndOfStreamException from the decoder's constructor.
    [InlineData("nrrd-bzip2-truncated-first-block.nrrd", "bzip2 stream ends early")]
    // A corrupt first block: BZip2Exception ("Bzip data error") from the decoder's constructor.
    [InlineData("nrrd-bzip2-bad-first-block.nrrd", "corrupt bzip2 data")]
    // A code outside the decoder's tables: IndexOutOfRangeException inside SharpZipLib.
    [InlineData("nrrd-bzip2-table-index-out-of-range.nrrd", "corrupt bzip2 data")]
    public void Corrupt_bzip2_data_is_a_format_error(string file, string expected)
    {
        string path = Regression(file);
        var e = Assert.Throws<MLArrayFormatException>(() => Nrrd.Read(path));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.Contains(file, e.Message, StringComparison.Ordinal);
    }
}
