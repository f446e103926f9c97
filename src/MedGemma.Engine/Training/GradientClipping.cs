using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MedGemma.Engine.Training;

/// <summary>torch.nn.utils.clip_grad_norm_ (L2): scale all gradients by min(1, max/(norm + 1e-6)).</summary>
public static class GradientClipping
{
    /// <returns>The total gradient norm before clipping.</returns>
    public static double ClipGradNorm(IEnumerable<Parameter> parameters, double maxNorm)
    {
        using var total = ClipGradNormOnDevice(parameters, maxNorm);
        return total?.item<float>() ?? 0;
    }

    /// <summary>
    /// <see cref="ClipGradNorm"/> without reading anything back: the clip factor is applied on the device, and the
    /// returned total norm (float32 scalar, null without gradients) is read when the caller wants it.
    /// </summary>
    public static Tensor? ClipGradNormOnDevice(IEnumerable<Parameter> parameters, double maxNorm)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var grads = parameters.Select(p => p.grad).Where(g => g is not null).Select(g => g!).ToArray();
        if (grads.Length == 0) return null;
        var multi = MultiTensor.Applies(grads);
        var norms = multi ? MultiTensor.Norms(grads) : stack(grads.Select(g => g.to(float32).norm()).ToArray());
        var total = norms.norm();
        if (maxNorm > 0)
        {
            using var eps = 1e-6.ToScalar();
            using var one = 1.0.ToScalar();
            // full_like/clamp stay on the device: a tensor made from a host value is a copy that synchronises the stream.
            var coef = full_like(total, maxNorm).div_(total.add(eps, one)).clamp_max_(1.0);
            if (multi) MultiTensor.Scale(grads, coef);
            else foreach (var g in grads) g.mul_(coef.to(g.dtype));
        }
        return total.MoveToOuterDisposeScope();
    }
}
