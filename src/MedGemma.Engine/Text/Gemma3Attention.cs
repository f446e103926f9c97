using MedGemma.Engine.Config;
using MedGemma.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Text;

/// <summary>Which attention kernel runs: eager matmul-softmax (the reference's numerics) or fused SDPA.</summary>
public enum AttentionKernel
{
    /// <summary>SDPA on CUDA for inference and for unmasked attention (the vision tower); eager for masked training attention, so padded rows never risk NaN gradients.</summary>
    Auto,
    Eager,
    /// <summary>torch scaled_dot_product_attention (flash / memory-efficient kernels on GPU).</summary>
    Sdpa,
}

/// <summary>
/// Grouped-query self-attention with q/k RMSNorm, RoPE (local or global base by layer type) and
/// scaling by query_pre_attn_scalar^-0.5. Projections are declared as Module&lt;Tensor,Tensor&gt; so LoRA can wrap them.
/// </summary>
public sealed class Gemma3Attention : nn.Module
{
    internal nn.Module<Tensor, Tensor> q_proj;
    internal nn.Module<Tensor, Tensor> k_proj;
    internal nn.Module<Tensor, Tensor> v_proj;
    internal nn.Module<Tensor, Tensor> o_proj;
    internal Gemma3RMSNorm q_norm;
    internal Gemma3RMSNorm k_norm;

    readonly int layerIdx;
    readonly bool sliding;
    readonly int heads, kvHeads, headDim;
    readonly double scaling;
    readonly double? softcap;

    public Gemma3Attention(Gemma3TextConfig c, int layerIdx, Device? device = null, ScalarType? dtype = null) : base(nameof(Gemma3Attention))
    {
        this.layerIdx = layerIdx;
        sliding = c.IsSliding(layerIdx);
        heads = c.NumAttentionHeads;
        kvHeads = c.NumKeyValueHeads;
        headDim = c.HeadDim;
        scaling = Math.Pow(c.QueryPreAttnScalar, -0.5);
        softcap = c.AttnLogitSoftcapping;
        q_proj = nn.Linear(c.HiddenSize, heads * headDim, hasBias: c.AttentionBias, device: device, dtype: dtype);
        k_proj = nn.Linear(c.HiddenSize, kvHeads * headDim, hasBias: c.AttentionBias, device: device, dtype: dtype);
        v_proj = nn.Linear(c.HiddenSize, kvHeads * headDim, hasBias: c.AttentionBias, device: device, dtype: dtype);
        o_proj = nn.Linear(heads * headDim, c.HiddenSize, hasBias: c.AttentionBias, device: device, dtype: dtype);
        q_norm = new Gemma3RMSNorm(headDim, c.RmsNormEps, device, dtype);
        k_norm = new Gemma3RMSNorm(headDim, c.RmsNormEps, device, dtype);
        RegisterComponents();
    }

    public bool IsSliding => sliding;
    internal int LayerIndex => layerIdx;
    internal int HeadCount => heads;
    internal int KvHeadCount => kvHeads;
    internal int HeadDimension => headDim;
    internal double? Softcap => softcap;
    /// <summary>The query_pre_attn_scalar^-0.5 scaling and SDPA's pre-scale of q (scaling·sqrt(D)), held for TorchScript calls.</summary>
    internal Scalar ScalingScalar => HeldScalars.Real(scaling);
    internal Scalar SdpaQueryFactor => HeldScalars.Real(scaling * Math.Sqrt(headDim));

    static readonly AsyncLocal<AttentionKernel?> kernelOverride = new();

    /// <summary>Process-wide default kernel (both towers). Eager is closest to the reference's numbers; SDPA is faster on GPU.</summary>
    public static AttentionKernel DefaultKernel { get; set; } = AttentionKernel.Auto;

    /// <summary>The kernel for the current async flow: an override set here, else <see cref="DefaultKernel"/>.</summary>
    public static AttentionKernel Kernel
    {
        get => kernelOverride.Value ?? DefaultKernel;
        set => kernelOverride.Value = value;
    }

    public Tensor forward(Tensor hidden, AttentionContext ctx)
    {
        using var scope = torch.NewDisposeScope();
        var b = hidden.shape[0];
        var n = hidden.shape[1];
        if (n == 1 && ctx.Cache is not null) return DecodeStep(hidden, ctx).MoveToOuterDisposeScope();
        var q = Heads(q_proj.call(hidden), b, n, heads);     // (B, H, n, D)
        var k = Heads(k_proj.call(hidden), b, n, kvHeads);   // (B, Hkv, n, D)
        var v = Heads(v_proj.call(hidden), b, n, kvHeads);   // (B, Hkv, n, D)
        q = q_norm.call(q);
        k = k_norm.call(k);
        var (cos, sin) = sliding ? (ctx.LocalCos, ctx.LocalSin) : (ctx.GlobalCos, ctx.GlobalSin);
        q = Gemma3RotaryEmbedding.Apply(q, cos, sin);
        k = Gemma3RotaryEmbedding.Apply(k, cos, sin);
        if (ctx.Cache is not null) (k, v) = ctx.Cache.Update(layerIdx, k, v);

        var output = Attend(q, k, v, sliding ? ctx.LocalMask : ctx.GlobalMask, scaling, softcap, ctx.RowsNeverEmpty,
            sliding ? ctx.LocalSdpaMask : ctx.GlobalSdpaMask, ctx.Sdpa);  // (B, H, n, D)
        // For one token (B, H, 1, D) is already laid out as (B, 1, H·D): no transpose.
        output = n == 1 ? output.reshape(b, 1, heads * headDim) : output.transpose(1, 2).reshape(b, n, heads * headDim);
        return o_proj.call(output).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// One new token against the cache, with the query heads viewed as (B, Hkv, rep, D) from the projection: the rep
    /// heads sharing a key/value head are rows of one attention against it, so no reshape before or after attention.
    /// </summary>
    Tensor DecodeStep(Tensor hidden, AttentionContext ctx)
    {
        var b = hidden.shape[0];
        var q = q_norm.call(q_proj.call(hidden).view(b, kvHeads, heads / kvHeads, headDim));
        var k = k_norm.call(k_proj.call(hidden).view(b, kvHeads, 1, headDim));
        var v = v_proj.call(hidden).view(b, kvHeads, 1, headDim);
        var (cos, sin) = sliding ? (ctx.LocalCos, ctx.LocalSin) : (ctx.GlobalCos, ctx.GlobalSin);  // (B, 1, 1, D)
        q = Gemma3RotaryEmbedding.Apply(q, cos, sin);
        k = Gemma3RotaryEmbedding.Apply(k, cos, sin);
        (k, v) = ctx.Cache!.Update(layerIdx, k, v);
        var mask = sliding ? ctx.LocalMask : ctx.GlobalMask;
        var output = GroupedQueryAttention.Attend(q, k, v, mask, scaling, softcap, ctx.RowsNeverEmpty, ctx.Sdpa,
            sliding ? ctx.LocalSdpaMask : ctx.GlobalSdpaMask);
        return o_proj.call(output.reshape(b, 1, heads * headDim));
    }

    /// <summary>
    /// SDPA when asked, or on CUDA for inference and for unmasked attention. Without a mask (the vision tower) no row
    /// can be fully masked, so SDPA is safe in training too; eager attention there would keep (N, heads, patches,
    /// patches) float32 scores per layer for the backward.
    /// </summary>
    internal static bool UseSdpa(Tensor q, Tensor? mask, double? softcap) => softcap is null && (Kernel == AttentionKernel.Sdpa
        || (Kernel == AttentionKernel.Auto && (q.device.type == DeviceType.CUDA || AutoAsOnCuda) && (mask is null || !torch.is_grad_enabled())));

    static readonly AsyncLocal<bool> autoAsOnCuda = new();

    /// <summary>Tests: <see cref="AttentionKernel.Auto"/> decides on a CPU as it does on CUDA.</summary>
    internal static bool AutoAsOnCuda
    {
        get => autoAsOnCuda.Value;
        set => autoAsOnCuda.Value = value;
    }

    [ThreadStatic] static long maskedSdpaCalls;

    /// <summary>Masked attentions run through <see cref="Attend"/>'s SDPA path on this thread (tests: which kernel a forward or a recomputation ran).</summary>
    internal static long MaskedSdpaCalls => maskedSdpaCalls;

    /// <summary>(B, n, heads·D) → (B, heads, n, D); for one token a view, with no transpose (one op per projection and decoded token).</summary>
    Tensor Heads(Tensor projected, long b, long n, int count) =>
        n == 1 ? projected.view(b, count, 1, headDim) : projected.view(b, n, count, headDim).transpose(1, 2);

    /// <summary>
    /// Eager attention as transformers computes it (softmax in float32). q (B, H, n, D), k/v (B, Hkv, Lk, D),
    /// mask (B, 1, n, Lk) bool or null. A query with no allowed key (left padding) gets a zero output, as
    /// SDPA gives, never NaN; gradients stay finite too. <paramref name="rowsNeverEmpty"/>: the caller knows every
    /// query has an allowed key (its own), so that guard is skipped. <paramref name="sdpaMask"/>: the mask in SDPA's
    /// additive form (<see cref="AttentionMasks.Additive"/>), given to SDPA instead of the boolean one.
    /// <paramref name="sdpa"/>: the kernel, when the caller decided it (<see cref="AttentionContext.Sdpa"/>); null = <see cref="UseSdpa"/>.
    /// </summary>
    public static Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor? mask, double scaling, double? softcap = null, bool rowsNeverEmpty = false,
        Tensor? sdpaMask = null, bool? sdpa = null)
    {
        using var scope = torch.NewDisposeScope();
        var (b, h, n, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3]);
        var hkv = k.shape[1];
        var rep = h / hkv;
        if (sdpa ?? UseSdpa(q, mask, softcap)) return Sdpa(q, k, v, mask, sdpaMask, scaling, rowsNeverEmpty).MoveToOuterDisposeScope();
        var qg = q.view(b, hkv, rep, n, d);                                    // (B, Hkv, rep, n, D)
        var scores = torch.matmul(qg, k.unsqueeze(2).transpose(-1, -2)).mul_(HeldScalars.Real(scaling)); // (B, Hkv, rep, n, Lk)
        if (softcap is double cap) scores = torch.tanh(scores.div(HeldScalars.Real(cap))).mul(HeldScalars.Real(cap));
        var s32 = scores.dtype == ScalarType.Float32 ? scores : scores.to(ScalarType.Float32);
        Tensor? blocked = null;
        if (mask is not null)
        {
            blocked = mask.logical_not().unsqueeze(2);                          // (B, 1, 1, n, Lk)
            s32 = s32.masked_fill_(blocked, HeldScalars.Real(float.MinValue));
        }
        var weights = s32.softmax(-1);
        // Not in place: softmax's backward reads its output.
        if (blocked is not null && !rowsNeverEmpty) weights = weights.masked_fill(blocked, HeldScalars.Real(0.0));
        if (weights.dtype != q.dtype) weights = weights.to(q.dtype);
        var output = torch.matmul(weights, v.unsqueeze(2));                    // (B, Hkv, rep, n, D)
        return output.reshape(b, h, n, d).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The same attention through fused SDPA. TorchSharp's binding has no scale or GQA arguments, so q is pre-scaled
    /// (SDPA divides by sqrt(D); skipped when the factor is 1, as for query_pre_attn_scalar = head_dim) and k/v are
    /// expanded to all query heads; rows with no allowed key are zeroed. For a single query (a decode step) the rep
    /// query heads of a key/value head become rep query rows against the shared k/v instead: no copies of the cache per step.
    /// </summary>
    static Tensor Sdpa(Tensor q, Tensor k, Tensor v, Tensor? mask, Tensor? sdpaMask, double scaling, bool rowsNeverEmpty)
    {
        using var scope = torch.NewDisposeScope();
        var (b, h, n, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3]);
        var (hkv, lk) = (k.shape[1], k.shape[2]);
        var rep = h / hkv;
        if (mask is not null) maskedSdpaCalls++;
        var factor = scaling * Math.Sqrt(d);
        var qs = factor == 1.0 ? q : q * HeldScalars.Real(factor);
        Tensor output;
        if (n == 1)
            output = nn.functional.scaled_dot_product_attention(qs.reshape(b, hkv, rep, d), k, v, sdpaMask ?? mask, 0.0, false).reshape(b, h, 1, d);
        else
        {
            if (rep > 1)
            {
                k = k.unsqueeze(2).expand(b, hkv, rep, lk, d).reshape(b, h, lk, d);
                v = v.unsqueeze(2).expand(b, hkv, rep, lk, d).reshape(b, h, lk, d);
            }
            output = nn.functional.scaled_dot_product_attention(qs, k, v, sdpaMask ?? mask, 0.0, false);    // (B, H, n, D)
        }
        if (mask is not null && !rowsNeverEmpty)
        {
            var anyKey = mask.any(-1, keepdim: true);                                           // (B, 1, n, 1)
            output = torch.where(anyKey, output, torch.zeros_like(output));
        }
        return output.MoveToOuterDisposeScope();
    }
}
