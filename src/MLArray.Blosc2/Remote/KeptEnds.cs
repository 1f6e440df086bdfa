namespace MLArray.Remote;

/// <summary>
/// The object's first and last bytes that a range source keeps from its opening requests (header and tail): reads
/// inside them need no request. Shared by <see cref="HttpRangeSource"/> and the object-store sources (linked as source
/// into the storage packages, so each assembly holds its own internal copy).
/// </summary>
internal static class KeptEnds
{
    /// <summary>
    /// Checks that [<paramref name="offset"/>, offset + destination length) lies inside the object of
    /// <paramref name="length"/> bytes, copies what <paramref name="prefix"/> (the object's first bytes) and
    /// <paramref name="suffix"/> (its bytes from <paramref name="suffixStart"/>) hold of it into
    /// <paramref name="destination"/>, and returns the part still to fetch: empty when the kept bytes covered the whole
    /// read, else a leading part of <paramref name="destination"/> (it starts at <paramref name="offset"/>).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The read reaches outside the object.</exception>
    public static Memory<byte> Serve(string displayName, long length, byte[] prefix, byte[] suffix, long suffixStart, long offset, Memory<byte> destination)
    {
        int n = destination.Length;
        if (offset < 0 || offset > length - n)
            throw new ArgumentOutOfRangeException(nameof(offset), $"'{displayName}': {n} bytes at offset {offset} are outside the object ({length} bytes).");
        if (n == 0)
            return Memory<byte>.Empty;
        if (offset + n <= prefix.Length)
        {
            prefix.AsMemory((int)offset, n).CopyTo(destination);
            return Memory<byte>.Empty;
        }
        if (suffix.Length > 0 && offset + n > suffixStart)
        {
            // The part inside the kept suffix is copied; only the bytes before it are fetched.
            long from = Math.Max(offset, suffixStart);
            suffix.AsMemory((int)(from - suffixStart), (int)(offset + n - from)).CopyTo(destination[(int)(from - offset)..]);
            return destination[..(int)(from - offset)];
        }
        return destination;
    }
}
