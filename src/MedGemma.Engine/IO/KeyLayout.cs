namespace MedGemma.Engine.IO;

/// <summary>
/// The ONE place where checkpoint key layouts are renamed (transformers keeps the same table as
/// <c>_checkpoint_conversion_mapping</c>). Our modules use the transformers 5 in-memory names:
/// <c>model.language_model.*</c>, <c>model.vision_tower.*</c>, <c>model.multi_modal_projector.*</c>, <c>lm_head.*</c>.
/// Accepted on input:
/// <list type="bullet">
/// <item>transformers 5 in-memory / v5 files: <c>model.*</c> (unchanged);</item>
/// <item>transformers 5 <c>save_pretrained</c>: <c>language_model.model.*</c>, <c>vision_tower.*</c>, <c>multi_modal_projector.*</c>;</item>
/// <item>published Gemma 3 / MedGemma (transformers 4): <c>language_model.model.*</c>, <c>vision_tower.vision_model.*</c>;</item>
/// <item>PEFT adapters of either layout, prefixed <c>base_model.model.</c> (the prefix is removed).</item>
/// </list>
/// </summary>
public static class KeyLayout
{
    /// <summary>What PEFT puts before the base model's module path in adapter files.</summary>
    public const string PeftPrefix = "base_model.model.";

    /// <summary>Old prefix → new prefix, most specific first (the first match wins).</summary>
    static readonly (string From, string To)[] Renames =
    {
        ("language_model.model.", "model.language_model."),
        ("language_model.lm_head.", "lm_head."),
        ("vision_tower.vision_model.", "model.vision_tower."),
        ("vision_tower.", "model.vision_tower."),
        ("multi_modal_projector.", "model.multi_modal_projector."),
        ("model.vision_tower.vision_model.", "model.vision_tower."),
    };

    /// <summary>
    /// The module (state-dict) key for a checkpoint or PEFT adapter key, e.g.
    /// <c>language_model.model.layers.0.mlp.up_proj.weight</c> → <c>model.language_model.layers.0.mlp.up_proj.weight</c>,
    /// <c>base_model.model.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.lora_A.weight</c> →
    /// <c>model.vision_tower.encoder.layers.0.self_attn.q_proj.lora_A.weight</c>.
    /// </summary>
    public static string ToModuleKey(string checkpointKey)
    {
        ArgumentNullException.ThrowIfNull(checkpointKey);
        var key = checkpointKey.StartsWith(PeftPrefix, StringComparison.Ordinal) ? checkpointKey[PeftPrefix.Length..] : checkpointKey;
        foreach (var (from, to) in Renames)
            if (key.StartsWith(from, StringComparison.Ordinal))
                return to + key[from.Length..];
        return key;
    }

    /// <summary>The key PEFT on transformers 5 writes for a module key (what we save adapters as).</summary>
    public static string ToPeftKey(string moduleKey) => PeftPrefix + ToModuleKey(moduleKey);

    /// <summary>Module key of the input embedding, which Gemma 3's <c>lm_head.weight</c> is tied to.</summary>
    public const string EmbedTokensKey = "model.language_model.embed_tokens.weight";

    /// <summary>Module key of the output projection (tied to <see cref="EmbedTokensKey"/> in Gemma 3).</summary>
    public const string LmHeadKey = "lm_head.weight";
}
