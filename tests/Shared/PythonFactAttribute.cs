using System.ComponentModel;
using System.Diagnostics;

namespace MLArray.TestSupport;

/// <summary>
/// The one way tests find a Python interpreter: the first of <c>python3</c>, <c>/usr/bin/python3</c> that can import
/// the given modules. Looked up once per module list and process.
/// </summary>
internal static class TestPython
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string?> Found = new();

    /// <summary>A python3 that imports every module in <paramref name="modules"/> (comma-separated), or null.</summary>
    public static string? Find(string modules = "") => Found.GetOrAdd(modules, Probe);

    private static string? Probe(string modules)
    {
        string import = string.Join("; ", modules.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(m => "import " + m));
        foreach (string candidate in (string[])["python3", "/usr/bin/python3"])
        {
            try
            {
                var psi = new ProcessStartInfo(candidate) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                psi.ArgumentList.Add("-c");
                psi.ArgumentList.Add(import.Length == 0 ? "pass" : import);
                using var p = Process.Start(psi)!;
                p.StandardOutput.ReadToEnd();
                p.StandardError.ReadToEnd();
                if (!p.WaitForExit(60_000)) { p.Kill(); continue; }
                if (p.ExitCode == 0) return candidate;
            }
            catch (Win32Exception)
            {
                // not installed
            }
        }
        return null;
    }
}

/// <summary>A fact that needs Python with some modules: reported as skipped (never passed) when they are missing.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class PythonFactAttribute : FactAttribute
{
    /// <param name="modules">Comma-separated modules the test imports, e.g. <c>"numpy"</c> or <c>"numpy,nibabel"</c>.</param>
    public PythonFactAttribute(string modules = "")
    {
        if (TestPython.Find(modules) is null)
            Skip = $"needs python3 with {(modules.Length == 0 ? "no extra modules" : modules)} (.ci/run installs it)";
    }
}

/// <summary>A theory that needs Python with some modules: reported as skipped when they are missing.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class PythonTheoryAttribute : TheoryAttribute
{
    /// <param name="modules">Comma-separated modules the test imports.</param>
    public PythonTheoryAttribute(string modules = "")
    {
        if (TestPython.Find(modules) is null)
            Skip = $"needs python3 with {(modules.Length == 0 ? "no extra modules" : modules)} (.ci/run installs it)";
    }
}
