using MedGemma.Engine.Generation;
using MedGemma.Engine.Model;
using MedGemma.Engine.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Generation;

/// <summary>
/// Prompts longer than the sliding window (8 in the tiny model), so the ring wraps during the prompt's forward and
/// the decode steps start on a full ring: a left-padded batch whose rows both exceed the window, and a short padded
/// row beside a long one, each row equal to recomputing its own sequence without a cache.
/// </summary>
public sealed class LongPromptDecodeTests(TokenGeneratorTests.Tiny tiny) : IClassFixture<TokenGeneratorTests.Tiny>
{
    const int NewTokens = 12;

    [Theory]
    [InlineData(AttentionKernel.Eager, 10)]
    [InlineData(AttentionKernel.Sdpa, 10)]
    [InlineData(AttentionKernel.Eager, 3)]
    [InlineData(AttentionKernel.Sdpa, 3)]
    public void PaddedRowsMatchRecomputation(AttentionKernel kernel, int shorterLength)
    {
        Gemma3Attention.Kernel = kernel;
        try
        {
            var model = tiny.Model;
            long[] longer = [2, 105, 300, 400, 500, 17, 33, 99, 120, 7, 8, 9, 301, 5, 6];
            var shorter = new long[] { 2, 44, 55, 66, 77, 88, 99, 110, 121, 132 }[..shorterLength];
            Assert.True(longer.Length > model.Config.Text.SlidingWindow + 4);
            var (ids, mask) = DecodeStepTests.LeftPaddedPair(longer, shorter);
            using var batch = new TokenGenerator(model, ids, null, mask, null, new GenerationOptions { MaxNewTokens = NewTokens, EosTokenIds = Array.Empty<long>() });
            var rows = batch.Run();
            Assert.Equal(DecodeStepTests.Uncached(model, longer, NewTokens), rows[0]);
            Assert.Equal(DecodeStepTests.Uncached(model, shorter, NewTokens), rows[1]);
        }
        finally
        {
            Gemma3Attention.Kernel = Gemma3Attention.DefaultKernel;
        }
    }
}
