using MLArray.Training.Sampling;
using System.Numerics;
using System.Numerics.Tensors;
using MLArray.Blosc2;
using MLArray.Layout;
using MLArray.Metadata;

namespace MLArray.Training.Inference;

/// <summary>What a <see cref="PatchAssembler"/> writes.</summary>
public enum AssembledOutput
{
    /// <summary>The label with the largest blended score per voxel (ties: the lowest label), as a segmentation (<c>is_seg</c> true): uint8 up to 256 classes, int16 up to 32,768, else int32.</summary>
    Segmentation,
    /// <summary>The Gaussian-weighted mean of the predictions per class, float32.</summary>
    Logits,
    /// <summary>The softmax over classes of <see cref="Logits"/>, float32.</summary>
    Probabilities,
}

/// <summary>Options of a <see cref="PatchAssembler"/>.</summary>
public sealed record PatchAssemblerOptions
{
    /// <summary>What to write (default: a segmentation after argmax).</summary>
    public AssembledOutput Output { get; init; } = AssembledOutput.Segmentation;

    /// <summary>Weight tiles with nnU-Net's Gaussian importance map (default); false weights every voxel of a tile 1.</summary>
    public bool Gaussian { get; init; } = true;

    /// <summary>
    /// The image predicted on: its geometry (spacing, origin, direction, or its affine), the labels of its spatial axes
    /// and its coordinate system are written to the output. Null: no geometry.
    /// </summary>
    public MLArrayFile? GeometryFrom { get; init; }

    /// <summary>Output layout (default: chunks and blocks for the grid's patch size).</summary>
    public LayoutOptions? Layout { get; init; }

    /// <summary>Output compression (default: <see cref="MLArrayCreateOptions.DefaultCompression"/>).</summary>
    public CompressionParams? Compression { get; init; }

    /// <summary>
    /// Write float outputs (logits, probabilities) as float16 (<c>&lt;f2</c>, half the size, about 3 significant digits;
    /// values beyond ±65504 become infinite) instead of float32. Segmentations are unaffected.
    /// </summary>
    public bool Float16 { get; init; }
}

/// <summary>
/// Blends sliding-window predictions (one per <see cref="GridSampler"/> tile) into one volume of the image's spatial
/// shape and writes it as an <c>.mla</c> file, slab by slab along the first spatial axis. Per voxel the output is
/// Σ wᵢ·pᵢ / Σ wᵢ over the tiles covering it (wᵢ the tile's Gaussian importance at that voxel, see
/// <see cref="GaussianImportance"/>), then argmax, softmax or nothing (<see cref="AssembledOutput"/>).
/// </summary>
/// <remarks>
/// <para>Memory: the accumulator holds only the rows (along the first spatial axis) that a tile not yet added still
/// touches and that are not yet written. A slab is written as soon as every tile overlapping it has been added, in steps
/// of the output's chunk length c₀ along that axis (so every chunk is compressed once, whole). Adding tiles in grid
/// order bounds the accumulator at (p₀ + c₀ − 1) rows of (C + 1) float32 planes of the other spatial axes, p₀ the
/// patch length; tiles added out of order make it grow to the rows between the first missing tile and the farthest added one.</para>
/// <para>The output goes to a temporary file beside the target (name starting with '.' and ending in <c>.tmp.mla</c>),
/// renamed over the target by <see cref="Complete"/>; disposing without completing deletes it.</para>
/// </remarks>
public sealed class PatchAssembler : IDisposable
{
    private readonly GridSampler _grid;
    private readonly int _classes;
    private readonly PatchAssemblerOptions _options;
    private readonly string _target;
    private readonly string _temp;
    private readonly float[] _weights;
    private readonly long[] _shape;       // spatial shape
    private readonly int _nd;
    private readonly long _plane;         // voxels per row (product of spatial axes 1..)
    private readonly int _slab;           // chunk length along the first spatial axis of the output
    private readonly bool[] _added;
    private readonly bool _channelAxis;
    private MLArrayFile? _out;
    private float[] _acc = [];            // [row][class][plane]
    private float[] _wsum = [];           // [row][plane]
    private long _base;                   // first row held (= rows written)
    private long _held;                   // rows held
    private int _firstMissing;
    private int _addedCount;
    private bool _completed;

    /// <summary>Starts an assembly writing to <paramref name="outputPath"/>.</summary>
    /// <param name="outputPath">The <c>.mla</c> to write (replaced atomically on <see cref="Complete"/>).</param>
    /// <param name="grid">The tiles the predictions come from (its image shape is the output's spatial shape).</param>
    /// <param name="classes">Channels per prediction (classes of a segmentation model, outputs of a regression model).</param>
    /// <param name="options">Output kind, weighting, geometry, layout, compression.</param>
    /// <exception cref="ArgumentException">Bad path or class count, or geometry that does not fit the grid.</exception>
    public PatchAssembler(string outputPath, GridSampler grid, int classes, PatchAssemblerOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        ArgumentNullException.ThrowIfNull(grid);
        OpenModes.CheckSuffix(outputPath);
        if (classes < 1)
            throw new ArgumentException($"classes must be at least 1, got {classes}.", nameof(classes));
        _options = options ?? new PatchAssemblerOptions();
        if (_options.Output == AssembledOutput.Segmentation && classes < 2)
            throw new ArgumentException("a segmentation (argmax) needs at least 2 classes; write Logits for a single-channel (regression) prediction.", nameof(classes));
        _grid = grid;
        _classes = classes;
        _shape = grid.ImageShape;
        _nd = _shape.Length;
        _plane = 1;
        for (int d = 1; d < _nd; d++) _plane = checked(_plane * _shape[d]);
        _weights = _options.Gaussian ? GaussianImportance.Compute(grid.PatchSize) : Enumerable.Repeat(1f, (int)grid[0].VoxelCount).ToArray();
        _added = new bool[grid.Count];
        _target = Path.GetFullPath(outputPath);
        _temp = Path.Combine(Path.GetDirectoryName(_target)!, $".{Path.GetFileName(_target)}.{Guid.NewGuid():N}.tmp.mla");
        _channelAxis = _options.Output != AssembledOutput.Segmentation && classes > 1;

        var (shape, dtype, create) = OutputSpec();
        OutputShape = shape;
        OutputDType = dtype;
        _out = MLArrayFile.Create(_temp, shape, dtype, create);
        try
        {
            _slab = _out.ChunkShape[_channelAxis ? 1 : 0];
        }
        catch
        {
            Abort();
            throw;
        }
    }

    /// <summary>The shape written: the spatial shape, preceded by a channel axis for float output with more than one channel.</summary>
    public long[] OutputShape { get; }

    /// <summary>The element type written.</summary>
    public DType OutputDType { get; }

    /// <summary>Rows along the first spatial axis already written.</summary>
    public long RowsWritten => _base;

    /// <summary>Largest number of accumulator bytes held so far (see the memory bound in the remarks).</summary>
    public long PeakAccumulatorBytes { get; private set; }

    /// <summary>
    /// Adds the prediction for <paramref name="patch"/>: <c>classes × patch voxels</c> floats, C order [class, spatial…]
    /// (logits, probabilities or regression values). Parts of the tile outside the image are ignored.
    /// </summary>
    /// <exception cref="ArgumentException">Wrong length, or a tile that is not from this grid.</exception>
    /// <exception cref="InvalidOperationException">The tile was already added, or the assembly is completed.</exception>
    public void Add(GridPatch patch, ReadOnlySpan<float> prediction)
    {
        long voxels = CheckPatch(patch);
        if (prediction.Length != _classes * voxels)
            throw new ArgumentException($"the prediction has {prediction.Length} values but {_classes} classes × {voxels} voxels need {_classes * voxels}.", nameof(prediction));
        Accumulate(patch, prediction, labels: default, useLabels: false);
    }

    /// <summary>
    /// Adds a label prediction for <paramref name="patch"/> (one label per voxel, C order): it counts as a one-hot score,
    /// so the blend is a Gaussian-weighted vote.
    /// </summary>
    /// <exception cref="ArgumentException">Wrong length, a label outside [0, classes), or a tile that is not from this grid.</exception>
    public void AddLabels<T>(GridPatch patch, ReadOnlySpan<T> labels) where T : unmanaged, IBinaryInteger<T>
    {
        long voxels = CheckPatch(patch);
        if (labels.Length != voxels)
            throw new ArgumentException($"the labels have {labels.Length} values but the tile has {voxels} voxels.", nameof(labels));
        var asInt = new int[labels.Length];
        for (int i = 0; i < labels.Length; i++)
        {
            int k = int.CreateSaturating(labels[i]);
            if ((uint)k >= (uint)_classes)
                throw new ArgumentException($"label {labels[i]} at tile voxel {i} is outside [0, {_classes}).", nameof(labels));
            asInt[i] = k;
        }
        Accumulate(patch, default, asInt, useLabels: true);
    }

    /// <summary>
    /// Writes the remaining rows and renames the output over the target path. Every tile of the grid must have been added.
    /// </summary>
    /// <exception cref="InvalidOperationException">Tiles are missing.</exception>
    public void Complete()
    {
        ObjectDisposedException.ThrowIf(_out is null, this);
        if (_addedCount != _grid.Count)
            throw new InvalidOperationException($"{_grid.Count - _addedCount} of {_grid.Count} tiles were not added (the first missing is tile {_firstMissing}); the output would have uncovered voxels.");
        Flush(_shape[0]);
        _out.Flush();
        _out.Dispose();
        _out = null;
        File.Move(_temp, _target, overwrite: true);
        _completed = true;
    }

    /// <summary>Releases the output; without <see cref="Complete"/> the temporary file is deleted and the target is untouched.</summary>
    public void Dispose()
    {
        if (!_completed) Abort();
    }

    private void Abort()
    {
        _out?.Dispose();
        _out = null;
        try
        {
            File.Delete(_temp);
        }
        catch (IOException)
        {
            // best effort: a leftover hidden temporary file is harmless
        }
        _acc = _wsum = [];
    }

    private (long[] Shape, DType DType, MLArrayCreateOptions Options) OutputSpec()
    {
        var geo = _options.GeometryFrom;
        string[] spatialLabels = DefaultSpatialLabels(_nd);
        var meta = new MLArrayMeta();
        double[]? spacing = null, origin = null;
        double[,]? direction = null, affine = null;
        if (geo is not null)
        {
            if (geo.SpatialNDim != _nd)
                throw new ArgumentException($"the geometry image has {geo.SpatialNDim} spatial axes but the grid has {_nd}.", "options");
            var sp = geo.Meta.Spatial;
            if (geo.AxisLabels is { } labels)
                spatialLabels = labels.Where(CaseAxes.IsSpatialLabel).ToArray();
            if (sp.Affine is not null) affine = geo.Affine?.ToArray();
            else
            {
                spacing = geo.Spacing?.ToArray();
                origin = geo.Origin?.ToArray();
                direction = geo.Direction?.ToArray();
            }
            meta = meta with { Spatial = new MetaSpatial { CoordSystem = sp.CoordSystem } };
        }
        DType dtype;
        long[] shape;
        string[]? axisLabels = geo?.AxisLabels is null ? null : spatialLabels;
        if (_options.Output == AssembledOutput.Segmentation)
        {
            dtype = _classes <= 256 ? DType.UInt8 : _classes <= 32768 ? DType.Int16 : DType.Int32;
            shape = (long[])_shape.Clone();
            meta = meta with { IsSeg = true };
        }
        else
        {
            dtype = _options.Float16 ? DType.Float16 : DType.Float32;
            shape = _channelAxis ? [_classes, .. _shape] : (long[])_shape.Clone();
            if (_channelAxis) axisLabels = ["channel", .. spatialLabels];
            meta = meta with { IsSeg = false };
        }
        var create = new MLArrayCreateOptions
        {
            Spacing = spacing, Origin = origin, Direction = direction, Affine = affine, AxisLabels = axisLabels, Meta = meta,
            Layout = _options.Layout ?? DefaultLayout(shape),
            Compression = _options.Compression,
        };
        return (shape, dtype, create);
    }

    /// <summary>The layout optimizer for the patch size (2-D/3-D); otherwise chunks of one patch (whole channel axis) in one block.</summary>
    private LayoutOptions DefaultLayout(long[] shape)
    {
        if (_nd is 2 or 3)
            return LayoutOptions.Patch(_grid.PatchSize);
        int[] chunk = shape.Select((s, d) => (int)Math.Min(s, d == 0 && _channelAxis ? s : _grid.PatchSize[d - (_channelAxis ? 1 : 0)])).ToArray();
        return LayoutOptions.Manual(chunk, chunk);
    }

    private static string[] DefaultSpatialLabels(int n) => n switch
    {
        1 => ["spatial_x"],
        2 => ["spatial_y", "spatial_x"],
        3 => ["spatial_z", "spatial_y", "spatial_x"],
        _ => Enumerable.Repeat("spatial", n).ToArray(),
    };

    private long CheckPatch(GridPatch patch)
    {
        ObjectDisposedException.ThrowIf(_out is null, this);
        if ((uint)patch.Index >= (uint)_grid.Count || patch.Start is null || patch.Size is null)
            throw new ArgumentException($"tile {patch.Index} is not part of this grid of {_grid.Count} tiles.", nameof(patch));
        var expect = _grid[patch.Index];
        if (!patch.Start.AsSpan().SequenceEqual(expect.Start) || !patch.Size.AsSpan().SequenceEqual(expect.Size))
            throw new ArgumentException($"tile {patch.Index} (start {string.Join(",", patch.Start)}, size {string.Join(",", patch.Size)}) does not match the grid's tile {patch.Index} (start {string.Join(",", expect.Start)}).", nameof(patch));
        if (_added[patch.Index])
            throw new InvalidOperationException($"tile {patch.Index} was already added.");
        return expect.VoxelCount;
    }

    private void Accumulate(GridPatch patch, ReadOnlySpan<float> prediction, int[]? labels, bool useLabels)
    {
        var start = patch.Start;
        var size = patch.Size;
        // the tile's part inside the image
        Span<long> lo = stackalloc long[_nd];
        Span<long> hi = stackalloc long[_nd];
        for (int d = 0; d < _nd; d++)
        {
            lo[d] = Math.Max(0, start[d]);
            hi[d] = Math.Min(_shape[d], start[d] + size[d]);
        }
        EnsureRows(hi[0]);
        long tileVoxels = patch.VoxelCount;
        Span<long> tileStrides = stackalloc long[_nd];
        Span<long> outStrides = stackalloc long[_nd];
        tileStrides[_nd - 1] = 1;
        outStrides[_nd - 1] = 1;
        for (int d = _nd - 2; d >= 0; d--)
        {
            tileStrides[d] = tileStrides[d + 1] * size[d + 1];
            outStrides[d] = outStrides[d + 1] * _shape[d + 1];
        }
        int line = (int)(hi[_nd - 1] - lo[_nd - 1]);
        // iterate over lines (all axes but the last) of the clipped box
        Span<long> idx = stackalloc long[_nd];
        lo.CopyTo(idx);
        var weights = _weights.AsSpan();
        while (true)
        {
            long t = 0, row = idx[0] - _base, o = 0;
            for (int d = 0; d < _nd; d++) t += (idx[d] - start[d]) * tileStrides[d];
            for (int d = 1; d < _nd; d++) o += idx[d] * outStrides[d];
            var w = weights.Slice((int)t, line);
            var ws = _wsum.AsSpan((int)(row * _plane + o), line);
            TensorPrimitives.Add(ws, w, ws);
            long accRow = row * _classes * _plane + o;
            if (!useLabels)
            {
                for (int c = 0; c < _classes; c++)
                {
                    var acc = _acc.AsSpan((int)(accRow + c * _plane), line);
                    TensorPrimitives.FusedMultiplyAdd(w, prediction.Slice((int)(c * tileVoxels + t), line), acc, acc);
                }
            }
            else
            {
                for (int i = 0; i < line; i++)
                    _acc[accRow + labels![t + i] * _plane + i] += w[i];
            }
            int k = _nd - 2;
            for (; k >= 0; k--)
            {
                if (++idx[k] < hi[k]) break;
                idx[k] = lo[k];
            }
            if (k < 0) break;
        }
        _added[patch.Index] = true;
        _addedCount++;
        while (_firstMissing < _grid.Count && _added[_firstMissing]) _firstMissing++;
        // rows before the first missing tile's start are final (grid order never decreases along axis 0)
        long final = _firstMissing < _grid.Count ? Math.Max(0, _grid.StartsAlong(0)[StartIndex0(_firstMissing)]) : _shape[0];
        if (final < _shape[0]) final = final / _slab * _slab;
        Flush(final);
    }

    /// <summary>Index of tile <paramref name="tile"/>'s start in the first axis's step list.</summary>
    private int StartIndex0(int tile)
    {
        long perRow = 1;
        for (int d = 1; d < _nd; d++) perRow *= _grid.StartsAlong(d).Count;
        return (int)(tile / perRow);
    }

    private void EnsureRows(long end)
    {
        long need = end - _base;
        if (need <= _held) return;
        long accLen = checked(need * _classes * _plane);
        if (accLen > Array.MaxLength)
            throw new InvalidOperationException($"the accumulator would need {accLen} floats; add tiles in grid order or use a smaller patch.");
        if (accLen > _acc.Length)
        {
            // in grid order the rows held never exceed p0 + c0 - 1: allocate that once
            long rows = Math.Max(need, Math.Min(_shape[0], _grid.PatchSize[0] + _slab - 1L));
            accLen = Math.Min(Array.MaxLength, rows * _classes * _plane);
            var acc = new float[accLen];
            var ws = new float[accLen / _classes];
            _acc.AsSpan(0, (int)(_held * _classes * _plane)).CopyTo(acc);
            _wsum.AsSpan(0, (int)(_held * _plane)).CopyTo(ws);
            _acc = acc;
            _wsum = ws;
        }
        _held = need;
        PeakAccumulatorBytes = Math.Max(PeakAccumulatorBytes, (long)(_acc.Length + _wsum.Length) * sizeof(float));
    }

    /// <summary>Writes rows [written, <paramref name="until"/>) and drops them from the accumulator.</summary>
    private void Flush(long until)
    {
        long rows = Math.Min(until, _base + _held) - _base;
        if (until >= _shape[0]) rows = _shape[0] - _base;
        if (rows <= 0) return;
        if (rows > _held)
            throw new InvalidOperationException($"rows {_base + _held}..{_base + rows} along the first spatial axis are not covered by any tile.");
        long voxels = rows * _plane;
        var wsum = _wsum.AsSpan(0, (int)voxels);
        if (wsum.IndexOf(0f) is var hole and >= 0)
            throw new InvalidOperationException($"voxel {hole} of rows {_base}..{_base + rows} is not covered by any tile.");
        var sel = new NdIndex[OutputShape.Length];
        for (int d = 0; d < sel.Length; d++) sel[d] = NdIndex.All;
        sel[_channelAxis ? 1 : 0] = NdIndex.Slice(_base, _base + rows);
        switch (OutputDType.Name)
        {
            case "|u1": WriteArgmax<byte>(rows, sel); break;
            case "<i2": WriteArgmax<short>(rows, sel); break;
            case "<i4": WriteArgmax<int>(rows, sel); break;
            default: WriteMean(rows, sel); break;
        }
        // drop the written rows
        long keep = _held - rows;
        _acc.AsSpan((int)(rows * _classes * _plane), (int)(keep * _classes * _plane)).CopyTo(_acc);
        _wsum.AsSpan((int)(rows * _plane), (int)(keep * _plane)).CopyTo(_wsum);
        _acc.AsSpan((int)(keep * _classes * _plane), (int)(rows * _classes * _plane)).Clear();
        _wsum.AsSpan((int)(keep * _plane), (int)(rows * _plane)).Clear();
        _held = keep;
        _base += rows;
    }

    private void WriteArgmax<T>(long rows, NdIndex[] sel) where T : unmanaged, IBinaryInteger<T>
    {
        var outBuf = new T[rows * _plane];
        for (long r = 0; r < rows; r++)
        {
            long a = r * _classes * _plane;
            for (long v = 0; v < _plane; v++)
            {
                int best = 0;
                float bestScore = _acc[a + v];
                for (int c = 1; c < _classes; c++)
                {
                    float s = _acc[a + c * _plane + v];
                    if (s > bestScore)
                    {
                        best = c;
                        bestScore = s;
                    }
                }
                outBuf[r * _plane + v] = T.CreateTruncating(best);
            }
        }
        _out!.Write<T>(sel, outBuf);
    }

    private void WriteMean(long rows, NdIndex[] sel)
    {
        // output order [class][row][plane]
        var outBuf = new float[_classes * rows * _plane];
        for (long r = 0; r < rows; r++)
        {
            var ws = _wsum.AsSpan((int)(r * _plane), (int)_plane);
            for (int c = 0; c < _classes; c++)
            {
                var acc = _acc.AsSpan((int)((r * _classes + c) * _plane), (int)_plane);
                TensorPrimitives.Divide(acc, ws, outBuf.AsSpan((int)((c * rows + r) * _plane), (int)_plane));
            }
        }
        if (_options.Output == AssembledOutput.Probabilities)
            Softmax(outBuf, rows * _plane);
        if (OutputDType.Code == DTypeCode.Float16)
        {
            var half = new Half[outBuf.Length];
            MLArray.Kernels.ElementConvert.SingleToHalf(outBuf, half); // vectorised
            _out!.Write<Half>(sel, half);
            return;
        }
        _out!.Write<float>(sel, outBuf);
    }

    private void Softmax(float[] values, long voxels)
    {
        for (long v = 0; v < voxels; v++)
        {
            float max = float.NegativeInfinity;
            for (int c = 0; c < _classes; c++) max = Math.Max(max, values[c * voxels + v]);
            double sum = 0;
            for (int c = 0; c < _classes; c++) sum += Math.Exp(values[c * voxels + v] - max);
            for (int c = 0; c < _classes; c++) values[c * voxels + v] = (float)(Math.Exp(values[c * voxels + v] - max) / sum);
        }
    }
}
