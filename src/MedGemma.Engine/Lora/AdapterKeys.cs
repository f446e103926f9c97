namespace MedGemma.Engine.Lora;

/// <summary>
/// Names of LoRA tensors in adapter_model.safetensors. PEFT saves "base_model.model." + module path +
/// ".lora_A.weight" (adapter name removed). Module paths follow the model the adapter was made on:
/// transformers 5 ("model.language_model.layers…", "model.vision_tower.encoder…") or transformers 4
/// ("language_model.model.layers…", "vision_tower.vision_model.encoder…"); we read both and write 5.
/// </summary>
public static class AdapterKeys
{
    public const string Prefix = "base_model.model.";

    // transformers 5's conversion mapping for Gemma3ForConditionalGeneration, as prefix rewrites.
    static readonly (string Old, string New)[] LegacyPrefixes =
    {
        ("language_model.model.", "model.language_model."),
        ("language_model.lm_head", "lm_head"),
        ("vision_tower.vision_model.", "model.vision_tower."),
        ("multi_modal_projector.", "model.multi_modal_projector."),
    };

    /// <summary>Splits a file key into (module path in transformers-5 names, "lora_A" or "lora_B").</summary>
    public static (string Module, string Part) Parse(string key)
    {
        if (!key.StartsWith(Prefix, StringComparison.Ordinal))
            throw Bad(key, $"Adapter tensor '{key}' does not start with '{Prefix}'.");
        var rest = key[Prefix.Length..];
        string part;
        if (rest.EndsWith(".lora_A.weight", StringComparison.Ordinal)) part = "lora_A";
        else if (rest.EndsWith(".lora_B.weight", StringComparison.Ordinal)) part = "lora_B";
        else if (rest.Contains("lora_embedding_") || rest.Contains("lora_magnitude_vector") || rest.EndsWith(".bias", StringComparison.Ordinal))
            throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "UnsupportedAdapterTensor",
                $"Adapter tensor '{key}' belongs to a LoRA variant we do not support (embedding LoRA, DoRA or LoRA bias).", key);
        else throw Bad(key, $"Adapter tensor '{key}' is not a LoRA A/B weight.");
        var module = rest[..(rest.Length - ".lora_A.weight".Length)];
        return (ToModulePath(module), part);
    }

    public static string ToModulePath(string checkpointPath)
    {
        foreach (var (oldPrefix, newPrefix) in LegacyPrefixes)
            if (checkpointPath.StartsWith(oldPrefix, StringComparison.Ordinal))
                return newPrefix + checkpointPath[oldPrefix.Length..];
        return checkpointPath;
    }

    public static string Format(string modulePath, string part) => $"{Prefix}{modulePath}.{part}.weight";

    /// <summary>Our in-memory parameter name, as PEFT names it (adapter name inside).</summary>
    public static string ParameterName(string modulePath, string part, string adapter) => $"{Prefix}{modulePath}.{part}.{adapter}.weight";

    static MedGemmaException Bad(string key, string message) => new(MedGemmaErrorKind.InvalidData, "BadAdapterKey", message, key);
}
