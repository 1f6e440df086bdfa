using MLArray.Medical;
using MLArray.Medical.Nifti;
using MLArray.Medical.Nrrd;

namespace MLArray.Tests.Medical;

/// <summary>
/// NIfTI and NRRD inputs found by fuzzing (fuzz/README.md), committed under tests/data/fuzz-regressions (provenance in
/// tests/data/README.md). Each escaped the reader as an untyped exception; each must now be refused with
/// <see cref="MLArrayFormatException"/> naming the file and the problem.
/// </summary>
public sealed class MedicalFuzzRegressionTests
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

    [Fact]
    public void Nul_character_in_the_data_file_name_is_a_format_error()
    {
        // "datafile: \0": Path.GetFullPath threw ArgumentException ("Null character in path").
        string dir = Directory.CreateTempSubdirectory("nrrd-fuzz-").FullName;
        try
        {
            string path = Path.Combine(dir, "input.nhdr");
            File.Copy(Regression("nrrd-detached-nul-in-data-file.nhdr"), path);
            var e = Assert.Throws<MLArrayFormatException>(() => Nrrd.Read(path));
            Assert.Contains("'data file' contains a character that is not valid in a file name", e.Message, StringComparison.Ordinal);
            Assert.Contains(path, e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Nifti_extension_declaring_2_GB_in_a_360_byte_file_is_refused_without_allocating_it()
    {
        // vox_offset and the extension's esize both claim ~1.7 GB; the reader allocated esize - 8 bytes before reading.
        string path = Regression("nifti-extension-size-2gb.nii");
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<MLArrayFormatException>(() => Nifti.Read(path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("truncated NIfTI extension", e.Message, StringComparison.Ordinal);
        Assert.Contains("0 of 1711456935 bytes", e.Message, StringComparison.Ordinal);
        Assert.True(allocated < 16 << 20, $"reading the header allocated {allocated} bytes");

        // With a data limit, the declared size is refused before any read, naming the option.
        var limited = Assert.Throws<MLArrayFormatException>(() => Nifti.Read(path, new MedicalReadOptions { MaxDataBytes = 1 << 20 }));
        Assert.Contains("MedicalReadOptions.MaxDataBytes", limited.Message, StringComparison.Ordinal);
    }
}
