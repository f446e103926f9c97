using MedGemma.Engine.Generation;
using MedGemma.Engine.Model;
using MedGemma.Engine.Tests.Support;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Model;

/// <summary>
/// The complete tiny MedGemma folder (sharded bf16, real vocabulary, 896x896 images, 256 image tokens in a
/// 32-token window) loaded into a float32 model through <see cref="MedGemmaModel.Load"/>, against tiny-medgemma-e2e.
/// </summary>
[Trait("Category", "Parity")]
public sealed class SnapshotParityTests(ITestOutputHelper output, SnapshotParityTests.Loaded loaded) : IClassFixture<SnapshotParityTests.Loaded>
{
    public sealed class Loaded : IDisposable
    {
        public MedGemmaModel Model { get; } = MedGemmaModel.Load(Fixtures.Folder("tiny-medgemma-snapshot"), torch.CPU, ScalarType.Float32);
        public Dictionary<string, Tensor> Golden { get; } = GoldenFile.Read(Path.Combine(Fixtures.Folder("tiny-medgemma-e2e"), "golden.safetensors"));
        public void Dispose()
        {
            Model.Dispose();
            foreach (var t in Golden.Values) t.Dispose();
        }
    }

    [Theory]
    [InlineData("case0")]
    [InlineData("case1")]
    public void LastLogitsAndCaptionIdsMatch(string name)
    {
        using var scope = torch.NewDisposeScope();
        var g = loaded.Golden;
        var model = loaded.Model;
        using (torch.no_grad())
        {
            using var result = model.Forward(new Gemma3Inputs
            {
                InputIds = g[name + ".input_ids"], PixelValues = g[name + ".pixel_values"],
                AttentionMask = g[name + ".attention_mask"], TokenTypeIds = g[name + ".token_type_ids"], LogitsToKeep = 1,
            });
            var d = (result.Logits.select(1, 0) - g[name + ".last_logits"]).abs().max().item<float>();
            output.WriteLine($"{name}: last_logits max |d| {d:E2}");
            Assert.True(d <= 1e-4, $"last_logits max |d| {d}");
        }
        var expected = g[name + ".generated"];
        var prompt = (int)g[name + ".input_ids"].shape[1];
        var ids = model.Generate(g[name + ".input_ids"], g[name + ".pixel_values"], g[name + ".attention_mask"], g[name + ".token_type_ids"],
            new GenerationOptions { MaxNewTokens = (int)expected.shape[1] - prompt });
        Assert.Equal(FixtureParityTests.Rows(expected, prompt), ids);
    }

    [Fact]
    public void LeftPaddedBatchGivesTheSameIds()
    {
        using var scope = torch.NewDisposeScope();
        var g = loaded.Golden;
        var expected = g["batch.generated"];
        var prompt = (int)g["batch.input_ids"].shape[1];
        var pixels = torch.cat(new[] { g["case0.pixel_values"], g["case1.pixel_values"] });
        var ids = loaded.Model.Generate(g["batch.input_ids"], pixels, g["batch.attention_mask"], g["batch.token_type_ids"],
            new GenerationOptions { MaxNewTokens = (int)expected.shape[1] - prompt });
        Assert.Equal(FixtureParityTests.Rows(expected, prompt), ids);
    }

    [Fact]
    public void PlainArrayEntryPointGivesTheGoldenCaptionIds()
    {
        var g = loaded.Golden;
        long[][] Rows(Tensor t) => FixtureParityTests.Rows(t, 0);
        var expected = g["case1.generated"];
        var prompt = (int)g["case1.input_ids"].shape[1];
        var ids = loaded.Model.Generate(Rows(g["case1.input_ids"]), g["case1.pixel_values"].data<float>().ToArray(),
            Rows(g["case1.attention_mask"]), Rows(g["case1.token_type_ids"]), new GenerationOptions { MaxNewTokens = 5 });
        Assert.Equal(FixtureParityTests.Rows(expected, prompt)[0][..5], ids[0]);
        var bad = Assert.Throws<MedGemmaException>(() => loaded.Model.Generate(new[] { new long[] { 2, 999999 } }, null, null, null, new GenerationOptions()));
        Assert.Equal("inputIds", bad.Target);
    }
}
