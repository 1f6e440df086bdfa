using System.Diagnostics;
using System.Text.Json;
using MLArray.TestSupport;
using MLArray.Training.Data;

namespace MLArray.Cli.Tests.Cli;

public sealed class TrainingCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"mla-cli-train-{Environment.ProcessId}-{Guid.NewGuid():N}");

    public TrainingCommandTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CliApp.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    // CT-like int16 images (body ellipse, noise) and uint8 segmentations with two boxes of labels 1 and 2.
    private string MakeDataset(int count, bool boolSeg = false)
    {
        string ds = Path.Combine(_dir, "ds");
        Directory.CreateDirectory(ds);
        long[] shape = [14, 26, 22];
        for (int k = 0; k < count; k++)
        {
            var rng = new Random(k);
            var img = new short[14 * 26 * 22];
            var seg = new byte[img.Length];
            for (int i = 0; i < img.Length; i++)
            {
                int z = i / (26 * 22), y = i / 22 % 26, x = i % 22;
                bool body = Math.Pow((y - 13) / 11.0, 2) + Math.Pow((x - 11) / 9.0, 2) < 1;
                img[i] = (short)((body ? 40 : -1000) + rng.Next(-30, 31));
                if (z >= 3 + k % 4 && z < 6 + k % 4 && y >= 5 && y < 10 && x >= 4 && x < 8) seg[i] = 1;
                if (z >= 9 && z < 11 && y >= 15 + k % 5 && y < 19 + k % 5 && x >= 12 && x < 17) seg[i] = 2;
            }
            var layout = LayoutOptions.Patch(8, 8, 8);
            using (var f = MLArrayFile.FromArray(img, shape, new MLArrayCreateOptions { Spacing = [2, 1, 1], Layout = layout }))
                f.Save(Path.Combine(ds, $"case_{k:D4}.mla"));
            // bool: a binary mask as the Python reference writes it (both labels become 1)
            using (var f = boolSeg ? MLArrayFile.FromArray(seg.Select(v => v > 0).ToArray(), shape, new MLArrayCreateOptions { Spacing = [2, 1, 1], Layout = layout })
                                   : MLArrayFile.FromArray(seg, shape, new MLArrayCreateOptions { Spacing = [2, 1, 1], Layout = layout }))
                f.Save(Path.Combine(ds, $"case_{k:D4}_seg.mla"));
        }
        return ds;
    }

    [Fact]
    public void Index_and_sample_refuse_a_folder_with_an_orphan_segmentation_naming_it()
    {
        string ds = MakeDataset(2);
        File.Move(Path.Combine(ds, "case_0001.mla"), Path.Combine(_dir, "elsewhere.mla"));
        foreach (var args in new[] { new[] { "index", ds }, ["sample", ds, "--patch", "8", "--batches", "1"] })
        {
            var (code, _, err) = Cli(args);
            Assert.Equal(CliApp.InvalidInput, code);
            Assert.Contains("case_0001_seg.mla (no case_0001.mla)", err, StringComparison.Ordinal);
        }
    }

    /// <summary>Writes case NAME.mla of <paramref name="dtype"/> with values that use the dtype's precision (int32 above
    /// 2^24, fractions, 64-bit integers above 2^53), and optionally a segmentation of <paramref name="segDtype"/>.</summary>
    private static void WriteTypedCase(string dir, string name, string dtype, string? segDtype = null)
    {
        long[] shape = [6, 10, 10];
        int n = 600;
        var options = new MLArrayCreateOptions { Spacing = [2, 1, 1], Layout = LayoutOptions.Patch(4, 8, 8) };
        MLArrayFile f = dtype switch
        {
            "uint8" => MLArrayFile.FromArray(Enumerable.Range(0, n).Select(i => (byte)(i * 37 % 256)).ToArray(), shape, options),
            "int16" => MLArrayFile.FromArray(Enumerable.Range(0, n).Select(i => (short)(i * 977 % 65536 - 32768)).ToArray(), shape, options),
            "int32" => MLArrayFile.FromArray(Enumerable.Range(0, n).Select(i => 16777217 + i * 2).ToArray(), shape, options),
            "float32" => MLArrayFile.FromArray(Enumerable.Range(0, n).Select(i => i * 0.1f + 0.3f).ToArray(), shape, options),
            "int64" => MLArrayFile.FromArray(Enumerable.Range(0, n).Select(i => (1L << 60) + i).ToArray(), shape, options),
            "uint64" => MLArrayFile.FromArray(Enumerable.Range(0, n).Select(i => ulong.MaxValue - (ulong)i).ToArray(), shape, options),
            _ => throw new ArgumentException(dtype),
        };
        using (f) f.Save(Path.Combine(dir, name + ".mla"));
        if (segDtype is null) return;
        var labels = Enumerable.Range(0, n).Select(i => i % 10 < 3 ? 1 + i % 3 : 0).ToArray();
        using var s = segDtype switch
        {
            "uint8" => MLArrayFile.FromArray(labels.Select(v => (byte)v).ToArray(), shape, options),
            "uint16" => MLArrayFile.FromArray(labels.Select(v => (ushort)(v * 1000)).ToArray(), shape, options),
            _ => throw new ArgumentException(segDtype),
        };
        s.Save(Path.Combine(dir, name + "_seg.mla"));
    }

    /// <summary>
    /// Cases of different image dtypes are written in the narrowest dtype holding every case's values exactly, named in
    /// the output; NumPy checks every sample against crops of the source arrays, value for value.
    /// </summary>
    [PythonTheory("numpy")]
    [InlineData("uint8,int16", "int16", null, null)]
    [InlineData("int16,float32", "float32", null, null)]
    [InlineData("int32,float32,int16", "float64", null, null)]
    [InlineData("uint8,uint8", "uint8", "uint8,uint16", "int32")]
    public void Sample_out_with_mixed_image_dtypes_writes_the_narrowest_exact_common_dtype(string dtypes, string expected, string? segDtypes, string? expectedSeg)
    {
        string ds = Path.Combine(_dir, "mixed");
        Directory.CreateDirectory(ds);
        var types = dtypes.Split(',');
        var segTypes = segDtypes?.Split(',');
        for (int k = 0; k < types.Length; k++) WriteTypedCase(ds, $"c{k}", types[k], segTypes?[k]);
        string outDir = Path.Combine(_dir, "out");
        var (code, output, err) = Cli("sample", ds, "--patch", "4", "--read-patch", "6,8,12", "--batches", "6", "--batch-size", "2", "--seed", "3", "--out", outDir);
        Assert.True(code == 0, err);
        Assert.Contains($"image dtype {expected} (", output, StringComparison.Ordinal);
        if (types.Distinct().Count() > 1) Assert.Contains("narrowest", output, StringComparison.Ordinal);
        if (expectedSeg is not null) Assert.Contains($"segmentation dtype {expectedSeg} (", output, StringComparison.Ordinal);
        foreach (var f in Directory.GetFiles(ds, "*.mla"))
            Assert.Equal(0, Cli("convert", f, Path.Combine(outDir, "src_" + Path.GetFileNameWithoutExtension(f) + ".npy")).Code);
        var (exit, stdout, stderr) = PythonScript.Run("numpy", """
            import json, sys, os
            import numpy as np
            out, want, want_seg = sys.argv[1], np.dtype(sys.argv[2]), sys.argv[3]
            def crop(a, start, size, pad, dtype):
                r = np.full(size, pad, dtype=dtype)
                src = tuple(slice(max(s, 0), min(s + z, n)) for s, z, n in zip(start, size, a.shape))
                dst = tuple(slice(max(s, 0) - s, min(s + z, n) - s) for s, z, n in zip(start, size, a.shape))
                if all(d.stop > d.start for d in dst):
                    r[dst] = a[src]
                return r
            n = 0
            seen = set()
            for line in open(os.path.join(out, "samples.jsonl")):
                s = json.loads(line)
                stem = s["case"][:-4]
                img = np.load(os.path.join(out, "src_" + stem + ".npy"))
                pi = np.load(os.path.join(out, s["image"]))
                assert pi.dtype == want, (pi.dtype, want)
                # exact: the source values widened without rounding (object arrays compare Python numbers exactly)
                assert np.array_equal(pi.astype(object), crop(img, s["start"], s["size"], 0, img.dtype).astype(object)), s
                if want_seg != "none":
                    seg = np.load(os.path.join(out, "src_" + stem + "_seg.npy"))
                    ps = np.load(os.path.join(out, s["seg"]))
                    assert ps.dtype == np.dtype(want_seg), (ps.dtype, want_seg)
                    assert np.array_equal(ps.astype(np.int64), crop(seg, s["start"], s["size"], -1, np.int64)), s
                seen.add(stem)
                n += 1
            print(f"ok {n} {len(seen)}")
            """, outDir, expected, expectedSeg ?? "none");
        Assert.True(exit == 0, stderr);
        Assert.StartsWith("ok 12 ", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("int64,uint64")]
    [InlineData("int64,float32")]
    public void Sample_refuses_image_dtypes_no_dtype_holds_exactly_naming_the_cases(string dtypes)
    {
        string ds = Path.Combine(_dir, "mixed");
        Directory.CreateDirectory(ds);
        var types = dtypes.Split(',');
        for (int k = 0; k < types.Length; k++) WriteTypedCase(ds, $"c{k}", types[k]);
        var (code, _, err) = Cli("sample", ds, "--patch", "4", "--batches", "1");
        Assert.Equal(CliApp.InvalidInput, code);
        Assert.Contains($"{types[0]}: c0.mla", err, StringComparison.Ordinal);
        Assert.Contains($"{types[1]}: c1.mla", err, StringComparison.Ordinal);
        Assert.Contains("no common dtype", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Sample_warns_about_label_weights_a_case_cannot_honour_and_refuses_a_label_no_case_holds()
    {
        string ds = MakeDataset(3);
        string seg1 = Path.Combine(ds, "case_0001_seg.mla");
        byte[] labels;
        MLArrayCreateOptions options;
        using (var f = MLArrayFile.Open(seg1))
        {
            labels = f.ToArray<byte>().Select(v => v == 2 ? (byte)0 : v).ToArray(); // case_0001 loses label 2
            options = new MLArrayCreateOptions { Spacing = [2, 1, 1], Layout = LayoutOptions.Patch(8, 8, 8) };
        }
        using (var f = MLArrayFile.FromArray(labels, [14, 26, 22], options)) f.Save(seg1);
        Assert.Equal(0, Cli("index", ds).Code);
        var (code, output, err) = Cli("sample", ds, "--patch", "8", "--batches", "4", "--batch-size", "3", "--label-weights", "0=1,1=1,2=2");
        Assert.True(code == 0, err);
        Assert.Contains("warning: --label-weights could not be honoured in 1 case(s)", output, StringComparison.Ordinal);
        Assert.Contains("case_0001.mla (label 2)", output, StringComparison.Ordinal);
        Assert.Contains("case 'case_0001.mla' has no voxel of weighted label 2", err, StringComparison.Ordinal);
        var json = Cli("sample", ds, "--patch", "8", "--batches", "4", "--batch-size", "3", "--label-weights", "1=1,2=2", "--json");
        using (var doc = JsonDocument.Parse(json.Out))
        {
            var absent = doc.RootElement.GetProperty("cases_without_weighted_labels");
            Assert.Equal([2], absent.GetProperty("case_0001.mla").EnumerateArray().Select(v => v.GetInt32()));
            Assert.Single(absent.EnumerateObject());
        }
        var nowhere = Cli("sample", ds, "--patch", "8", "--batches", "1", "--label-weights", "0=1,7=1");
        Assert.Equal(CliApp.InvalidInput, nowhere.Code);
        Assert.Contains("label 7, which no case of the dataset holds", nowhere.Err, StringComparison.Ordinal);
        Assert.Equal(CliApp.InvalidInput, Cli("sample", ds, "--patch", "8", "--label-weights", "1:2").Code);
    }

    [Fact]
    public void Index_is_resumable_and_force_recomputes()
    {
        string ds = MakeDataset(3);
        var (code, output, err) = Cli("index", ds, "--threads", "2");
        Assert.Equal(0, code);
        Assert.Contains("indexed 3, skipped 0", output, StringComparison.Ordinal);
        Assert.Contains("[3/3]", err, StringComparison.Ordinal);
        using (var f = MLArrayFile.Open(Path.Combine(ds, "case_0001_seg.mla")))
            Assert.Equal([1L, 2], ClassLocations.Read(f)!.Labels);
        Assert.Contains("indexed 0, skipped 3", Cli("index", ds).Out, StringComparison.Ordinal);
        Assert.Contains("indexed 3, skipped 0", Cli("index", ds, "--force").Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Sample_reports_and_bad_arguments_fail_with_messages()
    {
        string ds = MakeDataset(4);
        Assert.Equal(0, Cli("index", ds).Code);
        var (code, output, _) = Cli("sample", ds, "--patch", "8,8,8", "--batches", "6", "--batch-size", "3", "--oversample-foreground", "0.33", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(18, doc.RootElement.GetProperty("patches").GetInt32());
        Assert.Equal(6 / 18.0, doc.RootElement.GetProperty("forced_foreground_share").GetDouble(), 3); // last ⌈0.33·3⌉ = 1 per batch
        Assert.True(doc.RootElement.GetProperty("patches_per_s").GetDouble() > 0);

        var bench = Cli("bench", "--loader", ds, "--patch", "8", "--batches", "3");
        Assert.Equal(0, bench.Code);
        Assert.Contains("6 patches", bench.Out, StringComparison.Ordinal);
        // The file benchmark's help points at the loader benchmark, whose help names the tool as the other commands do.
        Assert.Contains("mlarray bench --loader DATASET", Cli("bench", "--help").Out, StringComparison.Ordinal);
        var help = Cli("bench", "--loader", ds, "--help");
        Assert.Contains("mlarray bench [options]", help.Out, StringComparison.Ordinal);
        Assert.Contains("--oversample-foreground", help.Out, StringComparison.Ordinal);

        var bad = Cli("sample", ds, "--patch", "8,8,8", "--rank", "4", "--world-size", "4");
        Assert.Equal(CliApp.InvalidInput, bad.Code);
        Assert.Contains("Rank must be in [0, WorldSize)", bad.Err, StringComparison.Ordinal);
        // one line, without what .NET appends to argument exceptions for programmers
        Assert.Equal("mlarray: Rank must be in [0, WorldSize) = [0, 4); got 4.", bad.Err.TrimEnd());
        Assert.Equal("mlarray: BatchSize must be ≥ 1.", Cli("sample", ds, "--patch", "8", "--batch-size", "0").Err.TrimEnd());
        var empty = Path.Combine(_dir, "empty");
        Directory.CreateDirectory(empty);
        Assert.Contains("no cases", Cli("sample", empty, "--patch", "8").Err, StringComparison.Ordinal);

        // --out: a second run into the same folder would leave the first run's extra files beside a samples.jsonl
        // that does not list them: refused, the folder untouched; a file is refused too
        string outDir = Path.Combine(_dir, "samples");
        Assert.Equal(0, Cli("sample", ds, "--patch", "8", "--batches", "3", "--out", outDir).Code);
        var written = Directory.GetFiles(outDir).Select(f => (f, File.GetLastWriteTimeUtc(f))).ToArray();
        Assert.Equal(1 + 3 * 2 * 2, written.Length);
        var again = Cli("sample", ds, "--patch", "8", "--batches", "1", "--out", outDir);
        Assert.Equal(CliApp.InvalidInput, again.Code);
        Assert.Contains("is not empty", again.Err, StringComparison.Ordinal);
        Assert.Equal(written, Directory.GetFiles(outDir).Select(f => (f, File.GetLastWriteTimeUtc(f))).ToArray());
        var onFile = Cli("sample", ds, "--patch", "8", "--batches", "1", "--out", Path.Combine(outDir, "samples.jsonl"));
        Assert.Equal(CliApp.InvalidInput, onFile.Code);
        Assert.Contains("is a file", onFile.Err, StringComparison.Ordinal);
    }

    /// <summary>
    /// Every sample written by <c>sample --out</c> is compared by NumPy with a crop of the source arrays (exported to
    /// .npy by <c>mlarray convert</c>) computed in Python from samples.jsonl: constant padding 0 (image) and −1 (seg).
    /// </summary>
    [PythonTheory("numpy")]
    [InlineData(false)]
    [InlineData(true)] // bool masks: labels 0/1, written as int16 as uint8 segmentations are (the −1 padding fits)
    public void Sample_out_matches_numpy_crops_of_the_source_arrays(bool boolSeg)
    {
        string ds = MakeDataset(3, boolSeg);
        var index = Cli("index", ds);
        Assert.True(index.Code == 0, index.Err);
        Assert.Contains(boolSeg ? ": 1 labels" : ": 2 labels", index.Err, StringComparison.Ordinal);
        string outDir = Path.Combine(_dir, "out");
        var (code, _, err) = Cli("sample", ds, "--patch", "8,12,12", "--read-patch", "10,16,16", "--batches", "10", "--batch-size", "2", "--seed", "7", "--out", outDir);
        Assert.True(code == 0, err);
        var lines = File.ReadAllLines(Path.Combine(outDir, "samples.jsonl"));
        Assert.Equal(20, lines.Length);
        using (var first = JsonDocument.Parse(lines[0]))
            Assert.Equal(["batch", "index", "case", "start", "size", "forced_foreground", "image", "seg"], first.RootElement.EnumerateObject().Select(p => p.Name));
        foreach (var f in Directory.GetFiles(ds, "*.mla"))
            Assert.Equal(0, Cli("convert", f, Path.Combine(outDir, "src_" + Path.GetFileNameWithoutExtension(f) + ".npy")).Code);
        string script = Path.Combine(_dir, "check.py");
        File.WriteAllText(script, """
            import json, sys, os
            import numpy as np
            out = sys.argv[1]
            def crop(a, start, size, pad):
                r = np.full(size, pad, dtype=np.int64)
                src = tuple(slice(max(s, 0), min(s + z, n)) for s, z, n in zip(start, size, a.shape))
                dst = tuple(slice(max(s, 0) - s, min(s + z, n) - s) for s, z, n in zip(start, size, a.shape))
                if all(d.stop > d.start for d in dst):
                    r[dst] = a[src]
                return r
            n = padded = forced_fg = forced = 0
            for line in open(os.path.join(out, "samples.jsonl")):
                s = json.loads(line)
                stem = s["case"][:-4]
                img = np.load(os.path.join(out, "src_" + stem + ".npy"))
                seg = np.load(os.path.join(out, "src_" + stem + "_seg.npy"))
                pi = np.load(os.path.join(out, s["image"]))
                ps = np.load(os.path.join(out, s["seg"]))
                assert pi.dtype == img.dtype, (pi.dtype, img.dtype)
                assert ps.dtype == np.int16 and seg.dtype == np.dtype(sys.argv[2]), (ps.dtype, seg.dtype)
                assert list(pi.shape) == s["size"] and list(ps.shape) == s["size"]
                assert np.array_equal(pi, crop(img, s["start"], s["size"], 0)), s
                assert np.array_equal(ps, crop(seg, s["start"], s["size"], -1)), s
                n += 1
                padded += int((ps == -1).any())
                if s["forced_foreground"]:
                    forced += 1
                    forced_fg += int((ps > 0).any())
            assert forced == n // 2 and forced_fg == forced, (forced, forced_fg, n)
            print(f"ok {n} {padded}")
            """.Replace("\n            ", "\n", StringComparison.Ordinal));
        var psi = new ProcessStartInfo(TestPython.Find("numpy")!) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(outDir);
        psi.ArgumentList.Add(boolSeg ? "bool" : "uint8");
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd(), stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, stderr);
        Assert.StartsWith("ok 20", stdout, StringComparison.Ordinal);
        Assert.NotEqual("0", stdout.Trim().Split(' ')[2]); // some patches were padded
    }
}
