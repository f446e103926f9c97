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

    [Fact]
    public void LogitsOnLabelsOnlyGiveTheSameLossGradientsAndRows()
    {
        using var scope = torch.NewDisposeScope();
        var g = TinyGemma3.Golden();
        using var model = TinyGemma3.LoadModel();
        model.train();
        var vision = model.GetSubmodule("model.vision_tower.encoder.layers.1.self_attn.q_proj").parameters().First();
        var text = model.GetSubmodule("model.language_model.layers.0.self_attn.v_proj").parameters().First();
        foreach (var (_, p) in model.named_parameters()) p.requires_grad_(false);
        vision.requires_grad_(true);
        text.requires_grad_(true);

        (Tensor Logits, float Loss, Tensor VisionGrad, Tensor TextGrad) Run(bool labelledOnly)
        {
            vision.grad?.zero_();
            text.grad?.zero_();
            using var output = model.Forward(TinyGemma3.TrainingInputs(g) with { LogitsOnLabelsOnly = labelledOnly });
            output.Loss!.backward();
            return (output.Logits.detach().clone(), output.Loss.item<float>(), vision.grad!.clone(), text.grad!.clone());
        }

        var full = Run(false);
        var cheap = Run(true);
        Assert.True(Math.Abs(full.Loss - cheap.Loss) <= 1e-6, $"loss {full.Loss} vs {cheap.Loss}");
        foreach (var (a, b, name) in new[] { (full.VisionGrad, cheap.VisionGrad, "vision q_proj"), (full.TextGrad, cheap.TextGrad, "text v_proj") })
        {
            var max = a.abs().max().item<float>();
            Assert.True(max > 0, name + " got no gradient");
            Assert.True((a - b).abs().max().item<float>() / max <= 1e-5, name);
        }

        // The rows are the full logits at positions whose next token is a label, padding (attention mask 0) dropped.
        var labels = g["labels"];
        var mask = g["attention_mask"];
        var expectedRows = new List<Tensor>();
        for (long r = 0; r < labels.shape[0]; r++)
            for (long t = 0; t + 1 < labels.shape[1]; t++)
                if (labels[r, t + 1].item<long>() != -100 && mask[r, t + 1].item<long>() != 0) expectedRows.Add(full.Logits[r, t]);
        Assert.True(expectedRows.Count > 0 && expectedRows.Count < labels.shape[0] * labels.shape[1] / 2, $"{expectedRows.Count} labelled rows");
        Assert.Equal(new long[] { expectedRows.Count, full.Logits.shape[2] }, cheap.Logits.shape);
        Assert.True((torch.stack(expectedRows) - cheap.Logits).abs().max().item<float>() < 1e-5);
    }
}
