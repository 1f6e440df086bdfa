using System.Collections;
using System.Runtime.CompilerServices;

namespace MLArray.Metadata;

/// <summary>
/// An immutable array with value equality (element by element), used by the generated metadata records so that
/// two records holding equal lists compare equal. Supports collection expressions: <c>Spacing = [2.5, 0.8, 0.8]</c>.
/// </summary>
/// <typeparam name="T">The element type.</typeparam>
[CollectionBuilder(typeof(EquatableArray), nameof(EquatableArray.Create))]
public sealed class EquatableArray<T> : IReadOnlyList<T>, IEquatable<EquatableArray<T>>
{
    private readonly T[] _items;

    /// <summary>Creates an array holding a copy of <paramref name="items"/>.</summary>
    public EquatableArray(IEnumerable<T> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        _items = items.ToArray();
    }

    internal EquatableArray(T[] items, bool owned) => _items = owned ? items : (T[])items.Clone();

    /// <summary>The number of elements.</summary>
    public int Count => _items.Length;

    /// <summary>The element at <paramref name="index"/>.</summary>
    public T this[int index] => _items[index];

    /// <summary>The elements as a read-only span.</summary>
    public ReadOnlySpan<T> AsSpan() => _items;

    /// <inheritdoc/>
    public bool Equals(EquatableArray<T>? other) =>
        other is not null && (ReferenceEquals(this, other) || _items.AsSpan().SequenceEqual(other._items, EqualityComparer<T>.Default));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is EquatableArray<T> a && Equals(a);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var item in _items) h.Add(item);
        return h.ToHashCode();
    }

    /// <summary>Value equality.</summary>
    public static bool operator ==(EquatableArray<T>? left, EquatableArray<T>? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Value inequality.</summary>
    public static bool operator !=(EquatableArray<T>? left, EquatableArray<T>? right) => !(left == right);

    /// <inheritdoc/>
    public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)_items).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _items.GetEnumerator();

    /// <summary>The elements as <c>[a, b, c]</c>.</summary>
    public override string ToString() => "[" + string.Join(", ", _items.Select(i => i?.ToString() ?? "null")) + "]";
}

/// <summary>Factory methods for <see cref="EquatableArray{T}"/>.</summary>
public static class EquatableArray
{
    /// <summary>Creates an array holding a copy of <paramref name="items"/> (the collection-expression builder).</summary>
    public static EquatableArray<T> Create<T>(ReadOnlySpan<T> items) => new(items.ToArray(), owned: true);

    /// <summary>Creates an array holding a copy of <paramref name="items"/>.</summary>
    public static EquatableArray<T> From<T>(IEnumerable<T> items) => new(items);
}
