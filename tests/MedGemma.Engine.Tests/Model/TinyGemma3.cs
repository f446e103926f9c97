using MedGemma.Engine.Config;
using MedGemma.Engine.IO;
using MedGemma.Engine.Model;
using MedGemma.Engine.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Model;

/// <summary>The tiny-gemma3 fixture as training tests use it: the float32 model on the CPU and its golden tensors.</summary>
internal static class TinyGemma3
{
    public static string Folder => Fixtures.Folder("tiny-gemma3");

    public static Gemma3ForConditionalGeneration LoadModel()
    {
        var dir = Folder;
        var model = new Gemma3ForConditionalGeneration(Gemma3Config.Load(dir));
        CheckpointLoader.Load(model, Path.Combine(dir, "model.safetensors"), torch.CPU, ScalarType.Float32);
        return model;
    }

    /// <summary>
    /// Inference under the current settings (attention kernel, fused norms) gives the reference's logits and image
    /// features (≤ 1e-4) and its greedy ids; returns the logits' max |Δ|.
    /// </summary>
    public static float AssertReferenceLogitsAndIds()
    {
        using var scope = torch.NewDisposeScope();
        var g = Golden();
        using var model = LoadModel();
        model.eval();
        float d;
        using (torch.no_grad())
        {
            using var r = model.Forward(new Gemma3Inputs
            {
                InputIds = g["input_ids"], PixelValues = g["pixel_values"], AttentionMask = g["attention_mask"], TokenTypeIds = g["token_type_ids"],
            });
            d = (r.Logits - g["logits_with_token_type_ids"]).abs().max().item<float>();
            var f = (r.ImageFeatures! - g["image_features"]).abs().max().item<float>();
            Xunit.Assert.True(d <= 1e-4 && f <= 1e-4, $"logits max |Δ| {d}, image features {f}");
        }
        var prompt = (int)g["input_ids"].shape[1];
        using var gen = new Engine.Generation.TokenGenerator(model, g["input_ids"], g["pixel_values"], g["attention_mask"], g["token_type_ids"],
            new Engine.Generation.GenerationOptions { MaxNewTokens = (int)g["generated_greedy"].shape[1] - prompt }, GenerationConfig.Load(Folder));
        Xunit.Assert.Equal(FixtureParityTests.Rows(g["generated_greedy"], prompt), gen.Run());
        return d;
    }

    public static Dictionary<string, Tensor> Golden() => GoldenFile.Read(Path.Combine(Folder, "golden.safetensors"));

    /// <summary>The reference trainer's inputs: golden ids, pixels, mask, token types and labels.</summary>
    public static Gemma3Inputs TrainingInputs(IReadOnlyDictionary<string, Tensor> g) => new()
    {
        InputIds = g["input_ids"], PixelValues = g["pixel_values"], AttentionMask = g["attention_mask"],
        TokenTypeIds = g["token_type_ids"], Labels = g["labels"],
    };
}
