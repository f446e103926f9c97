using MedGemma.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Text;

/// <summary>
/// Gradient checkpointing for one decoder layer (TorchSharp has no torch.utils.checkpoint): the forward runs
/// without recording the graph and keeps only the layer input; backward recomputes the layer with gradients on
/// (under the forward's random state: same dropout masks; with the forward's attention kernel and masks) and
/// back-propagates through the recomputation, so parameters (LoRA included) get the same gradients.
/// </summary>
internal sealed class DecoderLayerCheckpoint : torch.autograd.SingleTensorFunction<DecoderLayerCheckpoint>
{
    public override string Name => nameof(DecoderLayerCheckpoint);

    /// <summary>
    /// The layer on <paramref name="hidden"/>, checkpointed. <paramref name="mask"/> is the boolean mask of the layer's
    /// attention type, <paramref name="sdpaMask"/> its additive form when the forward built one, <paramref name="sdpa"/>
    /// the forward's kernel decision (<see cref="AttentionContext.Sdpa"/>).
    /// </summary>
    public static Tensor Run(Tensor hidden, Tensor cos, Tensor sin, Tensor mask, Tensor? sdpaMask, bool sdpa, Gemma3DecoderLayer layer) =>
        sdpaMask is null ? apply(hidden, cos, sin, mask, layer, sdpa) : apply(hidden, cos, sin, mask, layer, sdpa, sdpaMask);

    static AttentionContext Context(IList<Tensor> saved, bool sdpa)
    {
        var sdpaMask = saved.Count > 4 ? saved[4] : null;
        return new()
        {
            GlobalCos = saved[1], GlobalSin = saved[2], LocalCos = saved[1], LocalSin = saved[2], GlobalMask = saved[3], LocalMask = saved[3],
            GlobalSdpaMask = sdpaMask, LocalSdpaMask = sdpaMask, Sdpa = sdpa,
        };
    }

    /// <summary>vars: hidden, cos, sin, mask, the layer, the kernel decision, and the additive mask if any.</summary>
    public override Tensor forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        var saved = new List<Tensor> { (Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (Tensor)vars[3] };
        if (vars.Length > 6) saved.Add((Tensor)vars[6]);
        var layer = (Gemma3DecoderLayer)vars[4];
        var sdpa = (bool)vars[5];
        ctx.save_for_backward(saved);
        ctx.save_data("layer", layer);
        ctx.save_data("sdpa", sdpa);
        ctx.save_data("args", vars.Length);
        ctx.save_data("state", CheckpointState.Capture(saved[0].device));
        return layer.forward(saved[0], Context(saved, sdpa));
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var layer = (Gemma3DecoderLayer)ctx.get_data("layer");
        var sdpa = (bool)ctx.get_data("sdpa");
        var args = (int)ctx.get_data("args");
        var gradInput = CheckpointBackward.InputGradient(ctx, gradOutput, (x, saved) => layer.forward(x, Context(saved, sdpa)));
        // One entry per argument of apply(): the input's gradient, none for the rest.
        var grads = new List<Tensor> { gradInput };
        for (var i = 1; i < args; i++) grads.Add(null!);
        return grads;
    }
}
