using MLArray.TestSupport;
using System.ComponentModel;
using System.Diagnostics;
using MLArray.Blosc2;
using MLArray.Metadata;
using MLArray.Metadata.Migration;
using MLArray.Metadata.Payload;
using Xunit.Abstractions;

namespace MLArray.Tests.Metadata;

/// <summary>
/// Payloads we write must be readable by plain CPython (no mlarray, no numpy, no msgpack):
/// <c>pickle.loads(gzip.decompress(payload))</c>. Runs where <c>python3</c> is on the PATH; elsewhere it writes a
/// visible NOT RUN message.
/// </summary>
public sealed class PythonInteropTests(ITestOutputHelper output)
{
    // reads the msgpack bin header by hand, then gzip + pickle; prints JSON with NaN/Infinity as strings and checks
    // that only plain types occur (non-str keys, kept in source/extra, shown as json.dumps writes them) and that every
    // key is one Meta.from_mapping accepts
    private const string Script = """
import pickle, gzip, sys, json, math
TOP = ["source","extra","spatial","stats","bbox","is_seg","blosc2","_has_array","_image_meta_format","_mlarray_version"]
SUB = {"spatial": ["spacing","origin","direction","affine","shape","axis_labels","coord_system","axis_units","_num_spatial_axes","_num_non_spatial_axes"],
       "stats": ["min","max","mean","median","std","percentile_min","percentile_max","percentile_mean","percentile_median","percentile_std","percentile_min_key","percentile_max_key"],
       "bbox": ["bboxes","scores","labels"], "blosc2": ["chunk_size","block_size","patch_size","cparams","dparams"]}
def plain(v):
    if isinstance(v, float):
        if math.isnan(v): return "NaN"
        if math.isinf(v): return "Infinity" if v > 0 else "-Infinity"
        return v
    if type(v) in (int, str, bool) or v is None: return v
    if type(v) is list: return [plain(x) for x in v]
    if type(v) is dict:
        assert all(type(k) in (str, int, float, bool, type(None)) for k in v), "key type"
        return {(k if type(k) is str else next(iter(json.loads(json.dumps({k: 0}))))): plain(x) for k, x in v.items()}
    raise TypeError("not plain data: %r" % type(v))
for path in sys.argv[1:]:
    b = open(path, "rb").read()
    t = b[0]
    n, h = {0xc4: (b[1], 2), 0xc5: (int.from_bytes(b[1:3], "big"), 3), 0xc6: (int.from_bytes(b[1:5], "big"), 5)}[t]
    assert len(b) == h + n
    m = pickle.loads(gzip.decompress(b[h:]))
    assert type(m) is dict and list(m) == TOP, list(m)
    for ns, keys in SUB.items():
        assert list(m[ns]) == keys, (ns, list(m[ns]))
    print(json.dumps(plain(m)))
""";

    [PythonFact]
    public async Task CPython_ReadsOurPayloads_AsTheMigratedMapping()
    {
        string python = TestPython.Find("")!;
        string dir = Path.Combine(Path.GetTempPath(), $"mla-py-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var entries = MlaCorpus.Entries.Where(e => e.Kind == "valid").ToArray();
            var payloadFiles = new List<string>();
            foreach (var e in entries)
            {
                // corpus file -> our reader -> our writer (a new .mla) -> the stored vlmeta content of that file
                string mla = Path.Combine(dir, e.File);
                using (var a = B2ndArray.Open(MlaCorpus.PathOf(e.File)))
                {
                    var current = MLArrayMetadata.Read(a)!.Current;
                    B2ndFrameEditor.RewriteVlMeta(MlaCorpus.PathOf(e.File), mla, new Dictionary<string, byte[]?> { [MLArrayMetadata.VlMetaName] = MLArrayMetadata.Encode(current) });
                }
                using var b = B2ndArray.Open(mla);
                string payload = Path.ChangeExtension(mla, ".payload");
                File.WriteAllBytes(payload, b.GetVlMeta(MLArrayMetadata.VlMetaName)!);
                payloadFiles.Add(payload);
            }
            var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add("-I");
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add(Script);
            foreach (var p in payloadFiles) psi.ArgumentList.Add(p);
            Process proc;
            try
            {
                proc = Process.Start(psi)!;
            }
            catch (Win32Exception ex)
            {
                output.WriteLine($"NOT RUN: python3 could not be started ({ex.Message}).");
                return;
            }
            using (proc)
            {
                var stdoutTask = proc.StandardOutput.ReadToEndAsync();
                var stderrTask = proc.StandardError.ReadToEndAsync();
                using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
                await proc.WaitForExitAsync(cts.Token);
                string stdout = await stdoutTask, stderr = await stderrTask;
                Assert.True(proc.ExitCode == 0, $"python3 failed: {stderr}");
                var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.Equal(entries.Length, lines.Length);
                for (int i = 0; i < entries.Length; i++)
                    MetaAssert.SameOrdered(entries[i].Migrated, MetaValue.FromJson(lines[i]), $"[{entries[i].File}]");
                output.WriteLine($"CPython ({python}) decoded {lines.Length} payloads written by MLArray.NET with pickle.loads(gzip.decompress(...)).");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
