using MedGemma.Engine.Config;
using MedGemma.Engine.Generation;
using MedGemma.Engine.IO;
using MedGemma.Engine.Lora;
using MedGemma.Engine.Model;
using MedGemma.Engine.Tests.Support;
using MedGemma.Engine.Tests.Training;
using MedGemma.Engine.Text;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Generation;

/// <summary>
/// The TorchScript decode step (<see cref="DecodeLayerScript"/>, the default on CUDA) against the eager decode step,
/// logits of every step on the same fed tokens: a left-padded batch (padding masks and the empty-row guard), steps
/// through a sliding ring filling, full and wrapped (tiny window 8, prompt 5, 14 steps), both attention kernels, and
/// an active LoRA adapter on every projection. And that the switch really routes (far fewer host calls per step).
/// </summary>
[Collection(nameof(GlobalRngCollection))]
public sealed class ScriptedDecodeTests(TokenGeneratorTests.Tiny tiny, ITestOutputHelper output) : IClassFixture<TokenGeneratorTests.Tiny>
{
    internal static readonly long[] Prompt = [2, 105, 300, 400, 500];
    internal const int Steps = 14;
    // The script's norms are libtorch's rms_norm (as FusedRmsNorm), which may round the float32 mean differently.
    const float Tolerance = 2e-5f;

    [Theory]
    [InlineData(AttentionKernel.Eager)]
    [InlineData(AttentionKernel.Sdpa)]
    public void ScriptedStepsGiveTheEagerLogits(AttentionKernel kernel)
    {
        Gemma3Attention.Kernel = kernel;
        try
        {
            var model = tiny.Model;
            Assert.True(Prompt.Length + Steps > model.Config.Text.SlidingWindow + 2);
            var (ids, mask) = DecodeStepTests.LeftPaddedPair(Prompt, Prompt[2..]);
            AssertSame(model, ids, mask, $"{kernel}, padded batch");
            AssertSame(model, torch.tensor(Prompt).unsqueeze(0), null, $"{kernel}, one row, no mask");
        }
        finally
        {
            Gemma3Attention.Kernel = Gemma3Attention.DefaultKernel;
        }
    }

    [Fact]
    public void ScriptedStepsApplyAnActiveLoraAdapterOnEveryProjection()
    {
        var dir = Fixtures.Folder("tiny-gemma3");
        using var model = new Gemma3ForConditionalGeneration(Gemma3Config.Load(dir));
        CheckpointLoader.Load(model, Path.Combine(dir, "model.safetensors"), torch.CPU, ScalarType.Float32);
        var lora = new LoraModel(model);
        lora.AddAdapter("default", new LoraConfig
        {
            R = 4, Alpha = 8, Dropout = 0.1,
            TargetModules = new[] { "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj" },
        });
        lora.SetActive("default");
        torch.manual_seed(11);
        using (torch.no_grad())
            foreach (var (name, p) in lora.Parameters("default"))
                if (name.Contains(".lora_B.")) p.copy_(torch.randn_like(p) * 0.5);
        model.eval();
        var (ids, mask) = DecodeStepTests.LeftPaddedPair(Prompt, Prompt[1..]);
        var withAdapter = AssertSame(model, ids, mask, "LoRA on all projections");
        lora.SetActive(null);
        var without = StepLogits(model, ids, mask, scripted: true);
        // The adapter really changed the logits, so the parity above covered the LoRA branch.
        Assert.True(Diff(withAdapter, without) > 1e-3, "the adapter did not change the scripted logits");
    }

    [Fact]
    public void ScriptedStepsIssueFarFewerHostCalls()
    {
        var model = tiny.Model;
        var ids = torch.tensor(Prompt).unsqueeze(0);
        var eager = HandlesPerStep(model, ids, scripted: false);
        var scripted = HandlesPerStep(model, ids, scripted: true);
        output.WriteLine($"tensor handles per decode step: eager {eager}, scripted {scripted} ({model.Config.Text.NumHiddenLayers} layers)");
        Assert.True(scripted * 3 < eager, $"scripted {scripted} vs eager {eager}: the script path did not run");
    }

    Tensor[] AssertSame(Gemma3ForConditionalGeneration model, Tensor ids, Tensor? mask, string what)
    {
        var eager = StepLogits(model, ids, mask, scripted: false);
        var scripted = StepLogits(model, ids, mask, scripted: true);
        var d = Diff(eager, scripted);
        output.WriteLine($"{what}: max |scripted - eager| over {eager.Length} steps = {d:E2}");
        Assert.True(d <= Tolerance, $"{what}: max |Δ| {d}");
        return scripted;
    }

    internal static float Diff(Tensor[] a, Tensor[] b) => a.Zip(b, (x, y) => (x - y).abs().max().item<float>()).Max();

    /// <summary>
    /// Logits [B, V] of the prompt (with its image when <paramref name="pixels"/> are given) and of
    /// <paramref name="steps"/> one-token steps, feeding fixed tokens (<paramref name="fed"/>, not argmax), so every
    /// path sees the same inputs.
    /// </summary>
    internal static Tensor[] StepLogits(Gemma3ForConditionalGeneration model, Tensor ids, Tensor? mask, bool scripted, bool deviceSteps = false,
        Tensor? pixels = null, Tensor? tokenTypes = null, int steps = Steps, Func<int, long>? fed = null)
    {
        fed ??= i => (300 + 37 * i) % model.Config.Text.VocabSize;
        Gemma3DecoderLayer.ScriptedDecode = scripted;
        try
        {
            using var noGrad = torch.no_grad();
            var b = ids.shape[0];
            using var cache = new KvCache(model.Config.Text, (int)b, (int)ids.shape[1] + steps, torch.CPU, model.DType);
            var m = mask ?? torch.ones_like(ids);
            var positions = (m.cumsum(1) - 1).masked_fill(m.eq(0), 1);
            var logits = new List<Tensor>();
            using (var prompt = model.Forward(new Gemma3Inputs
                   { InputIds = ids, PixelValues = pixels, AttentionMask = mask, TokenTypeIds = tokenTypes, PositionIds = positions, Cache = cache, LogitsToKeep = 1 }))
                logits.Add(prompt.Logits.select(1, 0).clone());
            var pos = positions.narrow(1, positions.shape[1] - 1, 1).clone();
            if (deviceSteps) cache.EnterDeviceSteps();
            for (var i = 0; i < steps; i++)
            {
                pos = pos + 1;
                var token = torch.full(new long[] { b, 1 }, fed(i), dtype: ScalarType.Int64);
                using var step = model.Forward(new Gemma3Inputs { InputIds = token, PositionIds = pos, Cache = cache });
                logits.Add(step.Logits.select(1, 0).clone());
            }
            return logits.ToArray();
        }
        finally
        {
            Gemma3DecoderLayer.ScriptedDecode = null;
        }
    }

    static double HandlesPerStep(Gemma3ForConditionalGeneration model, Tensor ids, bool scripted)
    {
        Gemma3DecoderLayer.ScriptedDecode = scripted;
        try
        {
            var options = new GenerationOptions { MaxNewTokens = 6, EosTokenIds = Array.Empty<long>() };
            using var g = new TokenGenerator(model, ids, null, null, null, options);
            g.GenerateNextToken();
            g.GenerateNextToken();   // the script's first calls (compilation, profiling) stay out of the count
            var stats = DisposeScopeManager.Statistics;
            var before = stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount;
            for (var i = 0; i < 4; i++) g.GenerateNextToken();
            return (stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount - before) / 4.0;
        }
        finally
        {
            Gemma3DecoderLayer.ScriptedDecode = null;
        }
    }
}
