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
    public void Nii_gz_to_mla_keeps_the_decoded_volume_off_the_GC_heap_and_allocates_only_chunk_buffers()
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
        // The decoded volume lives in native memory (VolumeBuffer, freed when the conversion ends); what the GC sees is
        // the per-thread chunk buffers and the metadata.
        Assert.InRange(streaming, 0, 16L << 20);
        Assert.True(inMemory > streaming + decoded + compressed, "the in-memory path holds the decoded volume and the compressed frame");
        using var f = MLArrayFile.Open(mla);
        Assert.Equal(v, f.ToArray<short>());
    }

    [Fact]
    public void Streaming_conversion_writes_the_same_bytes_as_read_then_compress()
    {
        // Sizes that leave partial chunks and blocks at every edge; 1 and 2 compression threads.
        string input = P("odd.nii.gz");
        SyntheticCt.Write(input, 97, 130, 75, 5);
        foreach (int threads in (int[])[1, 2])
        {
            var opts = new MedicalToMLArrayOptions { Compression = MLArrayCreateOptions.DefaultCompression with { Threads = threads } };
            string streamed = P($"s{threads}.mla"), saved = P($"m{threads}.mla");
            MedicalConverter.ToMLArray(input, streamed, opts);
            using (MLArrayFile f = MedicalConverter.FromNifti(Nifti.Read(input), opts))
                f.Save(saved);
            Assert.Equal(File.ReadAllBytes(saved), File.ReadAllBytes(streamed));
        }
    }

    [Fact]
    public void Volume_buffer_holds_what_is_written_and_refuses_use_after_dispose()
    {
        foreach (int n in (int[])[0, 1, 4097, (2 << 20) + 3, 5 << 20])
        {
            var b = new VolumeBuffer(n);
            Assert.Equal(n, b.Span.Length);
            for (int i = 0; i < n; i += 4093) b.Span[i] = (byte)(i * 7);
            for (int i = 0; i < n; i += 4093) Assert.Equal((byte)(i * 7), b.Span[i]);
            b.Dispose();
            b.Dispose();
            Assert.Throws<ObjectDisposedException>(() => b.Span.Length);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => new VolumeBuffer(-1));
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
