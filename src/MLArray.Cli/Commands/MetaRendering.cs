using System.Text.Json;
using MLArray.Metadata;
using MLArray.Metadata.Migration;
using MLArray.Metadata.Payload;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace MLArray.Cli.Commands;

/// <summary>Shared helpers of the metadata commands: the readable tree, JSON output and file reading.</summary>
internal static class MetaRendering
{
    private const int InlineWidth = 72;

    /// <summary>A console that writes plain text (no colours, no ANSI codes) to <paramref name="writer"/>.</summary>
    public static IAnsiConsole Console(TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = 160;
        return console;
    }

    /// <summary>
    /// The metadata as a tree, the way the Python reference's <c>to_plain</c> shows it: single-key namespaces bare,
    /// short lists inline, floats in Python's repr.
    /// </summary>
    public static Tree Tree(MetaDict current, MetaLayout layout)
    {
        var tree = new Tree(new Text($"metadata (layout {MetaLayouts.Id(layout)})")) { Guide = TreeGuide.Line };
        foreach (var (ns, v) in current.Entries)
        {
            var shown = MetaMigrator.SingleKeyNamespaces.TryGetValue(ns, out var key) ? MetaMigrator.UnwrapSingleKey(v, key) : v;
            Add(tree, ns, shown);
        }
        return tree;
    }

    private static void Add(IHasTreeNodes parent, string label, MetaValue v)
    {
        if (v is MetaDict d && d.Entries.Count > 0)
        {
            var node = parent.AddNode(new Text(label));
            foreach (var (k, x) in d.Entries) Add(node, k, x);
            return;
        }
        if (v is MetaList l && l.Items.Count > 0)
        {
            string inline = MetaJson.Serialize(v);
            if (inline.Length <= InlineWidth)
            {
                parent.AddNode(new Text($"{label}: {inline}"));
                return;
            }
            var node = parent.AddNode(new Text($"{label} ({l.Items.Count} items)"));
            for (int i = 0; i < l.Items.Count; i++) Add(node, $"[{i}]", l.Items[i]);
            return;
        }
        string s = MetaJson.Serialize(v);
        if (s.Length > 200) s = s[..197] + "...";
        parent.AddNode(new Text($"{label}: {s}"));
    }

    /// <summary>Writes <c>"meta"</c> and <c>"meta_layout"</c> into an open JSON object.</summary>
    public static void WriteJson(Utf8JsonWriter w, MetaReadResult? meta)
    {
        w.WritePropertyName("meta");
        if (meta is null) w.WriteNullValue();
        else MetaJson.Write(w, meta.Current);
        if (meta is null) w.WriteNull("meta_layout");
        else w.WriteString("meta_layout", MetaLayouts.Id(meta.Layout));
    }

    /// <summary>Renders a renderable to plain text.</summary>
    public static void Write(TextWriter writer, IRenderable renderable) => Console(writer).Write(renderable);
}
