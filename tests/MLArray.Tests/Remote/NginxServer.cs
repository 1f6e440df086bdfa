using System.Diagnostics;
using MLArray.TestSupport;

namespace MLArray.Tests.Remote;

/// <summary>
/// A real nginx (Debian's package) on 127.0.0.1 with its own configuration in a temp folder, serving <see cref="Root"/>.
/// Locations: <c>/</c> static files with ranges; <c>/noranges/</c> ignores Range (<c>max_ranges 0</c>: 200 + whole body);
/// <c>/forbidden/</c> answers 403; <c>/loop/</c> redirects to itself; <c>/noetag/</c> sends no ETag (only Last-Modified);
/// <c>/signed-redirect/NAME</c> redirects (302) to <c>/data/NAME?sig=</c> the time in ms (a CDN's signed link). Starting fails loudly (never a silent pass).
/// </summary>
public sealed class NginxServer : IDisposable
{
    private readonly Process _process;
    private readonly string _dir;

    public NginxServer()
    {
        string exe = new[] { "/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("nginx is not installed: the remote-read tests need it (apt-get install -y nginx; .ci/run installs it).");
        _dir = Directory.CreateTempSubdirectory("mla-nginx-").FullName;
        Root = Path.Combine(_dir, "www");
        Directory.CreateDirectory(Path.Combine(Root, "noranges"));
        Port = LoopbackServer.FreePort();
        string conf = Path.Combine(_dir, "nginx.conf");
        File.WriteAllText(conf, $$"""
            daemon off;
            master_process off;
            worker_processes 1;
            pid {{_dir}}/nginx.pid;
            error_log {{_dir}}/error.log warn;
            events { worker_connections 256; }
            http {
                access_log off;
                sendfile on;
                tcp_nopush on;
                client_body_temp_path {{_dir}}/tmp_body;
                proxy_temp_path {{_dir}}/tmp_proxy;
                fastcgi_temp_path {{_dir}}/tmp_fastcgi;
                uwsgi_temp_path {{_dir}}/tmp_uwsgi;
                scgi_temp_path {{_dir}}/tmp_scgi;
                default_type application/octet-stream;
                server {
                    listen 127.0.0.1:{{Port}};
                    root {{Root}};
                    location /noranges/ { max_ranges 0; }
                    location /forbidden/ { return 403; }
                    location /loop/ { return 302 /loop/again.mla; }
                    location /noetag/ { etag off; }
                    location /signed-redirect/ { rewrite ^/signed-redirect/(.*)$ /data/$1?sig=$msec redirect; }
                }
            }
            """);
        _process = Process.Start(new ProcessStartInfo(exe, ["-p", _dir, "-c", conf, "-e", Path.Combine(_dir, "error.log")])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("nginx did not start.");
        LoopbackServer.WaitUntilListening(_process, Port, "nginx", TimeSpan.FromSeconds(20), ErrorLog, Dispose);
    }

    public int Port { get; }

    /// <summary>The nginx process (one process: no master, one worker), for its CPU time.</summary>
    public int ProcessId => _process.Id;

    public string Root { get; }

    public Uri Url(string relative) => new($"http://127.0.0.1:{Port}/{relative}");

    /// <summary>Copies <paramref name="file"/> under <see cref="Root"/> as <paramref name="relative"/>.</summary>
    public Uri Serve(string file, string relative)
    {
        string target = Path.Combine(Root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        File.Copy(file, target, overwrite: true);
        return Url(relative);
    }

    private string ErrorLog()
    {
        string log = Path.Combine(_dir, "error.log");
        return File.Exists(log) ? File.ReadAllText(log) : "(no error log)";
    }

    public void Dispose() => LoopbackServer.Stop(_process, _dir);
}

/// <summary>Injects HTTP-level faults: each request is passed to <see cref="Rule"/>, which may answer instead of the server.</summary>
public sealed class FaultHandler() : DelegatingHandler(new SocketsHttpHandler { AllowAutoRedirect = false })
{
    private int _count;

    /// <summary>Given the request number (from 1) and the request, an answer replacing the server's, or null.</summary>
    public Func<int, HttpRequestMessage, HttpResponseMessage, Task<HttpResponseMessage>>? Rule { get; set; }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        int n = Interlocked.Increment(ref _count);
        var response = await base.SendAsync(request, cancellationToken);
        return Rule is null ? response : await Rule(n, request, response);
    }
}

/// <summary>
/// Adds a fixed delay before each request (a simulated network round trip) and records how many requests were in
/// flight at once.
/// </summary>
public sealed class LatencyHandler(TimeSpan delay) : DelegatingHandler(new SocketsHttpHandler { AllowAutoRedirect = false, MaxConnectionsPerServer = 64 })
{
    private int _inFlight;
    private int _maxInFlight;

    /// <summary>The largest number of requests in flight at the same time so far.</summary>
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    /// <summary>Forgets <see cref="MaxInFlight"/>.</summary>
    public void ResetMax() => Volatile.Write(ref _maxInFlight, 0);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        int now = Interlocked.Increment(ref _inFlight);
        int max;
        while (now > (max = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, now, max) != max)
        {
        }
        try
        {
            await Task.Delay(delay, cancellationToken);
            return await base.SendAsync(request, cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }
}
