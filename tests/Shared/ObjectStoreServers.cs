using System.Diagnostics;
using System.Text;

namespace MLArray.TestSupport;

/// <summary>
/// A server from the npm registry (s3rver, Azurite) installed by .ci/run into a cache folder outside the repository
/// (<c>$MLARRAY_NPM_CACHE</c>, default <c>~/.cache/mlarray-ci/npm</c>), started on 127.0.0.1 with a free port and a
/// temporary data folder, stopped and deleted on dispose. A server that is missing or does not start makes the test
/// fail (never pass, never skip).
/// </summary>
public abstract class NpmServer : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    protected NpmServer(string tool, Func<string, int, string[]> arguments)
    {
        string cache = Environment.GetEnvironmentVariable("MLARRAY_NPM_CACHE") is { Length: > 0 } c ? c
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "mlarray-ci", "npm");
        string exe = Path.Combine(cache, "node_modules", ".bin", tool);
        if (!File.Exists(exe))
            throw new InvalidOperationException($"{tool} is not installed in {cache}: the object-store tests need it (.ci/run installs it: npm install --prefix {cache} s3rver@3.7.1 azurite@3.37.0).");
        DataDir = Directory.CreateTempSubdirectory($"mla-{tool}-").FullName;
        Port = LoopbackServer.FreePort();
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments(DataDir, Port))
            psi.ArgumentList.Add(a);
        _process = Process.Start(psi) ?? throw new InvalidOperationException($"{tool} did not start.");
        _process.OutputDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        LoopbackServer.WaitUntilListening(_process, Port, tool, TimeSpan.FromSeconds(60), () => Log, Dispose);
    }

    public int Port { get; }

    public string DataDir { get; }

    public string Endpoint => $"http://127.0.0.1:{Port}";

    private string Log
    {
        get
        {
            lock (_log)
                return _log.ToString();
        }
    }

    public void Dispose() => LoopbackServer.Stop(_process, DataDir);
}

/// <summary>s3rver 3.7.1 with the bucket <see cref="Bucket"/>; credentials S3RVER/S3RVER (s3rver's only account).</summary>
public sealed class S3rverServer() : NpmServer("s3rver", (dir, port) =>
    ["-d", dir, "-a", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--silent", "--configure-bucket", "mlarray-test"])
{
    public const string Bucket = "mlarray-test";
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";
}

/// <summary>Azurite 3.37.0 (blob service only), with its well-known development account.</summary>
public sealed class AzuriteServer() : NpmServer("azurite-blob", (dir, port) =>
    ["--location", dir, "--blobHost", "127.0.0.1", "--blobPort", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--silent", "--skipApiVersionCheck"])
{
    public const string Account = "devstoreaccount1";

    /// <summary>Azurite's published development key (not a secret).</summary>
    public const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    public string ConnectionString => ConnectionStringWith(Key);

    public string ConnectionStringWith(string key) =>
        $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={key};BlobEndpoint={Endpoint}/{Account};";
}
