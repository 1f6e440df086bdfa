using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using MLArray.Blosc2;
using MLArray.Conversion;
using MLArray.Medical.Nifti;

namespace MLArray.Bench;

/// <summary>
/// `convert [runs] [edge] [folder]`: NIfTI → .mla conversion against plain gzip decoding. Inputs: the largest .nii.gz of
/// tests/data/medical and a synthetic CT-like int16 volume of edge×edge×edge (default 256) written as .nii.gz by our own
/// writer. For each: (a) System.IO.Compression GZipStream inflate of the whole file into a null sink, (b) the streaming
/// MedicalConverter.ToMLArray(input, output) with default options (what `mlarray convert IN OUT.mla` runs), (c) the
/// in-memory path (Nifti.Read, FromNifti, Save) for comparison; medians of `runs` runs, the ratio (b)/(a) (target ≤ 1.3)
/// and the bytes each path allocates (GC.GetTotalAllocatedBytes).
/// </summary>
internal static class ConvertBench
{
    public static int Run(string[] args)
    {
        int ni = Array.IndexOf(args, "--native");
        if (ni >= 0 && ni + 1 < args.Length)
            return CompareNative(args[ni + 1], args.Take(ni).Concat(args.Skip(ni + 2)).ToArray());
        int runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5;
        int edge = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 256;
        string folder = Directory.CreateTempSubdirectory("mlarray-convert-bench-").FullName;
        if (args.Length > 2) folder = Directory.CreateDirectory(Path.Combine(args[2], $"mlarray-convert-bench-{Environment.ProcessId}")).FullName;
        try
        {
            string corpus = Directory.EnumerateFiles(MedicalDir(), "*.nii.gz", SearchOption.AllDirectories)
                .Where(p => !p.Contains("complex", StringComparison.Ordinal))
                .OrderByDescending(p => new FileInfo(p).Length).First();
            string synthetic = Path.Combine(folder, $"ct{edge}.nii.gz");
            var w = Stopwatch.StartNew();
            WriteCtLike(synthetic, edge, edge, edge);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"cores {Environment.ProcessorCount}; wrote {synthetic} ({edge}^3 int16, {new FileInfo(synthetic).Length / 1e6:F1} MB gz) in {w.Elapsed.TotalSeconds:F1} s"));
            Console.WriteLine($"{"input",-34} {"path",-32} {"median ms",10} {"min ms",8} {"alloc MB",9} {"ratio",6}");
            foreach (string input in (string[])[corpus, synthetic])
                Measure(input, Path.Combine(folder, "out.mla"), runs);
            return 0;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static void Measure(string input, string output, int runs)
    {
        long decoded;
        using (var r = NiftiReader.Open(input)) decoded = r.DataBytes;
        string name = $"{Path.GetFileName(input)} ({decoded / 1e6:F1} MB)";
        (double inflate, double inflateMin, long inflateAlloc) = Time(runs, () => Inflate(input));
        Print(name, "inflate (GZipStream)", inflate, inflateMin, inflateAlloc, null);
        (double conv, double convMin, long convAlloc) = Time(runs, () => MedicalConverter.ToMLArray(input, output));
        Print(name, "convert (streaming)", conv, convMin, convAlloc, conv / inflate);
        (double mem, double memMin, long memAlloc) = Time(runs, () =>
        {
            using MLArrayFile f = MedicalConverter.FromNifti(Nifti.Read(input));
            f.Save(output);
        });
        Print(name, "read all, then compress", mem, memMin, memAlloc, mem / inflate);
        NiftiImage img = Nifti.Read(input);
        (double comp, double compMin, long compAlloc) = Time(runs, () =>
        {
            using MLArrayFile f = MedicalConverter.FromNifti(img);
            f.Save(output);
        });
        Print(name, "compress only (decoded)", comp, compMin, compAlloc, comp / inflate);
        var fast = new MedicalToMLArrayOptions { Compression = new CompressionParams { Codec = Blosc2Codec.LZ4, CLevel = 1, Threads = 0 } };
        (double cf, double cfMin, long cfAlloc) = Time(runs, () => MedicalConverter.ToMLArray(input, output, fast));
        Print(name, "convert, --codec lz4 --clevel 1", cf, cfMin, cfAlloc, cf / inflate);
        MedicalConverter.ToMLArray(input, output);
        using var check = MLArrayFile.Open(output);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{"",-34} output {check.DType} ({string.Join(", ", check.Shape)}), chunk ({string.Join(", ", check.ChunkShape)}), {new FileInfo(output).Length / 1e6:F1} MB, {check.Compression.Codec} {check.Compression.CLevel}"));
    }

    private static void Print(string input, string path, double median, double min, long alloc, double? ratio) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{input,-34} {path,-32} {median,10:F1} {min,8:F1} {alloc / 1e6,9:F1} {(ratio is { } x ? x.ToString("F2", CultureInfo.InvariantCulture) : ""),6}"));

    private static void Inflate(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        using var gz = new GZipStream(fs, CompressionMode.Decompress);
        gz.CopyTo(Stream.Null, 1 << 20);
    }

    /// <summary>Median and minimum milliseconds of <paramref name="runs"/> runs after one warm-up, and the bytes one run allocates.</summary>
    private static (double Median, double Min, long Alloc) Time(int runs, Action a)
    {
        a();
        var t = new List<double>();
        long alloc = 0;
        for (int i = 0; i < runs; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            long before = GC.GetTotalAllocatedBytes(precise: true);
            var sw = Stopwatch.StartNew();
            a();
            t.Add(sw.Elapsed.TotalMilliseconds);
            alloc = GC.GetTotalAllocatedBytes(precise: true) - before;
        }

        t.Sort();
        return (t[t.Count / 2], t[0], alloc);
    }

    /// <summary>
    /// <c>convert --native PATH [--cli NAME=PROGRAM]... [pairs] [edge] [keep-folder]</c>: whole <c>mlarray convert CT.nii.gz OUT.mla</c>
    /// processes (.NET start-up included) against a native pipeline program, in interleaved rounds (native, then each
    /// CLI form once) on the synthetic CT-like edge³ int16 volume. A CLI form is an installed tool's <c>mlarray</c>
    /// executable, or a <c>MLArray.Cli.dll</c> run through <c>dotnet</c>; without <c>--cli</c> the JIT build at
    /// src/MLArray.Cli/bin/Release/net10.0 is measured. The native program is called as
    /// <c>PATH IN.nii.gz OUT CHUNKS BLOCKS CODEC CLEVEL 2</c> with the chunks, blocks, codec and level our conversion
    /// chose (read back from our output), and must inflate the file and compress the voxels with 2 threads. Prints
    /// wall and CPU (user + system) medians of the whole processes and checks that every CLI form wrote the same bytes.
    /// </summary>
    private static int CompareNative(string native, string[] args)
    {
        var forms = new List<(string Name, string Exe, string[] Prefix)>();
        var rest = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--cli" && i + 1 < args.Length)
            {
                string spec = args[++i];
                int eq = spec.IndexOf('=', StringComparison.Ordinal);
                string name = eq > 0 ? spec[..eq] : $"cli{forms.Count + 1}", program = Path.GetFullPath(eq > 0 ? spec[(eq + 1)..] : spec);
                if (!File.Exists(program)) throw new FileNotFoundException($"--cli {spec}: no such file", program);
                forms.Add(program.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? (name, "dotnet", [program]) : (name, program, []));
            }
            else
            {
                rest.Add(args[i]);
            }
        }
        if (forms.Count == 0)
        {
            string cli = Path.Combine(MedicalDir(), "..", "..", "..", "src", "MLArray.Cli", "bin", "Release", "net10.0", "MLArray.Cli.dll");
            if (!File.Exists(cli))
                throw new FileNotFoundException($"build the CLI first (dotnet build src/MLArray.Cli -c Release), or name one with --cli: {cli}");
            forms.Add(("jit", "dotnet", [Path.GetFullPath(cli)]));
        }
        int pairs = rest.Count > 0 ? int.Parse(rest[0], CultureInfo.InvariantCulture) : 10;
        int edge = rest.Count > 1 ? int.Parse(rest[1], CultureInfo.InvariantCulture) : 256;
        string folder = Directory.CreateTempSubdirectory("mlarray-convert-native-").FullName;
        try
        {
            // A third argument names a folder where the synthetic input is kept (and reused) for profiling.
            string input = Path.Combine(rest.Count > 2 ? rest[2] : folder, $"ct{edge}.nii.gz");
            if (!File.Exists(input))
                WriteCtLike(input, edge, edge, edge);
            string nativeOut = Path.Combine(folder, "native.b2nd");
            string Out(int k) => Path.Combine(folder, $"ours{k}.mla");
            (double Wall, double Cpu) Whole(string exe, params string[] a)
            {
                // Through bash, whose `times` reports the finished child's user and system CPU time (second line).
                var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                foreach (var x in (string[])["-c", "\"$@\" >/dev/null || exit $?; times", "bash", exe, .. a]) psi.ArgumentList.Add(x);
                var sw = Stopwatch.StartNew();
                using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {exe}");
                string err = p.StandardError.ReadToEnd();
                string[] times = p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
                p.WaitForExit();
                double wall = sw.Elapsed.TotalMilliseconds;
                if (p.ExitCode != 0 || times.Length < 2) throw new InvalidOperationException($"{exe} exited with {p.ExitCode}: {err}");
                double cpu = times[1].Split(' ', StringSplitOptions.RemoveEmptyEntries).Sum(t =>
                {
                    int m = t.IndexOf('m');
                    return (double.Parse(t[..m], CultureInfo.InvariantCulture) * 60 + double.Parse(t[(m + 1)..].TrimEnd('s'), CultureInfo.InvariantCulture)) * 1e3;
                });
                return (wall, cpu);
            }
            (double Wall, double Cpu) Ours(int k)
            {
                File.Delete(Out(k));
                return Whole(forms[k].Exe, [.. forms[k].Prefix, "convert", input, Out(k)]);
            }
            for (int k = 0; k < forms.Count; k++) Ours(k); // warm the file cache
            string chunks, blocks, codec;
            int level;
            using (var f = MLArrayFile.Open(Out(0)))
            {
                chunks = string.Join(",", f.ChunkShape);
                blocks = string.Join(",", f.BlockShape);
                codec = f.Compression.Codec.ToString().ToLowerInvariant();
                level = f.Compression.CLevel;
            }
            for (int k = 1; k < forms.Count; k++)
                if (!File.ReadAllBytes(Out(k)).AsSpan().SequenceEqual(File.ReadAllBytes(Out(0))))
                    throw new InvalidOperationException($"{forms[k].Name} wrote different bytes from {forms[0].Name}");
            string[] nativeArgs = [input, nativeOut, chunks, blocks, codec, level.ToString(CultureInfo.InvariantCulture), "2"];
            Whole(native, nativeArgs);
            var nat = new List<(double Wall, double Cpu)>();
            var our = forms.Select(_ => new List<(double Wall, double Cpu)>()).ToArray();
            for (int i = 0; i < pairs; i++)
            {
                nat.Add(Whole(native, nativeArgs));
                var line = new System.Text.StringBuilder(string.Create(CultureInfo.InvariantCulture, $"round {i + 1,2}: native {nat[^1].Wall,6:F0} ms wall {nat[^1].Cpu,6:F0} ms CPU"));
                for (int k = 0; k < forms.Count; k++)
                {
                    our[k].Add(Ours(k));
                    line.Append(CultureInfo.InvariantCulture, $"   {forms[k].Name} {our[k][^1].Wall,6:F0} / {our[k][^1].Cpu,6:F0}");
                }
                Console.WriteLine(line);
            }
            double M(IEnumerable<double> v) { var a = v.Order().ToArray(); return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2; }
            double nw = M(nat.Select(x => x.Wall)), nc = M(nat.Select(x => x.Cpu));
            Console.WriteLine($"load average {File.ReadAllText("/proc/loadavg").Trim()}; {edge}^3 int16, chunks ({chunks}), blocks ({blocks}), {codec} {level}; files: ours {new FileInfo(Out(0)).Length} B, native {new FileInfo(nativeOut).Length} B");
            Console.WriteLine($"| NIfTI .nii.gz → .mla, whole process (medians of {pairs} interleaved rounds) | wall ms | CPU ms (user+sys) | wall ratio | CPU ratio |");
            Console.WriteLine("|---|---|---|---|---|");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| native (zlib-ng inflate, then C-Blosc2 2 threads) | {nw:F0} | {nc:F0} | | |"));
            for (int k = 0; k < forms.Count; k++)
            {
                double ow = M(our[k].Select(x => x.Wall)), oc = M(our[k].Select(x => x.Cpu));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| ours: {forms[k].Name} | {ow:F0} | {oc:F0} | {nw / ow:F2}× | {nc / oc:F2}× |"));
            }
            return 0;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static string MedicalDir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string p = Path.Combine(dir.FullName, "tests", "data", "medical");
            if (Directory.Exists(p)) return p;
        }

        throw new DirectoryNotFoundException("tests/data/medical not found above " + AppContext.BaseDirectory);
    }

    /// <summary>A CT-like int16 volume: air, a noisy soft-tissue ellipsoid, a bone shell; gzip at the default level, as scanners' exports are.</summary>
    internal static void WriteCtLike(string path, int nx, int ny, int nz)
    {
        short[] v = CtLikeVolume(nx, ny, nz);
        var affine = new double[,] { { -0.8, 0, 0, 100 }, { 0, -0.8, 0, 120 }, { 0, 0, 1.5, -80 }, { 0, 0, 0, 1 } };
        var bytes = new byte[v.Length * 2];
        Buffer.BlockCopy(v, 0, bytes, 0, bytes.Length);
        Nifti.Write(path, NiftiImage.Create(bytes, DType.Int16, [nx, ny, nz], affine), new NiftiWriteOptions { GzipLevel = CompressionLevel.Optimal });
    }

    /// <summary>The voxels of <see cref="WriteCtLike"/>, x fastest (C order z, y, x).</summary>
    internal static short[] CtLikeVolume(int nx, int ny, int nz)
    {
        var v = new short[(long)nx * ny * nz];
        uint s = 12345;
        for (int z = 0; z < nz; z++)
        {
            for (int y = 0; y < ny; y++)
            {
                for (int x = 0; x < nx; x++)
                {
                    double dx = (x - (nx / 2.0)) / (nx * 0.42), dy = (y - (ny / 2.0)) / (ny * 0.36), dz = (z - (nz / 2.0)) / (nz * 0.45);
                    double r = Math.Sqrt((dx * dx) + (dy * dy) + (dz * dz));
                    s = (s * 1664525) + 1013904223;
                    int noise = (int)(s >> 27) - 16;
                    v[x + ((long)nx * (y + ((long)ny * z)))] = (short)(r > 1 ? -1000 + (noise / 4) : r > 0.9 ? 700 + (noise * 3) : 40 + noise);
                }
            }
        }
        return v;
    }
}
