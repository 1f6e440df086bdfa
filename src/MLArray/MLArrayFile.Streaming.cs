using MLArray.Blosc2;
using MLArray.Metadata.Migration;

namespace MLArray;

public sealed partial class MLArrayFile
{
    /// <summary>
    /// Writes a new <c>.mla</c> file straight from C-order bytes (no in-memory frame), atomically, while
    /// <paramref name="data"/> may still be being filled front to back by another thread: see
    /// <see cref="B2ndWriter.Write(Stream, ReadOnlySpan{byte}, long[], DType, B2ndWriteOptions?, Action{long}?, CancellationToken)"/>.
    /// Same metadata and layout as <see cref="FromBytes"/> followed by <see cref="Save(string)"/>.
    /// </summary>
    internal static void WriteNew(string path, ReadOnlySpan<byte> data, long[] shape, DType dtype, MLArrayCreateOptions? options,
        Action<long>? waitForBytes, CancellationToken cancellationToken)
    {
        OpenModes.CheckSuffix(path);
        ArgumentNullException.ThrowIfNull(shape);
        long n = ElementCount(shape);
        if (checked(n * dtype.ItemSize) != data.Length)
            throw new ArgumentException($"the data has {data.Length / Math.Max(1, dtype.ItemSize)} elements but shape ({string.Join(", ", shape)}) needs {n}.", nameof(data));
        var (meta, write) = Prepare(shape, dtype, options);
        using var tx = AtomicFile.Begin(path);
        B2ndWriter.Write(tx.Stream, data, shape, dtype, write with { VlMeta = [new(MLArrayMetadata.VlMetaName, Encode(meta))] }, waitForBytes, cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        tx.Commit();
    }
}
