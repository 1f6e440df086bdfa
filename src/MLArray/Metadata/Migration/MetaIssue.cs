namespace MLArray.Metadata.Migration;

/// <summary>One problem found in a metadata mapping.</summary>
/// <param name="Path">JSON Pointer (RFC 6901) of the offending value in the current layout, e.g. <c>/spatial/spacing</c>.</param>
/// <param name="Code">A stable short code, e.g. <c>unknown-key</c>, <c>type</c>, <c>length</c>.</param>
/// <param name="Message">What is wrong, in the words of the Python reference where it has some.</param>
public sealed record MetaIssue(string Path, string Code, string Message)
{
    /// <summary>Escapes one JSON Pointer reference token (<c>~</c> → <c>~0</c>, <c>/</c> → <c>~1</c>).</summary>
    public static string Escape(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return token.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
    }

    /// <inheritdoc/>
    public override string ToString() => $"{(Path.Length == 0 ? "/" : Path)}  {Code}  {Message}";
}
