using MedGemma.Engine.Config;
using MedGemma.Engine.IO;
using MedGemma.Engine.Model;
using MedGemma.Engine.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Model;

public class ModuleMaterializerTests
{
    static string Tiny => Fixtures.Folder("tiny-gemma3");

    [Fact]
    public void UninitializedModelHasTheSameParametersOnTheDevice()
    {
        var config = Gemma3Config.Load(Tiny);
        using var normal = new Gemma3ForConditionalGeneration(config, CPU, ScalarType.BFloat16);
        using var empty = Gemma3ForConditionalGeneration.CreateUninitialized(config, CPU, ScalarType.BFloat16);
        var a = normal.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var b = empty.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.Equal(a.Keys.OrderBy(k => k, StringComparer.Ordinal), b.Keys.OrderBy(k => k, StringComparer.Ordinal));
        Assert.Equal(normal.state_dict().Keys, empty.state_dict().Keys);
        foreach (var (name, p) in a)
        {
            var q = b[name];
            Assert.True(p.shape.SequenceEqual(q.shape), name);
            Assert.Equal(p.dtype, q.dtype);
            Assert.Equal(DeviceType.CPU, q.device_type);
            Assert.Equal(p.requires_grad, q.requires_grad);
        }
        // The forward reads the same tensors that parameters() and state_dict() hand out (fields were swapped too).
        Assert.Equal(DeviceType.CPU, empty.Device.type);
        Assert.Same(empty.Model.LanguageModel.EmbedTokens.Weight, empty.get_parameter("model.language_model.embed_tokens.weight"));
    }

    [Fact]
    public void LoadedUninitializedModelComputesWhatALoadedInitializedModelComputes()
    {
        var config = Gemma3Config.Load(Tiny);
        var file = Path.Combine(Tiny, "model.safetensors");
        using var normal = new Gemma3ForConditionalGeneration(config);
        using var empty = Gemma3ForConditionalGeneration.CreateUninitialized(config, CPU, ScalarType.Float32);
        CheckpointLoader.Load(normal, file, CPU, ScalarType.Float32);
        CheckpointLoader.Load(empty, file, CPU, ScalarType.Float32);
        normal.eval();
        empty.eval();
        using var ids = torch.tensor(new long[] { 2, 5, 7, 11 }).unsqueeze(0);
        using var x = normal.Forward(new Gemma3Inputs { InputIds = ids });
        using var y = empty.Forward(new Gemma3Inputs { InputIds = ids });
        using var same = x.Logits.eq(y.Logits).all();
        Assert.True(same.item<bool>());
    }

    [Fact]
    public void ModulesWithBuffersAreRefused()
    {
        using var module = new WithBuffer();
        var ex = Assert.Throws<MedGemmaException>(() => ModuleMaterializer.ToEmpty(module, CPU));
        Assert.Equal("MetaBufferUnsupported", ex.ErrorId);
    }

    sealed class WithBuffer : nn.Module<Tensor, Tensor>
    {
        readonly Tensor table;
        public WithBuffer() : base(nameof(WithBuffer))
        {
            table = torch.ones(3, device: ModuleMaterializer.Meta);
            register_buffer("table", table);
        }
        public override Tensor forward(Tensor x) => x + table;
    }
}
