using System.Globalization;

namespace MedGemma.Engine.Tokenization;

/// <summary>
/// "Bilingual reporting": the report language is asked for in the instruction itself, as the
/// sentence <c>Write the report in {English name}.</c> appended to the instruction (after a space,
/// or after ". " when the instruction does not end in sentence punctuation).
/// Example: "Describe this medical image." + es → "Describe this medical image. Write the report in Spanish."
/// </summary>
public static class ReportLanguage
{
    static readonly Dictionary<string, string> Names = new(StringComparer.OrdinalIgnoreCase)
    {
        ["en"] = "English", ["es"] = "Spanish", ["fr"] = "French", ["de"] = "German", ["zh"] = "Chinese",
        ["it"] = "Italian", ["pt"] = "Portuguese", ["nl"] = "Dutch", ["ja"] = "Japanese", ["ko"] = "Korean",
        ["ru"] = "Russian", ["ar"] = "Arabic", ["hi"] = "Hindi", ["tr"] = "Turkish", ["pl"] = "Polish",
        ["sv"] = "Swedish", ["vi"] = "Vietnamese", ["id"] = "Indonesian", ["uk"] = "Ukrainian", ["el"] = "Greek",
    };

    /// <summary>Codes with a built-in English name; other names may be passed spelled out ("Catalan").</summary>
    public static IReadOnlyCollection<string> KnownCodes => Names.Keys;

    /// <summary>The English name for a code ("es" → "Spanish"; "pt-BR" → "Portuguese"), or the name itself when given one ("Spanish").</summary>
    public static string Name(string language)
    {
        var value = language?.Trim() ?? "";
        if (value.Length == 0)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "InvalidLanguage", "The report language is empty.", language);
        if (Names.TryGetValue(value, out var name)) return name;
        var dash = value.IndexOfAny(['-', '_']);
        if (dash > 0 && Names.TryGetValue(value[..dash], out name)) return name;
        // A spelled-out language name is taken as is; a short unknown code is an error, not a guess.
        if (value.Length > 3 && value.All(c => char.IsLetter(c) || c == ' ')) return char.ToUpper(value[0], CultureInfo.InvariantCulture) + value[1..];
        throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "InvalidLanguage",
            $"Unknown report language '{language}'. Use one of {string.Join(", ", Names.Keys)} or an English language name.", language);
    }

    /// <summary>The instruction with the language sentence appended (unchanged when <paramref name="language"/> is null).</summary>
    public static string Apply(string instruction, string? language)
    {
        if (language == null) return instruction;
        var sentence = $"Write the report in {Name(language)}.";
        var trimmed = instruction.TrimEnd();
        if (trimmed.Length == 0) return sentence;
        var last = trimmed[^1];
        var separator = last is '.' or '!' or '?' or '。' or '！' or '？' ? " " : ". ";
        return trimmed + separator + sentence;
    }
}
