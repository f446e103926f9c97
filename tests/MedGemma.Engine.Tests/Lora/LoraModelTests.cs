using MedGemma.Engine.Model;
using MedGemma.Engine.Lora;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Lora;

public class LoraModelTests
{
    static ToyModel NewModel(int seed = 0)
    {
        torch.manual_seed(seed);
        var m = new ToyModel();
        m.eval();
        return m;
    }

    static void RandomizeB(LoraModel lora, string adapter, int seed)
    {
        torch.manual_seed(seed);
        using var _ = no_grad();
        foreach (var (name, p) in lora.Parameters(adapter))
            if (name.Contains(".lora_B.")) p.copy_(randn_like(p) * 0.5);
    }

    [Fact]
    public void WrapsTargetsAndNamesParametersLikePeft()
    {
        var model = NewModel();
        var lora = new LoraModel(model);
        var paths = lora.AddAdapter("default", new LoraConfig { R = 4, Alpha = 8 });
        Assert.Equal(new[]
        {
            "model.language_model.layers.0.self_attn.q_proj", "model.language_model.layers.0.self_attn.v_proj",
            "model.language_model.layers.1.self_attn.q_proj", "model.language_model.layers.1.self_attn.v_proj",
            "model.vision_tower.encoder.layers.0.self_attn.q_proj", "model.vision_tower.encoder.layers.0.self_attn.v_proj",
        }, paths.OrderBy(p => p, StringComparer.Ordinal));
        var names = model.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("model.language_model.layers.0.self_attn.q_proj.base_layer.weight", names);
        Assert.Contains("model.language_model.layers.0.self_attn.q_proj.lora_A.default.weight", names);
        Assert.Contains("model.language_model.layers.0.self_attn.v_proj.base_layer.bias", names);
        Assert.Contains("model.language_model.layers.0.self_attn.k_proj.weight", names);
        var trainable = model.parameters().Where(p => p.requires_grad).Count();
        Assert.Equal(12, trainable); // A and B of 6 layers; the whole base model is frozen, as PEFT does
    }

    [Fact]
    public void FreshAdapterLeavesOutputsUnchangedAndInitialisesLikePeft()
    {
        var model = NewModel();
        var x = randn(3, 8);
        var before = model.forward(x).detach().clone();
        var lora = new LoraModel(model);
        lora.AddAdapter("default", new LoraConfig { R = 4, Alpha = 8 });
        Assert.True(before.allclose(model.forward(x), 0, 0));
        foreach (var (name, p) in lora.Parameters("default"))
        {
            if (name.Contains(".lora_B.")) Assert.Equal(0f, p.abs().max().item<float>());
            else
            {
                // kaiming_uniform_(a=sqrt(5)) on fan_in 8: U(-1/sqrt(8), 1/sqrt(8))
                Assert.True(p.abs().max().item<float>() <= 1 / Math.Sqrt(8) + 1e-7);
                Assert.True(p.std().item<float>() > 0.05);
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ForwardIsBasePlusScaledLowRankProduct(bool rslora)
    {
        var linear = nn.Linear(6, 5, hasBias: true);
        var layer = new LoraLinear(linear);
        var config = new LoraConfig { R = 4, Alpha = 8, UseRsLora = rslora };
        layer.AddAdapter("a", config);
        layer.SetActive("a");
        using (no_grad()) layer.LoraB("a").weight!.copy_(randn(5, 4));
        var x = randn(2, 3, 6);
        var scaling = rslora ? 8 / Math.Sqrt(4) : 2.0;
        var expected = linear.forward(x) + x.matmul(layer.LoraA("a").weight!.t()).matmul(layer.LoraB("a").weight!.t()) * scaling;
        Assert.True(expected.allclose(layer.forward(x), 1e-5, 1e-6));
    }

    [Fact]
    public void MergeMatchesAdapterOutputAndUnmergeRestoresIt()
    {
        var model = NewModel();
        var lora = new LoraModel(model);
        lora.AddAdapter("default", new LoraConfig { R = 4, Alpha = 8 });
        RandomizeB(lora, "default", 1);
        var x = randn(3, 8);
        var adapted = model.forward(x).detach().clone();
        lora.Merge();
        Assert.True(lora.Merged);
        var merged = model.forward(x).detach().clone();
        Assert.True((merged - adapted).abs().max().item<float>() <= 1e-5f);
        lora.UnmergeAll();
        Assert.False(lora.Merged);
        Assert.True((model.forward(x) - adapted).abs().max().item<float>() <= 1e-6f);
    }

    [Fact]
    public void SeveralAdaptersOneActive()
    {
        var model = NewModel();
        var x = randn(3, 8);
        var bare = model.forward(x).detach().clone();
        var lora = new LoraModel(model);
        lora.AddAdapter("one", new LoraConfig { R = 4, Alpha = 8 });
        lora.AddAdapter("two", new LoraConfig { R = 2, Alpha = 2, TargetModules = new[] { "o_proj" } });
        RandomizeB(lora, "one", 1);
        RandomizeB(lora, "two", 2);
        Assert.Equal("one", lora.ActiveAdapter);
        var one = model.forward(x).detach().clone();
        lora.SetActive("two");
        var two = model.forward(x).detach().clone();
        Assert.False(one.allclose(two));
        Assert.All(lora.Parameters("one"), p => Assert.False(p.Parameter.requires_grad));
        Assert.All(lora.Parameters("two"), p => Assert.True(p.Parameter.requires_grad));
        lora.SetActive(null);
        Assert.True(bare.allclose(model.forward(x), 0, 0));
        lora.SetActive("one");
        lora.Merge();
        lora.SetActive("two"); // unmerges "one" first, as PEFT does
        Assert.True((model.forward(x) - two).abs().max().item<float>() <= 1e-6f);
        lora.RemoveAdapter("two");
        Assert.DoesNotContain(model.named_parameters(), p => p.name.Contains(".two."));
    }

    [Fact]
    public void MissingOrUnsupportedTargetsFailClearly()
    {
        var lora = new LoraModel(NewModel());
        var e = Assert.Throws<MedGemmaException>(() => lora.AddAdapter("x", new LoraConfig { TargetModules = new[] { "gate_proj" } }));
        Assert.Equal("LoraTargetsNotFound", e.ErrorId);
        e = Assert.Throws<MedGemmaException>(() => lora.AddAdapter("y", new LoraConfig { TargetModules = new[] { "norm" } }));
        Assert.Equal("UnsupportedLoraTarget", e.ErrorId);
        Assert.Equal("model.language_model.layers.0.norm", e.Target);
    }

    [Fact]
    public void GradientsFlowOnlyIntoTheActiveAdapter()
    {
        var model = NewModel();
        var lora = new LoraModel(model);
        lora.AddAdapter("default", new LoraConfig { R = 4, Alpha = 8 });
        RandomizeB(lora, "default", 3);
        model.train();
        model.forward(randn(3, 8)).square().sum().backward();
        Assert.All(lora.Parameters("default"), p => Assert.True(p.Parameter.grad is not null && p.Parameter.grad.abs().sum().item<float>() > 0));
        var baseWeight = ((LoraLinear)ModuleTree.Get(model, "model.language_model.layers.0.self_attn.q_proj")).BaseLayer.weight!;
        Assert.Null(baseWeight.grad);
    }
}
