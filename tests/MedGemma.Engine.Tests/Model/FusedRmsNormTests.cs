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
        Gemma3RMSNorm.Fused = false;
        var (plain, plainHandles) = Counted(() => norm.call(x));
        Gemma3RMSNorm.Fused = true;
        var (fused, fusedHandles) = Counted(() => norm.call(x));
        Gemma3RMSNorm.Fused = false;
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

    /// <summary>With gradients too (training on CUDA runs the fused norm): the same input and weight gradients as the plain ops.</summary>
    [Fact]
    public void FusedGradientsEqualThePlainNorms()
    {
        using var scope = torch.NewDisposeScope();
        var g = new torch.Generator(9);
        var norm = new Gemma3RMSNorm(40, 1e-6);
        using (torch.no_grad()) norm.Weight.copy_(torch.randn(40, generator: g) * 0.3);
        var x0 = torch.randn(new long[] { 2, 6, 40 }, generator: g) * 3;
        var upstream = torch.randn(new long[] { 2, 6, 40 }, generator: g);
        (Tensor Out, Tensor DX, Tensor DW) Run(bool fused)
        {
            Gemma3RMSNorm.Fused = fused;
            try
            {
                var x = x0.clone().requires_grad_(true);
                norm.Weight.grad?.zero_();
                var before = FusedRmsNorm.Calls;
                var y = norm.call(x);
                Assert.Equal(fused ? 1 : 0, FusedRmsNorm.Calls - before);
                y.backward(new[] { upstream });
                return (y.detach(), x.grad!.clone(), norm.Weight.grad!.clone());
            }
            finally { Gemma3RMSNorm.Fused = null; }
        }
        var plain = Run(false);
        var fused = Run(true);
        double Rel(Tensor a, Tensor b) => (a - b).abs().max().item<float>() / b.abs().max().item<float>();
        var (dOut, dX, dW) = (Rel(fused.Out, plain.Out), Rel(fused.DX, plain.DX), Rel(fused.DW, plain.DW));
        output.WriteLine($"fused vs plain, relative: output {dOut:E2}, input gradient {dX:E2}, weight gradient {dW:E2}");
        Assert.True(plain.DX.abs().max().item<float>() > 0 && plain.DW.abs().max().item<float>() > 0);
        Assert.True(dOut <= 1e-6 && dX <= 1e-5 && dW <= 1e-5, $"output {dOut}, input gradient {dX}, weight gradient {dW}");
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
        Gemma3RMSNorm.Fused = true;
        try { output.WriteLine($"fused norms: logits max |Δ| {TinyGemma3.AssertReferenceLogitsAndIds():E2}"); }
        finally { Gemma3RMSNorm.Fused = false; }
    }
}
