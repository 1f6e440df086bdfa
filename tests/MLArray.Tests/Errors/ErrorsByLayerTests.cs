using MLArray.Blosc2;
using MLArray.Conversion;
using MLArray.IO;
using MLArray.Metadata;
using MLArray.Metadata.Migration;
using MLArray.TestSupport;
using NpyIO = MLArray.IO.Npy;

namespace MLArray.Tests.Errors;

/// <summary>
/// docs/errors.md, library side: for each condition, the same exception type at every door that meets it
/// (<see cref="B2ndArray"/>, <see cref="MLArrayFile"/>, <see cref="MedicalConverter"/>, <see cref="NpyIO"/>, the
/// metadata API). The command line's exit codes for the same files: MLArray.Cli.Tests (ExitCodeTests).
/// </summary>
public sealed class ErrorsByLayerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-errors-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private static string NpyFixture(string file)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "data", "npy", file);
            if (File.Exists(candidate)) return candidate;
        }

        throw new FileNotFoundException($"tests/data/npy/{file} not found above {AppContext.BaseDirectory}");
    }

    /// <summary>Decodes every element with the element type the file has (MLArrayFile reads need the exact type).</summary>
    private static void DecodeAll(MLArrayFile f)
    {
        DType t = f.DType;
        if (t == DType.Float32) f.ToArray<float>();
        else if (t == DType.Float64) f.ToArray<double>();
        else if (t == DType.Int8) f.ToArray<sbyte>();
        else if (t == DType.UInt8) f.ToArray<byte>();
        else if (t == DType.Int16) f.ToArray<short>();
        else if (t == DType.UInt16) f.ToArray<ushort>();
        else if (t == DType.Int32) f.ToArray<int>();
        else if (t == DType.UInt32) f.ToArray<uint>();
        else if (t == DType.Int64) f.ToArray<long>();
        else if (t == DType.UInt64) f.ToArray<ulong>();
        else f.ToArray<bool>();
    }

    /// <summary>Opens and decodes the whole array through each .mla door, and exports it through the converter.</summary>
    private Action[] MlaDoors(string path) =>
    [
        () =>
        {
            using var a = B2ndArray.Open(path);
            a.ReadBytes();
        },
        () =>
        {
            using var f = MLArrayFile.Open(path);
            DecodeAll(f);
        },
        () => MedicalConverter.FromMLArray(path, P(Path.GetFileNameWithoutExtension(path) + "-out.nii.gz")),
    ];

    [Fact]
    public void Bad_argument_is_an_ArgumentException()
    {
        string mla = ErrorFiles.WithMeta(_dir, "ok.mla", ErrorFiles.GoodMeta);
        Assert.Contains("snappy", Assert.Throws<ArgumentException>(() => CompressionNames.ParseCodec("snappy")).Message, StringComparison.Ordinal);
        Assert.Contains("gzip", Assert.Throws<ArgumentException>(() => CompressionNames.ParseFilters("gzip", DType.Int16)).Message, StringComparison.Ordinal);
        Assert.ThrowsAny<ArgumentException>(() => B2ndArray.Open(mla, (B2ndOpenMode)99));
        Assert.ThrowsAny<ArgumentException>(() => MLArrayFile.Open(P("scan.txt")));
        Assert.ThrowsAny<ArgumentException>(() => MedicalConverter.ToMLArray(P("scan.txt"), P("scan.mla")));
        Assert.ThrowsAny<ArgumentException>(() => new NpyArray("<f4", [2, 2], new byte[3]));
        Assert.ThrowsAny<ArgumentException>(() => MetadataMigration.MigrateFile(mla, null));
    }

    [Fact]
    public void Missing_file_is_a_FileNotFoundException_at_every_door()
    {
        Assert.Throws<FileNotFoundException>(() => B2ndArray.Open(P("missing.mla")));
        Assert.Throws<FileNotFoundException>(() => MLArrayFile.Open(P("missing.mla")));
        Assert.Throws<FileNotFoundException>(() => MedicalConverter.FromMLArray(P("missing.mla"), P("out.nii.gz")));
        Assert.Throws<FileNotFoundException>(() => MedicalConverter.ToMLArray(P("missing.nii.gz"), P("out.mla")));
        Assert.Throws<FileNotFoundException>(() => MedicalConverter.ToMLArray(P("missing.nrrd"), P("out.mla")));
        Assert.Throws<FileNotFoundException>(() => NpyIO.Read(P("missing.npy")));
        Assert.Throws<FileNotFoundException>(() => MetadataMigration.MigrateFile(P("missing.mla"), null, dryRun: true));
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void A_folder_given_as_a_file_is_an_IOException_that_says_so_at_every_door()
    {
        string folder = P("scans.mla");
        Directory.CreateDirectory(folder);
        foreach (var open in (Action[])[
            () => B2ndArray.Open(folder).Dispose(),
            () => B2ndArray.Open(folder, B2ndOpenMode.ReadWrite).Dispose(),
            () => MLArrayFile.Open(folder).Dispose(),
            () => MLArrayFile.Open(folder, MLArrayMode.ReadWrite).Dispose(),
            () => MLArrayFile.Open(folder, mmapMode: "r+").Dispose(),
            () => MLArrayFile.Load(folder).Dispose(),
        ])
        {
            var e = Assert.Throws<IOException>(open); // not "access denied" (UnauthorizedAccessException), not "does not exist"
            Assert.Equal($"'{folder}' is a folder, not an .mla/.b2nd file; give the path of a file.", e.Message);
        }
    }

    [Theory]
    [InlineData("notes.mla", "these are notes, not an array\n")]
    [InlineData("three.mla", "hi\n")]
    [InlineData("empty.mla", "")]
    public void A_text_file_named_mla_is_not_an_MLArray_file_at_every_door(string name, string content)
    {
        string p = P(name);
        File.WriteAllText(p, content);
        foreach (var door in MlaDoors(p))
        {
            var e = Assert.Throws<MLArrayFormatException>(door);
            Assert.Contains("is not an MLArray/Blosc2 file", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("truncated", e.Message, StringComparison.Ordinal);
        }

        // the other formats say the same in their words, with the same type
        Assert.Throws<MLArrayFormatException>(() => NpyIO.Read(ErrorFiles.Text(_dir, "notes.npy")));
        Assert.Contains("not a NIfTI file", Assert.Throws<MLArrayFormatException>(() => MedicalConverter.ToMLArray(ErrorFiles.Text(_dir, "notes.nii"), P("n.mla"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_frame_cut_inside_its_header_is_truncated_not_a_foreign_file()
    {
        string good = ErrorFiles.WithMeta(_dir, "good.mla", ErrorFiles.GoodMeta);
        string cut = P("cut.mla");
        File.WriteAllBytes(cut, File.ReadAllBytes(good)[..40]);
        foreach (var door in MlaDoors(cut))
        {
            var e = Assert.Throws<MLArrayFormatException>(door);
            Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("not an MLArray/Blosc2 file", e.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("corrupt_truncated_frame.mla")]
    [InlineData("corrupt_bad_chunk_offset.mla")]
    [InlineData("corrupt_wrong_trailer_len.mla")]
    public void Corrupt_data_is_an_MLArrayFormatException_at_every_door(string file)
    {
        string p = ErrorFiles.Corpus(_dir, file);
        foreach (var door in MlaDoors(p))
            Assert.Throws<MLArrayFormatException>(door);
        string npy = P("cut.npy");
        File.WriteAllBytes(npy, File.ReadAllBytes(NpyFixture("i2_c_3x4x5.npy"))[..100]);
        Assert.Throws<MLArrayFormatException>(() => NpyIO.Read(npy));
    }

    [Fact]
    public void Unsupported_feature_is_an_MLArrayNotSupportedException_at_every_door()
    {
        string p = ErrorFiles.FutureVersion(_dir);
        foreach (var door in MlaDoors(p))
            Assert.Contains("format version 7", Assert.Throws<MLArrayNotSupportedException>(door).Message, StringComparison.Ordinal);
        Assert.Contains("|O", Assert.Throws<MLArrayNotSupportedException>(() => NpyIO.Read(NpyFixture("object_unsupported.npy"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_metadata_is_an_MLArrayValidationException_not_an_IOException()
    {
        string p = ErrorFiles.InvalidMeta(_dir);
        var fromFile = Assert.Throws<MLArrayValidationException>(() => MLArrayFile.Open(p));
        Assert.IsNotAssignableFrom<IOException>(fromFile);
        var issue = Assert.Single(fromFile.Issues.Errors);
        Assert.Equal(("/spatial/spacing", "x-length"), (issue.Path, issue.Code));
        Assert.Contains("meta.spatial.spacing must have length 3", fromFile.Message, StringComparison.Ordinal);
        Assert.Throws<MLArrayValidationException>(() => MedicalConverter.FromMLArray(p, P("out.nii.gz")));
        Assert.Throws<MLArrayValidationException>(() => MetadataMigration.MigrateFile(p, P("migrated.mla")));
        using (var a = B2ndArray.Open(p))
        {
            // the engine does not interpret metadata: the array opens and decodes
            Assert.Equal(64 * 4, a.ReadBytes().Length);
            var read = MLArrayMetadata.Read(a)!;
            Assert.Throws<MLArrayValidationException>(() => read.Meta);
            var report = Assert.Throws<MLArrayValidationException>(() => MLArrayMetadata.EncodeValidated(read.Current, a.Shape)).Issues;
            Assert.Contains(report.Errors, e => e.Path == "/spatial/spacing");
        }

        Assert.Equal(["invalid-meta.mla"], Directory.GetFiles(_dir).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("hostile_reduce_os_system.mla")]
    [InlineData("hostile_gzip_bomb.mla")]
    public void Refused_metadata_is_an_MLArrayMetadataException_at_every_door(string file)
    {
        string p = ErrorFiles.Corpus(_dir, file);
        Assert.Throws<MLArrayMetadataException>(() => MLArrayFile.Open(p));
        Assert.Throws<MLArrayMetadataException>(() => MedicalConverter.FromMLArray(p, P("out.nii.gz")));
        Assert.Throws<MLArrayMetadataException>(() => MetadataMigration.MigrateFile(p, null, dryRun: true));
        using var a = B2ndArray.Open(p);
        Assert.Throws<MLArrayMetadataException>(() => MLArrayMetadata.Read(a));
    }

    [Fact]
    public void Writing_through_a_read_only_handle_is_an_InvalidOperationException_at_every_door()
    {
        string p = ErrorFiles.WithMeta(_dir, "ok.mla", ErrorFiles.GoodMeta);
        byte[] before = File.ReadAllBytes(p);
        using (var a = B2ndArray.Open(p))
            Assert.Contains("read-only", Assert.Throws<InvalidOperationException>(() => a.Write(new byte[64 * 4])).Message, StringComparison.Ordinal);
        using (var f = MLArrayFile.Open(p))
        {
            Assert.Throws<InvalidOperationException>(() => f.Write<float>(new float[64]));
            Assert.Throws<InvalidOperationException>(() => f.SetSpacing(0, 5.3)); // metadata changes too
        }

        Assert.Equal(before, File.ReadAllBytes(p));
    }

    [Fact]
    public void Cancellation_is_an_OperationCanceledException_at_every_door()
    {
        string mla = ErrorFiles.WithMeta(_dir, "ok.mla", ErrorFiles.GoodMeta);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => MedicalConverter.FromMLArray(mla, P("out.nii.gz"), cts.Token));
        Assert.ThrowsAny<OperationCanceledException>(() => MedicalConverter.ToMLArray(MedicalTestData.PathOf("niivue/minimal.nii.gz"), P("out.mla"), null, cts.Token));
        Assert.Equal(["ok.mla"], Directory.GetFiles(_dir).Select(Path.GetFileName));
    }

    [Fact]
    public void A_second_writer_in_this_process_is_refused_with_an_IOException()
    {
        string p = ErrorFiles.WithMeta(_dir, "ok.mla", ErrorFiles.GoodMeta);
        using var first = MLArrayFile.Open(p, MLArrayMode.ReadWrite);
        Assert.Contains("is already open for writing", Assert.Throws<IOException>(() => MLArrayFile.Open(p, MLArrayMode.ReadWrite)).Message, StringComparison.Ordinal);
        Assert.Contains("is already open for writing", Assert.Throws<IOException>(() => B2ndArray.Open(p, B2ndOpenMode.ReadWrite)).Message, StringComparison.Ordinal);
    }

    [PythonFact("fcntl")]
    public void A_second_writer_in_another_process_is_refused_with_an_IOException()
    {
        // The other process takes the writer lock the way a writing B2ndArray does (a POSIX record lock on byte 2^62).
        string p = ErrorFiles.WithMeta(_dir, "ok.mla", ErrorFiles.GoodMeta);
        string locked = P("locked");
        var psi = new System.Diagnostics.ProcessStartInfo(TestPython.Find("fcntl")!) { RedirectStandardInput = true, UseShellExecute = false };
        foreach (string a in (string[])["-c", "import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDWR)\nfcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 1 << 62, os.SEEK_SET)\nopen(sys.argv[2], 'w').close()\nsys.stdin.read()", p, locked])
            psi.ArgumentList.Add(a);
        using var other = System.Diagnostics.Process.Start(psi)!;
        try
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            while (!File.Exists(locked))
            {
                Assert.False(other.HasExited, "the locking process ended early");
                Assert.True(sw.Elapsed < TimeSpan.FromMinutes(1), "the locking process did not take the lock");
                Thread.Sleep(5);
            }

            Assert.Contains("is already open for writing", Assert.Throws<IOException>(() => B2ndArray.Open(p, B2ndOpenMode.ReadWrite)).Message, StringComparison.Ordinal);
            Assert.Contains("is already open for writing", Assert.Throws<IOException>(() => MLArrayFile.Open(p, MLArrayMode.ReadWrite)).Message, StringComparison.Ordinal);
            using var reader = MLArrayFile.Open(p); // readers are not refused
            Assert.Equal(63f, reader.ToArray<float>()[^1]);
        }
        finally
        {
            other.StandardInput.Close();
            other.WaitForExit();
        }
    }
}
