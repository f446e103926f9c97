using MedGemma.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Text;

/// <summary>
/// Attention for one new token per row, with the query heads grouped by the key/value head they share:
/// q (B, Hkv, rep, D) against k/v (B, Hkv, Lk, D), mask (B, 1, 1, Lk) or null. The rep query heads are rep query
/// rows of a plain attention, so neither kernel needs the cache expanded or the query reshaped. Run per decoder
/// layer and decoded token, hence the in-place ops on fresh tensors. Numerics as <see cref="Gemma3Attention.Attend"/>.
/// </summary>
internal static class GroupedQueryAttention
{
    /// <summary><paramref name="sdpaMask"/>: the mask in SDPA's additive form, given to SDPA instead of <paramref name="mask"/> (which the guard reads).</summary>
    public static Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor? mask, double scaling, double? softcap, bool rowsNeverEmpty, bool sdpa,
        Tensor? sdpaMask = null)
    {
        using var scope = torch.NewDisposeScope();
        Tensor output;
        if (sdpa)
        {
            // SDPA divides by sqrt(D); pre-scale q only when the model's scaling differs (not for MedGemma).
            var factor = scaling * Math.Sqrt(q.shape[3]);
            var qs = factor == 1.0 ? q : q * HeldScalars.Real(factor);
            output = nn.functional.scaled_dot_product_attention(qs, k, v, sdpaMask ?? mask, 0.0, false);
        }
        else
        {
            var scores = torch.matmul(q, k.transpose(-1, -2)).mul_(HeldScalars.Real(scaling));   // (B, Hkv, rep, Lk)
            if (softcap is double cap) scores = torch.tanh(scores.div(HeldScalars.Real(cap))).mul(HeldScalars.Real(cap));
            var s32 = scores.dtype == ScalarType.Float32 ? scores : scores.to(ScalarType.Float32);
            if (mask is not null) s32 = s32.masked_fill_(mask.logical_not(), HeldScalars.Real(float.MinValue));
            var weights = s32.softmax(-1);
            if (weights.dtype != q.dtype) weights = weights.to(q.dtype);
            output = torch.matmul(weights, v);                                                      // (B, Hkv, rep, D)
        }
        // A query with no allowed key (a padding token fed as a step) gets zeros, as in Gemma3Attention.Attend.
        if (mask is not null && !rowsNeverEmpty)
            output = torch.where(mask.any(-1, keepdim: true), output, torch.zeros_like(output));
        return output.MoveToOuterDisposeScope();
    }
}
