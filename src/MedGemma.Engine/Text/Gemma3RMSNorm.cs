using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MedGemma.Engine.Text;

/// <summary>Gemma's RMSNorm: computed in float32 and scaled by (1 + weight), then cast back (not Llama's x.to(dtype) * w).</summary>
public sealed class Gemma3RMSNorm : nn.Module<Tensor, Tensor>
{
    readonly Parameter weight;
    readonly double eps;

    public Gemma3RMSNorm(long dim, double eps, Device? device = null, ScalarType? dtype = null) : base(nameof(Gemma3RMSNorm))
    {
        this.eps = eps;
        weight = new Parameter(torch.zeros(dim, dtype: dtype ?? ScalarType.Float32, device: device));
        RegisterComponents();
    }

    public Parameter Weight => weight;

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var xf = x.to(ScalarType.Float32);
        var normed = xf * torch.rsqrt(xf.pow(2).mean(new long[] { -1 }, keepdim: true) + eps);
        var output = normed * (weight.to(ScalarType.Float32) + 1.0);
        return output.to(x.dtype).MoveToOuterDisposeScope();
    }
}
