using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace MLArray.Packaging.Tests;

/// <summary>
/// The <c>mlarray</c> tool installed from the feed with <c>dotnet tool install</c> (on linux-x64 the Native AOT package)
/// runs a representative set of commands on real data and writes, byte for byte, what the portable package
/// (MLArray.Cli.any through <c>dotnet</c>, the JIT-compiled reference) writes.
/// </summary>
[Collection(PackedFeedCollection.Name)]
public sealed class InstalledToolTests(PackedFeed feed) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-tooltest-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Data(params string[] parts) => Path.Combine([RepoRoot.Path, "tests", "data", .. parts]);

    /// <summary>The two forms compared: the installed tool and the portable package run through <c>dotnet</c>.</summary>
    private (string Name, string FileName, string[] Prefix)[] Forms() =>
        [("installed", feed.Tool.Exe, []), ("portable", "dotnet", [feed.Tool.PortableDll])];

    private ProcessResult Run((string Name, string FileName, string[] Prefix) form, params string[] args) =>
        Dotnet.Run(_dir, [.. form.Prefix, .. args], feed.ConsumerEnvironment(), fileName: form.FileName, timeoutSeconds: 300);

    [Fact]
    public void Installed_tool_is_the_package_for_this_platform()
    {
        InstalledTool tool = feed.Tool;
        bool linuxX64 = System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier == "linux-x64";
        string expected = linuxX64 ? "mlarray.cli.linux-x64" : "mlarray.cli.any";
        Assert.True(Directory.Exists(Path.Combine(tool.Store, expected)),
            $"{expected} not installed; the store has: {string.Join(", ", Directory.GetDirectories(tool.Store).Select(Path.GetFileName))}");
        var files = Directory.GetFiles(Path.Combine(tool.Store, expected), "*", SearchOption.AllDirectories);
        if (!linuxX64)
        {
            Assert.Contains(files, f => Path.GetFileName(f) == "MLArray.Cli.dll");
            return;
        }

        // Native AOT: one ELF executable (no managed assemblies, no runtimeconfig: the shared runtime is not used).
        string exe = Assert.Single(files, f => Path.GetFileName(f) == "MLArray.Cli");
        Assert.Equal("\u007fELF"u8.ToArray(), File.ReadAllBytes(exe)[..4]);
        Assert.DoesNotContain(files, f => f.EndsWith(".dll", StringComparison.Ordinal) || f.EndsWith(".runtimeconfig.json", StringComparison.Ordinal));
        var version = Dotnet.Run(_dir, ["--version"], feed.ConsumerEnvironment(), fileName: tool.Exe);
        Assert.True(version.ExitCode == 0, version.Output);
        Assert.StartsWith(feed.Version, version.Output.Trim(), StringComparison.Ordinal);
    }

    /// <summary>
    /// header, validate (a good and a corrupt file), convert (NIfTI, NRRD and .npy to .mla; .mla to .npy, NIfTI and NRRD),
    /// migrate, preview, index and sample on a small dataset, predict with a test ONNX model: same exit codes, same
    /// printed header and validation, same output files.
    /// </summary>
    [Fact]
    public void Commands_write_the_same_bytes_as_the_portable_package()
    {
        string inputs = Directory.CreateDirectory(Path.Combine(_dir, "in")).FullName;
        string imageNrrd = Path.Combine(inputs, "ct.nrrd"), segNrrd = Path.Combine(inputs, "ct_seg.nrrd");
        WriteDatasetCase(imageNrrd, segNrrd);
        string nifti = Data("medical", "niivue", "shear.nii.gz");
        string ct = Data("mla", "head_ct_int16_lps.mla");
        var printed = new Dictionary<string, List<string>>();
        foreach (var form in Forms())
        {
            string o = Directory.CreateDirectory(Path.Combine(_dir, form.Name)).FullName;
            string ds = Directory.CreateDirectory(Path.Combine(o, "ds")).FullName;
            var lines = printed[form.Name] = [];
            void Ok(params string[] args)
            {
                var r = Run(form, args);
                Assert.True(r.ExitCode == 0, $"{form.Name}: mlarray {string.Join(' ', args)} exited with {r.ExitCode}:\n{r.Output}");
            }

            var header = Run(form, "header", ct, "--json");
            Assert.True(header.ExitCode == 0, header.Output);
            lines.Add(header.Output);
            foreach (string file in (string[])[Data("mla", "v0023_image_f32_3d.mla"), Data("mla", "corrupt_bad_chunk_offset.mla")])
            {
                var v = Run(form, "validate", file);
                lines.Add($"{v.ExitCode}: {v.Output}");
            }

            Ok("convert", nifti, Path.Combine(o, "nifti.mla"));
            Ok("convert", imageNrrd, Path.Combine(ds, "case_0000.mla"));
            Ok("convert", segNrrd, Path.Combine(ds, "case_0000_seg.mla"));
            Ok("convert", Data("npy", "be_f8_fortran_2x3.npy"), Path.Combine(o, "npy.mla"));
            Ok("convert", ct, Path.Combine(o, "ct.npy"));
            Ok("convert", ct, Path.Combine(o, "ct.nii.gz"));
            Ok("convert", ct, Path.Combine(o, "ct.nrrd"));
            Ok("migrate", Data("mla", "v0023_image_f32_3d.mla"), "-o", Path.Combine(o, "migrated.mla"));
            Ok("preview", ct, "-o", Path.Combine(o, "ct.png"));
            Ok("preview", Path.Combine(ds, "case_0000_seg.mla"), "--axis", "coronal", "-o", Path.Combine(o, "seg.png"));
            File.Copy(Path.Combine(ds, "case_0000.mla"), Path.Combine(ds, "case_0001.mla"));
            File.Copy(Path.Combine(ds, "case_0000_seg.mla"), Path.Combine(ds, "case_0001_seg.mla"));
            Ok("index", ds);
            Ok("sample", ds, "--patch", "8,12,12", "--batches", "3", "--batch-size", "2", "--seed", "7", "--out", Path.Combine(o, "samples"));
            Ok("predict", Data("onnx", "seg_pointwise.onnx"), Path.Combine(ds, "case_0000.mla"), "-o", Path.Combine(o, "pred.mla"), "--patch", "8", "--argmax");
        }

        Assert.Equal(printed["portable"], printed["installed"]);
        Assert.StartsWith("0: ", printed["installed"][1], StringComparison.Ordinal);
        Assert.StartsWith("2: ", printed["installed"][2], StringComparison.Ordinal);
        string[] Files(string form) => Directory.GetFiles(Path.Combine(_dir, form), "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Path.Combine(_dir, form), f)).Order(StringComparer.Ordinal).ToArray();
        string[] written = Files("installed");
        Assert.Equal(Files("portable"), written);
        Assert.Contains(Path.Combine("samples", "samples.jsonl"), written);
        Assert.Equal(4, written.Count(f => f.StartsWith("ds", StringComparison.Ordinal))); // two cases, indexed in place
        Assert.Equal(3 * 2 * 2 + 1, written.Count(f => f.StartsWith("samples", StringComparison.Ordinal))); // image + seg per sample, samples.jsonl
        foreach (string f in written)
            Assert.True(File.ReadAllBytes(Path.Combine(_dir, "installed", f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(_dir, "portable", f))),
                $"{f}: the installed tool wrote other bytes than the portable package");
        AssertNiftiShape(nifti, Path.Combine(_dir, "installed", "nifti.mla"));
    }

    /// <summary><c>mlarray view</c> (Kestrel) answers the page, the volume's info and a slice as the portable package does, and stops on SIGTERM.</summary>
    [Fact]
    public async Task View_answers_http_requests_like_the_portable_package()
    {
        string ct = Data("mla", "head_ct_int16_lps.mla");
        var bodies = new Dictionary<string, List<string>>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        foreach (var form in Forms())
        {
            var psi = new ProcessStartInfo(form.FileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in (string[])[.. form.Prefix, "view", ct]) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            try
            {
                string first = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(120)) ?? "";
                Assert.StartsWith("mlarray view: http://127.0.0.1:", first, StringComparison.Ordinal);
                var url = new Uri(first["mlarray view: ".Length..]);
                string token = url.Query;
                var got = bodies[form.Name] = [];
                foreach (string path in (string[])["/", "/api/info", "/api/slice"])
                {
                    string query = path == "/api/slice" ? token + "&view=axial&index=3&frames=" : token;
                    using var r = await http.GetAsync(new Uri(url, path + query));
                    byte[] body = await r.Content.ReadAsByteArrayAsync();
                    got.Add($"{path} {(int)r.StatusCode} {r.Content.Headers.ContentType} {body.Length} {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(body))}");
                }
                using (var denied = await http.GetAsync(new Uri(url, "/api/info")))
                    got.Add($"no token {(int)denied.StatusCode}");
                using (var info = JsonDocument.Parse(await http.GetStringAsync(new Uri(url, "/api/info" + token))))
                    Assert.Equal("head_ct_int16_lps.mla", info.RootElement.GetProperty("file").GetString());
            }
            finally
            {
                Terminate(p);
            }

            Assert.True(p.WaitForExit(60_000), $"{form.Name}: mlarray view did not stop after SIGTERM");
            string rest = await p.StandardOutput.ReadToEndAsync();
            Assert.Contains("mlarray view: stopped.", rest, StringComparison.Ordinal);
            bodies[form.Name].Add($"exit {p.ExitCode}; {await stderr}");
        }

        Assert.Equal(bodies["portable"], bodies["installed"]);
        Assert.Contains(bodies["installed"], b => b.StartsWith("/api/slice 200 image/png", StringComparison.Ordinal));
        Assert.Contains("no token 403", bodies["installed"]);
    }

    /// <summary>SIGTERM (as a service manager stops it) on Unix; elsewhere a kill.</summary>
    private static void Terminate(Process p)
    {
        if (p.HasExited) return;
        if (OperatingSystem.IsWindows())
        {
            p.Kill(entireProcessTree: true);
            return;
        }

        using var kill = Process.Start("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
    }

    /// <summary>
    /// A 22×26×14 CT-like int16 image (body ellipse in air, deterministic noise) and its uint8 segmentation with two
    /// boxes of labels 1 and 2, as raw NRRD files with 1×1×2 spacing.
    /// </summary>
    private static void WriteDatasetCase(string imagePath, string segPath)
    {
        const int nx = 22, ny = 26, nz = 14;
        var image = new byte[nx * ny * nz * 2];
        var seg = new byte[nx * ny * nz];
        uint s = 2463534242;
        for (int i = 0; i < seg.Length; i++)
        {
            int z = i / (nx * ny), y = i / nx % ny, x = i % nx;
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            bool body = Math.Pow((y - 13) / 11.0, 2) + Math.Pow((x - 11) / 9.0, 2) < 1;
            BitConverter.TryWriteBytes(image.AsSpan(2 * i), (short)((body ? 40 : -1000) + (int)(s % 61) - 30));
            if (z is >= 3 and < 6 && y is >= 5 and < 10 && x is >= 4 and < 8) seg[i] = 1;
            if (z is >= 9 and < 11 && y is >= 15 and < 19 && x is >= 12 and < 17) seg[i] = 2;
        }

        static byte[] Nrrd(string type, byte[] data) =>
            [.. Encoding.ASCII.GetBytes($"NRRD0004\ntype: {type}\ndimension: 3\nsizes: {nx} {ny} {nz}\nspacings: 1 1 2\nencoding: raw\nendian: little\n\n"), .. data];
        File.WriteAllBytes(imagePath, Nrrd("int16", image));
        File.WriteAllBytes(segPath, Nrrd("uint8", seg));
    }

    /// <summary>The stored shape of a converted NIfTI is the NIfTI header's dims reversed (the voxels, uint8 with a scl_slope, stored as float32).</summary>
    private void AssertNiftiShape(string nii, string mla)
    {
        var header = Dotnet.Run(_dir, ["header", mla, "--json"], feed.ConsumerEnvironment(), fileName: feed.Tool.Exe);
        Assert.True(header.ExitCode == 0, header.Output);
        using var json = JsonDocument.Parse(header.Output);
        Assert.Equal("<f4", json.RootElement.GetProperty("dtype").GetString());
        // NIfTI-1 header: dim[0..7] are int16 at byte 40 (little-endian here); datatype at 70, scl_slope at 112
        var hdr = new byte[348];
        using (var gz = new System.IO.Compression.GZipStream(File.OpenRead(nii), System.IO.Compression.CompressionMode.Decompress))
            gz.ReadExactly(hdr);
        Assert.Equal(2, BitConverter.ToInt16(hdr, 70));
        Assert.NotEqual(0f, BitConverter.ToSingle(hdr, 112));
        int nd = BitConverter.ToInt16(hdr, 40);
        long[] dims = Enumerable.Range(1, nd).Select(i => (long)BitConverter.ToInt16(hdr, 40 + (2 * i))).Reverse().ToArray();
        Assert.Equal(dims, json.RootElement.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray());
    }
}
