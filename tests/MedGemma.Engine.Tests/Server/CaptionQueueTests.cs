using MedGemma.Engine.Server;

namespace MedGemma.Engine.Tests.Server;

public class CaptionQueueTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task TheNextRequestIsPreparedWhileTheModelRunsOneAndOnlyOneWaitsPrepared()
    {
        var queue = new CaptionQueue(8);
        using var modelBusy = new ManualResetEventSlim(false);
        using var release = new ManualResetEventSlim(false);
        using var secondPrepared = new ManualResetEventSlim(false);
        var order = new System.Collections.Concurrent.ConcurrentQueue<string>();
        int thirdPrepared = 0;

        var first = queue.TryPrepareAndRunAsync<int>(() => () => { order.Enqueue("run 1"); modelBusy.Set(); release.Wait(Wait); return 1; }, default);
        Assert.True(modelBusy.Wait(Wait));
        var second = queue.TryPrepareAndRunAsync<int>(() => { order.Enqueue("prepare 2"); secondPrepared.Set(); return () => { order.Enqueue("run 2"); return 2; }; }, default);
        Assert.True(secondPrepared.Wait(Wait), "the second request was not prepared while the first held the model");
        var third = queue.TryPrepareAndRunAsync<int>(() => { Interlocked.Increment(ref thirdPrepared); order.Enqueue("prepare 3"); return () => { order.Enqueue("run 3"); return 3; }; }, default);
        await Task.Delay(300);
        // Request 2 holds its prepared data until the model is free; request 3 must not add a second set.
        Assert.Equal(0, Volatile.Read(ref thirdPrepared));
        Assert.Equal(3, queue.Pending);

        release.Set();
        Assert.Equal((true, 1), await first.WaitAsync(Wait));
        Assert.Equal((true, 2), await second.WaitAsync(Wait));
        Assert.Equal((true, 3), await third.WaitAsync(Wait));
        Assert.Equal(["run 1", "prepare 2", "run 2"], order.Where(o => o != "prepare 3").Take(3));
        Assert.Equal(0, queue.Pending);
    }

    [Fact]
    public async Task AFailedPreparationReleasesItsPlaceAndTheQueueGoesOn()
    {
        var queue = new CaptionQueue(2);
        await Assert.ThrowsAsync<MedGemmaException>(() => queue.TryPrepareAndRunAsync<int>(
            () => throw new MedGemmaException(MedGemmaErrorKind.NotFound, "AdapterNotFound", "no such adapter"), default));
        Assert.Equal(0, queue.Pending);
        Assert.Equal((true, 7), await queue.TryPrepareAndRunAsync<int>(() => () => 7, default).WaitAsync(Wait));
    }
}
