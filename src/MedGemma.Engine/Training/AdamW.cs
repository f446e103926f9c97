using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MedGemma.Engine.Training;

/// <summary>
/// torch.optim.AdamW's update, step by step (over all float32 tensors at once through <see cref="MultiTensor"/>,
/// like torch's default foreach implementation on CUDA; else tensor by tensor, its single-tensor implementation):
/// p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
/// p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε). Ours rather than TorchSharp's so the state is plain,
/// named tensors that a checkpoint can save and restore exactly (and TorchSharp's ParamGroup factory
/// defaults β2 to 0.99).
/// </summary>
public sealed class AdamW : IDisposable
{
    readonly IReadOnlyList<(string Name, Parameter Param)> parameters;
    readonly Dictionary<string, (Tensor ExpAvg, Tensor ExpAvgSq)> state = new();
    readonly Dictionary<(ScalarType, string), Tensor> lerpWeights = new();

    public AdamW(IReadOnlyList<(string Name, Parameter Param)> parameters, double lr = 1e-3, double beta1 = 0.9,
        double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.01)
    {
        if (lr < 0 || beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1 || eps < 0 || weightDecay < 0)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "BadOptimizerSettings",
                $"AdamW settings out of range: lr={lr}, betas=({beta1}, {beta2}), eps={eps}, weight_decay={weightDecay}.");
        this.parameters = parameters;
        LearningRate = lr;
        Beta1 = beta1; Beta2 = beta2; Eps = eps; WeightDecay = weightDecay;
        foreach (var (name, p) in parameters)
            state[name] = (zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope());
    }

    public double LearningRate { get; set; }
    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }
    public double WeightDecay { get; }
    public long StepCount { get; private set; }
    public IReadOnlyList<(string Name, Parameter Param)> Parameters => parameters;

    public void Step()
    {
        StepCount++;
        var bc1 = 1 - Math.Pow(Beta1, StepCount);
        var bc2Sqrt = Math.Sqrt(1 - Math.Pow(Beta2, StepCount));
        var stepSize = LearningRate / bc1;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var active = parameters.Where(x => x.Param.grad is not null).ToList();
        var ps = active.Select(x => (Tensor)x.Param).ToArray();
        var gs = active.Select(x => x.Param.grad!).ToArray();
        var ms = active.Select(x => state[x.Name].ExpAvg).ToArray();
        var vs = active.Select(x => state[x.Name].ExpAvgSq).ToArray();
        if (MultiTensor.Applies(ps.Concat(gs).Concat(ms).Concat(vs).ToArray()))
        {
            // The same ops in the same order, over every tensor at once.
            MultiTensor.AdamWStep(ps, gs, ms, vs, 1 - LearningRate * WeightDecay, 1 - Beta1, Beta2, 1 - Beta2, bc2Sqrt, Eps, -stepSize);
            return;
        }
        // Scalars held in variables: a temporary one may be finalized while the native call reads it.
        using var decay = (1 - LearningRate * WeightDecay).ToScalar();
        using var beta2 = Beta2.ToScalar();
        using var oneMinusBeta2 = (1 - Beta2).ToScalar();
        using var bc2 = bc2Sqrt.ToScalar();
        using var eps = Eps.ToScalar();
        using var one = 1.0.ToScalar();
        using var negStep = (-stepSize).ToScalar();
        for (var i = 0; i < ps.Length; i++)
        {
            var (p, g, m, v) = (ps[i], gs[i], ms[i], vs[i]);
            p.mul_(decay);
            m.lerp_(g, LerpWeight(m)); // torch: exp_avg.lerp_(grad, 1 - beta1)
            v.mul_(beta2).addcmul_(g, g, oneMinusBeta2);
            var denom = v.sqrt().div_(bc2).add_(eps, one);
            p.addcdiv_(m, denom, negStep);
        }
    }

    /// <summary>
    /// 1 - beta1 as a tensor on m's device (TorchSharp's lerp_ takes no scalar weight), made once per dtype and device:
    /// creating it per parameter and step would be a host-to-device copy, i.e. a stream synchronisation, each time.
    /// </summary>
    Tensor LerpWeight(Tensor m)
    {
        var key = (m.dtype, m.device.ToString());
        if (!lerpWeights.TryGetValue(key, out var w))
            lerpWeights[key] = w = tensor(1 - Beta1, m.dtype, m.device).DetachFromDisposeScope();
        return w;
    }

    public void ZeroGrad()
    {
        var grads = parameters.Select(x => x.Param.grad).OfType<Tensor>().ToArray();
        if (MultiTensor.Applies(grads)) { MultiTensor.Zero(grads); return; }
        foreach (var g in grads) g.zero_();
    }

    /// <summary>Moment tensors by parameter name ("exp_avg." / "exp_avg_sq." + name), for checkpoints.</summary>
    public Dictionary<string, Tensor> StateTensors()
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (name, (m, v)) in state) { d["exp_avg." + name] = m; d["exp_avg_sq." + name] = v; }
        return d;
    }

    public void LoadState(IReadOnlyDictionary<string, Tensor> tensors, long stepCount, string source)
    {
        using var _ = no_grad();
        foreach (var (name, (m, v)) in state)
        {
            foreach (var (key, target) in new[] { ("exp_avg." + name, m), ("exp_avg_sq." + name, v) })
            {
                if (!tensors.TryGetValue(key, out var t) || !t.shape.SequenceEqual(target.shape))
                    throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "BadOptimizerState",
                        $"Checkpoint {source} lacks optimizer state '{key}' of shape [{string.Join(",", target.shape)}].", key);
                target.copy_(t);
            }
        }
        StepCount = stepCount;
    }

    public void Dispose()
    {
        foreach (var (m, v) in state.Values) { m.Dispose(); v.Dispose(); }
        state.Clear();
        foreach (var w in lerpWeights.Values) w.Dispose();
        lerpWeights.Clear();
    }
}
