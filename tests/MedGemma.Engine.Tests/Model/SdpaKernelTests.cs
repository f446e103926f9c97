using MedGemma.Engine.Config;
using MedGemma.Engine.Generation;
using MedGemma.Engine.IO;
using MedGemma.Engine.Model;
using MedGemma.Engine.Tests.Support;
using MedGemma.Engine.Text;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Model;

/// <summary>The fused SDPA path (the GPU default) gives the reference's logits and ids too, padded rows included.</summary>
[Trait("Category", "Parity")]
public class SdpaKernelTests(ITestOutputHelper output)
{
    [Fact]
    public void SdpaMatchesTheReference()
    {
        Gemma3Attention.Kernel = AttentionKernel.Sdpa;
        using var scope = torch.NewDisposeScope();
        var dir = Fixtures.Folder("tiny-gemma3");
        var g = GoldenFile.Read(Path.Combine(dir, "golden.safetensors"));
        using var model = new Gemma3ForConditionalGeneration(Gemma3Config.Load(dir));
        CheckpointLoader.Load(model, Path.Combine(dir, "model.safetensors"), torch.CPU, ScalarType.Float32);
        model.eval();
        using (torch.no_grad())
        {
            using var r = model.Forward(new Gemma3Inputs
            {
                InputIds = g["input_ids"], PixelValues = g["pixel_values"], AttentionMask = g["attention_mask"], TokenTypeIds = g["token_type_ids"],
            });
            var d = (r.Logits - g["logits_with_token_type_ids"]).abs().max().item<float>();
            var f = (r.ImageFeatures! - g["image_features"]).abs().max().item<float>();
            output.WriteLine($"sdpa: logits {d:E2} features {f:E2}");
            Assert.True(d <= 1e-4 && f <= 1e-4);
        }
        var prompt = (int)g["input_ids"].shape[1];
        using var gen = new TokenGenerator(model, g["input_ids"], g["pixel_values"], g["attention_mask"], g["token_type_ids"],
            new GenerationOptions { MaxNewTokens = (int)g["generated_greedy"].shape[1] - prompt }, GenerationConfig.Load(dir));
        Assert.Equal(FixtureParityTests.Rows(g["generated_greedy"], prompt), gen.Run());
    }
}
