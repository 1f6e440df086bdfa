using MLArray.Blosc2.Tests.Slicing;
using Xunit.Abstractions;

namespace MLArray.Blosc2.Tests.Faults;

/// <summary>
/// Soak tests of the concurrency contract (docs/concurrency.md), driven by iteration counts, never by time: 8 threads
/// of random patch reads on one open array against a serial decode, readers on separate handles while one writer
/// writes, and a bound on retained memory across rounds.
/// </summary>
[Collection(nameof(ConcurrencySoakTests))] // alone: the retained-memory check reads the whole process's heap
public sealed class ConcurrencySoakTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-soak-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly long[] Shape = [48, 64, 64];

    private string NewArray(string name)
    {
        string path = Path.Combine(_dir, name);
        var data = new byte[48 * 64 * 64 * 4];
        var f = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(data.AsSpan());
        var rng = new Random(5);
        for (int i = 0; i < f.Length; i++) f[i] = (i % 64) + (i / 4096) * 0.5f + (rng.Next(4) == 0 ? rng.NextSingle() : 0);
        B2ndWriter.Write(path, data, Shape, DType.Float32, new B2ndWriteOptions { ChunkShape = [16, 32, 32], BlockShape = [8, 16, 16] });
        return path;
    }

    /// <summary>A random patch of up to 20 elements per axis (boxes, some with steps or a dropped axis).</summary>
    private static NdIndex[] Patch(Random rng)
    {
        var sel = new NdIndex[3];
        for (int d = 0; d < 3; d++)
        {
            long n = Shape[d];
            int kind = rng.Next(10);
            if (kind == 0) { sel[d] = NdIndex.At(rng.NextInt64(n)); continue; }
            long start = rng.NextInt64(n), len = 1 + rng.NextInt64(Math.Min(20, n - start));
            sel[d] = NdIndex.Slice(start, start + len, kind == 1 ? 2 : 1);
        }
        return sel;
    }

    private static int RunRound(B2ndArray a, byte[] serial, int round, int patchesPerThread)
    {
        int mismatches = 0;
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, 8).Select(t => new Thread(() =>
        {
            try
            {
                var rng = new Random(round * 100 + t);
                for (int i = 0; i < patchesPerThread; i++)
                {
                    var sel = Patch(rng);
                    var expected = NaiveSlice.Read(serial, Shape, 4, sel);
                    var got = new byte[expected.Length];
                    a.Read(sel, got, threads: 1);
                    if (!got.AsSpan().SequenceEqual(expected)) Interlocked.Increment(ref mismatches);
                }
            }
            catch (Exception e)
            {
                errors.Enqueue(e);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Empty(errors);
        return mismatches;
    }

    [Theory]
    [InlineData(B2ndOpenMode.Read)]
    [InlineData(B2ndOpenMode.ReadWrite)]
    public void Eight_threads_of_random_patch_reads_match_a_serial_decode_and_memory_stays_flat(B2ndOpenMode mode)
    {
        string path = NewArray("soak.b2nd");
        using var a = B2ndArray.Open(path, mode);
        byte[] serial = a.ReadBytes(threads: 1);
        const int Rounds = 10, PerThread = 60;
        long memRound2 = 0, memRound10 = 0;
        int reads = 0;
        for (int round = 1; round <= Rounds; round++)
        {
            Assert.Equal(0, RunRound(a, serial, round, PerThread));
            reads += 8 * PerThread;
            long mem = GC.GetTotalMemory(forceFullCollection: true);
            if (round == 2) memRound2 = mem;
            if (round == Rounds) memRound10 = mem;
        }
        log.WriteLine($"{mode}: {reads} patch reads on 8 threads, exact; retained memory after round 2 {memRound2 / 1024} KiB, after round {Rounds} {memRound10 / 1024} KiB");
        // Pools (codec contexts, scratch buffers) are filled by round 2; later rounds must not retain more.
        Assert.True(memRound10 < memRound2 + (8L << 20), $"retained memory grew from {memRound2} to {memRound10} bytes");
    }

    [Fact]
    public void One_writer_and_readers_on_separate_handles_see_whole_states_and_the_writer_instance_sees_old_or_new_chunks()
    {
        string path = NewArray("rw.b2nd");
        using var writer = B2ndArray.Open(path, B2ndOpenMode.ReadWrite);
        byte[] initial = writer.ReadBytes(threads: 1);
        // states[j] = the array after j writes; published before write j+1 starts
        var states = new List<byte[]> { initial };
        int completed = 0;
        using var early = B2ndArray.Open(path); // opened before any write: keeps reading the old frame
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        int earlyReads = 0, lateHandles = 0, sameInstanceReads = 0;
        const int Writes = 60;
        var writerThread = new Thread(() =>
        {
            var rng = new Random(11);
            var model = (byte[])initial.Clone();
            for (int j = 1; j <= Writes; j++)
            {
                var sel = NaiveSlice.RandomSelection(rng, Shape);
                long count = NaiveSlice.Normalize(Shape, sel).Aggregate(1L, (acc, x) => acc * x.Count);
                var values = new byte[count * 4];
                var fv = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(values.AsSpan());
                fv.Fill(1000 + j);
                NaiveSlice.Write(model, Shape, 4, sel, values);
                lock (states) states.Add((byte[])model.Clone());
                writer.Write(sel, values, threads: 2);
                Volatile.Write(ref completed, j);
            }
        });
        var readers = Enumerable.Range(0, 6).Select(t => new Thread(() =>
        {
            var rng = new Random(t);
            try
            {
                while (Volatile.Read(ref completed) < Writes)
                {
                    switch (t % 3)
                    {
                        case 0:
                        {
                            // a handle opened before the writes: always exactly the initial data
                            var sel = Patch(rng);
                            var expected = NaiveSlice.Read(initial, Shape, 4, sel);
                            var got = new byte[expected.Length];
                            early.Read(sel, got);
                            if (!got.AsSpan().SequenceEqual(expected)) errors.Enqueue("early handle saw new data");
                            Interlocked.Increment(ref earlyReads);
                            break;
                        }
                        case 1:
                        {
                            // a handle opened now: exactly the state after some write completed around the open
                            int lo = Volatile.Read(ref completed);
                            using var late = B2ndArray.Open(path);
                            byte[] all = late.ReadBytes(threads: 1);
                            int hi = Volatile.Read(ref completed) + 1;
                            bool any = false;
                            lock (states)
                                for (int j = lo; j <= Math.Min(hi, states.Count - 1) && !any; j++)
                                    any = states[j].AsSpan().SequenceEqual(all);
                            if (!any) errors.Enqueue($"a handle opened between writes {lo} and {hi} saw no whole state");
                            Interlocked.Increment(ref lateHandles);
                            break;
                        }
                        default:
                        {
                            // the writer's own instance: each chunk old or new (compare one whole chunk against the states)
                            long c0 = rng.Next(3), c1 = rng.Next(2), c2 = rng.Next(2);
                            NdIndex[] sel = [NdIndex.Slice(c0 * 16, c0 * 16 + 16), NdIndex.Slice(c1 * 32, c1 * 32 + 32), NdIndex.Slice(c2 * 32, c2 * 32 + 32)];
                            int lo = Volatile.Read(ref completed);
                            var got = new byte[16 * 32 * 32 * 4];
                            writer.Read(sel, got);
                            int hi = Volatile.Read(ref completed) + 1;
                            bool any = false;
                            lock (states)
                                for (int j = lo; j <= Math.Min(hi, states.Count - 1) && !any; j++)
                                    any = NaiveSlice.Read(states[j], Shape, 4, sel).AsSpan().SequenceEqual(got);
                            if (!any) errors.Enqueue($"the writer instance returned a chunk that is neither state {lo} nor any up to {hi}");
                            Interlocked.Increment(ref sameInstanceReads);
                            break;
                        }
                    }
                }
            }
            catch (Exception e)
            {
                errors.Enqueue(e.ToString());
            }
        })).ToList();
        writerThread.Start();
        readers.ForEach(r => r.Start());
        writerThread.Join();
        readers.ForEach(r => r.Join());
        log.WriteLine($"{Writes} writes; concurrent reads: {earlyReads} on a handle opened before, {lateHandles} handles opened during, {sameInstanceReads} chunk reads on the writer instance");
        Assert.Empty(errors);
        Assert.Equal(states[^1], writer.ReadBytes());
        using var final = B2ndArray.Open(path);
        Assert.Equal(states[^1], final.ReadBytes());
        Assert.Equal(initial, early.ReadBytes());
    }
}

/// <summary>Runs <see cref="ConcurrencySoakTests"/> with no other test class in parallel.</summary>
[CollectionDefinition(nameof(ConcurrencySoakTests), DisableParallelization = true)]
public sealed class ConcurrencySoakCollection;
