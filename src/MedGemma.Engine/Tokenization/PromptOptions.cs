namespace MedGemma.Engine.Tokenization;

/// <summary>What goes into a MedGemma caption prompt.</summary>
public sealed record PromptOptions
{
    public const string DefaultInstruction = "Describe this medical image.";

    /// <summary>The user's instruction; it comes before the image, as in MedGemma's own examples.</summary>
    public string Instruction { get; init; } = DefaultInstruction;

    /// <summary>Optional system prompt; Gemma has no system turn, so it is folded into the first user turn followed by a blank line.</summary>
    public string? SystemPrompt { get; init; }

    /// <summary>Optional report language ("en", "es", "fr", "de", "zh"... or an English name); see <see cref="ReportLanguage"/> for the wording.</summary>
    public string? Language { get; init; }

    /// <summary>Images in the user turn, each after the instruction (MedGemma captions one).</summary>
    public int ImageCount { get; init; } = 1;
}
