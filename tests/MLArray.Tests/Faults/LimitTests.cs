using MLArray.TestSupport;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using MLArray.Blosc2;
using MLArray.Tests.Medical;
using MLArray.Medical.Nifti;
using MLArray.Medical.Nrrd;

namespace MLArray.Tests.Faults;

/// <summary>Limits of docs/limits.md in the medical readers that had no test: the typed exception, its message and the bound on memory.</summary>
public sealed class LimitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-limits-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void An_NRRD_header_longer_than_16_MiB_without_its_blank_line_is_refused()
    {
        string path = Path.Combine(_dir, "long.nrrd");
        using (var w = new StreamWriter(path, false, new UTF8Encoding(false)))
        {
            w.Write("NRRD0004\ntype: uint8\ndimension: 1\nsizes: 4\nencoding: raw\n");
            string comment = "# " + new string('x', 1000) + "\n";
            for (long written = 0; written <= (17L << 20); written += comment.Length) w.Write(comment);
        }
        var e = Assert.Throws<MLArrayFormatException>(() => Nrrd.Read(path));
        Assert.Contains("NRRD header longer than 16777216 bytes without the blank line that ends it", e.Message, StringComparison.Ordinal);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_hostile_NIfTI_extension_size_allocates_only_what_the_file_holds()
    {
        // A valid .nii whose header is kept, with vox_offset pushed far away and one extension declaring ~2 GiB,
        // gzipped (so vox_offset cannot be checked against the file length).
        byte[] nii = File.ReadAllBytes(MedicalTestData.PathOf("niftijs/5D_small.nii"));
        Assert.Equal(348, BinaryPrimitives.ReadInt32LittleEndian(nii));
        var hostile = new byte[348 + 4 + 8 + 100];
        nii.AsSpan(0, 348).CopyTo(hostile);
        BinaryPrimitives.WriteSingleLittleEndian(hostile.AsSpan(108), 1e12f); // vox_offset
        hostile[348] = 1; // extender: extensions follow
        BinaryPrimitives.WriteInt32LittleEndian(hostile.AsSpan(352), int.MaxValue - 15); // esize
        BinaryPrimitives.WriteInt32LittleEndian(hostile.AsSpan(356), 6); // ecode
        string path = Path.Combine(_dir, "hostile.nii.gz");
        using (var gz = new GZipStream(File.Create(path), CompressionLevel.Fastest))
            gz.Write(hostile);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<MLArrayFormatException>(() => Nifti.Read(path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("truncated NIfTI extension", e.Message, StringComparison.Ordinal);
        Assert.Contains($"100 of {int.MaxValue - 15 - 8} bytes", e.Message, StringComparison.Ordinal);
        Assert.True(allocated < (64L << 20), $"reading a 460-byte file allocated {allocated} bytes");
    }
}
