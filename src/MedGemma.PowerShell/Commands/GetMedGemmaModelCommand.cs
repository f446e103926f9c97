using System.Management.Automation;
using MedGemma.Engine.Api;

namespace MedGemma.PowerShell.Commands;

/// <summary>Lists the resident models, the default (last imported) one last.</summary>
[Cmdlet(VerbsCommon.Get, "MedGemmaModel")]
[OutputType(typeof(MedGemmaSession))]
public sealed class GetMedGemmaModelCommand : MedGemmaCmdlet
{
    [Parameter(Position = 0)]
    [SupportsWildcards]
    public string[]? Name { get; set; }

    protected override void ProcessRecord()
    {
        var patterns = (Name ?? new[] { "*" }).Select(n => new WildcardPattern(n, WildcardOptions.IgnoreCase)).ToList();
        foreach (var session in ModelRegistry.All)
            if (patterns.Any(p => p.IsMatch(session.Name) || p.IsMatch(session.Path)))
                WriteObject(session);
    }
}
