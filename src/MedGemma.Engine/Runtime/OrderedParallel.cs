using System.Runtime.ExceptionServices;

namespace MedGemma.Engine.Runtime;

/// <summary>
/// Independent host work for the items of one batch (decoding and resizing images: ~100 ms of one core for a
/// 2000x3000 JPEG) run on several cores at once. A loop over a batch of 8 would make the GPU wait for most of a second.
/// </summary>
internal static class OrderedParallel
{
    /// <summary>
    /// <c>results[i] = work(i)</c> for every i below <paramref name="count"/>, on up to one thread per core (at most
    /// <paramref name="maxThreads"/> when above 0). When items
    /// fail, the exception of the lowest failing index is rethrown as itself (not an AggregateException), so the error
    /// names the input a plain loop would have stopped at. Every item runs to its end (or its failure) before this returns.
    /// </summary>
    public static T[] Map<T>(int count, Func<int, T> work, CancellationToken cancellationToken = default, int maxThreads = 0)
    {
        var results = new T[count];
        var threads = Math.Min(count, maxThreads > 0 ? Math.Min(maxThreads, Environment.ProcessorCount) : Environment.ProcessorCount);
        if (threads <= 1)
        {
            for (int i = 0; i < count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                results[i] = work(i);
            }
            return results;
        }
        var errors = new Exception?[count];
        var options = new ParallelOptions { CancellationToken = cancellationToken, MaxDegreeOfParallelism = threads };
        Parallel.For(0, count, options, i =>
        {
            try { results[i] = work(i); }
            catch (Exception e) { errors[i] = e; }
        });
        foreach (var e in errors)
            if (e is not null) ExceptionDispatchInfo.Throw(e);
        return results;
    }
}
