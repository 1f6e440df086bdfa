using MLArray.TestSupport;
using System.Runtime.InteropServices;
using System.Text.Json;
using MLArray.Medical;
using MLArray.Medical.Nifti;
using Xunit.Abstractions;

namespace MLArray.Tests.Medical;

/// <summary>Every NIfTI file of the corpus against MANIFEST.jsonl (nibabel 5.0.0 as the oracle).</summary>
public sealed class NiftiCorpusTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> NiftiIds() => MedicalTestData.Ids("nifti");

    private static string ExpectedDType(JsonElement raw) => raw.GetProperty("dtype").GetString() switch
    {
        "uint8" or "rgb24" or "rgba32" => "|u1",
        "int8" => "|i1",
        "int16" => "<i2",
        "uint16" => "<u2",
        "int32" => "<i4",
        "uint32" => "<u4",
        "int64" => "<i8",
        "uint64" => "<u8",
        "float32" => "<f4",
        "float64" => "<f8",
        "complex64" => "<c8",
        "complex128" => "<c16",
        var s => s!,
    };

    [Theory]
    [MemberData(nameof(NiftiIds))]
    public void Corpus_file_matches_manifest(string id)
    {
        JsonElement rec = MedicalTestData.Record(id);
        JsonElement raw = rec.GetProperty("raw");
        string dtypeName = raw.GetProperty("dtype").GetString()!;
        string path = MedicalTestData.PathOf(id);
        NiftiImage img = Nifti.Read(path);
        long[] shape = rec.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        Assert.Equal(shape, img.FileShape);
        Assert.Equal(ExpectedDType(raw), img.DType.Name);
        int channels = dtypeName switch { "rgb24" => 3, "rgba32" => 4, _ => 1 };
        Assert.Equal(channels, img.Channels);
        long[] cshape = [.. shape.Reverse(), .. channels == 1 ? Array.Empty<long>() : [channels]];
        Assert.Equal(cshape, img.Shape);

        // raw hashes: file order (= our buffer) and NumPy C order of the file shape
        Assert.Equal(raw.GetProperty("fnv1a64_f").GetString(), MedicalTestData.Fnv1a64(img.Data));
        Assert.Equal(raw.GetProperty("fnv1a64_c").GetString(), MedicalTestData.Fnv1a64(img.ToIndexOrderC()));

        // scaled values (float64, raw * slope + inter, file order)
        if (rec.TryGetProperty("scaled", out JsonElement scaled) && scaled.ValueKind == JsonValueKind.Object)
        {
            Assert.NotNull(img.Header.Scaling);
            Assert.Equal(MedicalTestData.Num(rec.GetProperty("scl_slope_applied")), img.Header.Scaling!.Value.Slope);
            Assert.Equal(MedicalTestData.Num(rec.GetProperty("scl_inter_applied")), img.Header.Scaling!.Value.Inter);
            double[] v = img.GetScaledFloat64();
            Assert.Equal(scaled.GetProperty("fnv1a64_f").GetString(), MedicalTestData.Fnv1a64(MemoryMarshal.AsBytes(v.AsSpan())));
        }
        else if (channels == 1)
        {
            Assert.Null(img.Header.Scaling);
        }

        // geometry
        JsonElement geo = rec.GetProperty("geometry");
        MedicalTestData.AssertMatrix(MedicalTestData.Matrix(geo.GetProperty("affine_nibabel")), img.Affine, 1e-5, id + " affine");
        if (geo.GetProperty("qform").ValueKind == JsonValueKind.Array)
        {
            MedicalTestData.AssertMatrix(MedicalTestData.Matrix(geo.GetProperty("qform")), img.Header.GetQForm(), 1e-5, id + " qform");
        }

        if (geo.GetProperty("sform").ValueKind == JsonValueKind.Array)
        {
            MedicalTestData.AssertMatrix(MedicalTestData.Matrix(geo.GetProperty("sform")), img.Header.GetSForm(), 1e-5, id + " sform");
        }

        // every header field nibabel reports
        OrderedDictionary<string, object> d = img.Header.ToDictionary();
        var problems = new List<string>();
        foreach (JsonProperty p in rec.GetProperty("header").EnumerateObject())
        {
            if (!d.TryGetValue(p.Name, out object? actual))
            {
                problems.Add($"{p.Name}: missing");
                continue;
            }

            string? r = MedicalTestData.Compare(p.Value, actual, p.Name);
            if (r is not null)
            {
                problems.Add(r);
            }
        }

        Assert.True(problems.Count == 0, id + ": " + string.Join("; ", problems));

        // extensions: codes and sizes
        JsonElement exts = rec.GetProperty("extensions");
        Assert.Equal(exts.GetArrayLength(), img.Header.Extensions.Count);
        for (int i = 0; i < exts.GetArrayLength(); i++)
        {
            Assert.Equal(exts[i].GetProperty("ecode").GetInt32(), img.Header.Extensions[i].Code);
            // nibabel reports the size of the content without trailing NULs; we keep the raw bytes (Data).
            // CIFTI (ecode 32) content is re-serialised XML in nibabel, so its size is not comparable.
            if (img.Header.Extensions[i].Code == 32)
            {
                Assert.Contains("CIFTI", System.Text.Encoding.UTF8.GetString(img.Header.Extensions[i].Data), StringComparison.Ordinal);
                continue;
            }

            Assert.Equal(exts[i].GetProperty("esize").GetInt32(), (8 + img.Header.Extensions[i].Content.Length + 15) / 16 * 16);
        }

        output.WriteLine($"{id}: OK {img.DType} {string.Join("x", img.FileShape)}");
    }
}
