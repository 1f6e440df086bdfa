using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MLArray.Display;
using MLArray.Remote;

namespace MLArray.Cli.Viewer;

/// <summary>
/// The web server of <c>mlarray view</c>: Kestrel on 127.0.0.1 only, one embedded page and a few endpoints over the
/// session's image. Every request needs the random token of the printed URL (<c>?token=</c>), else 403. No endpoint
/// takes a path: only the files given on the command line are served.
/// </summary>
internal sealed class ViewerServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ViewerServer(WebApplication app, ViewerSession session, string token, int port)
    {
        _app = app;
        Session = session;
        Token = token;
        Port = port;
    }

    /// <summary>The session served.</summary>
    public ViewerSession Session { get; }

    /// <summary>The access token.</summary>
    public string Token { get; }

    /// <summary>The port listened on (127.0.0.1).</summary>
    public int Port { get; }

    /// <summary>The page's URL, with the token.</summary>
    public string Url => string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{Port}/?token={Token}");

    /// <summary>Stops when the application stops (Ctrl+C is handled by the caller).</summary>
    public CancellationToken Stopping => _app.Lifetime.ApplicationStopping;

    /// <summary>Starts serving <paramref name="session"/> on 127.0.0.1 (port 0: a free one). The server owns the session.</summary>
    /// <exception cref="IOException">The port is in use.</exception>
    public static async Task<ViewerServer> StartAsync(ViewerSession session, int port, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (port is < 0 or > 65535) throw new ArgumentException($"--port {port} is not a TCP port (1–65535).", nameof(port));
        string token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = typeof(ViewerServer).Assembly.GetName().Name });
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        builder.Services.AddSingleton<IHostLifetime, NoSignalLifetime>();
        builder.WebHost.UseKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(IPAddress.Loopback, port);
        });
        var app = builder.Build();
        Map(app, session, token);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse } || e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new IOException($"port {port} on 127.0.0.1 is already in use; choose another with --port, or leave --port out to get a free one.", e);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        int actual = new Uri(address).Port;
        return new ViewerServer(app, session, token, actual);
    }

    private static void Map(WebApplication app, ViewerSession session, string token)
    {
        byte[] tokenBytes = Encoding.ASCII.GetBytes(token);
        app.Use(async (ctx, next) =>
        {
            string given = ctx.Request.Query["token"].ToString();
            if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(given), tokenBytes))
            {
                ctx.Response.StatusCode = StatusCodes.Status403Forbidden;
                await ctx.Response.WriteAsync("forbidden: the URL's token is missing or wrong (use the URL mlarray view printed).\n").ConfigureAwait(false);
                return;
            }

            ctx.Response.Headers.CacheControl = "no-store";
            ctx.Response.Headers["X-Content-Type-Options"] = "nosniff";
            await next(ctx).ConfigureAwait(false);
        });
        app.Run(async ctx =>
        {
            try
            {
                await Respond(ctx, session).ConfigureAwait(false);
            }
            catch (Exception e) when (!ctx.Response.HasStarted && FailureStatus(e) is int status)
            {
                // the file cannot be read (any more): say why, instead of an empty 500
                string what = e is MLArrayRemoteChangedException or ViewedFileChangedException
                    ? $"{e.Message} The file changed while being viewed: stop mlarray view and start it again to see the current file."
                    : e.Message;
                await Send(ctx, status, what).ConfigureAwait(false);
            }
        });
    }

    /// <summary>The status of a read that failed: 409 for a file replaced while viewed, 502 for a remote store failing, 500 for an unreadable file; null for a bug (rethrown).</summary>
    private static int? FailureStatus(Exception e) => e switch
    {
        MLArrayRemoteChangedException or ViewedFileChangedException => StatusCodes.Status409Conflict,
        MLArrayRemoteException or HttpRequestException => StatusCodes.Status502BadGateway,
        IOException or UnauthorizedAccessException or InvalidOperationException => StatusCodes.Status500InternalServerError,
        _ => null,
    };

    /// <summary>The one endpoint table (no routing middleware: trimming-safe and small).</summary>
    private static Task Respond(HttpContext ctx, ViewerSession session)
    {
        var r = ctx.Request;
        if (!HttpMethods.IsGet(r.Method) && !HttpMethods.IsHead(r.Method)) return Send(ctx, StatusCodes.Status405MethodNotAllowed, "only GET is served.");
        switch (r.Path.Value)
        {
            case "/":
                return Send(ctx, 200, ViewerPage.Html, "text/html; charset=utf-8");
            case "/api/info":
                return Send(ctx, 200, session.InfoJson(), "application/json");
            case "/api/slice":
                return Handle(ctx, session, (v, i, f) => (200, session.SlicePng(v, i, f, Num(r, "lo", 0), Num(r, "hi", 1)), "image/png"));
            case "/api/overlay":
                return Handle(ctx, session, (v, i, _) =>
                {
                    if (!session.HasSeg) return (404, Encoding.UTF8.GetBytes("no segmentation was given.\n"), "text/plain");
                    var (png, labels) = session.OverlayPng(v, i);
                    ctx.Response.Headers["X-Labels"] = string.Join(",", labels.Select(l => string.Create(CultureInfo.InvariantCulture, $"{l}:{LabelColours.Hex(l)}")));
                    return (200, png, "image/png");
                });
            case "/api/auto":
                return Handle(ctx, session, (v, i, f) =>
                {
                    var (lo, hi) = session.AutoWindow(v, i, f);
                    return (200, Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"lo\":{lo:R},\"hi\":{hi:R}}}")), "application/json");
                });
            case "/api/locate":
                return Handle(ctx, session, (v, i, f) => (200, Encoding.UTF8.GetBytes(session.LocateJson(v, i, f, Num(r, "x", double.NaN), Num(r, "y", double.NaN))), "application/json"));
            default:
                return Send(ctx, 404, "not found: this server serves only the viewer page and its slice endpoints.");
        }
    }

    private static Task Send(HttpContext ctx, int status, string text, string type = "text/plain; charset=utf-8") =>
        Send(ctx, status, Encoding.UTF8.GetBytes(text.EndsWith('\n') ? text : text + "\n"), type);

    private static Task Send(HttpContext ctx, int status, byte[] body, string type)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = type;
        ctx.Response.ContentLength = body.Length;
        return HttpMethods.IsHead(ctx.Request.Method) ? Task.CompletedTask : ctx.Response.Body.WriteAsync(body).AsTask();
    }

    /// <summary>Parses view, index and frames; 400 for malformed parameters, 404 for a slice or frame outside the volume.</summary>
    private static Task Handle(HttpContext ctx, ViewerSession session, Func<SliceView, long, long[], (int Status, byte[] Body, string Type)> body)
    {
        var r = ctx.Request;
        try
        {
            string viewName = r.Query["view"].ToString();
            if (Enum.GetNames<SliceView>().FirstOrDefault(n => n.Equals(viewName, StringComparison.OrdinalIgnoreCase)) is not { } name)
                return Send(ctx, 400, "view must be axial, coronal or sagittal.");
            var view = Enum.Parse<SliceView>(name);
            if (!long.TryParse(r.Query["index"], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long index))
                return Send(ctx, 400, "index must be an integer.");
            string fs = r.Query["frames"].ToString();
            var frames = new List<long>();
            foreach (string part in fs.Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                if (!long.TryParse(part, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long fr)) return Send(ctx, 400, "frames must be integers.");
                frames.Add(fr);
            }

            if (frames.Count != session.Geometry.FrameAxes.Length)
                return Send(ctx, 400, $"frames needs {session.Geometry.FrameAxes.Length} indices.");
            var layout = session.Layout(view);
            if (index < 0 || index >= layout.Slices)
                return Send(ctx, 404, $"slice {index} is outside the {view.ToString().ToLowerInvariant()} view (0..{layout.Slices - 1}).");
            for (int k = 0; k < frames.Count; k++)
            {
                long size = session.Geometry.Shape[session.Geometry.FrameAxes[k]];
                if (frames[k] < 0 || frames[k] >= size) return Send(ctx, 404, $"frame {frames[k]} is outside 0..{size - 1}.");
            }

            var (status, bytes, type) = body(view, index, [.. frames]);
            return Send(ctx, status, bytes, type);
        }
        catch (ArgumentException e)
        {
            return Send(ctx, 400, e.Message);
        }
    }

    private static double Num(HttpRequest r, string name, double fallback)
    {
        string s = r.Query[name].ToString();
        if (s.Length == 0) return double.IsNaN(fallback) ? throw new ArgumentException($"{name} is required.") : fallback;
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v)
            ? v : throw new ArgumentException($"{name} must be a finite number.");
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await _app.StopAsync().ConfigureAwait(false);
        }
        finally
        {
            await _app.DisposeAsync().ConfigureAwait(false);
            Session.Dispose();
        }
    }

    /// <summary>A host lifetime that leaves Ctrl+C to the mlarray command (which stops the server and exits cleanly).</summary>
    private sealed class NoSignalLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>The embedded page (src/MLArray.Cli/Viewer/viewer.html).</summary>
internal static class ViewerPage
{
    private static readonly Lazy<byte[]> Page = new(() =>
    {
        using var s = typeof(ViewerPage).Assembly.GetManifestResourceStream("MLArray.Cli.Viewer.viewer.html")
            ?? throw new InvalidOperationException("the viewer page is not embedded in MLArray.Cli.");
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    });

    /// <summary>The page's bytes.</summary>
    public static byte[] Html => Page.Value;
}
