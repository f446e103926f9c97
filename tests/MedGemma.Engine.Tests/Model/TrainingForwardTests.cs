using MedGemma.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Model;

public class TrainingForwardTests
{
    [Fact]
    public void LossIsShiftedMeanCrossEntropyAndGradientsFlow()
    {
        using var scope = torch.NewDisposeScope();
        var g = TinyGemma3.Golden();
        using var model = TinyGemma3.LoadModel();
        model.train();
        using var output = model.Forward(TinyGemma3.TrainingInputs(g));
        Assert.NotNull(output.Loss);

        // Reference computation from the returned logits: predict token t+1 at t, average over labels != -100.
        var logits = output.Logits.detach();
        var labels = g["labels"];
        var logp = logits.narrow(1, 0, logits.shape[1] - 1).log_softmax(-1);
        var target = labels.narrow(1, 1, labels.shape[1] - 1);
        var keep = target.ne(-100);
        var picked = logp.gather(-1, target.clamp_min(0).unsqueeze(-1)).squeeze(-1);
        var expected = -(picked * keep).sum() / keep.sum();
        Assert.Equal(expected.item<float>(), output.Loss!.item<float>(), 5);

        // Logits agree with the golden forward, so the loss is the reference model's loss.
        Assert.True((logits - g["logits_with_token_type_ids"]).abs().max().item<float>() < 1e-4);

        output.Loss.backward();
        var q = model.Model.LanguageModel.EmbedTokens.Weight.grad;
        Assert.NotNull(q);
        Assert.False(q!.isnan().any().item<bool>(), "NaN gradient (padded rows must stay finite)");
        var vgrad = model.GetSubmodule("model.vision_tower.encoder.layers.0.self_attn.q_proj").parameters().First().grad;
        Assert.NotNull(vgrad);
        Assert.True(vgrad!.abs().sum().item<float>() > 0);
    }
}
