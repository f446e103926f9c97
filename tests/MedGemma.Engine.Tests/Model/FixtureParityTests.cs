using MedGemma.Engine.Config;
using MedGemma.Engine.Generation;
using MedGemma.Engine.IO;
using MedGemma.Engine.Model;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Model;

/// <summary>Logits, image features and greedy generation against the reference, for every parity fixture case.</summary>
[Trait("Category", "Parity")]
public class FixtureParityTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> Cases() => ParityCases.All();

    static double MaxAbs(Tensor a, Tensor b) => (a.to(ScalarType.Float32) - b.to(ScalarType.Float32)).abs().max().item<float>();

    static Gemma3ForConditionalGeneration Load(string dir, string config, string model, ScalarType dtype)
    {
        var m = new Gemma3ForConditionalGeneration(Gemma3Config.Load(Path.Combine(dir, config)), torch.CPU, dtype);
        CheckpointLoader.Load(m, Path.Combine(dir, model), torch.CPU, dtype);
        m.eval();
        return m;
    }

    internal static long[][] Rows(Tensor t, int from)
    {
        var (b, l) = ((int)t.shape[0], (int)t.shape[1]);
        var flat = t.data<long>().ToArray();
        return Enumerable.Range(0, b).Select(r => flat.AsSpan(r * l + from, l - from).ToArray()).ToArray();
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void LogitsAndImageFeaturesMatchFloat32(string folder, string config, string model)
    {
        var dir = ParityCases.Resolve(folder, config, model);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var g = GoldenFile.Read(Path.Combine(dir, "golden.safetensors"));
        using var net = Load(dir, config, model, ScalarType.Float32);
        using var typed = net.Forward(new Gemma3Inputs
        {
            InputIds = g["input_ids"], PixelValues = g["pixel_values"], AttentionMask = g["attention_mask"], TokenTypeIds = g["token_type_ids"],
        });
        using var causal = net.Forward(new Gemma3Inputs { InputIds = g["input_ids"], PixelValues = g["pixel_values"], AttentionMask = g["attention_mask"] });
        Assert.False(typed.Logits.isnan().any().item<bool>(), "NaN in logits (padded rows must give finite logits)");
        var dTyped = MaxAbs(typed.Logits, g["logits_with_token_type_ids"]);
        var dCausal = MaxAbs(causal.Logits, g["logits_causal_only"]);
        var dFeatures = MaxAbs(typed.ImageFeatures!, g["image_features"]);
        output.WriteLine($"{Path.GetFileName(folder)} {config} {model}: logits_with_token_type_ids {dTyped:E2}, logits_causal_only {dCausal:E2}, image_features {dFeatures:E2}");
        Assert.True(dTyped <= 1e-4, $"logits_with_token_type_ids max |d| {dTyped}");
        Assert.True(dCausal <= 1e-4, $"logits_causal_only max |d| {dCausal}");
        Assert.True(dFeatures <= 1e-4, $"image_features max |d| {dFeatures}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GreedyGenerationMatches(string folder, string config, string model)
    {
        var dir = ParityCases.Resolve(folder, config, model);
        using var scope = torch.NewDisposeScope();
        var g = GoldenFile.Read(Path.Combine(dir, "golden.safetensors"));
        using var net = Load(dir, config, model, ScalarType.Float32);
        var genConfig = GenerationConfig.Load(dir, net.Config);
        var prompt = (int)g["input_ids"].shape[1];
        var options = new GenerationOptions { MaxNewTokens = (int)g["generated_greedy"].shape[1] - prompt };

        using (var gen = new TokenGenerator(net, g["input_ids"], g["pixel_values"], g["attention_mask"], g["token_type_ids"], options, genConfig))
            Assert.Equal(Rows(g["generated_greedy"], prompt), gen.Run());

        var alone = g["generated_greedy_row0_alone"];
        using (var gen = new TokenGenerator(net, g["input_ids"].narrow(0, 0, 1), g["pixel_values"].narrow(0, 0, 1),
                   g["attention_mask"].narrow(0, 0, 1), g["token_type_ids"].narrow(0, 0, 1), options with { MaxNewTokens = (int)alone.shape[1] - prompt }, genConfig))
            Assert.Equal(Rows(alone, prompt), gen.Run());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void BFloat16LogitsStayClose(string folder, string config, string model)
    {
        var dir = ParityCases.Resolve(folder, config, model);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var g = GoldenFile.Read(Path.Combine(dir, "golden.safetensors"));
        using var net = Load(dir, config, model, ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, net.DType);
        using var typed = net.Forward(new Gemma3Inputs
        {
            InputIds = g["input_ids"], PixelValues = g["pixel_values"], AttentionMask = g["attention_mask"], TokenTypeIds = g["token_type_ids"],
        });
        Assert.Equal(ScalarType.BFloat16, typed.Logits.dtype);
        var d = MaxAbs(typed.Logits, g["logits_with_token_type_ids"]);
        output.WriteLine($"{Path.GetFileName(folder)} {config} {model}: bfloat16 logits max |d| vs float32 reference = {d:F4}");
        Assert.True(d <= 0.1, $"bfloat16 logits max |d| {d}");
    }
}
