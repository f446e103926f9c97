using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Lora;

/// <summary>A two-level module tree named like Gemma's attention, with projections held as Module fields.</summary>
sealed class ToyAttention : nn.Module<Tensor, Tensor>
{
    nn.Module<Tensor, Tensor> q_proj, k_proj, v_proj, o_proj;

    public ToyAttention(int width) : base(nameof(ToyAttention))
    {
        q_proj = nn.Linear(width, width, hasBias: false);
        k_proj = nn.Linear(width, width, hasBias: false);
        v_proj = nn.Linear(width, width, hasBias: true);
        o_proj = nn.Linear(width, width, hasBias: false);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => o_proj.forward(q_proj.forward(x).tanh() + k_proj.forward(x) * v_proj.forward(x));
}

sealed class ToyLayer : nn.Module<Tensor, Tensor>
{
    ToyAttention self_attn;
    nn.Module<Tensor, Tensor> norm;

    public ToyLayer(int width) : base(nameof(ToyLayer))
    {
        self_attn = new ToyAttention(width);
        norm = nn.LayerNorm(width);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => x + self_attn.forward(norm.forward(x));
}

/// <summary>"model.language_model.layers.N.self_attn.*" and "model.vision_tower.encoder.layers.N.self_attn.*".</summary>
sealed class ToyModel : nn.Module<Tensor, Tensor>
{
    ToyInner model;

    public ToyModel(int width = 8, int layers = 2) : base(nameof(ToyModel))
    {
        model = new ToyInner(width, layers);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => model.forward(x);
}

sealed class ToyInner : nn.Module<Tensor, Tensor>
{
    ToyStack language_model;
    ToyEncoder vision_tower;

    public ToyInner(int width, int layers) : base(nameof(ToyInner))
    {
        language_model = new ToyStack(width, layers);
        vision_tower = new ToyEncoder(width);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => language_model.forward(vision_tower.forward(x));
}

sealed class ToyEncoder : nn.Module<Tensor, Tensor>
{
    ToyStack encoder;

    public ToyEncoder(int width) : base(nameof(ToyEncoder))
    {
        encoder = new ToyStack(width, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => encoder.forward(x);
}

sealed class ToyStack : nn.Module<Tensor, Tensor>
{
    TorchSharp.Modules.ModuleList<ToyLayer> layers = new();

    public ToyStack(int width, int count) : base(nameof(ToyStack))
    {
        for (int i = 0; i < count; i++) layers.Add(new ToyLayer(width));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        foreach (var l in layers) x = l.forward(x);
        return x;
    }
}
