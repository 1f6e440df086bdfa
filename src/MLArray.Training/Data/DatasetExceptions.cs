namespace MLArray.Training.Data;

/// <summary>
/// A case of a dataset cannot be used: image and segmentation disagree (shape, geometry), the segmentation is not
/// integer, or a file is missing or corrupt. The message names the case and its files; <see cref="CaseId"/> the case.
/// </summary>
public class DatasetCaseException : MLArrayException
{
    /// <summary>Creates the exception for case <paramref name="caseId"/>.</summary>
    public DatasetCaseException(string caseId, string message, Exception? innerException = null) : base(message, innerException) => CaseId = caseId;

    /// <summary>Creates the exception with a message.</summary>
    public DatasetCaseException(string message) : base(message) => CaseId = "";

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public DatasetCaseException(string message, Exception? innerException) : base(message, innerException) => CaseId = "";

    /// <summary>Creates the exception with no message (prefer the constructors with a message).</summary>
    public DatasetCaseException() => CaseId = "";

    /// <summary>The case's id (its image file name as given in the dataset).</summary>
    public string CaseId { get; }
}

/// <summary>
/// The class locations stored in a segmentation's <c>meta.extra["class_locations"]</c> do not follow the schema
/// (schema/…/class-locations.schema.json) or do not fit the segmentation; rebuild them with <c>mlarray index --force</c>.
/// </summary>
public class ClassLocationsException : MLArrayFormatException
{
    /// <summary>Creates the exception with a message.</summary>
    public ClassLocationsException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public ClassLocationsException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with no message (prefer the constructors with a message).</summary>
    public ClassLocationsException() { }
}
