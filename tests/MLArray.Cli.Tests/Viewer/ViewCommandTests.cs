using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using MLArray.Cli.Tests.Cli;
using MLArray.Cli.Viewer;
using MLArray.Display;
using MLArray.Metadata;

namespace MLArray.Cli.Tests.Viewer;

/// <summary><c>mlarray view</c> over HTTP on 127.0.0.1: the token, the endpoints, refusals and a clean stop.</summary>
public sealed class ViewCommandTests : IClassFixture<ViewCommandTests.Fixture>
{
    private readonly Fixture _f;

    public ViewCommandTests(Fixture f) => _f = f;

    public sealed class Fixture : IDisposable
    {
        public ViewerCase Case { get; } = new();

        public void Dispose() => Case.Dispose();
    }

    private static async Task<(int Status, byte[] Body, HttpResponseMessage Response)> Get(HttpClient http, string url)
    {
        var resp = await http.GetAsync(new Uri(url));
        return ((int)resp.StatusCode, await resp.Content.ReadAsByteArrayAsync(), resp);
    }

    [Fact]
    public async Task Requests_need_the_token_and_slices_are_the_librarys_render()
    {
        await using var server = await ViewerServer.StartAsync(ViewerSession.Open(_f.Case.Image, _f.Case.Seg), 0);
        using var http = new HttpClient();
        string b = $"http://127.0.0.1:{server.Port}";
        string t = "token=" + server.Token;
        Assert.StartsWith(b + "/?token=", server.Url, StringComparison.Ordinal);
        Assert.Equal(32, server.Token.Length);

        Assert.Equal(403, (await Get(http, b + "/")).Status);
        Assert.Equal(403, (await Get(http, b + "/api/info?token=" + new string('0', 32))).Status);
        Assert.Equal(403, (await Get(http, $"{b}/api/slice?view=axial&index=1")).Status);
        var page = await Get(http, $"{b}/?{t}");
        Assert.Equal(200, page.Status);
        Assert.Contains("<canvas", System.Text.Encoding.UTF8.GetString(page.Body), StringComparison.Ordinal);
        Assert.DoesNotContain("http", System.Text.Encoding.UTF8.GetString(page.Body).Replace("http://www.w3.org", "", StringComparison.Ordinal), StringComparison.Ordinal);

        using var info = JsonDocument.Parse((await Get(http, $"{b}/api/info?{t}")).Body);
        var root = info.RootElement;
        Assert.Equal("grey", root.GetProperty("mode").GetString());
        Assert.Equal("LPS", root.GetProperty("coordSystem").GetString());
        Assert.Equal(91, root.GetProperty("views").GetProperty("axial").GetProperty("slices").GetInt32());
        Assert.Contains("coord_system", root.GetProperty("meta").GetString(), StringComparison.Ordinal);

        // the slice PNG is the library's render of the same slice with the same window
        var slice = await Get(http, $"{b}/api/slice?{t}&view=coronal&index=50&frames=&lo=10&hi=200");
        Assert.Equal(200, slice.Status);
        Assert.Equal("image/png", slice.Response.Content.Headers.ContentType!.MediaType);
        using (var img = MLArrayFile.Open(_f.Case.Image))
        {
            var g = DisplayGeometry.Of(img);
            var l = g.Layout(SliceView.Coronal);
            Assert.Equal(SliceRenderer.Render(SliceRenderer.Read(img, g, l, 50, []), l, RenderMode.Grey, 10, 200).ToPng(), slice.Body);
        }

        var overlay = await Get(http, $"{b}/api/overlay?{t}&view=axial&index=45");
        Assert.Equal(200, overlay.Status);
        Assert.Equal($"1:{LabelColours.Hex(1)},2:{LabelColours.Hex(2)}", overlay.Response.Headers.GetValues("X-Labels").Single());

        // refusals: out of range 404, malformed 400, any other path 404 (no path parameter exists)
        Assert.Equal(404, (await Get(http, $"{b}/api/slice?{t}&view=axial&index=91")).Status);
        Assert.Equal(404, (await Get(http, $"{b}/api/slice?{t}&view=axial&index=-1")).Status);
        Assert.Equal(400, (await Get(http, $"{b}/api/slice?{t}&view=oblique&index=1")).Status);
        Assert.Equal(400, (await Get(http, $"{b}/api/slice?{t}&view=axial&index=x")).Status);
        Assert.Equal(400, (await Get(http, $"{b}/api/slice?{t}&view=axial&index=1&frames=0")).Status);
        Assert.Equal(400, (await Get(http, $"{b}/api/slice?{t}&view=axial&index=1&lo=NaN")).Status);
        Assert.Equal(400, (await Get(http, $"{b}/api/locate?{t}&view=axial&index=1")).Status);
        Assert.Equal(404, (await Get(http, $"{b}/etc/passwd?{t}")).Status);
        Assert.Equal(404, (await Get(http, $"{b}/{Uri.EscapeDataString(_f.Case.Seg)}?{t}")).Status);
        var traversal = await Get(http, $"{b}/api/slice/../../t1.mla?{t}");
        Assert.Equal(404, traversal.Status);

        // the locate read-out: voxel, world in the file's LPS frame, value and label
        using var loc = JsonDocument.Parse((await Get(http, $"{b}/api/locate?{t}&view=axial&index=45&x=30&y=40")).Body);
        Assert.Equal("[45, 68, 30]", loc.RootElement.GetProperty("voxel").GetString());
        Assert.Equal(new[] { -30.0, -10.0, 18.0 }, loc.RootElement.GetProperty("world").EnumerateArray().Select(e => e.GetDouble()));
        Assert.Equal(68, loc.RootElement.GetProperty("views").GetProperty("coronal").GetProperty("index").GetInt32());
        Assert.Equal(30, loc.RootElement.GetProperty("views").GetProperty("sagittal").GetProperty("index").GetInt32());
        Assert.True(server.Session.CachedPlanes is > 0 and <= 48);
    }

    [Fact]
    public async Task The_listener_is_loopback_only()
    {
        await using var server = await ViewerServer.StartAsync(ViewerSession.Open(_f.Case.Image, null), 0);
        var other = Dns.GetHostAddresses(Dns.GetHostName()).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
        using var ok = new TcpClient();
        await ok.ConnectAsync(IPAddress.Loopback, server.Port);
        if (other is not null)
        {
            using var c = new TcpClient();
            await Assert.ThrowsAnyAsync<SocketException>(() => c.ConnectAsync(other, server.Port));
        }
    }

    [Fact]
    public void Bad_input_is_refused_with_a_reason()
    {
        string dir = _f.Case.Dir;
        string P(string n) => Path.Combine(dir, n);
        using (var notes = MLArrayFile.MetadataOnly(new MLArrayCreateOptions())) notes.Save(P("notes.mla"));
        using (var one = MLArrayFile.FromArray(new float[10], [10])) one.Save(P("one.mla"));
        using (var five = MLArrayFile.FromArray(new float[32], [2, 2, 2, 2, 2])) five.Save(P("five.mla"));
        using (var small = MLArrayFile.FromArray(new byte[8], [2, 2, 2], new MLArrayCreateOptions { Meta = new MLArrayMeta { IsSeg = true } })) small.Save(P("small_seg.mla"));
        using (var im = MLArrayFile.Open(_f.Case.Image))
        using (var moved = MLArrayFile.FromArray(new byte[91 * 109 * 91], im.Shape, new MLArrayCreateOptions { Copy = im, Origin = [0.0, 0.0, 0.0], Meta = im.Meta with { IsSeg = true } }))
            moved.Save(P("moved_seg.mla"));

        var r = CliRun.Run("view", P("notes.mla"));
        Assert.Equal(2, r.Code);
        Assert.Contains("metadata only", r.Err, StringComparison.Ordinal);
        r = CliRun.Run("view", P("one.mla"));
        Assert.Equal(2, r.Code);
        Assert.Contains("1 dimensions", r.Err, StringComparison.Ordinal);
        r = CliRun.Run("view", P("five.mla"));
        Assert.Equal(2, r.Code);
        Assert.Contains("5 dimensions", r.Err, StringComparison.Ordinal);
        r = CliRun.Run("view", _f.Case.Image, "--seg", P("small_seg.mla"));
        Assert.Equal(1, r.Code);
        Assert.Contains("(2, 2, 2)", r.Err, StringComparison.Ordinal);
        Assert.Contains("(91, 109, 91)", r.Err, StringComparison.Ordinal);
        r = CliRun.Run("view", _f.Case.Image, "--seg", P("moved_seg.mla"));
        Assert.Equal(1, r.Code);
        Assert.Contains("geometry differs", r.Err, StringComparison.Ordinal);
        Assert.Contains("(91, 109, 91)", r.Err, StringComparison.Ordinal);
        r = CliRun.Run("view", _f.Case.Image, "--port", "70000");
        Assert.Equal(1, r.Code);
        Assert.Empty(r.Out);
    }

    [Fact]
    public async Task A_port_in_use_is_named_and_cancelling_stops_cleanly()
    {
        var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        try
        {
            int port = ((IPEndPoint)busy.LocalEndpoint).Port;
            var r = CliRun.Run("view", _f.Case.Image, "--port", port.ToString(CultureInfo.InvariantCulture));
            Assert.Equal(2, r.Code);
            Assert.Contains($"port {port} on 127.0.0.1 is already in use", r.Err, StringComparison.Ordinal);
        }
        finally
        {
            busy.Stop();
        }

        // a running viewer stops when cancelled (Ctrl+C in the console) and exits 0
        using var cts = new CancellationTokenSource();
        var sw = new StringWriter(CultureInfo.InvariantCulture);
        var stdout = TextWriter.Synchronized(sw);
        string Out()
        {
            lock (stdout) return sw.ToString(); // the synchronized writer locks on itself
        }

        var err = new StringWriter(CultureInfo.InvariantCulture);
        var run = Task.Run(() => CliApp.Run(["view", _f.Case.Image, "--seg", _f.Case.Seg], stdout, err, null, cts.Token));
        string? url = null;
        for (int i = 0; i < 600 && url is null && !run.IsCompleted; i++)
        {
            url = Out().Split('\n').FirstOrDefault(l => l.StartsWith("mlarray view: http", StringComparison.Ordinal))?["mlarray view: ".Length..].Trim();
            if (url is null) await Task.Delay(50);
        }

        Assert.True(url is not null, err.ToString());
        using (var http = new HttpClient())
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(url))).StatusCode);
        cts.Cancel();
        Assert.Same(run, await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(20))));
        Assert.Equal(0, await run);
        Assert.Contains("stopped", Out(), StringComparison.Ordinal);
        using var http2 = new HttpClient();
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => http2.GetAsync(new Uri(url)));
    }
}
