using System.Runtime.ExceptionServices;
using MLArray.Kernels;

namespace MLArray.Conversion;

/// <summary>Reads the next <paramref name="destination"/>.Length bytes of decoded voxels.</summary>
internal delegate void ReadSlab(Span<byte> destination);

/// <summary>The streaming NIfTI/NRRD → <c>.mla</c> import: peak memory one decoded copy of the volume plus chunk buffers.</summary>
internal static class StreamingImport
{
    /// <summary>
    /// Decodes the voxels on a producer thread into the stored array's buffer (scaling slab by slab) while
    /// <see cref="MLArrayFile.WriteNew"/> compresses every chunk whose bytes have arrived. The buffer is native memory
    /// (<see cref="VolumeBuffer"/>), freed only after the producer has stopped, on every path.
    /// </summary>
    internal static void Run(ReadSlab read, long inBytes, ImportPlan plan, string output, MedicalToMLArrayOptions options, CancellationToken ct)
    {
        MLArrayCreateOptions opts = ImportPlanner.Configure(plan.Opts, options, plan.OutType, plan.Shape);
        int inItem = plan.InType.ItemSize, outItem = plan.OutType.ItemSize;
        long outBytes = checked(inBytes / inItem * outItem);
        if (outBytes > Array.MaxLength)
            throw new MLArrayNotSupportedException($"{output}: the volume has {outBytes} bytes; one conversion handles at most {Array.MaxLength} bytes (one buffer); convert a smaller volume, or crop it first.");
        using var dest = new VolumeBuffer((int)outBytes);
        var gate = new object();
        long ready = 0;
        Exception? failed = null;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        CancellationToken token = stop.Token;
        Task producer = Task.Factory.StartNew(() =>
        {
            try
            {
                // Slabs of whole elements, about 1 MiB of decoded input.
                int slab = Math.Max(inItem, (1 << 20) / inItem * inItem);
                byte[]? scratch = plan.Scale is null ? null : new byte[(int)Math.Min(slab, Math.Max(inBytes, inItem))];
                long inPos = 0, outPos = 0;
                while (inPos < inBytes)
                {
                    token.ThrowIfCancellationRequested();
                    int n = (int)Math.Min(slab, inBytes - inPos);
                    int m = n / inItem * outItem;
                    if (plan.Scale is not (double slope, double inter))
                    {
                        read(dest.Span.Slice((int)outPos, n));
                    }
                    else
                    {
                        read(scratch.AsSpan(0, n));
                        ElementConvert.Scale(scratch.AsSpan(0, n), plan.InType, slope, inter, dest.Span.Slice((int)outPos, m), plan.OutType);
                    }

                    inPos += n;
                    outPos += m;
                    lock (gate)
                    {
                        ready = outPos;
                        Monitor.PulseAll(gate);
                    }
                }
            }
            catch (Exception e)
            {
                lock (gate)
                {
                    failed = e;
                    Monitor.PulseAll(gate);
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        void WaitFor(long need)
        {
            lock (gate)
            {
                while (ready < need)
                {
                    if (failed is not null) throw new OperationCanceledException("the reader stopped.", failed);
                    token.ThrowIfCancellationRequested();
                    Monitor.Wait(gate, 50);
                }
            }
        }

        try
        {
            MLArrayFile.WriteNew(output, dest.Span, plan.Shape, plan.OutType, opts, WaitFor, token);
            producer.Wait(CancellationToken.None);
            if (failed is not null) throw new OperationCanceledException("the reader stopped.", failed);
        }
        catch (Exception)
        {
            stop.Cancel();
            producer.Wait(CancellationToken.None);
            if (failed is not null and not OperationCanceledException)
                ExceptionDispatchInfo.Throw(failed);
            ct.ThrowIfCancellationRequested();
            throw;
        }
    }
}
