using MedGemma.Engine.IO;

namespace MedGemma.Engine.Lora;

/// <summary>
/// Names of LoRA tensors in adapter_model.safetensors. PEFT saves "base_model.model." + module path +
/// ".lora_A.weight" (adapter name removed). Module paths follow the model the adapter was made on
/// (transformers 4 or 5 layout); <see cref="KeyLayout"/> maps both to our transformers-5 names.
/// </summary>
public static class AdapterKeys
{
    const string SuffixA = ".lora_A.weight", SuffixB = ".lora_B.weight";

    /// <summary>Splits a file key into (module path in transformers-5 names, "lora_A" or "lora_B").</summary>
    public static (string Module, string Part) Parse(string key)
    {
        if (!key.StartsWith(KeyLayout.PeftPrefix, StringComparison.Ordinal))
            throw Bad(key, $"Adapter tensor '{key}' does not start with '{KeyLayout.PeftPrefix}'.");
        string part;
        if (key.EndsWith(SuffixA, StringComparison.Ordinal)) part = "lora_A";
        else if (key.EndsWith(SuffixB, StringComparison.Ordinal)) part = "lora_B";
        else if (key.Contains("lora_embedding_") || key.Contains("lora_magnitude_vector") || key.EndsWith(".bias", StringComparison.Ordinal))
            throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "UnsupportedAdapterTensor",
                $"Adapter tensor '{key}' belongs to a LoRA variant we do not support (embedding LoRA, DoRA or LoRA bias).", key);
        else throw Bad(key, $"Adapter tensor '{key}' is not a LoRA A/B weight.");
        var module = KeyLayout.ToModuleKey(key[..^SuffixA.Length]);
        return (module, part);
    }

    /// <summary>The key PEFT (on transformers 5) writes for a module's A or B weight.</summary>
    public static string Format(string modulePath, string part) => KeyLayout.ToPeftKey(modulePath) + "." + part + ".weight";

    /// <summary>Our in-memory parameter name, as PEFT names it (adapter name inside).</summary>
    public static string ParameterName(string modulePath, string part, string adapter) => $"{KeyLayout.PeftPrefix}{modulePath}.{part}.{adapter}.weight";

    static MedGemmaException Bad(string key, string message) => new(MedGemmaErrorKind.InvalidData, "BadAdapterKey", message, key);
}
