namespace MLArray.Metadata;

/// <summary>How serious a <see cref="ValidationIssue"/> is.</summary>
public enum ValidationSeverity
{
    /// <summary>Suspicious but accepted (the reference implementation accepts it too).</summary>
    Warning,
    /// <summary>Rejected: the reference implementation raises for it, or the schema forbids it.</summary>
    Error,
}

/// <summary>One finding of a metadata validator.</summary>
/// <param name="Severity">Warning or error.</param>
/// <param name="Path">JSON pointer (RFC 6901) to the offending value, e.g. <c>/spatial/spacing/1</c>; empty for the root.</param>
/// <param name="Code">The rule that failed: a JSON Schema keyword (<c>type</c>, <c>additionalProperties</c>, <c>minItems</c>…) or an <c>x-</c> keyword of the schema (<c>x-length</c>, <c>x-shape</c>…).</param>
/// <param name="Message">A sentence; where the reference implementation has an error text, that text.</param>
public sealed record ValidationIssue(ValidationSeverity Severity, string Path, string Code, string Message)
{
    /// <inheritdoc/>
    public override string ToString() => $"{(Severity == ValidationSeverity.Error ? "error" : "warning")} {(Path.Length == 0 ? "/" : Path)} [{Code}]: {Message}";
}

/// <summary>The result of validating a metadata document or record: every issue found, in document order.</summary>
public sealed class ValidationReport : IReadOnlyList<ValidationIssue>
{
    private readonly ValidationIssue[] _issues;

    /// <summary>Creates a report.</summary>
    public ValidationReport(IEnumerable<ValidationIssue> issues)
    {
        ArgumentNullException.ThrowIfNull(issues);
        _issues = issues.ToArray();
    }

    /// <summary>True when there is no error (warnings allowed).</summary>
    public bool IsValid => !_issues.Any(i => i.Severity == ValidationSeverity.Error);

    /// <summary>The errors.</summary>
    public IEnumerable<ValidationIssue> Errors => _issues.Where(i => i.Severity == ValidationSeverity.Error);

    /// <summary>The warnings.</summary>
    public IEnumerable<ValidationIssue> Warnings => _issues.Where(i => i.Severity == ValidationSeverity.Warning);

    /// <inheritdoc/>
    public int Count => _issues.Length;

    /// <inheritdoc/>
    public ValidationIssue this[int index] => _issues[index];

    /// <summary>
    /// Throws <see cref="MLArrayValidationException"/> (carrying this report; the message lists the errors, first one
    /// first) when there is an error.
    /// </summary>
    /// <exception cref="MLArrayValidationException">The report has an error.</exception>
    public void ThrowIfInvalid()
    {
        if (!IsValid)
            throw new MLArrayValidationException(this);
    }

    /// <inheritdoc/>
    public IEnumerator<ValidationIssue> GetEnumerator() => ((IEnumerable<ValidationIssue>)_issues).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => _issues.GetEnumerator();

    /// <summary>One issue per line.</summary>
    public override string ToString() => _issues.Length == 0 ? "valid" : string.Join(Environment.NewLine, _issues.Select(i => i.ToString()));
}

/// <summary>
/// What a validator knows from outside the document: named dimensions (for the MLArray schema <c>ndim</c> and
/// <c>spatial_ndim</c>, see the schema's <c>x-dimensions</c>). A dimension given here wins over the one derived
/// from the document.
/// </summary>
public sealed record MetaValidationContext
{
    /// <summary>No outside knowledge: dimensions come from the document or stay unknown.</summary>
    public static MetaValidationContext Empty { get; } = new();

    /// <summary>Named dimensions.</summary>
    public IReadOnlyDictionary<string, int> Dimensions { get; init; } = new Dictionary<string, int>(StringComparer.Ordinal);

    /// <summary>A copy with one more dimension.</summary>
    public MetaValidationContext WithDimension(string name, int value) =>
        this with { Dimensions = new Dictionary<string, int>(Dimensions, StringComparer.Ordinal) { [name] = value } };

    /// <inheritdoc/>
    public bool Equals(MetaValidationContext? other) =>
        other is not null && Dimensions.Count == other.Dimensions.Count &&
        Dimensions.All(kv => other.Dimensions.TryGetValue(kv.Key, out var v) && v == kv.Value);

    /// <inheritdoc/>
    public override int GetHashCode() => Dimensions.Count;
}
