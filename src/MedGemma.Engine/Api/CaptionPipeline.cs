namespace MedGemma.Engine.Api;

/// <summary>Which batch a <see cref="CaptionPipeline{TTag}"/> is about to generate: its first item's 0-based position in the stream, and its size.</summary>
public sealed record CaptionBatchInfo(int First, int Count, string FirstImagePath);

/// <summary>
/// Captions a stream of requests in batches, and reads and preprocesses the next batch's images on other cores while
/// the model generates the current one. On a GPU the two take about as long (a batch of 8 large JPEGs: ~0.8 s of one
/// core to decode and resize, ~0.6 s to caption), so one after the other would leave the GPU idle half the time.
/// Outcomes come out in input order, each with the caller's tag. One caller thread: generation runs on it (the
/// device's state, CUDA graphs included, stays on one thread); only the image preparation runs elsewhere.
/// Preparing ahead holds a full batch back until the next one is complete. That pays while the caller supplies
/// requests faster than batches are captioned; when it supplies them slowly (a folder watcher, a download), each
/// caption would wait for the next batch's images to arrive. So a full batch is generated at once when it is the
/// first, or when the caller took longer to supply it than <see cref="UpstreamBoundFactor"/> times what the last batch
/// cost to prepare and generate: prepared ahead or not, the stream then runs at the caller's pace.
/// </summary>
public sealed class CaptionPipeline<TTag> : IDisposable
{
    readonly MedGemmaSession session;
    readonly CaptionSettings settings;
    readonly int batchSize;
    readonly CancellationToken cancellationToken;
    // Cancels preparations still running when the pipeline is dropped (an error, Ctrl+C): no file is read after Dispose.
    readonly CancellationTokenSource stop;
    readonly List<(CaptionRequest Request, TTag Tag)> queue = new();
    readonly Queue<Pending> pending = new();
    int queued;
    bool disposed;
    // The caller's time since this pipeline last returned to it, summed over the queued batch's requests.
    TimeSpan upstream;
    TimeSpan? returnedAt;
    // What the last generated batch cost: its preparation plus its generation. Null before the first.
    TimeSpan? lastBatchCost;

    /// <summary>
    /// Past this, preparing ahead gains the stream little: generating at once adds one preparation (at most one batch
    /// cost) to a cycle already longer than this many batch costs, under 20 % of a pace the caller sets anyway, and
    /// spares each caption the wait for the next batch.
    /// </summary>
    const double UpstreamBoundFactor = 4;

    static readonly long Origin = System.Diagnostics.Stopwatch.GetTimestamp();

    sealed class Pending(int first, IReadOnlyList<(CaptionRequest Request, TTag Tag)> items)
    {
        public int First { get; } = first;
        public IReadOnlyList<(CaptionRequest Request, TTag Tag)> Items { get; } = items;
        public Task<PreparedCaptionBatch> Prepared { get; set; } = null!;
        // Written by the preparing thread before Prepared completes; read after it.
        public TimeSpan PrepareTime { get; set; }
    }

    public CaptionPipeline(MedGemmaSession session, CaptionSettings settings, int batchSize, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(settings);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be at least 1.");
        settings.ImageOptions?.Validate();   // now, not when the first batch's turn comes
        this.session = session;
        this.settings = settings;
        this.batchSize = batchSize;
        this.cancellationToken = cancellationToken;
        stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    }

    /// <summary>
    /// How many batches may be prepared while one is generated (default 1). 0 prepares each batch just before
    /// generating it, on the caller's thread. Each prepared batch holds its pixels (~9.6 MB per image) until generated.
    /// </summary>
    public int PrepareAhead { get; init; } = 1;

    /// <summary>The clock that times the caller and the batches (tests replace it).</summary>
    internal Func<TimeSpan> Clock { get; init; } = () => System.Diagnostics.Stopwatch.GetElapsedTime(Origin);

    /// <summary>What the last generated batch cost to prepare and generate; null before the first.</summary>
    internal TimeSpan? LastBatchCost => lastBatchCost;

    /// <summary>Called on the caller's thread just before a batch is generated.</summary>
    public Action<CaptionBatchInfo>? BatchStarting { get; set; }

    /// <summary>Tokens generated so far in the current batch.</summary>
    public IProgress<int>? Tokens { get; set; }

    /// <summary>The tags of the batch the last <see cref="Add"/> or <see cref="Complete"/> generated or failed on (for an error's target).</summary>
    public IReadOnlyList<TTag> CurrentBatch { get; private set; } = Array.Empty<TTag>();

    /// <summary>Queues a request. Returns the outcomes of the batches generated meanwhile (often none), in input order.</summary>
    public IReadOnlyList<(CaptionOutcome Outcome, TTag Tag)> Add(CaptionRequest request, TTag tag)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (returnedAt is { } since) upstream += Clock() - since;
        try
        {
            queue.Add((request, tag));
            if (queue.Count < batchSize) return Array.Empty<(CaptionOutcome, TTag)>();
            StartBatch();
            var atOnce = lastBatchCost is not { } cost || upstream > UpstreamBoundFactor * cost;
            upstream = TimeSpan.Zero;
            return GenerateWhile(() => pending.Count > (atOnce ? 0 : PrepareAhead));
        }
        finally
        {
            returnedAt = Clock();
        }
    }

    /// <summary>Generates everything still queued or prepared. Returns their outcomes, in input order.</summary>
    public IReadOnlyList<(CaptionOutcome Outcome, TTag Tag)> Complete()
    {
        if (queue.Count > 0) StartBatch();
        return GenerateWhile(() => pending.Count > 0);
    }

    void StartBatch()
    {
        var items = queue.ToList();
        queue.Clear();
        var requests = items.Select(i => i.Request).ToList();
        var token = stop.Token;
        var batch = new Pending(queued, items);
        // In the background, one core is left to the caller's thread: it feeds the GPU, and a host-bound decode step
        // slowed by image decoding on every core would cost more than the decoding gains.
        batch.Prepared = PrepareAhead > 0
            ? Task.Run(() => Timed(batch, () => session.PrepareCaptions(requests, settings, token, Math.Max(1, Environment.ProcessorCount - 1))), token)
            : PrepareHere(batch, requests, token);
        pending.Enqueue(batch);
        queued += items.Count;
    }

    PreparedCaptionBatch Timed(Pending batch, Func<PreparedCaptionBatch> prepare)
    {
        var start = Clock();
        var prepared = prepare();
        batch.PrepareTime = Clock() - start;
        return prepared;
    }

    // Its failure is reported when the batch's turn comes, as for a batch prepared on another thread.
    Task<PreparedCaptionBatch> PrepareHere(Pending batch, IReadOnlyList<CaptionRequest> requests, CancellationToken token)
    {
        try { return Task.FromResult(Timed(batch, () => session.PrepareCaptions(requests, settings, token))); }
        catch (Exception e) { return Task.FromException<PreparedCaptionBatch>(e); }
    }

    List<(CaptionOutcome Outcome, TTag Tag)> GenerateWhile(Func<bool> more)
    {
        var results = new List<(CaptionOutcome, TTag)>();
        while (more())
        {
            var next = pending.Dequeue();
            CurrentBatch = next.Items.Select(i => i.Tag).ToList();
            // Rethrows the preparation's own exception: not an unreadable image (that is the image's outcome), but e.g.
            // images of mixed sizes with resizing off, or cancellation.
            var prepared = next.Prepared.GetAwaiter().GetResult();
            cancellationToken.ThrowIfCancellationRequested();
            BatchStarting?.Invoke(new CaptionBatchInfo(next.First, next.Items.Count, next.Items[0].Request.ImagePath));
            var start = Clock();
            var outcomes = session.Caption(prepared, cancellationToken, Tokens);
            lastBatchCost = next.PrepareTime + (Clock() - start);
            for (int i = 0; i < outcomes.Count; i++) results.Add((outcomes[i], next.Items[i].Tag));
        }
        return results;
    }

    /// <summary>Cancels the preparations still running and waits for them; batches not generated are dropped.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        stop.Cancel();
        foreach (var p in pending)
        {
            try { p.Prepared.Wait(); }
            catch (AggregateException) { }   // cancelled or failed: nobody asked for this batch any more
        }
        pending.Clear();
        queue.Clear();
        stop.Dispose();
    }
}
