using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Text;

/// <summary>Gated MLP: down(gelu_tanh(gate(x)) * up(x)).</summary>
public sealed class Gemma3MLP : nn.Module<Tensor, Tensor>
{
    internal nn.Module<Tensor, Tensor> gate_proj;
    internal nn.Module<Tensor, Tensor> up_proj;
    internal nn.Module<Tensor, Tensor> down_proj;

    public Gemma3MLP(Config.Gemma3TextConfig c, Device? device = null, ScalarType? dtype = null) : base(nameof(Gemma3MLP))
    {
        gate_proj = nn.Linear(c.HiddenSize, c.IntermediateSize, hasBias: false, device: device, dtype: dtype);
        up_proj = nn.Linear(c.HiddenSize, c.IntermediateSize, hasBias: false, device: device, dtype: dtype);
        down_proj = nn.Linear(c.IntermediateSize, c.HiddenSize, hasBias: false, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var gate = gate_proj.call(x);
        // In place when no graph is recorded (2 fewer tensors per layer and decoded token); gelu's backward reads its input.
        var h = torch.is_grad_enabled()
            ? nn.functional.gelu(gate, TorchSharp.Modules.GELU.Approximate.tanh) * up_proj.call(x)
            : gate.gelu_(TorchSharp.Modules.GELU.Approximate.tanh).mul_(up_proj.call(x));
        return down_proj.call(h).MoveToOuterDisposeScope();
    }
}
