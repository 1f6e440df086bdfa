using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace MLArray.Generators;

// A small JSON reader for schema files (a netstandard2.0 generator cannot rely on System.Text.Json being loadable
// from a ProjectReference). Nodes remember their text offsets for diagnostics. These types never enter the
// cacheable model: the parser turns them into equatable specs.

internal abstract class JNode
{
    public int Start { get; set; }
    public int End { get; set; }
    public abstract string Kind { get; }
}

internal sealed class JObject : JNode
{
    public List<KeyValuePair<string, JNode>> Properties { get; } = new();
    public List<int> KeyStarts { get; } = new();
    public override string Kind => "object";

    public JNode? this[string key]
    {
        get
        {
            for (int i = Properties.Count - 1; i >= 0; i--)
                if (Properties[i].Key == key) return Properties[i].Value;
            return null;
        }
    }

    public int KeyStart(string key)
    {
        for (int i = Properties.Count - 1; i >= 0; i--)
            if (Properties[i].Key == key) return KeyStarts[i];
        return Start;
    }
}

internal sealed class JArray : JNode
{
    public List<JNode> Items { get; } = new();
    public override string Kind => "array";
}

internal sealed class JString : JNode
{
    public JString(string value) => Value = value;
    public string Value { get; }
    public override string Kind => "string";
}

internal sealed class JNumber : JNode
{
    public JNumber(string raw) => Raw = raw;
    public string Raw { get; }
    public bool IsInteger => Raw.IndexOfAny(new[] { '.', 'e', 'E' }) < 0;
    public override string Kind => "number";
}

internal sealed class JBool : JNode
{
    public JBool(bool value) => Value = value;
    public bool Value { get; }
    public override string Kind => "boolean";
}

internal sealed class JNull : JNode
{
    public override string Kind => "null";
}

internal sealed class JsonSyntaxException : Exception
{
    public JsonSyntaxException(string message, int offset) : base(message) => Offset = offset;
    public int Offset { get; }
}

internal sealed class MiniJsonParser
{
    private readonly string _s;
    private int _i;

    private MiniJsonParser(string s) => _s = s;

    public static JNode Parse(string text)
    {
        var p = new MiniJsonParser(text);
        if (p._i < text.Length && text[0] == '\uFEFF') p._i++;
        p.SkipWs();
        var node = p.ParseValue(0);
        p.SkipWs();
        if (p._i < text.Length) throw new JsonSyntaxException("unexpected content after the top-level value", p._i);
        return node;
    }

    private void SkipWs()
    {
        while (_i < _s.Length && (_s[_i] == ' ' || _s[_i] == '\t' || _s[_i] == '\n' || _s[_i] == '\r')) _i++;
    }

    private char Peek() => _i < _s.Length ? _s[_i] : throw new JsonSyntaxException("unexpected end of input", _i);

    private void Expect(char c)
    {
        if (Peek() != c) throw new JsonSyntaxException($"expected '{c}' but found '{_s[_i]}'", _i);
        _i++;
    }

    private JNode ParseValue(int depth)
    {
        if (depth > 128) throw new JsonSyntaxException("nesting deeper than 128", _i);
        int start = _i;
        JNode node;
        char c = Peek();
        switch (c)
        {
            case '{': node = ParseObject(depth); break;
            case '[': node = ParseArray(depth); break;
            case '"': node = new JString(ParseString()); break;
            case 't': Literal("true"); node = new JBool(true); break;
            case 'f': Literal("false"); node = new JBool(false); break;
            case 'n': Literal("null"); node = new JNull(); break;
            default:
                if (c == '-' || (c >= '0' && c <= '9')) { node = new JNumber(ParseNumber()); break; }
                throw new JsonSyntaxException($"unexpected character '{c}'", _i);
        }
        node.Start = start;
        node.End = _i;
        return node;
    }

    private void Literal(string word)
    {
        if (string.CompareOrdinal(_s, _i, word, 0, word.Length) != 0) throw new JsonSyntaxException($"invalid literal (expected '{word}')", _i);
        _i += word.Length;
    }

    private JObject ParseObject(int depth)
    {
        var o = new JObject();
        Expect('{');
        SkipWs();
        if (Peek() == '}') { _i++; return o; }
        while (true)
        {
            SkipWs();
            int keyStart = _i;
            if (Peek() != '"') throw new JsonSyntaxException("expected a property name in double quotes", _i);
            var key = ParseString();
            SkipWs();
            Expect(':');
            SkipWs();
            var value = ParseValue(depth + 1);
            o.Properties.Add(new KeyValuePair<string, JNode>(key, value));
            o.KeyStarts.Add(keyStart);
            SkipWs();
            if (Peek() == ',') { _i++; continue; }
            Expect('}');
            return o;
        }
    }

    private JArray ParseArray(int depth)
    {
        var a = new JArray();
        Expect('[');
        SkipWs();
        if (Peek() == ']') { _i++; return a; }
        while (true)
        {
            SkipWs();
            a.Items.Add(ParseValue(depth + 1));
            SkipWs();
            if (Peek() == ',') { _i++; continue; }
            Expect(']');
            return a;
        }
    }

    private string ParseString()
    {
        Expect('"');
        var sb = new StringBuilder();
        while (true)
        {
            char c = Peek();
            _i++;
            if (c == '"') return sb.ToString();
            if (c < 0x20) throw new JsonSyntaxException("control character in string", _i - 1);
            if (c != '\\') { sb.Append(c); continue; }
            char e = Peek();
            _i++;
            switch (e)
            {
                case '"': sb.Append('"'); break;
                case '\\': sb.Append('\\'); break;
                case '/': sb.Append('/'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'u':
                    if (_i + 4 > _s.Length || !int.TryParse(_s.Substring(_i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int code))
                        throw new JsonSyntaxException("invalid \\u escape", _i);
                    sb.Append((char)code);
                    _i += 4;
                    break;
                default: throw new JsonSyntaxException($"invalid escape '\\{e}'", _i - 1);
            }
        }
    }

    private string ParseNumber()
    {
        int start = _i;
        if (Peek() == '-') _i++;
        if (_i >= _s.Length || !char.IsDigit(_s[_i])) throw new JsonSyntaxException("invalid number", start);
        if (_s[_i] == '0') _i++;
        else while (_i < _s.Length && char.IsDigit(_s[_i])) _i++;
        if (_i < _s.Length && _s[_i] == '.')
        {
            _i++;
            if (_i >= _s.Length || !char.IsDigit(_s[_i])) throw new JsonSyntaxException("invalid number", start);
            while (_i < _s.Length && char.IsDigit(_s[_i])) _i++;
        }
        if (_i < _s.Length && (_s[_i] == 'e' || _s[_i] == 'E'))
        {
            _i++;
            if (_i < _s.Length && (_s[_i] == '+' || _s[_i] == '-')) _i++;
            if (_i >= _s.Length || !char.IsDigit(_s[_i])) throw new JsonSyntaxException("invalid number", start);
            while (_i < _s.Length && char.IsDigit(_s[_i])) _i++;
        }
        return _s.Substring(start, _i - start);
    }
}
