using MedGemma.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Model;

public class GradientCheckpointingTests
{
    /// <summary>The tiny model frozen, with the fixture's PEFT adapter "a" attached, active and trainable, in train mode: LoRA training.</summary>
    static (MedGemma.Engine.Model.Gemma3ForConditionalGeneration Model, MedGemma.Engine.Lora.LoraModel Lora) WithTrainableAdapter()
    {
        var model = TinyGemma3.LoadModel();
        foreach (var (_, p) in model.named_parameters()) p.requires_grad_(false);
        var lora = new MedGemma.Engine.Lora.LoraModel(model);
        lora.Attach(Path.Combine(TinyGemma3.Folder, "adapter"), "a");
        lora.SetActive("a");
        foreach (var (_, p) in lora.Parameters("a")) p.requires_grad_(true);
        model.train();
        return (model, lora);
    }

    /// <summary>One LoRA training forward and backward, with or without checkpointing: the adapter's gradients.</summary>
    static (float Loss, Tensor[] Grads) LoraGradients(MedGemma.Engine.Model.Gemma3ForConditionalGeneration model, IReadOnlyList<(string Name, TorchSharp.Modules.Parameter Parameter)> trainable,
        IReadOnlyDictionary<string, Tensor> g, bool checkpoint, Action? beforeBackward = null)
    {
        model.GradientCheckpointing = checkpoint;
        foreach (var (_, p) in trainable) p.grad?.zero_();
        using var output = model.Forward(TinyGemma3.TrainingInputs(g));
        beforeBackward?.Invoke();
        output.Loss!.backward();
        return (output.Loss.item<float>(), trainable.Select(x => x.Parameter.grad!.clone()).ToArray());
    }

    /// <summary>Each checkpointed gradient within 1e-5 of the plain one, relative to the plain one's largest element.</summary>
    internal static void AssertSameGradients(IReadOnlyList<string> names, Tensor[] plain, Tensor[] checkpointed)
    {
        for (var i = 0; i < names.Count; i++)
        {
            var max = plain[i].abs().max().item<float>();
            var rel = (plain[i] - checkpointed[i]).abs().max().item<float>() / max;
            Assert.True(rel < 1e-5, $"{names[i]}: relative gradient difference {rel} (max {max})");
        }
    }

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
            Assert.True(plain.Grads[i].abs().max().item<float>() > 0, trainable[i] + " got no gradient");
        AssertSameGradients(trainable, plain.Grads, ckpt.Grads);
    }

    /// <summary>Plain norms (the CPU default) and fused ones (the CUDA default): the recomputation runs what the forward ran.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CheckpointedLayersGiveLoraTheSameGradients(bool fusedNorms)
    {
        MedGemma.Engine.Text.Gemma3RMSNorm.Fused = fusedNorms;
        using var scope = torch.NewDisposeScope();
        var g = TinyGemma3.Golden();
        var (model, lora) = WithTrainableAdapter();
        using var _ = model;
        var trainable = lora.Parameters("a");

        // Churn the allocator between forward and backward, as a training loop does.
        (float Loss, Tensor[] Grads) Step(bool checkpoint) =>
            LoraGradients(model, trainable, g, checkpoint, () => { for (var i = 0; i < 20; i++) torch.randn(4096).Dispose(); });

        (float Loss, Tensor[] Grads) plain, ckpt;
        var before = MedGemma.Engine.Text.FusedRmsNorm.Calls;
        try { (plain, ckpt) = (Step(false), Step(true)); }
        finally { MedGemma.Engine.Text.Gemma3RMSNorm.Fused = null; }
        Assert.Equal(fusedNorms, MedGemma.Engine.Text.FusedRmsNorm.Calls > before);
        Assert.Equal(plain.Loss, ckpt.Loss, 6);
        AssertSameGradients(trainable.Select(t => t.Name).ToList(), plain.Grads, ckpt.Grads);
    }

    /// <summary>
    /// On CUDA, Auto runs masked attention through SDPA only without gradients. A checkpointed layer's forward runs
    /// without gradients and its recomputation with them (on a GPU, on libtorch's thread): both must run the kernel the
    /// text model chose for the step, eager while training, or the gradients belong to another computation.
    /// </summary>
    [Fact]
    public void CheckpointedLayersRecomputeWithTheKernelOfTheirForward()
    {
        MedGemma.Engine.Text.Gemma3Attention.AutoAsOnCuda = true;
        try
        {
            using var scope = torch.NewDisposeScope();
            var g = TinyGemma3.Golden();
            var (model, lora) = WithTrainableAdapter();
            using var _ = model;
            var trainable = lora.Parameters("a");
            long Sdpa() => MedGemma.Engine.Text.Gemma3Attention.MaskedSdpaCalls;

            // The hook works: without gradients, Auto takes SDPA for the masked text attention.
            var before = Sdpa();
            using (torch.no_grad())
                model.Forward(TinyGemma3.TrainingInputs(g)).Dispose();
            Assert.True(Sdpa() > before, "Auto did not pick SDPA without gradients");

            before = Sdpa();
            var plain = LoraGradients(model, trainable, g, checkpoint: false).Grads;
            var ckpt = LoraGradients(model, trainable, g, checkpoint: true).Grads;
            Assert.Equal(before, Sdpa());
            AssertSameGradients(trainable.Select(t => t.Name).ToList(), plain, ckpt);
        }
        finally { MedGemma.Engine.Text.Gemma3Attention.AutoAsOnCuda = false; }
    }

    /// <summary>
    /// With SDPA chosen for training (the kernel the reference trains with): the checkpointed layers get the forward's
    /// additive masks, run SDPA in the forward and again in the recomputation, and give the same gradients.
    /// </summary>
    [Fact]
    public void CheckpointedLayersUnderSdpaGiveTheSameGradients()
    {
        var kernel = MedGemma.Engine.Text.Gemma3Attention.Kernel;
        MedGemma.Engine.Text.Gemma3Attention.Kernel = MedGemma.Engine.Text.AttentionKernel.Sdpa;
        try
        {
            using var scope = torch.NewDisposeScope();
            var g = TinyGemma3.Golden();
            var (model, lora) = WithTrainableAdapter();
            using var _ = model;
            var trainable = lora.Parameters("a");
            (Tensor[] Grads, long SdpaCalls) Step(bool checkpoint)
            {
                var before = MedGemma.Engine.Text.Gemma3Attention.MaskedSdpaCalls;
                var grads = LoraGradients(model, trainable, g, checkpoint).Grads;
                return (grads, MedGemma.Engine.Text.Gemma3Attention.MaskedSdpaCalls - before);
            }
            var plain = Step(false);
            var ckpt = Step(true);
            Assert.True(plain.SdpaCalls > 0);
            Assert.Equal(2 * plain.SdpaCalls, ckpt.SdpaCalls);   // each text layer: forward, then recomputation
            AssertSameGradients(trainable.Select(t => t.Name).ToList(), plain.Grads, ckpt.Grads);
        }
        finally { MedGemma.Engine.Text.Gemma3Attention.Kernel = kernel; }
    }

    /// <summary>
    /// On a GPU backward runs on libtorch's own thread, where none of the caller's async-local settings exist: the
    /// recomputation must still run the ops its forward ran (here fused norms, set for this flow only). Emulated on a
    /// CPU by a backward on a thread the caller's execution context does not flow to.
    /// </summary>
    [Fact]
    public void RecomputationOnAnotherThreadKeepsTheCallersSettings()
    {
        MedGemma.Engine.Text.Gemma3RMSNorm.Fused = true;
        try
        {
            using var scope = torch.NewDisposeScope();
            var g = TinyGemma3.Golden();
            var (model, _) = WithTrainableAdapter();
            using var __ = model;
            model.GradientCheckpointing = true;
            var loss = model.Forward(TinyGemma3.TrainingInputs(g)).Loss!;
            Task<long> backward;
            using (ExecutionContext.SuppressFlow())
                backward = Task.Factory.StartNew(() =>
                {
                    Assert.Null(MedGemma.Engine.Text.Gemma3RMSNorm.Fused);   // the setting really is not seen on this thread
                    var before = MedGemma.Engine.Text.FusedRmsNorm.Calls;
                    loss.backward();
                    return MedGemma.Engine.Text.FusedRmsNorm.Calls - before;
                }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            Assert.True(backward.Result > 0, "the recomputation ran plain norms");
        }
        finally { MedGemma.Engine.Text.Gemma3RMSNorm.Fused = null; }
    }

    /// <summary>
    /// A checkpointed backward must not leave tensor handles for the garbage collector: on a GPU each one kept a
    /// layer's activations or gradients alive (gigabytes per step at MedGemma's size) until a collection ran.
    /// Counted against the same steps without checkpointing, so only what the checkpoint wrappers leave shows.
    /// </summary>
    [Fact]
    public void CheckpointedBackwardLeavesNoHandlesBehind()
    {
        var g = TinyGemma3.Golden();
        var (model, lora) = WithTrainableAdapter();
        using var _ = model;
        var inputs = TinyGemma3.TrainingInputs(g);

        // No DisposeScope around the backward: on a GPU it runs on libtorch's device thread, where no scope of ours
        // exists, so whatever the checkpoint's backward leaves undisposed waits for the garbage collector. On a CPU
        // it runs on this thread; without a scope its handles show in this thread's live count.
        void Step()
        {
            Tensor loss;
            using (var scope = torch.NewDisposeScope())
                loss = model.Forward(inputs).Loss!.DetachFromDisposeScope();
            loss.backward();
            loss.Dispose();
            MedGemma.Engine.Runtime.ReturnedGradients.ReleaseConsumed();
            foreach (var (_, p) in lora.Parameters("a"))
                using (var grad = p.grad) grad?.zero_();
        }

        long LiveAfterSteps(bool checkpoint)
        {
            model.GradientCheckpointing = checkpoint;
            Step();   // first-use allocations stay out of the count
            var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
            for (var i = 0; i < 3; i++) Step();
            return DisposeScopeManager.Statistics.ThreadTotalLiveCount - before;
        }

        var plain = LiveAfterSteps(false);
        var checkpointed = LiveAfterSteps(true);
        var layers = model.Config.Text.NumHiddenLayers + model.Config.Vision.NumHiddenLayers;
        // Before the fix each checkpointed layer left 3-6 handles per step (unpacked saved tensors, incoming and returned gradients).
        Assert.True(checkpointed - plain < layers, $"checkpointing left {checkpointed - plain} more tensor handles alive over 3 steps ({layers} checkpointed layers)");
    }
}
