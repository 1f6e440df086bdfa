using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MLArray.Blosc2.Codecs;

/// <summary>
/// Reusable match-finder tables for <see cref="Lz4Hc"/> (one per worker; not thread-safe).
/// </summary>
/// <remarks>
/// The tables are never cleared between calls. Every call is given a fresh range of absolute positions
/// (<see cref="NextBase"/> only grows), so entries left by earlier inputs always lie below the current input's
/// first position and are rejected by the window check. The chain table needs no initialisation at all: a chain
/// link is only followed from a position that was inserted earlier in the same call, and inserting it wrote the link.
/// </remarks>
internal sealed class Lz4HcState
{
    /// <summary>log2 of the number of hash heads.</summary>
    internal const int HashLog = 15;

    /// <summary>Chain links are indexed by the low 16 bits of a position (the window is 64 KiB).</summary>
    internal const int ChainSize = 1 << 16;

    /// <summary>Hash heads: absolute position of the latest occurrence of each 4-byte hash.</summary>
    internal readonly int[] HashTable = GC.AllocateArray<int>(1 << HashLog, pinned: true);

    /// <summary>Distance from a position back to the previous position with the same hash (clamped to 65535).</summary>
    internal readonly ushort[] ChainTable = GC.AllocateUninitializedArray<ushort>(ChainSize, pinned: true);

    /// <summary>Absolute position given to the first byte of the next input. Always ≥ 1, so zeroed heads are stale.</summary>
    internal int NextBase = 1;

    /// <summary>Reserves <paramref name="length"/> absolute positions and returns the first one.</summary>
    internal int Reserve(int length)
    {
        if (NextBase > int.MaxValue - 1 - length)
        {
            // Positions would overflow (after ~2 GB of input): forget everything and restart the numbering.
            Array.Clear(HashTable);
            NextBase = 1;
        }

        int first = NextBase;
        NextBase = first + length;
        return first;
    }
}

/// <summary>
/// Managed LZ4 high-compression encoder producing raw LZ4 blocks (no frame), as C-Blosc2 stores them for the
/// LZ4HC codec. Hash chains over a 64 KiB window with a lazy "look for a wider match" parser (LZ4 HC levels 3–9).
/// </summary>
/// <remarks>
/// <para>Levels: level <c>L</c> walks at most <c>2^(L-1)</c> chain candidates per search (4 at level 3, 128 at
/// level 8, 256 at level 9), like LZ4's hash-chain levels. Levels 1 and 2 (a different "mid" algorithm in LZ4 ≥ 1.10)
/// are encoded like level 3 (slower than LZ4's, usually a better ratio). Levels above 9 (LZ4's optimal parser) are
/// encoded like level 9. LZ4's repeated-pattern shortcut at level 9 is not implemented: the output is as valid, a few
/// match choices differ (corpus volume: +0.008 % size) and long runs are slower to search.</para>
/// <para>Block format: sequences of token (literal count : match length − 4, 4 bits each, 15 = extension bytes
/// follow), literals, 16-bit little-endian offset (1..65535), match length extension. Matches are at least 4 bytes,
/// start at least 12 bytes before the end and end at least 5 bytes before it; the block ends with a literal run.</para>
/// <para>Assumes a little-endian machine (callers fall back to another encoder otherwise).</para>
/// </remarks>
internal static class Lz4Hc
{
    private const int MinMatch = 4;

    /// <summary>The last match must start at least this many bytes before the end of the input.</summary>
    private const int MatchStartTail = 12;

    /// <summary>The last <c>LastLiterals</c> bytes are always literals.</summary>
    private const int LastLiterals = 5;

    /// <summary>Inputs shorter than this are all literals (so never smaller than the input).</summary>
    private const int MinInputLength = MatchStartTail + 1;

    /// <summary>Largest input (LZ4's limit; keeps absolute positions far from int overflow).</summary>
    private const int MaxInputLength = 0x7E000000;

    private const int MaxDistance = 65535;

    /// <summary>Overlapping matches are trimmed so that the first keeps at most this many bytes (sweet spot of the format).</summary>
    private const int OverlapKeep = 18;

    /// <summary>
    /// Compresses <paramref name="src"/> as one raw LZ4 block into <paramref name="dst"/>.
    /// </summary>
    /// <param name="src">Input bytes.</param>
    /// <param name="dst">Output buffer.</param>
    /// <param name="level">LZ4 HC level (1..9; see remarks on the class).</param>
    /// <param name="state">Per-worker tables, reused across calls without clearing.</param>
    /// <returns>The compressed size, or 0 when the block would not be smaller than the input or does not fit in
    /// <paramref name="dst"/>.</returns>
    public static unsafe int Compress(ReadOnlySpan<byte> src, Span<byte> dst, int level, Lz4HcState state)
    {
        int length = src.Length;
        int maxOut = Math.Min(dst.Length, length - 1);
        if (length < MinInputLength || length > MaxInputLength || maxOut <= 0)
        {
            return 0;
        }

        int attempts = 1 << (Math.Clamp(level, 3, 9) - 1);
        int firstIndex = state.Reserve(length);
        fixed (byte* s = src)
        fixed (byte* d = dst)
        fixed (int* hashTable = state.HashTable)
        fixed (ushort* chainTable = state.ChainTable)
        {
            var tables = new Tables(hashTable, chainTable, s, firstIndex, attempts);
            byte* end = CompressBlock(in tables, s, length, d, d + maxOut);
            return end == null ? 0 : (int)(end - d);
        }
    }

    /// <summary>The match finder's tables and per-call constants (copied into locals by the hot code: stores
    /// through the table pointers would otherwise force the JIT to reload the fields).</summary>
    private readonly unsafe struct Tables(int* hashTable, ushort* chainTable, byte* src, int firstIndex, int attempts)
    {
        /// <summary>Hash heads (absolute positions).</summary>
        public readonly int* HashTable = hashTable;

        /// <summary>Chain links (distance to the previous position with the same hash).</summary>
        public readonly ushort* ChainTable = chainTable;

        public readonly byte* Src = src;

        /// <summary><c>IndexBase + i</c> is the byte at absolute position <c>i</c>.</summary>
        public readonly byte* IndexBase = src - firstIndex;

        /// <summary>Absolute position of <see cref="Src"/>; anything below belongs to earlier inputs.</summary>
        public readonly int FirstIndex = firstIndex;

        /// <summary>Chain positions examined per search.</summary>
        public readonly int Attempts = attempts;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe uint Hash(byte* p) => (Unsafe.ReadUnaligned<uint>(p) * 2654435761u) >> (32 - Lz4HcState.HashLog);

    /// <summary>Number of equal bytes at <paramref name="a"/> and <paramref name="b"/>, stopping at <paramref name="aLimit"/>.</summary>
    /// <remarks>8 bytes first (most candidates differ early), then 32 bytes per step where the CPU has 256-bit
    /// vectors: the long matches of shuffled exponent planes are where an HC encoder spends much of its time.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe int CommonLength(byte* a, byte* b, byte* aLimit)
    {
        byte* start = a;
        if (a < aLimit - 7)
        {
            ulong first = Unsafe.ReadUnaligned<ulong>(a) ^ Unsafe.ReadUnaligned<ulong>(b);
            if (first != 0)
            {
                return BitOperations.TrailingZeroCount(first) >> 3;
            }

            a += 8;
            b += 8;
            if (Vector256.IsHardwareAccelerated)
            {
                while (a <= aLimit - 32)
                {
                    uint equal = Vector256.Equals(Vector256.Load(a), Vector256.Load(b)).ExtractMostSignificantBits();
                    if (equal != uint.MaxValue)
                    {
                        return (int)(a - start) + BitOperations.TrailingZeroCount(~equal);
                    }

                    a += 32;
                    b += 32;
                }
            }

            while (a < aLimit - 7)
            {
                ulong diff = Unsafe.ReadUnaligned<ulong>(a) ^ Unsafe.ReadUnaligned<ulong>(b);
                if (diff != 0)
                {
                    return (int)(a - start) + (BitOperations.TrailingZeroCount(diff) >> 3);
                }

                a += 8;
                b += 8;
            }
        }

        if (a < aLimit - 3 && Unsafe.ReadUnaligned<uint>(a) == Unsafe.ReadUnaligned<uint>(b))
        {
            a += 4;
            b += 4;
        }

        if (a < aLimit - 1 && Unsafe.ReadUnaligned<ushort>(a) == Unsafe.ReadUnaligned<ushort>(b))
        {
            a += 2;
            b += 2;
        }

        if (a < aLimit && *a == *b)
        {
            a++;
        }

        return (int)(a - start);
    }

    /// <summary>
    /// <c>min(distance, 65535)</c> without a branch: whether a hash head is stale (an earlier input's) is close to a
    /// coin flip in the middle of a block, and a mispredicted branch per position costs more than the search.
    /// Distances are below 2^31 (positions are non-negative ints and heads never lie ahead).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ushort ClampDistance(uint distance) =>
        (ushort)(distance | (uint)((int)(MaxDistance - distance) >> 31));

    /// <summary>Links positions <c>[from, to)</c> into the chains; returns <paramref name="to"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe int Insert(int* heads, ushort* links, byte* indexBase, int from, int to)
    {
        // Searches never go back: a position linked before being searched would find itself (offset 0).
        Debug.Assert(from <= to);
        for (int i = from; i < to; i++)
        {
            uint h = Hash(indexBase + i);
            links[(ushort)i] = ClampDistance((uint)(i - heads[h]));
            heads[h] = i;
        }

        return to;
    }

    /// <summary>
    /// From <paramref name="ip"/> on (all earlier positions linked), links one position after the other until one
    /// has a chain candidate inside the window; returns that position (its candidate in <paramref name="candidate"/>,
    /// the position itself already linked) or <paramref name="last"/> + 1. In incompressible stretches this loop is
    /// all the encoder does, so it is kept small enough for the JIT to hold everything in registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe byte* SkipToCandidate(int* heads, ushort* links, byte* indexBase, int firstIndex, byte* ip,
        byte* last, out int candidate)
    {
        int index = (int)(ip - indexBase);
        for (; ip <= last; ip++, index++)
        {
            uint h = Hash(ip);
            int c = heads[h];
            heads[h] = index;
            uint distance = (uint)(index - c);
            links[(ushort)index] = ClampDistance(distance);
            if (c >= firstIndex && distance <= MaxDistance)
            {
                candidate = c;
                return ip;
            }
        }

        candidate = 0;
        return ip;
    }

    /// <summary>
    /// Walks the chain from <paramref name="candidate"/> (the latest earlier position with the hash of
    /// <paramref name="ip"/>; all positions before <paramref name="ip"/> must be linked) looking for a match longer
    /// than <paramref name="longest"/>, for at most the level's number of attempts. A candidate may be extended
    /// backwards down to <paramref name="lowStart"/> and forwards up to <paramref name="highLimit"/>.
    /// </summary>
    /// <returns>The longest length found (<paramref name="longest"/> when nothing longer exists; then the out
    /// values are null).</returns>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe int WalkChain(in Tables t, byte* ip, byte* lowStart, byte* highLimit, int longest,
        nint candidate, out byte* matchStart, out byte* start)
    {
        ushort* links = t.ChainTable;
        byte* indexBase = t.IndexBase;
        byte* src = t.Src;
        int attempts = t.Attempts;
        matchStart = null;
        start = null;
        nint lowest = Math.Max(t.FirstIndex, (int)(ip - indexBase) - MaxDistance);
        nint back = (nint)(ip - lowStart);
        // A candidate can only beat `longest` if it also matches at the last byte of the current best (seen from
        // lowStart): a cheap 2-byte filter before the full comparison.
        nint probe = longest - 1 - back;
        uint probeValue = Unsafe.ReadUnaligned<ushort>(lowStart + longest - 1);
        uint head = Unsafe.ReadUnaligned<uint>(ip);

        while ((candidate = NextCandidate(candidate, lowest, ref attempts, links, indexBase, probe, probeValue, head)) >= 0)
        {
            byte* m = indexBase + candidate;
            int total = MatchLength(ip, m, highLimit, Math.Min(back, (nint)(m - src)), out nint backward);
            if (total > longest)
            {
                longest = total;
                matchStart = m - backward;
                start = ip - backward;
                probe = longest - 1 - back;
                probeValue = Unsafe.ReadUnaligned<ushort>(lowStart + longest - 1);
            }

            candidate -= links[(ushort)candidate];
        }

        return longest;
    }

    /// <summary>
    /// Follows the chain from <paramref name="candidate"/> to the first position that passes the quick checks (same
    /// first 4 bytes, same 2 bytes at <paramref name="probe"/>), spending one attempt per position looked at.
    /// Returns -1 when the window or the attempts run out. Kept separate (and call-free) so that the JIT keeps the
    /// whole loop in registers: this is where an HC encoder spends its time.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe nint NextCandidate(nint candidate, nint lowest, ref int attempts, ushort* links,
        byte* indexBase, nint probe, uint probeValue, uint head)
    {
        int left = attempts;
        while (candidate >= lowest && --left >= 0)
        {
            byte* m = indexBase + candidate;
            if (Unsafe.ReadUnaligned<ushort>(m + probe) == probeValue && Unsafe.ReadUnaligned<uint>(m) == head)
            {
                attempts = left;
                return candidate;
            }

            candidate -= links[(ushort)candidate];
        }

        attempts = 0;
        return -1;
    }

    /// <summary>Length of the match of <paramref name="ip"/> at <paramref name="m"/> (first 4 bytes known equal),
    /// extended forwards up to <paramref name="highLimit"/> and backwards by at most <paramref name="maxBack"/>
    /// bytes (reported in <paramref name="backward"/>, included in the result).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe int MatchLength(byte* ip, byte* m, byte* highLimit, nint maxBack, out nint backward)
    {
        int forward = MinMatch + CommonLength(ip + MinMatch, m + MinMatch, highLimit);
        nint b = 0;
        while (b + 8 <= maxBack)
        {
            ulong diff = Unsafe.ReadUnaligned<ulong>(ip - b - 8) ^ Unsafe.ReadUnaligned<ulong>(m - b - 8);
            if (diff != 0)
            {
                // Little-endian: the byte nearest to ip is the most significant one.
                b += BitOperations.LeadingZeroCount(diff) >> 3;
                goto Done;
            }

            b += 8;
        }

        while (b < maxBack && ip[-b - 1] == m[-b - 1])
        {
            b++;
        }

    Done:
        backward = b;
        return forward + (int)b;
    }

    /// <summary>Writes literals <c>[anchor, ip)</c> followed by a match of <paramref name="length"/> bytes at
    /// <paramref name="match"/>. Returns the new output position, or null when it does not fit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe byte* WriteSequence(byte* op, byte* opEnd, byte* anchor, byte* ip, int length, byte* match)
    {
        Debug.Assert(length >= MinMatch && ip - match is >= 1 and <= MaxDistance);
        nuint literals = (nuint)(ip - anchor);
        nuint lengthCode = (nuint)(length - MinMatch);
        nuint size = 1 + literals + 2
            + (literals >= 15 ? (literals - 15) / 255 + 1 : 0)
            + (lengthCode >= 15 ? (lengthCode - 15) / 255 + 1 : 0);
        if (size > (nuint)(opEnd - op))
        {
            return null;
        }

        byte* token = op++;
        uint tokenValue;
        if (literals >= 15)
        {
            tokenValue = 15 << 4;
            op = WriteLengthExtension(op, literals - 15);
        }
        else
        {
            tokenValue = (uint)literals << 4;
        }

        Unsafe.CopyBlockUnaligned(op, anchor, (uint)literals);
        op += literals;
        uint offset = (uint)(ip - match);
        op[0] = (byte)offset;
        op[1] = (byte)(offset >> 8);
        op += 2;
        if (lengthCode >= 15)
        {
            tokenValue |= 15;
            op = WriteLengthExtension(op, lengthCode - 15);
        }
        else
        {
            tokenValue |= (uint)lengthCode;
        }

        *token = (byte)tokenValue;
        return op;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe byte* WriteLengthExtension(byte* op, nuint rest)
    {
        while (rest >= 255)
        {
            *op++ = 255;
            rest -= 255;
        }

        *op++ = (byte)rest;
        return op;
    }

    /// <summary>
    /// The parser. At each position it finds the best match M1, then looks for a match M2 that starts inside M1 and
    /// reaches further (and, when one exists, for an M3 beyond M2), and decides from their overlaps which to emit:
    /// M2 replaces M1 when it starts within 3 bytes of it, an M1 overlapped by M2 is cut short (or M2 is trimmed so
    /// M1 keeps up to 18 bytes), and M2 is dropped when M3 leaves it too little room.
    /// </summary>
    /// <returns>The end of the output, or null when it does not fit before <paramref name="opEnd"/>.</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe byte* CompressBlock(in Tables t, byte* src, int length, byte* op, byte* opEnd)
    {
        int* heads = t.HashTable;
        ushort* links = t.ChainTable;
        byte* indexBase = t.IndexBase;
        int firstIndex = t.FirstIndex;
        int nextToInsert = firstIndex;
        byte* end = src + length;
        byte* lastMatchStart = end - MatchStartTail;
        byte* matchLimit = end - LastLiterals;
        byte* anchor = src;
        byte* ip = src;

        while (ip <= lastMatchStart)
        {
            nextToInsert = Insert(heads, links, indexBase, nextToInsert, (int)(ip - indexBase));
            ip = SkipToCandidate(heads, links, indexBase, firstIndex, ip, lastMatchStart, out int candidate);
            if (ip > lastMatchStart)
            {
                break;
            }

            nextToInsert = (int)(ip - indexBase) + 1;
            int len1 = WalkChain(in t, ip, ip, matchLimit, MinMatch - 1, candidate, out byte* ref1, out _);
            if (len1 < MinMatch)
            {
                ip++;
                continue;
            }

            // The match as first found at this position (M1 may later be replaced by a nearby better one).
            byte* start0 = ip;
            byte* ref0 = ref1;
            int len0 = len1;
            byte* start2 = null, ref2 = null, start3 = null, ref3 = null;
            int len2, len3;

        SearchSecond:
            len2 = len1;
            if (ip + len1 <= lastMatchStart)
            {
                byte* p = ip + len1 - 2;
                nextToInsert = Insert(heads, links, indexBase, nextToInsert, (int)(p - indexBase));
                len2 = WalkChain(in t, p, ip, matchLimit, len1, heads[Hash(p)], out ref2, out start2);
            }

            if (len2 == len1)
            {
                // Nothing reaches further: emit M1.
                op = WriteSequence(op, opEnd, anchor, ip, len1, ref1);
                if (op == null)
                {
                    return null;
                }

                ip += len1;
                anchor = ip;
                continue;
            }

            if (start0 < ip && start2 < ip + len0)
            {
                // M1 had replaced the original match, but M2 overlaps that one too: go back to the original.
                ip = start0;
                ref1 = ref0;
                len1 = len0;
            }

            if (start2 - ip < 3)
            {
                // M2 starts (almost) where M1 does and is longer: it becomes M1.
                ip = start2;
                ref1 = ref2;
                len1 = len2;
                goto SearchSecond;
            }

        SearchThird:
            if (start2 - ip < OverlapKeep)
            {
                // Let M1 keep up to 18 bytes (but leave M2 at least 4): move M2's start forward accordingly.
                int keep = Math.Min(len1, OverlapKeep);
                if (ip + keep > start2 + len2 - MinMatch)
                {
                    keep = (int)(start2 - ip) + len2 - MinMatch;
                }

                int shift = keep - (int)(start2 - ip);
                if (shift > 0)
                {
                    start2 += shift;
                    ref2 += shift;
                    len2 -= shift;
                }
            }

            len3 = len2;
            if (start2 + len2 <= lastMatchStart)
            {
                byte* p = start2 + len2 - 3;
                nextToInsert = Insert(heads, links, indexBase, nextToInsert, (int)(p - indexBase));
                len3 = WalkChain(in t, p, start2, matchLimit, len2, heads[Hash(p)], out ref3, out start3);
            }

            if (len3 == len2)
            {
                // No M3: emit M1 (cut where M2 starts) and M2.
                if (start2 < ip + len1)
                {
                    len1 = (int)(start2 - ip);
                }

                op = WriteSequence(op, opEnd, anchor, ip, len1, ref1);
                if (op == null)
                {
                    return null;
                }

                anchor = ip + len1;
                op = WriteSequence(op, opEnd, anchor, start2, len2, ref2);
                if (op == null)
                {
                    return null;
                }

                ip = start2 + len2;
                anchor = ip;
                continue;
            }

            if (start3 < ip + len1 + 3)
            {
                // M3 starts so close to M1's end that M2 has no room of its own.
                if (start3 >= ip + len1)
                {
                    // M3 does not overlap M1: emit M1; M3 becomes M1, the rest of M2 the fallback match.
                    if (start2 < ip + len1)
                    {
                        int cut = (int)(ip + len1 - start2);
                        start2 += cut;
                        ref2 += cut;
                        len2 -= cut;
                        if (len2 < MinMatch)
                        {
                            start2 = start3;
                            ref2 = ref3;
                            len2 = len3;
                        }
                    }

                    op = WriteSequence(op, opEnd, anchor, ip, len1, ref1);
                    if (op == null)
                    {
                        return null;
                    }

                    anchor = ip + len1;
                    ip = start3;
                    ref1 = ref3;
                    len1 = len3;
                    start0 = start2;
                    ref0 = ref2;
                    len0 = len2;
                    goto SearchSecond;
                }

                // M3 overlaps M1: drop M2 and compare M3 against M1 as the new second match.
                start2 = start3;
                ref2 = ref3;
                len2 = len3;
                goto SearchThird;
            }

            // Three matches in ascending order: M1 can be emitted (cut or trimmed against M2).
            if (start2 < ip + len1)
            {
                if (start2 - ip < OverlapKeep)
                {
                    len1 = Math.Min(len1, OverlapKeep);
                    if (ip + len1 > start2 + len2 - MinMatch)
                    {
                        len1 = (int)(start2 - ip) + len2 - MinMatch;
                    }

                    int shift = len1 - (int)(start2 - ip);
                    if (shift > 0)
                    {
                        start2 += shift;
                        ref2 += shift;
                        len2 -= shift;
                    }
                }
                else
                {
                    len1 = (int)(start2 - ip);
                }
            }

            op = WriteSequence(op, opEnd, anchor, ip, len1, ref1);
            if (op == null)
            {
                return null;
            }

            anchor = ip + len1;
            ip = start2;
            ref1 = ref2;
            len1 = len2;
            start2 = start3;
            ref2 = ref3;
            len2 = len3;
            goto SearchThird;
        }

        // Last literals.
        nuint literals = (nuint)(end - anchor);
        nuint size = 1 + literals + (literals >= 15 ? (literals - 15) / 255 + 1 : 0);
        if (size > (nuint)(opEnd - op))
        {
            return null;
        }

        if (literals >= 15)
        {
            *op++ = 15 << 4;
            op = WriteLengthExtension(op, literals - 15);
        }
        else
        {
            *op++ = (byte)(literals << 4);
        }

        Unsafe.CopyBlockUnaligned(op, anchor, (uint)literals);
        return op + literals;
    }
}
