using System.IO.Compression;
using MLArray.Blosc2;
using MLArray.Blosc2.Codecs;
using MLArray.Blosc2.Format;
using MLArray.IO;
using MLArray.Medical;
using MLArray.Medical.Nifti;
using MLArray.Medical.Nrrd;
using MLArray.Metadata.Migration;
using MLArray.Metadata.Payload;

namespace MLArray.Fuzz;

/// <summary>
/// The fuzz targets. Each takes the raw input and drives one parser the way the library drives it, with the
/// configurable limits lowered (below) so that every valid input stays far under <see cref="Harness.AllocationBound"/>.
/// </summary>
internal static class Targets
{
    /// <summary>Frame limits while fuzzing: 65 536 chunks (512 KiB of offsets), 1 MiB per metalayer / vlmeta value.</summary>
    public static readonly FrameLimits FrameLimits = new() { MaxChunks = 1 << 16, MaxMetaBytes = 1 << 20 };

    /// <summary>Payload limits while fuzzing: 1 MiB gunzipped, 100 000 values, 1 MiB of strings (depth stays 200).</summary>
    public static readonly PayloadLimits PayloadLimits = new() { MaxDecompressedBytes = 1 << 20, MaxItems = 100_000, MaxStringBytes = 1 << 20 };

    /// <summary>Medical limits while fuzzing: 4 MiB of voxel data.</summary>
    public static readonly MedicalReadOptions MedicalOptions = new() { MaxDataBytes = 4 << 20 };

    /// <summary>Arrays and chunks are decoded when they declare at most this many bytes (larger ones are only opened).</summary>
    public const int DecodeBound = 8 << 20;

    public static readonly IReadOnlyDictionary<string, Action<byte[]>> All = new Dictionary<string, Action<byte[]>>
    {
        ["frame"] = Frame,
        ["chunk"] = Chunk,
        ["vlmeta"] = VlMeta,
        ["pickle"] = Pickle,
        ["nifti"] = NiftiTarget,
        ["nrrd"] = NrrdAttached,
        ["nrrd-detached"] = NrrdDetached,
        ["npy"] = NpyTarget,
    };

    /// <summary>A Blosc2 frame: the frame reader (header, metalayers, trailer, vlmeta index, chunk index), every
    /// vlmeta value, then the b2nd array on top (layout, chunk headers, all data when small).</summary>
    private static void Frame(byte[] input)
    {
        var reader = FrameReader.Open(new MemoryFrameSource(input, "fuzz.b2frame"), FrameLimits);
        foreach (var m in reader.VlMetalayers)
            reader.DecodeVlMeta(m);
        foreach (var m in reader.Metalayers)
            reader.GetMetalayer(m.Name);

        using var array = B2ndArray.Open(input, "fuzz.b2frame", FrameLimits);
        for (long i = 0; i < Math.Min(array.NChunks, 256); i++)
            array.GetChunkInfo(i);
        if (array.GetVlMeta(MLArrayMetadata.VlMetaName) is { } meta)
            MLArrayMetadata.Decode(meta, array.Shape, PayloadLimits);
        if (array.NBytes <= DecodeBound && reader.ChunkSize <= DecodeBound && (long)reader.BlockSize <= DecodeBound)
            array.ReadBytes(threads: 1);
    }

    private static readonly CodecContext ChunkContextA = new();
    private static readonly CodecContext ChunkContextB = new();

    /// <summary>
    /// One Blosc2 chunk (its header selects the codec, the filters, the type size, the block size): the whole-chunk
    /// decoder and the per-block decoder (with the delta filter's block 0), as B2ndArray uses them. The chunk is
    /// decoded twice, into destinations and scratch buffers pre-filled with different bytes: a decode whose output
    /// depends on what the buffers held before (a stream that leaves bytes unwritten) fails the target.
    /// </summary>
    private static void Chunk(byte[] input)
    {
        var where = ChunkLocation.Buffer;
        var h = ChunkHeader.Parse(input, where);
        if (h.NBytes > DecodeBound || (!h.IsSpecial && h.BlockSize > DecodeBound))
            return;
        byte[] a = DecodeChunk(input, h, ChunkContextA, 0x00);
        byte[] b = DecodeChunk(input, h, ChunkContextB, 0xA5);
        int diff = a.AsSpan().CommonPrefixLength(b);
        if (diff != a.Length)
            throw new FuzzInvariantException($"byte {diff} of the decoded chunk depends on the previous content of the buffers (uninitialised output)");
        if (h.IsSpecial || h.IsMemcpyed || h.NBlocks == 0)
            return;
        // Per block, as the partial reader does: block 0 first when the delta filter needs it.
        var block0 = new byte[h.BlockBytes(0)];
        ChunkDecoder.DecodeBlock(input, h, 0, block0, default, ChunkContextA, where);
        for (int k = h.NBlocks - 1; k >= 1; k--)
        {
            var block = new byte[h.BlockBytes(k)];
            ChunkDecoder.DecodeBlock(input, h, k, block, block0, ChunkContextA, where);
            if (!block.AsSpan().SequenceEqual(a.AsSpan(k * h.BlockSize, block.Length)))
                throw new FuzzInvariantException($"block {k} decodes differently alone than in the whole chunk");
        }
    }

    private static byte[] DecodeChunk(byte[] input, in ChunkHeader h, CodecContext ctx, byte fill)
    {
        var dst = new byte[h.NBytes];
        dst.AsSpan().Fill(fill);
        int scratch = Math.Clamp(h.BlockSize, 0, DecodeBound); // special chunks do not validate the block size
        ctx.ScratchA(scratch).AsSpan(0, scratch).Fill(fill);
        ChunkDecoder.Decompress(input, h, dst, ctx, ChunkLocation.Buffer);
        return dst;
    }

    /// <summary>An "mlarray" vlmeta value: msgpack bin → gzip → restricted unpickler, or a legacy msgpack map; then
    /// layout detection, migration and schema validation.</summary>
    private static void VlMeta(byte[] input)
    {
        var result = MLArrayMetadata.Decode(input, null, PayloadLimits);
        MLArrayMetadata.Validate(result, null);
        if (MetaMsgpack.IsMap(input))
            MetaMsgpack.Decode(input, PayloadLimits);
    }

    /// <summary>A pickle, gzip-compressed or not: bounded gunzip, then the restricted unpickler.</summary>
    private static void Pickle(byte[] input)
    {
        byte[] pickle = BoundedGzip.IsGzip(input) ? BoundedGzip.Decompress(input, PayloadLimits.MaxDecompressedBytes) : input;
        RestrictedUnpickler.Load(pickle, PayloadLimits, out _);
    }

    private static string? _workDir;

    /// <summary>A fresh folder per fuzzing process (tmpfs when there is one).</summary>
    private static string WorkDir()
    {
        if (_workDir is not null)
            return _workDir;
        string root = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        string dir = Path.Combine(root, $"mlarray-fuzz-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return _workDir = dir;
    }

    /// <summary>A single-file NIfTI-1/2 (.nii; gzip is detected from the content): header, extensions, data.</summary>
    private static void NiftiTarget(byte[] input)
    {
        string path = Path.Combine(WorkDir(), "input.nii");
        File.WriteAllBytes(path, input);
        var image = Nifti.Read(path, MedicalOptions);
        image.Header.GetBestAffine();
        image.ToIndexOrderC();
        if (image.Data.Length <= 1 << 20)
            image.GetScaledFloat64();
    }

    /// <summary>An attached NRRD (.nrrd): header, then the data in any encoding.</summary>
    private static void NrrdAttached(byte[] input)
    {
        string path = Path.Combine(WorkDir(), "input.nrrd");
        File.WriteAllBytes(path, input);
        var image = Nrrd.Read(path, MedicalOptions);
        image.ToIndexOrderC();
    }

    private static string? _detachedDir;

    /// <summary>
    /// The folder of the detached header: <c>header/</c> with fixed data files (raw, gzip, ascii, in a sub-folder) that
    /// the seeds name, and a file beside <c>header/</c> (outside it) that a hostile header could try to reach.
    /// </summary>
    private static string DetachedDir()
    {
        if (_detachedDir is not null)
            return _detachedDir;
        string root = WorkDir();
        string dir = Path.Combine(root, "header");
        Directory.CreateDirectory(Path.Combine(dir, "sub"));
        var raw = new byte[4096];
        for (int i = 0; i < raw.Length; i++)
            raw[i] = (byte)(i * 7 + 3);
        File.WriteAllBytes(Path.Combine(dir, "data.raw"), raw);
        File.WriteAllBytes(Path.Combine(dir, "sub", "data.raw"), raw);
        using (var fs = File.Create(Path.Combine(dir, "data.raw.gz")))
        using (var gz = new GZipStream(fs, CompressionLevel.Fastest))
            gz.Write(raw);
        File.WriteAllText(Path.Combine(dir, "data.txt"), string.Join(' ', Enumerable.Range(0, 512).Select(i => (i % 200).ToString(System.Globalization.CultureInfo.InvariantCulture))));
        File.WriteAllBytes(Path.Combine(root, "outside.raw"), raw);
        return _detachedDir = dir;
    }

    /// <summary>
    /// A detached NRRD header (.nhdr) in its own folder. Beyond the typed-exception rule, the data path the reader
    /// resolves must lie inside the header's folder.
    /// </summary>
    private static void NrrdDetached(byte[] input)
    {
        string dir = DetachedDir();
        string path = Path.Combine(dir, "input.nhdr");
        File.WriteAllBytes(path, input);
        using var reader = NrrdReader.Open(path, MedicalOptions);
        string data = Path.GetFullPath(reader.DataPath);
        if (!data.StartsWith(dir + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new FuzzInvariantException($"the detached header made the reader open {data}, outside the header's folder {dir}");
        reader.ReadData();
    }

    /// <summary>A .npy file: header (dict literal), dtype, shape, Fortran order, data.</summary>
    private static void NpyTarget(byte[] input)
    {
        using var ms = new MemoryStream(input, writable: false);
        Npy.Read(ms, "fuzz.npy");
    }
}
