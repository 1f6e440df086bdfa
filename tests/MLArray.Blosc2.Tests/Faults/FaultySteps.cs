using MLArray.Blosc2;

namespace MLArray.Tests.Faults;

/// <summary>
/// <see cref="AtomicFileSteps"/> that can fail like a full disk after a number of written bytes, fail the flush or
/// fail the rename, and that records what it did (bytes written through the stream, temporary files created).
/// Shared by the Blosc2 and CLI test projects (linked source).
/// </summary>
internal sealed class FaultySteps : AtomicFileSteps
{
    /// <summary>Writes beyond this many bytes (in total, through every write of the stream) fail.</summary>
    public long FailAfterBytes { get; init; } = long.MaxValue;

    /// <summary>Make seeks fail as a buffered file stream's do when writing out its buffer on a full disk.</summary>
    public bool FailSeek { get; init; }

    /// <summary>Make the flush to disk fail.</summary>
    public bool FailFlush { get; init; }

    /// <summary>Make the rename over the target fail.</summary>
    public bool FailRename { get; init; }

    /// <summary>Bytes written through the stream so far.</summary>
    public long BytesWritten { get; private set; }

    /// <summary>The temporary files created.</summary>
    public List<string> Temps { get; } = [];

    /// <summary>Refuse to create the temporary file as a folder without write permission does (.NET's exception and message).</summary>
    public bool DenyCreate { get; init; }

    public override FileStream CreateTemp(string tempPath)
    {
        if (DenyCreate)
            throw new UnauthorizedAccessException($"Access to the path '{tempPath}' is denied.", new IOException("Permission denied"));
        Temps.Add(tempPath);
        return base.CreateTemp(tempPath);
    }

    public override Stream Wrap(FileStream temp) => new BudgetStream(temp, this);

    public override void Flush(FileStream temp)
    {
        if (FailFlush)
            throw new IOException("Input/output error (injected flush failure)");
        base.Flush(temp);
    }

    public override void Replace(string tempPath, string targetPath)
    {
        if (FailRename)
            throw new UnauthorizedAccessException($"Access to the path '{targetPath}' is denied (injected rename failure).");
        base.Replace(tempPath, targetPath);
    }

    /// <summary>Passes everything through, counting writes; writes past the budget store the bytes that fit, then throw.</summary>
    private sealed class BudgetStream(FileStream inner, FaultySteps owner) : Stream
    {
        public override bool CanRead => inner.CanRead;
        public override bool CanSeek => inner.CanSeek;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => Seek(value, SeekOrigin.Begin); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => inner.Read(buffer);

        public override long Seek(long offset, SeekOrigin origin) =>
            owner.FailSeek ? throw new IOException($"No space left on device : '{inner.Name}'", 28) : inner.Seek(offset, origin);
        public override void SetLength(long value) => inner.SetLength(value);
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void WriteByte(byte value) => Write([value]);

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            long room = owner.FailAfterBytes - owner.BytesWritten;
            if (buffer.Length > room)
            {
                inner.Write(buffer[..(int)Math.Max(0, room)]);
                owner.BytesWritten += Math.Max(0, room);
                // .NET's own message for ENOSPC, which names the file written: here the temporary file
                throw new IOException($"No space left on device : '{inner.Name}'", 28);
            }
            inner.Write(buffer);
            owner.BytesWritten += buffer.Length;
        }
    }
}

/// <summary>Runs a real write under every kind of injected failure and checks the atomic-replace guarantee.</summary>
internal static class FaultHarness
{
    /// <summary>
    /// <paramref name="write"/> replaces <paramref name="target"/> (which exists) through the given steps and throws on
    /// failure. First a clean run measures the bytes written and checks (with <paramref name="validateNew"/>) that the
    /// new file is valid and differs from the old one; then, for many failure points N spread over the whole output
    /// (every N for small outputs), a write failing after N bytes, a failing flush and a failing rename must each
    /// throw an <see cref="IOException"/> whose message satisfies <paramref name="checkMessage"/>, leave the target
    /// byte-identical and leave no temporary file. Returns the number of failure points tried.
    /// </summary>
    public static int Run(string target, Action<AtomicFileSteps> write, Action<string> validateNew, Action<string> checkMessage,
        int maxPoints = 160, int seed = 1)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(target))!;
        byte[] original = File.ReadAllBytes(target);
        var probe = new FaultySteps();
        write(probe);
        long total = probe.BytesWritten;
        Assert.True(total > 0, "the write produced no bytes");
        Assert.NotEqual(original, File.ReadAllBytes(target));
        validateNew(target);
        AssertNoTemps(dir, probe);

        var points = new SortedSet<long> { 0, 1, total - 1 };
        if (total <= maxPoints)
        {
            for (long n = 0; n < total; n++) points.Add(n);
        }
        else
        {
            var rng = new Random(seed);
            for (int i = 0; i < maxPoints / 2; i++) points.Add(total * i / (maxPoints / 2));
            while (points.Count < maxPoints) points.Add(rng.NextInt64(total));
        }
        foreach (long n in points)
            FailOnce(target, original, dir, new FaultySteps { FailAfterBytes = n }, write, checkMessage, "No space left on device");
        FailOnce(target, original, dir, new FaultySteps { FailFlush = true }, write, checkMessage, "flushing the new content to disk failed");
        FailOnce(target, original, dir, new FaultySteps { FailRename = true }, write, checkMessage, "could not replace");
        return points.Count + 2;
    }

    private static void FailOnce(string target, byte[] original, string dir, FaultySteps steps, Action<AtomicFileSteps> write,
        Action<string> checkMessage, string expected)
    {
        File.WriteAllBytes(target, original);
        var e = Assert.ThrowsAny<IOException>(() => write(steps));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(".tmp'", e.Message, StringComparison.Ordinal); // the user's output is named, not the temporary file
        checkMessage(e.Message);
        Assert.Equal(original, File.ReadAllBytes(target));
        AssertNoTemps(dir, steps);
    }

    public static void AssertNoTemps(string dir, FaultySteps steps)
    {
        Assert.NotEmpty(steps.Temps);
        foreach (var t in steps.Temps)
            Assert.False(File.Exists(t), $"temporary file {t} was left behind");
        Assert.Empty(Directory.GetFiles(dir, ".*.tmp"));
    }
}
