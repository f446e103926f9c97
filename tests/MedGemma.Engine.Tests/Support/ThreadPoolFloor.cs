using System.Runtime.CompilerServices;

namespace MedGemma.Engine.Tests.Support;

/// <summary>
/// Starts the test process with a thread pool of at least 32 worker threads. xunit runs test classes in parallel,
/// and some of them block pool threads for seconds by design (a server's Dispose waits for its requests, Parallel.For
/// over model calls); on a 2-core machine the pool starts with 2 threads and adds about one a second, so async steps
/// of other tests stalled for up to 9 s (engine suite, 25 runs: SafeTensors fuzzing 0.9 s median, 9.3 s worst; a
/// server test 0.08 s median, 5.1 s worst against its 5 s poll bound). With the floor raised (same 2 cores, 12 runs)
/// the worst cases were 0.9 s and 0.27 s.
/// </summary>
static class ThreadPoolFloor
{
    const int MinimumThreads = 32;

    [ModuleInitializer]
    internal static void Raise()
    {
        ThreadPool.GetMinThreads(out var worker, out var io);
        ThreadPool.SetMinThreads(Math.Max(worker, MinimumThreads), Math.Max(io, MinimumThreads));
    }
}
