using MedGemma.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Model;

public class GradientCheckpointingTests
{
    [Fact]
    public void CheckpointedLayersGiveTheSameLossAndGradients()
    {
        using var scope = torch.NewDisposeScope();
        var g = TinyGemma3.Golden();
        using var model = TinyGemma3.LoadModel();
        model.train();
        // As under LoRA: everything frozen (embedding included) except a few projections.
        string[] trainable = { "model.language_model.layers.2.self_attn.q_proj.weight", "model.language_model.layers.5.self_attn.v_proj.weight",
                               "model.language_model.layers.6.mlp.up_proj.weight" };
        foreach (var (name, p) in model.named_parameters()) p.requires_grad_(trainable.Contains(name));

        (float Loss, Tensor[] Grads) Step(bool checkpoint)
        {
            model.GradientCheckpointing = checkpoint;
            model.zero_grad();
            using var output = model.Forward(TinyGemma3.TrainingInputs(g));
            output.Loss!.backward();
            var named = model.named_parameters().ToDictionary(x => x.name, x => x.parameter);
            return (output.Loss.item<float>(), trainable.Select(n => named[n].grad!.clone()).ToArray());
        }

        var plain = Step(false);
        var ckpt = Step(true);
        Assert.Equal(plain.Loss, ckpt.Loss, 6);
        for (var i = 0; i < trainable.Length; i++)
        {
            var rel = (plain.Grads[i] - ckpt.Grads[i]).abs().max().item<float>() / plain.Grads[i].abs().max().item<float>();
            Assert.True(plain.Grads[i].abs().max().item<float>() > 0, trainable[i] + " got no gradient");
            Assert.True(rel < 1e-5, $"{trainable[i]}: relative gradient difference {rel}");
        }
    }

    [Fact]
    public void CheckpointedLayersGiveLoraTheSameGradients()
    {
        using var scope = torch.NewDisposeScope();
        var g = TinyGemma3.Golden();
        using var model = TinyGemma3.LoadModel();
        foreach (var (_, p) in model.named_parameters()) p.requires_grad_(false);
        var lora = new MedGemma.Engine.Lora.LoraModel(model);
        lora.Attach(Path.Combine(TinyGemma3.Folder, "adapter"), "a");
        lora.SetActive("a");
        var trainable = lora.Parameters("a");
        foreach (var (_, p) in trainable) p.requires_grad_(true);
        model.train();

        (float Loss, Tensor[] Grads) Step(bool checkpoint)
        {
            model.GradientCheckpointing = checkpoint;
            foreach (var (_, p) in trainable) p.grad?.zero_();
            using (var output = model.Forward(TinyGemma3.TrainingInputs(g)))
            {
                // Churn the allocator between forward and backward, as a training loop does.
                for (var i = 0; i < 20; i++) torch.randn(4096).Dispose();
                output.Loss!.backward();
                return (output.Loss.item<float>(), trainable.Select(x => x.Parameter.grad!.clone()).ToArray());
            }
        }

        var plain = Step(false);
        var ckpt = Step(true);
        Assert.Equal(plain.Loss, ckpt.Loss, 6);
        for (var i = 0; i < trainable.Count; i++)
        {
            var max = plain.Grads[i].abs().max().item<float>();
            var rel = (plain.Grads[i] - ckpt.Grads[i]).abs().max().item<float>() / max;
            Assert.True(rel < 1e-5, $"{trainable[i].Name}: relative gradient difference {rel} (max {max})");
        }
    }
}
