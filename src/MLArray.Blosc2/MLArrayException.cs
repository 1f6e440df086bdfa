namespace MLArray;

/// <summary>
/// Base type of every error raised by the MLArray libraries (the Blosc2 engine, the metadata codec and the API).
/// Catch this type to handle "the file or the request is not usable" in one place.
/// </summary>
public class MLArrayException : IOException
{
    /// <summary>Creates the exception with a message.</summary>
    public MLArrayException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public MLArrayException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with no message (prefer the constructors with a message).</summary>
    public MLArrayException() { }
}

/// <summary>
/// The data is corrupt, truncated or inconsistent: the file (or buffer) does not follow the format.
/// The message names the file, the offset or chunk, and what is wrong.
/// </summary>
public class MLArrayFormatException : MLArrayException
{
    /// <summary>Creates the exception with a message.</summary>
    public MLArrayFormatException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public MLArrayFormatException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with no message (prefer the constructors with a message).</summary>
    public MLArrayFormatException() { }
}

/// <summary>
/// The data is well formed but uses a feature this implementation does not support
/// (a plugin codec or filter, a dtype such as complex or strings, a newer format version).
/// </summary>
public class MLArrayNotSupportedException : MLArrayException
{
    /// <summary>Creates the exception with a message.</summary>
    public MLArrayNotSupportedException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public MLArrayNotSupportedException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with no message (prefer the constructors with a message).</summary>
    public MLArrayNotSupportedException() { }
}
