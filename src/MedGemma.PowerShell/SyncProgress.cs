namespace MedGemma.PowerShell;

/// <summary>
/// An IProgress that calls back on the reporting thread. The engine reports from the pipeline thread while a
/// cmdlet waits on it, and WriteProgress/WriteObject are only legal there; Progress&lt;T&gt; would post elsewhere.
/// </summary>
internal sealed class SyncProgress<T> : IProgress<T>
{
    readonly Action<T> _report;
    public SyncProgress(Action<T> report) => _report = report;
    public void Report(T value) => _report(value);
}
