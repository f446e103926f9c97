using System.Management.Automation;
using MedGemma.Engine.Server;

namespace MedGemma.PowerShell.Commands;

/// <summary>Lists the caption servers running in this PowerShell process.</summary>
[Cmdlet(VerbsCommon.Get, "CaptionServer")]
[OutputType(typeof(CaptionServer))]
public sealed class GetCaptionServerCommand : MedGemmaCmdlet
{
    [Parameter(Position = 0)]
    public int[]? Id { get; set; }

    protected override void ProcessRecord()
    {
        var running = CaptionServerRegistry.Running;
        if (Id is null)
        {
            WriteObject(running, enumerateCollection: true);
            return;
        }
        foreach (var id in Id)
        {
            var server = running.FirstOrDefault(s => s.Id == id);
            if (server is not null) WriteObject(server);
            else WriteError(ErrorRecords.Create("CaptionServerNotFound", ErrorCategory.ObjectNotFound, $"No caption server with Id {id} is running.", id));
        }
    }
}
