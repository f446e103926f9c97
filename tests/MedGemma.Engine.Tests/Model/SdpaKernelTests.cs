using MedGemma.Engine.Text;
using Xunit.Abstractions;

namespace MedGemma.Engine.Tests.Model;

/// <summary>The fused SDPA path (the GPU default) gives the reference's logits and ids too, padded rows included.</summary>
[Trait("Category", "Parity")]
public class SdpaKernelTests(ITestOutputHelper output)
{
    [Fact]
    public void SdpaMatchesTheReference()
    {
        Gemma3Attention.Kernel = AttentionKernel.Sdpa;
        output.WriteLine($"sdpa: logits max |Δ| {TinyGemma3.AssertReferenceLogitsAndIds():E2}");
    }
}
