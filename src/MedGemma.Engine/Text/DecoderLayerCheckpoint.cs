using MedGemma.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Text;

/// <summary>
/// Gradient checkpointing for one decoder layer (TorchSharp has no torch.utils.checkpoint): the forward runs
/// without recording the graph and keeps only the layer input; backward recomputes the layer with gradients on
/// (under the forward's random state: same dropout masks) and back-propagates through the recomputation, so
/// parameters (LoRA included) get the same gradients.
/// </summary>
internal sealed class DecoderLayerCheckpoint : torch.autograd.SingleTensorFunction<DecoderLayerCheckpoint>
{
    public override string Name => nameof(DecoderLayerCheckpoint);

    static AttentionContext Context(Tensor cos, Tensor sin, Tensor mask) => new()
    {
        GlobalCos = cos, GlobalSin = sin, LocalCos = cos, LocalSin = sin, GlobalMask = mask, LocalMask = mask,
    };

    /// <summary>vars: hidden, cos, sin, mask (for this layer's attention type), the layer.</summary>
    public override Tensor forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        var (hidden, cos, sin, mask) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (Tensor)vars[3]);
        var layer = (Gemma3DecoderLayer)vars[4];
        ctx.save_for_backward(new List<Tensor> { hidden, cos, sin, mask });
        ctx.save_data("layer", layer);
        ctx.save_data("rng", CheckpointRng.Capture(hidden.device));
        return layer.forward(hidden, Context(cos, sin, mask));
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var layer = (Gemma3DecoderLayer)ctx.get_data("layer");
        var gradInput = CheckpointBackward.InputGradient(ctx, gradOutput, (x, saved) => layer.forward(x, Context(saved[1], saved[2], saved[3])));
        return new List<Tensor> { gradInput, null!, null!, null!, null! };  // one entry per argument of apply()
    }
}
