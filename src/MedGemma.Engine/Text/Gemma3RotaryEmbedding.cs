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
    readonly Dictionary<string, Tensor> perDevice = new();

    public Gemma3RotaryEmbedding(int headDim, Config.RopeParameters rope)
    {
        using var scope = torch.NewDisposeScope();
        var exponent = torch.arange(0, headDim, 2, dtype: ScalarType.Int64).to(ScalarType.Float32) / (double)headDim;
        var inv = torch.pow(torch.full_like(exponent, rope.Theta), exponent).reciprocal();
        if (rope.LinearFactor != 1.0) inv = inv / rope.LinearFactor;
        invFreq = inv.data<float>().ToArray();
    }

    public IReadOnlyList<float> InverseFrequencies => invFreq;

    Tensor InvFreq(Device device)
    {
        var key = device.ToString();
        lock (perDevice)
        {
            if (!perDevice.TryGetValue(key, out var t))
            {
                t = torch.tensor(invFreq, device: device).DetachFromDisposeScope();
                perDevice[key] = t;
            }
            return t;
        }
    }

    /// <summary>
    /// cos and signed sin [B, 1, n, head_dim] for positions [B, n], cast to <paramref name="dtype"/>, laid out for
    /// <see cref="Apply"/>: the sin's first half is negated, so rotate_half becomes a roll (exactly the same products,
    /// since negation is exact) and each Apply is 4 ops instead of 9, per layer and decoded token.
    /// </summary>
    public (Tensor Cos, Tensor Sin) Forward(Tensor positionIds, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        var freqs = (positionIds.to(ScalarType.Float32).unsqueeze(-1) * InvFreq(positionIds.device)).unsqueeze(1); // (B, 1, n, D/2)
        var c = freqs.cos();
        var s = freqs.sin();
        var cos = torch.cat(new[] { c, c }, -1).to(dtype);
        var sin = torch.cat(new[] { -s, s }, -1).to(dtype);
        return (cos.MoveToOuterDisposeScope(), sin.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Rotates q or k [B, heads, n, D] by cos and signed sin [B, 1, n, D] from <see cref="Forward"/>:
    /// x·cos + rotate_half(x)·sin, with rotate_half(x)·sin = roll(x, D/2)·signed sin.
    /// </summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = torch.NewDisposeScope();
        var rolled = x.roll(x.shape[^1] / 2, -1);
        return (x * cos + rolled * sin).MoveToOuterDisposeScope();
    }
}
