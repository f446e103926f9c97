using MedGemma.Engine.Generation;
using MedGemma.Engine.Text;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Generation;

/// <summary>
/// Device steps (<see cref="KvCache.DeviceSteps"/>, what a CUDA graph replays): the cache position lives on the device,
/// each step attends to the whole buffer under a mask built there. Against host steps: logits of every step for a
/// left-padded batch and a single row through a sliding ring filling, full and wrapped, both kernels, eager and
/// scripted layers; and whole generations through <see cref="TokenGenerator"/> in Device and CudaGraph mode (on a
/// CPU the latter runs as Device).
/// </summary>
public sealed class DeviceStepTests(TokenGeneratorTests.Tiny tiny, ITestOutputHelper output) : IClassFixture<TokenGeneratorTests.Tiny>
{
    [Theory]
    [InlineData(AttentionKernel.Eager, false)]
    [InlineData(AttentionKernel.Eager, true)]
    [InlineData(AttentionKernel.Sdpa, false)]
    [InlineData(AttentionKernel.Sdpa, true)]
    public void DeviceStepsGiveTheHostStepsLogits(AttentionKernel kernel, bool scripted)
    {
        Gemma3Attention.Kernel = kernel;
        try
        {
            var model = tiny.Model;
            var prompt = ScriptedDecodeTests.Prompt;
            var (ids, mask) = DecodeStepTests.LeftPaddedPair(prompt, prompt[2..]);
            var unpadded = torch.tensor(prompt.Concat(prompt.Select(t => t + 1)).ToArray(), new long[] { 2, prompt.Length });
            foreach (var (x, m, what) in new[] { (ids, (Tensor?)mask, "padded batch"), (torch.tensor(prompt).unsqueeze(0), null, "one row"), (unpadded, null, "batch of 2, no padding (one mask row for both)") })
            {
                var host = ScriptedDecodeTests.StepLogits(model, x, m, scripted);
                var device = ScriptedDecodeTests.StepLogits(model, x, m, scripted, deviceSteps: true);
                var d = ScriptedDecodeTests.Diff(host, device);
                output.WriteLine($"{kernel}, scripted {scripted}, {what}: max |device - host| over {host.Length} steps = {d:E2}");
                Assert.True(d <= 1e-5f, $"{what}: max |Δ| {d}");
            }
        }
        finally
        {
            Gemma3Attention.Kernel = Gemma3Attention.DefaultKernel;
        }
    }

    [Theory]
    [InlineData(DecodeStepMode.Device)]
    [InlineData(DecodeStepMode.CudaGraph)]
    public void GenerationGivesTheHostModesTokens(DecodeStepMode mode)
    {
        var model = tiny.Model;
        var prompt = ScriptedDecodeTests.Prompt;
        var (ids, mask) = DecodeStepTests.LeftPaddedPair(prompt, prompt[1..]);
        var options = new GenerationOptions { MaxNewTokens = ScriptedDecodeTests.Steps, EosTokenIds = Array.Empty<long>() };
        long[][] Run(DecodeStepMode m)
        {
            TokenGenerator.StepMode = m;
            try
            {
                using var g = new TokenGenerator(model, ids, null, mask, null, options);
                return g.Run();
            }
            finally { TokenGenerator.StepMode = TokenGenerator.DefaultStepMode; }
        }
        var host = Run(DecodeStepMode.Host);
        Assert.Equal(host, Run(mode));
        Assert.Equal(DecodeStepUncached(model, prompt), host[0]);
    }

    static long[] DecodeStepUncached(MedGemma.Engine.Model.Gemma3ForConditionalGeneration model, long[] prompt) =>
        DecodeStepTests.Uncached(model, prompt, ScriptedDecodeTests.Steps);
}
