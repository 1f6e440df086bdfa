using System.Text.Json;
using MLArray.Cli.Tests.Cli;
using MLArray.IO;
using MLArray.TestSupport;

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
        var batch = CliRun.Run("convert", npy, npy.Replace("ct.npy", "big.npy", StringComparison.Ordinal), "s3://b/out", "--to", "mla");
        Assert.Equal(CliApp.InvalidInput, batch.Code);
        Assert.Contains("batch writes into a local folder", batch.Err, StringComparison.Ordinal);
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
