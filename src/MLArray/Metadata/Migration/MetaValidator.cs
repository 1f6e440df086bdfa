namespace MLArray.Metadata.Migration;

/// <summary>
/// Checks a mapping in the canonical current layout against the rules of the Python reference (spec §2.2) and
/// §1.5, reporting every violation with a JSON Pointer, a short code and the reference's message.
/// </summary>
public static class MetaValidator
{
    /// <summary>Validates <paramref name="current"/> (as produced by <see cref="MetaMigrator"/>) for a file whose b2nd shape is <paramref name="arrayShape"/> (null when unknown).</summary>
    public static IReadOnlyList<MetaIssue> Validate(MetaDict current, long[]? arrayShape)
    {
        ArgumentNullException.ThrowIfNull(current);
        var issues = new List<MetaIssue>();
        void Add(string path, string code, string msg) => issues.Add(new(path, code, msg));

        foreach (var ns in new[] { "source", "extra" })
        {
            var data = MigrationSteps.Unwrap(current[ns], "data");
            if (data is not MetaDict)
                Add($"/{ns}/data", "type", $"meta.{(ns == "source" ? "image" : ns)}.data must be a dict, got {MigrationSteps.KindName(data)}");
        }

        var hasArray = MigrationSteps.Unwrap(current["_has_array"], "has_array");
        if (hasArray is not MetaBool)
            Add("/_has_array/has_array", "type", "meta._has_array must be a bool");
        bool withArray = hasArray is MetaBool { Value: true };

        var sp = current["spatial"] as MetaDict ?? new MetaDict([]);
        int? ndim = withArray && arrayShape is not null ? arrayShape.Length : sp["shape"] is MetaList sh ? sh.Items.Count : null;
        int? spatialNdim = ndim;
        if (sp["axis_labels"] is MetaList labels)
        {
            for (int i = 0; i < labels.Items.Count; i++)
            {
                if (labels.Items[i] is MetaList)
                    Add($"/spatial/axis_labels/{i}", "type", $"meta.spatial.axis_labels must be a 1D list (got nested list at index {i})");
                else if (labels.Items[i] is not MetaString)
                    Add($"/spatial/axis_labels/{i}", "type", $"meta.spatial.axis_labels[{i}] must be a str or AxisLabelEnum (got {MigrationSteps.KindName(labels.Items[i])})");
            }
            if (ndim is int n && labels.Items.Count != n)
                Add("/spatial/axis_labels", "length", $"meta.spatial.axis_labels must have length {n}");
            spatialNdim = labels.Items.Count(l => l is MetaString s && MetaMigrator.IsSpatialLabel(s.Value));
        }
        else if (sp["axis_labels"] is not (null or MetaNull))
        {
            Add("/spatial/axis_labels", "type", "meta.spatial.axis_labels must be a list, tuple, or numpy array");
        }
        else if (sp["_num_spatial_axes"] is MetaInt nsa)
        {
            spatialNdim = (int)nsa.Value;
        }

        NumberList(sp["spacing"], "/spatial/spacing", "meta.spatial.spacing", spatialNdim, allowBool: true, issues);
        NumberList(sp["origin"], "/spatial/origin", "meta.spatial.origin", spatialNdim, allowBool: true, issues);
        Matrix(sp["direction"], "/spatial/direction", "meta.spatial.direction", spatialNdim, issues);
        if (sp["affine"] is not (null or MetaNull))
        {
            if (new[] { "spacing", "origin", "direction" }.Any(k => sp[k] is not (null or MetaNull)))
                Add("/spatial/affine", "exclusive", "meta.spatial.affine cannot be set together with spacing, origin, or direction.");
            Matrix(sp["affine"], "/spatial/affine", "meta.spatial.affine", spatialNdim is int sn ? sn + 1 : null, issues, squareOnly: spatialNdim is null);
        }
        if (sp["shape"] is MetaList shape)
        {
            if (shape.Items.Any(x => x is not MetaInt))
                Add("/spatial/shape", "type", "meta.spatial.shape must contain only ints");
            else if (withArray && arrayShape is not null && !shape.Items.Select(x => (long)((MetaInt)x).Value).SequenceEqual(arrayShape))
                Add("/spatial/shape", "shape-mismatch", $"meta.spatial.shape {MetaMigrator.Show(shape)} differs from the array shape [{string.Join(", ", arrayShape)}]");
        }
        else if (sp["shape"] is not (null or MetaNull))
        {
            Add("/spatial/shape", "type", "meta.spatial.shape must be a list");
        }
        if (sp["coord_system"] is not (null or MetaNull or MetaString))
            Add("/spatial/coord_system", "type", "meta.spatial.coord_system must be a str, CoordSystemEnum, or None");
        foreach (var k in new[] { "_num_spatial_axes", "_num_non_spatial_axes" })
            if (sp[k] is not (null or MetaNull or MetaInt))
                Add($"/spatial/{k}", "type", $"meta.spatial.{k} must be an int or None");

        if (current["stats"] is MetaDict st)
            foreach (var (k, v) in st.Entries)
                if (v is not (MetaNull or MetaInt or MetaFloat or MetaBool))
                    Add($"/stats/{k}", "type", $"meta.stats.{k} must be a float or int");

        if (current["bbox"] is MetaDict bb)
        {
            int? nBoxes = null;
            if (bb["bboxes"] is MetaList boxes)
            {
                nBoxes = boxes.Items.Count;
                for (int i = 0; i < boxes.Items.Count; i++)
                {
                    if (boxes.Items[i] is not MetaList rows) { Add($"/bbox/bboxes/{i}", "type", "meta.bbox.bboxes must be a list of lists"); continue; }
                    for (int j = 0; j < rows.Items.Count; j++)
                    {
                        if (rows.Items[j] is not MetaList row) { Add($"/bbox/bboxes/{i}/{j}", "type", "meta.bbox.bboxes must be a list of lists"); continue; }
                        if (row.Items.Count != 2) Add($"/bbox/bboxes/{i}/{j}", "length", "meta.bbox.bboxes rows must have length 2");
                        if (row.Items.Any(x => x is not (MetaInt or MetaFloat)))
                            Add($"/bbox/bboxes/{i}/{j}", "type", "meta.bbox.bboxes must contain ints or floats only");
                    }
                }
            }
            else if (bb["bboxes"] is not (null or MetaNull))
            {
                Add("/bbox/bboxes", "type", "meta.bbox.bboxes must be a list of lists");
            }
            if (bb["scores"] is MetaList scores)
            {
                if (scores.Items.Any(x => x is not (MetaInt or MetaFloat or MetaBool)))
                    Add("/bbox/scores", "type", "meta.bbox.scores must contain only floats or ints");
                if (nBoxes is int nb && scores.Items.Count != nb)
                    Add("/bbox/scores", "length", "meta.bbox.scores must have same length as bboxes");
            }
            else if (bb["scores"] is not (null or MetaNull)) Add("/bbox/scores", "type", "meta.bbox.scores must be a list");
            if (bb["labels"] is MetaList lbl)
            {
                if (lbl.Items.Any(x => x is not (MetaInt or MetaFloat or MetaString)))
                    Add("/bbox/labels", "type", "meta.bbox.labels must contain only str, int, or float");
                if (nBoxes is int nb && lbl.Items.Count != nb)
                    Add("/bbox/labels", "length", "meta.bbox.labels must have same length as bboxes");
            }
            else if (bb["labels"] is not (null or MetaNull)) Add("/bbox/labels", "type", "meta.bbox.labels must be a list");
        }

        if (MigrationSteps.Unwrap(current["is_seg"], "is_seg") is not (MetaNull or MetaBool))
            Add("/is_seg/is_seg", "type", "meta.is_seg must be a bool or None");

        if (current["blosc2"] is MetaDict b2)
        {
            NumberList(b2["chunk_size"], "/blosc2/chunk_size", "meta.blosc2.chunk_size", ndim, allowBool: false, issues);
            NumberList(b2["block_size"], "/blosc2/block_size", "meta.blosc2.block_size", ndim, allowBool: false, issues);
            NumberList(b2["patch_size"], "/blosc2/patch_size", "meta.blosc2.patch_size", spatialNdim ?? ndim, allowBool: false, issues);
            foreach (var k in new[] { "cparams", "dparams" })
                if (b2[k] is not (null or MetaNull or MetaDict))
                    Add($"/blosc2/{k}", "type", $"meta.blosc2.{k} must be a mapping or object with __dict__");
        }

        if (MigrationSteps.Unwrap(current["_image_meta_format"], "image_meta_format") is not (MetaNull or MetaString))
            Add("/_image_meta_format/image_meta_format", "type", "meta._image_meta_format must be a str or None");
        if (MigrationSteps.Unwrap(current["_mlarray_version"], "mlarray_version") is not (MetaNull or MetaString))
            Add("/_mlarray_version", "type", "meta._mlarray_version must be a str or None");
        return issues;
    }

    private static void NumberList(MetaValue? v, string path, string label, int? length, bool allowBool, List<MetaIssue> issues)
    {
        if (v is null or MetaNull) return;
        if (v is not MetaList l)
        {
            issues.Add(new(path, "type", $"{label} must be a list, tuple, or numpy array"));
            return;
        }
        if (length is int n && l.Items.Count != n)
            issues.Add(new(path, "length", $"{label} must have length {n}"));
        if (l.Items.Any(x => x is not (MetaInt or MetaFloat) && !(allowBool && x is MetaBool)))
            issues.Add(new(path, "type", $"{label} must contain only floats or ints"));
    }

    private static void Matrix(MetaValue? v, string path, string label, int? n, List<MetaIssue> issues, bool squareOnly = false)
    {
        if (v is null or MetaNull) return;
        if (v is not MetaList rows || rows.Items.Any(r => r is not MetaList))
        {
            issues.Add(new(path, "type", $"{label} must be a list of lists"));
            return;
        }
        int size = n ?? rows.Items.Count;
        if (rows.Items.Count != size || rows.Items.Any(r => ((MetaList)r).Items.Count != size))
            issues.Add(new(path, "shape", squareOnly ? $"{label} must be a square matrix" : $"{label} must have shape [{size}, {size}]"));
        if (rows.Items.SelectMany(r => ((MetaList)r).Items).Any(x => x is not (MetaInt or MetaFloat or MetaBool)))
            issues.Add(new(path, "type", $"{label} must contain only floats or ints"));
    }
}
