using MedGemma.Engine.Imaging;
using MedGemma.Engine.Tokenization;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.EndToEnd;

/// <summary>
/// The end-to-end check with tiny-medgemma-snapshot (+ tokenizer.json from npm),
/// tiny-medgemma-e2e/golden.* and tests/fixtures/images: from the image FILE and prompt text the
/// pipeline produces the golden input_ids and token_type_ids exactly and pixel values within mean
/// |Δ| ≤ 0.002 (PNG: max |Δ| ≤ 0.008); from the golden pixel_values it produces the golden 20-token
/// greedy caption text exactly — case0, case1 and the left-padded batch.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class TinyMedGemmaEndToEndTests : IClassFixture<TinyMedGemmaContext>
{
    readonly TinyMedGemmaContext ctx;
    readonly ITestOutputHelper output;

    public TinyMedGemmaEndToEndTests(TinyMedGemmaContext ctx, ITestOutputHelper output)
    {
        this.ctx = ctx;
        this.output = output;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void PromptTextGivesTheGoldenIds(int i)
    {
        var prompt = ctx.Prompts.Build(ctx.Options(i));
        Assert.Equal(ctx.Case(i).GetProperty("chat_text").GetString(), prompt.ChatText);
        Assert.Equal(ctx.Longs($"case{i}.input_ids"), prompt.InputIds);
        Assert.Equal(ctx.Longs($"case{i}.token_type_ids"), prompt.TokenTypeIds);
        Assert.Equal(ctx.Longs($"case{i}.attention_mask"), prompt.AttentionMask);
    }

    [Fact]
    public void PromptTextsGiveTheGoldenLeftPaddedBatch()
    {
        var batch = ctx.Prompts.Batch([ctx.Prompts.Build(ctx.Options(0)), ctx.Prompts.Build(ctx.Options(1))]);
        Assert.Equal(ctx.Longs("batch.input_ids"), batch.InputIds);
        Assert.Equal(ctx.Longs("batch.token_type_ids"), batch.TokenTypeIds);
        Assert.Equal(ctx.Longs("batch.attention_mask"), batch.AttentionMask);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void ImageFileGivesTheGoldenPixelValues(int i)
    {
        var pixels = ctx.Images.Preprocess(ImageLoader.Load(ctx.ImagePath(i)));
        var golden = ctx.Floats($"case{i}.pixel_values");
        Assert.Equal(golden.Length, pixels.Length);
        double sum = 0, max = 0;
        for (var k = 0; k < golden.Length; k++)
        {
            var d = Math.Abs(pixels[k] - golden[k]);
            sum += d;
            max = Math.Max(max, d);
        }
        var mean = sum / golden.Length;
        output.WriteLine($"case{i} {Path.GetFileName(ctx.ImagePath(i))}: mean |Δ| = {mean:G4}, max |Δ| = {max:G4}");
        Assert.True(mean <= 0.002, $"mean |Δ| {mean} > 0.002");
        if (ctx.ImagePath(i).EndsWith(".png", StringComparison.OrdinalIgnoreCase)) Assert.True(max <= 0.008, $"max |Δ| {max} > 0.008");
    }
}
