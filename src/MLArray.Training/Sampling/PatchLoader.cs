using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using MLArray.Training.Data;

namespace MLArray.Training.Sampling;

/// <summary>
/// Streams batches of patches from a <see cref="PatchDataset"/>: N worker threads plan samples (seeded, see
/// <see cref="PatchLoaderOptions"/>), read each patch straight from the files into a pooled batch buffer (only the
/// touched blocks are decoded, one decode context per worker), and hand the batches over in stream order through a
/// bounded prefetch queue. Batches are <see cref="IDisposable"/>: disposing returns the buffers, so the steady state
/// allocates no batch memory. The output is identical for identical seed, epoch and rank whatever the worker count.
/// </summary>
/// <typeparam name="TImage">Element type of image batches (e.g. float; stored values are converted).</typeparam>
/// <typeparam name="TSegmentation">Element type of segmentation batches: <c>short</c> holds any uint8/int8 label and the −1 padding; a narrower type (<c>sbyte</c>: half the bytes) is checked once per case against <c>meta.stats</c> or the class locations, and a label or pad value that does not fit is an error, never a wrapped value.</typeparam>
public sealed class PatchLoader<TImage, TSegmentation> : IAsyncEnumerable<PatchBatch<TImage, TSegmentation>>, IDisposable
    where TImage : unmanaged, INumberBase<TImage>
    where TSegmentation : unmanaged, INumberBase<TSegmentation>
{
    private readonly PatchDataset _dataset;
    private readonly PatchLoaderOptions _o;
    private readonly PatchSampler _sampler;
    private readonly long[] _imageShape;
    private readonly long[] _segShape;
    private readonly bool _hasSeg;
    private readonly int _channels;
    private readonly long _imagePer, _segPer;
    private readonly Stack<PatchBatch<TImage, TSegmentation>> _pool = new();
    private readonly ConcurrentDictionary<string, bool> _unindexed = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long[]> _absentLabels = new(StringComparer.Ordinal);
    private readonly long[] _weightedLabels; // labels > 0 with a positive LabelWeights weight, ascending
    private readonly int[] _weightsChecked; // per case: 1 once its weighted labels were looked up
    private readonly TImage[]? _fixedScale, _fixedBias;
    /// <summary>True when <typeparamref name="TImage"/> holds integers only (its values would be rounded by normalisation).</summary>
    private static readonly bool IntegerImage = double.CreateTruncating(TImage.CreateSaturating(0.5)) != 0.5;
    private readonly int[] _caseChecked; // per case: 1 once its image values and segmentation labels are known to fit TImage and TSegmentation
    private readonly bool[] _remoteCases;
    private readonly int _readAhead; // batches fetched ahead beyond the one read (remote datasets), −1: none
    private int _created;
    private int _outstanding;
    private int _running;

    /// <summary>Creates a loader over <paramref name="dataset"/> (not owned: dispose the dataset yourself).</summary>
    /// <exception cref="ArgumentException">Inconsistent options (patch rank, sizes, rank ≥ world size, normalisation, normalisation into an integer <typeparamref name="TImage"/>, a pad value <typeparamref name="TImage"/> or <typeparamref name="TSegmentation"/> cannot hold), or
    /// <see cref="PatchLoaderOptions.LabelWeights"/> weighting a label no case holds (checked when the dataset is local and fits the case cache).</exception>
    public PatchLoader(PatchDataset dataset, PatchLoaderOptions options)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(options);
        _dataset = dataset;
        _o = options;
        _sampler = new PatchSampler(options, dataset.Count);
        if (options.Workers < 1) throw new ArgumentOutOfRangeException(nameof(options), options.Workers, "Workers must be ≥ 1.");
        if (options.PrefetchDepth < 1) throw new ArgumentOutOfRangeException(nameof(options), options.PrefetchDepth, "PrefetchDepth must be ≥ 1.");
        if (options.RemoteReadAheadBatches < 0) throw new ArgumentOutOfRangeException(nameof(options), options.RemoteReadAheadBatches, "RemoteReadAheadBatches must be ≥ 0 (0: no read-ahead).");
        if (options.SegmentationPadMode == PadMode.Edge) throw new ArgumentException("segmentations are padded with a constant (or not at all), not by edge replication.");
        using (var first = dataset.Acquire(0))
        {
            var img = first.Case.Image;
            if (img.SpatialAxes.Length != _sampler.ReadSize.Length)
                throw new ArgumentException($"the patch has {_sampler.ReadSize.Length} axes but case '{first.Info.Id}' has {img.SpatialAxes.Length} spatial axes.");
            _channels = checked((int)img.Channels);
        }
        _hasSeg = dataset.Cases.Any(c => c.SegmentationPath is not null);
        _caseChecked = new int[dataset.Count];
        if (_hasSeg && options.SegmentationPadMode == PadMode.Constant)
        {
            if (!Holds<TSegmentation>(options.SegmentationPadValue))
                throw new ArgumentException(
                    $"the segmentation pad value {options.SegmentationPadValue} does not fit the segmentation batch type {typeof(TSegmentation).Name}; use a signed type (e.g. short or sbyte) or another SegmentationPadValue.");
        }
        if (IntegerImage && options.Normalization != NormalizationMode.None)
            throw new ArgumentException(
                $"{options.Normalization} normalisation needs a floating-point image batch type (float, double or Half): {typeof(TImage).Name} would round the normalised values (and the scale 1/std) to integers.");
        if (IntegerImage && options.ImagePadMode == PadMode.Constant && !Holds<TImage>(options.ImagePadValue))
            throw new ArgumentException(
                $"the image pad value {options.ImagePadValue} does not fit the image batch type {typeof(TImage).Name}; use another ImagePadValue or a floating-point image type.");
        _remoteCases = dataset.Cases.Select(c => PatchDataset.IsRemote(c.ImagePath) || PatchDataset.IsRemote(c.SegmentationPath)).ToArray();
        _readAhead = _remoteCases.Contains(true) ? options.RemoteReadAheadBatches : -1;
        _weightedLabels = options.LabelWeights?.Where(w => w.Key > 0 && w.Value > 0).Select(w => w.Key).Order().ToArray() ?? [];
        _weightsChecked = new int[dataset.Count];
        if (_weightedLabels.Length > 0 && dataset.Count <= dataset.Options.CacheCapacity && !_remoteCases.Contains(true))
            CheckWeightedLabelsExist(dataset, _weightedLabels);
        long spatial = _sampler.ReadSize.Aggregate(1L, (a, b) => a * b);
        _imagePer = spatial * _channels;
        _segPer = spatial;
        _imageShape = [options.BatchSize, _channels, .. _sampler.ReadSize];
        _segShape = [options.BatchSize, 1, .. _sampler.ReadSize];
        if (options.Normalization == NormalizationMode.ZScore)
        {
            var mean = options.Mean ?? throw new ArgumentException("NormalizationMode.ZScore needs Mean and Std.");
            var std = options.Std ?? throw new ArgumentException("NormalizationMode.ZScore needs Mean and Std.");
            if ((mean.Length != 1 && mean.Length != _channels) || std.Length != mean.Length)
                throw new ArgumentException($"Mean and Std need one value or one per channel ({_channels}); got {mean.Length} and {std.Length}.");
            _fixedScale = new TImage[_channels];
            _fixedBias = new TImage[_channels];
            for (int c = 0; c < _channels; c++) SetZScore(mean[mean.Length == 1 ? 0 : c], std[std.Length == 1 ? 0 : c], "Std", out _fixedScale[c], out _fixedBias[c]);
        }
    }

    /// <summary>Cases of this rank per epoch.</summary>
    public long CasesPerEpoch => _sampler.ShardSize;

    /// <summary>Cases met so far that have a segmentation but no stored class locations (foreground sampling fell back to uniform for them).</summary>
    public IReadOnlyCollection<string> CasesWithoutClassLocations => _unindexed.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>
    /// Cases met so far in which labels that <see cref="PatchLoaderOptions.LabelWeights"/> weights (&gt; 0, positive
    /// weight) have no voxel (no class location; a case without segmentation has none), with those labels: their
    /// samples chose among the labels the case holds. Cases without class locations are in
    /// <see cref="CasesWithoutClassLocations"/> instead. Ordered by case id.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<long>> CasesWithoutWeightedLabels
    {
        get
        {
            var cases = new SortedDictionary<string, IReadOnlyList<long>>(StringComparer.Ordinal);
            foreach (var (id, labels) in _absentLabels) cases[id] = labels.AsReadOnly(); // a view: the caller cannot change the record
            return cases;
        }
    }

    /// <summary>
    /// A weighted label that no case holds can never be honoured (a typo, or labels of another dataset): an error at
    /// construction when every case's class locations are at hand cheaply, i.e. the dataset is local and fits the
    /// case cache (its cases are opened and kept for the first epoch anyway). Larger or remote datasets are not opened
    /// up front; <see cref="CasesWithoutWeightedLabels"/> and <see cref="PatchLoaderOptions.Log"/> report as cases are met.
    /// Unknown (a case without class locations, or unreadable: reported when met): no check.
    /// </summary>
    private static void CheckWeightedLabelsExist(PatchDataset dataset, long[] weighted)
    {
        var present = new SortedSet<long>();
        for (int i = 0; i < dataset.Count; i++)
        {
            try
            {
                using var lease = dataset.Acquire(i);
                if (lease.Case.Segmentation is null) continue;
                if (lease.ClassLocations is not { } l) return;
                for (int j = 0; j < l.Labels.Count; j++)
                    if (l.CoordinateCount(j) > 0) present.Add(l.Labels[j]);
            }
            catch (Exception e) when (e is MLArrayException or IOException or UnauthorizedAccessException)
            {
                return;
            }
        }
        var missing = weighted.Where(l => !present.Contains(l)).ToArray();
        if (missing.Length > 0)
            throw new ArgumentException(
                $"LabelWeights weights label{(missing.Length > 1 ? "s" : "")} {string.Join(", ", missing)}, which no case of the dataset holds (the class locations of its {dataset.Count} cases list " +
                (present.Count == 0 ? "no labels" : $"labels {string.Join(", ", present)}") + "): those samples would silently choose among the other labels; remove the label or fix it.");
    }

    /// <summary>Once per case: records (and logs) the weighted labels it has no voxel of.</summary>
    private void NoteAbsentLabels(OpenCase c, CaseInfo info, ClassLocations? locations)
    {
        if (Interlocked.Exchange(ref _weightsChecked[c.Index], 1) != 0) return;
        if (c.Segmentation is not null && locations is null) return; // unknown: listed in CasesWithoutClassLocations
        var absent = _weightedLabels.Where(label => locations is null || !HasVoxels(locations, label)).ToArray();
        if (absent.Length == 0 || !_absentLabels.TryAdd(info.Id, absent)) return;
        _o.Log?.Invoke($"case '{info.Id}' has no voxel of weighted label{(absent.Length > 1 ? "s" : "")} {string.Join(", ", absent)}: its samples choose among the labels it holds (LabelWeights).");

        static bool HasVoxels(ClassLocations l, long label)
        {
            for (int i = 0; i < l.Labels.Count; i++)
                if (l.Labels[i] == label) return l.CoordinateCount(i) > 0;
            return false;
        }
    }

    /// <summary>Batch buffers allocated so far (the pool's size).</summary>
    public int BuffersCreated => Volatile.Read(ref _created);

    /// <summary>Batch buffers currently out of the pool (being filled, queued, or held by the consumer).</summary>
    public int BuffersOutstanding => Volatile.Read(ref _outstanding);

    /// <summary>Releases the pooled buffers.</summary>
    public void Dispose()
    {
        lock (_pool) _pool.Clear();
    }

    private PatchBatch<TImage, TSegmentation> Rent()
    {
        PatchBatch<TImage, TSegmentation>? b = null;
        lock (_pool)
            if (_pool.Count > 0) b = _pool.Pop();
        if (b is null)
        {
            b = new PatchBatch<TImage, TSegmentation>(_imageShape, _segShape, _hasSeg, Return);
            Interlocked.Increment(ref _created);
        }
        Interlocked.Increment(ref _outstanding);
        b.MarkRented();
        return b;
    }

    // The buffers a steady stream needs (the prefetch depth, plus the one the consumer holds) are made and touched
    // before the workers start, so neither their allocation (a collection of the large-object budget) nor the
    // first-touch page faults land in the middle of an epoch.
    private void Prefill(long wanted)
    {
        while (Volatile.Read(ref _created) < wanted)
        {
            var b = new PatchBatch<TImage, TSegmentation>(_imageShape, _segShape, _hasSeg, Return);
            b.ImageSpan.Clear();
            b.SegSpan.Clear();
            Interlocked.Increment(ref _created);
            lock (_pool) _pool.Push(b);
        }
    }

    private void Return(PatchBatch<TImage, TSegmentation> b)
    {
        Interlocked.Decrement(ref _outstanding);
        lock (_pool) _pool.Push(b);
    }

    /// <summary>
    /// Starts the workers and yields batches in stream order. Cancelling (or leaving the loop) stops the workers and
    /// returns every queued buffer; batches already yielded return when disposed. One enumeration at a time.
    /// </summary>
    /// <exception cref="DatasetCaseException">A case could not be read, its stored image type does not fit an integer <typeparamref name="TImage"/>, or its segmentation labels do not fit (or are not known to fit) <typeparamref name="TSegmentation"/> (with <see cref="PatchLoaderOptions.SkipUnreadable"/> off).</exception>
    public async IAsyncEnumerator<PatchBatch<TImage, TSegmentation>> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _running, 1) == 1)
            throw new InvalidOperationException("this loader is already being enumerated; create one loader per consumer.");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var run = new Run(this, stop.Token);
        // The consumer waits without a token: a cancellable WaitToReadAsync allocates a waiter (and a registration)
        // every time the queue is empty, i.e. per batch when the consumer is faster than the workers. Cancelling
        // completes the queue instead (one registration per enumeration), and the loop below throws.
        using var wake = cancellationToken.UnsafeRegister(static r => ((Run)r!).Output.Writer.TryComplete(), run);
        try
        {
            Prefill(Math.Min(_o.PrefetchDepth + 1, _o.BatchCount ?? long.MaxValue));
            run.Start();
            var reader = run.Output.Reader;
            while (await reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
            {
                while (reader.TryRead(out var batch))
                {
                    run.Permits.Release();
                    if (cancellationToken.IsCancellationRequested)
                    {
                        batch.Dispose();
                        cancellationToken.ThrowIfCancellationRequested();
                    }
                    yield return batch;
                }
            }
            cancellationToken.ThrowIfCancellationRequested();
        }
        finally
        {
            stop.Cancel();
            run.Join();
            run.Drain();
            Volatile.Write(ref _running, 0);
        }
    }

    /// <summary>One enumeration: workers, the prefetch permits, the reorder ring and the output queue.</summary>
    private sealed class Run
    {
        private readonly PatchLoader<TImage, TSegmentation> _l;
        private readonly CancellationToken _ct;
        private readonly Thread[] _threads;
        private readonly object[] _ring;
        private readonly object _gate = new();
        private long _next;
        private long _published;
        private long _aheadNext; // the next batch whose patches are not fetched ahead yet (remote datasets)
        private readonly long _count;

        public Run(PatchLoader<TImage, TSegmentation> loader, CancellationToken ct)
        {
            _l = loader;
            _ct = ct;
            int depth = loader._o.PrefetchDepth;
            Permits = new SemaphoreSlim(depth, depth);
            _ring = new object[depth];
            _count = loader._o.BatchCount ?? long.MaxValue;
            Output = Channel.CreateUnbounded<PatchBatch<TImage, TSegmentation>>(new UnboundedChannelOptions { SingleReader = true });
            _threads = new Thread[loader._o.Workers];
            for (int i = 0; i < _threads.Length; i++)
                _threads[i] = new Thread(Work) { IsBackground = true, Name = $"PatchLoader worker {i}" };
        }

        public SemaphoreSlim Permits { get; }
        public Channel<PatchBatch<TImage, TSegmentation>> Output { get; }

        public void Start()
        {
            if (_count == 0)
            {
                Output.Writer.TryComplete();
                return;
            }
            foreach (var t in _threads) t.Start();
        }

        public void Join()
        {
            foreach (var t in _threads)
                if ((t.ThreadState & ThreadState.Unstarted) == 0) t.Join(); // a flags value: background threads are Unstarted | Background
        }

        // Returns every batch still queued or waiting in the ring to the pool.
        public void Drain()
        {
            while (Output.Reader.TryRead(out var b)) b.Dispose();
            lock (_gate)
                for (int i = 0; i < _ring.Length; i++)
                {
                    if (_ring[i] is PatchBatch<TImage, TSegmentation> b) b.Dispose();
                    _ring[i] = null!;
                }
        }

        private void Work()
        {
            using var worker = new Worker(_l);
            while (!_ct.IsCancellationRequested)
            {
                try
                {
                    Permits.Wait(_ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                long k = Interlocked.Increment(ref _next) - 1;
                if (k >= _count)
                {
                    Permits.Release();
                    return;
                }
                if (_l._readAhead >= 0)
                    ReadAhead(worker, k);
                var batch = _l.Rent();
                object result;
                try
                {
                    batch.Index = k;
                    worker.Fill(batch, k);
                    result = batch;
                }
                catch (Exception e)
                {
                    batch.Dispose();
                    result = e;
                }
                Publish(k, result);
            }
        }

        // Remote datasets: fetches the patches of the batches up to k + RemoteReadAheadBatches (batch k itself included)
        // that no worker has claimed yet, so their requests are in flight together while the workers decode.
        private void ReadAhead(Worker worker, long k)
        {
            long upTo = Math.Min(_count - 1, k + _l._readAhead);
            for (long a = Volatile.Read(ref _aheadNext); a <= upTo && !_ct.IsCancellationRequested; a = Volatile.Read(ref _aheadNext))
                if (Interlocked.CompareExchange(ref _aheadNext, a + 1, a) == a)
                    worker.Prefetch(a, _ct);
        }

        // Puts batch k (or its error) into the ring and moves every batch that is next in stream order to the output.
        private void Publish(long k, object result)
        {
            lock (_gate)
            {
                _ring[k % _ring.Length] = result;
                while (_published < _count && _ring[_published % _ring.Length] is { } ready)
                {
                    _ring[_published % _ring.Length] = null!;
                    _published++;
                    if (ready is Exception e)
                    {
                        Output.Writer.TryComplete(e);
                        return;
                    }
                    if (_ct.IsCancellationRequested || !Output.Writer.TryWrite((PatchBatch<TImage, TSegmentation>)ready))
                        ((PatchBatch<TImage, TSegmentation>)ready).Dispose();
                }
                if (_published == _count) Output.Writer.TryComplete();
            }
        }
    }

    /// <summary>Per-thread state: a patch reader (scratch buffers, decode contexts) and the per-channel scaling of the current case.</summary>
    private sealed class Worker : IDisposable
    {
        private readonly PatchLoader<TImage, TSegmentation> _l;
        private readonly PatchReader _reader = new();
        private readonly TImage[] _scale, _bias;
        private readonly long[] _start, _aheadStart;

        public Worker(PatchLoader<TImage, TSegmentation> loader)
        {
            _l = loader;
            _scale = new TImage[loader._channels];
            _bias = new TImage[loader._channels];
            _start = new long[loader._sampler.ReadSize.Length];
            _aheadStart = new long[_start.Length];
        }

        /// <summary>
        /// Plans the samples of batch <paramref name="k"/> as <see cref="Fill"/> will (first attempt) and fetches the
        /// in-bounds boxes of the remote cases ahead. Failures are left to the read, which reports them with the case.
        /// </summary>
        public void Prefetch(long k, CancellationToken ct)
        {
            var o = _l._o;
            for (int i = 0; i < o.BatchSize; i++)
            {
                var (caseIndex, epoch, pos) = _l._sampler.CaseOf(k * o.BatchSize + i);
                if (!_l._remoteCases[caseIndex])
                    continue;
                try
                {
                    using var lease = _l._dataset.Acquire(caseIndex);
                    var c = lease.Case;
                    PlanSample(c, _l._dataset.Cases[caseIndex], i, epoch, pos, 0, _aheadStart, out _);
                    Ahead(c.Image, ct);
                    if (c.Segmentation is { } seg)
                        Ahead(seg, ct);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // Planning ahead runs on the worker thread outside the batch's error handling: whatever fails here
                    // (a case that cannot be opened, a bad patch size, an Opener's own exception) is met again by the
                    // read of this sample, which reports it with the case (or skips the case when asked).
                }
            }
        }

        private void Ahead(CaseArray array, CancellationToken ct)
        {
            var size = _l._sampler.ReadSize;
            var sel = new NdIndex[array.Shape.Length];
            for (int d = 0; d < sel.Length; d++)
                sel[d] = NdIndex.Slice(0, array.Shape[d]); // channel axes whole
            for (int j = 0; j < array.SpatialAxes.Length; j++)
            {
                int d = array.SpatialAxes[j];
                long lo = Math.Max(0, _aheadStart[j]), hi = Math.Min(array.Shape[d], _aheadStart[j] + size[j]);
                if (lo >= hi)
                    return; // all padding
                sel[d] = NdIndex.Slice(lo, hi);
            }
            var fetch = array.File.PrefetchAsync([sel], ct);
            if (!fetch.IsCompleted)
                _ = fetch.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        /// <summary>The read box of sample <paramref name="i"/> (seeded by epoch, position and attempt): its start into <paramref name="start"/>; returns the label it was centred on.</summary>
        private long PlanSample(OpenCase c, CaseInfo info, int i, long epoch, long pos, int attempt, Span<long> start, out bool forced)
        {
            var o = _l._o;
            var rng = _l._sampler.SampleRng(epoch, pos, attempt);
            forced = _l._sampler.Forced(i, ref rng);
            ClassLocations? locations = null;
            if (forced || o.LabelWeights is not null)
            {
                locations = c.Locations;
                if (locations is null && c.Segmentation is not null && _l._unindexed.TryAdd(info.Id, true))
                    o.Log?.Invoke($"case '{info.Id}' has no class locations: foreground sampling falls back to uniform for it (run 'mlarray index').");
                if (_l._weightedLabels.Length > 0 && Volatile.Read(ref _l._weightsChecked[c.Index]) == 0)
                    _l.NoteAbsentLabels(c, info, locations);
            }
            bool padding = o.ImagePadMode != PadMode.None && (c.Segmentation is null || o.SegmentationPadMode != PadMode.None);
            return _l._sampler.Plan(ref rng, forced, c.Image.SpatialShape, locations, padding, start, info.Id);
        }

        public void Dispose() => _reader.Dispose();

        public void Fill(PatchBatch<TImage, TSegmentation> batch, long k)
        {
            var o = _l._o;
            var sampler = _l._sampler;
            int n = _l._dataset.Count;
            for (int i = 0; i < o.BatchSize; i++)
            {
                long sample = k * o.BatchSize + i;
                var (caseIndex, epoch, pos) = sampler.CaseOf(sample);
                for (int attempt = 0; ; attempt++)
                {
                    try
                    {
                        FillSample(batch, i, caseIndex, epoch, pos, attempt);
                        break;
                    }
                    catch (Exception e) when (o.SkipUnreadable && e is MLArrayException && attempt + 1 < n)
                    {
                        string id = _l._dataset.Cases[caseIndex].Id;
                        o.Log?.Invoke($"skipping unreadable case '{id}' (batch {k}, sample {i}): {e.Message}");
                        caseIndex = (caseIndex + 1) % n;
                    }
                }
            }
        }

        private void FillSample(PatchBatch<TImage, TSegmentation> batch, int i, int caseIndex, long epoch, long pos, int attempt)
        {
            var o = _l._o;
            var info = _l._dataset.Cases[caseIndex];
            try
            {
                using var lease = _l._dataset.Acquire(caseIndex);
                var c = lease.Case;
                if (c.Image.Channels != _l._channels || c.Image.SpatialAxes.Length != _start.Length)
                    throw new DatasetCaseException(info.Id, $"case '{info.Id}' has {c.Image.Channels} channels and {c.Image.SpatialAxes.Length} spatial axes; the batch expects {_l._channels} and {_start.Length} (as the first case).");
                if (Volatile.Read(ref _l._caseChecked[caseIndex]) == 0)
                {
                    CheckImageType(info.Id, c);
                    if (c.Segmentation is not null) CheckLabels(info.Id, c);
                    Volatile.Write(ref _l._caseChecked[caseIndex], 1);
                }
                long label = PlanSample(c, info, i, epoch, pos, attempt, _start, out bool forced);
                var size = _l._sampler.ReadSize;

                var image = batch.ImageSpan.Slice((int)(i * _l._imagePer), (int)_l._imagePer);
                ReadOnlySpan<TImage> scale = default, bias = default;
                if (o.Normalization == NormalizationMode.ZScore)
                {
                    scale = _l._fixedScale;
                    bias = _l._fixedBias;
                }
                else if (o.Normalization == NormalizationMode.ZScoreFromStats)
                {
                    var stats = c.Image.File.Meta.Stats;
                    if (stats.Mean is not { } mean || stats.Std is not { } std)
                        throw new DatasetCaseException(info.Id, $"case '{info.Id}' has no meta.stats mean and std for z-score normalisation; compute them or give Mean and Std.");
                    SetZScore(mean.ToDouble(), std.ToDouble(), $"case '{info.Id}' meta.stats.std", out _scale[0], out _bias[0]);
                    for (int ch = 1; ch < _scale.Length; ch++) (_scale[ch], _bias[ch]) = (_scale[0], _bias[0]);
                    scale = _scale;
                    bias = _bias;
                }
                _reader.Read(c.Image, _start, size, image, o.ImagePadMode, TImage.CreateSaturating(o.ImagePadValue), new ChannelTransform<TImage>(scale, bias));
                if (_l._hasSeg)
                {
                    var seg = batch.SegSpan.Slice((int)(i * _l._segPer), (int)_l._segPer);
                    var pad = TSegmentation.CreateSaturating(o.SegmentationPadValue);
                    if (c.Segmentation is null) seg.Fill(pad);
                    else _reader.Read(c.Segmentation, _start, size, seg, o.SegmentationPadMode, pad);
                }
                var s = batch.SampleAt(i);
                s.CaseIndex = caseIndex;
                s.CaseId = info.Id;
                s.Epoch = epoch;
                s.ForcedForeground = o.LabelWeights is null ? forced : label > 0;
                s.Label = label;
                _start.CopyTo(s.StartArray, 0);
            }
            catch (DatasetCaseException)
            {
                throw;
            }
            catch (Exception e) when (e is MLArrayException or IOException or UnauthorizedAccessException)
            {
                throw new DatasetCaseException(info.Id, $"case '{info.Id}' ('{info.ImagePath}') could not be read: {e.Message}", e);
            }
        }
    }

    /// <summary>
    /// Checks once per case that the segmentation's labels fit <typeparamref name="TSegmentation"/> (a narrower batch
    /// type, e.g. <c>sbyte</c> for a uint8 segmentation, halves the bytes written per patch): always when the stored
    /// type's range fits; else by the range in <c>meta.stats</c> (min and max) or, for unsigned stored types, by the
    /// largest label of the class locations. A label that does not fit, or labels that nothing tells, are an error
    /// naming the case, never a silently wrapped label. (The stats and the class locations are trusted as stored: they
    /// describe the file they are in.)
    /// </summary>
    internal static void CheckLabels(string caseId, OpenCase c)
    {
        var segmentation = c.Segmentation!;
        var (lo, hi) = RangeOf<TSegmentation>();
        var dtype = segmentation.DType;
        var (storedLo, storedHi, unsigned) = StoredRange(dtype);
        if (storedLo >= lo && storedHi <= hi) return;
        // (names only in the messages: a check that passes allocates nothing, as the steady state must not)
        string Type() => typeof(TSegmentation).Name;
        string Stored() => dtype.Code.ToString().ToLowerInvariant();
        var stats = segmentation.File.Meta.Stats;
        string source;
        double min, max;
        if (stats.Min is { } smin && stats.Max is { } smax && double.IsFinite(smin.ToDouble()) && double.IsFinite(smax.ToDouble()))
        {
            (min, max, source) = (smin.ToDouble(), smax.ToDouble(), "meta.stats min/max");
        }
        else if (unsigned && c.Locations is { } known)
        {
            (min, max, source) = (0, known.Labels.Count > 0 ? known.Labels[^1] : 0, "largest label of the class locations");
        }
        else
        {
            throw new DatasetCaseException(caseId,
                $"case '{caseId}': its segmentation is stored as {Stored()}, whose values may not fit the segmentation batch type {Type()} [{lo}, {hi}], " +
                (unsigned
                    ? "and neither meta.stats (min and max) nor class locations tell its labels; index the dataset ('mlarray index'), store meta.stats min and max, "
                    : "and no meta.stats (min and max) tell its labels (class locations list only labels > 0); store meta.stats min and max ") +
                "or use a wider segmentation type (e.g. short).");
        }
        if (min < lo || max > hi)
            throw new DatasetCaseException(caseId,
                $"case '{caseId}': its segmentation ({Stored()}) holds labels in [{min}, {max}] ({source}), which do not fit the segmentation batch type {Type()} [{lo}, {hi}]; use a wider segmentation type (e.g. short).");
    }

    /// <summary>
    /// An integer image batch type (<c>short</c>, <c>byte</c>, ...) holds the values as stored only when the stored
    /// type's whole range fits it: checked once per case (a case stored as float32 or int32 in a <c>short</c> batch
    /// is an error naming the case, never silently truncated or wrapped values). Floating-point batch types take any
    /// stored type.
    /// </summary>
    internal static void CheckImageType(string caseId, OpenCase c)
    {
        if (!IntegerImage) return;
        var dtype = c.Image.DType;
        var (lo, hi) = RangeOf<TImage>();
        var (storedLo, storedHi, _) = StoredRange(dtype);
        if (storedLo >= lo && storedHi <= hi) return;
        throw new DatasetCaseException(caseId,
            $"case '{caseId}': its image is stored as {dtype.Code.ToString().ToLowerInvariant()}, whose values do not all fit the image batch type {typeof(TImage).Name} [{lo}, {hi}]; " +
            "use a floating-point image type (e.g. float) or an integer type at least as wide as the stored one.");
    }

    private static (double Lo, double Hi) RangeOf<T>() where T : INumberBase<T> =>
        (double.CreateTruncating(T.CreateSaturating(double.NegativeInfinity)), double.CreateTruncating(T.CreateSaturating(double.PositiveInfinity)));

    /// <summary>True when <typeparamref name="T"/> holds <paramref name="value"/> exactly.</summary>
    private static bool Holds<T>(double value) where T : INumberBase<T>
    {
        double held = double.CreateTruncating(T.CreateSaturating(value));
        return held == value || (double.IsNaN(value) && double.IsNaN(held));
    }

    /// <summary>The range of values a stored dtype can hold (±∞ for floating-point and complex types) and whether it is unsigned.</summary>
    private static (double Lo, double Hi, bool Unsigned) StoredRange(DType dtype) =>
        dtype.Code switch
        {
            DTypeCode.Bool => (0d, 1d, true),
            DTypeCode.UInt8 => (byte.MinValue, byte.MaxValue, true),
            DTypeCode.Int8 => (sbyte.MinValue, sbyte.MaxValue, false),
            DTypeCode.UInt16 => (ushort.MinValue, ushort.MaxValue, true),
            DTypeCode.Int16 => (short.MinValue, short.MaxValue, false),
            DTypeCode.UInt32 => (uint.MinValue, uint.MaxValue, true),
            DTypeCode.Int32 => (int.MinValue, int.MaxValue, false),
            DTypeCode.UInt64 => (0d, ulong.MaxValue, true),
            DTypeCode.Int64 => ((double)long.MinValue, (double)long.MaxValue, false),
            _ => (double.NegativeInfinity, double.PositiveInfinity, false),
        };

    private static void SetZScore(double mean, double std, string what, out TImage scale, out TImage bias)
    {
        if (!(std > 0) || !double.IsFinite(mean))
            throw new ArgumentException($"{what} must be a positive finite number for z-score normalisation (got mean {mean}, std {std}).");
        scale = TImage.CreateSaturating(1 / std);
        bias = TImage.CreateSaturating(-mean / std);
    }
}
