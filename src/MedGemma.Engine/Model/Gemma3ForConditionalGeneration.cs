using MedGemma.Engine.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Model;

/// <summary>
/// The whole vision-language model, with transformers 5's in-memory module names, so <c>state_dict()</c> keys equal
/// the v5 checkpoint keys (model.language_model.*, model.vision_tower.*, model.multi_modal_projector.*).
/// lm_head is tied to embed_tokens and therefore not a separate parameter.
/// </summary>
public sealed class Gemma3ForConditionalGeneration : nn.Module
{
    internal Gemma3Model model;

    public Gemma3ForConditionalGeneration(Gemma3Config config, Device? device = null, ScalarType? dtype = null) : base(nameof(Gemma3ForConditionalGeneration))
    {
        Config = config;
        model = new Gemma3Model(config, device, dtype);
        RegisterComponents();
    }

    public Gemma3Config Config { get; }

    /// <summary>
    /// Builds the model on <paramref name="device"/> with uninitialised weights (no random initialisation), for
    /// loading a checkpoint right after: every weight must then be overwritten (<see cref="IO.CheckpointLoader"/> is strict).
    /// </summary>
    public static Gemma3ForConditionalGeneration CreateUninitialized(Gemma3Config config, Device device, ScalarType dtype)
    {
        var model = new Gemma3ForConditionalGeneration(config, ModuleMaterializer.Meta, dtype);
        try
        {
            ModuleMaterializer.ToEmpty(model, device);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Trade compute for memory in training: the decoder layers and the vision encoder layers are recomputed during
    /// backward (same gradients, same dropout masks). Applies in train() mode with gradients enabled and no KV cache.
    /// </summary>
    public bool GradientCheckpointing
    {
        get => model.LanguageModel.GradientCheckpointing;
        set
        {
            model.LanguageModel.GradientCheckpointing = value;
            model.vision_tower.GradientCheckpointing = value;
        }
    }
    public Gemma3Model Model => model;

    /// <summary>The dtype of the weights (taken from the token embedding).</summary>
    public ScalarType DType => model.LanguageModel.EmbedTokens.Weight.dtype;
    public Device Device => model.LanguageModel.EmbedTokens.Weight.device;

    public ForwardOutput Forward(Gemma3Inputs inputs)
    {
        using var scope = torch.NewDisposeScope();
        // Found before the model is queued: the row count is read back, and then the host does not wait for the GPU.
        (Tensor Rows, Tensor Targets)? labelled = null;
        if (inputs.Labels is not null && inputs.LogitsOnLabelsOnly)
        {
            CheckLabels(inputs.Labels, inputs.InputIds.shape[^1]);
            labelled = LabelledPositions(inputs.Labels, inputs.AttentionMask);
        }
        var (hidden, features) = model.forward(inputs);
        Tensor logits;
        Tensor? loss = null;
        if (labelled is { } at)
        {
            logits = LmHead(hidden.reshape(-1, hidden.shape[2]).index_select(0, at.Rows)).to(ScalarType.Float32);
            loss = nn.functional.cross_entropy(logits, at.Targets);
        }
        else
        {
            if (inputs.LogitsToKeep > 0 && inputs.LogitsToKeep < hidden.shape[1])
                hidden = hidden.narrow(1, hidden.shape[1] - inputs.LogitsToKeep, inputs.LogitsToKeep);
            logits = LmHead(hidden);
            if (inputs.Labels is not null) (logits, loss) = CausalLmLoss(logits, inputs.Labels, inputs.AttentionMask);
        }

        return new ForwardOutput
        {
            Logits = logits.MoveToOuterDisposeScope(),
            Loss = loss?.MoveToOuterDisposeScope(),
            ImageFeatures = features?.MoveToOuterDisposeScope(),
        };
    }

    /// <summary>The tied lm_head, then final softcapping if configured.</summary>
    Tensor LmHead(Tensor hidden)
    {
        var logits = nn.functional.linear(hidden, model.LanguageModel.EmbedTokens.Weight);
        if (Config.Text.FinalLogitSoftcapping is double cap) logits = torch.tanh(logits / cap) * cap;
        return logits;
    }

    /// <summary>
    /// transformers' Gemma3ForConditionalGeneration loss: float32 logits, predict token i+1 from position i,
    /// drop positions whose attention mask is 0, mean cross-entropy over labels != -100.
    /// </summary>
    static (Tensor Logits, Tensor Loss) CausalLmLoss(Tensor logits, Tensor labels, Tensor? attentionMask)
    {
        var l = logits.shape[1];
        CheckLabels(labels, l);
        logits = logits.to(ScalarType.Float32);
        var shiftLogits = logits.narrow(1, 0, l - 1);
        var shiftLabels = ShiftedLabels(labels, attentionMask);
        var loss = nn.functional.cross_entropy(shiftLogits.reshape(-1, logits.shape[2]), shiftLabels.reshape(-1), ignore_index: -100);
        return (logits, loss);
    }

    /// <summary>
    /// For the same loss as <see cref="CausalLmLoss"/> with the lm_head run only on the hidden rows whose shifted label
    /// counts: cross-entropy is per row, so the mean over those rows is the ignore_index mean over all of them.
    /// In training most positions are prompt and image (hf_bench.py: 66 of 328 carry a label), and the logits of
    /// the others would be (B, n, 262,208) float32 kept for backward. Rows index the flattened (B*n) hidden states.
    /// </summary>
    static (Tensor Rows, Tensor Targets) LabelledPositions(Tensor labels, Tensor? attentionMask)
    {
        var l = labels.shape[1];
        var shiftLabels = ShiftedLabels(labels, attentionMask);          // (B, l-1): the target of position t is at t
        var at = shiftLabels.ne(-100).nonzero();                           // (K, 2): row, position
        var (row, position) = (at.select(1, 0), at.select(1, 1));
        var targets = shiftLabels.reshape(-1).index_select(0, row.mul(l - 1).add_(position));
        return (row.mul(l).add_(position), targets);
    }

    static void CheckLabels(Tensor labels, long positions)
    {
        if (labels.shape[1] != positions)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "LabelsShape",
                $"labels have {labels.shape[1]} positions but logits {positions} (LogitsToKeep must be 0 with labels).", "labels");
    }

    /// <summary>(B, l-1) next-token targets: labels shifted left by one, -100 where the attention mask is 0.</summary>
    static Tensor ShiftedLabels(Tensor labels, Tensor? attentionMask)
    {
        var l = labels.shape[1];
        var shiftLabels = labels.narrow(1, 1, l - 1);
        if (attentionMask is not null)
        {
            var m = attentionMask.narrow(1, attentionMask.shape[1] - (l - 1), l - 1);
            shiftLabels = shiftLabels.masked_fill(m.eq(0), -100);
        }
        return shiftLabels;
    }

    /// <summary>
    /// Replaces the submodule at a dotted path (e.g. "model.language_model.layers.3.self_attn.q_proj") and
    /// re-registers it, so forward, parameters() and state_dict() all see the replacement. Used by LoRA.
    /// </summary>
    public void ReplaceModule(string path, nn.Module<Tensor, Tensor> replacement) => ModuleTree.Replace(this, path, replacement);

    /// <summary>Returns the submodule at a dotted path (or throws naming it).</summary>
    public nn.Module GetSubmodule(string path) => ModuleTree.Get(this, path);
}
