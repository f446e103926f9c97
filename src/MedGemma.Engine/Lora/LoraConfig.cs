namespace MedGemma.Engine.Lora;

/// <summary>
/// The LoRA settings PEFT keeps in adapter_config.json. <see cref="TargetModules"/> is a list of
/// module-name suffixes; <see cref="TargetRegex"/> (PEFT's string form of target_modules) is a
/// regular expression that must match the whole module name. Exactly one of them is used.
/// </summary>
public sealed record LoraConfig
{
    public int R { get; init; } = 16;
    public double Alpha { get; init; } = 32;
    public double Dropout { get; init; }
    public IReadOnlyList<string> TargetModules { get; init; } = new[] { "q_proj", "v_proj" };
    public string? TargetRegex { get; init; }
    public IReadOnlyList<string>? ExcludeModules { get; init; }
    public string? ExcludeRegex { get; init; }
    public bool UseRsLora { get; init; }
    public string TaskType { get; init; } = "CAUSAL_LM";
    public string? BaseModelNameOrPath { get; init; }
    public bool InferenceMode { get; init; } = true;

    /// <summary>PEFT: alpha/r, or alpha/sqrt(r) with rank-stabilised LoRA.</summary>
    public double Scaling => UseRsLora ? Alpha / Math.Sqrt(R) : Alpha / R;

    /// <summary>
    /// A config whose targets are restricted to the language model. PEFT has no such switch, so it is
    /// written as the regex form of target_modules, which PEFT applies with re.fullmatch.
    /// </summary>
    public LoraConfig RestrictToLanguageModel()
    {
        if (TargetRegex != null)
            return this with { TargetRegex = $"(?=.*\\blanguage_model\\.)(?:{TargetRegex})" };
        var alternatives = string.Join("|", TargetModules.Select(System.Text.RegularExpressions.Regex.Escape));
        return this with { TargetRegex = $".*language_model\\..*\\.(?:{alternatives})" };
    }

    internal void Validate(string? source = null)
    {
        if (R <= 0)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "InvalidLoraRank", $"LoRA rank r must be positive, got {R}.", source ?? (object)R);
        if (Dropout < 0 || Dropout >= 1)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "InvalidLoraDropout", $"LoRA dropout must be in [0, 1), got {Dropout}.", source ?? (object)Dropout);
        if (TargetRegex == null && TargetModules.Count == 0)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "NoLoraTargets", "LoRA target_modules is empty.", source);
    }
}
