using System.Text.Json;
using MedGemma.Engine.IO;
using MedGemma.Engine.Lora;
using MedGemma.Engine.Tests.Support;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Lora;

public class LoraAdapterFileTests
{
    static string AdapterFolder => Path.Combine(Fixtures.Folder("tiny-gemma3"), "adapter");

    [Fact]
    public void BothPeftKeyLayoutsLoadToTheSameModules()
    {
        using var adapter = LoraAdapter.Load(AdapterFolder);
        var expected = JsonSerializer.Deserialize<string[]>(File.ReadAllText(Path.Combine(AdapterFolder, "adapted_modules.json")))!
            .Select(k => k[KeyLayout.PeftPrefix.Length..]).OrderBy(s => s, StringComparer.Ordinal);
        Assert.Equal(expected, adapter.Weights.Keys.OrderBy(s => s, StringComparer.Ordinal));
        var old = LoraAdapter.ReadWeights(Path.Combine(AdapterFolder, "adapter_model.peft-old-layout.safetensors"));
        Assert.Equal(adapter.Weights.Keys.OrderBy(s => s), old.Keys.OrderBy(s => s));
        foreach (var (module, (a, b)) in adapter.Weights)
        {
            Assert.Equal(16, a.shape[0]);
            Assert.True(a.allclose(old[module].A, 0, 0));
            Assert.True(b.allclose(old[module].B, 0, 0));
        }
    }

    [Fact]
    public void SavesTheTransformers5LayoutPeftWrites()
    {
        using var adapter = LoraAdapter.Load(AdapterFolder);
        var dir = Directory.CreateTempSubdirectory("lora-save").FullName;
        try
        {
            adapter.Save(dir);
            using var ours = SafeTensorsFile.Open(Path.Combine(dir, LoraAdapter.WeightsFileName));
            using var peft = SafeTensorsFile.Open(Path.Combine(AdapterFolder, LoraAdapter.WeightsFileName));
            Assert.Equal(peft.Names.OrderBy(s => s, StringComparer.Ordinal), ours.Names.OrderBy(s => s, StringComparer.Ordinal));
            foreach (var name in peft.Names)
            {
                using var x = peft.Read(name);
                using var y = ours.Read(name);
                Assert.Equal(x.dtype, y.dtype);
                Assert.True(x.allclose(y, 0, 0), name);
            }
            using var back = LoraAdapter.Load(dir);
            Assert.Equal(adapter.Config with { TargetModules = back.Config.TargetModules }, back.Config);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void MissingFolderAndBadKeysAreNamed()
    {
        var e = Assert.Throws<MedGemmaException>(() => LoraAdapter.Load(Path.Combine(Path.GetTempPath(), "no-such-adapter-" + Guid.NewGuid())));
        Assert.Equal("AdapterNotFound", e.ErrorId);
        e = Assert.Throws<MedGemmaException>(() => AdapterKeys.Parse("model.layers.0.q_proj.lora_A.weight"));
        Assert.Equal("BadAdapterKey", e.ErrorId);
        e = Assert.Throws<MedGemmaException>(() => AdapterKeys.Parse("base_model.model.model.embed_tokens.lora_embedding_A"));
        Assert.Equal("UnsupportedAdapterTensor", e.ErrorId);
        Assert.Equal(("model.vision_tower.encoder.layers.1.self_attn.v_proj", "lora_B"),
            AdapterKeys.Parse("base_model.model.vision_tower.vision_model.encoder.layers.1.self_attn.v_proj.lora_B.weight"));
    }
}
