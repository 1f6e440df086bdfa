namespace MLArray.Generators;

// The cacheable model: sealed records of strings, numbers and EquatableArrays only (no ISymbol, no JSON nodes).

internal enum NodeKind
{
    Any,
    Bool,
    Int,
    Number,
    String,
    Vocab,
    Array,
    Dict,
    Record,
}

/// <summary>A keyword-to-text pair (x-messages, x-severity).</summary>
internal sealed record KeyText(string Key, string Text);

/// <summary>One value schema: its C# shape and every rule the validator checks on it.</summary>
internal sealed record NodeSpec(
    NodeKind Kind,
    bool Nullable,
    int TypeMask,
    string? TypeRef,
    NodeSpec? Items,
    int? MinItems,
    int? MaxItems,
    string? Minimum,
    string? ExclusiveMinimum,
    string? Maximum,
    string? Length,
    EquatableArray<string> Shape,
    bool Ordered,
    EquatableArray<KeyText> Messages,
    EquatableArray<KeyText> Severities,
    string? EqualsDimension = null);

/// <summary>A property of a record.</summary>
internal sealed record PropertySpec(
    string JsonName,
    string CSharpName,
    string Description,
    NodeSpec Node,
    string? SingleKey,
    bool CanonicalBare,
    string? DefaultExpr,
    EquatableArray<string> ExclusiveWith,
    string? SameLengthAs);

/// <summary>A record (a JSON object with declared properties).</summary>
internal sealed record RecordSpec(
    string TypeName,
    string PythonClass,
    string Description,
    bool IsRoot,
    bool Strict,
    int TypeMask,
    EquatableArray<KeyText> Messages,
    EquatableArray<string> Required,
    EquatableArray<PropertySpec> Properties,
    string Accessibility = "public");

/// <summary>A known value of an open vocabulary.</summary>
internal sealed record VocabMember(string Name, string Value);

/// <summary>An open vocabulary (any string allowed, standard values known).</summary>
internal sealed record VocabSpec(string TypeName, string Description, EquatableArray<VocabMember> Members, string Accessibility = "public");

/// <summary>One way of deriving a dimension from the document: length | count | value | dimension.</summary>
internal sealed record DimensionSource(string Kind, string Argument, EquatableArray<string> Values);

/// <summary>A named dimension (x-dimensions) used by x-length and x-shape.</summary>
internal sealed record DimensionSpec(string Name, string Description, EquatableArray<DimensionSource> Sources);

/// <summary>Everything the emitter needs for one schema file.</summary>
internal sealed record SchemaSpec(
    string FileName,
    string Namespace,
    string RootType,
    string Label,
    string SchemaId,
    string SchemaVersion,
    EquatableArray<RecordSpec> Records,
    EquatableArray<VocabSpec> Vocabularies,
    EquatableArray<DimensionSpec> Dimensions);

/// <summary>A schema file's path and text (the first pipeline value).</summary>
internal sealed record SchemaFile(string Path, string Text);

/// <summary>The parser's result: the model (null when there were errors) and the diagnostics as data.</summary>
internal sealed record ParseResult(SchemaSpec? Model, EquatableArray<DiagnosticInfo> Diagnostics);
