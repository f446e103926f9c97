using MedGemma.Engine.Generation;
using MedGemma.Engine.Model;
using MedGemma.Engine.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Generation;

/// <summary>
/// The decode step's shortcuts (no padding mask while the cache holds none, no mask once a sliding ring is full,
/// writing into the ring before attending, no empty-row guard) against recomputing the whole sequence without a
/// cache. The tiny model's window is 8 and the prompt 5 tokens, so the steps cover a ring still filling, full, and
/// wrapped; the batch's second row is left-padded, so the padding masks run too.
/// </summary>
public sealed class DecodeStepTests(TokenGeneratorTests.Tiny tiny) : IClassFixture<TokenGeneratorTests.Tiny>
{
    static readonly long[] Prompt = [2, 105, 300, 400, 500];
    const int NewTokens = 14;

    [Theory]
    [InlineData(AttentionKernel.Eager)]
    [InlineData(AttentionKernel.Sdpa)]
    public void CachedStepsMatchRecomputingTheSequence(AttentionKernel kernel)
    {
        Gemma3Attention.Kernel = kernel;
        try
        {
            var model = tiny.Model;
            Assert.True(Prompt.Length + 1 < model.Config.Text.SlidingWindow && Prompt.Length + NewTokens > model.Config.Text.SlidingWindow + 2);
            var expected = Uncached(model, Prompt, NewTokens);

            using (var alone = new TokenGenerator(model, torch.tensor(Prompt).unsqueeze(0), null, null, null, Options))
                Assert.Equal(expected, alone.Run()[0]);

            var shorter = Prompt[2..];
            var (ids, mask) = LeftPaddedPair(Prompt, shorter);
            using var batch = new TokenGenerator(model, ids, null, mask, null, Options);
            var rows = batch.Run();
            Assert.Equal(expected, rows[0]);
            Assert.Equal(Uncached(model, shorter, NewTokens), rows[1]);
        }
        finally
        {
            Gemma3Attention.Kernel = Gemma3Attention.DefaultKernel;
        }
    }

    static GenerationOptions Options => new() { MaxNewTokens = NewTokens, EosTokenIds = Array.Empty<long>() };

    /// <summary>A batch of <paramref name="longer"/> and <paramref name="shorter"/> left-padded to the longer (pad id 0) and its mask.</summary>
    internal static (Tensor Ids, Tensor Mask) LeftPaddedPair(long[] longer, long[] shorter)
    {
        var pad = longer.Length - shorter.Length;
        var ids = torch.tensor(longer.Concat(new long[pad]).Concat(shorter).ToArray(), new long[] { 2, longer.Length });
        var mask = torch.tensor(Enumerable.Repeat(1L, longer.Length).Concat(new long[pad]).Concat(Enumerable.Repeat(1L, shorter.Length)).ToArray(), new long[] { 2, longer.Length });
        return (ids, mask);
    }

    /// <summary>Greedy ids from full forwards over the growing sequence (no cache, no mask).</summary>
    internal static long[] Uncached(Gemma3ForConditionalGeneration model, long[] prompt, int count)
    {
        var seq = prompt.ToList();
        using var noGrad = torch.no_grad();
        for (var i = 0; i < count; i++)
        {
            using var scope = torch.NewDisposeScope();
            using var output = model.Forward(new Gemma3Inputs { InputIds = torch.tensor(seq.ToArray()).unsqueeze(0), LogitsToKeep = 1 });
            seq.Add(output.Logits[0, -1].argmax().item<long>());
        }
        return seq.Skip(prompt.Length).ToArray();
    }
}
