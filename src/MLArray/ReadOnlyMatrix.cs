using System.Globalization;
using System.Text;

namespace MLArray;

/// <summary>
/// An immutable matrix of doubles (geometry: direction cosines, affines). Reading an entry is <c>m[row, column]</c>;
/// there is no setter, so <c>img.Direction[0, 0] = 1</c> does not compile instead of changing a copy. To change a
/// geometry matrix, assign a whole new one (a <c>double[,]</c> converts implicitly): <c>img.Direction = new double[,] { … }</c>,
/// or start from <see cref="ToArray"/>.
/// </summary>
public sealed class ReadOnlyMatrix : IEquatable<ReadOnlyMatrix>
{
    private readonly double[,] _values;

    /// <summary>A copy of <paramref name="values"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="values"/> is null.</exception>
    public ReadOnlyMatrix(double[,] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        _values = (double[,])values.Clone();
    }

    /// <summary>The entry at <paramref name="row"/>, <paramref name="column"/>.</summary>
    /// <exception cref="IndexOutOfRangeException">Outside the matrix.</exception>
    public double this[int row, int column] => _values[row, column];

    /// <summary>Number of rows.</summary>
    public int Rows => _values.GetLength(0);

    /// <summary>Number of columns.</summary>
    public int Columns => _values.GetLength(1);

    /// <summary>Rows (dimension 0) or columns (dimension 1), as <see cref="Array.GetLength(int)"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dimension"/> is not 0 or 1.</exception>
    public int GetLength(int dimension) => dimension switch
    {
        0 => Rows,
        1 => Columns,
        _ => throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "a matrix has dimensions 0 (rows) and 1 (columns)."),
    };

    /// <summary>A new, mutable copy of the entries.</summary>
    public double[,] ToArray() => (double[,])_values.Clone();

    /// <summary>A copy of <paramref name="values"/> (null stays null).</summary>
    public static implicit operator ReadOnlyMatrix?(double[,]? values) => values is null ? null : new ReadOnlyMatrix(values);

    /// <summary>A copy of <paramref name="values"/>.</summary>
    public static ReadOnlyMatrix FromArray(double[,] values) => new(values);

    /// <inheritdoc/>
    public bool Equals(ReadOnlyMatrix? other)
    {
        if (other is null || other.Rows != Rows || other.Columns != Columns) return false;
        for (int i = 0; i < Rows; i++)
            for (int j = 0; j < Columns; j++)
                if (!_values[i, j].Equals(other._values[i, j])) return false;
        return true;
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as ReadOnlyMatrix);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Rows);
        foreach (double v in _values) h.Add(v);
        return h.ToHashCode();
    }

    /// <summary>Equality of shape and entries.</summary>
    public static bool operator ==(ReadOnlyMatrix? a, ReadOnlyMatrix? b) => a is null ? b is null : a.Equals(b);

    /// <summary>Inequality of shape or entries.</summary>
    public static bool operator !=(ReadOnlyMatrix? a, ReadOnlyMatrix? b) => !(a == b);

    /// <summary>The rows as nested brackets, e.g. <c>[[1, 0], [0, 1]]</c>.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < Rows; i++)
        {
            sb.Append(i == 0 ? "[" : ", [");
            for (int j = 0; j < Columns; j++)
                sb.Append(j == 0 ? "" : ", ").Append(_values[i, j].ToString("R", CultureInfo.InvariantCulture));
            sb.Append(']');
        }
        return sb.Append(']').ToString();
    }
}
