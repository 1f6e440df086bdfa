using MLArray.Blosc2.Format;

namespace MLArray.Blosc2;

/// <summary>The content of the "b2nd" metalayer (spec §8).</summary>
internal sealed record B2ndMeta(long[] Shape, int[] ChunkShape, int[] BlockShape, string DType)
{
    public const string Name = "b2nd";
    public const string LegacyName = "caterva";

    public static B2ndMeta Parse(ReadOnlySpan<byte> content, long offset, string? source)
    {
        var r = new MsgpackReader(content, offset, source, "b2nd metalayer");
        int n = r.ReadArrayHeader();
        if (n < 6)
            throw r.Error($"expected 7 fields, found {n}");
        long version = r.ReadInteger();
        if (version != 0)
            throw new MLArrayNotSupportedException($"'{source}': b2nd metalayer at offset {offset}: version {version} is not supported (only version 0 exists).");
        long ndim = r.ReadInteger();
        if (ndim < 0 || ndim > B2ndLayout.MaxDims)
            throw r.Error($"ndim {ndim} is outside 0..{B2ndLayout.MaxDims}");
        var shape = new long[ndim];
        var chunks = new int[ndim];
        var blocks = new int[ndim];
        ReadDims(ref r, "shape", shape.Length, (i, v) => shape[i] = v, allowZero: true);
        ReadDims(ref r, "chunkshape", chunks.Length, (i, v) => chunks[i] = checked((int)v), allowZero: true);
        ReadDims(ref r, "blockshape", blocks.Length, (i, v) => blocks[i] = checked((int)v), allowZero: true);
        string dtype = "|u1";
        if (n >= 7)
        {
            long format = r.ReadInteger();
            if (format != 0)
                throw new MLArrayNotSupportedException($"'{source}': b2nd metalayer at offset {offset}: dtype format {format} is not supported (only NumPy dtype strings, format 0).");
            dtype = r.ReadString();
        }
        return new B2ndMeta(shape, chunks, blocks, dtype);
    }

    private static void ReadDims(ref MsgpackReader r, string what, int ndim, Action<int, long> set, bool allowZero)
    {
        int n = r.ReadArrayHeader();
        if (n != ndim)
            throw r.Error($"{what} has {n} entries but ndim is {ndim}");
        for (int i = 0; i < n; i++)
        {
            long v = r.ReadInteger();
            if (v < 0 || (!allowZero && v == 0) || v > (what == "shape" ? long.MaxValue : int.MaxValue))
                throw r.Error($"{what}[{i}] = {v} is invalid");
            set(i, v);
        }
    }

    /// <summary>Encodes with exactly the fixed widths C-Blosc2's positional parser expects.</summary>
    public byte[] Encode()
    {
        var w = new MsgpackWriter();
        w.Byte(0x97);
        w.Byte(0x00);
        w.Byte((byte)Shape.Length);
        w.Byte((byte)(0x90 | Shape.Length));
        foreach (long s in Shape) w.FixedInt64(s);
        w.Byte((byte)(0x90 | ChunkShape.Length));
        foreach (int c in ChunkShape) w.FixedInt32(c);
        w.Byte((byte)(0x90 | BlockShape.Length));
        foreach (int b in BlockShape) w.FixedInt32(b);
        w.Byte(0x00);
        w.Str32(DType);
        return w.ToArray();
    }
}
