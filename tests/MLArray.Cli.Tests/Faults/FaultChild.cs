using System.Globalization;
using System.Runtime.InteropServices;
using MLArray.Blosc2;
using NpyIO = MLArray.IO.Npy;

namespace MLArray.Cli.Tests.Faults;

/// <summary>
/// The entry point of this test assembly (GenerateProgramFile is off): run as <c>dotnet MLArray.Cli.Tests.dll MODE …</c>
/// it becomes the child process of the kill tests, looping writes until it is killed. Under the test runner
/// (testhost) it is never called.
/// </summary>
public static class FaultChild
{
    /// <summary>Shape and chunking of the arrays the children write.</summary>
    internal static readonly long[] Shape = [12, 40, 40];

    internal const int Count = 12 * 40 * 40;

    /// <summary>The content of generation <paramref name="g"/> of the atomic-replace target: distinct per generation.</summary>
    internal static float[] Generation(long g)
    {
        var v = new float[Count];
        for (int i = 0; i < v.Length; i++) v[i] = (float)(((i * 7919L + g * 104729L) % 65521) + g * 0.5);
        return v;
    }

    /// <summary>The box written by r+ write number <paramref name="k"/> (deterministic in the seed and k).</summary>
    internal static NdIndex[] Box(int seed, long k, long[] shape)
    {
        var rng = new Random(unchecked(seed * 1_000_003 + (int)k)); // not HashCode.Combine: randomised per process
        var sel = new NdIndex[shape.Length];
        for (int d = 0; d < shape.Length; d++)
        {
            long a = rng.NextInt64(shape[d]), b = rng.NextInt64(shape[d]);
            sel[d] = NdIndex.Slice(Math.Min(a, b), Math.Max(a, b) + 1);
        }
        return sel;
    }

    /// <summary>Child modes: <c>atomic DIR START_GEN</c> and <c>rplus FILE SEED START_K</c>.</summary>
    public static int Main(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length == 3 && args[0] == "atomic")
            return Atomic(args[1], long.Parse(args[2], CultureInfo.InvariantCulture));
        if (args.Length == 4 && args[0] == "rplus")
            return RPlus(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), long.Parse(args[3], CultureInfo.InvariantCulture));
        if (args.Length == 2 && args[0] == "hold")
            return Hold(args[1]);
        Console.Error.WriteLine("usage: atomic DIR START_GEN | rplus FILE SEED START_K | hold FILE");
        return 1;
    }

    /// <summary>
    /// Replaces DIR/t.mla with generation g, g+1, … in rotation through MLArrayFile.Save, the CLI's npy → mla convert
    /// and an in-place vlmeta rewrite (the migrate path), printing "done G SHA256" (of the file written) after each.
    /// </summary>
    private static int Atomic(string dir, long start)
    {
        string target = Path.Combine(dir, "t.mla");
        string npy = Path.Combine(dir, "in.npy");
        Console.WriteLine("ready");
        for (long g = start; ; g++)
        {
            switch (g % 3)
            {
                case 0:
                    using (var img = MLArrayFile.FromArray(Generation(g), Shape))
                        img.Save(target);
                    break;
                case 1:
                    NpyIO.Write(npy, new IO.NpyArray("<f4", Shape, MemoryMarshal.AsBytes(Generation(g).AsSpan()).ToArray()));
                    int code = CliApp.Run(["convert", npy, target, "--codec", "zstd", "--clevel", "1", "--overwrite"], TextWriter.Null, Console.Error);
                    if (code != 0) return code;
                    break;
                default:
                    // the data stay those of generation g-1; only the "gen" entry changes (copy of header and chunks + new trailer)
                    B2ndFrameEditor.RewriteVlMeta(target, target, new Dictionary<string, byte[]?> { ["gen"] = BitConverter.GetBytes(g) });
                    break;
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"done {g} {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(target)))}"));
        }
    }

    /// <summary>
    /// Opens FILE read/write, prints "ready", waits for a line on stdin, then writes -1 into the whole first plane
    /// (values are float32), disposes and prints "written" (a writer that another process must not cut off).
    /// </summary>
    private static int Hold(string file)
    {
        using (var a = B2ndArray.Open(file, B2ndOpenMode.ReadWrite))
        {
            Console.WriteLine("ready");
            Console.In.ReadLine();
            long plane = a.Length / a.Shape[0];
            var values = new float[plane];
            Array.Fill(values, -1f);
            a.Write([NdIndex.At(0)], MemoryMarshal.AsBytes(values.AsSpan()), threads: 1);
        }
        Console.WriteLine("written");
        return 0;
    }

    /// <summary>Opens FILE read/write and writes box k (all values k) for k = START_K, …, printing "done K" after each.</summary>
    private static int RPlus(string file, int seed, long start)
    {
        using var a = B2ndArray.Open(file, B2ndOpenMode.ReadWrite);
        long[] shape = a.Shape;
        Console.WriteLine("ready");
        for (long k = start; ; k++)
        {
            var sel = Box(seed, k, shape);
            long n = a.GetSelectionShape(sel).Aggregate(1L, (x, y) => x * y);
            var values = new int[n];
            Array.Fill(values, (int)k);
            a.Write(sel, MemoryMarshal.AsBytes(values.AsSpan()), threads: 1);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"done {k}"));
        }
    }
}
