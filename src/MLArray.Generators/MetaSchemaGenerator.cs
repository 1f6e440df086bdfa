using System;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace MLArray.Generators;

/// <summary>
/// Turns every <c>*.schema.json</c> AdditionalFile into C# metadata records, open-vocabulary value types,
/// validators and JSON / <c>MetaValue</c> serializers. Pipeline: schema text -> <see cref="SchemaParser"/> (equatable
/// model + diagnostics as data) -> <see cref="Emitter"/>; diagnostics are reported from a separate output.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class MetaSchemaGenerator : IIncrementalGenerator
{
    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var files = context.AdditionalTextsProvider
            .Where(static f => f.Path.EndsWith(".schema.json", StringComparison.OrdinalIgnoreCase))
            .WithTrackingName(TrackingNames.SchemaFiles);

        var texts = files
            .Select(static (f, ct) => new SchemaFile(f.Path, f.GetText(ct)?.ToString() ?? ""))
            .WithTrackingName(TrackingNames.SchemaTexts);

        var parsed = texts
            .Select(static (f, ct) => SchemaParser.Parse(f, ct))
            .WithTrackingName(TrackingNames.ParseResults);

        var models = parsed
            .Select(static (r, _) => r.Model)
            .Where(static m => m is not null)
            .WithTrackingName(TrackingNames.Models);

        var diagnostics = parsed
            .Select(static (r, _) => r.Diagnostics)
            .WithTrackingName(TrackingNames.Diagnostics);

        context.RegisterSourceOutput(models, static (spc, model) =>
        {
            foreach (var file in Emitter.Emit(model!))
                spc.AddSource(file.Key, SourceText.From(file.Value, System.Text.Encoding.UTF8));
        });

        context.RegisterSourceOutput(diagnostics, static (spc, list) =>
        {
            foreach (var d in list)
                spc.ReportDiagnostic(d.ToDiagnostic());
        });
    }
}
