using MedGemma.Engine.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Training;

public class GradientClippingTests
{
    static Parameter WithGrad(float[] grad)
    {
        var p = new Parameter(zeros(grad.Length));
        p.grad = tensor(grad);
        return p;
    }

    [Fact]
    public void ScalesByMaxOverNormWhenAboveAndReturnsTheNormBefore()
    {
        // torch.nn.utils.clip_grad_norm_: total L2 norm 13 (3,4 and 12); factor 1 / (13 + 1e-6).
        var ps = new[] { WithGrad(new[] { 3f, 4f }), WithGrad(new[] { 12f }) };
        var norm = GradientClipping.ClipGradNorm(ps, 1.0);
        Assert.Equal(13.0, norm, 5);
        var factor = 1.0 / (13.0 + 1e-6);
        Assert.Equal(3 * factor, ps[0].grad![0].item<float>(), 6);
        Assert.Equal(4 * factor, ps[0].grad![1].item<float>(), 6);
        Assert.Equal(12 * factor, ps[1].grad![0].item<float>(), 6);
    }

    [Fact]
    public void LeavesGradientsBelowTheLimitAlone()
    {
        var ps = new[] { WithGrad(new[] { 0.3f, 0.4f }) };
        Assert.Equal(0.5, GradientClipping.ClipGradNorm(ps, 1.0), 6);
        Assert.Equal(new[] { 0.3f, 0.4f }, ps[0].grad!.data<float>().ToArray());
        using var onDevice = GradientClipping.ClipGradNormOnDevice(ps, 0.25);
        Assert.Equal(0.5f, onDevice!.item<float>(), 6);
        Assert.Equal(0.3f * 0.25f / 0.500001f, ps[0].grad![0].item<float>(), 6);
    }
}
