using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace MLArray.Metadata.Payload;

/// <summary>
/// Writes a tree as a plain pickle (protocol 4 by default, or 5) that any CPython ≥ 3.4 reads with
/// <c>pickle.loads</c>: dict, list, str, int (any size), float (NaN/±Inf included), bool and None only; no globals,
/// no memo, no frames (framing is optional in protocols 4 and 5). Dict keys keep their Python type
/// (<see cref="MetaDict.PythonKeys"/>: str, int, float, bool or None).
/// </summary>
internal static class Pickler
{
    private const int Batch = 1000;

    /// <summary>Pickles <paramref name="value"/>.</summary>
    public static byte[] Dump(MetaValue value, int protocol = 4)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (protocol is not (4 or 5)) throw new ArgumentOutOfRangeException(nameof(protocol), "protocol must be 4 or 5");
        var ms = new MemoryStream();
        ms.WriteByte(PickleOpcodes.Proto);
        ms.WriteByte((byte)protocol);
        Write(ms, value);
        ms.WriteByte(PickleOpcodes.Stop);
        return ms.ToArray();
    }

    private static void Write(MemoryStream ms, MetaValue v)
    {
        switch (v)
        {
            case MetaNull: ms.WriteByte(PickleOpcodes.None); break;
            case MetaBool b: ms.WriteByte(b.Value ? PickleOpcodes.NewTrue : PickleOpcodes.NewFalse); break;
            case MetaInt i: WriteInt(ms, i.Value); break;
            case MetaFloat f:
            {
                Span<byte> b = stackalloc byte[9];
                b[0] = PickleOpcodes.BinFloat;
                BinaryPrimitives.WriteDoubleBigEndian(b[1..], f.Value);
                ms.Write(b);
                break;
            }
            case MetaString s: WriteStr(ms, s.Value); break;
            case MetaList l:
                ms.WriteByte(PickleOpcodes.EmptyList);
                for (int start = 0; start < l.Items.Count; start += Batch)
                {
                    int n = Math.Min(Batch, l.Items.Count - start);
                    if (n == 1)
                    {
                        Write(ms, l.Items[start]);
                        ms.WriteByte(PickleOpcodes.Append);
                        continue;
                    }
                    ms.WriteByte(PickleOpcodes.Mark);
                    for (int i = start; i < start + n; i++) Write(ms, l.Items[i]);
                    ms.WriteByte(PickleOpcodes.Appends);
                }
                break;
            case MetaDict d:
                ms.WriteByte(PickleOpcodes.EmptyDict);
                for (int start = 0; start < d.Entries.Count; start += Batch)
                {
                    int n = Math.Min(Batch, d.Entries.Count - start);
                    if (n == 1)
                    {
                        Write(ms, d.PythonKeyAt(start));
                        Write(ms, d.Entries[start].Value);
                        ms.WriteByte(PickleOpcodes.SetItem);
                        continue;
                    }
                    ms.WriteByte(PickleOpcodes.Mark);
                    for (int i = start; i < start + n; i++)
                    {
                        Write(ms, d.PythonKeyAt(i));
                        Write(ms, d.Entries[i].Value);
                    }
                    ms.WriteByte(PickleOpcodes.SetItems);
                }
                break;
            default: throw new ArgumentException("unknown meta value");
        }
    }

    private static void WriteInt(MemoryStream ms, BigInteger v)
    {
        Span<byte> b = stackalloc byte[5];
        if (v >= 0 && v <= 0xFF) { ms.WriteByte(PickleOpcodes.BinInt1); ms.WriteByte((byte)v); return; }
        if (v >= 0 && v <= 0xFFFF) { b[0] = PickleOpcodes.BinInt2; BinaryPrimitives.WriteUInt16LittleEndian(b[1..], (ushort)v); ms.Write(b[..3]); return; }
        if (v >= int.MinValue && v <= int.MaxValue) { b[0] = PickleOpcodes.BinInt; BinaryPrimitives.WriteInt32LittleEndian(b[1..], (int)v); ms.Write(b); return; }
        byte[] bytes = v.ToByteArray(isUnsigned: false, isBigEndian: false); // minimal two's complement, like pickle's encode_long
        if (bytes.Length < 256)
        {
            ms.WriteByte(PickleOpcodes.Long1);
            ms.WriteByte((byte)bytes.Length);
        }
        else
        {
            b[0] = PickleOpcodes.Long4;
            BinaryPrimitives.WriteInt32LittleEndian(b[1..], bytes.Length);
            ms.Write(b);
        }
        ms.Write(bytes);
    }

    private static void WriteStr(MemoryStream ms, string s)
    {
        byte[] u;
        try
        {
            u = new UTF8Encoding(false, true).GetBytes(s);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException("string holds an unpaired surrogate and cannot be pickled as UTF-8", e);
        }
        Span<byte> b = stackalloc byte[9];
        if (u.Length < 256)
        {
            ms.WriteByte(PickleOpcodes.ShortBinUnicode);
            ms.WriteByte((byte)u.Length);
        }
        else
        {
            b[0] = PickleOpcodes.BinUnicode;
            BinaryPrimitives.WriteUInt32LittleEndian(b[1..], (uint)u.Length);
            ms.Write(b[..5]);
        }
        ms.Write(u);
    }
}
