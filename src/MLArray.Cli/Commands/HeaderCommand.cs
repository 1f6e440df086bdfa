using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MLArray.Blosc2;
using MLArray.Metadata.Migration;

namespace MLArray.Cli.Commands;

/// <summary><c>mlarray header FILE [--json]</c>: the array facts of an .mla/.b2nd file.</summary>
internal static class HeaderCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var file = new Argument<string>("file") { Description = "The .mla (or .b2nd) file to inspect." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text." };
        var cache = CliInput.CacheOption();
        var cmd = new Command("header", "Show shape, dtype, layout, compression and metadata entries of a file (reads only its header, index and trailer).")
        {
            file,
            json,
            cache,
        };
        cmd.SetAction(pr => CliApp.Guard(stderr, [pr.GetValue(file)!], () =>
        {
            string path = pr.GetValue(file)!;
            using var a = CliInput.OpenArray(path, pr.GetValue(cache));
            var facts = HeaderFacts.From(a);
            if (pr.GetValue(json))
            {
                var meta = MLArrayMetadata.Read(a);
                stdout.WriteLine(facts.ToJson(w => { MetaRendering.WriteJson(w, meta); CliInput.WriteTraffic(w, a); }));
                return CliApp.Ok;
            }
            stdout.Write(facts.ToText(CliInput.Display(path))); // a URL without user info and query string (credentials)
            if (CliInput.TrafficLine(a) is { } traffic)
                stdout.WriteLine(traffic);
            MetaReadResult? m;
            try
            {
                m = MLArrayMetadata.Read(a);
            }
            catch (MLArrayMetadataException e)
            {
                stdout.WriteLine($"{"metadata",-12}refused: {e.Message}");
                throw;
            }
            if (m is not null)
                MetaRendering.Write(stdout, MetaRendering.Tree(m.Current, m.Layout));
            return CliApp.Ok;
        }));
        return cmd;
    }
}

/// <summary>The facts printed by <c>mlarray header</c>.</summary>
internal sealed record HeaderFacts(
    long[] Shape, string DType, int[] ChunkSize, int[] BlockSize, string Codec, int CLevel,
    string[] Filters, int[] FilterSlots, int[] FiltersMeta, string SplitMode, long NChunks, long NBytes, long CBytes,
    long FrameBytes, IReadOnlyList<(string Name, int Bytes, int StoredBytes)> VlMeta)
{
    public double Ratio => CBytes == 0 ? 0 : (double)NBytes / CBytes;

    public static HeaderFacts From(B2ndArray a)
    {
        var vl = a.VlMetaNames.Select(n => (n, a.GetVlMeta(n)!.Length, a.GetVlMetaStoredSize(n))).ToArray();
        return new HeaderFacts(a.Shape, a.DType.Name, a.ChunkShape, a.BlockShape, CompressionNames.NameOf(a.Codec), a.CLevel,
            a.Filters.Where(f => f != Blosc2Filter.None).Select(CompressionNames.NameOf).ToArray(),
            a.Filters.Select(f => (int)f).ToArray(), a.FiltersMeta.Select(m => (int)m).ToArray(),
            CompressionNames.NameOf(a.SplitMode), a.NChunks, a.NBytes, a.CBytes, a.FrameBytes, vl);
    }

    public string ToJson(Action<Utf8JsonWriter>? extra = null)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            WriteArray(w, "shape", Shape);
            w.WriteString("dtype", DType);
            WriteArray(w, "chunk_size", ChunkSize.Select(x => (long)x));
            WriteArray(w, "block_size", BlockSize.Select(x => (long)x));
            w.WriteString("codec", Codec);
            w.WriteNumber("clevel", CLevel);
            w.WriteStartArray("filters");
            foreach (var f in Filters) w.WriteStringValue(f);
            w.WriteEndArray();
            WriteArray(w, "filter_slots", FilterSlots.Select(x => (long)x));
            WriteArray(w, "filters_meta", FiltersMeta.Select(x => (long)x));
            w.WriteString("split_mode", SplitMode);
            w.WriteNumber("nchunks", NChunks);
            w.WriteNumber("nbytes", NBytes);
            w.WriteNumber("cbytes", CBytes);
            w.WriteNumber("ratio", Math.Round(Ratio, 4));
            w.WriteNumber("frame_bytes", FrameBytes);
            w.WriteStartObject("vlmeta");
            foreach (var (name, bytes, stored) in VlMeta)
            {
                w.WriteStartObject(name);
                w.WriteNumber("bytes", bytes);
                w.WriteNumber("stored_bytes", stored);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            extra?.Invoke(w);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static void WriteArray(Utf8JsonWriter w, string name, IEnumerable<long> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }

    public string ToText(string path)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        void Line(string k, string v) => sb.Append(c, $"{k,-12}{v}\n");
        static string Tuple<T>(IEnumerable<T> xs) => "(" + string.Join(", ", xs) + ")";
        Line("file", path);
        Line("shape", Tuple(Shape));
        Line("dtype", DType);
        Line("chunk_size", Tuple(ChunkSize));
        Line("block_size", Tuple(BlockSize));
        Line("codec", Codec);
        Line("clevel", CLevel.ToString(c));
        Line("filters", Filters.Length == 0 ? "none" : string.Join(" + ", Filters));
        Line("split_mode", SplitMode);
        Line("chunks", NChunks.ToString(c));
        Line("nbytes", $"{NBytes} ({Human(NBytes)})");
        Line("cbytes", $"{CBytes} ({Human(CBytes)})");
        Line("ratio", CBytes == 0 ? "-" : Ratio.ToString("0.00", c));
        if (VlMeta.Count == 0)
            Line("vlmeta", "none");
        foreach (var (name, bytes, stored) in VlMeta)
            Line("vlmeta", $"{name}: {bytes} bytes ({stored} stored)");
        return sb.ToString();
    }

    private static string Human(long n)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = n;
        int u = 0;
        while (v >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        return v.ToString(u == 0 ? "0" : "0.0", CultureInfo.InvariantCulture) + " " + units[u];
    }
}
