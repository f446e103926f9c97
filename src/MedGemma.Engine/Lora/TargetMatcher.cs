using System.Text.RegularExpressions;

namespace MedGemma.Engine.Lora;

/// <summary>
/// PEFT's check_target_module_exists (peft/tuners/tuners_utils.py): a string target is a regex that
/// must match the whole module name (re.fullmatch); a list matches a name equal to an entry or ending
/// in "." + entry. exclude_modules is applied first, the same way.
/// </summary>
public static class TargetMatcher
{
    public static bool IsTarget(LoraConfig config, string moduleName)
    {
        if (IsMatch(config.ExcludeRegex, config.ExcludeModules, moduleName)) return false;
        return IsMatch(config.TargetRegex, config.TargetModules, moduleName);
    }

    static bool IsMatch(string? regex, IReadOnlyList<string>? list, string name)
    {
        if (regex != null) return FullMatch(regex, name);
        if (list == null) return false;
        foreach (var entry in list)
            if (name == entry || name.EndsWith("." + entry, StringComparison.Ordinal)) return true;
        return false;
    }

    // Python's re.fullmatch: the whole string, no implicit anchors elsewhere.
    static bool FullMatch(string pattern, string name) =>
        Regex.IsMatch(name, $"^(?:{pattern})\\z", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
}
