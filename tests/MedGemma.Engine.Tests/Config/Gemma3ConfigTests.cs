using System.Text.Json.Nodes;
using MedGemma.Engine.Config;
using MedGemma.Engine.Tests.Support;

namespace MedGemma.Engine.Tests.Config;

public class Gemma3ConfigTests
{
    static string Tiny => Fixtures.Folder("tiny-gemma3");

    static JsonObject Json(string file) => (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(Tiny, file)))!;

    [Fact]
    public void BothLayoutsDescribeTheSameModel()
    {
        var v5 = Gemma3Config.Load(Tiny);
        var legacy = Gemma3Config.Load(Path.Combine(Tiny, "config.legacy.json"));
        Assert.Equal(new[] { true, true, true, true, true, false, true }, v5.Text.SlidingLayers);
        Assert.Equal(v5.Text.SlidingLayers, legacy.Text.SlidingLayers);
        Assert.Equal(new RopeParameters(1_000_000, 8), v5.Text.GlobalRope);
        Assert.Equal(new RopeParameters(10_000), v5.Text.LocalRope);
        Assert.Equal(v5.Text with { SlidingLayers = legacy.Text.SlidingLayers }, legacy.Text);
        Assert.Equal(v5.Vision, legacy.Vision);
        Assert.Equal((64, 4, 2, 16, 8, 640), (v5.Text.HiddenSize, v5.Text.NumAttentionHeads, v5.Text.NumKeyValueHeads, v5.Text.HeadDim, v5.Text.SlidingWindow, v5.Text.VocabSize));
        Assert.Equal((4, 600L, 598L, 599L), (v5.MmTokensPerImage, v5.ImageTokenId, v5.BoiTokenId, v5.EoiTokenId));
        Assert.Equal(new long[] { 1, 106 }, v5.EosTokenIds);
        Assert.Equal((56, 14, 16, 32), (v5.Vision.ImageSize, v5.Vision.PatchSize, v5.Vision.NumPatches, v5.Vision.HiddenSize));
    }

    [Fact]
    public void PublishedStyleConfigFallsBackToTransformersDefaults()
    {
        // Published MedGemma configs list only a few text fields; the rest are transformers' defaults.
        var root = JsonNode.Parse("""
            { "model_type": "gemma3", "mm_tokens_per_image": 256,
              "text_config": { "hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text", "num_hidden_layers": 34,
                               "rope_scaling": { "factor": 8.0, "rope_type": "linear" }, "sliding_window": 1024 },
              "vision_config": { "hidden_size": 1152, "image_size": 896, "intermediate_size": 4304, "model_type": "siglip_vision_model",
                                 "num_attention_heads": 16, "num_hidden_layers": 27, "patch_size": 14, "vision_use_head": false } }
            """)!.AsObject();
        var c = Gemma3Config.Parse(root, "config.json");
        Assert.Equal((262208, 8, 4, 256, 256.0), (c.Text.VocabSize, c.Text.NumAttentionHeads, c.Text.NumKeyValueHeads, c.Text.HeadDim, c.Text.QueryPreAttnScalar));
        Assert.Equal(34, c.Text.SlidingLayers.Count);
        Assert.Equal(new[] { 5, 11, 17, 23, 29 }, Enumerable.Range(0, 34).Where(i => !c.Text.SlidingLayers[i]));
        Assert.Equal(new RopeParameters(1_000_000, 8), c.Text.GlobalRope);
        Assert.Equal(new RopeParameters(10_000), c.Text.LocalRope);
        Assert.Equal(262144, c.ImageTokenId);
    }

    [Theory]
    [InlineData("model_type", "\"llama\"", "model_type")]
    [InlineData("text_config.hidden_activation", "\"silu\"", "text_config.hidden_activation")]
    [InlineData("text_config.rope_parameters.full_attention.rope_type", "\"yarn\"", "text_config.rope_parameters.full_attention.rope_type")]
    [InlineData("text_config.layer_types", "[\"sliding_attention\"]", "text_config.layer_types")]
    [InlineData("text_config.num_key_value_heads", "3", "text_config.num_key_value_heads")]
    [InlineData("vision_config.model_type", "\"clip_vision_model\"", "vision_config.model_type")]
    [InlineData("mm_tokens_per_image", "5", "mm_tokens_per_image")]
    [InlineData("text_config.hidden_size", "\"big\"", "text_config.hidden_size")]
    public void BadValuesNameTheField(string path, string value, string expectedField)
    {
        var root = Json("config.json");
        var parts = path.Split('.');
        var node = root;
        foreach (var p in parts[..^1]) node = node[p]!.AsObject();
        node[parts[^1]] = JsonNode.Parse(value);
        var ex = Assert.Throws<MedGemmaException>(() => Gemma3Config.Parse(root, "config.json"));
        Assert.Equal(expectedField, ex.Target);
        Assert.Contains(expectedField, ex.Message);
    }

    [Fact]
    public void LegacyRopeScalingTypeIsChecked()
    {
        var root = Json("config.legacy.json");
        root["text_config"]!["rope_scaling"] = JsonNode.Parse("""{ "rope_type": "dynamic", "factor": 2.0 }""");
        var ex = Assert.Throws<MedGemmaException>(() => Gemma3Config.Parse(root, "config.legacy.json"));
        Assert.Equal(MedGemmaErrorKind.NotSupported, ex.Kind);
        Assert.Equal("text_config.rope_scaling.rope_type", ex.Target);
    }

    [Fact]
    public void MissingConfigIsNotFound()
    {
        var ex = Assert.Throws<MedGemmaException>(() => Gemma3Config.Load(Path.Combine(Tiny, "no-such-folder")));
        Assert.Equal(MedGemmaErrorKind.NotFound, ex.Kind);
    }

    [Fact]
    public void GenerationConfigHasEosAndPad()
    {
        var g = GenerationConfig.Load(Tiny);
        Assert.Equal(new long[] { 1, 106 }, g.EosTokenIds);
        Assert.Equal(0, g.PadTokenId);
        Assert.False(g.DoSample);
        var snapshot = GenerationConfig.Load(Fixtures.Folder("tiny-medgemma-snapshot"));
        Assert.Equal(new long[] { 1, 106 }, snapshot.EosTokenIds);
    }
}
