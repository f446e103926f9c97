using MedGemma.Engine.Training;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using AdamW = MedGemma.Engine.Training.AdamW;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Training;

public class AdamWTests
{
    [Fact]
    public void TwoStepsMatchTheTorchFormulaWorkedByHand()
    {
        var p = new Parameter(tensor(new[] { 1.0f, -2.0f }));
        using var opt = new AdamW(new[] { ("p", p) }, lr: 0.1, weightDecay: 0.01);
        p.grad = tensor(new[] { 0.5f, 0.0f });
        opt.Step();
        // step 1: p*(1-0.001); m=0.05, v=0.00025; m̂/√v̂ = (0.05/0.1)/(√0.00025/√0.001) = 1 → p - 0.1
        Assert.Equal(0.999f - 0.1f, p[0].item<float>(), 6);
        Assert.Equal(-2f * 0.999f, p[1].item<float>(), 6);
        p.grad = tensor(new[] { -1.0f, 0.0f });
        opt.Step();
        double m = 0.9 * 0.05 + 0.1 * -1, v = 0.999 * 0.00025 + 0.001 * 1;
        double expected = (0.899 * 0.999) - 0.1 / (1 - 0.81) * m / (Math.Sqrt(v) / Math.Sqrt(1 - 0.998001) + 1e-8);
        Assert.Equal(expected, p[0].item<float>(), 5);
    }

    [Fact]
    public void StateRoundTripsThroughItsTensors()
    {
        var p = new Parameter(tensor(new[] { 1.0f, 2.0f }));
        using var a = new AdamW(new[] { ("p", p) });
        p.grad = tensor(new[] { 0.3f, -0.2f });
        a.Step();
        var q = new Parameter(p.detach().clone());
        using var b = new AdamW(new[] { ("p", q) });
        b.LoadState(a.StateTensors(), a.StepCount, "test");
        p.grad = tensor(new[] { 0.1f, 0.1f });
        q.grad = tensor(new[] { 0.1f, 0.1f });
        a.Step(); b.Step();
        Assert.True(p.allclose(q, 0, 0));
    }
}
