using BenchmarkDotNet.Running;

namespace MLArray.Bench;

/// <summary>
/// Benchmarks. `dotnet run -c Release --project bench/MLArray.Bench -- quick [file.mla]` prints a fast
/// Stopwatch-based table (medians); `open-large [GB]` times opening a large file it builds; `display [GB]` times
/// open + first rendered slice of `mlarray view` on a large file it builds; `api [GB]` times
/// MLArrayFile open+metadata (small file and a built GB-sized one) and Load of the corpus volume;
/// `lz4hc [file.mla] [level] [reps] [--dump FILE]` times the LZ4 HC block encoders alone;
/// `convert [runs] [edge] [folder]` times NIfTI → .mla conversion against plain gzip inflate (target ratio ≤ 1.3);
/// `convert --native PATH [--cli NAME=PROGRAM]... [pairs]` times whole `mlarray convert` processes against a native pipeline;
/// `hostile-meta make|read FILE [entries]` builds and times the refusal of a .mla whose metadata inflates to a 53 MB pickle;
/// `loader [--cases 20] [--shape 256,256,200] [--patch 128] [--batches 24]` times the training patch loader against raw reads;
/// `predict [edge] [patch] [batch] [model]` times sliding-window ONNX inference (see PredictBench);
/// `remote [--file F.mla | --big GB] [--count N] [--latency MS]` reads over a loopback nginx with added latency (see RemoteBench);
/// `native [--native PATH] [--file F] [--patch 64] [--pairs 10]` times random patch reads and the full decode against
/// an external native C-Blosc2 bench program in interleaved pairs (see NativeCompareBench);
/// `writes [runs]` times FromArray + Save, Create + one Write and Create + plane-by-plane Writes (sizes too);
/// `dtypes [reps]` times big-endian reads (the swap at the read boundary) and float16 → float32 widening (see DTypeBench);
/// any other arguments go to BenchmarkDotNet (e.g. `--filter *Decode*`).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "quick")
            return QuickBench.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "api")
            return ApiBench.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "lz4hc")
            return Lz4HcBench.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "convert")
            return ConvertBench.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "hostile-meta")
            return HostileMetaBench.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "loader")
            return LoaderBench.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "predict")
            return PredictBench.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "remote")
            return RemoteBench.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "writes")
            return WriteBench.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "lz4-streams")
            return Lz4StreamBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "native")
            return NativeCompareBench.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "display")
            return DisplayBench.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "dtypes")
            return DTypeBench.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "open-large")
            return LargeFileBench.Run(args.Skip(1).ToArray());
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
