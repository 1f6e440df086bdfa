using MLArray.Conversion;
using MLArray.Medical.Nifti;
using MLArray.TestSupport;
using Xunit.Abstractions;

namespace MLArray.Tests.Conversion;

/// <summary>Tests that measure process-wide allocations: they run alone, after the parallel tests.</summary>
[CollectionDefinition(nameof(AllocationMeasuring), DisableParallelization = true)]
public sealed class AllocationMeasuring;

/// <summary>The streaming NIfTI → .mla path of <see cref="MedicalConverter"/>: its memory bound and cancellation (injected tokens).</summary>
[Collection(nameof(AllocationMeasuring))]
public sealed class StreamingConversionTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-stream-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private static readonly MedicalToMLArrayOptions TwoThreads = new()
    {
        Compression = MLArrayCreateOptions.DefaultCompression with { Threads = 2 },
    };

    private static long Allocated(Action a)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = GC.GetTotalAllocatedBytes(precise: true);
        a();
        return GC.GetTotalAllocatedBytes(precise: true) - before;
    }

    [Fact]
    public void Nii_gz_to_mla_allocates_one_decoded_volume_plus_chunk_buffers()
    {
        string input = P("ct.nii.gz");
        short[] v = SyntheticCt.Write(input, 160, 160, 128, 3);
        long decoded = v.Length * 2L;
        string mla = P("ct.mla");
        MedicalConverter.ToMLArray(input, mla, TwoThreads); // warm-up: JIT, pools
        long streaming = Allocated(() => MedicalConverter.ToMLArray(input, mla, TwoThreads));
        long inMemory = Allocated(() =>
        {
            using MLArrayFile f = MedicalConverter.FromNifti(Nifti.Read(input), TwoThreads);
            f.Save(P("ct2.mla"));
        });
        long compressed = new FileInfo(mla).Length;
        output.WriteLine($"decoded {decoded} B, .mla {compressed} B; allocated: streaming {streaming} B, read-then-compress {inMemory} B");
        Assert.InRange(streaming, decoded, decoded + (16L << 20));
        Assert.True(inMemory > streaming + compressed, "the in-memory path also holds the compressed frame");
        using var f = MLArrayFile.Open(mla);
        Assert.Equal(v, f.ToArray<short>());
    }

    [Fact]
    public void Cancelled_conversions_leave_no_file()
    {
        string nii = MedicalTestData.PathOf("niivue/shear.nii.gz");
        string outDir = Directory.CreateDirectory(P("out")).FullName;
        using var pre = new CancellationTokenSource();
        pre.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => MedicalConverter.ToMLArray(nii, Path.Combine(outDir, "a.mla"), null, pre.Token));

        // cancelled once the header is read and the layout chosen, while the data is being decoded and compressed
        using var mid = new CancellationTokenSource();
        var opts = new MedicalToMLArrayOptions { Configure = (_, _) => { mid.Cancel(); return (null, null); } };
        Assert.ThrowsAny<OperationCanceledException>(() => MedicalConverter.ToMLArray(nii, Path.Combine(outDir, "b.mla"), opts, mid.Token));
        using var mid2 = new CancellationTokenSource();
        var opts2 = new MedicalToMLArrayOptions { Configure = (_, _) => { mid2.Cancel(); return (null, null); } };
        Assert.ThrowsAny<OperationCanceledException>(() => MedicalConverter.ToMLArray(MedicalTestData.PathOf("pynrrd/BallBinary30x30x30_bz2.nrrd"), Path.Combine(outDir, "c.mla"), opts2, mid2.Token));

        string mla = P("src.mla");
        MedicalConverter.ToMLArray(nii, mla);
        foreach (string target in (string[])["d.nii.gz", "e.hdr", "f.nrrd", "g.nhdr"])
            Assert.ThrowsAny<OperationCanceledException>(() => MedicalConverter.FromMLArray(mla, Path.Combine(outDir, target), pre.Token));
        Assert.Empty(Directory.GetFiles(outDir));
    }
}
