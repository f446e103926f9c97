using MedGemma.Engine.Runtime;

namespace MedGemma.Engine.Tests.Runtime;

public class OrderedParallelTests
{
    [Fact]
    public void ResultsComeInItemOrderAndItemsRunOnSeveralThreads()
    {
        var threads = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
        using var bothStarted = new CountdownEvent(2);
        var results = OrderedParallel.Map(16, i =>
        {
            threads[Environment.CurrentManagedThreadId] = true;
            // The first two items wait for each other: a loop on one thread would never get past item 0.
            if (i < 2 && Environment.ProcessorCount > 1)
            {
                bothStarted.Signal();
                Assert.True(bothStarted.Wait(TimeSpan.FromSeconds(30)), "items 0 and 1 did not run at the same time");
            }
            Thread.Sleep((16 - i) % 5);
            return i * i;
        });
        Assert.Equal(Enumerable.Range(0, 16).Select(i => i * i), results);
        if (Environment.ProcessorCount > 1) Assert.True(threads.Count > 1);
    }

    [Fact]
    public void TheLowestFailingItemsOwnExceptionIsRethrownAfterEveryItemEnded()
    {
        int ended = 0;
        var e = Assert.Throws<InvalidDataException>(() => OrderedParallel.Map(8, i =>
        {
            try
            {
                // Item 6 fails at once, item 2 later: the error is still item 2's, as a loop would report it.
                if (i == 6) throw new FormatException("item 6");
                if (i == 2) { Thread.Sleep(50); throw new InvalidDataException("item 2"); }
                return i;
            }
            finally { Interlocked.Increment(ref ended); }
        }));
        Assert.Equal("item 2", e.Message);
        Assert.Equal(8, Volatile.Read(ref ended));
    }

    [Fact]
    public void ACancelledTokenStopsTheWork()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        int ran = 0;
        Assert.ThrowsAny<OperationCanceledException>(() => OrderedParallel.Map(4, i => Interlocked.Increment(ref ran), cts.Token));
        Assert.Equal(0, ran);
    }
}
