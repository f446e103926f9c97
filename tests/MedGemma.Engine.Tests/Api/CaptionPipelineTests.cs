using MedGemma.Engine.Api;
using MedGemma.Engine.Tests.Server;
using MedGemma.Engine.Tests.Support;

namespace MedGemma.Engine.Tests.Api;

/// <summary>
/// The pipelined caption stream on the tiny MedGemma snapshot: the same outcomes, in the same order, as captioning
/// each batch directly, while a batch's images are prepared before the previous batch is generated.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class CaptionPipelineTests(TinySessionFixture fixture) : IClassFixture<TinySessionFixture>
{
    static readonly string Png = Path.Combine(Fixtures.Root, "images", "img_gray_300x240.png");
    static readonly string Jpg = Path.Combine(Fixtures.Root, "images", "img_rgb_500x380.jpg");
    static readonly CaptionSettings Settings = new() { Prompt = "Describe this medical image.", MaxNewTokens = 3 };

    static string Text(CaptionOutcome o) => o.Result?.Caption ?? $"error {o.Error!.ErrorId}";

    /// <summary>A clock the test moves; frozen, every caller is fast (no time between calls) and every batch free.</summary>
    sealed class TestClock
    {
        public TimeSpan Now;
        public TimeSpan Read() => Now;
    }

    /// <summary>Reports of generated tokens move the test clock: generation then takes test time.</summary>
    sealed class TokensTakeTime(TestClock clock, TimeSpan each) : IProgress<int>
    {
        public void Report(int value) => clock.Now += each;
    }

    [Fact]
    public void OutcomesEqualDirectBatchesInInputOrderTheFirstAtOnceThenOneBatchBehind()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"medgemma-missing-{Guid.NewGuid():N}.png");
        string[] paths = [Png, missing, Jpg, Png, Jpg, Png, Jpg];
        var expected = paths.Chunk(2).SelectMany(batch => fixture.Session.Caption(batch.Select(p => new CaptionRequest(p)).ToList(), Settings)).Select(Text).ToList();

        using var pipeline = new CaptionPipeline<int>(fixture.Session, Settings, batchSize: 2) { Clock = new TestClock().Read };
        var started = new List<CaptionBatchInfo>();
        pipeline.BatchStarting = started.Add;
        var returned = new List<int>();
        var outcomes = new List<(CaptionOutcome Outcome, int Tag)>();
        for (int i = 0; i < paths.Length; i++)
        {
            var done = pipeline.Add(new CaptionRequest(paths[i], $"ref {i}"), i);
            returned.Add(done.Count);
            outcomes.AddRange(done);
        }
        // Batch 0 at once (nothing is known of the caller yet); then a fast caller: batch 1 is generated when batch 2
        // is complete (and being prepared), not before.
        Assert.Equal([0, 2, 0, 0, 0, 2, 0], returned);
        outcomes.AddRange(pipeline.Complete());

        Assert.Equal(Enumerable.Range(0, paths.Length), outcomes.Select(o => o.Tag));
        Assert.Equal(expected, outcomes.Select(o => Text(o.Outcome)));
        Assert.Equal(Enumerable.Range(0, paths.Length).Select(i => $"ref {i}"), outcomes.Select(o => o.Outcome.Request.Reference));
        Assert.Contains(Path.GetFileName(missing), outcomes[1].Outcome.Error!.Message);
        Assert.Equal([(0, 2), (2, 2), (4, 2), (6, 1)], started.Select(b => (b.First, b.Count)));
        Assert.Equal(Jpg, started[1].FirstImagePath);
    }

    [Fact]
    public void ACallerMuchSlowerThanABatchGetsEachBatchAtOnce()
    {
        var clock = new TestClock();
        using var pipeline = new CaptionPipeline<int>(fixture.Session, Settings, batchSize: 1) { Clock = clock.Read };
        pipeline.Tokens = new TokensTakeTime(clock, TimeSpan.FromSeconds(1));
        Assert.Single(pipeline.Add(new CaptionRequest(Png), 0));
        var cost = pipeline.LastBatchCost!.Value;
        Assert.True(cost >= TimeSpan.FromSeconds(1), $"generation took {cost} of test time");

        // Three batch costs between requests: preparing ahead still pays, the batch waits for the next one.
        clock.Now += 3 * cost;
        Assert.Empty(pipeline.Add(new CaptionRequest(Jpg), 1));
        // Five: the caller sets the pace; this batch and the one held back are generated now.
        clock.Now += 5 * pipeline.LastBatchCost!.Value;
        Assert.Equal([1, 2], pipeline.Add(new CaptionRequest(Png), 2).Select(o => o.Tag));
        Assert.Empty(pipeline.Complete());
    }

    [Fact]
    public void WithoutPreparingAheadEachFullBatchIsGeneratedAtOnce()
    {
        using var pipeline = new CaptionPipeline<string>(fixture.Session, Settings, batchSize: 2) { PrepareAhead = 0 };
        Assert.Empty(pipeline.Add(new CaptionRequest(Png), "a"));
        var first = pipeline.Add(new CaptionRequest(Jpg), "b");
        Assert.Equal(["a", "b"], first.Select(o => o.Tag));
        Assert.All(first, o => Assert.NotNull(o.Outcome.Result));
        Assert.Empty(pipeline.Complete());
    }

    [Fact]
    public void CancellingStopsAtTheNextBatchAndNamesIt()
    {
        using var cts = new CancellationTokenSource();
        using var pipeline = new CaptionPipeline<int>(fixture.Session, Settings, batchSize: 1, cts.Token) { Clock = new TestClock().Read };
        Assert.Single(pipeline.Add(new CaptionRequest(Png), 0));
        Assert.Empty(pipeline.Add(new CaptionRequest(Jpg), 1));
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => pipeline.Add(new CaptionRequest(Png), 2));
        Assert.Equal([1], pipeline.CurrentBatch);
    }

    [Fact]
    public void DisposingWaitsForThePreparationsInFlightAndDropsTheirBatches()
    {
        var pipeline = new CaptionPipeline<int>(fixture.Session, Settings, batchSize: 1) { PrepareAhead = 4, Clock = new TestClock().Read };
        Assert.Single(pipeline.Add(new CaptionRequest(Png), 0));
        for (int i = 1; i < 5; i++) Assert.Empty(pipeline.Add(new CaptionRequest(i % 2 == 0 ? Png : Jpg), i));
        pipeline.Dispose();
        pipeline.Dispose();
    }

    [Fact]
    public void InvalidImageOptionsFailWhenThePipelineIsMade()
    {
        var bad = Settings with { ImageOptions = Engine.Imaging.ImageLoadOptions.Default with { MaxPixels = 0 } };
        var e = Assert.Throws<MedGemmaException>(() => new CaptionPipeline<int>(fixture.Session, bad, 2));
        Assert.Equal("InvalidImageOption", e.ErrorId);
    }
}
