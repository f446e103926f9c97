using MedGemma.Engine.Lora;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MedGemma.Engine.Text;

/// <summary>
/// A whole decoder layer for one decoded token as ONE TorchScript call (<c>torch.jit.compile</c>), instead of ~50
/// TorchSharp calls. Batch-1 decoding on a GPU is bound by host time per op: on an H200 a TorchSharp op costs
/// ~9 µs of host time and a TorchScript op hardly less (measured: a layer call ~550 µs for ~48 kernels), so what counts
/// is the number of kernels: q and k are normed and rotated as one tensor. Every product is the eager path's
/// (<see cref="Gemma3DecoderLayer"/>, <see cref="Gemma3Attention"/>'s decode step, <see cref="GroupedQueryAttention"/>,
/// <see cref="FusedRmsNorm"/>, <see cref="LoraLinear"/>), so on a CPU the results equal the eager path's; on CUDA
/// TorchScript's fuser may round fused elementwise chains once instead of per op.
/// Inference only (no gradient graph); every projection may carry an active LoRA adapter.
/// </summary>
internal static class DecodeLayerScript
{
    // The norms are FusedRmsNorm's gemma_rms_norm.
    const string Script = FusedRmsNorm.Script + @"

def _linear(x: Tensor, w: Tensor, b: Optional[Tensor], la: Optional[Tensor], lb: Optional[Tensor], s: float) -> Tensor:
    r = torch.linear(x, w, b)
    if la is not None and lb is not None:
        xa = x.to(la.dtype)
        out = r + torch.linear(torch.linear(xa, la), lb) * s
        return out.to(r.dtype)
    return r

def _rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    r = x * cos
    return r.add_(torch.roll(x, [x.shape[-1] // 2], [-1]).mul_(sin))

def decode_layer(h: Tensor, eps: float, kv_heads: int, rep: int, head_dim: int,
                 ln_in: Tensor, post_attn: Tensor, pre_ff: Tensor, post_ff: Tensor, q_nw: Tensor, k_nw: Tensor,
                 q_w: Tensor, q_b: Optional[Tensor], q_la: Optional[Tensor], q_lb: Optional[Tensor], q_s: float,
                 k_w: Tensor, k_b: Optional[Tensor], k_la: Optional[Tensor], k_lb: Optional[Tensor], k_s: float,
                 v_w: Tensor, v_b: Optional[Tensor], v_la: Optional[Tensor], v_lb: Optional[Tensor], v_s: float,
                 o_w: Tensor, o_b: Optional[Tensor], o_la: Optional[Tensor], o_lb: Optional[Tensor], o_s: float,
                 g_w: Tensor, g_b: Optional[Tensor], g_la: Optional[Tensor], g_lb: Optional[Tensor], g_s: float,
                 u_w: Tensor, u_b: Optional[Tensor], u_la: Optional[Tensor], u_lb: Optional[Tensor], u_s: float,
                 d_w: Tensor, d_b: Optional[Tensor], d_la: Optional[Tensor], d_lb: Optional[Tensor], d_s: float,
                 cos: Tensor, sin: Tensor, k_cache: Tensor, v_cache: Tensor, slot: Tensor, attend_len: int,
                 mask: Optional[Tensor], sdpa_mask: Optional[Tensor], rows_never_empty: bool, use_sdpa: bool, q_factor: float, scaling: float,
                 masked_value: float) -> Tensor:
    b = h.size(0)
    x = gemma_rms_norm(h, ln_in, eps)
    q = _linear(x, q_w, q_b, q_la, q_lb, q_s).view([b, kv_heads, rep, head_dim])
    k = _linear(x, k_w, k_b, k_la, k_lb, k_s).view([b, kv_heads, 1, head_dim])
    v = _linear(x, v_w, v_b, v_la, v_lb, v_s).view([b, kv_heads, 1, head_dim])
    # q and k normed and rotated as one tensor, each row with its own norm weight: 10 kernels instead of 16,
    # the same per-element products
    qk_w = torch.cat([q_nw.expand([rep, head_dim]), k_nw.unsqueeze(0)], 0)
    qk = _rope(gemma_rms_norm(torch.cat([q, k], 2), qk_w, eps), cos, sin)
    q = qk.narrow(2, 0, rep)
    k = qk.narrow(2, rep, 1)
    k_cache.index_copy_(2, slot, k)
    v_cache.index_copy_(2, slot, v)
    kk = k_cache
    vv = v_cache
    if attend_len >= 0:
        kk = k_cache.narrow(2, 0, attend_len)
        vv = v_cache.narrow(2, 0, attend_len)
    if use_sdpa:
        qs = q
        if q_factor != 1.0:
            qs = q * q_factor
        m = mask
        if sdpa_mask is not None:
            m = sdpa_mask
        o = torch.scaled_dot_product_attention(qs, kk, vv, m, 0.0, False)
    else:
        s32 = torch.matmul(q, kk.transpose(-1, -2)).mul_(scaling).float()
        if mask is not None:
            s32 = s32.masked_fill_(mask.logical_not(), masked_value)
        o = torch.matmul(s32.softmax(-1).to(q.dtype), vv)
    if mask is not None and not rows_never_empty:
        o = torch.where(mask.any(-1, keepdim=True), o, torch.zeros_like(o))
    attn = _linear(o.reshape([b, 1, kv_heads * rep * head_dim]), o_w, o_b, o_la, o_lb, o_s)
    h = gemma_rms_norm(attn, post_attn, eps).add_(h)
    x = gemma_rms_norm(h, pre_ff, eps)
    gate = torch.gelu(_linear(x, g_w, g_b, g_la, g_lb, g_s), approximate='tanh')
    m = _linear(gate.mul_(_linear(x, u_w, u_b, u_la, u_lb, u_s)), d_w, d_b, d_la, d_lb, d_s)
    return gemma_rms_norm(m, post_ff, eps).add_(h)
";

    static readonly Lazy<jit.CompilationUnit> Unit = new(() => jit.compile(Script), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// The layer's output for one token (B, 1, C) with the cache written, or null when the layer holds something
    /// the script does not cover (a projection that is neither Linear nor LoraLinear, a merged-and-active mix,
    /// logit softcapping, training mode); the caller then runs the eager path.
    /// </summary>
    public static Tensor? TryRun(Gemma3DecoderLayer layer, Tensor hidden, AttentionContext ctx)
    {
        var attn = layer.self_attn;
        if (DisabledReason is not null || attn.Softcap is not null || layer.training) return null;
        var args = new List<object?>(64)
        {
            hidden, layer.input_layernorm.EpsScalar, attn.KvHeadCount, attn.HeadCount / attn.KvHeadCount, attn.HeadDimension,
            layer.input_layernorm.Weight, layer.post_attention_layernorm.Weight, layer.pre_feedforward_layernorm.Weight,
            layer.post_feedforward_layernorm.Weight, attn.q_norm.Weight, attn.k_norm.Weight,
        };
        foreach (var proj in new[] { attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj, layer.mlp.gate_proj, layer.mlp.up_proj, layer.mlp.down_proj })
            if (!AddLinear(args, proj)) return null;
        var sliding = attn.IsSliding;
        var cache = ctx.Cache!;
        var (keys, values, slot, attendLength) = cache.StepTargets(attn.LayerIndex);
        var mask = sliding ? ctx.LocalMask : ctx.GlobalMask;
        var sdpa = ctx.Sdpa;
        args.AddRange(new object?[]
        {
            sliding ? ctx.LocalCos : ctx.GlobalCos, sliding ? ctx.LocalSin : ctx.GlobalSin, keys, values, slot, attendLength,
            mask, sliding ? ctx.LocalSdpaMask : ctx.GlobalSdpaMask, ctx.RowsNeverEmpty, sdpa, attn.SdpaQueryFactor, attn.ScalingScalar, MaskedValue,
        });
        Interlocked.Increment(ref calls);
        try
        {
            return (Tensor)Unit.Value.invoke("decode_layer", args.ToArray()!);
        }
        catch (Exception e) when (Volatile.Read(ref calls) <= WarmUpCalls)
        {
            // A libtorch that cannot compile, optimise (TorchScript re-optimises and fuses during its first calls)
            // or run the script must not stop captioning: the eager step computes the same, and rewrites any cache
            // slot written here; the script writes nothing else in place.
            DisabledReason = $"{e.GetType().Name}: {e.Message.Split('\n')[0]}";
            return null;
        }
    }

    const int WarmUpCalls = 1000;
    static int calls;

    /// <summary>Why the script is off for this process (its first call failed; decode steps run eagerly), else null.</summary>
    public static string? DisabledReason { get; private set; }

    // float32's lowest value, as the eager path fills masked scores; held, like every Scalar passed here.
    static readonly Scalar MaskedValue = ((double)float.MinValue).ToScalar();
    static readonly Scalar Zero = 0.0.ToScalar();

    /// <summary>Appends weight, bias, LoRA A, LoRA B and LoRA scaling of one projection; false if the module is not covered.</summary>
    static bool AddLinear(List<object?> args, nn.Module<Tensor, Tensor> proj)
    {
        switch (proj)
        {
            case Linear linear:
                args.AddRange(new object?[] { linear.weight, linear.bias, null, null, Zero });
                return true;
            case LoraLinear lora when lora.ActiveAdapter is null || lora.Merged:
                // Like LoraLinear.forward: a merged adapter is already in the base weight.
                args.AddRange(new object?[] { lora.BaseLayer.weight, lora.BaseLayer.bias, null, null, Zero });
                return true;
            case LoraLinear lora:
                if (lora.DropoutIsActive) return false;
                var name = lora.ActiveAdapter!;
                args.AddRange(new object?[] { lora.BaseLayer.weight, lora.BaseLayer.bias, lora.LoraA(name).weight, lora.LoraB(name).weight, lora.ScalingScalar(name) });
                return true;
            default:
                return false;
        }
    }
}
