namespace MLArray.Metadata;

public sealed partial record MetaBbox
{
    /// <summary>
    /// Returns these boxes with <paramref name="bbox"/> appended (python <c>Meta.add_bbox</c>): one [min, max] pair per
    /// axis, with an optional score and label. The first box may carry a score or label (the reference fails there);
    /// after that every box must carry one exactly when the earlier ones do.
    /// </summary>
    /// <exception cref="ArgumentException">A score/label is missing or unexpected, a label is not a string or integer, or a row is not [min, max] with finite values and min &lt;= max.</exception>
    public MetaBbox Add(IReadOnlyList<IReadOnlyList<MetaNumber>> bbox, MetaNumber? score = null, MetaValue? label = null)
    {
        ArgumentNullException.ThrowIfNull(bbox);
        var box = EquatableArray.From(bbox.Select(pair => EquatableArray.From(pair ?? throw new ArgumentException("bbox entries must not be null.", nameof(bbox)))));
        int count = Bboxes?.Count ?? 0;
        if (label is not null and not MetaString and not MetaInt)
            throw new ArgumentException("label must be a str or an int (bool is not accepted).", nameof(label));

        EquatableArray<MetaNumber>? scores = Scores;
        if (score is { } s)
        {
            if (scores is null && count > 0)
                throw new ArgumentException("Cannot add a scored bbox when existing bboxes have no scores.", nameof(score));
            scores = EquatableArray.From((scores ?? EquatableArray.From(Array.Empty<MetaNumber>())).Append(s));
        }
        else if (scores is not null)
        {
            throw new ArgumentException("score must be provided because meta.bbox.scores already exists", nameof(score));
        }

        EquatableArray<MetaValue>? labels = Labels;
        if (label is not null)
        {
            if (labels is null && count > 0)
                throw new ArgumentException("Cannot add a labelled bbox when existing bboxes have no labels.", nameof(label));
            labels = EquatableArray.From((labels ?? EquatableArray.From(Array.Empty<MetaValue>())).Append(label));
        }
        else if (labels is not null)
        {
            throw new ArgumentException("label must be provided because meta.bbox.labels already exists", nameof(label));
        }

        if (RowProblem(box, count) is { } problem)
            throw new ArgumentException(problem, nameof(bbox));
        var boxes = EquatableArray.From((Bboxes ?? EquatableArray.From(Array.Empty<EquatableArray<EquatableArray<MetaNumber>>>())).Append(box));
        var next = this with { Bboxes = boxes, Scores = scores, Labels = labels };
        var report = next.Validate();
        if (report.Errors.Any())
            throw new ArgumentException(string.Join("; ", report.Errors.Select(e => e.Message)), nameof(bbox));
        return next;
    }

    /// <summary>
    /// What is wrong with the [min, max] rows of box <paramref name="index"/>, or null: every coordinate must be finite
    /// and each min at most its max (an empty extent, min == max, is a valid flat box).
    /// </summary>
    internal static string? RowProblem(EquatableArray<EquatableArray<MetaNumber>> box, int index)
    {
        for (int axis = 0; axis < box.Count; axis++)
        {
            var row = box[axis];
            if (row.Count != 2)
                continue; // the schema's "rows must have length 2" reports this
            double lo = row[0].ToDouble(), hi = row[1].ToDouble();
            if (!double.IsFinite(lo) || !double.IsFinite(hi))
                return $"meta.bbox.bboxes[{index}] row {axis} is [{row[0]}, {row[1]}]: box coordinates must be finite numbers (no NaN or infinity)";
            if (lo > hi)
                return $"meta.bbox.bboxes[{index}] row {axis} is [{row[0]}, {row[1]}]: each row must be [min, max] with min <= max; swap the two values";
        }
        return null;
    }
}
