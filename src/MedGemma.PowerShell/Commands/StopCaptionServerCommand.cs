using System.Management.Automation;
using MedGemma.Engine.Server;

namespace MedGemma.PowerShell.Commands;

/// <summary>Stops caption servers: those piped in, those with the given Ids, or (no argument) all of them.</summary>
[Cmdlet(VerbsLifecycle.Stop, "CaptionServer", SupportsShouldProcess = true, DefaultParameterSetName = AllSet)]
[OutputType(typeof(CaptionServer))]
public sealed class StopCaptionServerCommand : MedGemmaCmdlet
{
    const string AllSet = "All";
    const string ServerSet = "Server";
    const string IdSet = "Id";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = ServerSet)]
    public CaptionServer[] InputObject { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = IdSet)]
    public int[] Id { get; set; } = [];

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        IEnumerable<CaptionServer> targets = ParameterSetName switch
        {
            ServerSet => InputObject,
            IdSet => ById(),
            _ => CaptionServerRegistry.Running,
        };
        foreach (var server in targets)
        {
            if (!ShouldProcess(server.BaseUrl, "Stop caption server")) continue;
            server.Stop();
            if (PassThru) WriteObject(server);
        }
    }

    IEnumerable<CaptionServer> ById()
    {
        var running = CaptionServerRegistry.Running;
        foreach (var id in Id)
        {
            var server = running.FirstOrDefault(s => s.Id == id);
            if (server is not null) yield return server;
            else WriteError(ErrorRecords.Create("CaptionServerNotFound", ErrorCategory.ObjectNotFound, $"No caption server with Id {id} is running.", id));
        }
    }
}
