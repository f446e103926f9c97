using MedGemma.Engine.Lora;
using MedGemma.Engine.Tests.Training;
using MedGemma.Engine.Vision;
using TorchSharp;
using static TorchSharp.torch;
using AdamW = MedGemma.Engine.Training.AdamW;

namespace MedGemma.Engine.Tests.Model;

/// <summary>
/// GradientCheckpointing covers both towers (as transformers' gradient_checkpointing_enable does), and the
/// recomputation replays the forward's random state: with LoRA dropout on, a checkpointed run trains exactly
/// the adapter a plain run trains.
/// </summary>
[Collection(nameof(GlobalRngCollection))]
public class VisionGradientCheckpointingTests
{
    const int Steps = 3;

    static (Dictionary<string, Tensor> Weights, int VisionLayerRuns) Train(string towers)
    {
        var g = TinyGemma3.Golden();
        using var model = TinyGemma3.LoadModel();
        torch.manual_seed(20261128);
        var lora = new LoraModel(model);
        lora.AddAdapter("a", new LoraConfig { R = 4, Alpha = 8, Dropout = 0.05, TargetModules = new[] { "q_proj", "v_proj" } });
        var parameters = lora.Parameters("a");
        using var optimizer = new AdamW(parameters, lr: 1e-2);
        model.train();
        model.GradientCheckpointing = towers is "both" or "vision";
        model.Model.LanguageModel.GradientCheckpointing = towers is "both" or "text";
        var runs = 0;
        var layer = (SiglipEncoderLayer)model.GetSubmodule("model.vision_tower.encoder.layers.1");
        var hook = layer.register_forward_pre_hook((_, x) => { runs++; return x; });
        for (var i = 0; i < Steps; i++)
        {
            using var scope = torch.NewDisposeScope();
            using var output = model.Forward(TinyGemma3.TrainingInputs(g) with { LogitsOnLabelsOnly = true });
            output.Loss!.backward();
            optimizer.Step();
            optimizer.ZeroGrad();
        }
        hook.remove();
        return (parameters.ToDictionary(p => p.Name, p => p.Parameter.detach().clone().DetachFromDisposeScope()), runs);
    }

    [Theory]
    [InlineData("both")]
    [InlineData("text")]
    [InlineData("vision")]
    public void CheckpointedTowersTrainTheSameAdapterWithDropout(string towers)
    {
        var plain = Train("none");
        var ckpt = Train(towers);
        Assert.Equal(Steps, plain.VisionLayerRuns);
        Assert.Equal(towers == "text" ? Steps : 2 * Steps, ckpt.VisionLayerRuns); // a checkpointed layer runs again in backward
        Assert.Contains(plain.Weights.Keys, k => k.Contains("vision_tower") && k.Contains("lora_B"));
        foreach (var (name, w) in plain.Weights)
        {
            var max = w.abs().max().item<float>();
            Assert.True(max > 0, name + " is zero: the adapter did not train");
            var rel = (w - ckpt.Weights[name]).abs().max().item<float>() / max;
            Assert.True(rel <= 1e-6, $"{name}: relative difference {rel} after {Steps} steps");
        }
        foreach (var t in plain.Weights.Values.Concat(ckpt.Weights.Values)) t.Dispose();
    }
}
