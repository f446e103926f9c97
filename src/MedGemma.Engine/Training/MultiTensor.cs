using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Training;

/// <summary>
/// libtorch's multi-tensor (<c>_foreach_*</c>) ops, reached through TorchScript because TorchSharp 0.107 binds none:
/// one call updates every LoRA tensor at once. The per-tensor loops launch a few kernels per tensor and step (AdamW 8,
/// clipping 2, zeroing 1: about 2,700 tiny kernels for MedGemma's 244 LoRA tensors); on CUDA each op here launches one
/// kernel per few dozen tensors, as torch.optim.AdamW's default (foreach) implementation and clip_grad_norm_ do. The ops
/// and their order are the per-tensor code's, so a CPU gives the same bits (<c>MultiTensorTests</c>).
/// </summary>
public static class MultiTensor
{
    const string Script = @"
def adamw_step(params: List[Tensor], grads: List[Tensor], exp_avgs: List[Tensor], exp_avg_sqs: List[Tensor],
               decay: float, one_minus_beta1: float, beta2: float, one_minus_beta2: float, bc2_sqrt: float, eps: float,
               neg_step: float) -> int:
    torch._foreach_mul_(params, decay)
    torch._foreach_lerp_(exp_avgs, grads, one_minus_beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, one_minus_beta2)
    denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denom, bc2_sqrt)
    torch._foreach_add_(denom, eps)
    torch._foreach_addcdiv_(params, exp_avgs, denom, neg_step)
    return len(params)

def grad_norms(grads: List[Tensor]) -> Tensor:
    return torch.stack(torch._foreach_norm(grads, 2.0))

def scale(tensors: List[Tensor], factor: Tensor) -> int:
    torch._foreach_mul_(tensors, factor)
    return len(tensors)

def zero(tensors: List[Tensor]) -> int:
    torch._foreach_zero_(tensors)
    return len(tensors)
";

    static readonly Lazy<jit.CompilationUnit> Unit = new(() => jit.compile(Script), LazyThreadSafetyMode.ExecutionAndPublication);

    static readonly AsyncLocal<bool?> enabledOverride = new();

    /// <summary>Process-wide default: whether the optimizer, clipping and zeroing use the multi-tensor ops (default on).</summary>
    public static bool DefaultEnabled { get; set; } = true;

    /// <summary>The setting for the current async flow (tests compare both paths): an override set here, else <see cref="DefaultEnabled"/>.</summary>
    public static bool Enabled
    {
        get => enabledOverride.Value ?? DefaultEnabled;
        set => enabledOverride.Value = value;
    }

    /// <summary>
    /// Whether <paramref name="tensors"/> can go through one call: on one device, float32 (the LoRA tensors; a foreach
    /// norm of another dtype would not be computed in float32 as the per-tensor code does). Otherwise the per-tensor code runs.
    /// </summary>
    internal static bool Applies(IReadOnlyList<Tensor> tensors)
    {
        if (!Enabled || tensors.Count == 0) return false;
        var (type, index) = (tensors[0].device_type, tensors[0].device_index);
        foreach (var t in tensors)
            if (t.dtype != ScalarType.Float32 || t.device_type != type || t.device_index != index) return false;
        return true;
    }

    internal static void AdamWStep(Tensor[] parameters, Tensor[] grads, Tensor[] expAvgs, Tensor[] expAvgSqs,
        double decay, double oneMinusBeta1, double beta2, double oneMinusBeta2, double bc2Sqrt, double eps, double negStep) =>
        Run("adamw_step", parameters, grads, expAvgs, expAvgSqs, decay, oneMinusBeta1, beta2, oneMinusBeta2, bc2Sqrt, eps, negStep);

    /// <summary>The L2 norm of each tensor, stacked ([N], float32).</summary>
    internal static Tensor Norms(Tensor[] grads)
    {
        calls++;
        return (Tensor)Unit.Value.invoke("grad_norms", new object[] { grads });
    }

    /// <summary>Multiplies every tensor by the one-element <paramref name="factor"/> (on their device), in place.</summary>
    internal static void Scale(Tensor[] tensors, Tensor factor) => Run("scale", tensors, factor);

    internal static void Zero(Tensor[] tensors) => Run("zero", new object[] { tensors });

    [ThreadStatic] static long calls;

    /// <summary>Calls made on this thread (tests: which path ran).</summary>
    internal static long Calls => calls;

    // The in-place functions return their list's length (TorchSharp boxes it as a Scalar, disposed here).
    static void Run(string name, params object[] args)
    {
        calls++;
        if (Unit.Value.invoke(name, args) is IDisposable result) result.Dispose();
    }
}
