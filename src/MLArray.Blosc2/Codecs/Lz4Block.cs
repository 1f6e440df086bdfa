using System.Runtime.CompilerServices;

namespace MLArray.Blosc2.Codecs;

/// <summary>
/// Structural check of an LZ4 block (the LZ4 block format: sequences of token, literal length, literals, 2-byte
/// offset, match length) before it is handed to the LZ4 decoder. The decoder accepts a match offset of 0, which
/// copies the output onto itself: the bytes it "writes" are whatever the destination held before, so a hostile
/// stream could make a decode return stale or uninitialised memory as data (found by fuzzing the chunk decoder, see
/// fuzz/README.md). This walk refuses such streams: every offset must be at least 1 and reach no further back than
/// the output written so far (plus the dictionary), and the sequences must produce exactly the expected size.
/// </summary>
internal static class Lz4Block
{
    /// <summary>
    /// True when <paramref name="src"/> is a well-formed LZ4 block that decodes to exactly <paramref name="outputSize"/>
    /// bytes, with every match inside the output written so far or the <paramref name="dictSize"/> bytes of the
    /// dictionary before it. Reads only the tokens, lengths and offsets (literals are skipped), so it costs a small
    /// fraction of the decode.
    /// </summary>
    public static bool IsWellFormed(ReadOnlySpan<byte> src, int outputSize, int dictSize = 0)
    {
        int ip = 0;
        long op = 0;
        while (true)
        {
            if (ip >= src.Length)
                return false; // a block ends with a literal run, never between sequences
            int token = src[ip++];
            long literals = token >> 4;
            if (literals == 15 && !ReadLength(src, ref ip, ref literals))
                return false;
            if (literals > src.Length - ip || literals > outputSize - op)
                return false;
            ip += (int)literals;
            op += literals;
            if (ip == src.Length)
                return op == outputSize; // the last sequence: literals only
            if (src.Length - ip < 2)
                return false;
            int offset = src[ip] | (src[ip + 1] << 8);
            ip += 2;
            if (offset == 0 || offset > op + dictSize)
                return false;
            long match = (token & 15) + 4L;
            if ((token & 15) == 15 && !ReadLength(src, ref ip, ref match))
                return false;
            if (match > outputSize - op)
                return false;
            op += match;
        }
    }

    /// <summary>Adds the 255-continued length bytes at <paramref name="ip"/> to <paramref name="length"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool ReadLength(ReadOnlySpan<byte> src, ref int ip, ref long length)
    {
        while (true)
        {
            if (ip >= src.Length)
                return false;
            byte b = src[ip++];
            length += b;
            if (length > int.MaxValue)
                return false;
            if (b != 255)
                return true;
        }
    }
}
