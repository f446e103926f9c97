using MedGemma.Engine.Config;
using MedGemma.Engine.Generation;
using MedGemma.Engine.Lora;
using MedGemma.Engine.Model;
using MedGemma.Engine.Text;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Model;

/// <summary>
/// Model shapes the fixtures do not have, so that code written for MedGemma's sizes (or the tiny fixture's) cannot
/// pass by accident: multi-head, multi-query and 4:1 grouped-query attention; head_dim unrelated to hidden/heads;
/// query_pre_attn_scalar ≠ head_dim; attention and final logit soft-capping; attention biases; 1, 9 and 16 image
/// tokens (pooling 2×2, 2×2 and none) and an image block longer than the sliding window. No reference numbers exist
/// for them, so every fast path is checked against the plain one on random weights: cached decoding (host steps with
/// either kernel, TorchScript layers, device steps) against one uncached forward over the whole sequence, and
/// checkpointed training against plain training.
/// </summary>
public sealed class ShapeVarietyTests(ITestOutputHelper output)
{
    const int Steps = 7;

    public static TheoryData<string> Shapes => new() { "mha-softcap-bias", "gqa4-one-image-token", "mqa-long-image-block" };

    static Gemma3Config Config(string shape) => shape switch
    {
        "mha-softcap-bias" => Make(new Gemma3TextConfig
        {
            HiddenSize = 20, IntermediateSize = 36, NumHiddenLayers = 4, NumAttentionHeads = 3, NumKeyValueHeads = 3, HeadDim = 8,
            QueryPreAttnScalar = 12, SlidingWindow = 5, SlidingLayers = [true, false, true, true], AttentionBias = true,
            AttnLogitSoftcapping = 20, FinalLogitSoftcapping = 15, GlobalRope = new(50_000, 4), LocalRope = new(10_000),
        }, new SiglipVisionConfig { HiddenSize = 12, IntermediateSize = 20, NumHiddenLayers = 1, NumAttentionHeads = 3, ImageSize = 42, PatchSize = 7 }, mm: 9),
        "gqa4-one-image-token" => Make(new Gemma3TextConfig
        {
            HiddenSize = 16, IntermediateSize = 24, NumHiddenLayers = 3, NumAttentionHeads = 8, NumKeyValueHeads = 2, HeadDim = 4,
            QueryPreAttnScalar = 4, SlidingWindow = 3, SlidingLayers = [true, true, false], GlobalRope = new(1_000_000, 8), LocalRope = new(10_000),
        }, new SiglipVisionConfig { HiddenSize = 8, IntermediateSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 2, ImageSize = 28, PatchSize = 14 }, mm: 1),
        "mqa-long-image-block" => Make(new Gemma3TextConfig
        {
            HiddenSize = 24, IntermediateSize = 40, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 1, HeadDim = 6,
            QueryPreAttnScalar = 6, SlidingWindow = 4, SlidingLayers = [true, false], GlobalRope = new(1_000_000, 8), LocalRope = new(10_000),
        }, new SiglipVisionConfig { HiddenSize = 16, IntermediateSize = 24, NumHiddenLayers = 1, NumAttentionHeads = 4, ImageSize = 56, PatchSize = 14 }, mm: 16),
        _ => throw new ArgumentOutOfRangeException(nameof(shape), shape, null),
    };

    const int Vocab = 96;
    const long Boi = 90, Eoi = 91, ImageToken = 92;

    static Gemma3Config Make(Gemma3TextConfig text, SiglipVisionConfig vision, int mm) => new()
    {
        Text = text with { VocabSize = Vocab, MaxPositionEmbeddings = 512 },
        Vision = vision,
        MmTokensPerImage = mm,
        BoiTokenId = Boi, EoiTokenId = Eoi, ImageTokenId = ImageToken,
    };

    /// <summary>The model with every parameter (norms and biases included) drawn at a scale that keeps activations O(1).</summary>
    static Gemma3ForConditionalGeneration RandomModel(Gemma3Config config, long seed)
    {
        var model = new Gemma3ForConditionalGeneration(config);
        var g = new Generator((ulong)seed);
        using var noGrad = torch.no_grad();
        foreach (var (_, p) in model.named_parameters())
        {
            var scale = p.dim() == 1 ? 0.3 : 1.0 / Math.Sqrt(p.shape[^1]);
            p.copy_(torch.randn(p.shape, generator: g) * scale);
        }
        model.eval();
        return model;
    }

    /// <summary>Two prompts, each with one image block, the second shorter and left-padded; pixel values and token types.</summary>
    static (Tensor Ids, Tensor Mask, Tensor TokenTypes, Tensor Pixels) ImagePrompts(Gemma3Config c)
    {
        long[] Prompt(params long[] text) =>
            [2, 7, 8, Boi, .. Enumerable.Repeat(ImageToken, c.MmTokensPerImage), Eoi, .. text];
        var longer = Prompt(11, 12, 13, 14, 15, 16);
        var shorter = Prompt(21, 22);
        var (ids, mask) = Generation.DecodeStepTests.LeftPaddedPair(longer, shorter);
        var types = ids.eq(ImageToken).to(ScalarType.Int64);
        var side = c.Vision.ImageSize;
        var pixels = torch.rand(new long[] { 2, 3, side, side }, generator: new Generator(5)) * 2 - 1;
        return (ids, mask, types, pixels);
    }

    static Tensor Positions(Tensor mask) => (mask.cumsum(1) - 1).masked_fill(mask.eq(0), 1);

    /// <summary>Token fed at step <paramref name="i"/>: plain text ids, never a special one.</summary>
    static long Fed(int i) => 30 + 7 * i % 50;

    /// <summary>The logits <see cref="Generation.ScriptedDecodeTests.StepLogits"/> gives, from one eager forward over prompt + fed tokens, no cache.</summary>
    static Tensor[] UncachedLogits(Gemma3ForConditionalGeneration model, Tensor ids, Tensor mask, Tensor types, Tensor pixels)
    {
        using var noGrad = torch.no_grad();
        var b = ids.shape[0];
        var n = ids.shape[1];
        var fed = torch.tensor(Enumerable.Range(0, Steps).Select(Fed).ToArray()).unsqueeze(0).expand(b, Steps);
        var allMask = torch.cat([mask, torch.ones(b, Steps, dtype: ScalarType.Int64)], 1);
        using var full = model.Forward(new Gemma3Inputs
        {
            InputIds = torch.cat([ids, fed], 1), PixelValues = pixels, AttentionMask = allMask,
            TokenTypeIds = torch.cat([types, torch.zeros(b, Steps, dtype: ScalarType.Int64)], 1), PositionIds = Positions(allMask),
        });
        return Enumerable.Range(0, Steps + 1).Select(i => full.Logits.select(1, n - 1 + i).clone()).ToArray();
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void EveryDecodePathGivesTheUncachedLogits(string shape)
    {
        using var scope = torch.NewDisposeScope();
        var config = Config(shape);
        using var model = RandomModel(config, seed: shape.Length);
        var (ids, mask, types, pixels) = ImagePrompts(config);
        Assert.True(ids.shape[1] > config.Text.SlidingWindow + 2, "the prompt must wrap the sliding ring");
        Tensor[] reference;
        Gemma3Attention.Kernel = AttentionKernel.Eager;
        Gemma3DecoderLayer.ScriptedDecode = false;
        try { reference = UncachedLogits(model, ids, mask, types, pixels); }
        finally { Gemma3Attention.Kernel = Gemma3Attention.DefaultKernel; Gemma3DecoderLayer.ScriptedDecode = null; }
        var largest = reference.Max(t => t.abs().max().item<float>());
        Assert.True(largest > 0.5, $"degenerate logits (max |logit| {largest})");

        foreach (var (kernel, scripted, deviceSteps) in new[]
                 {
                     (AttentionKernel.Eager, false, false), (AttentionKernel.Sdpa, false, false),
                     (AttentionKernel.Eager, true, false), (AttentionKernel.Sdpa, true, true),
                 })
        {
            Gemma3Attention.Kernel = kernel;
            try
            {
                var cached = Generation.ScriptedDecodeTests.StepLogits(model, ids, mask, scripted, deviceSteps, pixels, types, Steps, Fed);
                var worst = cached.Zip(reference, (a, r) => (a - r).abs().max().item<float>()).Max();
                output.WriteLine($"{shape}, {kernel}, scripted {scripted}, device steps {deviceSteps}: max |cached - uncached| {worst:E2} (max |logit| {largest:F2})");
                Assert.True(worst <= 2e-5f * Math.Max(1, largest), $"{shape}, {kernel}, scripted {scripted}, device steps {deviceSteps}: max |Δ| {worst}");
            }
            finally { Gemma3Attention.Kernel = Gemma3Attention.DefaultKernel; }
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void GreedyGenerationMatchesTheUncachedArgmaxPerRow(string shape)
    {
        using var scope = torch.NewDisposeScope();
        var config = Config(shape);
        using var model = RandomModel(config, seed: 3 * shape.Length);
        var (ids, mask, types, pixels) = ImagePrompts(config);
        const int count = 6;
        using var generator = new TokenGenerator(model, ids, pixels, mask, types, new GenerationOptions { MaxNewTokens = count, EosTokenIds = Array.Empty<long>() });
        var rows = generator.Run();
        for (var row = 0; row < 2; row++)
        {
            // Row alone, unpadded, recomputed from scratch at every step.
            var keep = mask[row].nonzero().squeeze(1);
            var seq = ids[row].index_select(0, keep).data<long>().ToList();
            var rowTypes = types[row].index_select(0, keep);
            using var noGrad = torch.no_grad();
            for (var i = 0; i < count; i++)
            {
                using var s = torch.NewDisposeScope();
                var t = torch.cat([rowTypes, torch.zeros(i, dtype: ScalarType.Int64)]).unsqueeze(0);
                using var o = model.Forward(new Gemma3Inputs { InputIds = torch.tensor(seq.ToArray()).unsqueeze(0), PixelValues = pixels.narrow(0, row, 1), TokenTypeIds = t, LogitsToKeep = 1 });
                seq.Add(o.Logits[0, -1].argmax().item<long>());
            }
            Assert.Equal(seq.Skip(seq.Count - count), rows[row]);
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void CheckpointedLoraTrainingGivesThePlainLossAndGradients(string shape)
    {
        using var scope = torch.NewDisposeScope();
        var config = Config(shape);
        using var model = RandomModel(config, seed: 5 * shape.Length);
        foreach (var (_, p) in model.named_parameters()) p.requires_grad_(false);
        var lora = new LoraModel(model);
        lora.AddAdapter("default", new LoraConfig { R = 4, Alpha = 8, Dropout = 0, TargetModules = ["q_proj", "v_proj"] });
        lora.SetActive("default");
        var trainable = lora.Parameters("default").ToList();
        using (torch.no_grad())
            foreach (var (name, p) in trainable)
                if (name.Contains(".lora_B.")) p.copy_(torch.randn(p.shape, generator: new Generator(9)) * 0.1);
        foreach (var (_, p) in trainable) p.requires_grad_(true);
        // PEFT's q_proj/v_proj match both towers.
        Assert.Contains(trainable, p => p.Name.Contains("vision_tower"));
        Assert.Contains(trainable, p => p.Name.Contains("language_model"));
        model.train();

        var (ids, mask, types, pixels) = ImagePrompts(config);
        var labels = ids.clone().masked_fill(mask.eq(0).logical_or(types.eq(1)).logical_or(ids.eq(Boi)).logical_or(ids.eq(Eoi)), -100);
        (float Loss, Tensor[] Grads) Step(bool checkpoint)
        {
            model.GradientCheckpointing = checkpoint;
            foreach (var (_, p) in trainable) p.grad?.zero_();
            using var o = model.Forward(new Gemma3Inputs { InputIds = ids, PixelValues = pixels, AttentionMask = mask, TokenTypeIds = types, Labels = labels });
            o.Loss!.backward();
            return (o.Loss.item<float>(), trainable.Select(p => p.Parameter.grad!.clone()).ToArray());
        }
        var plain = Step(false);
        var checkpointed = Step(true);
        Assert.True(float.IsFinite(plain.Loss));
        Assert.Equal(plain.Loss, checkpointed.Loss, 5);
        for (var i = 0; i < trainable.Count; i++)
            Assert.True(plain.Grads[i].abs().max().item<float>() > 0, $"{shape}, {trainable[i].Name} got no gradient");
        GradientCheckpointingTests.AssertSameGradients(trainable.Select(p => $"{shape}, {p.Name}").ToList(), plain.Grads, checkpointed.Grads);
    }
}
