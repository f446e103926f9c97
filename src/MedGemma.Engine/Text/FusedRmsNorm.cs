using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Text;

/// <summary>
/// Gemma's RMSNorm through libtorch's fused <c>rms_norm</c>, reached with TorchScript (<c>torch.jit.compile</c>) because
/// TorchSharp 0.107 binds no <c>rms_norm</c>: one host call and ~4 kernels (cast, rms_norm, addcmul, cast) instead of
/// ~8 calls and kernels, for the ~200 norms of every decoded token. On by default on CUDA only
/// (<see cref="Gemma3RMSNorm.Fused"/>): 1.22x faster decoding on an H200, while on a CPU one TorchScript
/// invoke costs about as much host time as the ops it saves (bench `ops`). With gradients, libtorch differentiates it
/// (rms_norm has a fused backward): one backward pass over the activations instead of ~10.
/// </summary>
internal static class FusedRmsNorm
{
    /// <summary>The TorchScript source of gemma_rms_norm(x, w, eps); <see cref="DecodeLayerScript"/> builds on it.</summary>
    internal const string Script = @"
def gemma_rms_norm(x: Tensor, w: Tensor, eps: float) -> Tensor:
    xf = x.float()
    n = torch.rms_norm(xf, [xf.shape[-1]], None, eps)
    return torch.addcmul(n, n, w).to(x.dtype)
";

    static readonly Lazy<jit.CompilationUnit> Unit = new(() => jit.compile(Script), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>x·rsqrt(mean(x²) + eps)·(1 + w) in float32, cast back to x's dtype (the same math as <see cref="Gemma3RMSNorm"/>).</summary>
    public static Tensor Apply(Tensor x, Tensor weight, Scalar eps)
    {
        calls++;
        return (Tensor)Unit.Value.invoke("gemma_rms_norm", x, weight, eps);
    }

    [ThreadStatic] static long calls;

    /// <summary>Norms run through here on this thread (tests: which path a forward took, whatever other tests run meanwhile).</summary>
    internal static long Calls => calls;
}
