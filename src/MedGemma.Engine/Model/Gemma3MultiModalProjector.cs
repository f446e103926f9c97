using MedGemma.Engine.Config;
using MedGemma.Engine.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MedGemma.Engine.Model;

/// <summary>
/// Vision hidden states (N, patches, Cv) -> image tokens (N, mm_tokens_per_image, Ct): average-pool the patch
/// grid down to a sqrt(mm_tokens) side, Gemma RMSNorm, then a bias-free projection stored as a bare (Cv, Ct) matrix.
/// </summary>
public sealed class Gemma3MultiModalProjector : nn.Module<Tensor, Tensor>
{
    internal Parameter mm_input_projection_weight;
    internal Gemma3RMSNorm mm_soft_emb_norm;
    readonly int patchesPerSide;
    readonly int kernel;

    public Gemma3MultiModalProjector(Gemma3Config c, Device? device = null, ScalarType? dtype = null) : base(nameof(Gemma3MultiModalProjector))
    {
        mm_input_projection_weight = new Parameter(torch.zeros(new long[] { c.Vision.HiddenSize, c.Text.HiddenSize }, dtype: dtype ?? ScalarType.Float32, device: device));
        mm_soft_emb_norm = new Gemma3RMSNorm(c.Vision.HiddenSize, c.Vision.LayerNormEps, device, dtype);
        patchesPerSide = c.Vision.PatchesPerSide;
        kernel = patchesPerSide / (int)Math.Round(Math.Sqrt(c.MmTokensPerImage));
        RegisterComponents();
    }

    public override Tensor forward(Tensor visionOutputs)
    {
        using var scope = torch.NewDisposeScope();
        var (b, _, c) = (visionOutputs.shape[0], visionOutputs.shape[1], visionOutputs.shape[2]);
        var grid = visionOutputs.transpose(1, 2).reshape(b, c, patchesPerSide, patchesPerSide).contiguous(); // (N, Cv, P, P)
        var pooled = nn.functional.avg_pool2d(grid, new long[] { kernel, kernel }, new long[] { kernel, kernel });
        var tokens = pooled.flatten(2).transpose(1, 2);                                                       // (N, T, Cv)
        var normed = mm_soft_emb_norm.call(tokens);
        var projected = torch.matmul(normed, mm_input_projection_weight);                                     // (N, T, Ct)
        return projected.to(visionOutputs.dtype).MoveToOuterDisposeScope();
    }
}
