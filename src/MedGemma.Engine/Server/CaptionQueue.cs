namespace MedGemma.Engine.Server;

/// <summary>
/// Runs caption work one request at a time on the single resident model (concurrent batches could
/// exhaust GPU memory), while the next request's host work (decoding its uploads) runs beside it, and
/// refuses new work once <see cref="Limit"/> requests are running or waiting,
/// so a flood of clients gets a quick 503 instead of an ever-growing queue.
/// </summary>
public sealed class CaptionQueue
{
    readonly SemaphoreSlim _model = new(1, 1);
    // Held from a request's preparation until it has the model: one request is made ready while another runs.
    readonly SemaphoreSlim _preparing = new(1, 1);
    int _pending;
    // Smoothed seconds per request, for Retry-After; 0 until the first request finishes.
    double _averageSeconds;
    readonly object _statsGate = new();

    public int Limit { get; }
    /// <summary>Requests admitted and not yet finished (the running one included).</summary>
    public int Pending => Volatile.Read(ref _pending);

    public CaptionQueue(int limit)
    {
        if (limit < 1) throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "InvalidQueueLimit", $"The queue limit must be at least 1, got {limit}.", "QueueLimit");
        Limit = limit;
    }

    /// <summary>
    /// Runs <paramref name="prepare"/> (host work: decoding uploads) as soon as no other admitted request holds
    /// prepared work, even while the model is busy, then the work it returns when the model is free. So the model's
    /// next request is ready when it finishes one, and at most one request's prepared data waits in memory.
    /// Returns false without running anything when the queue is full.
    /// </summary>
    public async Task<(bool Admitted, T? Result)> TryPrepareAndRunAsync<T>(Func<Func<T>> prepare, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _pending) > Limit)
        {
            Interlocked.Decrement(ref _pending);
            return (false, default);
        }
        try
        {
            Func<T> work;
            await _preparing.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                work = await Task.Run(prepare, cancellationToken).ConfigureAwait(false);
                await _model.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            finally { _preparing.Release(); }
            try
            {
                var started = DateTime.UtcNow;
                // LongRunning: a caption batch can take minutes; keep it off the small thread pool.
                var result = await Task.Factory.StartNew(work, cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
                Record((DateTime.UtcNow - started).TotalSeconds);
                return (true, result);
            }
            finally { _model.Release(); }
        }
        finally { Interlocked.Decrement(ref _pending); }
    }

    /// <summary>Seconds a refused client should wait: the work ahead of it at the recent pace, 1..300.</summary>
    public int RetryAfterSeconds()
    {
        double avg;
        lock (_statsGate) avg = _averageSeconds;
        var estimate = avg <= 0 ? 5 : avg * Math.Max(1, Pending);
        return (int)Math.Clamp(Math.Ceiling(estimate), 1, 300);
    }

    void Record(double seconds)
    {
        lock (_statsGate) _averageSeconds = _averageSeconds <= 0 ? seconds : 0.8 * _averageSeconds + 0.2 * seconds;
    }
}
