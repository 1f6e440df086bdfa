using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;

namespace MLArray.Cli.Tests.Cli;

/// <summary>Locates tests/data (walking up from the test binaries) and reads the Blosc2 corpus manifest.</summary>
internal static class CliTestData
{
    private static readonly Lazy<string> Root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "data");
            if (File.Exists(Path.Combine(candidate, "blosc2", "MANIFEST.tsv")) && Directory.Exists(Path.Combine(candidate, "npy")))
                return candidate;
        }
        throw new DirectoryNotFoundException($"tests/data not found above {AppContext.BaseDirectory}");
    });

    public static string Blosc2(string file) => Path.Combine(Root.Value, "blosc2", file);

    public static string Npy(string file) => Path.Combine(Root.Value, "npy", file);

    /// <summary>The manifest row of <paramref name="file"/>: columns by name, plus the key=value pairs of its 'read' column.</summary>
    public static (IReadOnlyDictionary<string, string> Columns, IReadOnlyDictionary<string, string> Read) Manifest(string file)
    {
        string[]? header = null;
        foreach (string line in File.ReadLines(Blosc2("MANIFEST.tsv")))
        {
            if (line.StartsWith('#') || line.Length == 0)
                continue;
            string[] f = line.Split('\t');
            if (header is null)
            {
                header = f;
                continue;
            }
            if (f[0] != file)
                continue;
            var cols = header.Zip(f).ToDictionary(p => p.First, p => p.Second);
            var read = new Dictionary<string, string>();
            foreach (string part in cols["read"].Split("; "))
                foreach (string kv in part.Split(' '))
                {
                    int eq = kv.IndexOf('=', StringComparison.Ordinal);
                    if (eq > 0)
                        read.TryAdd(kv[..eq], kv[(eq + 1)..]);
                }
            // vlmeta.NAME=msgpack_bin len=.. msgpack_len=..: keep the whole entry text
            foreach (string part in cols["read"].Split("; ").Where(p => p.StartsWith("vlmeta.", StringComparison.Ordinal)))
                read[part[..part.IndexOf('=', StringComparison.Ordinal)]] = part[(part.IndexOf('=', StringComparison.Ordinal) + 1)..];
            return (cols, read);
        }
        throw new KeyNotFoundException($"{file} is not in MANIFEST.tsv");
    }

    /// <summary>A fresh temporary folder, deleted on dispose.</summary>
    public sealed class TempDir : IDisposable
    {
        public TempDir() => Path = Directory.CreateTempSubdirectory("mlarray-cli-").FullName;

        public string Path { get; }

        public string File(string name) => System.IO.Path.Combine(Path, name);

        public string[] Names() => Directory.GetFiles(Path).Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }
}

/// <summary>Runs <see cref="CliApp.Run"/> with captured output.</summary>
internal static class CliRun
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var stdout = new StringWriter(CultureInfo.InvariantCulture);
        using var stderr = new StringWriter(CultureInfo.InvariantCulture);
        int code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Non-empty lines of a captured stream.</summary>
    public static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

/// <summary><c>mlarray header FILE [--json]</c> against the C-Blosc2 corpus and its manifest.</summary>
public sealed class HeaderCommandTests
{
    private static readonly string[] ContractKeys =
        ["shape", "dtype", "chunk_size", "block_size", "codec", "clevel", "filters", "nbytes", "cbytes", "vlmeta"];

    public static TheoryData<string> CorpusFiles() => new(
        "f4_3d_lz4_shuffle.mla",
        "i2_2d_zlib_delta-shuffle.mla",
        "u1_1d_blosclz_bitshuffle.mla",
        "f8_4d_zstd_trunc_prec-shuffle.mla",
        "f4_3d_zstd9_shuffle.mla",
        "f4_3d_lz4hc_shuffle_alwayssplit.mla",
        "dtype_b1_2d_zstd_bitshuffle.mla",
        "dtype_u8_2d_lz4_shuffle.mla",
        "i8_1d_blosclz_delta.mla",
        "f4_2d_special_zeros.mla",
        "empty_1d_f8.mla",
        "mlarray_small_f4_3d.mla",
        "mlarray_metadata_only.mla");

    private static readonly string[] FilterNames = ["none", "shuffle", "bitshuffle", "delta", "trunc_prec"];

    private static long[] Longs(string csv) => csv.Split(',').Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray();

    private static long[] JsonLongs(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt64()).ToArray();

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public void Json_output_has_the_contract_keys_with_the_manifest_values(string file)
    {
        var (cols, read) = CliTestData.Manifest(file);
        string path = CliTestData.Blosc2(file);
        var (code, output, err) = CliRun.Run("header", path, "--json");
        Assert.True(code == 0, err);
        Assert.Equal("", err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        foreach (string key in ContractKeys)
            Assert.True(root.TryGetProperty(key, out _), $"missing key '{key}' in {output}");

        Assert.Equal(Longs(read["shape"]), JsonLongs(root.GetProperty("shape")));
        Assert.Equal(read["dtype"], root.GetProperty("dtype").GetString());
        Assert.Equal(cols["dtype"], root.GetProperty("dtype").GetString());
        Assert.Equal(Longs(read["chunkshape"]), JsonLongs(root.GetProperty("chunk_size")));
        Assert.Equal(Longs(read["blockshape"]), JsonLongs(root.GetProperty("block_size")));
        Assert.Equal(read["codec"], root.GetProperty("codec").GetString());
        Assert.Equal(int.Parse(read["clevel"], CultureInfo.InvariantCulture), root.GetProperty("clevel").GetInt32());
        string[] expectedFilters = read["filters"].Split(',').Select(int.Parse).Where(f => f != 0).Select(f => FilterNames[f]).ToArray();
        Assert.Equal(expectedFilters, root.GetProperty("filters").EnumerateArray().Select(x => x.GetString()).ToArray());
        Assert.Equal(long.Parse(read["nbytes"], CultureInfo.InvariantCulture), root.GetProperty("nbytes").GetInt64());
        // cbytes = the chunks-section length recorded in the frame header (spec §2, BE int64 at 0x27)
        byte[] head = new byte[47];
        using (var fs = File.OpenRead(path))
            fs.ReadExactly(head);
        Assert.Equal(BinaryPrimitives.ReadInt64BigEndian(head.AsSpan(39)), root.GetProperty("cbytes").GetInt64());
        Assert.True(root.GetProperty("cbytes").GetInt64() < long.Parse(cols["file_bytes"], CultureInfo.InvariantCulture));

        var vlmeta = root.GetProperty("vlmeta");
        Assert.Equal(JsonValueKind.Object, vlmeta.ValueKind);
        Assert.Equal(int.Parse(read["nvlmeta"], CultureInfo.InvariantCulture), vlmeta.EnumerateObject().Count());
        foreach (var (key, value) in read.Where(kv => kv.Key.StartsWith("vlmeta.", StringComparison.Ordinal)))
        {
            string name = key["vlmeta.".Length..];
            Assert.True(vlmeta.TryGetProperty(name, out var entry), $"vlmeta '{name}' missing");
            string msgpackLen = value.Split(' ').Single(p => p.StartsWith("msgpack_len=", StringComparison.Ordinal))["msgpack_len=".Length..];
            Assert.Equal(int.Parse(msgpackLen, CultureInfo.InvariantCulture), entry.GetProperty("bytes").GetInt32());
        }
    }

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public void Text_output_states_the_facts(string file)
    {
        var (cols, read) = CliTestData.Manifest(file);
        string path = CliTestData.Blosc2(file);
        var (code, output, err) = CliRun.Run("header", path);
        Assert.True(code == 0, err);
        Assert.Equal("", err);
        string Line(string key) => CliRun.Lines(output).First(l => l.StartsWith(key + " ", StringComparison.Ordinal));
        static string Tuple(string csv) => "(" + csv.Replace(",", ", ", StringComparison.Ordinal) + ")";
        Assert.Contains(path, Line("file"), StringComparison.Ordinal);
        Assert.EndsWith(Tuple(read["shape"]), Line("shape"), StringComparison.Ordinal);
        Assert.EndsWith(cols["dtype"], Line("dtype"), StringComparison.Ordinal);
        Assert.EndsWith(Tuple(read["chunkshape"]), Line("chunk_size"), StringComparison.Ordinal);
        Assert.EndsWith(Tuple(read["blockshape"]), Line("block_size"), StringComparison.Ordinal);
        Assert.EndsWith(read["codec"], Line("codec"), StringComparison.Ordinal);
        Assert.EndsWith(read["clevel"], Line("clevel"), StringComparison.Ordinal);
        Assert.EndsWith(read["nchunks"], Line("chunks"), StringComparison.Ordinal);
        Assert.Contains(read["nbytes"] + " (", Line("nbytes"), StringComparison.Ordinal);
        string[] filters = read["filters"].Split(',').Select(int.Parse).Where(f => f != 0).Select(f => FilterNames[f]).ToArray();
        Assert.EndsWith(filters.Length == 0 ? "none" : string.Join(" + ", filters), Line("filters"), StringComparison.Ordinal);
        if (read["nvlmeta"] == "0")
            Assert.EndsWith("none", Line("vlmeta"), StringComparison.Ordinal);
        else
            Assert.Contains("mlarray", Line("vlmeta"), StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_file_exits_2_with_one_line_on_stderr()
    {
        using var dir = new CliTestData.TempDir();
        string missing = dir.File("does-not-exist.mla");
        foreach (var args in new[] { new[] { "header", missing }, ["header", missing, "--json"] })
        {
            var (code, output, err) = CliRun.Run(args);
            Assert.Equal(2, code);
            Assert.Equal("", output);
            string[] lines = CliRun.Lines(err);
            Assert.Single(lines);
            Assert.Contains("does-not-exist.mla", lines[0], StringComparison.Ordinal);
        }
        // a missing folder too
        var (code2, _, err2) = CliRun.Run("header", Path.Combine(dir.Path, "no-such-dir", "x.mla"));
        Assert.Equal(2, code2);
        Assert.Single(CliRun.Lines(err2));
    }

    [Fact]
    public void Corrupt_files_exit_2_with_one_line_naming_the_file()
    {
        using var dir = new CliTestData.TempDir();
        byte[] good = File.ReadAllBytes(CliTestData.Blosc2("f4_3d_lz4_shuffle.mla"));
        var cases = new Dictionary<string, byte[]>
        {
            ["truncated.mla"] = good[..(good.Length / 2)],
            ["header-only.mla"] = good[..60],
            ["empty.mla"] = [],
            ["not-a-frame.mla"] = "this is not an MLArray file at all, just some text that is long enough............................"u8.ToArray(),
        };
        byte[] badTrailer = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(badTrailer.AsSpan(badTrailer.Length - 22), uint.MaxValue);
        cases["bad-trailer.mla"] = badTrailer;
        byte[] badDtype = (byte[])good.Clone();
        int at = badDtype.AsSpan().IndexOf("<f4"u8);
        "<c8"u8.CopyTo(badDtype.AsSpan(at));
        cases["complex.mla"] = badDtype;
        foreach (var (name, bytes) in cases)
        {
            string path = dir.File(name);
            File.WriteAllBytes(path, bytes);
            foreach (var args in new[] { new[] { "header", path }, ["header", path, "--json"] })
            {
                var (code, _, err) = CliRun.Run(args);
                Assert.True(code == 2, $"{name}: exit {code}, stderr {err}");
                string[] lines = CliRun.Lines(err);
                Assert.True(lines.Length == 1, $"{name}: {err}");
                Assert.Contains(name, lines[0], StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void Bad_usage_exits_1()
    {
        string file = CliTestData.Blosc2("f4_3d_lz4_shuffle.mla");
        foreach (var args in new[]
                 {
                     Array.Empty<string>(),
                     ["header"],
                     ["header", file, "--bogus"],
                     ["header", "--json"],
                     ["header", file, "extra-argument"],
                     ["frobnicate", file],
                     ["--no-such-option"],
                 })
        {
            var (code, _, err) = CliRun.Run(args);
            Assert.True(code == 1, $"'{string.Join(' ', args)}': exit {code}");
            Assert.NotEqual("", err.Trim());
        }
    }

    [Fact]
    public void Help_exits_0()
    {
        var (code, output, _) = CliRun.Run("header", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--json", output, StringComparison.Ordinal);
    }
}
