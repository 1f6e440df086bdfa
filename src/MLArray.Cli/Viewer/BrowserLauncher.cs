using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace MLArray.Cli.Viewer;

/// <summary>
/// <c>mlarray view --open</c>: starts the user's browser on the page. <c>$BROWSER</c> first (a list of commands
/// separated by <c>:</c>, the convention of xdg-utils and Python's <c>webbrowser</c>; <c>%s</c> in a command is replaced
/// by the URL, else the URL is appended), then <c>xdg-open</c> (<c>open</c> on macOS, the shell on Windows). The
/// browser is not waited for.
/// </summary>
internal static class BrowserLauncher
{
    /// <summary>The commands tried in order for <paramref name="url"/>: each a file name and its arguments.</summary>
    public static IReadOnlyList<(string File, string[] Args)> Candidates(string url, string? browserVariable)
    {
        var list = new List<(string, string[])>();
        foreach (string entry in (browserVariable ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var words = SplitWords(entry);
            if (words.Count == 0) continue;
            bool placed = false;
            for (int i = 1; i < words.Count; i++)
                if (words[i].Contains("%s", StringComparison.Ordinal))
                {
                    words[i] = words[i].Replace("%s", url, StringComparison.Ordinal);
                    placed = true;
                }

            if (!placed) words.Add(url);
            list.Add((words[0], [.. words.Skip(1)]));
        }

        if (!OperatingSystem.IsWindows()) list.Add((OperatingSystem.IsMacOS() ? "open" : "xdg-open", [url]));
        return list;
    }

    /// <summary>
    /// Starts the first of <paramref name="candidates"/> (<see cref="Candidates"/>) that runs; returns its command line,
    /// or null after a message on <paramref name="stderr"/>. No candidates on Windows: the shell opens the URL.
    /// </summary>
    public static string? Open(string url, IReadOnlyList<(string File, string[] Args)> candidates, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(stderr);
        if (OperatingSystem.IsWindows() && candidates.Count == 0)
        {
            try
            {
                using var _ = Process.Start(new ProcessStartInfo(url) { UseShellExecute = true });
                return url;
            }
            catch (Exception e) when (e is Win32Exception or InvalidOperationException)
            {
                stderr.WriteLine($"mlarray: could not open a browser ({e.Message}); open the URL yourself.");
                return null;
            }
        }

        var failures = new List<string>();
        foreach (var (file, args) in candidates)
        {
            var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardInput = false };
            foreach (string a in args) psi.ArgumentList.Add(a);
            try
            {
                using var p = Process.Start(psi);
                if (p is not null) return file + " " + string.Join(' ', args);
            }
            catch (Exception e) when (e is Win32Exception or InvalidOperationException)
            {
                failures.Add($"{file}: {e.Message}");
            }
        }

        stderr.WriteLine($"mlarray: could not open a browser ({string.Join("; ", failures)}); set $BROWSER or open the URL yourself.");
        return null;
    }

    /// <summary>Splits a command on spaces; single or double quotes group words (no other shell syntax).</summary>
    private static List<string> SplitWords(string command)
    {
        var words = new List<string>();
        var cur = new StringBuilder();
        char quote = '\0';
        bool any = false;
        foreach (char ch in command)
        {
            if (quote != '\0')
            {
                if (ch == quote) quote = '\0';
                else cur.Append(ch);
            }
            else if (ch is '"' or '\'')
            {
                quote = ch;
                any = true;
            }
            else if (char.IsWhiteSpace(ch))
            {
                if (any || cur.Length > 0) words.Add(cur.ToString());
                cur.Clear();
                any = false;
            }
            else cur.Append(ch);
        }

        if (any || cur.Length > 0) words.Add(cur.ToString());
        return words;
    }
}
