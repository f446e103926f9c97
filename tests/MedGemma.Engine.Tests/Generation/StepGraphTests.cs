using MedGemma.Engine.Generation;
using MedGemma.Engine.Text;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Generation;

/// <summary>
/// <see cref="DecodeStepMode.CudaGraph"/>'s control flow (warm-up, capture, replays, fallback) on a CPU, through a
/// graph that emulates a recording: its capture keeps the step without running it, and each replay reruns it with
/// the host values of the capture (<see cref="KvCache.Recording{T}"/>), as a CUDA graph replays the kernels recorded
/// with them. A step that read any host value that moves from token to token (the cache length, a position) would
/// then attend to the wrong keys or rotate by the wrong angle, and the tokens would part from the host steps'.
/// </summary>
public sealed class StepGraphTests(TokenGeneratorTests.Tiny tiny, ITestOutputHelper output) : IClassFixture<TokenGeneratorTests.Tiny>
{
    /// <summary>
    /// A recording emulated on the host: Capture keeps the step, Replay runs it and copies its result into Output
    /// (plus <paramref name="replayError"/>, for a replay that goes wrong).
    /// </summary>
    sealed class EmulatedStepGraph(bool failCapture = false, bool unproven = true, float replayError = 0) : IStepGraph
    {
        Func<Tensor>? step;
        Tensor? result;
        public int WarmUps, Captures, Replays;
        public bool Unproven { get; private set; } = unproven;
        public bool Proven;

        public void MarkProven() { Proven = true; Unproven = false; }

        public Tensor WarmUp(Func<Tensor> s) { WarmUps++; return s(); }

        public void Capture(Func<Tensor> s)
        {
            Captures++;
            if (failCapture) throw new InvalidOperationException("emulated capture failure");
            step = s;
        }

        public void Replay()
        {
            using var scope = torch.NewDisposeScope();
            var r = step!() + replayError;
            if (result is null) result = r.clone().DetachFromDisposeScope();
            else result.copy_(r);
            Replays++;
        }

        public Tensor Output => result!;
        public void Dispose() => result?.Dispose();
    }

    /// <summary>The last <see cref="Generate"/>'s <see cref="TokenGenerator.DecodeSteps"/>: what a user is told.</summary>
    string? lastDecodeSteps;

    (long[][] Tokens, List<EmulatedStepGraph> Graphs, string? Fallback) Generate(DecodeStepMode mode, Tensor ids, Tensor? pixels, Tensor? mask, Tensor? types,
        GenerationOptions options, bool failCapture = false, bool unproven = true, float replayError = 0)
    {
        var graphs = new List<EmulatedStepGraph>();
        TokenGenerator.StepMode = mode;
        TokenGenerator.GraphFactory = _ => { var g = new EmulatedStepGraph(failCapture, unproven, replayError); graphs.Add(g); return g; };
        try
        {
            using var gen = new TokenGenerator(tiny.Model, ids, pixels, mask, types, options);
            var tokens = gen.Run();
            lastDecodeSteps = gen.DecodeSteps;
            return (tokens, graphs, gen.GraphFallbackReason);
        }
        finally
        {
            TokenGenerator.StepMode = TokenGenerator.DefaultStepMode;
            TokenGenerator.GraphFactory = null;
        }
    }

    public static TheoryData<AttentionKernel, bool, bool> Cases() => new()
    {
        { AttentionKernel.Eager, false, false }, { AttentionKernel.Eager, true, false }, { AttentionKernel.Sdpa, false, false },
        { AttentionKernel.Sdpa, true, false }, { AttentionKernel.Sdpa, true, true }, { AttentionKernel.Eager, false, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ReplayedStepsGiveTheHostStepsTokens(AttentionKernel kernel, bool scripted, bool sample)
    {
        Gemma3Attention.Kernel = kernel;
        Gemma3DecoderLayer.ScriptedDecode = scripted;
        try
        {
            var prompt = ScriptedDecodeTests.Prompt;
            var (ids, mask) = DecodeStepTests.LeftPaddedPair(prompt, prompt[2..]);
            // Past the sliding window (8 in the tiny config): the ring wraps during the replays.
            var options = new GenerationOptions { MaxNewTokens = 16, EosTokenIds = Array.Empty<long>(), DoSample = sample, Seed = 7, Temperature = 1.5 };
            var host = Generate(DecodeStepMode.Host, ids, null, mask, null, options).Tokens;
            Assert.Equal("host steps", lastDecodeSteps);
            var (graphTokens, graphs, _) = Generate(DecodeStepMode.CudaGraph, ids, null, mask, null, options);
            Assert.Equal("CUDA graph replays", lastDecodeSteps);
            output.WriteLine($"{kernel}, scripted {scripted}, sample {sample}: host {string.Join(' ', host[0])} | {string.Join(' ', host[1])}");
            var g = Assert.Single(graphs);
            Assert.Equal((TokenGenerator.GraphWarmUpSteps, 1, options.MaxNewTokens - 1 - TokenGenerator.GraphWarmUpSteps, true), (g.WarmUps, g.Captures, g.Replays, g.Proven));
            Assert.Equal(host, graphTokens);
            // A script that failed would have fallen back to the eager step silently: then "scripted" proved nothing.
            Assert.Null(Gemma3DecoderLayer.ScriptedDecodeDisabledReason);
            Assert.True(host.SelectMany(r => r).Distinct().Count() > 3, "the tokens should vary, or the comparison proves little");
        }
        finally
        {
            Gemma3Attention.Kernel = Gemma3Attention.DefaultKernel;
            Gemma3DecoderLayer.ScriptedDecode = null;
        }
    }

    [Fact]
    public void ReplaysAfterAnImagePromptGiveTheHostStepsTokens()
    {
        var golden = tiny.Golden;
        var options = new GenerationOptions { MaxNewTokens = 12, EosTokenIds = Array.Empty<long>() };
        Tensor ids = golden["input_ids"], pixels = golden["pixel_values"], mask = golden["attention_mask"], types = golden["token_type_ids"];
        var host = Generate(DecodeStepMode.Host, ids, pixels, mask, types, options).Tokens;
        var (graphTokens, graphs, _) = Generate(DecodeStepMode.CudaGraph, ids, pixels, mask, types, options);
        Assert.Equal(host, graphTokens);
        Assert.Equal(options.MaxNewTokens - 1 - TokenGenerator.GraphWarmUpSteps, Assert.Single(graphs).Replays);
    }

    [Fact]
    public void AFailedCaptureFallsBackToDeviceStepsAndSaysWhy()
    {
        var prompt = ScriptedDecodeTests.Prompt;
        var ids = torch.tensor(prompt).unsqueeze(0);
        var options = new GenerationOptions { MaxNewTokens = 10, EosTokenIds = Array.Empty<long>() };
        var host = Generate(DecodeStepMode.Host, ids, null, null, null, options).Tokens;
        var (tokens, graphs, why) = Generate(DecodeStepMode.CudaGraph, ids, null, null, null, options, failCapture: true);
        Assert.Equal(host, tokens);
        var g = Assert.Single(graphs);
        Assert.Equal((1, 0), (g.Captures, g.Replays));
        Assert.Equal("capture failed: emulated capture failure", why);
        Assert.Equal("device steps (CUDA graphs not used: capture failed: emulated capture failure)", lastDecodeSteps);
    }

    [Fact]
    public void AProvenShapeSkipsTheWarmUpAndTheCheck()
    {
        var (ids, mask) = DecodeStepTests.LeftPaddedPair(ScriptedDecodeTests.Prompt, ScriptedDecodeTests.Prompt[1..]);
        var options = new GenerationOptions { MaxNewTokens = 12, EosTokenIds = Array.Empty<long>() };
        var host = Generate(DecodeStepMode.Host, ids, null, mask, null, options).Tokens;
        var (tokens, graphs, why) = Generate(DecodeStepMode.CudaGraph, ids, null, mask, null, options, unproven: false);
        Assert.Equal(host, tokens);
        var g = Assert.Single(graphs);
        Assert.Equal((0, 1, options.MaxNewTokens - 1), (g.WarmUps, g.Captures, g.Replays));
        Assert.Null(why);
    }

    [Theory]
    [InlineData(0.5f)]
    [InlineData(float.NaN)]
    public void AFirstReplayThatDisagreesWithAPlainStepStopsTheGraph(float replayError)
    {
        var (ids, mask) = DecodeStepTests.LeftPaddedPair(ScriptedDecodeTests.Prompt, ScriptedDecodeTests.Prompt[1..]);
        var options = new GenerationOptions { MaxNewTokens = 12, EosTokenIds = Array.Empty<long>() };
        var host = Generate(DecodeStepMode.Host, ids, null, mask, null, options).Tokens;
        var (tokens, graphs, why) = Generate(DecodeStepMode.CudaGraph, ids, null, mask, null, options, replayError: replayError);
        // The wrong replay never reached a token: the plain step's logits were used, then device steps.
        Assert.Equal(host, tokens);
        var g = Assert.Single(graphs);
        Assert.Equal((1, 1, false), (g.Captures, g.Replays, g.Proven));
        Assert.StartsWith("a replayed step disagreed with the plain step", why);
        Assert.StartsWith("device steps (CUDA graphs not used: a replayed step disagreed", lastDecodeSteps);
    }

    [Fact]
    public void GenerationsShorterThanTheWarmUpNeverCapture()
    {
        var ids = torch.tensor(ScriptedDecodeTests.Prompt).unsqueeze(0);
        var options = new GenerationOptions { MaxNewTokens = 3, EosTokenIds = Array.Empty<long>() };
        var host = Generate(DecodeStepMode.Host, ids, null, null, null, options).Tokens;
        var (tokens, graphs, _) = Generate(DecodeStepMode.CudaGraph, ids, null, null, null, options);
        Assert.Equal(host, tokens);
        Assert.Equal(0, Assert.Single(graphs).Captures);
        Assert.Equal("device steps (the generation ended before its CUDA graph capture)", lastDecodeSteps);
    }

    [Fact]
    public void AutoMeansHostStepsOnACpu()
    {
        Assert.Equal(DecodeStepMode.Auto, TokenGenerator.DefaultStepMode);
        using var g = new TokenGenerator(tiny.Model, torch.tensor(ScriptedDecodeTests.Prompt).unsqueeze(0), null, null, null, new GenerationOptions { MaxNewTokens = 2 });
        Assert.Equal(DecodeStepMode.Host, g.ResolvedStepMode);
    }

    [Fact]
    public void RecordingOnlyTakesDeviceSteps()
    {
        using var cache = new KvCache(tiny.Model.Config.Text, 1, 4, torch.CPU, ScalarType.Float32);
        Assert.Throws<InvalidOperationException>(() => cache.Recording(0, () => 0));
    }
}
