using MedGemma.Engine.Lora;

namespace MedGemma.Engine.Tests.Lora;

public class TargetMatcherTests
{
    static readonly LoraConfig Default = new();

    [Theory]
    [InlineData("model.language_model.layers.0.self_attn.q_proj", true)]
    [InlineData("model.vision_tower.encoder.layers.1.self_attn.v_proj", true)]
    [InlineData("q_proj", true)]
    [InlineData("model.language_model.layers.0.self_attn.k_proj", false)]
    [InlineData("model.language_model.layers.0.self_attn.xq_proj", false)]
    [InlineData("model.language_model.layers.0.self_attn.q_proj.base_layer", false)]
    public void ListMatchesWholeNameOrDottedSuffix(string name, bool expected) =>
        Assert.Equal(expected, TargetMatcher.IsTarget(Default, name));

    [Fact]
    public void MultiPartEntriesMatchAsSuffixes()
    {
        var c = new LoraConfig { TargetModules = new[] { "self_attn.q_proj" } };
        Assert.True(TargetMatcher.IsTarget(c, "a.layers.0.self_attn.q_proj"));
        Assert.False(TargetMatcher.IsTarget(c, "a.layers.0.cross_attn.q_proj"));
    }

    [Fact]
    public void RegexMustMatchTheWholeName()
    {
        var c = new LoraConfig { TargetRegex = @".*\.q_proj" };
        Assert.True(TargetMatcher.IsTarget(c, "model.layers.0.q_proj"));
        Assert.False(TargetMatcher.IsTarget(c, "model.layers.0.q_proj.base_layer"));
        Assert.False(TargetMatcher.IsTarget(new LoraConfig { TargetRegex = "q_proj" }, "model.q_proj"));
    }

    [Fact]
    public void ExcludeWinsOverTarget()
    {
        var c = new LoraConfig { ExcludeModules = new[] { "layers.1.self_attn.q_proj" } };
        Assert.True(TargetMatcher.IsTarget(c, "m.layers.0.self_attn.q_proj"));
        Assert.False(TargetMatcher.IsTarget(c, "m.layers.1.self_attn.q_proj"));
    }

    [Fact]
    public void LanguageModelOnlyLeavesTheVisionTowerOut()
    {
        var c = Default.RestrictToLanguageModel();
        Assert.True(TargetMatcher.IsTarget(c, "model.language_model.layers.3.self_attn.v_proj"));
        Assert.False(TargetMatcher.IsTarget(c, "model.vision_tower.encoder.layers.0.self_attn.q_proj"));
        Assert.False(TargetMatcher.IsTarget(c, "model.language_model.layers.3.self_attn.k_proj"));
    }
}
