using System.Globalization;
using System.Net;
using System.Text.Json;
using MLArray.Cli.Viewer;
using MLArray.Display;
using MLArray.Layout;
using MLArray.Tests.Remote;

namespace MLArray.Cli.Tests.Viewer;

/// <summary><c>mlarray view https://...</c>: the image and segmentation read lazily from a real nginx on 127.0.0.1.</summary>
public sealed class ViewRemoteTests(NginxServer nginx) : IClassFixture<NginxServer>, IDisposable
{
    private readonly ViewerCase _case = new();

    public void Dispose() => _case.Dispose();

    /// <summary>A float32 [64, 128, 128] volume in 32 chunks of [8, 64, 64] (blocks [8, 32, 32]): one axial slice touches 4 of them.</summary>
    private string Chunked()
    {
        string path = Path.Combine(_case.Dir, "chunked.mla");
        var v = new float[64 * 128 * 128];
        var rng = new Random(7);
        for (int i = 0; i < v.Length; i++) v[i] = (i % 128) + (i / 128 % 128 * 2) + (i / (128 * 128) * 3) + (float)rng.NextDouble();
        using var f = MLArrayFile.FromArray(v, [64, 128, 128], new MLArrayCreateOptions
        {
            Spacing = [2.0, 1.0, 1.0],
            Layout = LayoutOptions.Manual([8, 64, 64], [8, 32, 32]),
        });
        f.Save(path);
        return path;
    }

    [Fact]
    public async Task A_url_is_viewed_lazily_and_renders_as_the_local_file()
    {
        string local = Chunked();
        var url = nginx.Serve(local, "view/chunked.mla");
        await using var server = await ViewerServer.StartAsync(ViewerSession.Open(url + "?sig=SECRET42", null), 0);
        using var http = new HttpClient();
        string b = $"http://127.0.0.1:{server.Port}", t = "token=" + server.Token;

        using (var info = JsonDocument.Parse(await http.GetByteArrayAsync(new Uri($"{b}/api/info?{t}"))))
        {
            Assert.Equal("chunked.mla", info.RootElement.GetProperty("file").GetString());
            Assert.Equal(64, info.RootElement.GetProperty("views").GetProperty("axial").GetProperty("slices").GetInt32());
        }

        // the page's first picture (info + the middle axial slice) fetched a fraction of the file
        byte[] png = await http.GetByteArrayAsync(new Uri($"{b}/api/slice?{t}&view=axial&index=32&lo=0&hi=400"));
        var traffic = server.Session.Image.RemoteTraffic!;
        long fileBytes = new FileInfo(local).Length;
        Assert.True(traffic.Bytes < fileBytes / 3, $"{traffic.Bytes} of {fileBytes} bytes fetched for the first slice");

        using var img = MLArrayFile.Open(local);
        var g = DisplayGeometry.Of(img);
        byte[] Expected(SliceView v, long i)
        {
            var l = g.Layout(v);
            return SliceRenderer.Render(SliceRenderer.Read(img, g, l, i, []), l, RenderMode.Grey, 0, 400).ToPng();
        }

        Assert.Equal(Expected(SliceView.Axial, 32), png);
        Assert.Equal(Expected(SliceView.Sagittal, 100), await http.GetByteArrayAsync(new Uri($"{b}/api/slice?{t}&view=sagittal&index=100&lo=0&hi=400")));
        Assert.Equal(Expected(SliceView.Coronal, 5), await http.GetByteArrayAsync(new Uri($"{b}/api/slice?{t}&view=coronal&index=5&lo=0&hi=400")));
    }

    [Fact]
    public async Task A_url_replaced_while_viewed_answers_409_saying_so()
    {
        var url = nginx.Serve(Chunked(), "view/replaced.mla");
        await using var server = await ViewerServer.StartAsync(ViewerSession.Open(url.ToString(), null), 0);
        using var http = new HttpClient();
        string b = $"http://127.0.0.1:{server.Port}", t = "token=" + server.Token;
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri($"{b}/api/slice?{t}&view=axial&index=0"))).StatusCode);

        nginx.Serve(_case.Image, "view/replaced.mla"); // another file at the URL: another ETag
        var answer = await http.GetAsync(new Uri($"{b}/api/slice?{t}&view=axial&index=60")); // chunks not fetched yet
        string text = await answer.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Conflict, answer.StatusCode);
        Assert.Contains("replaced", text, StringComparison.Ordinal);
        Assert.Contains("start it again", text, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri($"{b}/api/slice?{t}&view=axial&index=0"))).StatusCode); // the slice read before is still shown
    }

    [Fact]
    public async Task The_cli_prints_a_url_without_its_user_info()
    {
        var image = nginx.Serve(_case.Image, "view/userinfo.mla");
        await using var run = await ViewerRun.StartAsync("view", $"http://alice:PASSW0RD@127.0.0.1:{image.Port}{image.AbsolutePath}?sig=SECRET42");
        Assert.Contains($"serving {image} on 127.0.0.1", run.Out(), StringComparison.Ordinal);
        Assert.DoesNotContain("PASSW0RD", run.Out() + run.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("alice", run.Out() + run.Err, StringComparison.Ordinal);
        Assert.Equal(0, await run.StopAsync());
    }

    [Fact]
    public async Task The_cli_views_an_image_and_segmentation_by_url_and_prints_no_query()
    {
        var image = nginx.Serve(_case.Image, "view/t1.mla");
        var seg = nginx.Serve(_case.Seg, "view/t1_seg.mla");
        await using var run = await ViewerRun.StartAsync("view", image + "?sig=SECRET42", "--seg", seg.ToString());
        Assert.Contains($"serving {image} with its segmentation", run.Out(), StringComparison.Ordinal);
        Assert.DoesNotContain("SECRET42", run.Out(), StringComparison.Ordinal);
        using var http = new HttpClient();
        var u = new Uri(run.Url);
        string api = $"{u.GetLeftPart(UriPartial.Authority)}/api";
        string t = u.Query.TrimStart('?');
        var overlay = await http.GetAsync(new Uri($"{api}/overlay?{t}&view=axial&index=45"));
        Assert.Equal(200, (int)overlay.StatusCode);
        Assert.Equal($"1:{LabelColours.Hex(1)},2:{LabelColours.Hex(2)}", overlay.Headers.GetValues("X-Labels").Single());
        using var loc = JsonDocument.Parse(await http.GetByteArrayAsync(new Uri($"{api}/locate?{t}&view=axial&index=45&x=30&y=40")));
        using var local = MLArrayFile.Open(_case.Image);
        Assert.Equal("[45, 68, 30]", loc.RootElement.GetProperty("voxel").GetString());
        Assert.Equal((double)local.Read<byte>(45, 68, 30).Single(), loc.RootElement.GetProperty("value")[0].GetDouble());
        Assert.Equal(0, await run.StopAsync());
    }
}

/// <summary><c>mlarray view ...</c> run in-process until <see cref="StopAsync"/> cancels it (as Ctrl+C does).</summary>
internal sealed class ViewerRun : IAsyncDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private readonly StringWriter _out = new(CultureInfo.InvariantCulture);
    private readonly TextWriter _stdout;
    private Task<int> _run = Task.FromResult(0);

    private ViewerRun() => _stdout = TextWriter.Synchronized(_out);

    public string Url { get; private set; } = "";

    public StringWriter Err { get; } = new(CultureInfo.InvariantCulture);

    /// <summary>Standard output so far (the synchronized writer locks on itself).</summary>
    public string Out()
    {
        lock (_stdout) return _out.ToString();
    }

    /// <summary>Starts the command and waits (up to 60 s) for the URL it prints.</summary>
    public static async Task<ViewerRun> StartAsync(params string[] args)
    {
        var r = new ViewerRun();
        r._run = Task.Run(() => CliApp.Run(args, r._stdout, r.Err, null, r._cts.Token));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !r._run.IsCompleted)
        {
            string? url = r.Out().Split('\n').FirstOrDefault(l => l.StartsWith("mlarray view: http", StringComparison.Ordinal))?["mlarray view: ".Length..].Trim();
            if (url is not null && r.Out().Contains("press Ctrl+C", StringComparison.Ordinal))
            {
                r.Url = url;
                return r;
            }

            await Task.Delay(20);
        }

        await r.DisposeAsync();
        throw new Xunit.Sdk.XunitException($"mlarray view printed no URL: {r.Out()}\n{r.Err}");
    }

    /// <summary>Cancels (Ctrl+C) and returns the exit code; fails when the command does not stop within 30 s.</summary>
    public async Task<int> StopAsync()
    {
        await _cts.CancelAsync();
        Assert.Same(_run, await Task.WhenAny(_run, Task.Delay(TimeSpan.FromSeconds(30))));
        return await _run;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_run.IsCompleted) await StopAsync();
        _cts.Dispose();
    }
}
