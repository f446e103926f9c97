using MedGemma.Engine.Text;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Model;

/// <summary>The opt-in fused RMSNorm (libtorch's rms_norm through TorchScript) computes what the plain ops compute.</summary>
[Trait("Category", "Parity")]
public class FusedRmsNormTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(ScalarType.Float32, 1e-6)]
    [InlineData(ScalarType.BFloat16, 0.0)]
    public void FusedEqualsThePlainNorm(ScalarType dtype, double tolerance)
    {
        using var scope = torch.NewDisposeScope();
        var g = new torch.Generator(7);
        var norm = new Gemma3RMSNorm(48, 1e-6, dtype: dtype);
        using (torch.no_grad()) norm.Weight.copy_(torch.randn(48, generator: g) * 0.3);
        var x = (torch.randn(new long[] { 3, 5, 48 }, generator: g) * 4).to(dtype);
        using var noGrad = torch.no_grad();
        Gemma3RMSNorm.FusedInference = false;
        var (plain, plainHandles) = Counted(() => norm.call(x));
        Gemma3RMSNorm.FusedInference = true;
        var (fused, fusedHandles) = Counted(() => norm.call(x));
        Gemma3RMSNorm.FusedInference = false;
        // The switch really routes: one TorchScript call makes one tensor, the plain norm several.
        Assert.True(fusedHandles == 1 && plainHandles >= 3, $"handles: fused {fusedHandles}, plain {plainHandles}");
        Assert.Equal(0, (FusedRmsNorm.Apply(x, norm.Weight, 1e-6) - fused).abs().max().to(ScalarType.Float32).item<float>());
        Assert.Equal(dtype, fused.dtype);
        var d = (fused.to(ScalarType.Float32) - plain.to(ScalarType.Float32)).abs().max().item<float>();
        var bf16Ulps = dtype == ScalarType.BFloat16 ? (fused.to(ScalarType.Float32) - plain.to(ScalarType.Float32)).abs().div(plain.to(ScalarType.Float32).abs().clamp_min(1e-3)).max().item<float>() : 0;
        output.WriteLine($"{dtype}: max |fused - plain| {d:E2}, max relative {bf16Ulps:E2}");
        if (dtype == ScalarType.Float32) Assert.True(d <= tolerance, $"max |Δ| {d}");
        else Assert.True(bf16Ulps <= 1.0 / 128, $"max relative {bf16Ulps}: more than one bf16 rounding step");
    }

    static (Tensor Result, long Handles) Counted(Func<Tensor> call)
    {
        var stats = DisposeScopeManager.Statistics;
        var before = stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount;
        var result = call();
        return (result, stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount - before);
    }

    [Fact]
    public void FusedNormsGiveTheReferenceLogitsAndIds()
    {
        Gemma3RMSNorm.FusedInference = true;
        try { output.WriteLine($"fused norms: logits max |Δ| {TinyGemma3.AssertReferenceLogitsAndIds():E2}"); }
        finally { Gemma3RMSNorm.FusedInference = false; }
    }
}
