using System.Text.Json;
using MLArray.Cli.Tests.Cli;
using MLArray.IO;
using MLArray.Cli.Commands;
using MLArray.Remote;
using MLArray.TestSupport;
using MLArray.Training.Data;

namespace MLArray.Cli.Tests.Remote;

/// <summary>
/// The CLI with <c>s3://</c> (s3rver) and <c>az://</c> (Azurite) inputs and outputs on 127.0.0.1, configured as users
/// configure it: the SDKs' environment variables.
/// </summary>
public sealed class ObjectStoreCliTests : IClassFixture<S3rverServer>, IClassFixture<AzuriteServer>, IDisposable
{
    private const string Container = "mlarray-cli";
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-store-cli-").FullName;

    public ObjectStoreCliTests(S3rverServer s3, AzuriteServer azurite)
    {
        // Process-wide, as a user's shell would set them; no other test of this assembly uses object stores.
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", S3rverServer.AccessKey);
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", S3rverServer.SecretKey);
        Environment.SetEnvironmentVariable("AWS_REGION", "us-east-1");
        Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL_S3", s3.Endpoint);
        Environment.SetEnvironmentVariable("AZURE_STORAGE_CONNECTION_STRING", azurite.ConnectionString);
        new Azure.Storage.Blobs.BlobContainerClient(azurite.ConnectionString, Container).CreateIfNotExists();
    }

    public void Dispose() => Directory.Delete(_dir, true);

    public static TheoryData<string> Stores => new() { $"s3://{S3rverServer.Bucket}/cli", $"az://{Container}/cli" };

    private string Npy(string name)
    {
        string path = Path.Combine(_dir, name);
        Assert.Equal(0, CliRun.Run("convert", RemoteTestFiles.Big, path).Code);
        return path;
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void Convert_uploads_and_header_validate_bench_and_convert_read_back(string prefix)
    {
        string npy = Npy("big.npy");
        string url = $"{prefix}/big.mla";
        var up = CliRun.Run("convert", npy, url, "--overwrite");
        Assert.True(up.Code == 0, up.Err);
        Assert.Contains($"wrote {url}", up.Out, StringComparison.Ordinal);

        var h = CliRun.Run("header", url, "--json");
        Assert.True(h.Code == 0, h.Err);
        using (var j = JsonDocument.Parse(h.Out))
        {
            // s3rver answers the suffix range sent with the first request with the first bytes (S3 would send the
            // tail): not used, the tail is read after (3 requests there, 2 on S3 and on Azurite).
            Assert.Equal(prefix.StartsWith("s3://", StringComparison.Ordinal) ? 3 : 2, j.RootElement.GetProperty("requests").GetInt64());
            Assert.Equal(NpyShape(npy), j.RootElement.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray());
        }
        var v = CliRun.Run("validate", url);
        Assert.True(v.Code == 0, v.Err + v.Out);
        var b = CliRun.Run("bench", url, "--count", "4", "--json");
        Assert.True(b.Code == 0, b.Err);
        using (var j = JsonDocument.Parse(b.Out))
        {
            Assert.True(j.RootElement.GetProperty("requests").GetInt64() > 2);
            Assert.True(j.RootElement.GetProperty("bytes").GetInt64() > 0);
        }
        string back = Path.Combine(_dir, "back.npy");
        var c = CliRun.Run("convert", url, back);
        Assert.True(c.Code == 0, c.Err);
        Assert.Equal(File.ReadAllBytes(npy), File.ReadAllBytes(back));

        var again = CliRun.Run("convert", npy, url);
        Assert.Equal(CliApp.InvalidInput, again.Code);
        Assert.Contains("already exists; pass --overwrite", again.Err, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void Failed_conversion_uploads_nothing_and_missing_objects_are_named(string prefix)
    {
        string bad = Path.Combine(_dir, "bad.npy");
        File.WriteAllBytes(bad, [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 10, 0, (byte)'{']);
        string url = $"{prefix}/bad.mla";
        var r = CliRun.Run("convert", bad, url);
        Assert.NotEqual(0, r.Code);
        var h = CliRun.Run("header", url);
        Assert.Equal(CliApp.Unreadable, h.Code);
        Assert.Contains(url, h.Err, StringComparison.Ordinal);
        Assert.Contains("404", h.Err, StringComparison.Ordinal);
        Assert.DoesNotContain(S3rverServer.SecretKey + "/", h.Err, StringComparison.Ordinal);
        Assert.DoesNotContain(AzuriteServer.Key, h.Err, StringComparison.Ordinal);

        string scheme = prefix[..prefix.IndexOf("://", StringComparison.Ordinal)];
        var nb = CliRun.Run("header", $"{scheme}://no-such-place/x.mla");
        Assert.Equal(CliApp.Unreadable, nb.Code);
        Assert.Contains($"{scheme}://no-such-place/x.mla", nb.Err, StringComparison.Ordinal);
        Assert.Contains("does not exist", nb.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Remote_to_remote_and_medical_outputs_go_through_local_files()
    {
        string npy = Npy("ct.npy");
        string s3 = $"s3://{S3rverServer.Bucket}/cli/ct.mla", az = $"az://{Container}/cli/ct.npy";
        Assert.Equal(0, CliRun.Run("convert", npy, s3, "--overwrite").Code);
        var r = CliRun.Run("convert", s3, az, "--overwrite");
        Assert.True(r.Code == 0, r.Err);
        string back = Path.Combine(_dir, "ct-back.npy");
        Assert.Equal(0, CliRun.Run("convert", $"s3://{S3rverServer.Bucket}/cli/ct.mla", back).Code);
        Assert.Equal(File.ReadAllBytes(npy), File.ReadAllBytes(back));

        var nii = CliRun.Run("convert", s3, $"az://{Container}/cli/ct.nii.gz", "--overwrite");
        Assert.True(nii.Code == 0, nii.Err);
        string png = Path.Combine(_dir, "slice.png"), localPng = Path.Combine(_dir, "local.png");
        var pv = CliRun.Run("preview", s3, "-o", png);
        Assert.True(pv.Code == 0, pv.Err);
        string localMla = Path.Combine(_dir, "ct.mla");
        Assert.Equal(0, CliRun.Run("convert", npy, localMla).Code);
        Assert.Equal(0, CliRun.Run("preview", localMla, "-o", localPng).Code);
        Assert.Equal(File.ReadAllBytes(localPng), File.ReadAllBytes(png));
        var batch = CliRun.Run("convert", npy, npy.Replace("ct.npy", "big.npy", StringComparison.Ordinal), "http://127.0.0.1:9/out?sig=secret", "--to", "mla");
        Assert.Equal(CliApp.InvalidInput, batch.Code);
        Assert.Contains("http(s) is read-only", batch.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", batch.Err, StringComparison.Ordinal);
    }

    /// <summary>Five small cases NAME.mla (and NAME_seg.mla with a label in a different slice each) in a new local folder.</summary>
    private string Cases(string name, int count, bool segmentations)
    {
        string dir = Path.Combine(_dir, name);
        Directory.CreateDirectory(dir);
        long[] shape = [6, 8, 8];
        for (int k = 0; k < count; k++)
        {
            var img = Enumerable.Range(0, 6 * 8 * 8).Select(i => (short)(i * (k + 1))).ToArray();
            using (var f = MLArrayFile.FromArray(img, shape))
                f.Save(Path.Combine(dir, $"case_{k:D2}.mla"));
            if (!segmentations)
                continue;
            var seg = new byte[img.Length];
            for (int i = 0; i < seg.Length; i++)
                seg[i] = (byte)(i % 8 < 3 && i / 64 == k % 6 ? 1 : i % 8 == 7 ? 2 : 0);
            using (var f = MLArrayFile.FromArray(seg, shape))
                f.Save(Path.Combine(dir, $"case_{k:D2}_seg.mla"));
        }
        return dir;
    }

    /// <summary>Uploads every file of a local folder under an object-store prefix.</summary>
    private static void UploadAll(string dir, string prefix)
    {
        foreach (var f in Directory.GetFiles(dir))
            CliInput.Upload(f, $"{prefix}/{Path.GetFileName(f)}", CancellationToken.None);
    }

    /// <summary>An object's bytes (every read checked against its ETag).</summary>
    private static byte[] Download(string url)
    {
        using var source = CliInput.Block(() => CliInput.OpenSourceAsync(url));
        var bytes = new byte[source.Length];
        CliInput.Block(() => source.ReadAsync(0, bytes).AsTask());
        return bytes;
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void Batch_convert_into_a_prefix_uploads_every_output_and_shards_partition_the_inputs(string prefix)
    {
        string inDir = Cases("batch-in", 5, segmentations: false);
        string outUrl = $"{prefix}/batch-out/";
        for (int i = 0; i < 2; i++)
        {
            var r = CliRun.Run("convert", inDir, outUrl, "--to", "nhdr", "--shard", $"{i}/2");
            Assert.True(r.Code == 0, r.Err + r.Out);
            Assert.Contains($"shard {i}/2: {(i == 0 ? 3 : 2)} of 5 inputs", r.Out, StringComparison.Ordinal);
            Assert.Contains($"{(i == 0 ? 3 : 2)} of {(i == 0 ? 3 : 2)} converted, 0 failed", r.Out, StringComparison.Ordinal);
        }
        // A detached NRRD is two objects (the data file uploaded before its header); the same bytes as a local batch.
        string local = Path.Combine(_dir, "batch-local");
        Assert.Equal(0, CliRun.Run("convert", inDir, local, "--to", "nhdr").Code);
        var names = Directory.GetFiles(local).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(10, names.Length);
        Assert.Equal(names.Select(n => outUrl + n), CliInput.List(outUrl));
        foreach (var n in names.Where(n => n.EndsWith(".nhdr", StringComparison.Ordinal)))
            Assert.Equal(File.ReadAllText(Path.Combine(local, n)), System.Text.Encoding.UTF8.GetString(Download(outUrl + n)));

        var again = CliRun.Run("convert", inDir, outUrl.TrimEnd('/'), "--to", "nhdr");
        Assert.Equal(CliApp.InvalidInput, again.Code);
        Assert.Contains("10 output files already exist", again.Err, StringComparison.Ordinal);
        Assert.Contains(outUrl + "case_00.raw.gz", again.Err, StringComparison.Ordinal);
        var over = CliRun.Run("convert", inDir, outUrl, "--to", "nhdr", "--shard", "1/2", "--overwrite");
        Assert.True(over.Code == 0, over.Err);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void Index_of_a_dataset_in_an_object_store_writes_class_locations_back_resumably_by_shard(string prefix)
    {
        string ds = Cases("index-ds", 3, segmentations: true), url = $"{prefix}/index-ds";
        UploadAll(ds, url);
        bool[] Indexed() => Enumerable.Range(0, 3).Select(k =>
        {
            using var f = CliInput.OpenFile($"{url}/case_{k:D2}_seg.mla");
            return ClassLocations.IsStored(f);
        }).ToArray();

        var r0 = CliRun.Run("index", url + "/", "--shard", "0/2");
        Assert.True(r0.Code == 0, r0.Err + r0.Out);
        Assert.Contains("shard 0/2: 2 of 3 segmentations", r0.Out, StringComparison.Ordinal);
        Assert.Contains("indexed 2, skipped 0", r0.Out, StringComparison.Ordinal);
        Assert.Equal([true, false, true], Indexed());
        var r1 = CliRun.Run("index", url, "--shard", "1/2");
        Assert.True(r1.Code == 0, r1.Err + r1.Out);
        Assert.Contains("indexed 1, skipped 0", r1.Out, StringComparison.Ordinal);
        Assert.Contains("indexed 0, skipped 3", CliRun.Run("index", url).Out, StringComparison.Ordinal);

        // The same locations as a local index of the same files, and the arrays untouched.
        Assert.Equal(0, CliRun.Run("index", ds).Code);
        for (int k = 0; k < 3; k++)
        {
            using var remote = CliInput.OpenFile($"{url}/case_{k:D2}_seg.mla");
            using var local = MLArrayFile.Open(Path.Combine(ds, $"case_{k:D2}_seg.mla"));
            Assert.Equal(local.Meta.ToMetaValue().ToJson(), remote.Meta.ToMetaValue().ToJson());
            Assert.Equal(local.ToArray<byte>(), remote.ToArray<byte>());
            Assert.Equal(2, ClassLocations.Read(remote)!.Labels.Count);
        }
        var forced = CliRun.Run("index", url, "--force");
        Assert.Contains("indexed 3, skipped 0", forced.Out, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void A_local_manifest_of_object_store_cases_is_indexed_and_sampled_as_the_local_files(string prefix)
    {
        string ds = Cases("manifest-ds", 3, segmentations: true), url = $"{prefix}/manifest-ds";
        UploadAll(ds, url);
        string localManifest = Path.Combine(ds, "dataset.json");
        using (var d = PatchDataset.FromFolder(ds)) d.WriteManifest(localManifest, folds: 2, seed: 1);
        string remoteManifest = Path.Combine(_dir, "remote-dataset.json");
        File.WriteAllText(remoteManifest, File.ReadAllText(localManifest).Replace("\"case_", $"\"{url}/case_", StringComparison.Ordinal));

        var index = CliRun.Run("index", remoteManifest);
        Assert.True(index.Code == 0, index.Err + index.Out);
        Assert.Contains("indexed 3, skipped 0", index.Out, StringComparison.Ordinal);
        Assert.Equal(0, CliRun.Run("index", localManifest).Code);

        string[] args = ["--patch", "4,6,6", "--batch-size", "2", "--batches", "3", "--oversample-foreground", "0.5", "--seed", "7"];
        string outRemote = Path.Combine(_dir, "out-remote"), outLocal = Path.Combine(_dir, "out-local");
        var remote = CliRun.Run(["sample", remoteManifest, .. args, "--out", outRemote]);
        Assert.True(remote.Code == 0, remote.Err + remote.Out);
        var local = CliRun.Run(["sample", localManifest, .. args, "--out", outLocal]);
        Assert.True(local.Code == 0, local.Err + local.Out);
        // the same samples (cases named by their URLs there) and byte-identical patches
        Assert.Equal(File.ReadAllText(Path.Combine(outLocal, "samples.jsonl")),
            File.ReadAllText(Path.Combine(outRemote, "samples.jsonl")).Replace($"{url}/", "", StringComparison.Ordinal));
        var files = Directory.GetFiles(outLocal, "*.npy").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(12, files.Length);
        foreach (var f in files)
            Assert.Equal(File.ReadAllBytes(Path.Combine(outLocal, f!)), File.ReadAllBytes(Path.Combine(outRemote, f!)));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void Index_refuses_to_write_over_a_segmentation_replaced_after_it_was_read(string prefix)
    {
        string ds = Cases("index-race", 2, segmentations: true), url = $"{prefix}/index-race";
        UploadAll(ds, url);
        string seg = $"{url}/case_00_seg.mla", replacement = Path.Combine(ds, "case_01_seg.mla");
        var e = Assert.Throws<MLArrayRemoteChangedException>(() =>
            RemoteIndex.IndexOne(seg, force: false, seed: 1, CancellationToken.None, beforeWriteBack: () => CliInput.Upload(replacement, seg, CancellationToken.None)));
        Assert.Contains(seg, e.Message, StringComparison.Ordinal);
        Assert.Contains("changed since it was read", e.Message, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllBytes(replacement), Download(seg)); // the other writer's object, whole; nothing of ours

        // A run after the race indexes the current object.
        var r = CliRun.Run("index", url);
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("indexed 2, skipped 0", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Index_refuses_http_datasets_and_cases_as_read_only()
    {
        var r = CliRun.Run("index", "http://127.0.0.1:9/ds/?sig=secret");
        Assert.Equal(CliApp.InvalidInput, r.Code);
        Assert.Contains("http(s) is read-only", r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", r.Err, StringComparison.Ordinal);

        string manifest = Path.Combine(_dir, "dataset.json");
        File.WriteAllText(manifest, """{"format": "mlarray-dataset", "version": 1, "cases": [{"image": "http://127.0.0.1:9/a.mla", "seg": "http://127.0.0.1:9/a_seg.mla"}]}""");
        var m = CliRun.Run("index", manifest);
        Assert.Equal(CliApp.Unreadable, m.Code);
        Assert.Contains("is read-only (http(s))", m.Err, StringComparison.Ordinal);
        Assert.Contains("indexed 0, skipped 0 already indexed, 0 without segmentation, 1 failed", m.Out, StringComparison.Ordinal);
    }

    private static long[] NpyShape(string path) => MLArray.IO.Npy.Read(path).Shape;

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task View_serves_an_objects_slices_as_the_local_files(string prefix)
    {
        string npy = Npy("view.npy"), url = $"{prefix}/view.mla", local = Path.Combine(_dir, "view.mla");
        Assert.Equal(0, CliRun.Run("convert", npy, url, "--overwrite").Code);
        Assert.Equal(0, CliRun.Run("convert", npy, local).Code);
        await using var run = await MLArray.Cli.Tests.Viewer.ViewerRun.StartAsync("view", url);
        Assert.Contains($"serving {url} on 127.0.0.1 only", run.Out(), StringComparison.Ordinal);
        var u = new Uri(run.Url);
        string api = $"{u.GetLeftPart(UriPartial.Authority)}/api", t = u.Query.TrimStart('?');
        using var img = MLArrayFile.Open(local);
        var g = MLArray.Display.DisplayGeometry.Of(img);
        var l = g.Layout(MLArray.Display.SliceView.Axial);
        using var http = new HttpClient();
        byte[] png = await http.GetByteArrayAsync(new Uri($"{api}/slice?{t}&view=axial&index={l.Slices / 2}&lo=0&hi=1"));
        var expected = MLArray.Display.SliceRenderer.Render(MLArray.Display.SliceRenderer.Read(img, g, l, l.Slices / 2, []), l, MLArray.Display.RenderMode.Grey, 0, 1).ToPng();
        Assert.Equal(expected, png);
        Assert.Equal(0, await run.StopAsync());
    }
}
