namespace MLArray.Blosc2.Tests.Faults;

/// <summary>
/// <see cref="B2ndArray.Dispose"/> while other threads are reading the same instance (docs/concurrency.md): every read
/// either completes with exact values or throws <see cref="ObjectDisposedException"/>, and the mapping is released
/// once the last read in flight returns. Before the fix, <c>Dispose</c> unmapped a <c>Read</c>/<c>CopyOnWrite</c>
/// file while a reader was decoding chunks straight from the mapping: an access violation that ends the process
/// (the test host dies within a few rounds).
/// </summary>
[Collection(nameof(ConcurrencySoakTests))] // alone: many threads
public sealed class DisposeRaceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-dispose-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly long[] Shape = [32, 64, 64];

    [Theory]
    [InlineData(B2ndOpenMode.Read)]
    [InlineData(B2ndOpenMode.CopyOnWrite)]
    [InlineData(B2ndOpenMode.ReadWrite)]
    public void Dispose_while_eight_threads_read_gives_exact_data_or_ObjectDisposedException_and_releases_the_file(B2ndOpenMode mode)
    {
        string path = Path.Combine(_dir, $"a-{mode}.b2nd");
        var values = new float[32 * 64 * 64];
        for (int i = 0; i < values.Length; i++) values[i] = i % 1009;
        B2ndWriter.Write(path, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), Shape, DType.Float32,
            new B2ndWriteOptions { ChunkShape = [8, 32, 32], BlockShape = [4, 8, 16] });
        int completed = 0, disposed = 0;
        var wrong = new System.Collections.Concurrent.ConcurrentQueue<string>();
        for (int round = 0; round < 60; round++)
        {
            var a = B2ndArray.Open(path, mode);
            using var start = new Barrier(9);
            var readers = Enumerable.Range(0, 8).Select(t => new Thread(() =>
            {
                var rng = new Random(round * 8 + t);
                start.SignalAndWait();
                for (int i = 0; i < 40; i++)
                {
                    try
                    {
                        if (i % 8 == 0)
                        {
                            if (!a.ToArray<float>(threads: 1).AsSpan().SequenceEqual(values)) wrong.Enqueue($"round {round}: whole read differs");
                        }
                        else
                        {
                            long z = rng.NextInt64(32), y = rng.NextInt64(48);
                            var got = a.Read<float>(NdIndex.At(z), NdIndex.Slice(y, y + 16), NdIndex.Slice(null, null));
                            if (!got.AsSpan().SequenceEqual(values.AsSpan((int)((z * 64 + y) * 64), 16 * 64))) wrong.Enqueue($"round {round}: patch differs");
                        }
                        Interlocked.Increment(ref completed);
                    }
                    catch (ObjectDisposedException)
                    {
                        Interlocked.Increment(ref disposed);
                        return;
                    }
                    catch (Exception e)
                    {
                        wrong.Enqueue($"round {round}: {e.GetType().Name}: {e.Message}");
                        return;
                    }
                }
            })).ToArray();
            foreach (var r in readers) r.Start();
            start.SignalAndWait();
            Thread.Sleep(round % 4);
            a.Dispose();
            foreach (var r in readers) r.Join();
            Assert.Throws<ObjectDisposedException>(() => a.Read<float>(NdIndex.At(0)));
            if (OperatingSystem.IsLinux())
                Assert.DoesNotContain(Path.GetFileName(path), File.ReadAllText("/proc/self/maps")); // unmapped after the last read
        }
        Assert.Empty(wrong);
        Assert.True(disposed > 0, $"no read met the Dispose ({completed} completed); the race was not exercised");
        Assert.True(completed > 0, "no read completed before the Dispose");
    }
}
