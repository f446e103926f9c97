using MedGemma.Engine.Config;
using MedGemma.Engine.IO;
using MedGemma.Engine.Generation;
using MedGemma.Engine.Model;
using MedGemma.Engine.Tests.Model;
using MedGemma.Engine.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Generation;

[Trait("Category", "Parity")]
public class GenerationParityTests
{
    static string Tiny => Fixtures.Folder("tiny-gemma3");

    static long[][] Rows(Tensor t, int from)
    {
        var (b, l) = ((int)t.shape[0], (int)t.shape[1]);
        var flat = t.data<long>().ToArray();
        return Enumerable.Range(0, b).Select(r => flat.AsSpan(r * l + from, l - from).ToArray()).ToArray();
    }

    [Fact]
    public void GreedyBatchAndRowAloneMatch()
    {
        using var scope = torch.NewDisposeScope();
        var g = GoldenFile.Read(Path.Combine(Tiny, "golden.safetensors"));
        using var model = new Gemma3ForConditionalGeneration(Gemma3Config.Load(Tiny));
        CheckpointLoader.Load(model, Path.Combine(Tiny, "model.v5-layout.safetensors"), torch.CPU, ScalarType.Float32);
        var genConfig = GenerationConfig.Load(Tiny);
        var promptLength = (int)g["input_ids"].shape[1];
        var newTokens = (int)g["generated_greedy"].shape[1] - promptLength;
        var options = new GenerationOptions { MaxNewTokens = newTokens };

        using (var gen = new TokenGenerator(model, g["input_ids"], g["pixel_values"], g["attention_mask"], g["token_type_ids"], options, genConfig))
        {
            var got = gen.Run();
            var expected = Rows(g["generated_greedy"], promptLength);
            Assert.Equal(expected, got);
        }
        using (var gen = new TokenGenerator(model, g["input_ids"].narrow(0, 0, 1), g["pixel_values"].narrow(0, 0, 1),
                   g["attention_mask"].narrow(0, 0, 1), g["token_type_ids"].narrow(0, 0, 1), options, genConfig))
        {
            Assert.Equal(Rows(g["generated_greedy_row0_alone"], promptLength), gen.Run());
        }
    }
}
