using MLArray.Fuzz;
using SharpFuzz;

// Usage: MLArray.Fuzz <target> [input-file]   |   MLArray.Fuzz make-seeds <tests/data> <fuzz/seeds>
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
    Console.Error.WriteLine($"usage: MLArray.Fuzz <{string.Join('|', names)}> [input-file]");
    return 2;
}

string name = args[0];
if (args.Length >= 2)
{
    byte[] input = File.ReadAllBytes(args[1]);
    var sw = System.Diagnostics.Stopwatch.StartNew();
    Harness.Execute(Targets.All[name], input);
    Console.WriteLine($"{name}: ok ({input.Length} bytes, {sw.ElapsedMilliseconds} ms; outcome: {Harness.LastOutcome})");
    return 0;
}

Action<byte[]>? target = null;
Fuzzer.Run(stream =>
{
    target ??= Targets.All[name];
    using var ms = new MemoryStream();
    stream.CopyTo(ms);
    Harness.Execute(target, ms.ToArray());
});
return 0;
