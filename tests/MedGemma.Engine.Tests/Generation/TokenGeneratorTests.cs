using MedGemma.Engine.Config;
using MedGemma.Engine.Generation;
using MedGemma.Engine.IO;
using MedGemma.Engine.Model;
using MedGemma.Engine.Tests.Model;
using MedGemma.Engine.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Generation;

/// <summary>Sampling, stopping and resource behaviour of the step API on the tiny model.</summary>
public sealed class TokenGeneratorTests : IClassFixture<TokenGeneratorTests.Tiny>
{
    public sealed class Tiny : IDisposable
    {
        public Gemma3ForConditionalGeneration Model { get; }
        public Dictionary<string, Tensor> Golden { get; }
        public Tiny()
        {
            var dir = Fixtures.Folder("tiny-gemma3");
            Model = new Gemma3ForConditionalGeneration(Gemma3Config.Load(dir));
            CheckpointLoader.Load(Model, Path.Combine(dir, "model.safetensors"), torch.CPU, ScalarType.Float32);
            Model.eval();
            Golden = GoldenFile.Read(Path.Combine(dir, "golden.safetensors"));
        }
        public void Dispose() { Model.Dispose(); foreach (var t in Golden.Values) t.Dispose(); }
    }

    readonly Tiny tiny;
    public TokenGeneratorTests(Tiny tiny) => this.tiny = tiny;

    long[][] Run(GenerationOptions o)
    {
        var g = tiny.Golden;
        using var gen = new TokenGenerator(tiny.Model, g["input_ids"], g["pixel_values"], g["attention_mask"], g["token_type_ids"], o);
        return gen.Run();
    }

    [Fact]
    public void SamplingIsReproducibleWithASeed()
    {
        var o = new GenerationOptions { MaxNewTokens = 8, DoSample = true, Temperature = 1.5, TopK = 0, TopP = 1.0, Seed = 42, EosTokenIds = Array.Empty<long>() };
        var a = Run(o);
        Assert.Equal(a, Run(o));
        Assert.NotEqual(a, Run(o with { Seed = 7 }));
        Assert.All(a, row => Assert.Equal(8, row.Length));
    }

    [Fact]
    public void TopKOneOrTinyTopPIsGreedy()
    {
        var greedy = Run(new GenerationOptions { MaxNewTokens = 6 });
        Assert.Equal(greedy, Run(new GenerationOptions { MaxNewTokens = 6, DoSample = true, TopK = 1, Seed = 3 }));
        Assert.Equal(greedy, Run(new GenerationOptions { MaxNewTokens = 6, DoSample = true, TopK = 0, TopP = 1e-6, Seed = 3 }));
    }

    [Fact]
    public void StopsAtEosAndPadsFinishedRows()
    {
        var greedy = Run(new GenerationOptions { MaxNewTokens = 6 });
        var eos = greedy[0][1];
        var stopped = Run(new GenerationOptions { MaxNewTokens = 6, EosTokenIds = new[] { eos }, PadTokenId = -5 });
        var row0 = stopped[0];
        Assert.Equal(greedy[0][..2], row0[..2]);
        Assert.All(row0[2..], t => Assert.Equal(-5, t));
    }

    [Fact]
    public void StepsDoNotLeakTensors()
    {
        var g = tiny.Golden;
        using var gen = new TokenGenerator(tiny.Model, g["input_ids"], g["pixel_values"], g["attention_mask"], g["token_type_ids"],
            new GenerationOptions { MaxNewTokens = 10, EosTokenIds = Array.Empty<long>() });
        gen.GenerateNextToken();
        gen.GenerateNextToken();
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var i = 0; i < 6; i++) gen.GenerateNextToken();
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        Assert.False(gen.IsDone);
        gen.GenerateNextToken();
        gen.GenerateNextToken();
        Assert.True(gen.IsDone);
        Assert.Throws<MedGemmaException>(() => gen.GenerateNextToken());
    }

    [Fact]
    public void CancellationAndBadInputsAreReported()
    {
        var g = tiny.Golden;
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        using (var gen = new TokenGenerator(tiny.Model, g["input_ids"], null, null, null, new GenerationOptions { MaxNewTokens = 3 }))
            Assert.Equal(MedGemmaErrorKind.Cancelled, Assert.Throws<MedGemmaException>(() => gen.Run(cts.Token)).Kind);
        var ex = Assert.Throws<MedGemmaException>(() => new TokenGenerator(tiny.Model, g["input_ids"], null, null, null, new GenerationOptions { TopP = 0 }));
        Assert.Equal("TopP", ex.Target);
        using var one = new TokenGenerator(tiny.Model, g["input_ids"], g["pixel_values"].narrow(0, 0, 1), null, null, new GenerationOptions { MaxNewTokens = 1 });
        Assert.Equal("ImageTokenCount", Assert.Throws<MedGemmaException>(() => one.Run()).ErrorId);
    }
}
