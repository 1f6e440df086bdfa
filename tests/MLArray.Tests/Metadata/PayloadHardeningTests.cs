using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using MLArray.Metadata;
using MLArray.Metadata.Migration;
using MLArray.Metadata.Payload;
using MLArray.TestSupport;

namespace MLArray.Tests.Metadata;

/// <summary>
/// Hostile metadata payloads: a pickle FRAME that claims more bytes than remain is corrupt (as CPython says), and the
/// payload limits (16 MiB inflated, 1 M items by default) are enforced while counting, before the values are built.
/// </summary>
public sealed partial class PayloadHardeningTests
{
    /// <summary>PROTO 4, FRAME claiming <paramref name="frameLength"/> bytes, then EMPTY_DICT MEMOIZE STOP (3 bytes).</summary>
    private static byte[] EmptyDictInFrame(ulong frameLength)
    {
        var b = new byte[] { 0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0, (byte)'}', 0x94, (byte)'.' };
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(3), frameLength);
        return b;
    }

    /// <summary>
    /// A protocol 4 pickle of one dict <c>{"k0": 0, "k1": 1, …}</c> with <paramref name="entries"/> entries, written
    /// the way pickle batches dicts (MARK, 1000 key/value pairs, SETITEMS): about 15 bytes per entry.
    /// </summary>
    internal static byte[] LargeDictPickle(int entries)
    {
        var ms = new MemoryStream(entries * 16 + 16);
        ms.Write([0x80, 4, (byte)'}']);
        Span<byte> value = stackalloc byte[5];
        value[0] = (byte)'J'; // BININT
        for (int i = 0; i < entries; i++)
        {
            if (i % 1000 == 0) ms.WriteByte((byte)'(');
            string key = "k" + i.ToString(CultureInfo.InvariantCulture);
            ms.WriteByte(0x8C); // SHORT_BINUNICODE
            ms.WriteByte((byte)key.Length);
            ms.Write(Encoding.ASCII.GetBytes(key));
            BinaryPrimitives.WriteInt32LittleEndian(value[1..], i);
            ms.Write(value);
            if (i % 1000 == 999 || i == entries - 1) ms.WriteByte((byte)'u'); // SETITEMS
        }
        ms.WriteByte((byte)'.');
        return ms.ToArray();
    }

    private static byte[] Gzip(byte[] data)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(data);
        return ms.ToArray();
    }

    [GeneratedRegex(@"pickle offset (\d+)")]
    private static partial Regex PickleOffset();

    [Fact]
    public void Frame_ClaimingMoreBytesThanRemain_IsRefused_NamingTheSizeAndWhatIsLeft()
    {
        Assert.Equal(MetaValue.Dict([]), RestrictedUnpickler.Load(EmptyDictInFrame(3)));
        var e = Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(EmptyDictInFrame(1000)));
        Assert.Contains("FRAME declares 1000 bytes but only 3 remain", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(EmptyDictInFrame(4)));
        Assert.Contains("FRAME declares 4 bytes but only 3 remain", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(EmptyDictInFrame(ulong.MaxValue)));
        Assert.Contains("FRAME declares", e.Message, StringComparison.Ordinal);

        // the same inside a stored payload (msgpack bin of gzip)
        var stored = MetaMsgpack.WriteBin(Gzip(EmptyDictInFrame(1000)));
        e = Assert.Throws<MLArrayMetadataException>(() => MLArrayMetadata.Decode(stored, arrayShape: null));
        Assert.Contains("FRAME declares 1000 bytes but only 3 remain", e.Message, StringComparison.Ordinal);
    }

    [PythonFact]
    public void Frame_ClaimingMoreBytesThanRemain_IsRefusedByCPython()
    {
        string dir = Directory.CreateTempSubdirectory("mla-frame-").FullName;
        try
        {
            string exact = Path.Combine(dir, "exact.pkl"), over = Path.Combine(dir, "over.pkl"), overByOne = Path.Combine(dir, "over1.pkl");
            File.WriteAllBytes(exact, EmptyDictInFrame(3));
            File.WriteAllBytes(over, EmptyDictInFrame(1000));
            File.WriteAllBytes(overByOne, EmptyDictInFrame(4));
            const string Script = """
                import pickle, sys
                for path in sys.argv[1:]:
                    try:
                        print("ok", repr(pickle.loads(open(path, "rb").read())))
                    except pickle.UnpicklingError as e:
                        print("refused", e)
                """;
            var (code, stdout, stderr) = PythonScript.Run("", Script, exact, over, overByOne);
            Assert.True(code == 0, stderr);
            var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(["ok {}", "refused", "refused"], lines.Select(l => l.StartsWith("refused", StringComparison.Ordinal) ? "refused" : l));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Inflated43MBPickle_IsStoppedWhileGunzipping_AtTheDefault16MiB()
    {
        // the issue's file: metadata that inflates to a ~45 MB pickle of a 3-million-entry dict
        byte[] pickle = LargeDictPickle(3_000_000);
        Assert.True(pickle.Length > 40_000_000);
        var stored = MetaMsgpack.WriteBin(Gzip(pickle));
        pickle = [];
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<MLArrayMetadataException>(() => MLArrayMetadata.Decode(stored, arrayShape: null));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("beyond the limit of 16777216 bytes", e.Message, StringComparison.Ordinal);
        Assert.True(allocated < 80L << 20, $"refusing allocated {allocated} bytes");
    }

    [Fact]
    public void PickleWithMoreThanAMillionValues_IsRefusedBeforeAnyValueIsBuilt()
    {
        // 1.1 M entries (2.2 M values) in a pickle under the 16 MiB inflate limit
        byte[] pickle = LargeDictPickle(1_100_000);
        Assert.True(pickle.Length < 16 << 20);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(pickle));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // building half a million entries would take tens of MB; counting them takes nothing
        Assert.True(allocated < 1 << 20, $"refusing allocated {allocated} bytes");
        Assert.Contains("more than 1000000 items", e.Message, StringComparison.Ordinal);
        var m = PickleOffset().Match(e.Message);
        Assert.True(m.Success, e.Message);
        long offset = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        // a million values is ~500 000 entries: refused about half-way through, when the count passes the limit
        Assert.True(offset < pickle.Length * 6L / 10, $"refused at offset {offset} of {pickle.Length}");
    }

    [Fact]
    public void MsgpackContainers_AnnouncingMoreValuesThanTheLimit_AreRefusedBeforeReadingThem()
    {
        // map32 of 600 000 entries (1.2 M values) and array32 of 1 000 001 items; the bytes are there
        foreach (var (header, n, what) in new[] { ((byte)0xDF, 600_000u, "1200000"), ((byte)0xDD, 1_000_001u, "1000001") })
        {
            var data = new byte[5 + 2 * n];
            data[0] = header;
            BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(1), n);
            var e = Assert.Throws<MLArrayMetadataException>(() => MetaMsgpack.Decode(data));
            Assert.Contains($"announces {what} values", e.Message, StringComparison.Ordinal);
        }
        // nested: the running count includes what came before
        var nested = new byte[] { 0x92, 0x93, 1, 2, 3, 0x93, 1, 2, 3 };
        Assert.Throws<MLArrayMetadataException>(() => MetaMsgpack.Decode(nested, new PayloadLimits { MaxItems = 6 }));
        Assert.Equal(2, ((MetaList)MetaMsgpack.Decode(nested, new PayloadLimits { MaxItems = 9 })).Items.Count);
    }

    [Fact]
    public void RaisedLimits_AcceptWhatTheDefaultsRefuse()
    {
        byte[] pickle = LargeDictPickle(2_000);
        var tight = PayloadLimits.Default with { MaxItems = 1_000 };
        Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(pickle, tight));
        var d = (MetaDict)RestrictedUnpickler.Load(pickle, tight with { MaxItems = 10_000 });
        Assert.Equal(2_000, d.Entries.Count);
        Assert.Equal(MetaValue.From(1999), d["k1999"]);

        var stored = MetaMsgpack.WriteBin(Gzip(pickle));
        var e = Assert.Throws<MLArrayMetadataException>(() => MLArrayMetadata.Decode(stored, null, PayloadLimits.Default with { MaxDecompressedBytes = 1_000 }));
        Assert.Contains("beyond the limit of 1000 bytes", e.Message, StringComparison.Ordinal);
        Assert.Equal(MetaKind.Dict, MetaPayloadCodec.Decode(stored, PayloadLimits.Default with { MaxDecompressedBytes = 1 << 20 }).Value.Kind);
    }
}
