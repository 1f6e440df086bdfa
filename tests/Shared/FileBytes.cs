namespace MLArray.TestSupport;

/// <summary>Byte-level comparison of two frames.</summary>
internal static class FileBytes
{
    /// <summary>Start of the trailer: file length minus the big-endian trailer_len at file_end − 22.</summary>
    public static long TrailerStart(byte[] f) =>
        f.Length - System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(f.Length - 22));

    /// <summary>
    /// Header, chunks and offsets index (everything before the trailer) are identical, except the frame length and
    /// has-vlmeta fields of the header (at most 9 bytes, all within the first 64).
    /// </summary>
    public static void AssertSameFrameBody(string original, string rewritten)
    {
        byte[] a = File.ReadAllBytes(original), b = File.ReadAllBytes(rewritten);
        long ta = TrailerStart(a), tb = TrailerStart(b);
        Assert.Equal(ta, tb);
        var diffs = Enumerable.Range(0, (int)ta).Where(i => a[i] != b[i]).ToArray();
        Assert.True(diffs.Length <= 9 && diffs.All(i => i < 64), $"frame body differs at {string.Join(", ", diffs.Take(20))}");
    }
}
