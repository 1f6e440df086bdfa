using System.Drawing;
using System.Globalization;
using MLArray.Cli.Viewer;
using MLArray.Display;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Interactions;
using OpenQA.Selenium.Support.UI;

namespace MLArray.Cli.Tests.Viewer;

/// <summary>A fact that needs Debian's chromium and chromium-driver: reported as skipped when they are missing (.ci/run installs them).</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class ChromiumFactAttribute : FactAttribute
{
    public const string Browser = "/usr/bin/chromium";
    public const string Driver = "/usr/bin/chromedriver";

    public ChromiumFactAttribute()
    {
        if (!File.Exists(Browser) || !File.Exists(Driver))
            Skip = $"needs {Browser} and {Driver} (apt-get install chromium chromium-driver; .ci/run installs them)";
    }
}

/// <summary>
/// <c>mlarray view</c> in headless Chromium: the canvases show the library's renders, the slider, the crosshair and the
/// read-out, the axis switch, the presets and the overlay work. Screenshots go to artifacts/viewer/ (git-ignored);
/// with MLARRAY_README_SCREENSHOT=1 the full page is also written to docs/images/mlarray-view.png.
/// </summary>
public sealed class BrowserTests : IDisposable
{
    private readonly ViewerCase _case = new();
    private readonly string _profile = Directory.CreateTempSubdirectory("mla-chromium-").FullName;

    public void Dispose()
    {
        _case.Dispose();
        Directory.Delete(_profile, recursive: true);
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "MLArray.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("MLArray.sln not found above " + AppContext.BaseDirectory);
    }

    private ChromeDriver StartBrowser()
    {
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromiumFactAttribute.Driver)!, Path.GetFileName(ChromiumFactAttribute.Driver));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = ChromiumFactAttribute.Browser };
        options.AddArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-quic", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1500,900", "--force-color-profile=srgb",
            "--user-data-dir=" + _profile);
        return new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    }

    /// <summary>One channel (0 R, 1 G, 2 B, 3 A) of a canvas, read in the page.</summary>
    private static byte[] Canvas(IWebDriver d, string id, int channel) => Convert.FromBase64String((string)((IJavaScriptExecutor)d).ExecuteScript(
        "const c = document.getElementById(arguments[0]); const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;" +
        "let s = ''; for (let i = arguments[1]; i < px.length; i += 4) s += String.fromCharCode(px[i]); return btoa(s);", id, channel)!);

    private static object? Js(IWebDriver d, string script, params object[] args) => ((IJavaScriptExecutor)d).ExecuteScript(script, args);

    // Waits until the view's image is drawn with these parameters (the element may not exist yet while the page builds
    // its views: that is "not drawn", not an error).
    private static void WaitDrawn(IWebDriver d, string view, long index, double lo, double hi)
    {
        string expected = string.Create(CultureInfo.InvariantCulture, $"[\"{view}\",{index},[],{lo.ToString("R", CultureInfo.InvariantCulture)},{hi.ToString("R", CultureInfo.InvariantCulture)}]");
        new WebDriverWait(d, TimeSpan.FromSeconds(30)).Until(x => (string?)Js(x, "const e = document.getElementById(arguments[0]); return e ? (e.dataset.drawn || null) : null;", "img-" + view) is { } k
            && JsonEquivalent(k, expected));
    }

    // the page writes numbers with JavaScript's shortest form (40, -500); compare parsed
    private static bool JsonEquivalent(string a, string b) =>
        System.Text.Json.JsonDocument.Parse(a).RootElement.ToString() == System.Text.Json.JsonDocument.Parse(b).RootElement.ToString() ||
        Normal(a) == Normal(b);

    private static string Normal(string json) => string.Join(",", System.Text.Json.JsonDocument.Parse(json).RootElement.EnumerateArray().Select(e =>
        e.ValueKind == System.Text.Json.JsonValueKind.Number ? e.GetDouble().ToString("R", CultureInfo.InvariantCulture) : e.ToString()));

    private static void Screenshot(IWebDriver d, string name)
    {
        string dir = Path.Combine(RepoRoot(), "artifacts", "viewer");
        Directory.CreateDirectory(dir);
        ((ITakesScreenshot)d).GetScreenshot().SaveAsFile(Path.Combine(dir, name + ".png"));
    }

    [ChromiumFact]
    public async Task The_page_shows_the_librarys_slices_and_the_cursor_follows_the_clicks()
    {
        await using var server = await ViewerServer.StartAsync(ViewerSession.Open(_case.Image, _case.Seg), 0);
        using var image = MLArrayFile.Open(_case.Image);
        var g = DisplayGeometry.Of(image);
        var (lo, hi) = server.Session.DefaultWindow();
        byte[] Grey(SliceView v, long i, double l, double h) => SliceRenderer.Render(SliceRenderer.Read(image, g, g.Layout(v), i, []), g.Layout(v), RenderMode.Grey, l, h).Pixels;

        using var d = StartBrowser();
        d.Navigate().GoToUrl(server.Url);
        WaitDrawn(d, "axial", 45, lo, hi);
        WaitDrawn(d, "sagittal", 45, lo, hi);
        Assert.Equal(Grey(SliceView.Axial, 45, lo, hi), Canvas(d, "img-axial", 0));
        Assert.Equal(Grey(SliceView.Sagittal, 45, lo, hi), Canvas(d, "img-sagittal", 0));
        Assert.Contains("coord_system", d.FindElement(By.Id("meta")).Text, StringComparison.Ordinal);
        Screenshot(d, "01-opened");

        // the overlay canvas holds the library's RGBA label render; the legend lists the labels present
        var ov = SliceRenderer.Render(SliceRenderer.Read(MLArrayFile.Open(_case.Seg) is var seg ? seg : null!, DisplayGeometry.Of(seg).WithOrientationOf(g), g.Layout(SliceView.Axial), 45, []), g.Layout(SliceView.Axial), RenderMode.Overlay);
        seg.Dispose();
        byte[] alpha = Canvas(d, "ovl-axial", 3);
        Assert.Equal(Enumerable.Range(0, alpha.Length).Select(i => ov.Pixels[(4 * i) + 3]), alpha);
        byte[] red = Canvas(d, "ovl-axial", 0);
        Assert.Equal(Enumerable.Range(0, red.Length).Select(i => ov.Pixels[(4 * i) + 3] == 0 ? (byte)0 : ov.Pixels[4 * i]), red);
        new WebDriverWait(d, TimeSpan.FromSeconds(10)).Until(x => x.FindElements(By.CssSelector("#legend [data-label]")).Count == 2);
        Assert.Equal("0.5", d.FindElement(By.Id("ovl-axial")).GetCssValue("opacity"));

        // the slider moves the axial view to slice 60
        Js(d, "const s = document.getElementById('slider-axial'); s.value = 60; s.dispatchEvent(new Event('input'));");
        WaitDrawn(d, "axial", 60, lo, hi);
        Assert.Equal(Grey(SliceView.Axial, 60, lo, hi), Canvas(d, "img-axial", 0));

        // a click on display pixel (30, 40) of axial slice 45 is voxel [45, 68, 30]: LPS (−90 + 2·30, 126 − 2·68, −72 + 2·45)
        Js(d, "const s = document.getElementById('slider-axial'); s.value = 45; s.dispatchEvent(new Event('input'));");
        WaitDrawn(d, "axial", 45, lo, hi);
        var stack = d.FindElement(By.Id("stack-axial"));
        double scale = double.Parse((string)Js(d, "return document.getElementById('view-axial').dataset.scale;")!, CultureInfo.InvariantCulture);
        int ox = (int)Math.Round(((30 + 0.5) * scale) - (stack.Size.Width / 2.0)), oy = (int)Math.Round(((40 + 0.5) * scale) - (stack.Size.Height / 2.0));
        new Actions(d).MoveToElement(stack, ox, oy).Click().Perform();
        var readout = d.FindElement(By.Id("readout"));
        new WebDriverWait(d, TimeSpan.FromSeconds(10)).Until(_ => readout.GetDomAttribute("data-voxel") is not null);
        Assert.Equal("[45, 68, 30]", readout.GetDomAttribute("data-voxel"));
        Assert.Equal("-30,-10,18", readout.GetDomAttribute("data-world"));
        Assert.Equal(image.Read<byte>(45, 68, 30).Single().ToString(CultureInfo.InvariantCulture), readout.GetDomAttribute("data-value"));
        Assert.Contains("world  (-30, -10, 18) LPS", readout.Text, StringComparison.Ordinal);
        byte expectedLabel = image.Read<byte>(45, 68, 30).Single() is var v0 && v0 > 150 ? (byte)2 : v0 > 90 ? (byte)1 : (byte)0;
        Assert.Equal(expectedLabel.ToString(CultureInfo.InvariantCulture), readout.GetDomAttribute("data-label"));
        // the other views jumped to the voxel
        WaitDrawn(d, "coronal", 68, lo, hi);
        WaitDrawn(d, "sagittal", 30, lo, hi);
        Assert.Equal("68", d.FindElement(By.Id("slider-coronal")).GetDomProperty("value"));
        Assert.Equal(Grey(SliceView.Coronal, 68, lo, hi), Canvas(d, "img-coronal", 0));
        Screenshot(d, "02-crosshair");
        if (Environment.GetEnvironmentVariable("MLARRAY_README_SCREENSHOT") == "1")
        {
            string target = Path.Combine(RepoRoot(), "docs", "images", "mlarray-view.png");
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            ((ITakesScreenshot)d).GetScreenshot().SaveAsFile(target);
        }

        // the bone preset: centre 400, width 1800
        d.FindElement(By.CssSelector("[data-preset='400,1800']")).Click();
        WaitDrawn(d, "axial", 45, -500, 1300);
        Assert.Equal(Grey(SliceView.Axial, 45, -500, 1300), Canvas(d, "img-axial", 0));
        Assert.Equal("1800", d.FindElement(By.Id("ww")).GetDomProperty("value"));

        // switch to the coronal view alone
        d.FindElement(By.CssSelector("[data-layout='coronal']")).Click();
        Assert.False(d.FindElement(By.Id("view-axial")).Displayed);
        Assert.True(d.FindElement(By.Id("view-coronal")).Displayed);
        Assert.Equal(Grey(SliceView.Coronal, 68, -500, 1300), Canvas(d, "img-coronal", 0));
        Screenshot(d, "03-coronal");

        // toggle the overlay off and on
        d.FindElement(By.Id("overlay")).Click();
        Assert.Equal("0", d.FindElement(By.Id("ovl-coronal")).GetCssValue("opacity"));
        d.FindElement(By.Id("overlay")).Click();
        Assert.Equal("0.5", d.FindElement(By.Id("ovl-coronal")).GetCssValue("opacity"));
        Screenshot(d, "04-overlay");
    }

    [ChromiumFact]
    public async Task Rgb_and_a_time_axis_render_in_the_browser()
    {
        // the corpus's RGB ct_perfusion in colour, and a 4-D series with a frame slider
        string rgbMla = Path.Combine(_case.Dir, "ct.mla");
        MLArray.Conversion.MedicalConverter.ToMLArray(MLArray.TestSupport.MedicalTestData.PathOf("niivue/ct_perfusion.nii.gz"), rgbMla);
        await using var server = await ViewerServer.StartAsync(ViewerSession.Open(rgbMla, null), 0);
        using var d = StartBrowser();
        d.Navigate().GoToUrl(server.Url);
        WaitDrawn(d, "axial", 7, 0, 255);
        var (slice, _, _, _, _) = SlicePreview.Render(server.Session.Image, new SliceRequest());
        for (int ch = 0; ch < 3; ch++)
            Assert.Equal(Enumerable.Range(0, slice.Width * slice.Height).Select(i => slice.Pixels[(3 * i) + ch]), Canvas(d, "img-axial", ch));
        Assert.False(d.FindElement(By.Id("wl")).Displayed);
        Screenshot(d, "05-rgb");

        var t = new float[3 * 4 * 5 * 6];
        for (int i = 0; i < t.Length; i++) t[i] = i;
        string series = Path.Combine(_case.Dir, "series.mla");
        using (var f = MLArrayFile.FromArray(t, [4, 5, 6, 3], new MLArrayCreateOptions { AxisLabels = ["spatial_z", "spatial_y", "spatial_x", "temporal"] })) f.Save(series);
        await using var s2 = await ViewerServer.StartAsync(ViewerSession.Open(series, null), 0);
        d.Navigate().GoToUrl(s2.Url);
        var (lo, hi) = s2.Session.DefaultWindow();
        new WebDriverWait(d, TimeSpan.FromSeconds(30)).Until(x => (string?)Js(x, "const e = document.getElementById('img-axial'); return e ? (e.dataset.drawn || null) : null;") is not null);
        var frame = d.FindElement(By.CssSelector("[data-frame='0']"));
        Assert.Equal("2", frame.GetDomAttribute("max"));
        Js(d, "const s = document.querySelector(\"[data-frame='0']\"); s.value = 2; s.dispatchEvent(new Event('input'));");
        new WebDriverWait(d, TimeSpan.FromSeconds(30)).Until(x => ((string?)Js(x, "const e = document.getElementById('img-axial'); return e ? (e.dataset.drawn || '') : '';"))!.Contains("[2]", StringComparison.Ordinal));
        var g = s2.Session.Geometry;
        var l = g.Layout(SliceView.Axial);
        Assert.Equal(SliceRenderer.Render(SliceRenderer.Read(s2.Session.Image, g, l, 2, [2]), l, RenderMode.Grey, lo, hi).Pixels, Canvas(d, "img-axial", 0));
    }

    private static double Attr(IWebDriver d, string script) => double.Parse((string)Js(d, script)!, CultureInfo.InvariantCulture);

    /// <summary>The window the page holds now (body data-lo/data-hi, JavaScript's round-trip number text).</summary>
    private static (double Lo, double Hi) PageWindow(IWebDriver d) =>
        (Attr(d, "return document.body.dataset.lo;"), Attr(d, "return document.body.dataset.hi;"));

    /// <summary>The window the view was last drawn with (its data-drawn key: [view, index, frames, lo, hi]).</summary>
    private static (double Lo, double Hi)? DrawnWindow(IWebDriver d, string view)
    {
        if ((string?)Js(d, "const e = document.getElementById(arguments[0]); return e ? (e.dataset.drawn || null) : null;", "img-" + view) is not { } k) return null;
        using var j = System.Text.Json.JsonDocument.Parse(k);
        return (j.RootElement[3].GetDouble(), j.RootElement[4].GetDouble());
    }

    [ChromiumFact]
    public async Task Window_level_drag_presets_auto_wheel_legend_crosshair_and_metadata_do_what_they_say()
    {
        await using var server = await ViewerServer.StartAsync(ViewerSession.Open(_case.Image, _case.Seg), 0);
        using var image = MLArrayFile.Open(_case.Image);
        using var seg = MLArrayFile.Open(_case.Seg);
        var g = DisplayGeometry.Of(image);
        var sg = DisplayGeometry.Of(seg).WithOrientationOf(g);
        byte[] Grey(SliceView v, long i, double l, double h) => SliceRenderer.Render(SliceRenderer.Read(image, g, g.Layout(v), i, []), g.Layout(v), RenderMode.Grey, l, h).Pixels;
        var (lo0, hi0) = server.Session.DefaultWindow();

        using var d = StartBrowser();
        d.Navigate().GoToUrl(server.Url);
        foreach (var (v, i) in new[] { ("axial", 45L), ("coronal", 54L), ("sagittal", 45L) }) WaitDrawn(d, v, i, lo0, hi0);

        // the legend lists exactly the labels in the three shown segmentation slices, in their overlay colours
        var present = new SortedSet<long>();
        foreach (var (v, i) in new[] { (SliceView.Axial, 45L), (SliceView.Coronal, 54L), (SliceView.Sagittal, 45L) })
            foreach (double x in SliceRenderer.Read(seg, sg, g.Layout(v), i, []).Values)
                if (!LabelColours.IsBackground(x)) present.Add((long)x);
        Assert.NotEmpty(present);
        new WebDriverWait(d, TimeSpan.FromSeconds(30)).Until(x => x.FindElements(By.CssSelector("#legend [data-label]")).Count == present.Count);
        foreach (var e in d.FindElements(By.CssSelector("#legend [data-label]")))
        {
            long label = long.Parse(e.GetDomAttribute("data-label")!, CultureInfo.InvariantCulture);
            Assert.Contains(label, present);
            var (r, gg, b) = LabelColours.Of(label);
            Assert.Equal($"rgb({r}, {gg}, {b})", e.FindElement(By.CssSelector(".sw")).GetCssValue("background-color").Replace("rgba(", "rgb(", StringComparison.Ordinal).Replace(", 1)", ")", StringComparison.Ordinal));
        }

        // the metadata panel is the tree `mlarray header` prints
        string panel = (string)Js(d, "return document.getElementById('meta').textContent;")!;
        Assert.Contains("spacing", panel, StringComparison.Ordinal);
        Assert.Contains(panel.Trim().ReplaceLineEndings("\n"), MLArray.Cli.Tests.Cli.CliRun.Run("header", _case.Image).Out.ReplaceLineEndings("\n"), StringComparison.Ordinal);

        // window/level by drag: right widens the window by e^(dx/150), up raises the centre by dy·w0/300
        var stack = d.FindElement(By.Id("stack-axial"));
        new Actions(d).MoveToElement(stack).ClickAndHold().MoveByOffset(60, -30).Release().Perform();
        new WebDriverWait(d, TimeSpan.FromSeconds(30)).Until(x => PageWindow(x) != (lo0, hi0) && DrawnWindow(x, "axial") == PageWindow(x));
        var (lo1, hi1) = PageWindow(d);
        double w0 = hi0 - lo0;
        Assert.InRange((hi1 - lo1) / w0, Math.Exp(59.0 / 150), Math.Exp(61.0 / 150));
        Assert.InRange(((hi1 + lo1) / 2) - ((hi0 + lo0) / 2), 29 * w0 / 300, 31 * w0 / 300);
        byte[] before = Grey(SliceView.Axial, 45, lo0, hi0), after = Canvas(d, "img-axial", 0);
        Assert.Equal(Grey(SliceView.Axial, 45, lo1, hi1), after);
        Assert.NotEqual(before, after);
        double shownWidth = double.Parse(d.FindElement(By.Id("ww")).GetDomProperty("value")!, CultureInfo.InvariantCulture);
        Assert.InRange(shownWidth, (hi1 - lo1) * (1 - 1e-5), (hi1 - lo1) * (1 + 1e-5)); // the W field shows 6 digits
        Assert.Null(d.FindElement(By.Id("readout")).GetDomAttribute("data-voxel")); // a drag is not a click
        Screenshot(d, "06-dragged");

        // the presets (centre, width) and the percentile auto window
        foreach (var (c, w) in new[] { (40.0, 400.0), (-600.0, 1500.0), (400.0, 1800.0), (40.0, 80.0) })
        {
            d.FindElement(By.CssSelector(string.Create(CultureInfo.InvariantCulture, $"[data-preset='{c},{w}']"))).Click();
            WaitDrawn(d, "axial", 45, c - (w / 2), c + (w / 2));
            Assert.Equal(Grey(SliceView.Axial, 45, c - (w / 2), c + (w / 2)), Canvas(d, "img-axial", 0));
            WaitDrawn(d, "sagittal", 45, c - (w / 2), c + (w / 2));
        }

        var (alo, ahi) = server.Session.AutoWindow(SliceView.Axial, 45, []);
        double ac = (alo + ahi) / 2, aw = Math.Max(ahi - alo, 1e-6);
        d.FindElement(By.Id("auto")).Click();
        WaitDrawn(d, "axial", 45, ac - (aw / 2), ac + (aw / 2));
        Assert.Equal(Grey(SliceView.Axial, 45, ac - (aw / 2), ac + (aw / 2)), Canvas(d, "img-axial", 0));

        // the mouse wheel steps the slice (down: towards 0)
        // one wheel event (zero duration: the driver does not split it into several smaller ones)
        var wheel = new WheelInputDevice();
        var scroll = new ActionBuilder().AddAction(wheel.CreateWheelScroll(stack, 0, 0, 0, 120, TimeSpan.Zero));
        ((IActionExecutor)d).PerformActions(scroll.ToActionSequenceList());
        WaitDrawn(d, "axial", 44, ac - (aw / 2), ac + (aw / 2));
        Assert.Equal(Grey(SliceView.Axial, 44, ac - (aw / 2), ac + (aw / 2)), Canvas(d, "img-axial", 0));

        // a click draws the crosshair through the voxel's centre in every view
        double scale = double.Parse((string)Js(d, "return document.getElementById('view-axial').dataset.scale;")!, CultureInfo.InvariantCulture);
        int ox = (int)Math.Round(((30 + 0.5) * scale) - (stack.Size.Width / 2.0)), oy = (int)Math.Round(((40 + 0.5) * scale) - (stack.Size.Height / 2.0));
        new Actions(d).MoveToElement(stack, ox, oy).Click().Perform();
        new WebDriverWait(d, TimeSpan.FromSeconds(10)).Until(x => x.FindElement(By.Id("readout")).GetDomAttribute("data-voxel") is not null);
        Assert.Equal("[44, 68, 30]", d.FindElement(By.Id("readout")).GetDomAttribute("data-voxel"));
        int cw = (int)(long)Js(d, "return document.getElementById('xh-axial').width;")!;
        byte[] xh = Canvas(d, "xh-axial", 3);
        int col = (int)Math.Floor((30 + 0.5) * scale), row = (int)Math.Floor((40 + 0.5) * scale);
        Assert.True(xh[(2 * cw) + col] > 0 || xh[(2 * cw) + col - 1] > 0, "no vertical crosshair line at the clicked column");
        Assert.True(xh[(row * cw) + 2] > 0 || xh[((row - 1) * cw) + 2] > 0, "no horizontal crosshair line at the clicked row");
        Assert.Equal(0, xh[(2 * cw) + col + 6]);

        // the overlay opacity slider
        Js(d, "const s = document.getElementById('opacity'); s.value = 80; s.dispatchEvent(new Event('input'));");
        Assert.Equal("0.8", d.FindElement(By.Id("ovl-axial")).GetCssValue("opacity"));
    }
}
