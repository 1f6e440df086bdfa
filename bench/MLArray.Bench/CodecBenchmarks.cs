using BenchmarkDotNet.Attributes;
using MLArray.Blosc2;

namespace MLArray.Bench;

/// <summary>Whole-array decode and encode of the corpus volume, single-threaded, per codec.</summary>
[MemoryDiagnoser]
public class CodecBenchmarks
{
    private B2ndArray _source = null!;
    private byte[] _data = null!;
    private byte[] _out = null!;
    private readonly Dictionary<Blosc2Codec, B2ndArray> _encoded = [];

    [Params(Blosc2Codec.LZ4HC, Blosc2Codec.LZ4, Blosc2Codec.BloscLZ, Blosc2Codec.Zlib, Blosc2Codec.Zstd)]
    public Blosc2Codec Codec { get; set; }

    private int CLevel => Codec == Blosc2Codec.LZ4HC ? 8 : 5;

    [GlobalSetup]
    public void Setup()
    {
        _source = B2ndArray.Open(BenchData.Volume());
        _data = _source.ReadBytes(1);
        _out = new byte[_data.Length];
        var frame = B2ndWriter.WriteToArray(_data, _source.Shape, _source.DType, Options());
        _encoded[Codec] = B2ndArray.Open(frame, Codec.ToString());
    }

    private B2ndWriteOptions Options() => new()
    {
        ChunkShape = _source.ChunkShape,
        BlockShape = _source.BlockShape,
        Compression = new CompressionParams { Codec = Codec, CLevel = CLevel, Threads = 1 },
    };

    [Benchmark]
    public void Decode() => _encoded[Codec].Read(_out, threads: 1);

    [Benchmark]
    public byte[] Encode() => B2ndWriter.WriteToArray(_data, _source.Shape, _source.DType, Options());

    [GlobalCleanup]
    public void Cleanup()
    {
        _source.Dispose();
        foreach (var a in _encoded.Values) a.Dispose();
    }
}
