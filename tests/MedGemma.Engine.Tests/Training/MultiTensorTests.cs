using MedGemma.Engine.Training;
using TorchSharp;
using Xunit.Abstractions;
using Parameter = TorchSharp.Modules.Parameter;
using AdamW = MedGemma.Engine.Training.AdamW;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Training;

/// <summary>
/// The multi-tensor optimizer step, clipping and zeroing (<see cref="MultiTensor"/>) against the per-tensor code:
/// the same ops in the same order, so a CPU gives the same bits, a parameter without a gradient included.
/// </summary>
public sealed class MultiTensorTests(ITestOutputHelper output)
{
    static (string Name, Parameter Param)[] Parameters(int seed)
    {
        var g = new torch.Generator((ulong)seed);
        return new[] { new long[] { 16, 40 }, new long[] { 40, 16 }, new long[] { 7 }, new long[] { 3, 5, 2 } }
            .Select((shape, i) => ($"p{i}", new Parameter(torch.randn(shape, generator: g)))).ToArray();
    }

    static void SetGradients((string Name, Parameter Param)[] ps, int seed, float scale)
    {
        var g = new torch.Generator((ulong)seed);
        foreach (var (name, p) in ps)
            p.grad = name == "p2" ? null : torch.randn(p.shape, generator: g) * scale;
    }

    (Tensor[] Params, Tensor[] State, float[] Norms) Train(bool multi)
    {
        MultiTensor.Enabled = multi;
        try
        {
            var ps = Parameters(3);
            using var opt = new AdamW(ps, lr: 0.01, weightDecay: 0.05);
            var norms = new List<float>();
            var before = MultiTensor.Calls;
            for (var step = 0; step < 3; step++)
            {
                SetGradients(ps, 10 + step, step == 1 ? 30f : 0.02f);   // step 1 is clipped, the others are not
                using var norm = GradientClipping.ClipGradNormOnDevice(ps.Select(x => x.Param), 2.0)!;
                norms.Add(norm.item<float>());
                opt.Step();
                opt.ZeroGrad();
                foreach (var (name, p) in ps)
                    if (p.grad is { } grad) Assert.Equal(0f, grad.abs().max().item<float>());
            }
            // Per step: norms, scale (by the clip factor, 1 when below the limit: decided on the device), AdamW, zero.
            Assert.Equal(multi ? 3 * 4 : 0, MultiTensor.Calls - before);
            return (ps.Select(x => x.Param.detach().clone()).ToArray(), opt.StateTensors().OrderBy(kv => kv.Key).Select(kv => kv.Value.clone()).ToArray(), norms.ToArray());
        }
        finally { MultiTensor.Enabled = true; }
    }

    [Fact]
    public void StepsClippingAndZeroingGiveThePerTensorBits()
    {
        var single = Train(false);
        var multi = Train(true);
        output.WriteLine($"norms per step: {string.Join(", ", multi.Norms)}");
        Assert.Equal(single.Norms, multi.Norms);
        Assert.True(multi.Norms[1] > 2.0 && multi.Norms[0] < 2.0, "step 1 must be clipped, step 0 not");
        for (var i = 0; i < single.Params.Length; i++) Assert.True(single.Params[i].allclose(multi.Params[i], 0, 0), $"parameter {i}");
        for (var i = 0; i < single.State.Length; i++) Assert.True(single.State[i].allclose(multi.State[i], 0, 0), $"state tensor {i}");
        // p2 never had a gradient: neither path touched it.
        Assert.True(multi.Params[2].allclose(Parameters(3)[2].Param, 0, 0));
    }

    [Fact]
    public void OtherDtypesOrDevicesTakeThePerTensorPath()
    {
        Assert.True(MultiTensor.Applies(new[] { torch.zeros(2), torch.ones(3) }));
        Assert.False(MultiTensor.Applies(new[] { torch.zeros(2), torch.ones(3, dtype: ScalarType.BFloat16) }));
        Assert.False(MultiTensor.Applies(Array.Empty<Tensor>()));
        MultiTensor.Enabled = false;
        try { Assert.False(MultiTensor.Applies(new[] { torch.zeros(2) })); }
        finally { MultiTensor.Enabled = true; }
    }
}
