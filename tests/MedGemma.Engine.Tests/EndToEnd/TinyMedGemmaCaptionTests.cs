using MedGemma.Engine.Generation;
using MedGemma.Engine.Imaging;
using MedGemma.Engine.Tokenization;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.EndToEnd;

/// <summary>
/// Captions end to end on tiny-medgemma: golden pixel_values + our prompt → the golden 20 greedy tokens
/// and caption text exactly (case0, case1, the left-padded batch); the captions from the image FILES are
/// reported (JPEG decoding and resizing differ by about 1 LSB, and on random weights the top two logits
/// can be 0.001 apart, so those are not required to match).
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class TinyMedGemmaCaptionTests : IClassFixture<TinyMedGemmaContext>
{
    readonly TinyMedGemmaContext ctx;
    readonly ITestOutputHelper output;

    public TinyMedGemmaCaptionTests(TinyMedGemmaContext ctx, ITestOutputHelper output)
    {
        this.ctx = ctx;
        this.output = output;
    }

    static readonly GenerationOptions Greedy20 = new() { MaxNewTokens = 20, DoSample = false };

    long[][] Generate(PromptBatch batch, Tensor pixelValues)
    {
        // Load the model (on first use) before opening a dispose scope, or the scope would own its weights.
        var model = ctx.Model;
        using var scope = NewDisposeScope();
        var shape = new long[] { batch.BatchSize, batch.SequenceLength };
        return model.Generate(tensor(batch.InputIds, shape), pixelValues, tensor(batch.AttentionMask, shape), tensor(batch.TokenTypeIds, shape), Greedy20);
    }

    string Caption(long[] ids) => ctx.Prompts.Tokenizer.Decode(ids.Select(x => (int)x), skipSpecialTokens: true);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void GoldenPixelValuesGiveTheGoldenCaption(int i)
    {
        var prompt = ctx.Prompts.Build(ctx.Options(i));
        using var pixels = ctx.Golden.Read($"case{i}.pixel_values");
        var generated = Generate(ctx.Prompts.Batch([prompt]), pixels)[0];
        Assert.Equal(ctx.Case(i).GetProperty("new_token_ids").EnumerateArray().Select(e => e.GetInt64()), generated);
        Assert.Equal(ctx.Case(i).GetProperty("caption").GetString(), Caption(generated));
    }

    [Fact]
    public void GoldenPixelValuesGiveTheGoldenCaptionsInALeftPaddedBatch()
    {
        var batch = ctx.Prompts.Batch([ctx.Prompts.Build(ctx.Options(0)), ctx.Prompts.Build(ctx.Options(1))]);
        using var p0 = ctx.Golden.Read("case0.pixel_values");
        using var p1 = ctx.Golden.Read("case1.pixel_values");
        using var pixels = cat([p0, p1], 0);
        var generated = Generate(batch, pixels);
        var expected = ctx.GoldenJson.RootElement.GetProperty("batch_captions").EnumerateArray().Select(e => e.GetString()!);
        Assert.Equal(expected, generated.Select(Caption));
        var golden = ctx.Longs("batch.generated");
        var width = golden.Length / 2;
        for (var r = 0; r < 2; r++)
            Assert.Equal(golden.AsSpan(r * width + batch.SequenceLength, Greedy20.MaxNewTokens).ToArray(), generated[r]);
    }

    [Fact]
    public void ImageFilesGiveACaption()
    {
        var prompts = new[] { ctx.Prompts.Build(ctx.Options(0)), ctx.Prompts.Build(ctx.Options(1)) };
        var images = new[] { ImageLoader.Load(ctx.ImagePath(0)), ImageLoader.Load(ctx.ImagePath(1)) };
        var floats = ctx.Images.PreprocessBatch(images);
        using var pixels = tensor(floats, new long[] { 2, 3, ctx.Images.Config.Height, ctx.Images.Config.Width });
        var generated = Generate(ctx.Prompts.Batch(prompts), pixels);
        for (var i = 0; i < 2; i++)
        {
            var caption = Caption(generated[i]);
            var golden = ctx.Case(i).GetProperty("caption").GetString();
            output.WriteLine($"case{i} from {Path.GetFileName(ctx.ImagePath(i))}: {System.Text.Json.JsonSerializer.Serialize(caption)} (golden from pixel_values: {System.Text.Json.JsonSerializer.Serialize(golden)}; {(caption == golden ? "same" : "different")})");
            Assert.Equal(Greedy20.MaxNewTokens, generated[i].Length);
            Assert.False(string.IsNullOrEmpty(caption));
        }
    }
}
