using System.Buffers.Binary;
using System.Globalization;
using MLArray.Blosc2;
using MLArray.IO;
using MLArray.Layout;
using NpyIO = MLArray.IO.Npy;

namespace MLArray.Cli.Tests.Cli;

/// <summary><c>mlarray convert IN OUT</c>: .npy ↔ .mla through <see cref="CliApp.Run"/>.</summary>
public sealed class ConvertCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CliRun.Run(args);

    private static void AssertOk((int Code, string Out, string Err) r, string what)
    {
        Assert.True(r.Code == 0, $"{what}: exit {r.Code}: {r.Err}");
        Assert.Equal("", r.Err);
    }

    private static void AssertSameArray(NpyArray expected, NpyArray actual, string what)
    {
        Assert.True(expected.DType == actual.DType, $"{what}: dtype {actual.DType} != {expected.DType}");
        Assert.True(expected.Shape.SequenceEqual(actual.Shape), $"{what}: shape ({string.Join(",", actual.Shape)}) != ({string.Join(",", expected.Shape)})");
        Assert.True(expected.Data.AsSpan().SequenceEqual(actual.Data), $"{what}: data differs");
    }

    /// <summary>npy → mla → npy with the given options; returns the .mla path (inside <paramref name="dir"/>).</summary>
    private static string RoundTrip(CliTestData.TempDir dir, string npyPath, string tag, params string[] options)
    {
        string mla = dir.File(tag + ".mla");
        string back = dir.File(tag + ".back.npy");
        AssertOk(Run(["convert", npyPath, mla, .. options]), $"{tag}: npy -> mla");
        AssertOk(Run("convert", mla, back), $"{tag}: mla -> npy");
        AssertSameArray(NpyIO.Read(npyPath), NpyIO.Read(back), tag);
        return mla;
    }

    private static readonly string[] Codecs = ["blosclz", "lz4", "lz4hc", "zlib", "zstd"];

    public static TheoryData<string, string, string> NpyFixtures()
    {
        var d = new TheoryData<string, string, string>();
        string[] dtypes = ["b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8"];
        string[] filters = ["shuffle", "bitshuffle", "delta+shuffle", "none"];
        for (int i = 0; i < dtypes.Length; i++)
            d.Add($"dtype_{dtypes[i]}_2x3.npy", Codecs[i % Codecs.Length], filters[i % filters.Length]);
        d.Add("i2_c_3x4x5.npy", "zstd", "delta+shuffle");
        d.Add("f8_fortran_4x3x2.npy", "lz4", "shuffle");
        d.Add("i4_fortran_7x5.npy", "zlib", "bitshuffle");
        d.Add("u1_fortran_2x3x4x5x6.npy", "blosclz", "none");
        d.Add("be_i4_3x4.npy", "lz4hc", "shuffle");
        d.Add("be_f8_fortran_2x3.npy", "zstd", "trunc_prec10+shuffle");
        d.Add("b1_2x3.npy", "lz4", "bitshuffle");
        d.Add("u1_300.npy", "zstd", "delta+shuffle");
        d.Add("u2_v2.npy", "blosclz", "shuffle");
        d.Add("f4_v3.npy", "zlib", "none");
        d.Add("f4_empty_0x3.npy", "lz4hc", "shuffle");
        d.Add("i8_scalar.npy", "zstd", "shuffle");
        return d;
    }

    [Theory]
    [MemberData(nameof(NpyFixtures))]
    public void Npy_fixture_round_trips_through_mla(string fixture, string codec, string filter)
    {
        using var dir = new CliTestData.TempDir();
        string npy = CliTestData.Npy(fixture);
        RoundTrip(dir, npy, "default");
        RoundTrip(dir, npy, "opts", "--codec", codec, "--clevel", "5", "--filter", filter, "--threads", "1");
        Assert.DoesNotContain(dir.Names(), n => n.EndsWith(".tmp", StringComparison.Ordinal) || n.StartsWith('.'));
    }

    /// <summary>A C-order .npy of smooth data (compressible, so every chunk is really compressed and filtered).</summary>
    private static string WriteSmoothNpy(CliTestData.TempDir dir, string name, string dtype, long[] shape)
    {
        long n = shape.Aggregate(1L, (a, b) => a * b);
        int size = dtype[^1] - '0';
        var data = new byte[n * size];
        for (long i = 0; i < n; i++)
        {
            long v = i / 3 + (i * 7919 % 5);
            var s = data.AsSpan((int)(i * size), size);
            switch (dtype)
            {
                case "<f4": BinaryPrimitives.WriteSingleLittleEndian(s, v * 0.37f + 1000.1f); break;
                case "<f8": BinaryPrimitives.WriteDoubleLittleEndian(s, v * 0.37 + 1000.1); break;
                case "<i2": BinaryPrimitives.WriteInt16LittleEndian(s, (short)(v - 3000)); break;
                case "<u4": BinaryPrimitives.WriteUInt32LittleEndian(s, (uint)(v * 13)); break;
                default: throw new ArgumentException(dtype);
            }
        }
        string path = dir.File(name);
        NpyIO.Write(path, new NpyArray(dtype, shape, data));
        return path;
    }

    public static TheoryData<string, string> CodecsAndFilters()
    {
        var d = new TheoryData<string, string>();
        foreach (string codec in Codecs)
            foreach (string filter in new[] { "shuffle", "bitshuffle", "delta+shuffle", "none", "trunc_prec10+shuffle" })
                d.Add(codec, filter);
        return d;
    }

    [Theory]
    [MemberData(nameof(CodecsAndFilters))]
    public void Every_codec_and_filter_round_trips_and_is_recorded_in_the_header(string codec, string filter)
    {
        using var dir = new CliTestData.TempDir();
        bool trunc = filter.StartsWith("trunc_prec", StringComparison.Ordinal);
        string dtype = trunc ? "<f4" : "<i2";
        string npy = WriteSmoothNpy(dir, "in.npy", dtype, [33, 47, 21]);
        int clevel = 1 + Array.IndexOf(Codecs, codec) * 2;
        string mla = dir.File("out.mla");
        AssertOk(Run("convert", npy, mla, "--codec", codec, "--clevel", clevel.ToString(CultureInfo.InvariantCulture),
            "--filter", filter, "--chunk-size", "16,20,21", "--block-size", "5,7,8"), "convert");

        var input = NpyIO.Read(npy);
        using (var a = B2ndArray.Open(mla))
        {
            Assert.Equal(codec, a.Codec.ToString().ToLowerInvariant());
            Assert.Equal(clevel, a.CLevel);
            Assert.Equal([16, 20, 21], a.ChunkShape);
            Assert.Equal([5, 7, 8], a.BlockShape);
            Assert.Equal(input.Shape, a.Shape);
            Assert.Equal(dtype, a.DType.Name);
            Blosc2Filter[] expected = filter switch
            {
                "shuffle" => [0, 0, 0, 0, 0, Blosc2Filter.Shuffle],
                "bitshuffle" => [0, 0, 0, 0, 0, Blosc2Filter.BitShuffle],
                "delta+shuffle" => [0, 0, 0, 0, Blosc2Filter.Delta, Blosc2Filter.Shuffle],
                "none" => [0, 0, 0, 0, 0, 0],
                _ => [0, 0, 0, 0, Blosc2Filter.TruncPrec, Blosc2Filter.Shuffle],
            };
            Assert.Equal(expected, a.Filters);
            Assert.Equal(trunc ? new byte[] { 0, 0, 0, 0, 10, 0 } : new byte[6], a.FiltersMeta);
            byte[] got = a.ReadBytes();
            byte[] want = trunc ? Truncate32(input.Data, 10) : input.Data;
            Assert.True(want.AsSpan().SequenceEqual(got), "decoded data differs");
        }
        if (!trunc)
        {
            string back = dir.File("back.npy");
            AssertOk(Run("convert", mla, back), "mla -> npy");
            AssertSameArray(input, NpyIO.Read(back), "round trip");
        }
        Assert.Equal(trunc ? ["in.npy", "out.mla"] : ["back.npy", "in.npy", "out.mla"], dir.Names()); // no temporary files left
    }

    /// <summary>TRUNC_PREC on float32 keeping <paramref name="bits"/> mantissa bits (spec §7.4): 23 - bits low bits zeroed.</summary>
    private static byte[] Truncate32(byte[] data, int bits)
    {
        var r = (byte[])data.Clone();
        uint mask = ~((1u << (23 - bits)) - 1);
        for (int i = 0; i < r.Length; i += 4)
            BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(i), BinaryPrimitives.ReadUInt32LittleEndian(r.AsSpan(i)) & mask);
        return r;
    }

    [Fact]
    public void Chunk_and_block_sizes_given_or_omitted()
    {
        using var dir = new CliTestData.TempDir();
        string npy = WriteSmoothNpy(dir, "in.npy", "<f8", [50, 40]);
        string auto = RoundTrip(dir, npy, "auto", "--codec", "zstd");
        using (var a = B2ndArray.Open(auto))
        {
            Assert.Equal(2, a.ChunkShape.Length);
            Assert.All(a.ChunkShape, c => Assert.True(c > 0));
            Assert.All(a.BlockShape.Zip(a.ChunkShape), p => Assert.InRange(p.First, 1, p.Second));
        }
        string given = RoundTrip(dir, npy, "given", "--codec", "zstd", "--chunk-size", "13,17", "--block-size", "4,5");
        using (var a = B2ndArray.Open(given))
        {
            Assert.Equal([13, 17], a.ChunkShape);
            Assert.Equal([4, 5], a.BlockShape);
            Assert.Equal(4 * 3, a.NChunks);
        }
        string whole = RoundTrip(dir, npy, "whole", "--chunk-size", "50,40", "--block-size", "50,40");
        using (var a = B2ndArray.Open(whole))
            Assert.Equal(1, a.NChunks);
    }

    [Fact]
    public void Threads_do_not_change_the_mla_bytes()
    {
        using var dir = new CliTestData.TempDir();
        string npy = WriteSmoothNpy(dir, "in.npy", "<u4", [64, 50, 9]);
        foreach (string codec in Codecs)
        {
            string one = dir.File($"{codec}-1.mla"), two = dir.File($"{codec}-2.mla"), all = dir.File($"{codec}-0.mla");
            string[] common = ["--codec", codec, "--chunk-size", "20,16,9", "--block-size", "7,5,3"];
            AssertOk(Run(["convert", npy, one, "--threads", "1", .. common]), "threads 1");
            AssertOk(Run(["convert", npy, two, "--threads", "2", .. common]), "threads 2");
            AssertOk(Run(["convert", npy, all, .. common]), "threads default");
            byte[] b1 = File.ReadAllBytes(one);
            Assert.Equal(b1, File.ReadAllBytes(two));
            Assert.Equal(b1, File.ReadAllBytes(all));
        }
    }

    [Fact]
    public void Fortran_order_input_becomes_the_right_C_order_data()
    {
        using var dir = new CliTestData.TempDir();
        // README: f8_fortran_4x3x2.npy holds k * 0.5 - 3 at C-order index k; i4_fortran_7x5.npy holds k * 3 - 50;
        // u1_fortran_2x3x4x5x6.npy holds k % 251.
        string f8 = dir.File("f8.mla");
        AssertOk(Run("convert", CliTestData.Npy("f8_fortran_4x3x2.npy"), f8, "--codec", "lz4", "--chunk-size", "3,2,2", "--block-size", "2,1,2"), "f8");
        using (var a = B2ndArray.Open(f8))
        {
            Assert.Equal([4L, 3, 2], a.Shape);
            Assert.Equal(Enumerable.Range(0, 24).Select(k => k * 0.5 - 3).ToArray(), a.ToArray<double>());
        }
        string i4 = dir.File("i4.mla");
        AssertOk(Run("convert", CliTestData.Npy("i4_fortran_7x5.npy"), i4, "--filter", "delta+shuffle"), "i4");
        using (var a = B2ndArray.Open(i4))
        {
            Assert.Equal([7L, 5], a.Shape);
            Assert.Equal(Enumerable.Range(0, 35).Select(k => k * 3 - 50).ToArray(), a.ToArray<int>());
        }
        string u1 = dir.File("u1.mla");
        AssertOk(Run("convert", CliTestData.Npy("u1_fortran_2x3x4x5x6.npy"), u1, "--codec", "zstd", "--chunk-size", "1,2,3,4,5", "--block-size", "1,1,2,3,4"), "u1");
        using (var a = B2ndArray.Open(u1))
        {
            Assert.Equal([2L, 3, 4, 5, 6], a.Shape);
            Assert.Equal(Enumerable.Range(0, 720).Select(k => (byte)(k % 251)).ToArray(), a.ToArray<byte>());
        }
        string be = dir.File("be.mla");
        AssertOk(Run("convert", CliTestData.Npy("be_f8_fortran_2x3.npy"), be), "big-endian fortran");
        using (var a = B2ndArray.Open(be))
        {
            Assert.Equal("<f8", a.DType.Name);
            Assert.Equal(Enumerable.Range(0, 6).Select(k => k + 0.25).ToArray(), a.ToArray<double>());
        }
    }

    [Fact]
    public void Mla_corpus_file_converts_to_the_same_npy_data()
    {
        using var dir = new CliTestData.TempDir();
        foreach (string file in new[] { "f4_3d_zstd_delta-shuffle.mla", "i8_1d_blosclz_delta.mla", "f4_2d_lz4_shuffle_halfzero.mla", "empty_1d_f8.mla" })
        {
            string npy = dir.File(file + ".npy");
            AssertOk(Run("convert", CliTestData.Blosc2(file), npy), file);
            var back = NpyIO.Read(npy);
            using var a = B2ndArray.Open(CliTestData.Blosc2(file));
            Assert.Equal(a.Shape, back.Shape);
            Assert.Equal(a.DType.Name, back.DType);
            Assert.Equal(a.ReadBytes(), back.Data);
        }
    }

    /// <summary>The NumPy files in float16, complex64, strings and structured dtypes go .npy → .mla/.b2nd → .npy unchanged.</summary>
    [Theory]
    [InlineData("c8_unsupported.npy", "<c8")]
    [InlineData("S2_unsupported.npy", "|S2")]
    [InlineData("U3_unsupported.npy", "<U3")]
    [InlineData("f2_unsupported.npy", "<f2")]
    [InlineData("structured_unsupported.npy", "[('a', '<i4'), ('b', '<f8')]")]
    public void New_dtype_npy_files_round_trip(string fixture, string dtype)
    {
        using var dir = new CliTestData.TempDir();
        var original = NpyIO.Read(CliTestData.Npy(fixture));
        Assert.Equal(dtype, original.DType);
        foreach (string ext in new[] { ".mla", ".b2nd" })
        {
            string mid = dir.File("x" + ext), back = dir.File("x" + ext + ".npy");
            AssertOk(Run("convert", CliTestData.Npy(fixture), mid), fixture);
            using (var a = B2ndArray.Open(mid))
                Assert.Equal(dtype, a.DType.Name);
            AssertOk(Run("convert", mid, back), fixture);
            AssertSameArray(original, NpyIO.Read(back), fixture + ext);
        }
    }

    [Theory]
    [InlineData("object_unsupported.npy", "|O")]
    [InlineData("M8_unsupported.npy", "<M8[D]")]
    public void Unsupported_dtype_fails_with_a_message_naming_the_dtype(string fixture, string dtype)
    {
        using var dir = new CliTestData.TempDir();
        string output = dir.File("out.mla");
        var (code, _, err) = Run("convert", CliTestData.Npy(fixture), output);
        // Npy.Read raises MLArrayNotSupportedException, which the CLI reports as an unreadable input (exit 2).
        Assert.True(code is 1 or 2, $"exit {code}");
        Assert.Equal(2, code);
        string[] lines = CliRun.Lines(err);
        Assert.Single(lines);
        Assert.Contains(dtype, lines[0], StringComparison.Ordinal);
        Assert.Contains("not supported", lines[0], StringComparison.Ordinal);
        Assert.Empty(dir.Names());
    }

    [Fact]
    public void Bad_options_exit_1_and_write_nothing()
    {
        using var dir = new CliTestData.TempDir();
        string npy = CliTestData.Npy("i2_c_3x4x5.npy");
        string output = dir.File("out.mla");
        var cases = new (string[] Args, string Mentions)[]
        {
            (["--codec", "snappy"], "snappy"),
            (["--codec", "lz5"], "lz5"),
            (["--clevel", "10"], "clevel"),
            (["--clevel", "-1"], "clevel"),
            (["--filter", "gzip"], "gzip"),
            (["--filter", "trunc_prec10+shuffle"], "trunc_prec"),   // integers cannot be truncated
            (["--split", "sometimes"], "sometimes"),
            (["--chunk-size", "2,2", "--block-size", "1,1"], "--chunk-size"),
            (["--chunk-size", "2,2,2,2", "--block-size", "1,1,1,1"], "--chunk-size"),
            (["--chunk-size", "2,2,2", "--block-size", "1,1"], "--block-size"),
            (["--chunk-size", "2,2,2"], "--block-size"),
            (["--chunk-size", "2,x,2", "--block-size", "1,1,1"], "--chunk-size"),
            (["--chunk-size", "0,2,2", "--block-size", "1,1,1"], "--chunk-size"),
            (["--threads", "-3"], "hreads"),
        };
        foreach (var (args, mentions) in cases)
        {
            var (code, _, err) = Run(["convert", npy, output, .. args]);
            Assert.True(code == 1, $"{string.Join(' ', args)}: exit {code}: {err}");
            string[] lines = CliRun.Lines(err);
            Assert.True(lines.Length == 1, $"{string.Join(' ', args)}: {err}");
            Assert.Contains(mentions, lines[0], StringComparison.Ordinal);
            Assert.Empty(dir.Names());
        }
        // usage errors of the parser itself
        foreach (var args in new[] { new[] { "convert" }, ["convert", npy], ["convert", npy, output, "--bogus"], ["convert", npy, dir.File("out.txt")], ["convert", npy, dir.File("out.npy")] })
        {
            var (code, _, _) = Run(args);
            Assert.True(code == 1, $"{string.Join(' ', args)}: exit {code}");
        }
        Assert.Empty(dir.Names());
    }

    [Fact]
    public void Output_is_written_atomically()
    {
        using var dir = new CliTestData.TempDir();
        string npy = WriteSmoothNpy(dir, "in.npy", "<f4", [20, 30]);
        string output = dir.File("out.mla");

        // success: only the input and the output in the folder
        AssertOk(Run("convert", npy, output, "--chunk-size", "8,8", "--block-size", "4,4"), "first");
        Assert.Equal(["in.npy", "out.mla"], dir.Names());
        byte[] first = File.ReadAllBytes(output);
        // an existing output is replaced only with --overwrite
        var (refused, _, refusal) = Run("convert", npy, output, "--codec", "zstd");
        Assert.Equal(1, refused);
        Assert.Equal($"mlarray: {output} already exists; pass --overwrite to replace it.", CliRun.Lines(refusal).Single());
        Assert.Equal(first, File.ReadAllBytes(output));
        AssertOk(Run("convert", npy, output, "--codec", "zstd", "--overwrite"), "overwrite");
        Assert.Equal(["in.npy", "out.mla"], dir.Names());
        byte[] before = File.ReadAllBytes(output);
        Assert.NotEqual(first, before);

        // failures: the existing output is untouched and no temporary file is left behind
        string truncated = dir.File("truncated.npy");
        File.WriteAllBytes(truncated, File.ReadAllBytes(npy)[..200]);
        var failures = new (string[] Args, int Code)[]
        {
            (["convert", npy, output, "--overwrite", "--chunk-size", "4,4", "--block-size", "5,5"], 1),   // fails inside the writer
            (["convert", npy, output, "--overwrite", "--codec", "nope"], 1),
            (["convert", truncated, output, "--overwrite"], 2),
            (["convert", CliTestData.Npy("object_unsupported.npy"), output, "--overwrite"], 2),
            (["convert", dir.File("missing.npy"), output, "--overwrite"], 2),
        };
        foreach (var (args, expectedCode) in failures)
        {
            var (code, _, err) = Run(args);
            Assert.True(code == expectedCode, $"{string.Join(' ', args)}: exit {code}: {err}");
            Assert.Single(CliRun.Lines(err));
            Assert.Equal(before, File.ReadAllBytes(output));
            Assert.Equal(["in.npy", "out.mla", "truncated.npy"], dir.Names());
        }

        // the same for .mla -> .npy
        string npyOut = dir.File("back.npy");
        AssertOk(Run("convert", output, npyOut), "mla -> npy");
        byte[] npyBefore = File.ReadAllBytes(npyOut);
        string corrupt = dir.File("corrupt.mla");
        File.WriteAllBytes(corrupt, before[..(before.Length - 10)]);
        var (c2, _, e2) = Run("convert", corrupt, npyOut, "--overwrite");
        Assert.Equal(2, c2);
        Assert.Contains("corrupt.mla", e2, StringComparison.Ordinal);
        Assert.Equal(npyBefore, File.ReadAllBytes(npyOut));
        Assert.Equal(["back.npy", "corrupt.mla", "in.npy", "out.mla", "truncated.npy"], dir.Names());
    }

    [Fact]
    public void Success_message_names_the_output()
    {
        using var dir = new CliTestData.TempDir();
        string output = dir.File("x.mla");
        var (code, stdout, err) = Run("convert", CliTestData.Npy("i2_c_3x4x5.npy"), output);
        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.Contains(output, stdout, StringComparison.Ordinal);
        Assert.Contains("<i2", stdout, StringComparison.Ordinal);
    }
    [Fact]
    public void Mla_output_carries_mlarray_metadata_and_the_default_patch_layout()
    {
        using var dir = new CliTestData.TempDir();
        string npy = WriteSmoothNpy(dir, "in.npy", "<f4", [33, 47, 21]);
        string mla = dir.File("out.mla");
        AssertOk(Run("convert", npy, mla), "default");
        using var img = MLArrayFile.Open(mla);
        using (var raw = B2ndArray.Open(mla)) Assert.NotNull(MLArray.Metadata.Migration.MLArrayMetadata.Read(raw));
        var want = LayoutResolver.Resolve(LayoutOptions.Default, [33, 47, 21], 4);
        Assert.Equal([192L, 192, 192], img.Meta.Blosc2.PatchSize!);
        Assert.Equal(want.ChunkSize, img.ChunkShape);
        Assert.Equal(want.BlockSize, img.BlockShape);
        Assert.True(img.HasArray);
        Assert.Equal([33L, 47, 21], img.Meta.Spatial.Shape!);
        Assert.Equal(NpyIO.Read(npy).Data, img.Read<float>().SelectMany(BitConverter.GetBytes).ToArray());
    }

    [Fact]
    public void Patch_size_one_for_all_or_per_axis_and_axis_labels()
    {
        using var dir = new CliTestData.TempDir();
        string npy = WriteSmoothNpy(dir, "in.npy", "<f8", [40, 36, 30]);
        string one = dir.File("one.mla"), per = dir.File("per.mla");
        AssertOk(Run("convert", npy, one, "--patch-size", "16"), "one");
        using (var img = MLArrayFile.Open(one))
        {
            Assert.Equal([16L, 16, 16], img.Meta.Blosc2.PatchSize!);
            Assert.Equal(LayoutResolver.Resolve(LayoutOptions.Patch(16), [40, 36, 30], 8).ChunkSize, img.ChunkShape);
        }
        AssertOk(Run("convert", npy, per, "--patch-size", "8,16,24"), "per axis");
        using (var img = MLArrayFile.Open(per))
            Assert.Equal([8L, 16, 24], img.Meta.Blosc2.PatchSize!);

        string npy4 = WriteSmoothNpy(dir, "in4.npy", "<f4", [20, 24, 24, 3]);
        string lab = dir.File("lab.mla");
        AssertOk(Run("convert", npy4, lab, "--patch-size", "16", "--axis-labels", "spatial_z,spatial_y,spatial_x,channel"), "labels");
        using (var img = MLArrayFile.Open(lab))
        {
            Assert.Equal(["spatial_z", "spatial_y", "spatial_x", "channel"], img.AxisLabels!);
            Assert.Equal([16L, 16, 16], img.Meta.Blosc2.PatchSize!);
            Assert.Equal(3, img.SpatialNDim);
            Assert.Equal(LayoutResolver.Resolve(LayoutOptions.Patch(16), [20, 24, 24, 3], 4, [true, true, true, false]).ChunkSize, img.ChunkShape);
        }
    }

    [Fact]
    public void Patch_and_label_errors_exit_1_and_write_nothing()
    {
        using var dir = new CliTestData.TempDir();
        string npy = CliTestData.Npy("i2_c_3x4x5.npy");
        string output = dir.File("out.mla");
        var cases = new (string[] Args, string Mentions)[]
        {
            (["--patch-size", "8", "--chunk-size", "2,2,2", "--block-size", "1,1,1"], "--patch-size"),
            (["--patch-size", "0"], "--patch-size"),
            (["--patch-size", "8,x"], "--patch-size"),
            (["--patch-size", "8,8"], "atch"),
            (["--axis-labels", "spatial,spatial"], "--axis-labels"),
            (["--axis-labels", "spatial,,spatial"], "--axis-labels"),
        };
        foreach (var (args, mentions) in cases)
        {
            var (code, _, err) = Run(["convert", npy, output, .. args]);
            Assert.True(code == 1, $"{string.Join(' ', args)}: exit {code}: {err}");
            Assert.Contains(mentions, CliRun.Lines(err).Single(), StringComparison.Ordinal);
            Assert.Empty(dir.Names());
        }
    }
}
