using System.Buffers.Binary;
using MLArray.Blosc2;

namespace MLArray.Tests.Remote;

/// <summary>
/// The compressed bytes of the blocks a box selection touches, computed from the local file's bytes (chunk offsets
/// from the frame index, block extents from each chunk's block-start table, spec §5.2): the yardstick for the bytes a
/// remote read transfers. Special-offset chunks count 0; header-only special chunks count their stored size.
/// </summary>
public sealed class TouchedBlocks(string file)
{
    private readonly byte[] _bytes = File.ReadAllBytes(file);

    /// <summary>Compressed bytes of the blocks (of the chunks) that <paramref name="box"/> (unit-step slices) touches, and their count.</summary>
    public (long Bytes, int Blocks) Of(B2ndArray local, NdIndex[] box)
    {
        var (extents, blocks) = Walk(local, box);
        return (extents.Sum(e => e.Length), blocks);
    }

    /// <summary>The byte extents (offset in the file, length) of the stored blocks <paramref name="box"/> touches (a special chunk's stored bytes as one).</summary>
    public IReadOnlyList<(long Offset, long Length)> Extents(B2ndArray local, NdIndex[] box) => Walk(local, box).Extents;

    private (List<(long Offset, long Length)> Extents, int Blocks) Walk(B2ndArray local, NdIndex[] box)
    {
        var layout = local.Layout;
        int nd = layout.NDim;
        long[] lo = new long[nd], hi = new long[nd], chunksPerDim = new long[nd];
        for (int d = 0; d < nd; d++)
        {
            lo[d] = box[d].Start!.Value;
            hi[d] = box[d].Stop!.Value;
            chunksPerDim[d] = (layout.Shape[d] + layout.ChunkShape[d] - 1) / layout.ChunkShape[d];
        }
        var extents = new List<(long Offset, long Length)>();
        int blocks = 0;
        var blockCoords = new int[nd];
        for (long c = 0; c < local.NChunks; c++)
        {
            long rest = c;
            var chunkOrigin = new long[nd];
            for (int d = nd - 1; d >= 0; d--)
            {
                chunkOrigin[d] = rest % chunksPerDim[d] * layout.ChunkShape[d];
                rest /= chunksPerDim[d];
            }
            var touched = new List<int>();
            for (int b = 0; b < layout.BlocksPerChunk; b++)
            {
                layout.BlockCoords(b, blockCoords);
                bool hit = true;
                for (int d = 0; d < nd && hit; d++)
                {
                    long s = chunkOrigin[d] + (long)blockCoords[d] * layout.BlockShape[d];
                    long e = Math.Min(s + layout.BlockShape[d], Math.Min(chunkOrigin[d] + layout.ChunkShape[d], layout.Shape[d]));
                    hit = s < hi[d] && lo[d] < e;
                }
                if (hit)
                    touched.Add(b);
            }
            if (touched.Count == 0)
                continue;
            blocks += touched.Count;
            long offset = local.Frame.GetOffset(c);
            if (offset < 0)
                continue;
            int pos = checked((int)(local.Frame.HeaderLength + offset));
            int cbytes = BinaryPrimitives.ReadInt32LittleEndian(_bytes.AsSpan(pos + 12));
            bool memcpyed = (_bytes[pos + 2] & 0x02) != 0, special = ((_bytes[pos + 31] >> 4) & 7) != 0;
            if (special)
            {
                extents.Add((pos, cbytes));
                continue;
            }
            if (memcpyed)
            {
                foreach (int b in touched)
                    extents.Add((pos + 32 + (long)b * layout.BlockNBytes, layout.BlockNBytes));
                continue;
            }
            var starts = Enumerable.Range(0, layout.BlocksPerChunk)
                .Select(b => BinaryPrimitives.ReadInt32LittleEndian(_bytes.AsSpan(pos + 32 + 4 * b))).ToArray();
            var sorted = starts.Distinct().Order().ToArray();
            foreach (int b in touched)
            {
                int i = Array.BinarySearch(sorted, starts[b]);
                extents.Add((pos + starts[b], (i + 1 < sorted.Length ? sorted[i + 1] : cbytes) - starts[b]));
            }
        }
        return (extents, blocks);
    }
}
