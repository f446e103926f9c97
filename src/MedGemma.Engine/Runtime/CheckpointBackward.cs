using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Runtime;

/// <summary>
/// The backward of a gradient-checkpointed layer (text decoder layer, SigLIP encoder layer): recompute the layer from
/// its saved input with gradients on, under the forward's random state (same dropout masks), back-propagate through
/// the recomputation, and return the input's gradient.
/// </summary>
internal static class CheckpointBackward
{
    /// <summary>
    /// The gradient of saved[0] given <paramref name="gradOutput"/>. <paramref name="recompute"/> gets the fresh input leaf
    /// and all saved tensors. Expects the "state" entry that <see cref="CheckpointState.Capture"/> saved in the forward.
    /// </summary>
    public static Tensor InputGradient(autograd.AutogradContext ctx, Tensor gradOutput, Func<Tensor, IList<Tensor>, Tensor> recompute)
    {
        ReturnedGradients.ReleaseConsumed();
        var saved = ctx.get_saved_variables();
        var state = (CheckpointState)ctx.get_data("state");
        Tensor gradInput;
        using (var scope = torch.NewDisposeScope())
        using (torch.enable_grad())
        {
            var x = saved[0].detach().requires_grad_(true);
            Tensor y = null!;
            state.Replay(() => y = recompute(x, saved));
            torch.autograd.backward(new[] { y }, new[] { gradOutput });
            gradInput = x.grad!.clone().MoveToOuterDisposeScope();
        }
        // These handles were made for this call (unpacked saved tensors, the incoming gradient); dropping them now
        // rather than at some later garbage collection frees the device memory they keep alive.
        foreach (var t in saved) t.Dispose();
        gradOutput.Dispose();
        return ReturnedGradients.Hand(gradInput);
    }
}
