using System.CommandLine;
using MLArray.Cli.Viewer;
using MLArray.Display;

namespace MLArray.Cli.Commands;

/// <summary>
/// <c>mlarray view FILE [--seg SEG.mla] [--port P] [--open] [--neurological]</c>: a local web viewer (Kestrel on
/// 127.0.0.1, a random token in the printed URL) that reads slices lazily; Ctrl+C stops it.
/// </summary>
internal static class ViewCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        var file = new Argument<string>("file") { Description = "The .mla image." };
        var seg = new Option<string?>("--seg") { Description = "A segmentation (.mla) on the image's grid, shown as a coloured overlay." };
        var port = new Option<int?>("--port") { Description = "The port on 127.0.0.1 (default: a free one)." };
        var open = new Option<bool>("--open") { Description = "Open the page in the browser: $BROWSER if set (commands separated by ':', %s for the URL), else xdg-open." };
        var part = new Option<string>("--part") { Description = "What complex images show: magnitude, real, imag or phase.", DefaultValueFactory = _ => "magnitude" };
        var neuro = new Option<bool>("--neurological") { Description = "The patient's right on the right (default: radiological)." };
        var cache = CliInput.CacheOption();
        var cmd = new Command("view", "Look at an .mla image (and segmentation) in the browser: a local, read-only web viewer. FILE may be a path, an http(s) URL or an s3:// / az:// URL.") { file, seg, port, open, neuro, part, cache };
        cmd.SetAction(pr => CliApp.Guard(stderr, () =>
        {
            int p = pr.GetValue(port) ?? 0;
            if (pr.GetValue(port) is { } given && given is < 1 or > 65535)
                throw new ArgumentException($"--port {given} is not a TCP port (1–65535).");
            var session = ViewerSession.Open(pr.GetValue(file)!, pr.GetValue(seg), pr.GetValue(neuro), DisplayValues.ParsePart(pr.GetValue(part)!), pr.GetValue(cache));
            ViewerServer server;
            try
            {
                server = ViewerServer.StartAsync(session, p, cancellationToken).GetAwaiter().GetResult();
            }
            catch
            {
                session.Dispose();
                throw;
            }

            try
            {
                var warm = session.WarmAsync(); // the first slice and window, while the browser starts
                stdout.WriteLine($"mlarray view: {server.Url}");
                stdout.WriteLine($"serving {ViewerSession.Shown(pr.GetValue(file)!)}{(session.HasSeg ? " with its segmentation" : "")} on 127.0.0.1 only; press Ctrl+C to stop.");
                stdout.Flush();
                if (pr.GetValue(open) && BrowserLauncher.Open(server.Url, BrowserLauncher.Candidates(server.Url, Environment.GetEnvironmentVariable("BROWSER")), stderr) is { } launched)
                    stdout.WriteLine($"opened the page with {launched.Replace(server.Token, "<token>", StringComparison.Ordinal)}");
                stdout.Flush();
                WaitHandle.WaitAny([cancellationToken.WaitHandle, server.Stopping.WaitHandle]);
                warm.Wait(TimeSpan.FromSeconds(5)); // not closing the file under a read still running
            }
            finally
            {
                server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            stdout.WriteLine("mlarray view: stopped.");
            return CliApp.Ok;
        }));
        return cmd;
    }
}
