using System.Text;

namespace MLArray.Generators.Tests;

/// <summary>
/// Golden files under Snapshots/. A mismatch fails with a line diff; set MLARRAY_ACCEPT_SNAPSHOTS=1 to (re)write them.
/// </summary>
internal static class Snapshot
{
    private static bool Accept => Environment.GetEnvironmentVariable("MLARRAY_ACCEPT_SNAPSHOTS") == "1";

    public static void Match(string scenario, IReadOnlyList<KeyValuePair<string, string>> files)
    {
        var dir = Path.Combine(TestPaths.ProjectDir, "Snapshots", scenario);
        var failures = new StringBuilder();
        var expectedNames = Directory.Exists(dir) ? Directory.GetFiles(dir, "*.txt").Select(Path.GetFileName).ToHashSet() : [];
        foreach (var (hint, text) in files)
        {
            var name = hint + ".txt";
            expectedNames.Remove(name);
            var path = Path.Combine(dir, name);
            var actual = Normalize(text);
            if (Accept)
            {
                Directory.CreateDirectory(dir);
                File.WriteAllText(path, actual);
                continue;
            }
            if (!File.Exists(path))
            {
                failures.AppendLine($"missing snapshot {scenario}/{name} (run with MLARRAY_ACCEPT_SNAPSHOTS=1 to create it)");
                continue;
            }
            var expected = Normalize(File.ReadAllText(path));
            if (expected != actual) failures.AppendLine($"snapshot {scenario}/{name} differs:").AppendLine(Diff(expected, actual));
        }
        foreach (var stale in expectedNames)
        {
            if (Accept) File.Delete(Path.Combine(dir, stale!));
            else failures.AppendLine($"snapshot {scenario}/{stale} is no longer generated");
        }
        if (failures.Length > 0) Assert.Fail(failures + "(set MLARRAY_ACCEPT_SNAPSHOTS=1 to accept the new output)");
    }

    private static string Normalize(string s) => s.Replace("\r\n", "\n", StringComparison.Ordinal).TrimStart('\uFEFF');

    /// <summary>A small unified-style diff (LCS over lines, context 3).</summary>
    internal static string Diff(string expected, string actual)
    {
        var a = expected.Split('\n');
        var b = actual.Split('\n');
        var lcs = new int[a.Length + 1, b.Length + 1];
        for (int i = a.Length - 1; i >= 0; i--)
            for (int j = b.Length - 1; j >= 0; j--)
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
        var ops = new List<(char Op, string Line, int LineNo)>();
        int x = 0, y = 0;
        while (x < a.Length || y < b.Length)
        {
            if (x < a.Length && y < b.Length && a[x] == b[y]) { ops.Add((' ', a[x], x + 1)); x++; y++; }
            else if (y < b.Length && (x == a.Length || lcs[x, y + 1] >= lcs[x + 1, y])) { ops.Add(('+', b[y], y + 1)); y++; }
            else { ops.Add(('-', a[x], x + 1)); x++; }
        }
        var sb = new StringBuilder();
        int shown = 0;
        for (int k = 0; k < ops.Count && shown < 200; k++)
        {
            bool near = false;
            for (int m = Math.Max(0, k - 3); m <= Math.Min(ops.Count - 1, k + 3); m++) near |= ops[m].Op != ' ';
            if (!near) continue;
            sb.Append(ops[k].Op).Append(' ').Append(ops[k].LineNo.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(5)).Append(": ").AppendLine(ops[k].Line);
            shown++;
        }
        return sb.ToString();
    }
}
