using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using MLArray.Blosc2;
using MLArray.Metadata;
using MLArray.Metadata.Migration;

namespace MLArray.Bench;

/// <summary>
/// `hostile-meta make FILE [entries]`: writes a small .mla whose "mlarray" metadata is gzip(pickle) of a mapping with
/// one dict of ENTRIES (default 3 000 000) int values, about 53 MB of pickle (like issue 17's hostile file).
/// `hostile-meta read FILE`: reads its metadata as `mlarray header` does and prints how long the refusal took, the
/// bytes allocated and the process's peak working set. Run `read` in a fresh process (the peak is per process);
/// `/usr/bin/time -v mlarray header FILE` gives the same for the CLI.
/// </summary>
internal static class HostileMetaBench
{
    public static int Run(string[] args)
    {
        if (args.Length >= 2 && args[0] == "make")
            return Make(args[1], args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 3_000_000);
        if (args.Length == 2 && args[0] == "read")
            return Read(args[1]);
        Console.Error.WriteLine("usage: hostile-meta make FILE [entries] | hostile-meta read FILE");
        return 1;
    }

    private static int Make(string path, int entries)
    {
        var dict = MetaValue.Dict(Enumerable.Range(0, entries).Select(i =>
            new KeyValuePair<string, MetaValue>("key_" + i.ToString(CultureInfo.InvariantCulture), MetaValue.From(i))));
        // msgpack bin( gzip( pickle protocol 4 ) ), as MLArray and the Python reference write it
        byte[] content = MLArrayMetadata.Encode((MetaDict)MetaValue.Dict([new("extra", MetaValue.Dict([new("data", dict)]))]));
        long pickleBytes = BinaryPrimitives.ReadUInt32LittleEndian(content.AsSpan(content.Length - 4)); // gzip ISIZE
        B2ndWriter.Write(path, new byte[16 * 16 * 16 * 4], [16, 16, 16], DType.Float32,
            new B2ndWriteOptions { VlMeta = [new(MLArrayMetadata.VlMetaName, content)] });
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{path}: {new FileInfo(path).Length / 1e6:F2} MB file, metadata {content.Length / 1e6:F2} MB stored, {pickleBytes / 1e6:F1} MB of pickle, {entries} entries"));
        return 0;
    }

    private static int Read(string path)
    {
        long allocated0 = GC.GetTotalAllocatedBytes(precise: true);
        var sw = Stopwatch.StartNew();
        string outcome;
        try
        {
            using var a = B2ndArray.Open(path);
            var m = MLArrayMetadata.Read(a);
            outcome = $"accepted ({(m?.Current as MetaDict)?.Entries.Count} top-level keys)";
        }
        catch (MLArrayMetadataException e)
        {
            outcome = "refused: " + e.Message;
        }
        sw.Stop();
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated0;
        using var self = Process.GetCurrentProcess();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{outcome}\ntime {sw.Elapsed.TotalSeconds:F2} s, allocated {allocated / 1e6:F0} MB, peak working set {self.PeakWorkingSet64 / 1e6:F0} MB"));
        return 0;
    }
}
