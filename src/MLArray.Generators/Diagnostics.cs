using System;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace MLArray.Generators;

/// <summary>The generator's diagnostics (documented in docs/diagnostics.md; keep both in sync).</summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "MLArray.Generators";

    public static readonly DiagnosticDescriptor MalformedJson = new("MLAG0001", "Schema file is not valid JSON",
        "Schema file is not valid JSON: {0}", Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InvalidSchema = new("MLAG0002", "Schema cannot be turned into C#",
        "Invalid schema at {0}: {1}", Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor UnknownExtensionKeyword = new("MLAG0003", "Unknown x- keyword",
        "Unknown keyword '{0}' at {1}: the generator does not understand it, so the rule it states would not be enforced", Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor NameClash = new("MLAG0004", "Generated names clash",
        "Name clash at {0}: '{1}' is generated twice or collides with a generated member", Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor UnresolvedReference = new("MLAG0005", "Unresolvable $ref",
        "Cannot resolve $ref '{0}' at {1} (only local '#/$defs/<name>' references are supported)", Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor UnsupportedKeyword = new("MLAG0006", "Unsupported JSON Schema keyword",
        "Keyword '{0}' at {1} is not supported by the generator and is ignored by the generated validators", Category, DiagnosticSeverity.Warning, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InvalidRule = new("MLAG0007", "Invalid x- rule",
        "Invalid '{0}' at {1}: {2}", Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor MissingVersion = new("MLAG0008", "Schema $id carries no version",
        "The schema's $id '{0}' carries no version (expected a MAJOR.MINOR.PATCH segment)", Category, DiagnosticSeverity.Warning, isEnabledByDefault: true);

    public static DiagnosticDescriptor ById(string id) => id switch
    {
        "MLAG0001" => MalformedJson,
        "MLAG0002" => InvalidSchema,
        "MLAG0003" => UnknownExtensionKeyword,
        "MLAG0004" => NameClash,
        "MLAG0005" => UnresolvedReference,
        "MLAG0006" => UnsupportedKeyword,
        "MLAG0007" => InvalidRule,
        "MLAG0008" => MissingVersion,
        _ => throw new ArgumentOutOfRangeException(nameof(id), id, "unknown diagnostic id"),
    };
}

/// <summary>A diagnostic as plain equatable data (no <see cref="Location"/> object, so the model stays cacheable).</summary>
internal sealed record DiagnosticInfo(string Id, EquatableArray<string> Arguments, string FilePath, int Start, int Length,
    int StartLine, int StartColumn, int EndLine, int EndColumn)
{
    public Diagnostic ToDiagnostic()
    {
        var location = Location.Create(FilePath, new TextSpan(Start, Length),
            new LinePositionSpan(new LinePosition(StartLine, StartColumn), new LinePosition(EndLine, EndColumn)));
        var args = new object[Arguments.Count];
        for (int i = 0; i < args.Length; i++) args[i] = Arguments[i];
        return Diagnostic.Create(DiagnosticDescriptors.ById(Id), location, args);
    }
}
