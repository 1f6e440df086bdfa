using MLArray.TestSupport;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MLArray.Blosc2;
using MLArray.Medical.Nrrd;
using Xunit.Abstractions;

namespace MLArray.Tests.Medical;

/// <summary>NRRD: every corpus file against MANIFEST.jsonl (pynrrd 1.1.3), round trips, aliases and hostile inputs.</summary>
public sealed class NrrdTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nrrd-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Tmp(string name) => Path.Combine(_dir, name);

    public static IEnumerable<object[]> NrrdIds() => MedicalTestData.Ids("nrrd");

    [Theory]
    [MemberData(nameof(NrrdIds))]
    public void Corpus_file_matches_manifest(string id)
    {
        JsonElement rec = MedicalTestData.Record(id);
        JsonElement raw = rec.GetProperty("raw");
        NrrdImage img = Nrrd.Read(MedicalTestData.PathOf(id));
        Assert.Equal(rec.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray(), img.FileShape);
        string expectedDType = raw.GetProperty("dtype").GetString() switch
        {
            "uint8" => "|u1", "int8" => "|i1", "int16" => "<i2", "uint16" => "<u2", "int32" => "<i4", "uint32" => "<u4",
            "int64" => "<i8", "uint64" => "<u8", "float32" => "<f4", "float64" => "<f8", var s => s!,
        };
        Assert.Equal(expectedDType, img.DType.Name);
        Assert.Equal(raw.GetProperty("fnv1a64_f").GetString(), MedicalTestData.Fnv1a64(img.Data));
        Assert.Equal(raw.GetProperty("fnv1a64_c").GetString(), MedicalTestData.Fnv1a64(img.ToIndexOrderC()));

        JsonElement geo = rec.GetProperty("geometry");
        CheckAffine(geo.GetProperty("affine_space"), img.Header.GetAffine(), id + " affine_space");
        CheckAffine(geo.GetProperty("affine_ras"), img.Header.GetAffineRas(), id + " affine_ras");

        OrderedDictionary<string, object> d = img.Header.ToDictionary();
        var problems = new List<string>();
        foreach (JsonProperty p in rec.GetProperty("header").EnumerateObject())
        {
            if (!d.TryGetValue(p.Name, out object? actual))
            {
                problems.Add($"{p.Name}: missing");
                continue;
            }

            if (MedicalTestData.Compare(p.Value, actual, p.Name) is { } r)
            {
                problems.Add(r);
            }
        }

        foreach (string k in d.Keys)
        {
            if (!rec.GetProperty("header").TryGetProperty(k, out _))
            {
                problems.Add($"{k}: not in pynrrd's header");
            }
        }

        Assert.True(problems.Count == 0, id + ": " + string.Join("; ", problems));
        output.WriteLine($"{id}: OK {img.DType} {string.Join("x", img.FileShape)} {img.Header.Encoding}");
    }

    private static void CheckAffine(JsonElement expected, double[,]? actual, string what)
    {
        if (expected.ValueKind == JsonValueKind.Null)
        {
            Assert.True(actual is null, $"{what}: expected none, got {(actual is null ? "" : MedicalTestData.Show(actual))}");
            return;
        }

        Assert.NotNull(actual);
        MedicalTestData.AssertMatrix(MedicalTestData.Matrix(expected), actual, 1e-5, what);
    }

    [Theory]
    [MemberData(nameof(NrrdIds))]
    public void Read_write_read_keeps_data_dtype_geometry_and_fields(string id)
    {
        NrrdImage a = Nrrd.Read(MedicalTestData.PathOf(id));
        foreach (string enc in (string[])["raw", "gzip"])
        {
            string p = Tmp(Path.GetFileNameWithoutExtension(id) + "." + enc + ".nrrd");
            Nrrd.Write(p, a, new NrrdWriteOptions { Encoding = enc });
            NrrdImage b = Nrrd.Read(p);
            Assert.Equal(a.DType, b.DType);
            Assert.Equal(a.FileShape, b.FileShape);
            Assert.True(a.Data.AsSpan().SequenceEqual(b.Data), $"{id} {enc}: data differs");
            Assert.Equal(enc, b.Header.Encoding);
            double[,]? aa = a.Header.GetAffine(), ba = b.Header.GetAffine();
            Assert.Equal(aa is null, ba is null);
            if (aa is not null)
            {
                MedicalTestData.AssertMatrix(aa, ba!, 1e-12, id + " affine");
            }

            foreach ((string k, object v) in a.Header.ToDictionary())
            {
                if (k is "encoding" or "data file" or "line skip" or "byte skip" or "endian" or "type")
                {
                    continue;
                }

                using var doc = JsonDocument.Parse(JsonSerializer.Serialize(v, new JsonSerializerOptions { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
                Assert.True(b.Header.ToDictionary().TryGetValue(k, out object? bv), $"{id}: field {k} lost");
                Assert.Null(MedicalTestData.Compare(doc.RootElement, bv, k));
            }

            Assert.Equal(NrrdTypes.Parse((string)a.Header.Fields["type"], id), NrrdTypes.Parse((string)b.Header.Fields["type"], id));
        }
    }

    [Theory]
    [InlineData("short", "<i2")]
    [InlineData("short int", "<i2")]
    [InlineData("signed short int", "<i2")]
    [InlineData("int16_t", "<i2")]
    [InlineData("ushort", "<u2")]
    [InlineData("unsigned short int", "<u2")]
    [InlineData("uchar", "|u1")]
    [InlineData("unsigned char", "|u1")]
    [InlineData("uint8", "|u1")]
    [InlineData("signed char", "|i1")]
    [InlineData("int8_t", "|i1")]
    [InlineData("int", "<i4")]
    [InlineData("unsigned int", "<u4")]
    [InlineData("uint32_t", "<u4")]
    [InlineData("long long", "<i8")]
    [InlineData("longlong", "<i8")]
    [InlineData("signed long long int", "<i8")]
    [InlineData("unsigned long long", "<u8")]
    [InlineData("ulonglong", "<u8")]
    [InlineData("uint64_t", "<u8")]
    [InlineData("float", "<f4")]
    [InlineData("double", "<f8")]
    public void Type_aliases(string spelling, string dtype)
    {
        Assert.Equal(dtype, NrrdTypes.Parse(spelling, "t").Name);
        // and through a file, in ascii, with a big-endian declaration that ascii ignores
        File.WriteAllText(Tmp("t.nrrd"), $"NRRD0004\ntype: {spelling}\ndimension: 1\nsizes: 3\nendian: big\nencoding: text\n\n1 2 3\n");
        NrrdImage img = Nrrd.Read(Tmp("t.nrrd"));
        Assert.Equal(dtype, img.DType.Name);
        Assert.Equal([1.0, 2, 3], ToDoubles(img));
    }

    private static double[] ToDoubles(NrrdImage img)
    {
        int n = img.Data.Length / img.DType.ItemSize;
        var r = new double[n];
        for (int i = 0; i < n; i++)
        {
            ReadOnlySpan<byte> b = img.Data.AsSpan(i * img.DType.ItemSize, img.DType.ItemSize);
            r[i] = img.DType.Name switch
            {
                "|u1" => b[0], "|i1" => (sbyte)b[0],
                "<i2" => BitConverter.ToInt16(b), "<u2" => BitConverter.ToUInt16(b),
                "<i4" => BitConverter.ToInt32(b), "<u4" => BitConverter.ToUInt32(b),
                "<i8" => BitConverter.ToInt64(b), "<u8" => BitConverter.ToUInt64(b),
                "<f4" => BitConverter.ToSingle(b), _ => BitConverter.ToDouble(b),
            };
        }

        return r;
    }

    [Fact]
    public void Hex_big_endian_comments_and_line_skip()
    {
        File.WriteAllText(Tmp("h.nrrd"),
            "NRRD0004\n# a comment\ntype: int32\ndimension: 2\nsizes: 2 1\nendian: big\nencoding: hex\nline skip: 1\nlabels: \"x\" \"y\"\nkey one:=v:1\n\nskipped line\n0000 0001\nFFFFFFFE\n");
        NrrdImage img = Nrrd.Read(Tmp("h.nrrd"));
        Assert.Equal([1.0, -2], ToDoubles(img));
        Assert.Equal(["a comment"], img.Header.Comments);
        Assert.Equal("v:1", img.Header.KeyValues["key one"]);
        Assert.Equal(["x", "y"], (string[])img.Header.Fields["labels"]);
        Assert.Equal([1L, 2], img.Shape);
    }

    [Fact]
    public void Bzip2_and_gzip_variants_give_the_same_voxels()
    {
        byte[] reference = Nrrd.Read(MedicalTestData.PathOf("pynrrd/BallBinary30x30x30.nrrd")).Data;
        foreach (string f in (string[])["BallBinary30x30x30_bz2.nrrd", "BallBinary30x30x30_gz.nrrd", "BallBinary30x30x30_gz_lineskip.nrrd",
                     "BallBinary30x30x30_gz_byteskip_minus_one.nrrd", "BallBinary30x30x30_byteskip_minus_one.nhdr", "BallBinary30x30x30_byteskip_minus_one_nifti.nhdr"])
        {
            Assert.Equal(reference, Nrrd.Read(MedicalTestData.PathOf("pynrrd/" + f)).Data);
        }

        using NrrdReader r = NrrdReader.Open(MedicalTestData.PathOf("pynrrd/BallBinary30x30x30_bz2.nrrd"));
        var slab = new byte[1800];
        r.ReadData(slab);
        Assert.Equal(reference.AsSpan(0, 1800).ToArray(), slab);
    }

    // ------------------------------------------------------------------ hostile inputs

    [Fact]
    public void Corpus_error_entries_fail_cleanly()
    {
        var e1 = Assert.Throws<MLArrayFormatException>(() => Nrrd.Read(MedicalTestData.PathOf("pynrrd/BallBinary30x30x30_byteskip_minus_five.nhdr")));
        Assert.Contains("byte skip < -1 is invalid", e1.Message, StringComparison.Ordinal);
        var e2 = Assert.Throws<MLArrayFormatException>(() => Nrrd.Read(MedicalTestData.PathOf("pynrrd/BallBinary30x30x30_nifti.nhdr")));
        Assert.Contains("data size mismatch", e2.Message, StringComparison.Ordinal);
        output.WriteLine(e1.Message + "\n" + e2.Message);
    }

    [Theory]
    [InlineData("type")]
    [InlineData("dimension")]
    [InlineData("sizes")]
    [InlineData("encoding")]
    [InlineData("endian")]
    public void Missing_required_fields(string field)
    {
        var lines = new List<string> { "NRRD0004", "type: short", "dimension: 1", "sizes: 2", "endian: little", "encoding: raw" };
        lines.RemoveAll(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        File.WriteAllBytes(Tmp("m.nrrd"), [.. Encoding.ASCII.GetBytes(string.Join("\n", lines) + "\n\n"), 1, 0, 2, 0]);
        var ex = Assert.Throws<MLArrayFormatException>(() => Nrrd.Read(Tmp("m.nrrd")));
        Assert.Contains($"missing the required field '{field}'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("m.nrrd", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Data_file_too_short_raw_gzip_and_ascii()
    {
        File.WriteAllBytes(Tmp("s.nrrd"), [.. Encoding.ASCII.GetBytes("NRRD0004\ntype: short\ndimension: 2\nsizes: 3 3\nendian: little\nencoding: raw\n\n"), 1, 0, 2]);
        Assert.Contains("data file too short", Assert.Throws<MLArrayFormatException>(() => Nrrd.Read(Tmp("s.nrrd"))).Message, StringComparison.Ordinal);

        byte[] gz = File.ReadAllBytes(MedicalTestData.PathOf("pynrrd/BallBinary30x30x30_gz.nrrd"));
        File.WriteAllBytes(Tmp("g.nrrd"), gz[..^400]);
        var eg = Assert.ThrowsAny<MLArrayFormatException>(() => Nrrd.Read(Tmp("g.nrrd")));
        Assert.Contains("g.nrrd", eg.Message, StringComparison.Ordinal);
        output.WriteLine(eg.Message);

        File.WriteAllText(Tmp("a.nrrd"), "NRRD0004\ntype: float\ndimension: 1\nsizes: 5\nencoding: ascii\n\n1 2 3\n");
        Assert.Contains("too short", Assert.Throws<MLArrayFormatException>(() => Nrrd.Read(Tmp("a.nrrd"))).Message, StringComparison.Ordinal);

        File.WriteAllText(Tmp("d.nhdr"), "NRRD0004\ntype: uchar\ndimension: 1\nsizes: 100\nencoding: raw\ndata file: d.raw\n");
        File.WriteAllBytes(Tmp("d.raw"), new byte[99]);
        Assert.Contains("d.raw: data file too short", Assert.Throws<MLArrayFormatException>(() => Nrrd.Read(Tmp("d.nhdr"))).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../outside.raw")]
    [InlineData("sub/../../outside.raw")]
    [InlineData("/etc/hostname")]
    public void Detached_data_path_escaping_the_folder_is_refused(string dataFile)
    {
        string sub = Directory.CreateDirectory(Tmp("hdr")).FullName;
        File.WriteAllBytes(Tmp("outside.raw"), new byte[4]);
        string h = Path.Combine(sub, "x.nhdr");
        File.WriteAllText(h, $"NRRD0004\ntype: uchar\ndimension: 1\nsizes: 4\nencoding: raw\ndata file: {dataFile}\n");
        var ex = Assert.Throws<MLArrayFormatException>(() => Nrrd.Read(h));
        Assert.Matches("escapes the header's folder|absolute path", ex.Message);
        output.WriteLine(ex.Message);
    }

    [Fact]
    public void Other_bad_headers()
    {
        void Bad(string text, string expect)
        {
            File.WriteAllText(Tmp("b.nrrd"), text);
            var ex = Assert.ThrowsAny<MLArrayException>(() => Nrrd.Read(Tmp("b.nrrd")));
            Assert.Contains(expect, ex.Message, StringComparison.Ordinal);
        }

        Bad("P5\n", "not a NRRD file");
        Bad("NRRD0004\ntype: short\ndimension: 2\nsizes: 3\nendian: little\nencoding: raw\n\n", "'sizes' has 1 values but 'dimension' is 2");
        Bad("NRRD0004\ntype: short\ndimension: 1\nsizes: 0\nendian: little\nencoding: raw\n\n", "invalid size 0");
        Bad("NRRD0004\ntype: short\ndimension: 1\nsizes: -3\nendian: little\nencoding: raw\n\n", "invalid size -3");
        Bad("NRRD0004\ntype: complex\ndimension: 1\nsizes: 1\nendian: little\nencoding: raw\n\n", "unknown NRRD type 'complex'");
        Bad("NRRD0004\ntype: block\ndimension: 1\nsizes: 1\nencoding: raw\n\n", "'block' is not supported");
        Bad("NRRD0004\ntype: short\ndimension: 1\nsizes: 1\nendian: little\nencoding: zrl\n\n", "encoding 'zrl' is not supported");
        Bad("NRRD0004\ntype: short\ndimension: x\n\n", "invalid NRRD field 'dimension'");
        Bad("NRRD0004\ntype: uchar\ndimension: 1\nsizes: 1\nencoding: raw\ndata file: LIST\n", "multi-file");
        Bad("NRRD0004\ntype: uchar\ndimension: 1\nsizes: 99999999999\nencoding: gzip\n\n", "MaxDataBytes");
        Bad("NRRD0004\ntype: uchar\ndimension: 1\nsizes: 2\nencoding: hex\n\n0g\n", "invalid character 'g'");
    }

    [Fact]
    public void Writer_output_is_readable_and_carries_geometry()
    {
        NrrdHeader h = NrrdHeader.Create(DType.Float32, [2, 3, 4]);
        h.Fields["space"] = "left-posterior-superior";
        h.Fields["space directions"] = new[] { new[] { 0.5, 0, 0 }, new[] { 0, 0.6, 0.1 }, new[] { 0, 0, 2.0 } };
        h.Fields["space origin"] = new[] { -10.5, 20, 1e-3 };
        h.Fields["kinds"] = new[] { "domain", "domain", "domain" };
        h.Fields["measurement frame"] = new[] { new[] { 1.0, 0, 0 }, new[] { 0, 1.0, 0 }, new[] { 0, 0, 1.0 } };
        h.KeyValues["modality"] = "CT";
        float[] v = Enumerable.Range(0, 24).Select(i => i * 0.25f).ToArray();
        Nrrd.Write(Tmp("w.nrrd"), new NrrdImage(h, DType.Float32, System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()).ToArray()));
        string text = Encoding.ASCII.GetString(File.ReadAllBytes(Tmp("w.nrrd"))).Split("\n\n")[0];
        output.WriteLine(text);
        Assert.Contains("space directions: (0.5,0,0) (0,0.6,0.1) (0,0,2)", text, StringComparison.Ordinal);
        Assert.Contains("endian: little", text, StringComparison.Ordinal);
        Assert.Contains("modality:=CT", text, StringComparison.Ordinal);
        NrrdImage back = Nrrd.Read(Tmp("w.nrrd"));
        Assert.Equal("gzip", back.Header.Encoding);
        double[,] ras = back.Header.GetAffineRas()!;
        Assert.Equal(-0.5, ras[0, 0]);
        Assert.Equal(10.5, ras[0, 3]);
        Assert.Equal(-0.6, ras[1, 1]);
        Assert.Equal(0.1, ras[2, 1]);
        Assert.Equal(v.Select(x => (double)x).ToArray(), ToDoubles(back));
        Assert.Throws<MLArrayNotSupportedException>(() => Nrrd.Write(Tmp("x.nrrd"), back, new NrrdWriteOptions { Encoding = "bzip2" }));
        _ = CultureInfo.InvariantCulture;
    }

    [Theory]
    [InlineData("raw", "d.raw")]
    [InlineData("gzip", "d.raw.gz")]
    public void Detached_writer_names_its_data_file_relative_to_the_header(string encoding, string dataName)
    {
        string sub = Directory.CreateDirectory(Tmp("det-" + encoding)).FullName;
        NrrdHeader h = NrrdHeader.Create(DType.Int16, [3, 4]);
        h.Fields["spacings"] = new[] { 0.5, 2.0 };
        short[] v = Enumerable.Range(0, 12).Select(i => (short)((i * 1000) - 5000)).ToArray();
        byte[] data = System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()).ToArray();
        Nrrd.Write(Path.Combine(sub, "d.nhdr"), new NrrdImage(h, DType.Int16, data), new NrrdWriteOptions { Encoding = encoding });
        Assert.Equal(["d.nhdr", dataName], Directory.GetFiles(sub).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        string text = File.ReadAllText(Path.Combine(sub, "d.nhdr"));
        Assert.Contains($"data file: {dataName}\n", text, StringComparison.Ordinal);
        Assert.Contains($"encoding: {encoding}\n", text, StringComparison.Ordinal);
        if (encoding == "raw") Assert.Equal(data, File.ReadAllBytes(Path.Combine(sub, dataName)));
        NrrdImage back = Nrrd.Read(Path.Combine(sub, "d.nhdr"));
        Assert.Equal(data, back.Data);
        Assert.Equal([0.5, 2.0], back.Header.Spacings!);
        using NrrdReader r = NrrdReader.Open(Path.Combine(sub, "d.nhdr"));
        Assert.Equal(Path.Combine(sub, dataName), r.DataPath);
    }
}
