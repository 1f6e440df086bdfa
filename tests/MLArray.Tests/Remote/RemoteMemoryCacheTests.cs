using MLArray.Remote;

namespace MLArray.Tests.Remote;

/// <summary>
/// The memory pool's entries that are slices of pooled packed images (blocks received straight into the image a read
/// decodes): copied out only while held, never handed out as arrays, and their buffer given back exactly once, when
/// neither the pool nor the read holds it.
/// </summary>
public sealed class RemoteMemoryCacheTests
{
    [Fact]
    public void A_pooled_entry_is_copied_out_while_held_and_its_buffer_goes_back_once_evicted_and_released()
    {
        var cache = new RemoteMemoryCache(1 << 20);
        var image = SharedBuffer.Rent(4096);
        image.Array.AsSpan(0, 4096).Fill(7);
        image.Array[100] = 9;
        cache.Add("object", 1000, image, 100, 50);
        Assert.Equal(50, cache.Bytes);

        var copy = new byte[50];
        Assert.True(cache.TryCopy("object", 1000, copy));
        Assert.Equal(9, copy[0]);
        Assert.All(copy[1..], b => Assert.Equal(7, b));
        Assert.False(cache.TryCopy("object", 1000, new byte[51])); // longer than the entry
        Assert.False(cache.TryGet("object", 1000, 50, out _)); // a pooled slice is never handed out as an array

        image.Release(); // the read is over: the pool's reference keeps the bytes
        Array.Clear(copy);
        Assert.True(cache.TryCopy("object", 1000, copy));
        Assert.Equal(9, copy[0]);

        // An entry filling the bound evicts the pooled one: its last reference goes, the buffer is back in the array pool.
        cache.Add("object", 1 << 20, new byte[1 << 20]);
        Assert.False(cache.TryCopy("object", 1000, copy));
        Assert.False(image.TryAddRef());
        Assert.Throws<ObjectDisposedException>(() => image.Array);
        Assert.Equal(1 << 20, cache.Bytes);
    }

    [Fact]
    public void A_read_holding_its_image_keeps_it_after_eviction_and_a_longer_entry_replaces_a_shorter_one()
    {
        var cache = new RemoteMemoryCache(1 << 20);
        var image = SharedBuffer.Rent(1000);
        image.Array.AsSpan(0, 1000).Fill(3);
        cache.Add("object", 0, image, 0, 10);
        cache.Add("object", 0, image, 0, 20); // longer: replaces (one reference dropped, one taken)
        cache.Add("object", 0, image, 0, 5);  // shorter: ignored
        Assert.Equal(20, cache.Bytes);
        cache.Clear();
        Assert.Equal(0, cache.Bytes);
        Assert.True(image.TryAddRef()); // the renter's reference is still there
        Assert.Equal(3, image.Array[999]);
        image.Release();
        image.Release();
        Assert.False(image.TryAddRef());
        Assert.Throws<InvalidOperationException>(image.Release); // released more often than held
    }
}
