using System.Management.Automation;
using MedGemma.Engine.Api;

namespace MedGemma.PowerShell.Commands;

/// <summary>Unloads resident models, freeing every tensor (GPU memory included).</summary>
[Cmdlet(VerbsCommon.Remove, "MedGemmaModel", SupportsShouldProcess = true, DefaultParameterSetName = "Model")]
public sealed class RemoveMedGemmaModelCommand : MedGemmaCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ParameterSetName = "Model")]
    public MedGemmaSession[]? Model { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = "All")]
    public SwitchParameter All { get; set; }

    protected override void ProcessRecord()
    {
        var targets = All ? ModelRegistry.All.ToArray()
            : Model ?? (ModelRegistry.Last is { } last ? new[] { last } : Array.Empty<MedGemmaSession>());
        if (targets.Length == 0 && !All) { Fail(ModelRegistry.NoModel()); return; }
        foreach (var session in targets)
            if (ShouldProcess($"{session.Name} on {session.Device} ({session.Path})", "Unload model and free its memory"))
                ModelRegistry.Remove(session);
    }
}
