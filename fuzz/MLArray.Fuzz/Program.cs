using MLArray.Fuzz;
using SharpFuzz;

// Usage: MLArray.Fuzz <target> [input-file...]   |   MLArray.Fuzz make-seeds <tests/data> <fuzz/seeds>
//   Under afl-fuzz (fuzz/run.sh): runs the target in SharpFuzz's persistent mode.
//   With an input file: runs the target once on it and prints the outcome (to replay a crash or a hang; use the
//   uninstrumented build, fuzz/run.sh replay does).
// Nothing from the instrumented assemblies may run before Fuzzer.Run has set up the coverage map, hence the
// target names here and the lookup inside the action.
string[] names = ["frame", "chunk", "vlmeta", "pickle", "nifti", "nrrd", "nrrd-detached", "npy"];
if (args is ["make-seeds", var dataDir, var seedDir])
{
    return Seeds.Make(dataDir, seedDir);
}

if (args.Length < 1 || !names.Contains(args[0]))
{
    Console.Error.WriteLine($"usage: MLArray.Fuzz <{string.Join('|', names)}> [input-file...]");
    return 2;
}

string name = args[0];
if (args.Length >= 2)
{
    // Several files run in order in one process, as persistent mode would run them (state carried between inputs).
    foreach (string file in args[1..])
    {
        byte[] input = File.ReadAllBytes(file);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Harness.Execute(Targets.All[name], input);
        Console.WriteLine($"{name} {Path.GetFileName(file)}: ok ({input.Length} bytes, {sw.ElapsedMilliseconds} ms; outcome: {Harness.LastOutcome})");
    }

    return 0;
}

Action<byte[]>? target = null;
Fuzzer.Run(stream =>
{
    target ??= Targets.All[name];
    using var ms = new MemoryStream();
    stream.CopyTo(ms);
    byte[] input = ms.ToArray();
    try
    {
        Harness.Execute(target, input);
    }
    catch (Exception e) when (Environment.GetEnvironmentVariable("MLARRAY_FUZZ_CRASHLOG") is { Length: > 0 } log)
    {
        // afl-fuzz saves the input but not the exception: keep both (run.sh sets the log next to the findings).
        File.AppendAllText(log, $"--- {DateTime.UtcNow:O} input {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(input))[..16]} ({input.Length} bytes)\n{e}\n");
        throw;
    }
});
return 0;
