using System.Management.Automation;

namespace MedGemma.PowerShell;

/// <summary>
/// Base for every MedGemma cmdlet: one CancellationToken per invocation that Ctrl+C (StopProcessing) trips,
/// and helpers that resolve PowerShell paths and report engine failures as ErrorRecords.
/// </summary>
public abstract class MedGemmaCmdlet : PSCmdlet, IDisposable
{
    readonly CancellationTokenSource _stop = new();

    protected CancellationToken Cancellation => _stop.Token;

    protected override void StopProcessing() => _stop.Cancel();

    /// <summary>A provider path (relative to the current location, ~ expanded) as a plain filesystem path.</summary>
    protected string FileSystemPath(string path) => SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);

    protected string CurrentDirectory => SessionState.Path.CurrentFileSystemLocation.ProviderPath;

    /// <summary>Stops the command with the engine's error, its target being <paramref name="target"/> when given.</summary>
    protected void Fail(Exception error, object? target = null) => ThrowTerminatingError(ErrorRecords.From(error, target));

    protected void Report(Exception error, object? target = null) => WriteError(ErrorRecords.From(error, target));

    public void Dispose()
    {
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }
}
