using MLArray.Metadata;

namespace MLArray;

/// <summary>
/// Metadata that decodes but violates the MLArray schema (a wrong type, a list of the wrong length, an unknown key,
/// <c>spatial.shape</c> that is not the array's shape...): the request or the file's metadata is invalid, not the
/// file unreadable. <see cref="Issues"/> holds every problem (JSON-pointer path, rule code, message).
/// Not an <see cref="IOException"/>: catch it apart from corrupt data (<see cref="MLArrayFormatException"/>) and
/// refused payloads (<see cref="MLArrayMetadataException"/>). The <c>mlarray</c> command exits with 1 for it.
/// </summary>
public class MLArrayValidationException : Exception
{
    /// <summary>Creates the exception from a validation report; the message lists its errors (message, path, rule).</summary>
    /// <param name="issues">The report (at least one error).</param>
    public MLArrayValidationException(ValidationReport issues) : this(issues, null) { }

    /// <summary>Creates the exception from a validation report, with a lead-in for the message (e.g. the file name).</summary>
    /// <param name="issues">The report (at least one error).</param>
    /// <param name="context">Prefix of the message, e.g. <c>"x.mla: "</c>; null for none.</param>
    public MLArrayValidationException(ValidationReport issues, string? context)
        : base(Describe(issues, context)) => Issues = issues;

    /// <summary>Creates the exception with a message and no issue list (prefer the constructors with a report).</summary>
    /// <param name="message">The message.</param>
    public MLArrayValidationException(string message) : base(message) => Issues = new ValidationReport([]);

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public MLArrayValidationException(string message, Exception? innerException) : base(message, innerException) => Issues = new ValidationReport([]);

    /// <summary>Creates the exception with no message (prefer the constructors with a report).</summary>
    public MLArrayValidationException() => Issues = new ValidationReport([]);

    /// <summary>Every problem found (errors and warnings, in document order).</summary>
    public ValidationReport Issues { get; }

    private static string Describe(ValidationReport issues, string? context)
    {
        ArgumentNullException.ThrowIfNull(issues);
        // The first error first, in the reference's words, so that a message reads like Python's ValueError/TypeError.
        return context + string.Join("; ", issues.Errors.Select(e => $"{e.Message} (at {(e.Path.Length == 0 ? "/" : e.Path)}, rule {e.Code})"));
    }
}
