using System.Management.Automation;
using MedGemma.Engine.Api;

namespace MedGemma.PowerShell.Commands;

/// <summary>Loads a PEFT LoRA adapter folder into the resident model under a name.</summary>
[Cmdlet(VerbsData.Import, "LoraAdapter")]
[OutputType(typeof(AdapterInfo))]
public sealed class ImportLoraAdapterCommand : MedGemmaCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "AdapterPath")]
    public string Path { get; set; } = "";

    /// <summary>The name Get-MedicalCaption -Adapter selects; default: the folder name.</summary>
    [Parameter(Position = 1)]
    public string? Name { get; set; }

    [Parameter]
    public SwitchParameter Merge { get; set; }

    [Parameter]
    public object? Model { get; set; }

    MedGemmaSession? _session;

    protected override void BeginProcessing() => _session = ResolveModel(Model);

    protected override void ProcessRecord()
    {
        var full = FileSystemPath(Path);
        try { WriteObject(_session!.ImportAdapter(full, Name, Merge)); }
        catch (Exception e) when (e is not PipelineStoppedException) { Report(e, Path); }
    }
}
