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

    /// <summary>cos and sin [B, n, head_dim] for positions [B, n], cast to <paramref name="dtype"/>.</summary>
    public (Tensor Cos, Tensor Sin) Forward(Tensor positionIds, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        var freqs = positionIds.to(ScalarType.Float32).unsqueeze(-1) * InvFreq(positionIds.device); // (B, n, D/2)
        var emb = torch.cat(new[] { freqs, freqs }, -1);                                          // (B, n, D)
        var cos = emb.cos().to(dtype);
        var sin = emb.sin().to(dtype);
        return (cos.MoveToOuterDisposeScope(), sin.MoveToOuterDisposeScope());
    }

    /// <summary>Rotates q or k [B, heads, n, D] by cos/sin [B, n, D].</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = torch.NewDisposeScope();
        var half = x.shape[^1] / 2;
        var x1 = x.narrow(-1, 0, half);
        var x2 = x.narrow(-1, half, half);
        var rotated = torch.cat(new[] { -x2, x1 }, -1);
        var c = cos.unsqueeze(1);
        var s = sin.unsqueeze(1);
        return (x * c + rotated * s).MoveToOuterDisposeScope();
    }
}
