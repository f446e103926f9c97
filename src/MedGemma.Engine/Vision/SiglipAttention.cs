using MedGemma.Engine.Config;
using MedGemma.Engine.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Vision;

/// <summary>Full bidirectional multi-head attention over the patches (no mask).</summary>
public sealed class SiglipAttention : nn.Module<Tensor, Tensor>
{
    internal nn.Module<Tensor, Tensor> q_proj;
    internal nn.Module<Tensor, Tensor> k_proj;
    internal nn.Module<Tensor, Tensor> v_proj;
    internal nn.Module<Tensor, Tensor> out_proj;
    readonly int heads, headDim;

    public SiglipAttention(SiglipVisionConfig c, Device? device = null, ScalarType? dtype = null) : base(nameof(SiglipAttention))
    {
        heads = c.NumAttentionHeads;
        headDim = c.HeadDim;
        q_proj = nn.Linear(c.HiddenSize, c.HiddenSize, device: device, dtype: dtype);
        k_proj = nn.Linear(c.HiddenSize, c.HiddenSize, device: device, dtype: dtype);
        v_proj = nn.Linear(c.HiddenSize, c.HiddenSize, device: device, dtype: dtype);
        out_proj = nn.Linear(c.HiddenSize, c.HiddenSize, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var (b, n, c) = (x.shape[0], x.shape[1], x.shape[2]);
        var q = q_proj.call(x).view(b, n, heads, headDim).transpose(1, 2);   // (B, H, n, D)
        var k = k_proj.call(x).view(b, n, heads, headDim).transpose(1, 2);
        var v = v_proj.call(x).view(b, n, heads, headDim).transpose(1, 2);
        var o = Gemma3Attention.Attend(q, k, v, null, Math.Pow(headDim, -0.5));
        o = o.transpose(1, 2).reshape(b, n, c);
        return out_proj.call(o).MoveToOuterDisposeScope();
    }
}
