using CsCheck;
using MLArray.Blosc2.Filters;

namespace MLArray.Blosc2.Tests.Filters;

public class DeltaTests
{
    private static int Unit(int typesize) =>
        typesize is 1 or 2 or 4 or 8 ? typesize : typesize % 8 == 0 ? 8 : 1;

    /// <summary>Spec §7.3 encode, byte-wise (XOR in units of u equals byte XOR at distance u).</summary>
    private static byte[] OracleEncode(byte[] reference, byte[] input, int typesize, bool first)
    {
        int u = Unit(typesize);
        int len = input.Length - input.Length % u;
        var output = (byte[])input.Clone();   // trailing partial unit passes through
        for (int x = 0; x < len; x++)
        {
            if (first)
            {
                output[x] = x < u ? input[x] : (byte)(input[x] ^ input[x - u]);
            }
            else
            {
                output[x] = (byte)(input[x] ^ reference[x]);
            }
        }

        return output;
    }

    /// <summary>Spec §7.3 decode: running prefix XOR for block 0, XOR with decoded block 0 otherwise.</summary>
    private static byte[] OracleDecode(byte[] decodedBlock0, byte[] input, int typesize, bool first)
    {
        int u = Unit(typesize);
        int len = input.Length - input.Length % u;
        var output = (byte[])input.Clone();
        for (int x = 0; x < len; x++)
        {
            if (first)
            {
                output[x] = x < u ? input[x] : (byte)(input[x] ^ output[x - u]);
            }
            else
            {
                output[x] = (byte)(input[x] ^ decodedBlock0[x]);
            }
        }

        return output;
    }

    public static TheoryData<int> Typesizes()
    {
        var data = new TheoryData<int>();
        foreach (int t in Enumerable.Range(1, 17).Concat([24, 32, 40]))
        {
            data.Add(t);
        }

        return data;
    }

    [Fact]
    public void Unit_sizes_follow_spec()
    {
        foreach (int t in Enumerable.Range(1, 70))
        {
            Assert.Equal(Unit(t), Delta.UnitSize(t));
        }
    }

    [Theory]
    [MemberData(nameof(Typesizes))]
    public void Matches_spec_formula_and_round_trips(int typesize)
    {
        foreach (int len in ShuffleTests.BaseLengths.Concat([9, 10, 11, 12, 13, 17, 23, 33, 4099]))
        {
            byte[] block0 = ShuffleTests.RandomBytes(len, len + typesize);
            byte[] enc0 = new byte[len];
            Delta.Encode(default, block0, enc0, typesize, isFirstBlock: true);
            Assert.Equal(OracleEncode(block0, block0, typesize, true), enc0);

            // Block 0 decode, both out of place and in place.
            byte[] dec0 = new byte[len];
            Delta.Decode(default, enc0, dec0, typesize, isFirstBlock: true);
            Assert.Equal(OracleDecode(block0, enc0, typesize, true), dec0);
            Assert.Equal(block0, dec0);
            byte[] inPlace = (byte[])enc0.Clone();
            Delta.Decode(default, inPlace, inPlace, typesize, isFirstBlock: true);
            Assert.Equal(block0, inPlace);

            // Another block of the same length and a shorter (leftover) block.
            foreach (int blen in new[] { len, len * 2 / 3, Math.Max(0, len - 5) })
            {
                byte[] block = ShuffleTests.RandomBytes(blen, blen * 3 + typesize);
                byte[] enc = new byte[blen];
                Delta.Encode(block0, block, enc, typesize, isFirstBlock: false);
                Assert.Equal(OracleEncode(block0, block, typesize, false), enc);
                byte[] dec = new byte[blen];
                Delta.Decode(dec0, enc, dec, typesize, isFirstBlock: false);
                Assert.Equal(block, dec);
                Delta.Decode(dec0, enc, enc, typesize, isFirstBlock: false);
                Assert.Equal(block, enc);
            }
        }
    }

    [Fact]
    public void Known_vector_float32()
    {
        // Two float32 items 1.0f and 2.0f: block 0 encodes item 1 as XOR with item 0; last byte is a partial unit.
        byte[] x = [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x40, 0x7B];
        byte[] expected = [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x80, 0x7F, 0x7B];
        var enc = new byte[x.Length];
        Delta.Encode(default, x, enc, 4, isFirstBlock: true);
        Assert.Equal(expected, enc);
    }

    [Fact]
    public void Property_round_trip()
    {
        Gen.Select(Gen.Int[1, 33], Gen.Byte.Array[0, 3000], Gen.Int[0, 3000]).Sample((typesize, block0, otherLength) =>
        {
            byte[] enc0 = new byte[block0.Length];
            Delta.Encode(default, block0, enc0, typesize, true);
            Assert.Equal(OracleEncode(block0, block0, typesize, true), enc0);
            Delta.Decode(default, enc0, enc0, typesize, true);
            Assert.Equal(block0, enc0);

            byte[] other = ShuffleTests.RandomBytes(Math.Min(otherLength, block0.Length), otherLength);
            byte[] enc = new byte[other.Length];
            Delta.Encode(block0, other, enc, typesize, false);
            Assert.Equal(OracleEncode(block0, other, typesize, false), enc);
            byte[] dec = new byte[other.Length];
            Delta.Decode(block0, enc, dec, typesize, false);
            Assert.Equal(other, dec);
        }, iter: 300);
    }

    [Fact]
    public void Rejects_bad_arguments()
    {
        var buf = new byte[64];
        Assert.Throws<ArgumentException>(() => Delta.Encode(default, buf, buf, 4, true));
        Assert.Throws<ArgumentException>(() => Delta.Encode(new byte[8], new byte[16], new byte[16], 4, false));
        Assert.Throws<ArgumentException>(() => Delta.Decode(default, buf.AsSpan(0, 32), buf.AsSpan(4, 32), 4, true));
        Assert.Throws<ArgumentOutOfRangeException>(() => Delta.Decode(default, new byte[8], new byte[8], 0, true));
    }
}
