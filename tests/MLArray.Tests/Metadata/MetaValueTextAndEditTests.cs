using System.Globalization;
using MLArray.Metadata;
using MLArray.Metadata.Migration;
using MLArray.Metadata.Payload;

namespace MLArray.Tests.Metadata;

/// <summary><see cref="MetaValue.ToString"/> gives the value (not its JSON); <see cref="MetaDict.With"/>/<see cref="MetaDict.Without"/> edit in one call.</summary>
public sealed class MetaValueTextAndEditTests
{
    [Fact]
    public void ToString_GivesTheValue_NotItsJson()
    {
        Assert.Equal("s-1", MetaValue.From("s-1").ToString());
        Assert.Equal("\"s-1\"", MetaValue.From("s-1").ToJson());
        Assert.Equal("say \"hi\"", MetaValue.From("say \"hi\"").ToString());
        Assert.Equal("42", MetaValue.From(42).ToString());
        Assert.Equal("-123456789012345678901234567890", MetaValue.From(System.Numerics.BigInteger.Parse("-123456789012345678901234567890", CultureInfo.InvariantCulture)).ToString());
        Assert.Equal("true", MetaValue.From(true).ToString());
        Assert.Equal("null", MetaValue.Null.ToString());
        Assert.Equal("NaN", MetaValue.From(double.NaN).ToString());
        Assert.Equal("Infinity", MetaValue.From(double.PositiveInfinity).ToString());
        Assert.Equal("-Infinity", MetaValue.From(double.NegativeInfinity).ToString());
    }

    [Fact]
    public void ToString_UsesTheInvariantCulture_WhateverTheCurrentCulture()
    {
        var saved = CultureInfo.CurrentCulture;
        try
        {
            // a culture with a decimal comma and its own infinity sign (built by hand: tests may run globalization-invariant)
            var comma = (CultureInfo)CultureInfo.InvariantCulture.Clone();
            comma.NumberFormat.NumberDecimalSeparator = ",";
            comma.NumberFormat.PositiveInfinitySymbol = "∞";
            CultureInfo.CurrentCulture = comma;
            Assert.Equal("2,5", 2.5.ToString(CultureInfo.CurrentCulture)); // the culture is in effect
            Assert.Equal("2.5", MetaValue.From(2.5).ToString());
            Assert.Equal("Infinity", MetaValue.From(double.PositiveInfinity).ToString());
            Assert.Equal("1E-05", MetaValue.From(1e-5).ToString());
            Assert.Equal("[0.5, -1.25]", MetaValue.List([MetaValue.From(0.5), MetaValue.From(-1.25)]).ToString());
        }
        finally
        {
            CultureInfo.CurrentCulture = saved;
        }
    }

    [Fact]
    public void ToString_OfContainers_IsReadable_WithStringsQuotedInside()
    {
        var v = MetaValue.FromJson("""{"study_id": "s-1", "window": [40, 400.5], "ok": true, "n": null, "nested": {"q": "a\"b"}}""");
        Assert.Equal("""{"study_id": "s-1", "window": [40, 400.5], "ok": true, "n": null, "nested": {"q": "a\"b"}}""", v.ToString());
        Assert.Equal("[]", MetaValue.List([]).ToString());
        Assert.Equal("{}", MetaValue.Dict([]).ToString());
        Assert.Equal("[\"NaN\", NaN]", MetaValue.List([MetaValue.From("NaN"), MetaValue.From(double.NaN)]).ToString());
    }

    [Fact]
    public void With_AddsAtTheEnd_OrReplacesInPlace_AndLeavesTheOriginal()
    {
        var d = (MetaDict)MetaValue.FromJson("""{"a": 1, "b": "x"}""");
        var added = d.With("study_id", "s-1");
        Assert.Equal(["a", "b", "study_id"], added.Entries.Select(e => e.Key));
        Assert.Equal("s-1", added["study_id"]!.ToString());
        Assert.Equal(MetaKind.String, added["study_id"]!.Kind);

        var replaced = added.With("a", 2.5);
        Assert.Equal(["a", "b", "study_id"], replaced.Entries.Select(e => e.Key));
        Assert.Equal(MetaValue.From(2.5), replaced["a"]);
        Assert.Equal(MetaValue.From(2.5), replaced.Entries[0].Value);
        Assert.True(replaced.TryGetValue("a", out var a) && a.Equals(MetaValue.From(2.5)));

        // plain .NET values convert implicitly
        var all = d.With("i", 7).With("l", 7L).With("f", 0.25f).With("t", true).With("none", (string?)null).With("m", null);
        Assert.Equal(MetaValue.From(7L), all["i"]);
        Assert.Equal(MetaValue.From(7L), all["l"]);
        Assert.Equal(MetaValue.From(0.25), all["f"]);
        Assert.Equal(MetaValue.From(true), all["t"]);
        Assert.Equal(MetaValue.Null, all["none"]);
        Assert.Equal(MetaValue.Null, all["m"]);

        // the original is unchanged
        Assert.Equal("""{"a":1,"b":"x"}""", d.ToJson());
        Assert.Equal(MetaValue.FromJson("""{"a": 1, "b": "x", "study_id": "s-1"}"""), added);
    }

    [Fact]
    public void Without_RemovesTheKey_AndLeavesTheOriginal()
    {
        var d = (MetaDict)MetaValue.FromJson("""{"a": 1, "b": "x", "c": [1]}""");
        var w = d.Without("b");
        Assert.Equal(["a", "c"], w.Entries.Select(e => e.Key));
        Assert.Null(w["b"]);
        Assert.False(w.TryGetValue("b", out _));
        Assert.Equal(MetaValue.FromJson("""{"a": 1, "c": [1]}"""), w);
        Assert.Equal(3, d.Entries.Count);
        Assert.Equal(d, d.Without("missing"));
        Assert.Empty(d.Without("a").Without("b").Without("c").Entries);
    }

    [Fact]
    public void Edits_KeepPythonKeys_ThroughAPickleRoundTrip()
    {
        // a dict as pickle.loads builds it: an int key 7 next to str keys
        var d = MetaDict.FromPythonKeys([new(MetaValue.From(7), MetaValue.From("seven")), new(MetaValue.From("a"), MetaValue.From(1))]);
        var edited = d.With("7", "SEVEN").With("b", 2).Without("a");
        Assert.Equal(["7", "b"], edited.Entries.Select(e => e.Key));
        Assert.Equal([MetaKind.Int, MetaKind.String], edited.PythonKeys.Select(k => k.Kind));

        var back = (MetaDict)((MetaDict)RestrictedUnpickler.Load(Pickler.Dump(MetaValue.Dict([new("source", edited)]))))["source"]!;
        Assert.Equal([MetaKind.Int, MetaKind.String], back.PythonKeys.Select(k => k.Kind));
        Assert.Equal("SEVEN", back["7"]!.ToString());
        Assert.Equal(edited, back);

        // removing the only non-str key leaves a plain str-keyed dict
        Assert.False(edited.Without("7").HasNonStringKeys);
    }

    [Fact]
    public void MetaSource_IsEditedInOneCall_AndTheEditIsStored()
    {
        var meta = new MLArrayMeta();
        var edited = meta with { Source = meta.Source.With("study_id", "s-1").With("slices", 120), Extra = meta.Extra.With("lab", "x") };
        Assert.Empty(meta.Source.Entries);
        Assert.Equal("s-1", edited.Source["study_id"]!.ToString());

        var back = MLArrayMetadata.Decode(MLArrayMetadata.Encode(edited), arrayShape: null).Meta;
        Assert.Equal("s-1", back.Source["study_id"]!.ToString());
        Assert.Equal(MetaValue.From(120), back.Source["slices"]);
        Assert.Equal("x", back.Extra["lab"]!.ToString());
        Assert.Equal(edited.Source, back.Source);
    }
}
