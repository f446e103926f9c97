using MedGemma.Engine.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MedGemma.Engine.Vision;

/// <summary>fc1 -> gelu(tanh) -> fc2.</summary>
public sealed class SiglipMLP : nn.Module<Tensor, Tensor>
{
    internal nn.Module<Tensor, Tensor> fc1;
    internal nn.Module<Tensor, Tensor> fc2;

    public SiglipMLP(SiglipVisionConfig c, Device? device = null, ScalarType? dtype = null) : base(nameof(SiglipMLP))
    {
        fc1 = nn.Linear(c.HiddenSize, c.IntermediateSize, device: device, dtype: dtype);
        fc2 = nn.Linear(c.IntermediateSize, c.HiddenSize, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = nn.functional.gelu(fc1.call(x), GELU.Approximate.tanh);
        return fc2.call(h).MoveToOuterDisposeScope();
    }
}

/// <summary>Pre-LayerNorm transformer block.</summary>
public sealed class SiglipEncoderLayer : nn.Module<Tensor, Tensor>
{
    internal LayerNorm layer_norm1;
    internal SiglipAttention self_attn;
    internal LayerNorm layer_norm2;
    internal SiglipMLP mlp;

    public SiglipEncoderLayer(SiglipVisionConfig c, Device? device = null, ScalarType? dtype = null) : base(nameof(SiglipEncoderLayer))
    {
        layer_norm1 = nn.LayerNorm(c.HiddenSize, c.LayerNormEps, device: device, dtype: dtype);
        self_attn = new SiglipAttention(c, device, dtype);
        layer_norm2 = nn.LayerNorm(c.HiddenSize, c.LayerNormEps, device: device, dtype: dtype);
        mlp = new SiglipMLP(c, device, dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        x = x + self_attn.call(layer_norm1.call(x));
        x = x + mlp.call(layer_norm2.call(x));
        return x.MoveToOuterDisposeScope();
    }
}
