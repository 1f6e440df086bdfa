using MLArray.TestSupport;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using System.Text;
using CsCheck;
using MLArray.Metadata;
using MLArray.Metadata.Payload;

namespace MLArray.Tests.Metadata;

/// <summary>The restricted unpickler, the pickler, gzip limits, msgpack and Python float repr.</summary>
public sealed class PayloadTests
{
    // ---------------------------------------------------------------- generators

    private static readonly Gen<string> GenText = Gen.OneOf(
        Gen.String[Gen.Char.AlphaNumeric, 0, 12],
        Gen.String[0, 20].Where(s => !HasLoneSurrogate(s)),
        Gen.Const("日本語 ✓ 𝄞"),
        Gen.String[Gen.Char.AlphaNumeric, 256, 300]);

    private static bool HasLoneSurrogate(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { i++; continue; }
            if (char.IsSurrogate(s[i])) return true;
        }
        return false;
    }

    private static readonly Gen<MetaValue> GenScalar = Gen.OneOf(
        Gen.Const(MetaValue.Null),
        Gen.Bool.Select(MetaValue.From),
        Gen.Long.Select(MetaValue.From),
        Gen.Int[-300, 70000].Select(i => MetaValue.From(i)),
        Gen.Long.SelectMany(a => Gen.Int[1, 4].Select(p => MetaValue.From(BigInteger.Pow(new BigInteger(a), p) * (p % 2 == 0 ? -1 : 1)))),
        Gen.Double.Select(MetaValue.From),
        Gen.OneOfConst(double.NaN, double.PositiveInfinity, double.NegativeInfinity, -0.0, 1e-5, 1e16, 0.1).Select(MetaValue.From),
        GenText.Select(MetaValue.From));

    private static Gen<MetaValue> GenTree(int depth) => depth == 0
        ? GenScalar
        : Gen.Frequency(
            (3, GenScalar),
            (1, GenTree(depth - 1).List[0, 5].Select(l => (MetaValue)new MetaList(l))),
            (1, Gen.Select(GenText, GenTree(depth - 1)).List[0, 5].Select(kv => (MetaValue)new MetaDict(kv.Select(x => new KeyValuePair<string, MetaValue>(x.Item1, x.Item2))))));

    private static readonly Gen<MetaValue> GenMapping =
        Gen.Select(GenText, GenTree(3)).List[0, 8].Select(kv => (MetaValue)new MetaDict(kv.Select(x => new KeyValuePair<string, MetaValue>(x.Item1, x.Item2))));

    // ---------------------------------------------------------------- properties

    [Fact]
    public void Property_PickleThenUnpickle_IsIdentity()
    {
        Gen.Select(GenMapping, Gen.Int[4, 5]).Sample((v, protocol) =>
        {
            var back = RestrictedUnpickler.Load(Pickler.Dump(v, protocol));
            MetaAssert.SameOrdered(v, back);
        }, iter: 2000);
    }

    [Fact]
    public void Property_PayloadCodec_RoundTrips()
    {
        GenMapping.Sample(v =>
        {
            var d = MetaPayloadCodec.Decode(MetaPayloadCodec.Encode(v));
            Assert.Equal(PayloadFormat.GzipPickle, d.Format);
            MetaAssert.SameOrdered(v, d.Value);
        }, iter: 500);
    }

    [Fact]
    public void Property_Msgpack_RoundTrips()
    {
        static MetaValue Clamp(MetaValue v) => v switch
        {
            MetaInt i when i.Value < long.MinValue || i.Value > long.MaxValue => MetaValue.From((long)(i.Value % long.MaxValue)),
            MetaList l => new MetaList(l.Items.Select(Clamp)),
            MetaDict d => new MetaDict(d.Entries.Select(e => new KeyValuePair<string, MetaValue>(e.Key, Clamp(e.Value)))),
            _ => v,
        };
        GenMapping.Select(Clamp).Sample(v =>
        {
            var d = MetaPayloadCodec.Decode(MetaMsgpack.Encode(v));
            Assert.Equal(PayloadFormat.MsgpackMap, d.Format);
            MetaAssert.SameOrdered(v, d.Value);
        }, iter: 1000);
    }

    [Fact]
    public void Property_PyFloatRepr_RoundTripsAndHasPythonShape()
    {
        Gen.Double.Where(double.IsFinite).Sample(x =>
        {
            string r = PyRepr.Float(x);
            Assert.Equal(x, double.Parse(r, System.Globalization.CultureInfo.InvariantCulture));
            Assert.True(r.Contains('.', StringComparison.Ordinal) || r.Contains('e', StringComparison.Ordinal), r);
        }, iter: 5000);
    }

    [Theory]
    [InlineData(0.8, "0.8")]
    [InlineData(3071.0, "3071.0")]
    [InlineData(1e-05, "1e-05")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(1e16, "1e+16")]
    [InlineData(1e15, "1000000000000000.0")]
    [InlineData(-1.5e-300, "-1.5e-300")]
    [InlineData(0.800000011920929, "0.800000011920929")]
    [InlineData(-0.0, "-0.0")]
    public void PyFloatRepr_MatchesPython(double x, string expected) => Assert.Equal(expected, PyRepr.Float(x));

    // ---------------------------------------------------------------- pickles crafted by hand

    private static byte[] P(params object[] parts)
    {
        var ms = new MemoryStream();
        foreach (var p in parts)
        {
            switch (p)
            {
                case byte b: ms.WriteByte(b); break;
                case int i: ms.WriteByte((byte)i); break;
                case char c: ms.WriteByte((byte)c); break;
                case string s:
                    var u = Encoding.UTF8.GetBytes(s);
                    ms.WriteByte(0x8C); ms.WriteByte((byte)u.Length); ms.Write(u);
                    break;
                case byte[] raw: ms.Write(raw); break;
                default: throw new ArgumentException(p.GetType().Name);
            }
        }
        return ms.ToArray();
    }

    private const byte Proto = 0x80, StackGlobal = 0x93, Memoize = 0x94, Tuple1 = 0x85, Tuple2 = 0x86, Tuple3 = 0x87, NewFalse = 0x89, NewTrue = 0x88;

    [Fact]
    public void Unpickler_RefusesOsSystem_AndRunsNothing()
    {
        string marker = Path.Combine(Path.GetTempPath(), $"mlarray-pwned-{Guid.NewGuid():N}");
        foreach (var (module, name) in new[] { ("posix", "system"), ("os", "system"), ("nt", "system"), ("subprocess", "check_call"), ("builtins", "eval"), ("builtins", "exec") })
        {
            byte[] pk = P(Proto, 4, '}', "patient", module, name, StackGlobal, $"touch {marker}", Tuple1, 'R', 's', '.');
            var ex = Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(pk));
            Assert.Equal($"refusing pickle global {module}.{name}", ex.Message);
            var ex2 = Assert.Throws<MLArrayMetadataException>(() => MetaPayloadCodec.Decode(MetaMsgpack.WriteBin(BoundedGzip.Compress(pk))));
            Assert.Contains(module + "." + name, ex2.Message, StringComparison.Ordinal);
        }
        // the same through memo references (the vetting pass cannot see the names; execution refuses them)
        byte[] memo = P(Proto, 4, '}', "posix", Memoize, "system", Memoize, 'h', 0, 'h', 1, StackGlobal, $"touch {marker}", Tuple1, 'R', '.');
        Assert.Equal("refusing pickle global posix.system", Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(memo)).Message);
        // protocol 0 GLOBAL / INST
        byte[] p0 = Encoding.ASCII.GetBytes($"(dp0\nVa\ncposix\nsystem\np1\n(Vtouch {marker}\ntRs.");
        Assert.Equal("refusing pickle global posix.system", Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(p0)).Message);
        byte[] inst = Encoding.ASCII.GetBytes($"(Vtouch {marker}\niposix\nsystem\n.");
        Assert.Equal("refusing pickle global posix.system", Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(inst)).Message);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void Unpickler_RefusesGetattrOnNonEnum_ReduceOnData_BuildOnData_AndOtherOpcodes()
    {
        // getattr(_FrozenList, "__init__")
        byte[] g = P(Proto, 4, "builtins", "getattr", StackGlobal, "mlarray.meta", "_FrozenList", StackGlobal, "__init__", Tuple2, 'R', '.');
        Assert.Contains("refusing builtins.getattr on mlarray.meta._FrozenList", Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(g)).Message, StringComparison.Ordinal);
        // unknown enum member
        byte[] en = P(Proto, 4, "builtins", "getattr", StackGlobal, "mlarray.meta", "AxisLabelEnum", StackGlobal, "__class__", Tuple2, 'R', '.');
        Assert.Contains("unknown enum member", Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(en)).Message, StringComparison.Ordinal);
        // REDUCE on a str
        byte[] r = P(Proto, 4, "x", ')', 'R', '.');
        Assert.Contains("refusing pickle REDUCE on a str", Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(r)).Message, StringComparison.Ordinal);
        // BUILD on a dict
        byte[] b = P(Proto, 4, '}', '}', 'b', '.');
        Assert.Contains("refusing pickle BUILD on a dict", Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(b)).Message, StringComparison.Ordinal);
        // NEWOBJ, EXT1, PERSID, BINPERSID, EMPTY_SET: outside the inventory
        foreach (var (bytes, name) in new[] { (P(Proto, 4, ']', ')', 0x81, '.'), "NEWOBJ"), (P(Proto, 4, 0x82, 1, '.'), "EXT1"), (P(Proto, 4, 0x8F, '.'), "EMPTY_SET"), (Encoding.ASCII.GetBytes("Pabc\n."), "PERSID") })
            Assert.Contains($"refusing pickle opcode {name}", Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(bytes)).Message, StringComparison.Ordinal);
        // numpy dtype other than f8 / U<n>
        byte[] np = P(Proto, 4, "numpy", "dtype", StackGlobal, "O8", NewFalse, NewTrue, Tuple3, 'R', '.');
        Assert.Contains("refusing numpy dtype 'O8'", Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(np)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unpickler_MapsAllowedGlobalsToPlainData()
    {
        static byte[] Scalar(string module, string descr, byte[] raw) =>
            P(module, "scalar", StackGlobal, "numpy", "dtype", StackGlobal, descr, NewFalse, NewTrue, Tuple3, 'R',
                '(', 'K', 3, "<", 'N', 'N', 'N', 'J', new byte[] { 0xFF, 0xFF, 0xFF, 0xFF }, 'J', new byte[] { 0xFF, 0xFF, 0xFF, 0xFF }, 'K', 0, 't', 'b',
                'C', (byte)raw.Length, raw, Tuple2, 'R');
        var f8 = new byte[8];
        BinaryPrimitives.WriteDoubleLittleEndian(f8, 2.5);
        var u = Encoding.UTF32.GetBytes("ab\0\0");
        byte[] pk = P(Proto, 5, 0x95, new byte[8], '}', '(',
            "frozen", "mlarray.meta", "_FrozenList", StackGlobal, ']', '(', 'K', 1, 'K', 2, 'e', Tuple1, 'R',
            "fdict", "mlarray.meta", "_FrozenDict", StackGlobal, '}', "codec", 'K', 2, 's', Tuple1, 'R',
            "od", "collections", "OrderedDict", StackGlobal, ')', 'R', '(', "z", 'K', 1, "a", 'K', 2, 'u',
            "enum", "builtins", "getattr", StackGlobal, "mlarray.meta", "CoordSystemEnum", StackGlobal, "RAS_PLUS", Tuple2, 'R',
            "np1", Scalar("numpy.core.multiarray", "f8", f8),
            "np2", Scalar("numpy._core.multiarray", "U4", u),
            "tuple", 'K', 1, "x", Tuple2,
            "big", 0x8A, 9, BigInteger.Pow(2, 70).ToByteArray(),
            "neg", 'J', new byte[] { 0xFB, 0xFF, 0xFF, 0xFF },
            "nan", 'G', new byte[] { 0x7F, 0xF8, 0, 0, 0, 0, 0, 0 },
            'u', '.');
        var v = RestrictedUnpickler.Load(pk, null, out var features);
        var expected = MetaValue.FromJson("""{"frozen":[1,2],"fdict":{"codec":2},"od":{"z":1,"a":2},"enum":"RAS+","np1":2.5,"np2":"ab","tuple":[1,"x"],"big":1180591620717411303424,"neg":-5,"nan":"NaN"}""");
        MetaAssert.SameOrdered(expected, MetaAssert.ManifestForm(v));
        Assert.Equal(PickleFeatures.FrozenContainers | PickleFeatures.OrderedDict | PickleFeatures.EnumMembers | PickleFeatures.NumpyScalars | PickleFeatures.Tuples, features);
    }

    [Fact]
    public void Unpickler_NonStringKeys_BecomeJsonDumpsKeys()
    {
        byte[] pk = P(Proto, 4, '}', '(', 'K', 7, "i", 'G', new byte[] { 0x40, 0x04, 0, 0, 0, 0, 0, 0 }, "f", NewFalse, "b", 'N', "n", 'u', '.');
        MetaAssert.SameOrdered(MetaValue.FromJson("""{"7":"i","2.5":"f","false":"b","null":"n"}"""), RestrictedUnpickler.Load(pk));
        byte[] tupleKey = P(Proto, 4, '}', ')', "v", 's', '.');
        Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(tupleKey));
    }

    [Fact]
    public void Unpickler_Limits_DepthItemsStringsAndSharedReferences()
    {
        // nesting 300 deep
        var deep = new List<object> { Proto, 4 };
        for (int i = 0; i < 300; i++) deep.Add(']');
        for (int i = 0; i < 299; i++) deep.Add('a');
        deep.Add('.');
        Assert.Contains("nesting deeper than 200", Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(P([.. deep]))).Message, StringComparison.Ordinal);
        // a list containing itself
        byte[] cyc = P(Proto, 4, ']', Memoize, 'h', 0, 'a', '.');
        Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(cyc));
        // "billion laughs": level k is a list of 10 references to level k-1 (a few hundred bytes, 10^9 leaves)
        static List<object> Level(int k)
        {
            if (k == 0) return ["lol", Memoize];
            var code = new List<object> { ']', '(' };
            code.AddRange(Level(k - 1));
            for (int i = 0; i < 9; i++) { code.Add('h'); code.Add((byte)(k - 1)); }
            code.Add('e');
            code.Add(Memoize);
            return code;
        }
        var laughs = new List<object> { Proto, 4 };
        laughs.AddRange(Level(9));
        laughs.Add('.');
        Assert.Contains("items (limit)", Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(P([.. laughs]))).Message, StringComparison.Ordinal);
        // configurable limits
        byte[] ok = Pickler.Dump(MetaValue.FromJson("""{"a":[1,2,3],"s":"0123456789"}"""));
        Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(ok, new PayloadLimits { MaxItems = 4 }));
        Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(ok, new PayloadLimits { MaxStringBytes = 5 }));
        Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(ok, new PayloadLimits { MaxDepth = 1 }));
        Assert.NotNull(RestrictedUnpickler.Load(ok, new PayloadLimits { MaxDepth = 2, MaxItems = 8, MaxStringBytes = 12 }));
    }

    [Fact]
    public void Unpickler_Truncation_AndTrailingGarbage()
    {
        byte[] ok = Pickler.Dump(MetaValue.FromJson("""{"key":"a value long enough","n":[1,2.5,null]}"""));
        for (int cut = 0; cut < ok.Length; cut++)
            Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(ok.AsSpan(0, cut)));
        Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load([.. ok, 0x4E]));
        Assert.Throws<MLArrayMetadataException>(() => RestrictedUnpickler.Load(P(Proto, 1, 'N', '.')));
    }

    [Fact]
    public void Gzip_MultiMember_AndStreamingLimit()
    {
        byte[] a = BoundedGzip.Compress("hello "u8), b = BoundedGzip.Compress("world"u8);
        Assert.Equal("hello world", Encoding.ASCII.GetString(BoundedGzip.Decompress((byte[])[.. a, .. b], 100)));
        // 256 MiB of zeros in a few hundred KiB of gzip: stopped at 1 MiB
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var zeros = new byte[1 << 20];
            for (int i = 0; i < 256; i++) gz.Write(zeros);
        }
        long before = GC.GetAllocatedBytesForCurrentThread(); // this thread only: tests running in parallel allocate too
        var ex = Assert.Throws<MLArrayMetadataException>(() => BoundedGzip.Decompress(ms.ToArray(), 1 << 20));
        Assert.Contains("limit of 1048576 bytes", ex.Message, StringComparison.Ordinal);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 32L << 20);
        Assert.Throws<MLArrayMetadataException>(() => BoundedGzip.Decompress("not gzip at all, really"u8.ToArray(), 100));
        byte[] payload = MetaPayloadCodec.Encode(MetaValue.FromJson("""{"key":"a value","n":[1,2,3]}"""));
        for (int cut = 1; cut < payload.Length - 8; cut++)
            Assert.Throws<MLArrayMetadataException>(() => MetaPayloadCodec.Decode(payload.AsMemory(0, cut)));
    }

    [Fact]
    public void Codec_RefusesOtherMsgpackValues()
    {
        Assert.Throws<MLArrayMetadataException>(() => MetaPayloadCodec.Decode(new byte[] { 0x93, 1, 2, 3 }));
        Assert.Throws<MLArrayMetadataException>(() => MetaPayloadCodec.Decode(Array.Empty<byte>()));
        Assert.Throws<MLArrayMetadataException>(() => MetaPayloadCodec.Decode(new byte[] { 0xC4, 5, 1 }));
        Assert.Throws<MLArrayMetadataException>(() => MetaPayloadCodec.Decode(new byte[] { 0x81, 0xA1, (byte)'a', 0xC7, 1, 5, 0 })); // ext inside a map
        byte[] packed = [0x81, 0xA1, (byte)'t', 0x93, 0xA9, .. "__tuple__"u8.ToArray(), 1, 2];
        var tuple = MetaMsgpack.Decode(packed);
        MetaAssert.SameOrdered(MetaValue.FromJson("""{"t":[1,2]}"""), tuple);
    }
}
