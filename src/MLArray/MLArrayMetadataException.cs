namespace MLArray;

/// <summary>
/// Metadata that cannot be accepted: a payload that is hostile or not decodable (refused pickle opcode or global,
/// limits exceeded, malformed JSON, a mapping that cannot be migrated). Metadata that decodes but violates the schema
/// raises <see cref="MLArrayValidationException"/> instead.
/// </summary>
public class MLArrayMetadataException : MLArrayException
{
    /// <summary>Creates the exception with a message.</summary>
    public MLArrayMetadataException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public MLArrayMetadataException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with no message (prefer the constructors with a message).</summary>
    public MLArrayMetadataException() { }
}
