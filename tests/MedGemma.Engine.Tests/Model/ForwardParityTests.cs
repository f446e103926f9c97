using MedGemma.Engine.Config;
using MedGemma.Engine.IO;
using MedGemma.Engine.Model;
using MedGemma.Engine.Tests.Support;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Model;

[Trait("Category", "Parity")]
public class ForwardParityTests(ITestOutputHelper output)
{
    static string Tiny => Fixtures.Folder("tiny-gemma3");

    static double MaxAbs(Tensor a, Tensor b) => (a.to(ScalarType.Float32) - b.to(ScalarType.Float32)).abs().max().item<float>();

    [Fact]
    public void TinyLogitsAndFeaturesMatch()
    {
        using var scope = torch.NewDisposeScope();
        var golden = GoldenFile.Read(Path.Combine(Tiny, "golden.safetensors"));
        using var model = new Gemma3ForConditionalGeneration(Gemma3Config.Load(Tiny));
        CheckpointLoader.Load(model, Path.Combine(Tiny, "model.v5-layout.safetensors"), torch.CPU, ScalarType.Float32);
        model.eval();
        using var noGrad = torch.no_grad();
        var withTypes = model.Forward(new Gemma3Inputs
        {
            InputIds = golden["input_ids"], PixelValues = golden["pixel_values"],
            AttentionMask = golden["attention_mask"], TokenTypeIds = golden["token_type_ids"],
        });
        var causal = model.Forward(new Gemma3Inputs
        {
            InputIds = golden["input_ids"], PixelValues = golden["pixel_values"], AttentionMask = golden["attention_mask"],
        });
        var dF = MaxAbs(withTypes.ImageFeatures!, golden["image_features"]);
        var dT = MaxAbs(withTypes.Logits, golden["logits_with_token_type_ids"]);
        var dC = MaxAbs(causal.Logits, golden["logits_causal_only"]);
        output.WriteLine($"features {dF:E3} logits(types) {dT:E3} logits(causal) {dC:E3}");
        Assert.True(dF <= 1e-4);
        Assert.True(dT <= 1e-4);
        Assert.True(dC <= 1e-4);
    }
}
