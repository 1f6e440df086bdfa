namespace MLArray.Generators;

/// <summary>Names of the tracked pipeline steps (the incrementality tests read these constants by reflection).</summary>
internal static class TrackingNames
{
    /// <summary>AdditionalFiles whose name ends in <c>.schema.json</c>.</summary>
    public const string SchemaFiles = nameof(SchemaFiles);

    /// <summary>Path and text of each schema file.</summary>
    public const string SchemaTexts = nameof(SchemaTexts);

    /// <summary>Parse result: model plus diagnostics.</summary>
    public const string ParseResults = nameof(ParseResults);

    /// <summary>The equatable models that reach the emitter.</summary>
    public const string Models = nameof(Models);

    /// <summary>The diagnostics (as data) that reach the reporting output.</summary>
    public const string Diagnostics = nameof(Diagnostics);
}
