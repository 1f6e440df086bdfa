using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;

namespace MLArray.Generators;

/// <summary>JSON Schema text -> <see cref="SchemaSpec"/> plus diagnostics. The only code that sees JSON nodes.</summary>
internal sealed class SchemaParser
{
    internal static readonly string[] KnownExtensionKeywords =
    {
        "x-csharp-namespace", "x-csharp-type", "x-csharp-name", "x-python-class", "x-label", "x-dimensions",
        "x-messages", "x-severity", "x-single-key", "x-canonical-form", "x-vocabulary", "x-length", "x-shape",
        "x-exclusive-with", "x-same-length-as", "x-ordered", "x-equals", "x-csharp-accessibility",
    };

    private static readonly HashSet<string> SupportedKeywords = new(StringComparer.Ordinal)
    {
        "$schema", "$id", "$defs", "$ref", "$comment", "title", "description", "type", "properties", "additionalProperties",
        "required", "items", "minItems", "maxItems", "minimum", "exclusiveMinimum", "maximum", "default", "examples",
    };

    /// <summary>Keywords whose failures a validator reports (valid keys of x-messages and x-severity).</summary>
    private static readonly HashSet<string> MessageKeywords = new(StringComparer.Ordinal)
    {
        "type", "required", "additionalProperties", "minItems", "maxItems", "minimum", "exclusiveMinimum", "maximum",
        "x-length", "x-shape", "x-exclusive-with", "x-same-length-as", "x-ordered", "x-equals",
    };

    private static readonly HashSet<string> ReservedMembers = new(StringComparer.Ordinal)
    {
        "EqualityContract", "Equals", "GetHashCode", "ToString", "Deconstruct", "PrintMembers", "FromMetaValue", "ToMetaValue",
        "FromJson", "ToJson", "WriteTo", "ReadFrom", "ReadJson", "Validate", "ValidateTree", "ValidateJson", "ValidateNode",
        "ValidateMembers", "ConvertFrom", "SchemaVersion", "SchemaId", "JsonPropertyNames", "Clone",
    };

    private static readonly Regex Identifier = new("^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant);
    private static readonly Regex Version = new(@"(\d+\.\d+\.\d+)", RegexOptions.CultureInvariant);
    private static readonly Regex DimensionExpr = new(@"^([A-Za-z_][A-Za-z0-9_]*)\s*(?:([+-])\s*(\d+))?$", RegexOptions.CultureInvariant);

    private readonly SchemaFile _file;
    private readonly List<DiagnosticInfo> _diagnostics = new();
    private readonly Dictionary<string, string> _recordNamesByDef = new(StringComparer.Ordinal);
    private readonly List<RecordSpec> _records = new();
    private readonly Dictionary<string, string> _vocabNamesByDef = new(StringComparer.Ordinal);
    private readonly List<VocabSpec> _vocabs = new();
    private readonly HashSet<string> _dimensionNames = new(StringComparer.Ordinal);
    private JObject _root = new();
    private JObject? _defs;
    private int[] _lineStarts = Array.Empty<int>();
    private string _namespace = "";
    private string _defaultAccessibility = "public";
    private readonly Dictionary<string, string> _accessibilityByType = new(StringComparer.Ordinal);

    private SchemaParser(SchemaFile file) => _file = file;

    public static ParseResult Parse(SchemaFile file, System.Threading.CancellationToken cancellationToken = default)
    {
        var parser = new SchemaParser(file);
        SchemaSpec? model = null;
        var saved = System.Threading.Thread.CurrentThread.CurrentCulture;
        try
        {
            System.Threading.Thread.CurrentThread.CurrentCulture = CultureInfo.InvariantCulture;
            model = parser.Run(cancellationToken);
        }
        finally
        {
            System.Threading.Thread.CurrentThread.CurrentCulture = saved;
        }
        bool hasError = parser._diagnostics.Any(d => DiagnosticDescriptors.ById(d.Id).DefaultSeverity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error);
        return new ParseResult(hasError ? null : model, parser._diagnostics.ToEquatableArray());
    }

    private SchemaSpec? Run(System.Threading.CancellationToken cancellationToken)
    {
        ComputeLineStarts();
        JNode doc;
        try
        {
            doc = MiniJsonParser.Parse(_file.Text);
        }
        catch (JsonSyntaxException e)
        {
            Report(DiagnosticDescriptors.MalformedJson.Id, e.Offset, 1, e.Message + $" (line {LineOf(e.Offset) + 1}, column {e.Offset - _lineStarts[LineOf(e.Offset)] + 1})");
            return null;
        }
        if (doc is not JObject root)
        {
            Report(DiagnosticDescriptors.InvalidSchema.Id, doc, "#", "the schema must be a JSON object");
            return null;
        }
        _root = root;
        _defs = root["$defs"] as JObject;
        CheckExtensionKeywords(root, "#");
        cancellationToken.ThrowIfCancellationRequested();

        _namespace = StringOf(root, "x-csharp-namespace") ?? "";
        if (_namespace.Length == 0 || !_namespace.Split('.').All(p => Identifier.IsMatch(p)))
            Report(DiagnosticDescriptors.InvalidSchema.Id, root, "#", "'x-csharp-namespace' (a C# namespace) is required at the root");
        string rootType = StringOf(root, "x-csharp-type") ?? "";
        if (!Identifier.IsMatch(rootType))
        {
            Report(DiagnosticDescriptors.InvalidSchema.Id, root, "#", "'x-csharp-type' (the C# name of the root record) is required at the root");
            rootType = "Root";
        }
        string id = StringOf(root, "$id") ?? "";
        var version = Version.Match(id);
        if (!version.Success)
            Report(DiagnosticDescriptors.MissingVersion.Id, root["$id"] ?? root, id);

        _defaultAccessibility = AccessibilityOf(root, "#", "public");
        ParseDimensions(root);
        string label = StringOf(root, "x-label") ?? "meta";
        ParseRecord(root, rootType, "#", isRoot: true);
        CheckTypeNameClashes();
        return new SchemaSpec(System.IO.Path.GetFileName(_file.Path), _namespace, rootType, label, id,
            version.Success ? version.Groups[1].Value : "0.0.0", _records.ToEquatableArray(), _vocabs.ToEquatableArray(),
            ParsedDimensions.ToEquatableArray());
    }

    // ------------------------------------------------------------------ diagnostics

    private void ComputeLineStarts()
    {
        var starts = new List<int> { 0 };
        for (int i = 0; i < _file.Text.Length; i++)
            if (_file.Text[i] == '\n') starts.Add(i + 1);
        _lineStarts = starts.ToArray();
    }

    private int LineOf(int offset)
    {
        int idx = Array.BinarySearch(_lineStarts, offset);
        return idx >= 0 ? idx : ~idx - 1;
    }

    private void Report(string id, int start, int length, params string[] args)
    {
        start = Math.Max(0, Math.Min(start, _file.Text.Length));
        int end = Math.Max(start, Math.Min(start + length, _file.Text.Length));
        int sl = LineOf(start), el = LineOf(end);
        _diagnostics.Add(new DiagnosticInfo(id, args.ToEquatableArray(), _file.Path, start, end - start,
            sl, start - _lineStarts[sl], el, end - _lineStarts[el]));
    }

    private void Report(string id, JNode node, params string[] args) => Report(id, node.Start, Math.Min(node.End - node.Start, 200), args);

    private void ReportAtKey(string id, JObject owner, string key, params string[] args) => Report(id, owner.KeyStart(key), key.Length + 2, args);

    // ------------------------------------------------------------------ keyword checks

    private void CheckExtensionKeywords(JObject schema, string pointer)
    {
        foreach (var kv in schema.Properties)
        {
            if (kv.Key.StartsWith("x-", StringComparison.Ordinal) && Array.IndexOf(KnownExtensionKeywords, kv.Key) < 0)
                ReportAtKey(DiagnosticDescriptors.UnknownExtensionKeyword.Id, schema, kv.Key, kv.Key, pointer);
        }
        foreach (var kv in schema.Properties)
        {
            string p = pointer + "/" + Escape(kv.Key);
            switch (kv.Key)
            {
                case "properties":
                case "$defs":
                    if (kv.Value is JObject map)
                        foreach (var child in map.Properties)
                            if (child.Value is JObject co) CheckExtensionKeywords(co, p + "/" + Escape(child.Key));
                    break;
                case "items":
                case "not":
                case "additionalProperties":
                    if (kv.Value is JObject io) CheckExtensionKeywords(io, p);
                    break;
                case "anyOf":
                case "allOf":
                case "oneOf":
                    if (kv.Value is JArray arr)
                        for (int i = 0; i < arr.Items.Count; i++)
                            if (arr.Items[i] is JObject ao) CheckExtensionKeywords(ao, p + "/" + i.ToString(CultureInfo.InvariantCulture));
                    break;
            }
        }
    }

    private void CheckSupportedKeywords(JObject schema, string pointer, params string[] alsoAllowed)
    {
        foreach (var kv in schema.Properties)
        {
            if (kv.Key.StartsWith("x-", StringComparison.Ordinal) || SupportedKeywords.Contains(kv.Key) || Array.IndexOf(alsoAllowed, kv.Key) >= 0)
                continue;
            ReportAtKey(DiagnosticDescriptors.UnsupportedKeyword.Id, schema, kv.Key, kv.Key, pointer);
        }
    }

    private static string Escape(string key) => key.Replace("~", "~0").Replace("/", "~1");

    private static string? StringOf(JObject o, string key) => (o[key] as JString)?.Value;

    // ------------------------------------------------------------------ dimensions

    private readonly List<DimensionSpec> ParsedDimensions = new();

    private void ParseDimensions(JObject root)
    {
        var node = root["x-dimensions"];
        if (node is null) return;
        if (node is not JArray arr)
        {
            Report(DiagnosticDescriptors.InvalidRule.Id, node, "x-dimensions", "#", "expected an array of {name, sources}");
            return;
        }
        for (int i = 0; i < arr.Items.Count; i++)
        {
            string p = "#/x-dimensions/" + i.ToString(CultureInfo.InvariantCulture);
            if (arr.Items[i] is not JObject d || StringOf(d, "name") is not { } name || !Identifier.IsMatch(name) || d["sources"] is not JArray sources)
            {
                Report(DiagnosticDescriptors.InvalidRule.Id, arr.Items[i], "x-dimensions", p, "each dimension needs a 'name' (identifier) and 'sources' (array)");
                continue;
            }
            var list = new List<DimensionSource>();
            foreach (var s in sources.Items)
            {
                if (s is JObject so && StringOf(so, "length") is { } len && IsPointer(len))
                    list.Add(new DimensionSource("length", len, EquatableArray<string>.Empty));
                else if (s is JObject sc && StringOf(sc, "count") is { } cnt && IsPointer(cnt) && sc["in"] is JArray values && values.Items.All(v => v is JString))
                    list.Add(new DimensionSource("count", cnt, values.Items.Select(v => ((JString)v).Value).ToEquatableArray()));
                else if (s is JObject sn && StringOf(sn, "count") is { } cntNot && IsPointer(cntNot) && sn["not-in"] is JArray notValues && notValues.Items.All(v => v is JString))
                    list.Add(new DimensionSource("count-not", cntNot, notValues.Items.Select(v => ((JString)v).Value).ToEquatableArray()));
                else if (s is JObject sv && StringOf(sv, "value") is { } val && IsPointer(val))
                    list.Add(new DimensionSource("value", val, EquatableArray<string>.Empty));
                else if (s is JObject sd && StringOf(sd, "dimension") is { } dim && _dimensionNames.Contains(dim))
                    list.Add(new DimensionSource("dimension", dim, EquatableArray<string>.Empty));
                else
                    Report(DiagnosticDescriptors.InvalidRule.Id, s, "x-dimensions", p,
                        "a source is {\"length\": pointer}, {\"count\": pointer, \"in\" or \"not-in\": [strings]}, {\"value\": pointer} or {\"dimension\": earlier dimension}");
            }
            if (!_dimensionNames.Add(name))
                Report(DiagnosticDescriptors.NameClash.Id, d, p, name);
            ParsedDimensions.Add(new DimensionSpec(name, StringOf(d, "description") ?? "", list.ToEquatableArray()));
        }
    }

    private static bool IsPointer(string s) => s.Length == 0 || s[0] == '/';

    // ------------------------------------------------------------------ $ref

    /// <summary>Follows $ref chains; local sibling keywords override the target's.</summary>
    private JObject Resolve(JObject schema, string pointer, out string? defName)
    {
        defName = null;
        var current = schema;
        for (int depth = 0; depth < 16; depth++)
        {
            if (current["$ref"] is not JNode refNode) return current;
            string target = (refNode as JString)?.Value ?? "";
            const string prefix = "#/$defs/";
            JObject? def = null;
            if (target.StartsWith(prefix, StringComparison.Ordinal) && _defs is not null)
            {
                defName = target.Substring(prefix.Length).Replace("~1", "/").Replace("~0", "~");
                def = _defs[defName] as JObject;
            }
            if (def is null)
            {
                Report(DiagnosticDescriptors.UnresolvedReference.Id, refNode, target, pointer);
                var stripped = new JObject { Start = current.Start, End = current.End };
                foreach (var kv in current.Properties.Where(p => p.Key != "$ref")) stripped.Properties.Add(kv);
                stripped.KeyStarts.AddRange(Enumerable.Repeat(current.Start, stripped.Properties.Count));
                return stripped;
            }
            var merged = new JObject { Start = def.Start, End = def.End };
            foreach (var kv in def.Properties) { merged.Properties.Add(kv); merged.KeyStarts.Add(def.KeyStart(kv.Key)); }
            for (int i = 0; i < current.Properties.Count; i++)
            {
                var kv = current.Properties[i];
                if (kv.Key == "$ref") continue;
                merged.Properties.Add(kv);
                merged.KeyStarts.Add(current.KeyStarts[i]);
            }
            current = merged;
        }
        Report(DiagnosticDescriptors.InvalidSchema.Id, schema, pointer, "$ref chain is too deep or cyclic");
        return schema;
    }

    // ------------------------------------------------------------------ records

    private string ParseRecord(JObject schema, string typeName, string pointer, bool isRoot)
    {
        CheckSupportedKeywords(schema, pointer);
        int mask = TypeMaskOf(schema, pointer, out _);
        if (mask != 0 && (mask & Mask.Object) == 0)
            Report(DiagnosticDescriptors.InvalidSchema.Id, schema, pointer, "a record's type must include \"object\"");
        if (mask == 0) mask = Mask.Object;
        bool strict = schema["additionalProperties"] is JBool { Value: false };
        if (schema["additionalProperties"] is JObject)
            ReportAtKey(DiagnosticDescriptors.UnsupportedKeyword.Id, schema, "additionalProperties", "additionalProperties (as a schema)", pointer);
        string accessibility = isRoot ? _defaultAccessibility : AccessibilityOf(schema, pointer, _defaultAccessibility);
        _accessibilityByType[typeName] = accessibility;

        var properties = new List<PropertySpec>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var jsonNames = new HashSet<string>(StringComparer.Ordinal);
        if (schema["properties"] is JObject props)
        {
            foreach (var kv in props.Properties) jsonNames.Add(kv.Key);
            foreach (var kv in props.Properties)
            {
                string p = pointer + "/properties/" + Escape(kv.Key);
                if (kv.Value is not JObject propSchema)
                {
                    Report(DiagnosticDescriptors.InvalidSchema.Id, kv.Value, p, "a property schema must be an object");
                    continue;
                }
                var prop = ParseProperty(kv.Key, propSchema, p, jsonNames);
                if (prop is null) continue;
                if (!names.Add(prop.CSharpName) || prop.CSharpName == typeName || ReservedMembers.Contains(prop.CSharpName))
                    ReportAtKey(DiagnosticDescriptors.NameClash.Id, props, kv.Key, p, prop.CSharpName);
                CheckExposedAccessibility(typeName, accessibility, prop, props, kv.Key, p);
                properties.Add(prop);
            }
        }
        else if (schema["properties"] is JNode bad)
        {
            Report(DiagnosticDescriptors.InvalidSchema.Id, bad, pointer, "'properties' must be an object");
        }

        var required = new List<string>();
        if (schema["required"] is JArray req)
            foreach (var r in req.Items)
                if (r is JString rs) required.Add(rs.Value);

        _records.Add(new RecordSpec(typeName, StringOf(schema, "x-python-class") ?? typeName, StringOf(schema, "description") ?? "",
            isRoot, strict, mask, ParseMessages(schema, pointer), required.ToEquatableArray(), properties.ToEquatableArray(), accessibility));
        return typeName;
    }

    private string EnsureRecord(JObject merged, string? defName, string fallbackName, string pointer)
    {
        string key = defName ?? pointer;
        if (_recordNamesByDef.TryGetValue(key, out var existing)) return existing;
        string typeName = StringOf(merged, "x-csharp-type") ?? defName ?? fallbackName;
        if (!Identifier.IsMatch(typeName))
        {
            Report(DiagnosticDescriptors.InvalidSchema.Id, merged, pointer, $"'{typeName}' is not a valid C# type name (set x-csharp-type)");
            typeName = "Invalid" + _recordNamesByDef.Count.ToString(CultureInfo.InvariantCulture);
        }
        _recordNamesByDef[key] = typeName;
        ParseRecord(merged, typeName, defName is null ? pointer : "#/$defs/" + Escape(defName), isRoot: false);
        return typeName;
    }

    private PropertySpec? ParseProperty(string jsonName, JObject propSchema, string pointer, HashSet<string> siblings)
    {
        var merged = Resolve(propSchema, pointer, out var defName);
        string csharpName = StringOf(propSchema, "x-csharp-name") ?? StringOf(merged, "x-csharp-name") ?? ToPascal(jsonName);
        if (!Identifier.IsMatch(csharpName))
        {
            Report(DiagnosticDescriptors.InvalidSchema.Id, propSchema, pointer, $"cannot derive a C# name from '{jsonName}' (set x-csharp-name)");
            return null;
        }
        string description = StringOf(propSchema, "description") ?? StringOf(merged, "description") ?? "";

        var exclusive = EquatableArray<string>.Empty;
        if (merged["x-exclusive-with"] is JNode ex)
        {
            if (ex is JArray exArr && exArr.Items.All(i => i is JString s && siblings.Contains(s.Value) && s.Value != jsonName))
                exclusive = exArr.Items.Select(i => ((JString)i).Value).ToEquatableArray();
            else
                Report(DiagnosticDescriptors.InvalidRule.Id, ex, "x-exclusive-with", pointer, "expected an array naming other properties of the same object");
        }
        string? sameLength = null;
        if (merged["x-same-length-as"] is JNode sl)
        {
            if (sl is JString sls && siblings.Contains(sls.Value) && sls.Value != jsonName) sameLength = sls.Value;
            else Report(DiagnosticDescriptors.InvalidRule.Id, sl, "x-same-length-as", pointer, "expected the name of another property of the same object");
        }

        string? singleKey = StringOf(merged, "x-single-key");
        if (merged["x-single-key"] is JNode skNode && singleKey is null)
            Report(DiagnosticDescriptors.InvalidRule.Id, skNode, "x-single-key", pointer, "expected the wrapped key as a string");
        if (singleKey is not null)
        {
            // Canonical shape: anyOf [ {type: object, properties: {key: VALUE}, required: [key], additionalProperties: false}, <bare VALUE>, ({type: null})? ]
            string defPointer = defName is null ? pointer : "#/$defs/" + Escape(defName);
            CheckSupportedKeywords(merged, defPointer, "anyOf");
            if (merged["anyOf"] is not JArray any || any.Items.Count < 2 || any.Items[0] is not JObject wrapped
                || wrapped["properties"] is not JObject wp || wp[singleKey] is not JObject valueSchema)
            {
                Report(DiagnosticDescriptors.InvalidSchema.Id, merged, defPointer,
                    $"an x-single-key namespace must be \"anyOf\": [{{wrapped form with property '{singleKey}'}}, {{bare form}}, optionally {{\"type\": \"null\"}}]");
                return null;
            }
            string form = StringOf(merged, "x-canonical-form") ?? "wrapped";
            if (form != "wrapped" && form != "bare")
                ReportAtKey(DiagnosticDescriptors.InvalidRule.Id, merged, "x-canonical-form", "x-canonical-form", defPointer, "expected \"wrapped\" or \"bare\"");
            string valuePointer = defPointer + "/anyOf/0/properties/" + Escape(singleKey);
            var valueMerged = Resolve(valueSchema, valuePointer, out var valueDef);
            var node = ParseNode(valueMerged, valueDef, ToPascal(jsonName), valuePointer);
            if (node is null) return null;
            if (description.Length == 0) description = StringOf(valueMerged, "description") ?? "";
            return new PropertySpec(jsonName, csharpName, description, node, singleKey, form == "bare",
                DefaultExpr(valueMerged, node, valuePointer), exclusive, sameLength);
        }
        if (merged["x-canonical-form"] is not null)
            ReportAtKey(DiagnosticDescriptors.InvalidRule.Id, merged, "x-canonical-form", "x-canonical-form", pointer, "only meaningful together with x-single-key");

        var n = ParseNode(merged, defName, ToPascal(jsonName), pointer);
        if (n is null) return null;
        return new PropertySpec(jsonName, csharpName, description, n, null, false, DefaultExpr(merged, n, pointer), exclusive, sameLength);
    }

    // ------------------------------------------------------------------ nodes

    private static class Mask
    {
        public const int Null = 1, Boolean = 2, Integer = 4, Number = 8, String = 16, Array = 32, Object = 64;
    }

    private int TypeMaskOf(JObject schema, string pointer, out bool present)
    {
        present = schema["type"] is not null;
        int mask = 0;
        IEnumerable<JNode> names = schema["type"] switch
        {
            JString s => new JNode[] { s },
            JArray a => a.Items,
            null => Array.Empty<JNode>(),
            var other => new[] { other },
        };
        foreach (var n in names)
        {
            int bit = (n as JString)?.Value switch
            {
                "null" => Mask.Null,
                "boolean" => Mask.Boolean,
                "integer" => Mask.Integer,
                "number" => Mask.Number,
                "string" => Mask.String,
                "array" => Mask.Array,
                "object" => Mask.Object,
                _ => -1,
            };
            if (bit < 0) Report(DiagnosticDescriptors.InvalidSchema.Id, n, pointer, "'type' must be a JSON Schema type name or an array of them");
            else mask |= bit;
        }
        return mask;
    }

    private NodeSpec? ParseNode(JObject schema, string? defName, string fallbackName, string pointer)
    {
        if (schema["x-single-key"] is not null)
        {
            Report(DiagnosticDescriptors.InvalidRule.Id, schema, "x-single-key", pointer, "single-key namespaces are only supported as direct properties of a record");
            return null;
        }
        schema = WithNonFiniteNumbers(schema, pointer);
        int mask = TypeMaskOf(schema, pointer, out bool typed);
        if (!typed && schema["properties"] is not null) mask = Mask.Object;
        if (!typed && schema["items"] is not null) mask = Mask.Array;
        bool nullable = mask == 0 || (mask & Mask.Null) != 0;
        int nonNull = mask & ~Mask.Null;

        var messages = ParseMessages(schema, pointer);
        var severities = ParseSeverities(schema, pointer);
        NodeKind kind;
        string? typeRef = null;
        NodeSpec? items = null;

        if (schema["properties"] is not null && (mask & Mask.Object) != 0)
        {
            kind = NodeKind.Record;
            typeRef = EnsureRecord(schema, defName, fallbackName, pointer);
            return new NodeSpec(kind, nullable, mask, typeRef, null, null, null, null, null, null, null, EquatableArray<string>.Empty, false, messages, severities);
        }
        CheckSupportedKeywords(schema, pointer);
        if (schema["x-vocabulary"] is JBool { Value: true })
        {
            if (nonNull != Mask.String)
                Report(DiagnosticDescriptors.InvalidRule.Id, schema, "x-vocabulary", pointer, "an open vocabulary must have type \"string\" (optionally with \"null\")");
            kind = NodeKind.Vocab;
            typeRef = EnsureVocab(schema, defName, fallbackName, pointer);
        }
        else if (schema["x-vocabulary"] is JNode vocabNode && vocabNode is not JBool)
        {
            Report(DiagnosticDescriptors.InvalidRule.Id, vocabNode, "x-vocabulary", pointer, "expected true or false");
            kind = NodeKind.String;
        }
        else
        {
            kind = nonNull switch
            {
                Mask.Boolean => NodeKind.Bool,
                Mask.Integer => NodeKind.Int,
                Mask.Number or (Mask.Number | Mask.Integer) => NodeKind.Number,
                Mask.String => NodeKind.String,
                Mask.Array => NodeKind.Array,
                Mask.Object => NodeKind.Dict,
                _ => NodeKind.Any,
            };
        }
        if (kind == NodeKind.Any) nullable = true;

        if (kind == NodeKind.Array)
        {
            if (schema["items"] is JObject itemSchema)
            {
                var itemMerged = Resolve(itemSchema, pointer + "/items", out var itemDef);
                items = ParseNode(itemMerged, itemDef, fallbackName + "Item", pointer + "/items");
                if (items is null) return null;
            }
            else if (schema["items"] is JNode badItems)
            {
                Report(DiagnosticDescriptors.InvalidSchema.Id, badItems, pointer, "'items' must be a schema object");
            }
            items ??= new NodeSpec(NodeKind.Any, true, 0, null, null, null, null, null, null, null, null, EquatableArray<string>.Empty, false, EquatableArray<KeyText>.Empty, EquatableArray<KeyText>.Empty);
        }

        int? minItems = IntKeyword(schema, "minItems", pointer), maxItems = IntKeyword(schema, "maxItems", pointer);
        string? minimum = NumberKeyword(schema, "minimum", pointer), exclusiveMinimum = NumberKeyword(schema, "exclusiveMinimum", pointer),
            maximum = NumberKeyword(schema, "maximum", pointer);

        string? length = null;
        if (schema["x-length"] is JNode lenNode)
        {
            if (lenNode is JString ls && CheckDimension(ls.Value)) length = ls.Value;
            else Report(DiagnosticDescriptors.InvalidRule.Id, lenNode, "x-length", pointer, $"expected a dimension expression such as \"ndim\" or \"ndim+1\" over the declared x-dimensions ({string.Join(", ", _dimensionNames)})");
        }
        string? equalsDim = null;
        if (schema["x-equals"] is JNode eqNode)
        {
            if (eqNode is JString es && CheckDimension(es.Value)) equalsDim = es.Value;
            else Report(DiagnosticDescriptors.InvalidRule.Id, eqNode, "x-equals", pointer, $"expected a dimension expression such as \"spatial_ndim\" over the declared x-dimensions ({string.Join(", ", _dimensionNames)})");
        }
        var shape = EquatableArray<string>.Empty;
        if (schema["x-shape"] is JNode shapeNode)
        {
            if (shapeNode is JArray sa && sa.Items.Count == 2 && sa.Items.All(i => i is JString s && CheckDimension(s.Value)))
                shape = sa.Items.Select(i => ((JString)i).Value).ToEquatableArray();
            else Report(DiagnosticDescriptors.InvalidRule.Id, shapeNode, "x-shape", pointer, "expected two dimension expressions [rows, columns]");
        }
        bool ordered = false;
        if (schema["x-ordered"] is JNode ordNode)
        {
            if (ordNode is JBool ob) ordered = ob.Value;
            else Report(DiagnosticDescriptors.InvalidRule.Id, ordNode, "x-ordered", pointer, "expected true or false");
        }
        if ((length is not null || shape.Count > 0 || ordered || minItems is not null || maxItems is not null) && kind != NodeKind.Array)
            Report(DiagnosticDescriptors.InvalidRule.Id, schema, "x-length/x-shape/x-ordered/minItems/maxItems", pointer, "array rules need \"type\": \"array\"");
        if ((minimum ?? exclusiveMinimum ?? maximum) is not null && kind is not (NodeKind.Int or NodeKind.Number))
            Report(DiagnosticDescriptors.InvalidRule.Id, schema, "minimum/exclusiveMinimum/maximum", pointer, "number rules need \"type\": \"integer\" or \"number\"");

        return new NodeSpec(kind, nullable, mask, typeRef, items, minItems, maxItems, minimum, exclusiveMinimum, maximum, length, shape, ordered, messages, severities, equalsDim);
    }

    private static readonly string[] NonFiniteStrings = { "NaN", "Infinity", "-Infinity" };

    /// <summary>
    /// The number form that spells out non-finite floats for standard validators,
    /// <c>"anyOf": [{"type": T}, {"enum": ["NaN", "Infinity", "-Infinity"]}]</c> (the second branch inline or a
    /// <c>$ref</c>; T a number type, optionally with null), is read as <c>"type": T</c>: generated readers and
    /// validators take these three strings for every number anyway. Any other schema is returned unchanged.
    /// </summary>
    private JObject WithNonFiniteNumbers(JObject schema, string pointer)
    {
        if (schema["anyOf"] is not JArray any || any.Items.Count != 2 || schema["type"] is not null
            || any.Items[0] is not JObject typeBranch || typeBranch.Properties.Count != 1 || typeBranch["type"] is not JNode type
            || any.Items[1] is not JObject enumBranch)
            return schema;
        int mask = TypeMaskOf(typeBranch, pointer + "/anyOf/0", out _);
        if ((mask & Mask.Number) == 0 || (mask & ~(Mask.Number | Mask.Integer | Mask.Null)) != 0)
            return schema;
        var resolved = Resolve(enumBranch, pointer + "/anyOf/1", out _);
        if (resolved["enum"] is not JArray values || values.Items.Count != NonFiniteStrings.Length
            || !values.Items.Select(v => (v as JString)?.Value).SequenceEqual(NonFiniteStrings))
            return schema;
        var rewritten = new JObject { Start = schema.Start, End = schema.End };
        for (int i = 0; i < schema.Properties.Count; i++)
        {
            var kv = schema.Properties[i];
            rewritten.Properties.Add(kv.Key == "anyOf" ? new KeyValuePair<string, JNode>("type", type) : kv);
            rewritten.KeyStarts.Add(schema.KeyStarts[i]);
        }
        return rewritten;
    }

    private bool CheckDimension(string expr)
    {
        var m = DimensionExpr.Match(expr);
        return m.Success && _dimensionNames.Contains(m.Groups[1].Value);
    }

    private int? IntKeyword(JObject schema, string key, string pointer)
    {
        var n = schema[key];
        if (n is null) return null;
        if (n is JNumber num && num.IsInteger && int.TryParse(num.Raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= 0) return v;
        Report(DiagnosticDescriptors.InvalidSchema.Id, n, pointer, $"'{key}' must be a non-negative integer");
        return null;
    }

    private string? NumberKeyword(JObject schema, string key, string pointer)
    {
        var n = schema[key];
        if (n is null) return null;
        if (n is JNumber num) return num.Raw;
        Report(DiagnosticDescriptors.InvalidSchema.Id, n, pointer, $"'{key}' must be a number");
        return null;
    }

    private EquatableArray<KeyText> ParseMessages(JObject schema, string pointer)
    {
        if (schema["x-messages"] is not JNode node) return EquatableArray<KeyText>.Empty;
        var list = new List<KeyText>();
        if (node is JObject o)
        {
            foreach (var kv in o.Properties)
            {
                if (!MessageKeywords.Contains(kv.Key) || kv.Value is not JString s)
                    ReportAtKey(DiagnosticDescriptors.InvalidRule.Id, o, kv.Key, "x-messages", pointer, $"'{kv.Key}' must name a validated keyword ({string.Join(", ", MessageKeywords)}) and map to a message template");
                else list.Add(new KeyText(kv.Key, s.Value));
            }
        }
        else Report(DiagnosticDescriptors.InvalidRule.Id, node, "x-messages", pointer, "expected an object mapping keywords to message templates");
        return list.ToEquatableArray();
    }

    private EquatableArray<KeyText> ParseSeverities(JObject schema, string pointer)
    {
        if (schema["x-severity"] is not JNode node) return EquatableArray<KeyText>.Empty;
        var list = new List<KeyText>();
        if (node is JObject o)
        {
            foreach (var kv in o.Properties)
            {
                if (!MessageKeywords.Contains(kv.Key) || kv.Value is not JString { Value: "warning" or "error" } s)
                    ReportAtKey(DiagnosticDescriptors.InvalidRule.Id, o, kv.Key, "x-severity", pointer, $"'{kv.Key}' must name a validated keyword and map to \"warning\" or \"error\"");
                else list.Add(new KeyText(kv.Key, s.Value));
            }
        }
        else Report(DiagnosticDescriptors.InvalidRule.Id, node, "x-severity", pointer, "expected an object mapping keywords to \"warning\" or \"error\"");
        return list.ToEquatableArray();
    }

    // ------------------------------------------------------------------ vocabularies

    private string EnsureVocab(JObject schema, string? defName, string fallbackName, string pointer)
    {
        string key = defName ?? pointer;
        if (_vocabNamesByDef.TryGetValue(key, out var existing)) return existing;
        string typeName = StringOf(schema, "x-csharp-type") ?? defName ?? fallbackName;
        if (!Identifier.IsMatch(typeName))
        {
            Report(DiagnosticDescriptors.InvalidSchema.Id, schema, pointer, $"'{typeName}' is not a valid C# type name (set x-csharp-type)");
            typeName = "InvalidVocabulary" + _vocabNamesByDef.Count.ToString(CultureInfo.InvariantCulture);
        }
        _vocabNamesByDef[key] = typeName;
        var members = new List<VocabMember>();
        var names = new HashSet<string>(StringComparer.Ordinal) { "Value", "IsKnown", "KnownValues", typeName };
        if (schema["examples"] is JArray ex)
        {
            foreach (var item in ex.Items)
            {
                if (item is not JString s) continue;
                string name = ToPascal(s.Value);
                if (!Identifier.IsMatch(name)) name = "Value" + name;
                if (!names.Add(name))
                {
                    Report(DiagnosticDescriptors.NameClash.Id, item, pointer + "/examples", typeName + "." + name);
                    continue;
                }
                members.Add(new VocabMember(name, s.Value));
            }
        }
        string accessibility = AccessibilityOf(schema, pointer, _defaultAccessibility);
        _accessibilityByType[typeName] = accessibility;
        _vocabs.Add(new VocabSpec(typeName, StringOf(schema, "description") ?? "", members.ToEquatableArray(), accessibility));
        return typeName;
    }

    // ------------------------------------------------------------------ accessibility

    /// <summary>
    /// <c>x-csharp-accessibility</c>: <c>"public"</c> (the default) or <c>"internal"</c>, at the root (every generated
    /// type of the file) or on a record / vocabulary definition (that type only).
    /// </summary>
    private string AccessibilityOf(JObject schema, string pointer, string inherited)
    {
        if (schema["x-csharp-accessibility"] is not JNode node) return inherited;
        if (node is JString { Value: "public" or "internal" } s) return s.Value;
        Report(DiagnosticDescriptors.InvalidRule.Id, node, "x-csharp-accessibility", pointer, "expected \"public\" or \"internal\"");
        return inherited;
    }

    /// <summary>A public record cannot expose an internal generated type (C# would refuse it with CS0053).</summary>
    private void CheckExposedAccessibility(string typeName, string accessibility, PropertySpec prop, JObject props, string key, string pointer)
    {
        if (accessibility != "public") return;
        for (var n = prop.Node; n is not null; n = n.Items)
        {
            if (n.TypeRef is { } t && _accessibilityByType.TryGetValue(t, out var a) && a != "public")
                ReportAtKey(DiagnosticDescriptors.InvalidRule.Id, props, key, "x-csharp-accessibility", pointer,
                    $"the public record '{typeName}' exposes the {a} type '{t}' through '{prop.CSharpName}'; make both internal or both public");
        }
    }

    private void CheckTypeNameClashes()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in _records.Select(r => r.TypeName).Concat(_vocabs.Select(v => v.TypeName)))
            if (!seen.Add(name))
                Report(DiagnosticDescriptors.NameClash.Id, _root, "#", name);
    }

    // ------------------------------------------------------------------ defaults and names

    private string? DefaultExpr(JObject schema, NodeSpec node, string pointer)
    {
        const string Rt = "global::MLArray.Metadata.";
        var d = schema["default"];
        switch (node.Kind)
        {
            case NodeKind.Record: return "new()";
            case NodeKind.Dict:
                if (d is JObject { Properties.Count: 0 } || (d is null && !node.Nullable)) return Rt + "MetaSchemaRuntime.EmptyDict()";
                break;
            case NodeKind.Array:
                if (d is JArray { Items.Count: 0 } || (d is null && !node.Nullable)) return "[]";
                break;
            case NodeKind.Bool:
                if (d is JBool b) return b.Value ? "true" : "false";
                break;
            case NodeKind.Int:
                if (d is JNumber { IsInteger: true } i) return i.Raw + "L";
                break;
            case NodeKind.Number:
                if (d is JNumber n) return "(" + Rt + "MetaNumber)" + n.Raw + (n.IsInteger ? "L" : "d");
                break;
            case NodeKind.String:
                if (d is JString s) return Literal(s.Value);
                if (d is null && !node.Nullable) return "\"\"";
                break;
            case NodeKind.Vocab:
                if (d is JString vs) return "new global::" + _namespace + "." + node.TypeRef + "(" + Literal(vs.Value) + ")";
                if (d is null && !node.Nullable) return "new global::" + _namespace + "." + node.TypeRef + "(\"\")";
                break;
            case NodeKind.Any:
                if (d is null or JNull) return Rt + "MetaValue.Null";
                break;
        }
        if (d is null) return null;
        if (d is JNull && node.Nullable) return null;
        Report(DiagnosticDescriptors.InvalidSchema.Id, d, pointer, $"unsupported 'default' for a {node.Kind} value (supported: null, booleans, numbers, strings, {{}} and [])");
        return null;
    }

    internal static string Literal(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20 || c > 0x7e) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }

    /// <summary><c>_num_spatial_axes</c> -> <c>NumSpatialAxes</c>, <c>RAS+</c> -> <c>RasPlus</c>, <c>spatial_x</c> -> <c>SpatialX</c>.</summary>
    internal static string ToPascal(string name)
    {
        var sb = new StringBuilder();
        var word = new StringBuilder();
        void Flush()
        {
            if (word.Length == 0) return;
            string w = word.ToString();
            bool allUpper = w.All(c => !char.IsLetter(c) || char.IsUpper(c));
            sb.Append(char.ToUpperInvariant(w[0]));
            sb.Append(allUpper ? w.Substring(1).ToLowerInvariant() : w.Substring(1));
            word.Clear();
        }
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (char.IsLetterOrDigit(c) && c < 128) word.Append(c);
            else
            {
                Flush();
                if (c == '+') sb.Append("Plus");
                else if (c == '-' && i == name.Length - 1) sb.Append("Minus");
            }
        }
        Flush();
        return sb.ToString();
    }
}
