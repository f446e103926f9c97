using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Text;

/// <summary>
/// RoPE cos/sin for one attention type. The inverse frequencies are computed in float32 with the same
/// operations as transformers (so they are bit-identical) and stay float32 whatever the model dtype:
/// they are not module state, so a dtype cast of the model never rounds them.
/// </summary>
public sealed class Gemma3RotaryEmbedding
{
    readonly float[] invFreq;
    readonly Dictionary<string, (Tensor InvFreq, Tensor Signs)> perDevice = new();

    public Gemma3RotaryEmbedding(int headDim, Config.RopeParameters rope)
    {
        using var scope = torch.NewDisposeScope();
        var exponent = torch.arange(0, headDim, 2, dtype: ScalarType.Int64).to(ScalarType.Float32) / (double)headDim;
        var inv = torch.pow(torch.full_like(exponent, rope.Theta), exponent).reciprocal();
        if (rope.LinearFactor != 1.0) inv = inv / rope.LinearFactor;
        invFreq = inv.data<float>().ToArray();
    }

    public IReadOnlyList<float> InverseFrequencies => invFreq;

    /// <summary>
    /// Per device: the inverse frequencies twice over [D] (cos(θ) of the duplicated angles is exactly cat(cos, cos)),
    /// and the signs [D] (-1 on the first half) that make the sin signed.
    /// </summary>
    (Tensor InvFreq, Tensor Signs) Tables(Device device)
    {
        var key = device.ToString();
        lock (perDevice)
        {
            if (!perDevice.TryGetValue(key, out var t))
            {
                var half = invFreq.Length;
                var signs = Enumerable.Repeat(-1f, half).Concat(Enumerable.Repeat(1f, half)).ToArray();
                t = (torch.tensor(invFreq.Concat(invFreq).ToArray(), device: device).DetachFromDisposeScope(),
                     torch.tensor(signs, device: device).DetachFromDisposeScope());
                perDevice[key] = t;
            }
            return t;
        }
    }

    /// <summary>Positions [B, n] as the float32 [B, 1, n, 1] column that <see cref="Forward(Tensor, ScalarType)"/> multiplies; shareable by both RoPE types.</summary>
    public static Tensor PositionColumn(Tensor positionIds) =>
        positionIds.to(ScalarType.Float32).view(positionIds.shape[0], 1, positionIds.shape[1], 1);

    /// <summary>
    /// cos and signed sin [B, 1, n, head_dim] for positions [B, n], cast to <paramref name="dtype"/>, laid out for
    /// <see cref="Apply"/>: the sin's first half is negated, so rotate_half becomes a roll (exactly the same products,
    /// since negation is exact) and each Apply is 3 ops instead of 9, per layer and decoded token.
    /// </summary>
    public (Tensor Cos, Tensor Sin) Forward(Tensor positionIds, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        var (cos, sin) = FromPositionColumn(PositionColumn(positionIds), dtype);
        return (cos.MoveToOuterDisposeScope(), sin.MoveToOuterDisposeScope());
    }

    /// <summary>The same from <see cref="PositionColumn"/>'s [B, 1, n, 1] float32 positions (5 ops in float32, run per decoded token).</summary>
    public (Tensor Cos, Tensor Sin) FromPositionColumn(Tensor positionColumn, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        var (inv, signs) = Tables(positionColumn.device);
        var angles = positionColumn * inv;                   // (B, 1, n, D), the same float32 products as transformers'
        var cos = angles.cos();
        var sin = angles.sin().mul_(signs);
        if (dtype != ScalarType.Float32) (cos, sin) = (cos.to(dtype), sin.to(dtype));
        return (cos.MoveToOuterDisposeScope(), sin.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Rotates q or k [B, heads, n, D] by cos and signed sin [B, 1, n, D] from <see cref="Forward(Tensor, ScalarType)"/>:
    /// x·cos + rotate_half(x)·sin, with rotate_half(x)·sin = roll(x, D/2)·signed sin.
    /// </summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = torch.NewDisposeScope();
        // In place on fresh tensors (2 new tensors, not 4) but rounded exactly like x·cos + rolled·sin: a fused
        // addcmul would round once less and drift from the reference's gradients.
        var rotated = x * cos;
        return rotated.add_(x.roll(x.shape[^1] / 2, -1).mul_(sin)).MoveToOuterDisposeScope();
    }
}
