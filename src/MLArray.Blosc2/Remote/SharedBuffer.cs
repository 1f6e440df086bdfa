using System.Buffers;

namespace MLArray.Remote;

/// <summary>
/// A buffer rented from the shared array pool and returned to it when its last holder lets go: the packed chunk image
/// a read decodes, into which the fetched blocks are received, and whose block slices the memory pool keeps. Reusing
/// these buffers keeps fetched bytes out of fresh memory (no page faults, no garbage collections of megabytes per
/// patch).
/// </summary>
/// <remarks>
/// The renter holds the first reference. Everyone else must <see cref="TryAddRef"/> before touching the bytes and
/// <see cref="Release"/> exactly once afterwards; once the count has reached 0 the buffer is back in the pool (possibly
/// another reader's) and can never be referenced again through this holder (holders are not reused).
/// </remarks>
internal sealed class SharedBuffer
{
    private byte[]? _array;
    private int _refs = 1;

    private SharedBuffer(byte[] array) => _array = array;

    /// <summary>
    /// How many entries of the one memory pool this buffer's reads add to hold slices of it (changed only under that
    /// pool's eviction lock): the pool counts the whole buffer against its bound while this is above 0.
    /// </summary>
    internal int CacheEntries;

    /// <summary>The size the buffer occupies (the rented array's length, fixed for the holder's life).</summary>
    public int Capacity { get; private set; }

    /// <summary>A buffer of at least <paramref name="size"/> bytes (contents undefined), held once by the caller.</summary>
    public static SharedBuffer Rent(int size)
    {
        var array = ArrayPool<byte>.Shared.Rent(Math.Max(size, 1));
        return new SharedBuffer(array) { Capacity = array.Length };
    }

    /// <summary>The bytes; only valid while the caller holds a reference.</summary>
    public byte[] Array => _array ?? throw new ObjectDisposedException(nameof(SharedBuffer), "a pooled buffer was used after its last reference was released (an internal error of the remote read path).");

    /// <summary>Takes one more reference unless the buffer was already given back (then false).</summary>
    public bool TryAddRef()
    {
        int n = Volatile.Read(ref _refs);
        while (n > 0)
        {
            int seen = Interlocked.CompareExchange(ref _refs, n + 1, n);
            if (seen == n)
                return true;
            n = seen;
        }
        return false;
    }

    /// <summary>Drops one reference; the last one returns the array to the pool.</summary>
    public void Release()
    {
        int n = Interlocked.Decrement(ref _refs);
        if (n == 0)
        {
            var array = Interlocked.Exchange(ref _array, null);
            if (array is not null)
                ArrayPool<byte>.Shared.Return(array);
        }
        else if (n < 0)
        {
            throw new InvalidOperationException("a pooled buffer was released more often than it was held (an internal error of the remote read path).");
        }
    }
}
