using MedGemma.Engine.Config;
using MedGemma.Engine.Generation;
using MedGemma.Engine.Lora;
using MedGemma.Engine.Model;
using MedGemma.Engine.Tests.Support;
using MedGemma.Engine.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Training;

/// <summary>
/// The whole training path on the random tiny Gemma 3 (vocab 640, 56×56 images, 4 image tokens): LoRA
/// learns eight synthetic images with distinct captions, and greedy decoding then reproduces them.
/// </summary>
public class ConvergenceTests(ITestOutputHelper output) : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("converge").FullName;
    public void Dispose() => Directory.Delete(dir, true);

    const int Images = 8;
    static readonly long[] Prompt = { 2, 105, 30, 31, 32, 598, 600, 600, 600, 600, 599, 33, 106, 105, 34 }; // bos, turn, text, image block, text, model turn
    const long EndOfTurn = 106;

    static long[] Caption(int i) => new long[] { 100 + 7 * i, 300 + 11 * i, 450 + 13 * i };

    static float[] Image(int i)
    {
        // Distinct patterns: a colour per image and stripes of a different period, in [-1, 1].
        var px = new float[3 * 56 * 56];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 56; y++)
                for (int x = 0; x < 56; x++)
                    px[(c * 56 + y) * 56 + x] = (float)Math.Clamp(Math.Sin((x + y * (c + 1)) * (i + 1) * 0.15 + c * i) * 0.8 + (((i >> c) & 1) * 0.4 - 0.2), -1, 1);
        return px;
    }

    static PreparedSample Sample(int i)
    {
        var ids = Prompt.Concat(Caption(i)).Append(EndOfTurn).ToArray();
        var types = ids.Select(t => t == 600 ? 1L : 0L).ToArray();
        var labels = ids.Select((t, k) => k < Prompt.Length ? -100L : t).ToArray();
        return new PreparedSample(ids, types, labels, Image(i));
    }

    /// <summary>The fixture's architecture with fresh random weights (the fixture's own weights have tiny embeddings that cap how sharp logits can get).</summary>
    static Gemma3ForConditionalGeneration RandomTiny(string folder)
    {
        torch.manual_seed(11);
        var network = new Gemma3ForConditionalGeneration(Gemma3Config.Load(folder));
        using (no_grad())
            foreach (var (name, p) in network.named_parameters())
            {
                if (name.EndsWith("embed_tokens.weight", StringComparison.Ordinal)) nn.init.normal_(p, 0, 0.5);
                else if (name.EndsWith("mm_input_projection_weight", StringComparison.Ordinal)) nn.init.normal_(p, 0, 1 / Math.Sqrt(p.shape[0]));
            }
        network.eval();
        return network;
    }

    [Fact]
    public void TinyModelLearnsEightCaptions()
    {
        var tiny = Fixtures.Folder("tiny-gemma3");
        using var network = RandomTiny(tiny);
        var genConfig = GenerationConfig.Load(tiny);
        var lora = new LoraModel(network);
        var targets = new[] { "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj" };
        lora.AddAdapter("default", new LoraConfig { R = 16, Alpha = 32, TargetModules = targets });
        var options = new TrainingOptions
        {
            OutputPath = Path.Combine(dir, "out"), MaxSteps = 30, BatchSize = 8, LearningRate = 1e-2, WarmupRatio = 0.05,
            Scheduler = LrScheduler.Constant, Dropout = 0, Seed = 3, TargetModules = targets,
        };
        // Loss measured on the training images (the point is memorising them); the run itself validates nothing.
        var measure = new TrainingLoop(new Gemma3TrainingTask(network, (val, i) => Sample(i), Images, Images, padId: 0), lora, "default", options);
        var loop = new TrainingLoop(new Gemma3TrainingTask(network, (val, i) => Sample(i), Images, 0, padId: 0), lora, "default", options);
        var before = measure.ValidationLoss();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var result = loop.Run();
        network.eval();
        var after = measure.ValidationLoss();
        int reproduced = 0;
        for (int i = 0; i < Images; i++)
        {
            var ids = tensor(Prompt, new long[] { 1, Prompt.Length });
            var types = tensor(Prompt.Select(t => t == 600 ? 1L : 0L).ToArray(), new long[] { 1, Prompt.Length });
            var pixels = tensor(Image(i), new long[] { 1, 3, 56, 56 });
            using var generator = new TokenGenerator(network, ids, pixels, ones_like(ids), types, new GenerationOptions { MaxNewTokens = 4 }, genConfig);
            var got = generator.Run()[0];
            if (got.SequenceEqual(Caption(i).Append(EndOfTurn))) reproduced++;
        }
        output.WriteLine($"loss {before:F3} → {after:F3} in {result.Steps} steps, {watch.Elapsed.TotalSeconds:F1} s; {reproduced}/{Images} captions reproduced");
        Assert.True(after <= 0.2 * before, $"loss {before} → {after}");
        Assert.True(reproduced >= 6, $"{reproduced}/{Images} captions reproduced");
    }
}
