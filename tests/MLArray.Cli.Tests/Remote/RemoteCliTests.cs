using System.Text.Json;
using MLArray.Cli.Tests.Cli;
using MLArray.IO;
using MLArray.Tests.Remote;
using MLArray.TestSupport;

namespace MLArray.Cli.Tests.Remote;

/// <summary>The CLI reading inputs from a real nginx on 127.0.0.1.</summary>
public sealed class RemoteCliTests(NginxServer nginx) : IClassFixture<NginxServer>
{
    private static string BigLocal => Path.GetFullPath(Path.Combine(MlaCorpus.Dir, "..", "blosc2", "mlarray_big_f4_volume_lz4hc8.mla"));

    [Fact]
    public void Header_json_of_a_url_matches_the_local_file_and_reports_two_requests()
    {
        var url = nginx.Serve(BigLocal, "cli/big.mla");
        var remote = CliRun.Run("header", url + "?token=SECRET42", "--json");
        var local = CliRun.Run("header", BigLocal, "--json");
        Assert.True(remote.Code == 0, remote.Err);
        using var r = JsonDocument.Parse(remote.Out);
        using var l = JsonDocument.Parse(local.Out);
        Assert.Equal(2, r.RootElement.GetProperty("requests").GetInt64());
        Assert.True(r.RootElement.GetProperty("bytes").GetInt64() < new FileInfo(BigLocal).Length / 4);
        Assert.False(l.RootElement.TryGetProperty("requests", out _));
        foreach (var p in l.RootElement.EnumerateObject())
            Assert.Equal(p.Value.GetRawText(), r.RootElement.GetProperty(p.Name).GetRawText());
        Assert.DoesNotContain("SECRET42", remote.Out + remote.Err);
    }

    [Fact]
    public void Header_validate_and_convert_print_a_url_without_its_user_info_and_query_string()
    {
        var url = nginx.Serve(BigLocal, "cli/secret.mla");
        string withSecrets = $"http://alice:PASSW0RD@127.0.0.1:{url.Port}{url.AbsolutePath}?sv=2025&sig=SECRET42";
        string shown = $"http://127.0.0.1:{url.Port}{url.AbsolutePath}?…";
        string npy = Path.Combine(Path.GetTempPath(), $"mla-secret-{Guid.NewGuid():N}.npy");
        try
        {
            foreach (var run in new[] { CliRun.Run("header", withSecrets), CliRun.Run("validate", withSecrets), CliRun.Run("convert", withSecrets, npy) })
            {
                Assert.True(run.Code == 0, run.Err);
                Assert.DoesNotContain("PASSW0RD", run.Out + run.Err);
                Assert.DoesNotContain("SECRET42", run.Out + run.Err);
                Assert.DoesNotContain("alice", run.Out + run.Err);
            }
            Assert.Contains($"file        {shown}", CliRun.Run("header", withSecrets).Out);
            Assert.Contains($"{shown}: valid", CliRun.Run("validate", withSecrets).Out);
        }
        finally
        {
            File.Delete(npy);
        }
    }

    [Fact]
    public void Bench_with_cache_reads_the_second_run_from_disk()
    {
        var url = nginx.Serve(BigLocal, "cli/cached.mla").ToString();
        string dir = Directory.CreateTempSubdirectory("mla-remote-cache-").FullName;
        try
        {
            static long Requests((int Code, string Out, string Err) r)
            {
                Assert.True(r.Code == 0, r.Err);
                using var j = JsonDocument.Parse(r.Out);
                return j.RootElement.GetProperty("requests").GetInt64();
            }
            long first = Requests(CliRun.Run("bench", url, "--count", "4", "--json", "--cache", dir));
            long second = Requests(CliRun.Run("bench", url, "--count", "4", "--json", "--cache", dir));
            Assert.True(first > 2, $"{first} requests");
            Assert.Equal(2, second); // the opening requests (they learn the ETag); every chunk from the cache folder
            Assert.NotEmpty(Directory.GetFiles(dir, "data", SearchOption.AllDirectories)); // one data file per object version
            Assert.Equal(0, CliRun.Run("header", url, "--cache", dir).Code);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Validate_convert_and_bench_take_urls()
    {
        var url = nginx.Serve(BigLocal, "cli/big2.mla").ToString();
        var v = CliRun.Run("validate", url);
        Assert.True(v.Code == 0, v.Err + v.Out);
        string dir = Directory.CreateTempSubdirectory("mla-remote-cli-").FullName;
        try
        {
            string npy = Path.Combine(dir, "out.npy");
            var c = CliRun.Run("convert", url + "?sig=SECRET42", npy);
            Assert.True(c.Code == 0, c.Err);
            string localNpy = Path.Combine(dir, "local.npy");
            Assert.Equal(0, CliRun.Run("convert", BigLocal, localNpy).Code);
            Assert.Equal(File.ReadAllBytes(localNpy), File.ReadAllBytes(npy));
            var b = CliRun.Run("bench", url, "--count", "4", "--json");
            Assert.True(b.Code == 0, b.Err);
            using var j = JsonDocument.Parse(b.Out);
            Assert.True(j.RootElement.GetProperty("requests").GetInt64() > 2);
            Assert.True(j.RootElement.GetProperty("bytes").GetInt64() > 0);
            var missing = CliRun.Run("header", nginx.Url("cli/missing.mla") + "?sig=SECRET42");
            Assert.NotEqual(0, missing.Code);
            Assert.Contains("404", missing.Err);
            Assert.DoesNotContain("SECRET42", missing.Err);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
