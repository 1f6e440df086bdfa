using MLArray.TestSupport;
using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using MLArray.Metadata;
using MLArray.Metadata.Payload;
using Xunit.Abstractions;

namespace MLArray.Tests.Metadata;

/// <summary>
/// Protocol 2 and 3 pickles (BINPUT/LONG_BINPUT memo, GLOBAL, BINUNICODE) and dicts with non-string keys
/// (spec §1.3: source/extra may have int/float/bool/None keys). Fixtures: tests/data/pickle (see its README).
/// </summary>
public sealed class PickleProtocolTests(ITestOutputHelper output)
{
    private static string DataDir
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "tests", "data", "pickle");
                if (File.Exists(Path.Combine(candidate, "meta_expected.json"))) return candidate;
            }
            throw new DirectoryNotFoundException("tests/data/pickle not found");
        }
    }

    private static MetaValue Expected => MetaValue.FromJson(File.ReadAllText(Path.Combine(DataDir, "meta_expected.json")));

    private static MetaDict Load(int protocol) =>
        (MetaDict)RestrictedUnpickler.Load(File.ReadAllBytes(Path.Combine(DataDir, $"meta_protocol{protocol}.pickle")));

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Protocol2And3_DecodeToTheSameMappingAsCPython(int protocol)
    {
        byte[] raw = File.ReadAllBytes(Path.Combine(DataDir, $"meta_protocol{protocol}.pickle"));
        Assert.Equal(0x80, raw[0]);
        Assert.Equal(protocol, raw[1]);
        Assert.Contains((byte)'q', raw); // BINPUT
        Assert.Contains((byte)'r', raw); // LONG_BINPUT (more than 256 memo entries)
        var m = Load(protocol);
        MetaAssert.SameOrdered(Expected, MetaAssert.ManifestForm(m));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void NonStringKeys_KeepTheirPythonType_AndJsonKeyIsWhatJsonDumpsWrites(int protocol)
    {
        var data = (MetaDict)((MetaDict)Load(protocol)["source"]!)["data"]!;
        Assert.True(data.HasNonStringKeys);
        var keys = data.Entries.Select(e => e.Key).ToArray();
        var kinds = data.PythonKeys.Select(k => k.Kind).ToArray();
        Assert.Equal(["patient_id", "long", "big", "neg", "nested", "7", "2.5", "false", "null"], keys);
        Assert.Equal([MetaKind.String, MetaKind.String, MetaKind.String, MetaKind.String, MetaKind.String, MetaKind.Int, MetaKind.Float, MetaKind.Bool, MetaKind.Null], kinds);
        Assert.Equal("{\"7\":\"int key\",\"2.5\":\"float key\",\"false\":\"bool key\",\"null\":\"none key\"}",
            MetaJson.Serialize(MetaDict.FromPythonKeys(data.PythonKeys.Skip(5).Select((k, i) => new KeyValuePair<MetaValue, MetaValue>(k, data.Entries[i + 5].Value)))));
    }

    [Fact]
    public void NonStringKeys_RoundTripThroughOurPicklerAndMsgpack()
    {
        var m = Load(2);
        var back = RestrictedUnpickler.Load(Pickler.Dump(m));
        Assert.Equal(m, back);
        var src = (MetaDict)((MetaDict)((MetaDict)back)["source"]!)["data"]!;
        Assert.Equal(MetaKind.Int, src.PythonKeyAt(5).Kind);
        // a str "7" is not the int 7
        var strKeys = new MetaDict(src.Entries);
        Assert.NotEqual<MetaValue>(src, strKeys);
        var small = MetaDict.FromPythonKeys(src.PythonKeys.Select((k, i) => new KeyValuePair<MetaValue, MetaValue>(k, src.Entries[i].Value)).Where(e => e.Key is not MetaString));
        Assert.Equal<MetaValue>(small, MetaMsgpack.Decode(MetaMsgpack.Encode(small)));
    }

    [Fact]
    public void PythonKeys_EqualInPython_AreOneKey_AndJsonCollisionsAreRefused()
    {
        var d = MetaDict.FromPythonKeys([new(MetaValue.From(1), MetaValue.From("a")), new(MetaValue.From(true), MetaValue.From("b")), new(MetaValue.From(1.0), MetaValue.From("c"))]);
        Assert.Single(d.Entries);
        Assert.Equal(MetaKind.Int, d.PythonKeyAt(0).Kind);
        Assert.Equal(MetaValue.From("c"), d["1"]);
        var ex = Assert.Throws<ArgumentException>(() => MetaDict.FromPythonKeys([new(MetaValue.From(1), MetaValue.Null), new(MetaValue.From("1"), MetaValue.Null)]));
        Assert.Contains("dict keys 1 and '1' both have the JSON key \"1\"", ex.Message, StringComparison.Ordinal);
        // in a pickle: refused with the metadata exception
        byte[] pk = [0x80, 2, (byte)'}', (byte)'(', (byte)'K', 1, (byte)'N', (byte)'X', 1, 0, 0, 0, (byte)'1', (byte)'N', (byte)'u', (byte)'.'];
        Assert.Contains("both have the JSON key", Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(pk)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Memo_BinPutAndGet_ShareObjects_AndAreBoundedByTheItemLimit()
    {
        // protocol 2: [] BINPUT 0; "x" LONG_BINPUT 9 APPEND; LONG_BINGET 9 APPEND -> ["x", "x"]
        byte[] pk = [0x80, 2, (byte)']', (byte)'q', 0, (byte)'X', 1, 0, 0, 0, (byte)'x', (byte)'r', 9, 0, 0, 0, (byte)'a', (byte)'j', 9, 0, 0, 0, (byte)'a', (byte)'.'];
        Assert.Equal(MetaValue.List([MetaValue.From("x"), MetaValue.From("x")]), RestrictedUnpickler.Load(pk));
        var many = new List<byte> { 0x80, 2, (byte)']' };
        for (int i = 0; i < 10; i++) many.AddRange([(byte)'q', (byte)i]);
        many.Add((byte)'.');
        var ex = Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(many.ToArray(), new PayloadLimits { MaxItems = 5 }));
        Assert.Contains("pickle memo has more than 5 entries (limit)", ex.Message, StringComparison.Ordinal);
        byte[] missing = [0x80, 2, (byte)'h', 3, (byte)'.'];
        Assert.Contains("memo key 3 is missing", Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(missing)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Protocol2_Global_IsCheckedAgainstTheWhitelist()
    {
        // what pickle.dumps(os.system-reducer, protocol=2) starts with: GLOBAL 'os system', BINPUT 0, ...
        byte[] pk = [0x80, 2, .. Encoding.ASCII.GetBytes("cos\nsystem\nq\0X\u0002\0\0\0idq\u0001"), 0x85, (byte)'R', (byte)'.'];
        // allowed: collections.OrderedDict via GLOBAL (protocol 2 spelling)
        byte[] od = [0x80, 2, .. Encoding.ASCII.GetBytes("ccollections\nOrderedDict\nq\0)Rq\u0001X\u0001\0\0\0aK\u0001s."), ];
        Assert.Equal(MetaValue.Dict([new("a", MetaValue.From(1))]), RestrictedUnpickler.Load(od));
        Assert.Equal("refusing pickle global os.system", Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(pk)).Message);
    }

    [PythonFact]
    public async Task CPython_ReadsNonStringKeys_AsTheSameTypes()
    {
        string python = TestPython.Find("")!;
        string file = Path.Combine(Path.GetTempPath(), $"mla-keys-{Guid.NewGuid():N}.pickle");
        try
        {
            File.WriteAllBytes(file, Pickler.Dump(Load(3)));
            var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add("-I");
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add("import pickle,sys; d=pickle.load(open(sys.argv[1],'rb'))['source']['data']; print(repr([k for k in d][5:]))");
            psi.ArgumentList.Add(file);
            Process proc;
            try { proc = Process.Start(psi)!; }
            catch (Win32Exception ex) { output.WriteLine($"NOT RUN: python3 could not be started ({ex.Message})."); return; }
            using (proc)
            {
                string stdout = await proc.StandardOutput.ReadToEndAsync();
                string stderr = await proc.StandardError.ReadToEndAsync();
                await proc.WaitForExitAsync();
                Assert.True(proc.ExitCode == 0, stderr);
                Assert.Equal("[7, 2.5, False, None]", stdout.Trim());
            }
        }
        finally
        {
            File.Delete(file);
        }
    }
}
