using System.Management.Automation;
using MedGemma.Engine.Server;

namespace MedGemma.PowerShell.Commands;

/// <summary>Serves the caption web page and HTTP API for one model session, in the background or (-Wait) until Ctrl+C.</summary>
[Cmdlet(VerbsLifecycle.Start, "CaptionServer", SupportsShouldProcess = true)]
[OutputType(typeof(CaptionServer))]
public sealed class StartCaptionServerCommand : MedGemmaCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true)]
    [Alias("Session")]
    public object? Model { get; set; }

    [Parameter]
    [ValidateRange(0, 65535)]
    public int Port { get; set; } = 7860;

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Adapter { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string ListenAddress { get; set; } = "127.0.0.1";

    [Parameter]
    public SwitchParameter AllowRemote { get; set; }

    [Parameter]
    [ValidateRange(1024L, long.MaxValue)]
    public long MaxUploadBytes { get; set; } = 100L * 1024 * 1024;

    [Parameter]
    [ValidateRange(1, 100000)]
    public int QueueLimit { get; set; } = 32;

    [Parameter]
    public SwitchParameter Wait { get; set; }

    protected override void ProcessRecord()
    {
        var model = Model is PSObject ps ? ps.BaseObject : Model;
        if (!ShouldProcess($"{ListenAddress}:{Port}", "Start caption server")) return;
        CaptionServer server = null!;
        try
        {
            // A session (or a model folder, or the last imported model) stays resident after the server stops.
            var backend = model as ICaptionBackend ?? AsBackend(ResolveModel(model));
            server = CaptionServer.Start(backend, new CaptionServerOptions
            {
                Port = Port,
                ListenAddress = ListenAddress,
                AllowRemote = AllowRemote,
                MaxUploadBytes = MaxUploadBytes,
                QueueLimit = QueueLimit,
                DefaultAdapter = Adapter,
            });
        }
        catch (Exception e) when (e is not RuntimeException) { Fail(e, e is Engine.MedGemmaException { Target: not null } m ? m.Target : model); }

        WriteObject(server);
        WriteVerbose($"Caption server {server.Id} serving {server.Model} at {server.BaseUrl}");
        if (!Wait) return;
        WriteVerbose($"Serving {server.BaseUrl} until Ctrl+C.");
        try
        {
            // Ctrl+C trips Cancellation (StopProcessing); the server may also stop from another runspace.
            while (!Cancellation.IsCancellationRequested && !server.Completion.IsCompleted)
                server.Completion.Wait(TimeSpan.FromMilliseconds(250));
        }
        finally { server.Stop(); }
    }

    static ICaptionBackend AsBackend(Engine.Api.MedGemmaSession session) =>
        (object)session as ICaptionBackend ?? throw new Engine.MedGemmaException(Engine.MedGemmaErrorKind.NotSupported, "SessionCannotServe",
            $"The model session {session.Name} cannot serve captions over HTTP in this build.", session.Name);
}
