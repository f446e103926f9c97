using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using MedGemma.Engine.Tokenization;

namespace MedGemma.PowerShell;

internal static class Completion
{
    public static IEnumerable<CompletionResult> Matching(IEnumerable<(string Value, string Tooltip)> values, string word)
    {
        var prefix = (word ?? "").Trim('\'', '"');
        foreach (var (value, tooltip) in values)
            if (value.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
                yield return new CompletionResult(value.Contains(' ') ? $"'{value}'" : value, value, CompletionResultType.ParameterValue, tooltip);
    }
}

/// <summary>-Device: auto, cpu, cuda, cuda:N (without starting libtorch just to complete a word).</summary>
public sealed class DeviceCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var values = new List<(string, string)> { ("auto", "CUDA when available, else the CPU"), ("cpu", "The CPU"), ("cuda", "The first CUDA GPU") };
        for (int i = 0; i < 8; i++) values.Add(($"cuda:{i}", $"CUDA GPU {i}"));
        return Completion.Matching(values, wordToComplete);
    }
}

/// <summary>-Adapter: the adapters loaded into the resident models.</summary>
public sealed class AdapterCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
        => Completion.Matching(ModelRegistry.All.SelectMany(s => s.Adapters.Select(a => (a.Name, $"{a.Name} (r={a.Rank}) on {s.Name}: {a.Path}"))).Distinct(), wordToComplete);
}

/// <summary>-Language: the report languages the prompt builder knows.</summary>
public sealed class LanguageCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
        => Completion.Matching(ReportLanguage.KnownCodes.OrderBy(c => c, StringComparer.Ordinal).Select(c => (c, ReportLanguage.Name(c))), wordToComplete);
}

/// <summary>-Window: the DICOM window presets (the same ones the caption server's page offers).</summary>
public sealed class WindowPresetCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
        => Completion.Matching(Engine.Server.WindowPresets.All.Select(p => (p.Id, p.Label)), wordToComplete);
}
