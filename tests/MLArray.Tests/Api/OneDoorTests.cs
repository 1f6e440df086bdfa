using System.Runtime.InteropServices;
using MLArray.Blosc2;
using MLArray.Metadata;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace MLArray.Tests.Api;

/// <summary>
/// The one-door rules of MLArrayFile: modes, one writer per file inside a process, no silent no-ops (read-only
/// images refuse every change; geometry that looks mutable is mutable or does not compile), C# range semantics, one
/// dtype rule at both doors, and the read-only storage view.
/// </summary>
public sealed class OneDoorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-onedoor-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private string Sample(string name = "a.mla")
    {
        float[] v = Enumerable.Range(0, 4 * 8 * 8).Select(i => (float)i).ToArray();
        using var img = MLArrayFile.FromArray(v, [4, 8, 8], new MLArrayCreateOptions { Spacing = [2, 1, 1] });
        img.Save(P(name));
        return P(name);
    }

    [Fact]
    public void A_second_writer_in_this_process_is_refused_and_the_first_ones_work_is_kept()
    {
        string path = Sample();
        using (var a = MLArrayFile.Open(path, MLArrayMode.ReadWrite))
        {
            var e = Assert.Throws<IOException>(() => MLArrayFile.Open(path, MLArrayMode.ReadWrite));
            Assert.Contains("already open for writing", e.Message, StringComparison.Ordinal);
            Assert.Contains(path, e.Message, StringComparison.Ordinal);
            // the lower door and the Python-style arguments are refused the same way
            Assert.Equal(e.Message, Assert.Throws<IOException>(() => B2ndArray.Open(path, B2ndOpenMode.ReadWrite)).Message);
            Assert.Equal(e.Message, Assert.Throws<IOException>(() => MLArrayFile.Open(path, mmapMode: "r+")).Message);
            // replacing the file under the writer would cut it off: refused too
            Assert.Equal(e.Message, Assert.Throws<IOException>(() => MLArrayFile.Create(path, [2, 2], DType.Float32)).Message);
            using (var other = MLArrayFile.FromArray(new float[4], [2, 2]))
                Assert.Equal(e.Message, Assert.Throws<IOException>(() => other.Save(path)).Message);
            // readers are welcome
            using (var r = MLArrayFile.Open(path))
                Assert.Equal(0f, r.Read<float>(0, 0, 0)[0]);
            a.Write<float>([NdIndex.At(0)], Enumerable.Repeat(7f, 64).ToArray());
        }
        using (var b = MLArrayFile.Open(path, MLArrayMode.ReadWrite)) // the first writer is closed: allowed now
            b.Write<float>([NdIndex.At(1)], Enumerable.Repeat(8f, 64).ToArray());
        using var back = MLArrayFile.Open(path);
        Assert.All(back.Read<float>(0), v => Assert.Equal(7f, v));
        Assert.All(back.Read<float>(1), v => Assert.Equal(8f, v));
    }

    [Fact]
    public void A_writer_may_save_onto_its_own_file()
    {
        string path = Sample();
        using var a = MLArrayFile.Open(path, MLArrayMode.ReadWrite);
        a.SetSpacing(0, 3);
        a.Save(path);
        a.Write<float>([NdIndex.At(2)], Enumerable.Repeat(5f, 64).ToArray());
        a.Dispose();
        using var back = MLArrayFile.Open(path);
        Assert.Equal([3.0, 1, 1], back.Spacing!);
        Assert.Equal(5f, back.Read<float>(2, 7, 7)[0]);
    }

    [Fact]
    public void Every_change_to_a_read_only_image_throws_the_same_exception_and_the_file_stays_as_it_was()
    {
        string path = Sample();
        byte[] before = File.ReadAllBytes(path);
        using (var img = MLArrayFile.Open(path))
        {
            var changes = new Action[]
            {
                () => img.Write<float>([NdIndex.At(0)], new float[64]),
                () => img.Meta = img.Meta with { IsSeg = true },
                () => img.Spacing = [1.0, 1, 1],
                () => img.SetSpacing(1, 5.3),
                () => img.Origin = [1.0, 2, 3],
                () => img.SetOrigin(0, 4),
                () => img.Direction = new double[,] { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } },
                () => img.AddBbox([[0, 1], [0, 1], [0, 1]]),
            };
            foreach (var change in changes)
            {
                var e = Assert.Throws<InvalidOperationException>(change);
                Assert.Contains("open read-only (MLArrayMode.Read)", e.Message, StringComparison.Ordinal);
                Assert.Contains("MLArrayMode.ReadWrite", e.Message, StringComparison.Ordinal);
            }
            img.Flush();
            Assert.Equal([2.0, 1, 1], img.Spacing!);
        }
        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Fact]
    public void SetSpacing_and_SetOrigin_persist_and_check_the_axis()
    {
        string path = Sample();
        using (var img = MLArrayFile.Open(path, MLArrayMode.ReadWrite))
        {
            img.SetSpacing(1, 5.3);
            img.SetOrigin(2, -4.5);
            Assert.Throws<ArgumentOutOfRangeException>(() => img.SetSpacing(3, 1));
            Assert.Throws<ArgumentException>(() => img.SetSpacing(0, -1));
        }
        using var back = MLArrayFile.Open(path);
        Assert.Equal([2.0, 5.3, 1], back.Spacing!);
        Assert.Equal([0.0, 0, -4.5], back.Origin!);
    }

    [Fact]
    public void Geometry_lists_cannot_be_changed_through_a_cast()
    {
        using var img = MLArrayFile.Open(Sample());
        Assert.False(img.Spacing is double[]);
        Assert.Throws<NotSupportedException>(() => ((IList<double>)img.Spacing!)[1] = 5.3);
    }

    [Theory]
    [InlineData("img.Spacing[1] = 5.3;")]
    [InlineData("img.Origin[0] = 1;")]
    [InlineData("img.Direction[0, 0] = 1;")]
    [InlineData("img.Affine[0, 3] = 1;")]
    [InlineData("img.AxisLabels[0] = \"x\";")]
    public void Edits_that_would_change_a_copy_do_not_compile(string statement)
    {
        string code = $"using MLArray; static class C {{ static void M(MLArrayFile img) {{ {statement} }} }}";
        var refs = AppDomain.CurrentDomain.GetAssemblies()
            .Where(a => !a.IsDynamic && a.Location.Length > 0)
            .Select(a => MetadataReference.CreateFromFile(a.Location))
            .Append(MetadataReference.CreateFromFile(typeof(MLArrayFile).Assembly.Location));
        var compilation = CSharpCompilation.Create("probe", [CSharpSyntaxTree.ParseText(code)], refs,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Disable));
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.Id).ToList();
        Assert.Contains(errors, id => id is "CS0200" or "CS0021" or "CS0131"); // read-only indexer / no setter
        // and the same program with a whole-value assignment compiles
        string ok = "using MLArray; static class C { static void M(MLArrayFile img) { img.Spacing = [1.0, 2, 3]; img.Direction = new double[,] { { 1 } }; } }";
        var good = compilation.ReplaceSyntaxTree(compilation.SyntaxTrees[0], CSharpSyntaxTree.ParseText(ok));
        Assert.Empty(good.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
    }

    [Fact]
    public void Python_style_open_arguments_map_to_modes()
    {
        string path = Sample();
        using (var r = MLArrayFile.Open(path))
            Assert.Equal(MLArrayAccess.Read, r.Access);
        using (var w = MLArrayFile.Open(path, mmapMode: "r+"))
            Assert.Equal(MLArrayAccess.ReadWrite, w.Access);
        using (var c = MLArrayFile.Open(path, "r", "c"))
            Assert.Equal(MLArrayAccess.CopyOnWrite, c.Access);
        using (var a = MLArrayFile.Open(path, "a", null))
            Assert.Equal(MLArrayAccess.ReadWrite, a.Access);
        Assert.Throws<ArgumentOutOfRangeException>(() => MLArrayFile.Open(path, (MLArrayMode)7));
    }

    [Fact]
    public void Ranges_follow_CSharp_and_slices_follow_NumPy()
    {
        using var img = MLArrayFile.Open(Sample());
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => img.Read<float>(0..5, .., ..));
        Assert.Contains("axis 0 of size 4", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => img.Read<float>(.., 6..3, ..));
        Assert.Contains("axis 1 of size 8", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => img.Read<float>(.., .., ^9..));
        Assert.Empty(img.Read<float>(^0.., .., ..)); // ^0.. is the empty range at the end, as in C#
        Assert.Equal(img.Read<float>(2..4, .., ..), img.Read<float>(^2.., .., ..));
        // NumPy clipping stays available through NdIndex.Slice
        Assert.Equal(img.Read<float>(2..4, .., ..), img.Read<float>(NdIndex.Slice(2, 100), NdIndex.All, NdIndex.All));
        Assert.Equal(img.Read<float>(0..4, .., ..), img.Read<float>(NdIndex.Slice(-100, null), NdIndex.All, NdIndex.All));
        // writes check ranges too
        using var w = MLArrayFile.Open(P("a.mla"), MLArrayMode.CopyOnWrite);
        Assert.Throws<ArgumentOutOfRangeException>(() => w.Write<float>([3..5], new float[128]));
    }

    [Fact]
    public void Typed_reads_need_the_exact_element_type_at_both_doors()
    {
        string path = Sample();
        using (var img = MLArrayFile.Open(path))
        {
            var e = Assert.Throws<ArgumentException>(() => img.Read<int>(0));
            Assert.Contains("use float", e.Message, StringComparison.Ordinal);
        }
        using var a = B2ndArray.Open(path);
        var e2 = Assert.Throws<ArgumentException>(() => a.Read<int>(0));
        Assert.Contains("dtype is <f4", e2.Message, StringComparison.Ordinal);
        Assert.Contains("use float", e2.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => a.ToArray<uint>());
        Assert.Throws<ArgumentException>(() => a.Read<uint>([NdIndex.At(0)], new uint[64]));
        Assert.Equal(64 * 4, a.ToArray<float>().Length);
        Assert.Equal(DType.Float32, DType.Of<float>());
        Assert.Equal("float", DType.Float32.ClrTypeName);
    }

    [Fact]
    public void Storage_shows_the_frame_read_only()
    {
        string path = Sample();
        using var img = MLArrayFile.Open(path);
        using var raw = B2ndArray.Open(path);
        var st = img.Storage;
        Assert.Equal(raw.NChunks, st.ChunkCount);
        Assert.Equal(raw.CBytes, st.CompressedBytes);
        Assert.Equal(raw.FrameBytes, st.FrameBytes);
        Assert.Equal(new FileInfo(path).Length, st.FrameBytes);
        Assert.Equal(4L * 8 * 8 * 4, st.UncompressedBytes);
        Assert.Contains("mlarray", st.VlMetaNames);
        Assert.Contains("b2nd", st.MetalayerNames);
        Assert.Equal(raw.GetVlMeta("mlarray"), st.GetVlMeta("mlarray"));
        Assert.Equal(img.Compression, st.Compression);
        Assert.Equal(img.ChunkShape, st.ChunkShape);
        Assert.Equal(ChunkKind.Regular, st.GetChunkInfo(0).Kind);
        Assert.Throws<ArgumentOutOfRangeException>(() => st.GetChunkInfo(st.ChunkCount));
    }
}

/// <summary>The sample files shipped in the repository are valid MLArray files.</summary>
public sealed class SampleFileTests
{
    public static TheoryData<string> Samples()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string samples = Path.Combine(dir.FullName, "samples");
            if (Directory.Exists(samples) && File.Exists(Path.Combine(dir.FullName, "MLArray.sln")))
                return new TheoryData<string>(Directory.GetFiles(samples, "*.mla"));
        }
        throw new DirectoryNotFoundException($"samples/ not found above {AppContext.BaseDirectory}");
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void Sample_metadata_is_valid_and_describes_the_array(string path)
    {
        using var a = B2ndArray.Open(path);
        var meta = MLArray.Metadata.Migration.MLArrayMetadata.Read(a)!;
        var report = MLArray.Metadata.Migration.MLArrayMetadata.Validate(meta, a.Shape);
        Assert.True(report.IsValid, string.Join("; ", report.Errors.Select(e => e.Message)));
        using var img = MLArrayFile.Open(path);
        Assert.Equal(img.Shape, img.Meta.Spatial.Shape!.ToArray());
    }
}
