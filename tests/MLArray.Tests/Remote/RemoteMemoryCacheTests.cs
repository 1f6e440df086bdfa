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
        Assert.Equal(image.Capacity, cache.Bytes); // the memory held: the whole pooled buffer, not the slice
        Assert.True(image.Capacity >= 4096);

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
        cache.Add("object", 500, image, 500, 100); // a second slice of the same buffer: the buffer counts once
        Assert.Equal(image.Capacity, cache.Bytes);
        cache.Clear();
        Assert.Equal(0, cache.Bytes);
        Assert.True(image.TryAddRef()); // the renter's reference is still there
        Assert.Equal(3, image.Array[999]);
        image.Release();
        image.Release();
        Assert.False(image.TryAddRef());
        Assert.Throws<InvalidOperationException>(image.Release); // released more often than held
    }

    /// <summary>
    /// The bound is on memory held: slices that stay hot cannot keep many large images alive beyond it (each pooled
    /// buffer counts whole while any slice of it is kept), and evicting every slice of an image frees its whole buffer.
    /// </summary>
    [Fact]
    public void Hot_slices_of_many_images_stay_within_the_bound()
    {
        const int Bound = 4 << 20, ImageSize = 1 << 20;
        var cache = new RemoteMemoryCache(Bound);
        var images = new List<SharedBuffer>();
        for (int i = 0; i < 40; i++)
        {
            var image = SharedBuffer.Rent(ImageSize);
            images.Add(image);
            for (int b = 0; b < 4; b++)
                cache.Add("object", ((long)i << 24) + (b << 16), image, b << 16, 1 << 16);
            image.Release(); // the read is over
            for (int j = 0; j <= i; j++) // block 0 of every image so far is read again (kept hot while it is cached)
                cache.TryCopy("object", (long)j << 24, new byte[16]);
            Assert.True(cache.TryCopy("object", ((long)i << 24) + (3 << 16), new byte[1 << 16])); // the newest image's blocks are there
            Assert.True(cache.Bytes <= Bound, $"{cache.Bytes} bytes held after image {i}, bound {Bound}");
        }
        int alive = images.Count(b => b.TryAddRef());
        Assert.InRange(alive, 1, Bound / ImageSize); // the buffers still referenced fit the bound (counting slices alone kept all 40)
        cache.Clear();
        Assert.Equal(0, cache.Bytes);
    }
}
