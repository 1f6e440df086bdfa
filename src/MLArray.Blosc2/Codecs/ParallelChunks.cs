using System.Runtime.ExceptionServices;

namespace MLArray.Blosc2.Codecs;

/// <summary>
/// Runs work items on up to <c>workers</c> threads, each worker with its own <see cref="CodecContext"/> from a pool,
/// and reports a failure the way the serial path does (the first exception itself, not an <see cref="AggregateException"/>).
/// </summary>
internal static class ParallelChunks
{
    public static void For(int count, int workers, CodecContextPool contexts, Action<int, CodecContext> body)
    {
        if (count <= 0)
            return;
        if (workers <= 1 || count == 1)
        {
            var ctx = contexts.Rent();
            try
            {
                for (int i = 0; i < count; i++)
                    body(i, ctx);
            }
            finally { contexts.Return(ctx); }
            return;
        }
        try
        {
            Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = workers }, contexts.Rent,
                (i, _, ctx) =>
                {
                    body(i, ctx);
                    return ctx;
                },
                contexts.Return);
        }
        catch (AggregateException e)
        {
            var first = e.InnerExceptions.FirstOrDefault(x => x is MLArrayException) ?? e.InnerExceptions[0];
            ExceptionDispatchInfo.Throw(first);
        }
    }
}
