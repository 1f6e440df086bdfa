using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MLArray.Blosc2.Codecs;

/// <summary>
/// Decoder for the LZ4 block format (a sequence of: token, literal length extension, literals, 2-byte little-endian
/// match offset, match length extension; the last sequence stops after its literals). Written from the format
/// description, for the blocks Blosc2 stores with its LZ4 and LZ4HC codecs.
/// <para>
/// Safety: every match offset must be at least 1 and reach no further back than the output written so far (an offset
/// of 0 would "copy" whatever the destination held before, see fuzz/README.md), every length is checked against the
/// remaining input and output, and a block must produce exactly the destination's length, so a successful decode
/// has written every destination byte. Copies run 16 or 32 bytes at a time ("wild" copies that may write past the
/// end of the current sequence) only while both buffers have room for the overshoot; near the ends they are exact.
/// The overshoot is always rewritten by a later sequence, because decoding only succeeds when the output is filled.
/// </para>
/// </summary>
internal static class Lz4Decoder
{
    /// <summary>Room (input and output) the wild copies need past the current position.</summary>
    private const int Margin = 32;

    /// <summary>
    /// Decodes the LZ4 block <paramref name="src"/> into exactly <paramref name="dst"/>.Length bytes.
    /// Returns false (with <paramref name="dst"/> partly written) when the block is malformed: a length past either
    /// buffer, a match offset of 0 or before the output start, a truncated sequence, or a block that does not end
    /// exactly at the end of <paramref name="dst"/>.
    /// </summary>
    public static unsafe bool TryDecode(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        if (src.IsEmpty)
            return false;
        fixed (byte* srcPtr = &MemoryMarshal.GetReference(src))
        fixed (byte* dstPtr = &MemoryMarshal.GetReference(dst))
        {
            byte* ip = srcPtr;
            byte* ipEnd = srcPtr + src.Length;
            byte* op = dstPtr;
            byte* opEnd = dstPtr + dst.Length;
            while (true)
            {
                // ip < ipEnd holds here: the loop continues only with input left.
                uint token = *ip++;
                nint ll = (nint)(token >> 4);
                if (ll != 15 && ipEnd - ip >= Margin && opEnd - op >= Margin)
                {
                    // Short literal run far from both ends: one 16-byte move covers it.
                    Unsafe.WriteUnaligned(op, Unsafe.ReadUnaligned<Vector128<byte>>(ip));
                    ip += ll;
                    op += ll;
                }
                else
                {
                    if (ll == 15 && !ReadLength(ref ip, ipEnd, ref ll))
                        return false;
                    if (ll > ipEnd - ip || ll > opEnd - op)
                        return false;
                    if (ll + Margin <= ipEnd - ip && ll + Margin <= opEnd - op)
                        WildCopy32(ip, op, op + ll);
                    else
                        Unsafe.CopyBlockUnaligned(op, ip, (uint)ll);
                    ip += ll;
                    op += ll;
                }

                if (ip >= ipEnd)
                    return op == opEnd; // the last sequence: literals only
                if (ipEnd - ip < 2)
                    return false;
                nint offset = ip[0] | (ip[1] << 8);
                ip += 2;
                if (offset == 0 || offset > op - dstPtr)
                    return false; // offset 0 would expose the destination's old bytes; beyond the start is out of bounds
                nint ml = (nint)(token & 15);
                if (ml == 15 && !ReadLength(ref ip, ipEnd, ref ml))
                    return false;
                ml += 4;
                if (ml > opEnd - op)
                    return false;
                if (ip >= ipEnd)
                    return false; // a match is always followed by another sequence
                byte* match = op - offset;
                byte* end = op + ml;
                if (opEnd - end >= Margin)
                {
                    if (offset >= 32)
                        WildCopy32(match, op, end);
                    else if (offset >= 16)
                        WildCopy16(match, op, end);
                    else
                        CopyShortOffset(match, op, end, offset);
                }
                else
                {
                    ExactMatchCopy(match, op, end, offset);
                }
                op = end;
            }
        }
    }

    /// <summary>Adds the 255-continued length bytes at <paramref name="ip"/> to <paramref name="length"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe bool ReadLength(ref byte* ip, byte* ipEnd, ref nint length)
    {
        uint b;
        do
        {
            if (ip >= ipEnd)
                return false;
            b = *ip++;
            length += (nint)b;
            if (length > int.MaxValue)
                return false;
        }
        while (b == 255);
        return true;
    }

    /// <summary>Copies 32-byte pieces from <paramref name="s"/> until <paramref name="end"/> is covered (writes up to 31 bytes past it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void WildCopy32(byte* s, byte* d, byte* end)
    {
        do
        {
            Unsafe.WriteUnaligned(d, Unsafe.ReadUnaligned<Vector256<byte>>(s));
            d += 32;
            s += 32;
        }
        while (d < end);
    }

    /// <summary>Copies 16-byte pieces (source at least 16 bytes behind) until <paramref name="end"/> is covered.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void WildCopy16(byte* s, byte* d, byte* end)
    {
        do
        {
            Unsafe.WriteUnaligned(d, Unsafe.ReadUnaligned<Vector128<byte>>(s));
            d += 16;
            s += 16;
        }
        while (d < end);
    }

    /// <summary>
    /// A match whose offset is below 16 (the copy overlaps its own output): a run of one byte is a fill; otherwise the
    /// first 8 bytes are copied one by one, after which the output repeats with period <paramref name="offset"/>,
    /// so the rest is copied in 8-byte pieces from a multiple of the period at least 8 bytes back.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void CopyShortOffset(byte* match, byte* op, byte* end, nint offset)
    {
        if (offset == 1)
        {
            FillRun(op, end, *match);
            return;
        }
        if (offset >= 8)
        {
            do
            {
                Unsafe.WriteUnaligned(op, Unsafe.ReadUnaligned<ulong>(match));
                op += 8;
                match += 8;
            }
            while (op < end);
            return;
        }
        for (int i = 0; i < 8; i++)
            op[i] = match[i];
        nint period = offset * ((8 + offset - 1) / offset);
        byte* d8 = op + 8;
        while (d8 < end)
        {
            Unsafe.WriteUnaligned(d8, Unsafe.ReadUnaligned<ulong>(d8 - period));
            d8 += 8;
        }
    }

    /// <summary>
    /// Fills from <paramref name="d"/> until <paramref name="end"/> is covered with <paramref name="value"/>, writing up
    /// to 31 bytes past <paramref name="end"/> (64-byte stores while they overshoot by at most 32, then one of 32).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void FillRun(byte* d, byte* end, byte value)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            var v64 = Vector512.Create(value);
            while (end - d >= 32)
            {
                Unsafe.WriteUnaligned(d, v64);
                d += 64;
            }
            if (d < end)
                Unsafe.WriteUnaligned(d, v64.GetLower());
            return;
        }
        var v = Vector256.Create(value);
        do
        {
            Unsafe.WriteUnaligned(d, v);
            d += 32;
        }
        while (d < end);
    }

    /// <summary>
    /// A match near the end of the output: exact (nothing past <paramref name="end"/> is written). A run of one byte is
    /// a fill; an overlapping copy repeats the <paramref name="offset"/>-byte pattern by copying the bytes written so
    /// far, doubling the piece each step (never byte by byte: blocks often end in long runs).
    /// </summary>
    private static unsafe void ExactMatchCopy(byte* match, byte* op, byte* end, nint offset)
    {
        nint length = (nint)(end - op);
        if (offset == 1)
        {
            new Span<byte>(op, (int)length).Fill(*match);
            return;
        }
        if (offset >= length)
        {
            Unsafe.CopyBlockUnaligned(op, match, (uint)length);
            return;
        }
        // [match, op) repeats with period offset; each copy of everything between match and op doubles what is there.
        while (op < end)
        {
            nint piece = (nint)Math.Min(op - match, end - op);
            Unsafe.CopyBlockUnaligned(op, match, (uint)piece);
            op += piece;
        }
    }
}
