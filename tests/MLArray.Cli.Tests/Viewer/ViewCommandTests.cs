using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
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
        Assert.Equal(400, (await Get(http, $"{b}/api/slice?{t}&view=axial,coronal&index=1")).Status); // not parsed as flags
        Assert.Equal(400, (await Get(http, $"{b}/api/slice?{t}&view=1&index=1")).Status);
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
    public async Task A_local_file_rewritten_in_place_while_viewed_answers_409_instead_of_reading_it()
    {
        string image = Path.Combine(_f.Case.Dir, "inplace.mla"), seg = Path.Combine(_f.Case.Dir, "inplace_seg.mla");
        File.Copy(_f.Case.Image, image, overwrite: true);
        File.Copy(_f.Case.Seg, seg, overwrite: true);
        await using var server = await ViewerServer.StartAsync(ViewerSession.Open(image, seg), 0);
        using var http = new HttpClient();
        string b = $"http://127.0.0.1:{server.Port}", t = "token=" + server.Token;
        Assert.Equal(200, (await Get(http, $"{b}/api/slice?{t}&view=axial&index=0")).Status);
        Assert.Equal(200, (await Get(http, $"{b}/api/overlay?{t}&view=axial&index=0")).Status);

        // the same bytes written back in place (as cp over it would, at the same size): the mapping would mix files
        DateTime before = File.GetLastWriteTimeUtc(image);
        byte[] bytes = File.ReadAllBytes(image);
        using (var w = new FileStream(image, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) w.Write(bytes);
        File.SetLastWriteTimeUtc(image, before.AddSeconds(1));
        var (status, body, _) = await Get(http, $"{b}/api/slice?{t}&view=axial&index=40");
        string text = Encoding.UTF8.GetString(body);
        Assert.Equal(409, status);
        Assert.Contains("inplace.mla' was rewritten in place", text, StringComparison.Ordinal);
        Assert.Contains("start it again", text, StringComparison.Ordinal);
        Assert.Equal(200, (await Get(http, $"{b}/api/slice?{t}&view=axial&index=0")).Status); // the slice read before is still shown

        // the segmentation cut in place: without the check its next read would fault on the cut pages (SIGBUS)
        using (var w = new FileStream(seg, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) w.SetLength(w.Length / 2);
        (status, body, _) = await Get(http, $"{b}/api/overlay?{t}&view=axial&index=40");
        Assert.Equal(409, status);
        Assert.Contains("its size went from", Encoding.UTF8.GetString(body), StringComparison.Ordinal);

        // a file replaced by rename is not a change: the viewer keeps showing the file it opened
        string fresh = Path.Combine(_f.Case.Dir, "inplace2.mla"), renamed = Path.Combine(_f.Case.Dir, "renamed.mla");
        File.Copy(_f.Case.Image, renamed, overwrite: true);
        File.Copy(_f.Case.Image, fresh, overwrite: true);
        await using var server2 = await ViewerServer.StartAsync(ViewerSession.Open(renamed, null), 0);
        string b2 = $"http://127.0.0.1:{server2.Port}", t2 = "token=" + server2.Token;
        File.Move(fresh, renamed, overwrite: true);
        Assert.Equal(200, (await Get(http, $"{b2}/api/slice?{t2}&view=axial&index=40")).Status);
    }

    [Fact]
    public async Task A_float_segmentation_with_NaN_labels_is_located_with_the_label_as_text()
    {
        // is_seg float32 labels: NaN (background) and 2 alternate; JSON has no NaN, the click still answers
        string seg = Path.Combine(_f.Case.Dir, "float_seg.mla");
        using (var im = MLArrayFile.Open(_f.Case.Image))
        {
            var labels = new float[im.Shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < labels.Length; i++) labels[i] = i % 2 == 0 ? float.NaN : 2f;
            using var s = MLArrayFile.FromArray(labels, im.Shape, new MLArrayCreateOptions { Copy = im, Meta = im.Meta with { IsSeg = true } });
            s.Save(seg);
        }

        await using var server = await ViewerServer.StartAsync(ViewerSession.Open(_f.Case.Image, seg), 0);
        using var http = new HttpClient();
        string b = $"http://127.0.0.1:{server.Port}", t = "token=" + server.Token;
        var seen = new HashSet<string>();
        for (int x = 30; x < 32; x++)
        {
            var (status, body, _) = await Get(http, $"{b}/api/locate?{t}&view=axial&index=45&x={x}&y=40");
            Assert.True(status == 200, Encoding.UTF8.GetString(body));
            using var j = JsonDocument.Parse(body);
            seen.Add(j.RootElement.GetProperty("label").ToString());
        }
        Assert.Equal(["2", "NaN"], seen.Order());
        var overlay = await Get(http, $"{b}/api/overlay?{t}&view=axial&index=45");
        Assert.Equal(200, overlay.Status);
        Assert.Equal($"2:{LabelColours.Hex(2)}", overlay.Response.Headers.GetValues("X-Labels").Single()); // NaN is background
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
        await using var run = await ViewerRun.StartAsync("view", _f.Case.Image, "--seg", _f.Case.Seg);
        using (var http = new HttpClient())
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(run.Url))).StatusCode);
        Assert.Equal(0, await run.StopAsync());
        Assert.Contains("stopped", run.Out(), StringComparison.Ordinal);
        using var http2 = new HttpClient();
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => http2.GetAsync(new Uri(run.Url)));
    }

    [Fact]
    public void The_initial_window_comes_from_the_stats_else_from_a_sample_of_the_first_slice()
    {
        string dir = _f.Case.Dir;
        var v = new float[40 * 300 * 300];
        for (int i = 0; i < v.Length; i++) v[i] = (float)Math.Sin(i * 0.001) * 1000;
        string plain = Path.Combine(dir, "plain.mla"), withStats = Path.Combine(dir, "stats.mla");
        using (var f = MLArrayFile.FromArray(v, [40, 300, 300])) f.Save(plain);
        using (var f = MLArrayFile.FromArray(v, [40, 300, 300], new MLArrayCreateOptions { Meta = new MLArrayMeta { Stats = new MetaStatistics { PercentileMin = -850.5, PercentileMax = 990 } } }))
            f.Save(withStats);

        using (var s = ViewerSession.Open(withStats, null))
        {
            using var info = JsonDocument.Parse(s.InfoJson());
            Assert.Equal("stats", info.RootElement.GetProperty("windowSource").GetString());
            Assert.Equal(-850.5, info.RootElement.GetProperty("lo").GetDouble());
            Assert.Equal(990, info.RootElement.GetProperty("hi").GetDouble());
            Assert.Equal(0, s.CachedPlanes); // no slice read for the window
        }

        using (var s = ViewerSession.Open(plain, null))
        {
            using var info = JsonDocument.Parse(s.InfoJson());
            Assert.Equal("slice", info.RootElement.GetProperty("windowSource").GetString());
            // the middle axial slice (90,000 values) is sampled: 65,536 evenly spaced values, then the 1st–99th percentile
            double[] slice = v.Skip(20 * 300 * 300).Take(300 * 300).Select(x => (double)x).ToArray();
            double[] sample = Enumerable.Range(0, Window.MaxSamples).Select(k => slice[(int)((long)k * slice.Length / Window.MaxSamples)]).ToArray();
            var (lo, hi) = Window.Percentiles(sample, 0.01, 0.99);
            Assert.Equal(lo, info.RootElement.GetProperty("lo").GetDouble());
            Assert.Equal(hi, info.RootElement.GetProperty("hi").GetDouble());
            var (flo, fhi) = Window.Percentiles(slice, 0.01, 0.99);
            Assert.True(Math.Abs(lo - flo) < 0.01 * (fhi - flo) && Math.Abs(hi - fhi) < 0.01 * (fhi - flo), $"sampled ({lo}, {hi}) vs full ({flo}, {fhi})");
            Assert.Equal(1, s.CachedPlanes); // that slice stays cached for the page's first request
        }
    }

    private const int SigInt = 2;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    [Fact]
    public async Task Open_starts_the_browser_from_BROWSER_and_a_real_SIGINT_stops_the_server()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new CliTestData.TempDir();
        string record = dir.File("url.txt"), script = dir.File("fake-browser.sh");
        File.WriteAllText(script, "#!/bin/sh\nprintf '%s|%s' \"$1\" \"$2\" > \"$0.tmp\" && mv \"$0.tmp\" \"$MLA_RECORD\"\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string so = dir.File("out.txt"), se = dir.File("err.txt");
        // env resets SIGINT to its default action (a test run started as a background job of a non-interactive shell
        // has it ignored, and the child would inherit that); sh execs dotnet (same pid) with its output on files
        var psi = new System.Diagnostics.ProcessStartInfo("/usr/bin/env") { UseShellExecute = false };
        foreach (string a in (string[])["--default-signal=INT", "/bin/sh", "-c", "exec \"$0\" \"$@\" > \"$MLA_OUT\" 2> \"$MLA_ERR\"", "dotnet", Path.Combine(AppContext.BaseDirectory, "MLArray.Cli.dll"), "view", _f.Case.Image, "--open"])
            psi.ArgumentList.Add(a);
        psi.Environment["MLA_OUT"] = so;
        psi.Environment["MLA_ERR"] = se;
        psi.Environment["MLA_RECORD"] = record;
        // a missing browser first (skipped), then the recording script with the URL in place of %s
        psi.Environment["BROWSER"] = $"{dir.File("no-such-browser")}:{script} --new-window=%s";
        using var p = System.Diagnostics.Process.Start(psi)!;
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (!File.Exists(record))
            {
                if (p.HasExited) Assert.Fail($"mlarray view exited ({p.ExitCode}) before opening a browser: {File.ReadAllText(se)}");
                Assert.True(DateTime.UtcNow < deadline, "no browser started within 90 s");
                await Task.Delay(50);
            }

            string[] got = File.ReadAllText(record).Split('|');
            Assert.StartsWith("--new-window=http://127.0.0.1:", got[0], StringComparison.Ordinal);
            Assert.Equal("", got[1]);
            string url = got[0]["--new-window=".Length..];
            Assert.Matches("^http://127\\.0\\.0\\.1:[0-9]+/\\?token=[0-9a-f]{32}$", url);
            using (var http = new HttpClient())
                Assert.Contains("<canvas", await http.GetStringAsync(new Uri(url)), StringComparison.Ordinal);

            Assert.True(Kill(p.Id, SigInt) == 0, $"kill({p.Id}, SIGINT) failed");
            Assert.True(await Task.Run(() => p.WaitForExit(30_000)), "mlarray view did not stop within 30 s of SIGINT");
            string o = File.ReadAllText(so), e = File.ReadAllText(se);
            Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {o}\n{e}");
            Assert.Contains(url, o, StringComparison.Ordinal);
            Assert.Contains("opened the page with " + script, o, StringComparison.Ordinal);
            Assert.Contains("mlarray view: stopped.", o, StringComparison.Ordinal);
            using var after = new HttpClient();
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => after.GetAsync(new Uri(url)));
        }
        finally
        {
            if (!p.HasExited) p.Kill();
        }
    }

    [Fact]
    public void Browser_candidates_follow_the_BROWSER_convention()
    {
        const string U = "http://127.0.0.1:1/?token=ab";
        var none = Assert.Single(BrowserLauncher.Candidates(U, null));
        Assert.Equal("xdg-open", none.File);
        Assert.Equal([U], none.Args);
        var c = BrowserLauncher.Candidates(U, "firefox:'/opt/my browser/run' --x %s --y: chromium --app=%s");
        Assert.Equal(["firefox", "/opt/my browser/run", "chromium", "xdg-open"], c.Select(x => x.File));
        Assert.Equal([U], c[0].Args);
        Assert.Equal(["--x", U, "--y"], c[1].Args);
        Assert.Equal(["--app=" + U], c[2].Args);

        // nothing runs: one message naming every failure, no exception
        var err = new StringWriter(CultureInfo.InvariantCulture);
        Assert.Null(BrowserLauncher.Open(U, [("/nonexistent/a", [U]), ("/nonexistent/b", [U])], err));
        Assert.Contains("could not open a browser (/nonexistent/a: ", err.ToString(), StringComparison.Ordinal);
        Assert.Contains("/nonexistent/b: ", err.ToString(), StringComparison.Ordinal);
    }
}
