using MLArray.TestSupport;
using System.Runtime.InteropServices;
using System.Text.Json;
using MLArray.Blosc2;
using MLArray.Tests.Medical;
using MLArray.Conversion;
using MLArray.Medical;
using MLArray.Medical.Nifti;
using MLArray.Medical.Nrrd;
using MLArray.Metadata;

namespace MLArray.Tests.Conversion;

/// <summary>NIfTI/NRRD → .mla on every corpus file against MANIFEST.jsonl, and round trips back.</summary>
public sealed class MedicalConverterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-conv-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static IEnumerable<object[]> AllIds() => MedicalTestData.Ids("nifti").Concat(MedicalTestData.Ids("nrrd"));


    internal static object? Plain(MetaValue? v) => v switch
    {
        null or MetaNull => null,
        MetaInt i => (long)i.Value,
        MetaFloat f => f.Value,
        MetaString s => s.Value,
        MetaBool b => b.Equals(MetaValue.From(true)),
        MetaList l => l.Items.Select(Plain).ToList(),
        _ => v.ToJson(),
    };

    /// <summary>P·M·P over the spatial block: index and world axes reversed, homogeneous row/column kept.</summary>
    private static double[,] Rev(double[,] m)
    {
        int n = m.GetLength(0) - 1;
        var r = new double[n + 1, n + 1];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++) r[i, j] = m[n - 1 - i, n - 1 - j];
            r[i, n] = m[n - 1 - i, n];
        }

        r[n, n] = 1;
        return r;
    }

    private static double[,] Sub(double[,] m, int n)
    {
        // the (n+1)² affine over the first n axes of a 4×4 (translation kept)
        var r = new double[n + 1, n + 1];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++) r[i, j] = m[i, j];
            r[i, n] = m[i, m.GetLength(1) - 1];
        }

        r[n, n] = 1;
        return r;
    }

    private string Convert(string id, bool raw = false)
    {
        string mla = Path.Combine(_dir, Path.GetFileName(id) + (raw ? ".raw" : "") + ".mla");
        MedicalConverter.ToMLArray(MedicalTestData.PathOf(id), mla, new MedicalToMLArrayOptions { Raw = raw });
        return mla;
    }

    [Theory]
    [MemberData(nameof(AllIds))]
    public void CorpusFileConvertsWithManifestDataGeometryAndHeader(string id)
    {
        JsonElement rec = MedicalTestData.Record(id);
        bool nifti = rec.GetProperty("kind").GetString() == "nifti";
        bool scaled = rec.TryGetProperty("scaled", out JsonElement sc) && sc.ValueKind == JsonValueKind.Object;
        string mla = Convert(id, raw: true);
        using var f = MLArrayFile.Open(mla);
        using var a = B2ndArray.Open(mla);

        // data: C order over the reversed shape is the file order
        long[] fileShape = rec.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        long[] expShape = MedicalAxisOrder.ReverseShape(fileShape);
        string dt = rec.GetProperty("raw").GetProperty("dtype").GetString()!;
        if (dt == "rgb24") expShape = [.. expShape, 3];
        Assert.Equal(expShape, f.Shape);
        Assert.Equal(rec.GetProperty("raw").GetProperty("fnv1a64_f").GetString(), MedicalTestData.Fnv1a64(a.ReadBytes()));

        // labels
        var labels = f.AxisLabels!;
        Assert.Equal(f.Shape.Length, labels.Count);
        int nsp = labels.Count(l => l.StartsWith("spatial", StringComparison.Ordinal));
        Assert.True(nsp >= 1);

        // geometry
        JsonElement geo = rec.GetProperty("geometry");
        double[,] expected;
        if (nifti)
        {
            double[,] ras = MedicalTestData.Matrix(geo.GetProperty("affine_nibabel"));
            for (int j = 0; j < 4; j++)
            {
                ras[0, j] = -ras[0, j];
                ras[1, j] = -ras[1, j];
            }

            expected = Rev(Sub(ras, 3));
            Assert.Equal("LPS", f.Meta.Spatial.CoordSystem?.Value);
            Assert.Equal("nifti", f.Meta.ImageMetaFormat?.Value);
            Assert.Equal(["spatial_z", "spatial_y", "spatial_x"], labels.Where(l => l.StartsWith("spatial", StringComparison.Ordinal)));
        }
        else
        {
            Assert.Equal("nrrd", f.Meta.ImageMetaFormat?.Value);
            string? space = geo.GetProperty("space").ValueKind == JsonValueKind.String ? geo.GetProperty("space").GetString() : null;
            string? expCs = space switch { null => null, "right-anterior-superior" => "RAS", "left-posterior-superior" => "LPS", var s => s };
            Assert.Equal(expCs, f.Meta.Spatial.CoordSystem?.Value);
            if (geo.GetProperty("affine_space").ValueKind == JsonValueKind.Array)
            {
                expected = Rev(MedicalTestData.Matrix(geo.GetProperty("affine_space")));
            }
            else
            {
                double[] sp = geo.GetProperty("spacing_per_axis").EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number ? e.GetDouble() : 1.0).ToArray();
                string[]? kinds = geo.GetProperty("kinds").ValueKind == JsonValueKind.Array ? geo.GetProperty("kinds").EnumerateArray().Select(e => e.GetString()!).ToArray() : null;
                var spatial = Enumerable.Range(0, sp.Length).Where(i => kinds is null || kinds[i] is "domain" or "space").Select(i => sp[i]).ToArray();
                int n = spatial.Length;
                var m = new double[n + 1, n + 1];
                for (int i = 0; i < n; i++) m[i, i] = spatial[i];
                m[n, n] = 1;
                expected = Rev(m);
            }
        }

        MedicalTestData.AssertMatrix(expected, f.Affine!, 1e-5, id + " affine");

        // header fields in meta.source
        var errors = new List<string>();
        foreach (JsonProperty p in rec.GetProperty("header").EnumerateObject())
        {
            if (!f.Meta.Source.TryGetValue(p.Name, out MetaValue v))
            {
                errors.Add($"{p.Name}: missing from meta.source");
                continue;
            }

            if (MedicalTestData.Compare(p.Value, Plain(v), p.Name) is { } err) errors.Add(err);
        }

        Assert.True(errors.Count == 0, string.Join("\n", errors));

        if (scaled)
        {
            // default import stores the scaled values as float32 (float64 for float64 input)
            string mla2 = Convert(id);
            using var f2 = MLArrayFile.Open(mla2);
            Assert.Equal(dt == "float64" ? DType.Float64 : DType.Float32, f2.DType);
            double[] v = f2.DType == DType.Float32 ? f2.ToArray<float>().Select(x => (double)x).ToArray() : f2.ToArray<double>();
            JsonElement st = sc.GetProperty("stats");
            double tol = 1e-5 * Math.Max(1, Math.Abs(st.GetProperty("max").GetDouble()));
            Assert.InRange(v.Min(), st.GetProperty("min").GetDouble() - tol, st.GetProperty("min").GetDouble() + tol);
            Assert.InRange(v.Max(), st.GetProperty("max").GetDouble() - tol, st.GetProperty("max").GetDouble() + tol);
            Assert.InRange(v.Average(), st.GetProperty("mean").GetDouble() - tol, st.GetProperty("mean").GetDouble() + tol);
            Assert.True(f2.Meta.Source.TryGetValue("scl_slope", out _));
        }
    }

    public static IEnumerable<object[]> NiftiIds() => MedicalTestData.Ids("nifti");

    public static IEnumerable<object[]> NrrdIds() => MedicalTestData.Ids("nrrd");

    /// <summary>Every NIfTI corpus file × output kind: single file, .hdr/.img pair, gzipped pair.</summary>
    public static IEnumerable<object[]> NiftiIdsByOutput() =>
        NiftiIds().SelectMany(o => new[] { "nii.gz", "hdr", "img.gz" }.Select(ext => new[] { o[0], ext }));

    /// <summary>Every NRRD corpus file × output kind: attached .nrrd, detached .nhdr + .raw.gz.</summary>
    public static IEnumerable<object[]> NrrdIdsByOutput() =>
        NrrdIds().SelectMany(o => new[] { "nrrd", "nhdr" }.Select(ext => new[] { o[0], ext }));

    private static readonly string[] NiftiKeep =
    [
        "descrip", "intent_code", "intent_p1", "intent_p2", "intent_p3", "intent_name", "xyzt_units", "cal_min", "cal_max",
        "slice_code", "slice_start", "slice_end", "slice_duration", "toffset", "dim_info", "aux_file", "qform_code", "sform_code",
    ];

    /// <summary>The scaled NIfTI files of the corpus (single-channel, supported types).</summary>
    public static IEnumerable<object[]> ScaledNiftiIds() => NiftiIds().Where(o =>
    {
        JsonElement rec = MedicalTestData.Record((string)o[0]);
        return rec.TryGetProperty("scaled", out JsonElement sc) && sc.ValueKind == JsonValueKind.Object;
    });

    [Theory]
    [MemberData(nameof(ScaledNiftiIds))]
    public void ScaledNiftiImportStoresRawTimesSlopePlusInterPerVoxel(string id)
    {
        NiftiImage src = Nifti.Read(MedicalTestData.PathOf(id));
        Assert.True(src.Header.Scaling is not null, id + " is listed as scaled");
        (double slope, double inter) = src.Header.Scaling!.Value;
        int item = src.DType.ItemSize;
        double Raw(int i) => src.DType.Code switch
        {
            DTypeCode.UInt8 => src.Data[i],
            DTypeCode.Int8 => (sbyte)src.Data[i],
            DTypeCode.Int16 => BitConverter.ToInt16(src.Data, i * item),
            DTypeCode.UInt16 => BitConverter.ToUInt16(src.Data, i * item),
            DTypeCode.Int32 => BitConverter.ToInt32(src.Data, i * item),
            DTypeCode.UInt32 => BitConverter.ToUInt32(src.Data, i * item),
            DTypeCode.Int64 => BitConverter.ToInt64(src.Data, i * item),
            DTypeCode.UInt64 => BitConverter.ToUInt64(src.Data, i * item),
            DTypeCode.Float32 => BitConverter.ToSingle(src.Data, i * item),
            _ => BitConverter.ToDouble(src.Data, i * item),
        };

        // The streaming import (file → file) and the in-memory one store the same values: the file's voxels in its
        // order (C order over the reversed shape), each (raw × slope + inter) computed in float64.
        using var streamed = MLArrayFile.Open(Convert(id));
        using MLArrayFile inMemory = MedicalConverter.FromNifti(src);
        int n = src.Data.Length / item;
        if (src.DType == DType.Float64)
        {
            double[] s = streamed.ToArray<double>(), m = inMemory.ToArray<double>();
            for (int i = 0; i < n; i++)
            {
                double e = (Raw(i) * slope) + inter;
                Assert.True(e.Equals(s[i]) && e.Equals(m[i]), $"{id} voxel {i}: {e} vs {s[i]} / {m[i]}");
            }
        }
        else
        {
            float[] s = streamed.ToArray<float>(), m = inMemory.ToArray<float>();
            float[] api = src.GetScaledFloat32();
            for (int i = 0; i < n; i++)
            {
                float e = (float)((Raw(i) * slope) + inter);
                Assert.True(e.Equals(s[i]) && e.Equals(m[i]) && e.Equals(api[i]), $"{id} voxel {i}: {e} vs {s[i]} / {m[i]} / {api[i]}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(NiftiIdsByOutput))]
    public void NiftiRoundTripKeepsDataDTypeAffineAndHeader(string id, string ext)
    {
        JsonElement rec = MedicalTestData.Record(id);
        NiftiImage src = Nifti.Read(MedicalTestData.PathOf(id));
        string mla = Convert(id);
        string back = Path.Combine(_dir, "back." + ext);
        MedicalConverter.FromMLArray(mla, back);
        if (ext != "nii.gz")
        {
            // a pair: both files exist, the header says so ("ni1"/"ni2", vox_offset 0), nothing else was written
            string gz = ext.EndsWith(".gz", StringComparison.Ordinal) ? ".gz" : "";
            Assert.True(File.Exists(Path.Combine(_dir, "back.hdr" + gz)) && File.Exists(Path.Combine(_dir, "back.img" + gz)));
            Assert.Equal(2, Directory.GetFiles(_dir, "back.*").Length);
            Assert.DoesNotContain(Directory.GetFiles(_dir), f => f.EndsWith(".tmp", StringComparison.Ordinal));
        }

        NiftiImage dst = Nifti.Read(back);
        if (ext != "nii.gz")
        {
            Assert.True(dst.Header.IsPair, dst.Header.Magic);
            Assert.Equal(0.0, dst.Header.VoxOffset);
        }

        Assert.Equal(src.DType, dst.DType);
        Assert.Equal(src.Channels, dst.Channels);
        Assert.Equal(src.FileShape, dst.FileShape);
        Assert.True(src.Data.AsSpan().SequenceEqual(dst.Data), "data differs");
        MedicalTestData.AssertMatrix(src.Affine, dst.Affine, 1e-5, id + " affine");
        var a = src.Header.ToDictionary();
        var b = dst.Header.ToDictionary();
        foreach (string k in NiftiKeep)
        {
            if (k is "qform_code" or "sform_code" && (long)a[k] == 0) continue;
            Assert.True(Equals(a[k], b[k]) || (a[k] is double x && b[k] is double y && Math.Abs(x - y) < 1e-6), $"{k}: {a[k]} vs {b[k]}");
        }

        if (src.Header.Scaling is not null)
        {
            Assert.Equal(src.Header.Scaling, dst.Header.Scaling);
        }

        for (int i = 4; i <= src.FileShape.Length && i < 8; i++) Assert.Equal(src.Header.PixDim[i], dst.Header.PixDim[i], 6);
        Assert.Equal(src.Header.Extensions.Select(e => e.Code), dst.Header.Extensions.Select(e => e.Code));
    }

    [Theory]
    [MemberData(nameof(NrrdIdsByOutput))]
    public void NrrdRoundTripKeepsDataDTypeAffineAndHeader(string id, string ext)
    {
        NrrdImage src = Nrrd.Read(MedicalTestData.PathOf(id));
        string mla = Convert(id);
        string back = Path.Combine(_dir, "back." + ext);
        MedicalConverter.FromMLArray(mla, back);
        if (ext == "nhdr")
        {
            // detached: the header names its data file by a relative name next to it
            Assert.Equal("back.raw.gz", Nrrd.Read(back).Header.DataFile);
            Assert.True(File.Exists(Path.Combine(_dir, "back.raw.gz")));
            Assert.Equal(["back.nhdr", "back.raw.gz"], Directory.GetFiles(_dir, "back.*").Select(Path.GetFileName).Order(StringComparer.Ordinal));
        }

        NrrdImage dst = Nrrd.Read(back);
        Assert.Equal(src.DType, dst.DType);
        Assert.Equal(src.FileShape, dst.FileShape);
        Assert.True(src.Data.AsSpan().SequenceEqual(dst.Data), "data differs");
        Assert.Equal(src.Header.Space, dst.Header.Space);
        if (src.Header.GetAffine() is { } sa)
            MedicalTestData.AssertMatrix(sa, dst.Header.GetAffine()!, 1e-5, id + " affine");
        if (src.Header.Spacings is { } ss)
            Assert.Equal(ss.Select(x => double.IsNaN(x) ? -1 : Math.Round(x, 6)), dst.Header.Spacings!.Select(x => double.IsNaN(x) ? -1 : Math.Round(x, 6)));
        string[] geometry = ["type", "dimension", "sizes", "endian", "encoding", "space", "space dimension", "space directions", "space origin", "data file", "line skip", "byte skip", "spacings"];
        var b = dst.Header.ToDictionary();
        foreach ((string k, object v) in src.Header.ToDictionary())
        {
            if (geometry.Contains(k)) continue;
            Assert.True(b.ContainsKey(k), $"{id}: header field '{k}' lost");
            Assert.Equal(SourceValues.ToMeta(v).ToJson(), SourceValues.ToMeta(b[k]).ToJson());
        }
    }

    [Fact]
    public void RasXyzFileExportsWithTransposeAndRasAffine()
    {
        // the reference's later layout: XYZ axis order, affine stored, coord_system RAS+
        var data = new short[2 * 3 * 4];
        for (int i = 0; i < data.Length; i++) data[i] = (short)i;
        double[,] affine = { { 2, 0, 0, 10 }, { 0, 3, 0, 20 }, { 0, 0, 4, 30 }, { 0, 0, 0, 1 } };
        string mla = Path.Combine(_dir, "xyz.mla");
        using (var f = MLArrayFile.FromArray(data, [2, 3, 4], new MLArrayCreateOptions
        {
            Affine = affine,
            AxisLabels = ["spatial_x", "spatial_y", "spatial_z"],
            Meta = new MLArrayMeta { Spatial = new MetaSpatial { CoordSystem = CoordSystem.RasPlus } },
        }))
            f.Save(mla);
        string nii = Path.Combine(_dir, "xyz.nii");
        MedicalConverter.FromMLArray(mla, nii);
        NiftiImage img = Nifti.Read(nii);
        Assert.Equal([2L, 3, 4], img.FileShape);
        MedicalTestData.AssertMatrix(affine, img.Affine, 1e-6, "affine");
        // nibabel's view (C order over x,y,z) equals the stored XYZ array
        Assert.Equal(MemoryMarshal.AsBytes(data.AsSpan()).ToArray(), img.ToIndexOrderC());
    }

    [Theory]
    [InlineData("spatial_y,spatial_x,channel", new long[] { 5, 4, 3 }, new long[] { 4, 5, 1, 1, 3 })]
    [InlineData("temporal,spatial_y,spatial_x", new long[] { 3, 5, 4 }, new long[] { 4, 5, 1, 3 })]
    [InlineData("spatial_z,spatial_y,spatial_x,channel", new long[] { 2, 5, 4, 3 }, new long[] { 4, 5, 2, 1, 3 })]
    public void NonSpatialAxesExportToNiftiTimeAndVectorDims(string labels, long[] shape, long[] niftiDims)
    {
        // NIfTI dims 1-3 are space, 4 time, 5+ the rest (what the import reads): a 2-D image's channel or time axis
        // must not become spatial z, and a channel is not time.
        int count = (int)shape.Aggregate(1L, (a, b) => a * b);
        var data = new float[count];
        for (int i = 0; i < count; i++) data[i] = i;
        string mla = Path.Combine(_dir, "nonspatial.mla");
        using (var f = MLArrayFile.FromArray(data, shape, new MLArrayCreateOptions { AxisLabels = labels.Split(',') }))
            f.Save(mla);
        string nii = Path.Combine(_dir, "nonspatial.nii");
        MedicalConverter.FromMLArray(mla, nii);
        NiftiImage img = Nifti.Read(nii);
        Assert.Equal(niftiDims, img.FileShape);

        string back = Path.Combine(_dir, "nonspatial_back.mla");
        MedicalConverter.ToMLArray(nii, back);
        using var b = MLArrayFile.Open(back);
        // every original axis comes back under its own label with its size; the added axes have size 1
        string[] orig = labels.Split(','), backLabels = b.AxisLabels!.ToArray();
        int[] where = orig.Select(l => Array.IndexOf(backLabels, l)).ToArray();
        Assert.DoesNotContain(-1, where);
        for (int k = 0; k < backLabels.Length; k++)
            Assert.Equal(Array.IndexOf(where, k) is var o and >= 0 ? shape[o] : 1, b.Shape[k]);
        float[] got = b.Read<float>();
        long[] bs = b.Shape;
        for (int i = 0; i < count; i++)
        {
            long rest = i, flat = 0;
            var idx = new long[bs.Length];
            for (int a = shape.Length - 1; a >= 0; a--) { idx[where[a]] = rest % shape[a]; rest /= shape[a]; }
            for (int k = 0; k < bs.Length; k++) flat = flat * bs[k] + idx[k];
            Assert.Equal(data[i], got[flat]);
        }
    }

    [Theory]
    [InlineData("niivue/LPS.nii.gz")]
    [InlineData("dipy/small_64D.nii")]
    [InlineData("niftijs/avg152T1_LR_nifti.nii")]
    [InlineData("pynrrd/BallBinary30x30x30.nrrd")]
    [InlineData("niivue/FLAIR.nrrd")]
    public void CanonicalRasKeepsEveryVoxelAtItsWorldPosition(string id)
    {
        string mla = Path.Combine(_dir, "canon.mla");
        MedicalConverter.ToMLArray(MedicalTestData.PathOf(id), mla, new MedicalToMLArrayOptions { CanonicalRas = true, Raw = true });
        using var f = MLArrayFile.Open(mla);
        Assert.Equal("RAS+", f.Meta.Spatial.CoordSystem?.Value);
        Assert.Equal(["spatial_x", "spatial_y", "spatial_z"], f.AxisLabels!.Take(3));
        double[,] a = f.Affine!.ToArray();
        for (int i = 0; i < 3; i++) Assert.True(a[i, i] > 0, $"diagonal {i} not positive: {MedicalTestData.Show(a)}");
        bool nifti = MedicalConverter.FormatOf(id) == MedicalFormat.Nifti;
        double[,] src;
        byte[] fileData;
        long[] fileShape;
        int isz;
        if (nifti)
        {
            var img = Nifti.Read(MedicalTestData.PathOf(id));
            src = img.Affine;
            fileData = img.Data;
            fileShape = img.FileShape;
            isz = img.DType.ItemSize;
        }
        else
        {
            var img = Nrrd.Read(MedicalTestData.PathOf(id));
            src = img.Header.GetAffineRas()!;
            fileData = img.Data;
            fileShape = img.FileShape;
            isz = img.DType.ItemSize;
        }

        using var arr = B2ndArray.Open(mla);
        byte[] outData = arr.ReadBytes();
        long[] os = f.Shape;
        var rng = new Random(1);
        for (int t = 0; t < 200; t++)
        {
            long[] oi = os.Select(s => (long)rng.Next((int)s)).ToArray();
            // world of the output voxel, then the source voxel with that world position
            double[] world = new double[3];
            for (int r = 0; r < 3; r++) world[r] = (a[r, 0] * oi[0]) + (a[r, 1] * oi[1]) + (a[r, 2] * oi[2]) + a[r, 3];
            long[] si = new long[fileShape.Length];
            double[] d = [world[0] - src[0, 3], world[1] - src[1, 3], world[2] - src[2, 3]];
            double[,] inv = Inverse3(src);
            for (int v = 0; v < 3; v++) si[v] = (long)Math.Round((inv[v, 0] * d[0]) + (inv[v, 1] * d[1]) + (inv[v, 2] * d[2]));
            for (int k = 3; k < fileShape.Length; k++) si[k] = oi[k];
            long off = 0, stride = 1;
            for (int k = 0; k < fileShape.Length; k++) { off += si[k] * stride; stride *= fileShape[k]; }
            long ooff = 0;
            stride = 1;
            for (int k = os.Length - 1; k >= 0; k--) { ooff += oi[k] * stride; stride *= os[k]; }
            Assert.True(fileData.AsSpan((int)(off * isz), isz).SequenceEqual(outData.AsSpan((int)(ooff * isz), isz)), $"{id}: voxel {string.Join(",", oi)}");
        }
    }

    private static double[,] Inverse3(double[,] m)
    {
        double a = m[0, 0], b = m[0, 1], c = m[0, 2], d = m[1, 0], e = m[1, 1], f = m[1, 2], g = m[2, 0], h = m[2, 1], i = m[2, 2];
        double det = (a * ((e * i) - (f * h))) - (b * ((d * i) - (f * g))) + (c * ((d * h) - (e * g)));
        return new double[,]
        {
            { ((e * i) - (f * h)) / det, ((c * h) - (b * i)) / det, ((b * f) - (c * e)) / det },
            { ((f * g) - (d * i)) / det, ((a * i) - (c * g)) / det, ((c * d) - (a * f)) / det },
            { ((d * h) - (e * g)) / det, ((b * g) - (a * h)) / det, ((a * e) - (b * d)) / det },
        };
    }
}
