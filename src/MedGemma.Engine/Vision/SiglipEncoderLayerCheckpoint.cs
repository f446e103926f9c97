using MedGemma.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Vision;

/// <summary>
/// Gradient checkpointing for one SigLIP encoder layer, as transformers' gradient_checkpointing_enable does for the
/// vision tower: the forward keeps only the layer input (at 896 px a layer's activations are hundreds of MB per image),
/// backward recomputes the layer with gradients on, under the forward's random state, and back-propagates through it.
/// </summary>
internal sealed class SiglipEncoderLayerCheckpoint : torch.autograd.SingleTensorFunction<SiglipEncoderLayerCheckpoint>
{
    public override string Name => nameof(SiglipEncoderLayerCheckpoint);

    /// <summary>vars: hidden, the layer.</summary>
    public override Tensor forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        var hidden = (Tensor)vars[0];
        var layer = (SiglipEncoderLayer)vars[1];
        ctx.save_for_backward(new List<Tensor> { hidden });
        ctx.save_data("layer", layer);
        ctx.save_data("state", CheckpointState.Capture(hidden.device));
        return layer.call(hidden);
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var layer = (SiglipEncoderLayer)ctx.get_data("layer");
        var gradInput = CheckpointBackward.InputGradient(ctx, gradOutput, (x, _) => layer.call(x));
        return new List<Tensor> { gradInput, null! };  // one entry per argument of apply()
    }
}
