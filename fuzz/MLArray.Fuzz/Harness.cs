namespace MLArray.Fuzz;

/// <summary>
/// Runs one target on one input and decides whether the outcome is acceptable. Acceptable: the target returns, or
/// throws one of the library's typed exceptions (<see cref="MLArrayException"/> and its subclasses
/// <c>MLArrayFormatException</c>, <c>MLArrayNotSupportedException</c>, <c>MLArrayMetadataException</c>),
/// <see cref="MLArrayValidationException"/> or an <see cref="OperationCanceledException"/>. Anything else escapes and afl-fuzz records a crash. Hangs are afl-fuzz's
/// job (<c>-t 1000</c>: more than 1 s per input).
/// </summary>
internal static class Harness
{
    /// <summary>
    /// Bound on the managed bytes one input may make the parsers allocate (measured on the calling thread; the targets
    /// run single-threaded). The targets run the parsers with lowered limits (see <see cref="Targets"/>), so no valid
    /// input gets near it; exceeding it means a header value reached an allocation unchecked. A single allocation
    /// larger than the process's GC heap hard limit (set by run.sh) fails earlier with an OutOfMemoryException,
    /// which is a crash too.
    /// </summary>
    public const long AllocationBound = 256L << 20;

    /// <summary>"ok", or the typed exception of the last input (for replays).</summary>
    public static string LastOutcome { get; private set; } = "";

    public static void Execute(Action<byte[]> target, byte[] input)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            target(input);
            LastOutcome = "ok";
        }
        catch (MLArrayException e)
        {
            LastOutcome = $"{e.GetType().Name}: {e.Message}";
        }
        catch (OperationCanceledException e)
        {
            LastOutcome = $"{e.GetType().Name}: {e.Message}";
        }
        catch (MLArrayValidationException e)
        {
            // schema-invalid metadata (docs/errors.md): a verdict on the input, not a crash
            LastOutcome = $"{e.GetType().Name}: {e.Message}";
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if (allocated > AllocationBound)
        {
            throw new AllocationBoundExceededException(
                $"one input of {input.Length} bytes made the parser allocate {allocated} bytes, above the fuzzing bound of {AllocationBound} bytes (outcome: {LastOutcome})");
        }
    }
}

/// <summary>An input made a parser allocate more than <see cref="Harness.AllocationBound"/>.</summary>
internal sealed class AllocationBoundExceededException(string message) : Exception(message);

/// <summary>A target's own invariant failed (for example, the detached NRRD data path left the header's folder).</summary>
internal sealed class FuzzInvariantException(string message) : Exception(message);
