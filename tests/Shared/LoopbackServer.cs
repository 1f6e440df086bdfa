using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace MLArray.TestSupport;

/// <summary>What the loopback test servers (nginx, s3rver, Azurite) share: a free port, waiting until the server listens, stopping it.</summary>
public static class LoopbackServer
{
    /// <summary>A port on 127.0.0.1 that was free a moment ago.</summary>
    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>
    /// Waits until <paramref name="process"/> accepts connections on 127.0.0.1:<paramref name="port"/>; throws (after
    /// <paramref name="cleanUp"/>) with the server's log when it exits or does not listen within <paramref name="timeout"/>.
    /// </summary>
    public static void WaitUntilListening(Process process, int port, string name, TimeSpan timeout, Func<string> log, Action cleanUp)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"{name} exited with code {process.ExitCode}: {log()}");
            try
            {
                using var probe = new TcpClient();
                probe.Connect(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(50);
            }
            catch (SocketException e)
            {
                cleanUp();
                throw new InvalidOperationException($"{name} did not accept connections on 127.0.0.1:{port} within {timeout.TotalSeconds:F0} s: {log()}", e);
            }
        }
    }

    /// <summary>Kills the server (and its children) if it still runs, and deletes its folder; best effort.</summary>
    public static void Stop(Process process, string folder)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }
        process.Dispose();
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
