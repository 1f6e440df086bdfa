using System.Diagnostics;

namespace MLArray.TestSupport;

/// <summary>Runs a Python script (found by <see cref="TestPython.Find"/>) and captures its output.</summary>
internal static class PythonScript
{
    /// <summary>
    /// Runs <c>python3 -I -c SCRIPT ARGS…</c> with a python3 that imports <paramref name="modules"/> and returns its exit
    /// code and output. Throws when no such python3 exists (tests guard with <c>[PythonFact]</c>) or it runs over
    /// two minutes.
    /// </summary>
    public static (int ExitCode, string Stdout, string Stderr) Run(string modules, string script, params IEnumerable<string> args)
    {
        string python = TestPython.Find(modules) ?? throw new InvalidOperationException($"no python3 with {modules}");
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-I");
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"python3 ran for more than two minutes: {stderr.Result}");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}

/// <summary>The python-jsonschema check shared by the schema tests.</summary>
internal static class JsonSchemaCheck
{
    /// <summary>argv: SCHEMA DOCS_JSON (a JSON array); prints one line per document: "valid" or "invalid: messages".</summary>
    public const string Script = """
        import json, sys
        from jsonschema import Draft202012Validator
        schema = json.load(open(sys.argv[1], encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
        v = Draft202012Validator(schema)
        for doc in json.load(open(sys.argv[2], encoding="utf-8")):
            errors = sorted(v.iter_errors(doc), key=lambda e: "/".join(map(str, e.absolute_path)))
            print("valid" if not errors else "invalid: " + " | ".join("/" + "/".join(map(str, e.absolute_path)) + ": " + e.message for e in errors))
        """;

    private static readonly Lazy<string> Dir = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "schema", "mlarray-meta.schema.json");
            if (File.Exists(candidate)) return Path.GetDirectoryName(candidate)!;
        }
        throw new DirectoryNotFoundException($"schema/mlarray-meta.schema.json not found above {AppContext.BaseDirectory}");
    });

    /// <summary>schema/mlarray-meta.schema.json of this repository.</summary>
    public static string CurrentSchema => Path.Combine(Dir.Value, "mlarray-meta.schema.json");

    /// <summary>python-jsonschema's verdict on each JSON document against the current schema: "valid" or "invalid: messages".</summary>
    public static string[] Verdicts(IReadOnlyList<string> jsonDocuments)
    {
        string docs = Path.Combine(Path.GetTempPath(), $"mla-schema-docs-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(docs, "[" + string.Join(",", jsonDocuments) + "]");
            var (code, stdout, stderr) = PythonScript.Run("jsonschema", Script, CurrentSchema, docs);
            var verdicts = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (code != 0 || verdicts.Length != jsonDocuments.Count)
                throw new InvalidOperationException($"python-jsonschema failed (exit {code}, {verdicts.Length} verdicts for {jsonDocuments.Count} documents): {stderr}");
            return verdicts;
        }
        finally
        {
            File.Delete(docs);
        }
    }
}
