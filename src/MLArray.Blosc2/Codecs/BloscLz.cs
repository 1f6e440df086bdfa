using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace MLArray.Blosc2.Codecs;

/// <summary>
/// Managed BloscLZ stream codec (spec §6.1): a FastLZ-derived byte-oriented LZ77 format.
/// </summary>
/// <remarks>
/// Token layout (values are biased):
/// <list type="bullet">
/// <item><c>ctrl &lt; 32</c>: literal run of <c>ctrl + 1</c> bytes (the first byte of a stream carries a 0x20 marker).</item>
/// <item><c>ctrl ≥ 32</c>: match, length code <c>ctrl &gt;&gt; 5</c> (7 = extension bytes follow), copy length = code + 2,
/// distance <c>((ctrl &amp; 31) &lt;&lt; 8) + lo + 1</c>, or, when <c>ctrl &amp; 31 == 31</c> and <c>lo == 255</c>,
/// <c>BE16 + 8192</c> ("far" form).</item>
/// </list>
/// A stream never ends with a match (the reference decoder stops before executing a trailing match),
/// so the encoder always finishes with a literal run and the decoder rejects a trailing match.
/// </remarks>
internal static class BloscLz
{
    /// <summary>Maximum number of literals in one literal-run token.</summary>
    private const int MaxLiteralRun = 32;

    /// <summary>Largest distance with the two-byte "near" encoding (<c>d - 1 &lt; 8191</c>).</summary>
    private const int MaxNearDistance = 8191;

    /// <summary>Largest distance the encoder emits (C-Blosc2 rejects <c>distance ≥ 8191 + 65535</c>).</summary>
    private const int MaxDistance = 8191 + 65535 - 1;

    /// <summary>Inputs shorter than this are never compressed (C-Blosc2 refuses them too).</summary>
    private const int MinInputLength = 16;

    /// <summary>The match search stops this many bytes before the end of the input.</summary>
    private const int SearchTail = 12;

    /// <summary>Matches end at least this many bytes before the end, so the stream always ends with literals.</summary>
    private const int MatchTail = 4;

    /// <summary>Minimum copy length of a near match (2-byte token: saves ≥ 1 byte even when it splits a literal run).</summary>
    private const int MinNearMatch = 4;

    /// <summary>Minimum copy length of a far match (4-byte token).</summary>
    private const int MinFarMatch = 6;

    private const uint HashMultiplier = 2654435761u;

    /// <summary>Largest hash table: 2^14 int entries = 64 KiB of stack.</summary>
    private const int MaxHashLog = 14;

    /// <summary>
    /// Compresses <paramref name="src"/> into <paramref name="dst"/> as one BloscLZ stream.
    /// </summary>
    /// <param name="src">The bytes to compress.</param>
    /// <param name="dst">Destination buffer.</param>
    /// <param name="clevel">Compression level 1..9 (values outside are clamped); affects hash table size and search effort.</param>
    /// <returns>
    /// The number of bytes written, or 0 when the data does not compress into fewer than <c>src.Length</c> bytes
    /// (or <paramref name="dst"/> is too small, or <paramref name="src"/> is shorter than 16 bytes);
    /// callers then store the stream raw.
    /// </returns>
    [SkipLocalsInit]
    public static unsafe int Compress(ReadOnlySpan<byte> src, Span<byte> dst, int clevel)
    {
        int length = src.Length;
        if (length < MinInputLength)
        {
            return 0;
        }

        // The output must be strictly smaller than the input to be worth anything.
        int maxOut = Math.Min(dst.Length, length - 1);
        if (maxOut < 2)
        {
            return 0;
        }

        clevel = Math.Clamp(clevel, 1, 9);
        int hashLog = clevel switch { 1 => 12, 2 => 13, _ => MaxHashLog };
        // A table much larger than the input only costs clearing time; 2 slots per input byte is plenty.
        int inputLog = 32 - BitOperations.LeadingZeroCount((uint)length - 1) + 1;
        hashLog = Math.Min(hashLog, Math.Max(inputLog, 8));

        // Skip acceleration for incompressible regions (LZ4-style): after 2^trigger consecutive misses the step
        // grows by one byte. Higher levels search more patiently.
        int skipTrigger = clevel <= 3 ? 5 : clevel <= 6 ? 6 : 8;

        int* table = stackalloc int[1 << hashLog];
        new Span<int>(table, 1 << hashLog).Clear();
        int hashShift = 32 - hashLog;

        fixed (byte* srcPtr = &MemoryMarshal.GetReference(src))
        fixed (byte* dstPtr = &MemoryMarshal.GetReference(dst))
        {
            byte* ip = srcPtr;
            byte* anchor = srcPtr;
            byte* ipLimit = srcPtr + length - SearchTail;
            byte* matchLimit = srcPtr + length - MatchTail;
            byte* op = dstPtr;
            byte* opLimit = dstPtr + maxOut;
            int searchCount = 1 << skipTrigger;
            bool insertWholeMatch = clevel >= 8;

            while (ip < ipLimit)
            {
                uint seq = Unsafe.ReadUnaligned<uint>(ip);
                uint h = (seq * HashMultiplier) >> hashShift;
                byte* refp = srcPtr + table[h];
                table[h] = (int)(ip - srcPtr);
                nint distance = (nint)(ip - refp);

                if (distance == 0 || distance > MaxDistance || Unsafe.ReadUnaligned<uint>(refp) != seq)
                {
                    ip += searchCount++ >> skipTrigger;
                    continue;
                }

                // Extend forwards, 8 bytes at a time.
                byte* mp = ip + 4;
                byte* rp = refp + 4;
                while (mp + 8 <= matchLimit)
                {
                    ulong diff = Unsafe.ReadUnaligned<ulong>(mp) ^ Unsafe.ReadUnaligned<ulong>(rp);
                    if (diff != 0)
                    {
                        mp += BitConverter.IsLittleEndian
                            ? BitOperations.TrailingZeroCount(diff) >> 3
                            : BitOperations.LeadingZeroCount(diff) >> 3;
                        goto MatchEndFound;
                    }

                    mp += 8;
                    rp += 8;
                }

                while (mp < matchLimit && *mp == *rp)
                {
                    mp++;
                    rp++;
                }

            MatchEndFound:
                if (mp > matchLimit)
                {
                    mp = matchLimit;
                }

                // Extend backwards into the pending literals.
                byte* start = ip;
                while (start > anchor && refp > srcPtr && start[-1] == refp[-1])
                {
                    start--;
                    refp--;
                }

                int matchLength = (int)(mp - start);
                if (matchLength < (distance > MaxNearDistance ? MinFarMatch : MinNearMatch))
                {
                    ip += searchCount++ >> skipTrigger;
                    continue;
                }

                op = EmitLiterals(op, opLimit, anchor, (int)(start - anchor));
                if (op == null)
                {
                    return 0;
                }

                op = EmitMatch(op, opLimit, matchLength, (int)distance);
                if (op == null)
                {
                    return 0;
                }

                // Index positions inside the match so later data can refer to it.
                if (insertWholeMatch)
                {
                    for (byte* p = ip + 1; p < mp; p++)
                    {
                        table[(Unsafe.ReadUnaligned<uint>(p) * HashMultiplier) >> hashShift] = (int)(p - srcPtr);
                    }
                }
                else
                {
                    byte* p = mp - 2;
                    table[(Unsafe.ReadUnaligned<uint>(p) * HashMultiplier) >> hashShift] = (int)(p - srcPtr);
                    p++;
                    table[(Unsafe.ReadUnaligned<uint>(p) * HashMultiplier) >> hashShift] = (int)(p - srcPtr);
                }

                ip = mp;
                anchor = mp;
                searchCount = 1 << skipTrigger;
            }

            // The tail (at least MatchTail bytes) is always flushed as literals, so the stream ends with a literal run.
            op = EmitLiterals(op, opLimit, anchor, (int)(srcPtr + length - anchor));
            if (op == null)
            {
                return 0;
            }

            // Format marker: the first token is always a literal run (ctrl < 32).
            *dstPtr |= 0x20;
            return (int)(op - dstPtr);
        }
    }

    /// <summary>Writes <paramref name="count"/> literals as runs of up to 32 bytes; returns null when out of space.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe byte* EmitLiterals(byte* op, byte* opLimit, byte* from, int count)
    {
        if (count == 0)
        {
            return op;
        }

        nint needed = count + ((count + MaxLiteralRun - 1) / MaxLiteralRun);
        if (needed > opLimit - op)
        {
            return null;
        }

        while (count > MaxLiteralRun)
        {
            *op++ = MaxLiteralRun - 1;
            Unsafe.CopyBlockUnaligned(op, from, MaxLiteralRun);
            op += MaxLiteralRun;
            from += MaxLiteralRun;
            count -= MaxLiteralRun;
        }

        *op++ = (byte)(count - 1);
        Unsafe.CopyBlockUnaligned(op, from, (uint)count);
        return op + count;
    }

    /// <summary>Writes one match token (copy length ≥ 3, 1 ≤ distance ≤ MaxDistance); returns null when out of space.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe byte* EmitMatch(byte* op, byte* opLimit, int copyLength, int distance)
    {
        int code = copyLength - 2;
        int d = distance - 1;
        bool far = d >= MaxNearDistance;
        if (far)
        {
            d -= MaxNearDistance;
        }

        // ctrl + extensions + lo (+ 2 far bytes).
        nint needed = 2 + (far ? 2 : 0) + (code >= 7 ? ((code - 7) / 255) + 1 : 0);
        if (needed > opLimit - op)
        {
            return null;
        }

        int hi = far ? 31 : d >> 8;
        if (code < 7)
        {
            *op++ = (byte)((code << 5) | hi);
        }
        else
        {
            *op++ = (byte)(0xE0 | hi);
            int rest = code - 7;
            while (rest >= 255)
            {
                *op++ = 255;
                rest -= 255;
            }

            *op++ = (byte)rest;
        }

        if (far)
        {
            *op++ = 255;
            *op++ = (byte)(d >> 8);
            *op++ = (byte)d;
        }
        else
        {
            *op++ = (byte)d;
        }

        return op;
    }

    /// <summary>
    /// Decodes a BloscLZ stream that must produce exactly <c>dst.Length</c> bytes.
    /// </summary>
    /// <param name="src">The compressed stream.</param>
    /// <param name="dst">Destination; its length is the expected decompressed size.</param>
    /// <returns>
    /// <see langword="true"/> on success; <see langword="false"/> on any malformed input (match before the start of
    /// the output, output overrun, truncated token, stream ending with a match, wrong final size). Never throws and
    /// never reads or writes out of bounds, whatever the input.
    /// </returns>
    public static unsafe bool TryDecompress(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        if (src.IsEmpty)
        {
            return dst.IsEmpty;
        }

        fixed (byte* srcPtr = &MemoryMarshal.GetReference(src))
        fixed (byte* dstPtr = &MemoryMarshal.GetReference(dst))
        {
            byte* ip = srcPtr;
            byte* ipEnd = srcPtr + src.Length;
            byte* op = dstPtr;
            byte* opEnd = dstPtr + dst.Length;

            // The first token is a literal run; its high bits hold the format marker.
            uint ctrl = (uint)(*ip++ & 31);

            while (true)
            {
                // Fast path: far from both ends, literal runs and short matches need no per-field bounds checks
                // (a literal reads ≤ 32 + 1 bytes; a short match ≤ 3 + 1 bytes and writes ≤ 16 bytes).
                if (ipEnd - ip > FastMargin && opEnd - op > FastMargin)
                {
                    if (ctrl < 32)
                    {
                        Unsafe.CopyBlockUnaligned(op, ip, MaxLiteralRun);
                        nint run = (nint)ctrl + 1;
                        ip += run;
                        op += run;
                        ctrl = *ip++;
                        continue;
                    }

                    if (ctrl < 0xE0)
                    {
                        uint hi = ctrl & 31;
                        uint lo = *ip++;
                        nint distance;
                        if (lo == 255 && hi == 31)
                        {
                            distance = ((nint)ip[0] << 8) + ip[1] + MaxNearDistance + 1;
                            ip += 2;
                        }
                        else
                        {
                            distance = (nint)((hi << 8) + lo + 1);
                        }

                        if (distance > op - dstPtr)
                        {
                            return false;
                        }

                        // Copy length 3..8: a single 8-byte move, or one stamp of a short-period pattern.
                        if (distance >= 8)
                        {
                            Unsafe.WriteUnaligned(op, Unsafe.ReadUnaligned<ulong>(op - distance));
                        }
                        else
                        {
                            StampPattern(op, distance, op + 8);
                        }

                        op += (nint)(ctrl >> 5) + 2;
                        ctrl = *ip++;
                        continue;
                    }
                }

                if (ctrl < 32)
                {
                    nint run = (nint)ctrl + 1;
                    if (run > ipEnd - ip || run > opEnd - op)
                    {
                        return false;
                    }

                    Unsafe.CopyBlockUnaligned(op, ip, (uint)run);
                    ip += run;
                    op += run;
                    if (ip >= ipEnd)
                    {
                        break;
                    }

                    ctrl = *ip++;
                    continue;
                }

                if (!DecodeMatch(ref ip, ipEnd, ref op, opEnd, dstPtr, ctrl))
                {
                    return false;
                }

                ctrl = *ip++;
            }

            return op == opEnd;
        }
    }

    /// <summary>Bytes of head room (input and output) below which the decoder leaves its fast path.</summary>
    private const int FastMargin = 40;

    /// <summary>
    /// Decodes the rest of a match token (after <paramref name="ctrl"/>) with full validation and executes it.
    /// On success <paramref name="ip"/> points at the next control byte, which is guaranteed to exist.
    /// </summary>
    private static unsafe bool DecodeMatch(ref byte* ip, byte* ipEnd, ref byte* op, byte* opEnd, byte* dstPtr, uint ctrl)
    {
        nint length = (nint)(ctrl >> 5) - 1;
        uint hi = ctrl & 31;
        nint outLeft = (nint)(opEnd - op);
        byte* p = ip;
        if (length == 6)
        {
            uint ext;
            do
            {
                if (p >= ipEnd)
                {
                    return false;
                }

                ext = *p++;
                length += (nint)ext;
                if (length > outLeft)
                {
                    return false;
                }
            }
            while (ext == 255);
        }

        if (p >= ipEnd)
        {
            return false;
        }

        uint lo = *p++;
        length += 3;
        nint distance;
        if (lo == 255 && hi == 31)
        {
            if (ipEnd - p < 2)
            {
                return false;
            }

            distance = ((nint)p[0] << 8) + p[1] + MaxNearDistance + 1;
            p += 2;
        }
        else
        {
            distance = (nint)((hi << 8) + lo + 1);
        }

        // A trailing match is never executed by the reference decoder: treat it as malformed.
        if (length > outLeft || distance > op - dstPtr || p >= ipEnd)
        {
            return false;
        }

        CopyMatch(op, distance, length, outLeft);
        op += length;
        ip = p;
        return true;
    }

    /// <summary>
    /// Copies <paramref name="length"/> bytes from <c>op - distance</c> to <paramref name="op"/> with LZ77 overlap
    /// semantics. <paramref name="outLeft"/> (≥ length) is the room left in the output; when there is slack, wide
    /// copies may write up to 16 bytes past <c>op + length</c> (later tokens overwrite them).
    /// </summary>
    private static unsafe void CopyMatch(byte* op, nint distance, nint length, nint outLeft)
    {
        byte* from = op - distance;
        if (outLeft >= length + 16)
        {
            byte* end = op + length;
            if (distance >= 16)
            {
                do
                {
                    Vector128.Store(Vector128.Load(from), op);
                    op += 16;
                    from += 16;
                }
                while (op < end);
            }
            else if (distance >= 8)
            {
                do
                {
                    Unsafe.WriteUnaligned(op, Unsafe.ReadUnaligned<ulong>(from));
                    op += 8;
                    from += 8;
                }
                while (op < end);
            }
            else if (distance == 1 && length > 64)
            {
                Unsafe.InitBlockUnaligned(op, *from, (uint)length);
            }
            else
            {
                StampPattern(op, distance, end);
            }

            return;
        }

        // Near the end of the output: exact copies only.
        if (distance >= length)
        {
            Unsafe.CopyBlockUnaligned(op, from, (uint)length);
        }
        else if (distance == 1)
        {
            Unsafe.InitBlockUnaligned(op, *from, (uint)length);
        }
        else
        {
            for (nint k = 0; k < length; k++)
            {
                op[k] = from[k];
            }
        }
    }

    /// <summary>
    /// Fills <c>[op, end)</c> with the pattern of period <paramref name="distance"/> (1..7) that ends at
    /// <paramref name="op"/>. Reads 16 bytes at <c>op - distance</c> and may write up to 16 bytes past
    /// <paramref name="end"/>; the caller guarantees that room.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StampPattern(byte* op, nint distance, byte* end)
    {
        byte* from = op - distance;
        if (Ssse3.IsSupported || AdvSimd.Arm64.IsSupported)
        {
            // pattern[k] = from[k % distance] for k < 16, via a byte shuffle with a per-period index table.
            Vector128<byte> source = Vector128.Load(from);
            Vector128<byte> indices = Vector128.LoadUnsafe(ref MemoryMarshal.GetReference(PatternIndices), (nuint)(distance * 16));
            Vector128<byte> pattern = Ssse3.IsSupported
                ? Ssse3.Shuffle(source, indices)
                : AdvSimd.Arm64.VectorTableLookup(source, indices);
            nint step = 16 - (16 % distance);
            do
            {
                Vector128.Store(pattern, op);
                op += step;
            }
            while (op < end);
        }
        else if (BitConverter.IsLittleEndian)
        {
            int bits = (int)distance * 8;
            ulong unit = Unsafe.ReadUnaligned<ulong>(from) & ((1UL << bits) - 1);
            ulong pattern = unit;
            for (int shift = bits; shift < 64; shift += bits)
            {
                pattern |= unit << shift;
            }

            nint step = 8 - (8 % distance);
            do
            {
                Unsafe.WriteUnaligned(op, pattern);
                op += step;
            }
            while (op < end);
        }
        else
        {
            for (; op < end; op++)
            {
                *op = *(op - distance);
            }
        }
    }

    /// <summary>Row d (1..7): byte k = k % d, the shuffle indices that repeat a d-byte period over 16 bytes.</summary>
    private static ReadOnlySpan<byte> PatternIndices =>
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
        0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0,
        0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3,
        0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0,
        0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3,
        0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 1,
    ];
}
