using MedGemma.Engine.IO;
using MedGemma.Engine.Tests.Support;

namespace MedGemma.Engine.Tests.IO;

public class KeyLayoutTests
{
    [Theory]
    [InlineData("language_model.model.layers.3.mlp.up_proj.weight", "model.language_model.layers.3.mlp.up_proj.weight")]
    [InlineData("language_model.model.embed_tokens.weight", "model.language_model.embed_tokens.weight")]
    [InlineData("language_model.lm_head.weight", "lm_head.weight")]
    [InlineData("lm_head.weight", "lm_head.weight")]
    [InlineData("vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.bias", "model.vision_tower.encoder.layers.0.self_attn.q_proj.bias")]
    [InlineData("vision_tower.embeddings.patch_embedding.weight", "model.vision_tower.embeddings.patch_embedding.weight")]
    [InlineData("multi_modal_projector.mm_input_projection_weight", "model.multi_modal_projector.mm_input_projection_weight")]
    [InlineData("model.language_model.norm.weight", "model.language_model.norm.weight")]
    [InlineData("model.vision_tower.post_layernorm.weight", "model.vision_tower.post_layernorm.weight")]
    [InlineData("base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_A.weight", "model.language_model.layers.0.self_attn.q_proj.lora_A.weight")]
    [InlineData("base_model.model.vision_tower.vision_model.encoder.layers.1.self_attn.v_proj.lora_B.weight", "model.vision_tower.encoder.layers.1.self_attn.v_proj.lora_B.weight")]
    [InlineData("base_model.model.model.vision_tower.encoder.layers.1.self_attn.v_proj.lora_B.weight", "model.vision_tower.encoder.layers.1.self_attn.v_proj.lora_B.weight")]
    public void MapsEveryKnownLayoutToTheV5ModuleKey(string checkpointKey, string moduleKey) =>
        Assert.Equal(moduleKey, KeyLayout.ToModuleKey(checkpointKey));

    [Fact]
    public void BothPeftAdapterLayoutsMapToTheSameKeysAndBackToTheNewLayout()
    {
        var folder = Path.Combine(Fixtures.Folder("tiny-gemma3"), "adapter");
        using var newer = SafeTensorsFile.Open(Path.Combine(folder, "adapter_model.safetensors"));
        using var older = SafeTensorsFile.Open(Path.Combine(folder, "adapter_model.peft-old-layout.safetensors"));
        var a = newer.Names.Select(KeyLayout.ToModuleKey).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var b = older.Names.Select(KeyLayout.ToModuleKey).OrderBy(k => k, StringComparer.Ordinal).ToList();
        Assert.Equal(a, b);
        Assert.All(a, k => Assert.StartsWith("model.", k));
        Assert.Equal(newer.Names.OrderBy(k => k, StringComparer.Ordinal), older.Names.Select(KeyLayout.ToPeftKey).OrderBy(k => k, StringComparer.Ordinal));
    }
}
