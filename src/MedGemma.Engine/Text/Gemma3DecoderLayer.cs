using MedGemma.Engine.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Text;

/// <summary>Pre- and post-norm around both attention and MLP (four RMSNorms), residual after each.</summary>
public sealed class Gemma3DecoderLayer : nn.Module
{
    internal Gemma3Attention self_attn;
    internal Gemma3MLP mlp;
    internal Gemma3RMSNorm input_layernorm;
    internal Gemma3RMSNorm post_attention_layernorm;
    internal Gemma3RMSNorm pre_feedforward_layernorm;
    internal Gemma3RMSNorm post_feedforward_layernorm;

    public Gemma3DecoderLayer(Gemma3TextConfig c, int layerIdx, Device? device = null, ScalarType? dtype = null) : base(nameof(Gemma3DecoderLayer))
    {
        self_attn = new Gemma3Attention(c, layerIdx, device, dtype);
        mlp = new Gemma3MLP(c, device, dtype);
        input_layernorm = new Gemma3RMSNorm(c.HiddenSize, c.RmsNormEps, device, dtype);
        post_attention_layernorm = new Gemma3RMSNorm(c.HiddenSize, c.RmsNormEps, device, dtype);
        pre_feedforward_layernorm = new Gemma3RMSNorm(c.HiddenSize, c.RmsNormEps, device, dtype);
        post_feedforward_layernorm = new Gemma3RMSNorm(c.HiddenSize, c.RmsNormEps, device, dtype);
        RegisterComponents();
    }

    public bool IsSliding => self_attn.IsSliding;

    static readonly AsyncLocal<bool?> scriptedOverride = new();

    /// <summary>
    /// Process-wide default for decode steps (one token against the KV cache, no gradient graph): whether a layer
    /// runs as one TorchScript call (<see cref="DecodeLayerScript"/>) instead of ~50 TorchSharp calls.
    /// null (the default) = on: decoding is bound by host time per op, on a GPU above all (bench `caption`, deep size on
    /// a 2-core CPU: 52 instead of 1,378 tensor handles per token, 73.7 instead of 57.3 tokens/s).
    /// </summary>
    public static bool? DefaultScriptedDecode { get; set; }

    /// <summary>The setting for the current async flow: an override set here, else <see cref="DefaultScriptedDecode"/>.</summary>
    public static bool? ScriptedDecode
    {
        get => scriptedOverride.Value ?? DefaultScriptedDecode;
        set => scriptedOverride.Value = value;
    }

    /// <summary>Why scripted decode steps are off in this process (the script's first call failed; steps run eagerly), else null.</summary>
    public static string? ScriptedDecodeDisabledReason => DecodeLayerScript.DisabledReason;

    public Tensor forward(Tensor hidden, AttentionContext ctx)
    {
        if (ctx.Cache is not null && hidden.shape[1] == 1 && !torch.is_grad_enabled()
            && (ScriptedDecode ?? true)
            && DecodeLayerScript.TryRun(this, hidden, ctx) is { } stepped)
            return stepped;
        using var scope = torch.NewDisposeScope();
        var attn = self_attn.forward(input_layernorm.call(hidden), ctx);
        hidden = Residual(hidden, post_attention_layernorm.call(attn));
        var ff = mlp.call(pre_feedforward_layernorm.call(hidden));
        hidden = Residual(hidden, post_feedforward_layernorm.call(ff));
        return hidden.MoveToOuterDisposeScope();
    }

    /// <summary>hidden + the fresh norm output, added into the latter when no graph is recorded (one tensor fewer per decoded token).</summary>
    static Tensor Residual(Tensor hidden, Tensor normed) => torch.is_grad_enabled() ? hidden + normed : normed.add_(hidden);
}
