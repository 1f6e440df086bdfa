namespace MLArray.Metadata.Migration;

/// <summary>An ordered, mutable dict used while rewriting a metadata mapping (positions are kept on rename).</summary>
internal sealed class MetaDictBuilder
{
    private readonly List<KeyValuePair<string, MetaValue>> _entries;

    public MetaDictBuilder(MetaDict? d = null) => _entries = d is null ? [] : [.. d.Entries];

    public int Count => _entries.Count;

    public IEnumerable<string> Keys => _entries.Select(e => e.Key);

    private int IndexOf(string key) => _entries.FindIndex(e => e.Key == key);

    public bool Contains(string key) => IndexOf(key) >= 0;

    public MetaValue? Get(string key) => IndexOf(key) is var i and >= 0 ? _entries[i].Value : null;

    public void Set(string key, MetaValue value)
    {
        int i = IndexOf(key);
        if (i >= 0) _entries[i] = new(key, value);
        else _entries.Add(new(key, value));
    }

    public bool Remove(string key)
    {
        int i = IndexOf(key);
        if (i < 0) return false;
        _entries.RemoveAt(i);
        return true;
    }

    /// <summary>Renames <paramref name="from"/> to <paramref name="to"/> in place; false when absent.</summary>
    public bool Rename(string from, string to)
    {
        int i = IndexOf(from);
        if (i < 0) return false;
        Remove(to);
        i = IndexOf(from);
        _entries[i] = new(to, _entries[i].Value);
        return true;
    }

    /// <summary>Inserts (or moves) <paramref name="key"/> right after <paramref name="after"/> (at the end when absent).</summary>
    public void InsertAfter(string after, string key, MetaValue value)
    {
        Remove(key);
        int i = IndexOf(after);
        _entries.Insert(i < 0 ? _entries.Count : i + 1, new(key, value));
    }

    public MetaDict Build() => new(_entries);
}
