using System.Management.Automation;
using MedGemma.Engine.Api;

namespace MedGemma.PowerShell.Commands;

/// <summary>Loads a MedGemma folder once and keeps it resident for the session.</summary>
[Cmdlet(VerbsData.Import, "MedGemmaModel")]
[OutputType(typeof(MedGemmaSession))]
public sealed class ImportMedGemmaModelCommand : MedGemmaCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "ModelPath")]
    public string? Path { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(DeviceCompleter))]
    public string Device { get; set; } = "auto";

    [Parameter]
    [ValidateSet("bf16", "fp32", "fp16")]
    public string? DType { get; set; }

    /// <summary>Refuse to load when the weights (plus working memory) would need more host memory than this.</summary>
    [Parameter]
    [ValidateRange(1L, long.MaxValue)]
    public long MaxMemory { get; set; }

    /// <summary>Load again even when this folder is already resident (e.g. on another device).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        var source = Path ?? ModelRegistry.EnvironmentModel;
        if (source == null) { Fail(ModelRegistry.NoModel()); return; }
        var full = FileSystemPath(source);
        if (!Force && ModelRegistry.FindByPath(full) is { } resident)
        {
            WriteVerbose($"{resident.Name} is already resident on {resident.Device}; use -Force to load another copy.");
            ModelRegistry.Add(resident); // becomes the default model again
            WriteObject(resident);
            return;
        }
        WriteObject(LoadModel(full, new SessionOptions { Device = Device, DType = DType, MaxHostMemory = MaxMemory > 0 ? MaxMemory : null }));
    }
}
