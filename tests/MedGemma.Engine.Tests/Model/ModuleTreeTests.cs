using MedGemma.Engine.Config;
using MedGemma.Engine.Model;
using MedGemma.Engine.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Model;

public class ModuleTreeTests
{
    static string Tiny => Fixtures.Folder("tiny-gemma3");

    [Fact]
    public void StateDictKeysAndShapesEqualTheV5Checkpoint()
    {
        using var model = new Gemma3ForConditionalGeneration(Gemma3Config.Load(Tiny));
        var actual = model.state_dict().ToDictionary(kv => kv.Key, kv => string.Join(",", kv.Value.shape));
        var expected = GoldenFile.Shapes(Path.Combine(Tiny, "model.v5-layout.safetensors"))
            .ToDictionary(kv => kv.Key, kv => string.Join(",", kv.Value));
        Assert.Empty(expected.Keys.Except(actual.Keys));
        Assert.Empty(actual.Keys.Except(expected.Keys));
        foreach (var (k, shape) in expected) Assert.True(shape == actual[k], $"{k}: expected [{shape}], got [{actual[k]}]");
    }

    [Fact]
    public void ReplaceModuleSwapsTheProjectionInForwardAndStateDict()
    {
        using var model = new Gemma3ForConditionalGeneration(Gemma3Config.Load(Tiny));
        const string path = "model.language_model.layers.0.self_attn.q_proj";
        var replacement = new Wrapped(nn.Linear(64, 64, hasBias: false));
        model.ReplaceModule(path, replacement);
        Assert.Same(replacement, model.GetSubmodule(path));
        Assert.Contains(path + ".inner.weight", model.state_dict().Keys);
        Assert.DoesNotContain(path + ".weight", model.state_dict().Keys);
        using var ids = torch.tensor(new long[] { 2, 5, 7 }).unsqueeze(0);
        using var _ = model.Forward(new Gemma3Inputs { InputIds = ids });
        Assert.True(replacement.Calls > 0);

        const string vision = "model.vision_tower.encoder.layers.1.self_attn.v_proj";
        model.ReplaceModule(vision, new Wrapped(nn.Linear(32, 32)));
        Assert.Contains(vision + ".inner.bias", model.state_dict().Keys);
        var ex = Assert.Throws<MedGemmaException>(() => model.ReplaceModule("model.language_model.layers.0.self_attn.nope", new Wrapped(nn.Linear(1, 1))));
        Assert.Equal("model.language_model.layers.0.self_attn.nope", ex.Target);
    }

    sealed class Wrapped : nn.Module<Tensor, Tensor>
    {
        readonly nn.Module<Tensor, Tensor> inner;
        public int Calls;
        public Wrapped(nn.Module<Tensor, Tensor> inner) : base("Wrapped") { this.inner = inner; RegisterComponents(); }
        public override Tensor forward(Tensor x) { Calls++; return inner.call(x); }
    }
}
