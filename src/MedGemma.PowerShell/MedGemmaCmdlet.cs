using System.Management.Automation;
using MedGemma.Engine.Api;

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

    /// <summary>
    /// How images are read, from -Window (a preset id), -WindowCenter/-WindowWidth, -Frame and -MaxPixels (null = not
    /// given); an unknown preset or an incomplete/conflicting window terminates before any image is read.
    /// </summary>
    protected Engine.Imaging.ImageLoadOptions ImageOptions(string? window, double? center, double? width, int? frame, long maxPixels)
    {
        if (center.HasValue != width.HasValue)
            Fail(new Engine.MedGemmaException(Engine.MedGemmaErrorKind.InvalidArgument, "WindowIncomplete",
                "-WindowCenter and -WindowWidth must be given together.", center.HasValue ? "WindowWidth" : "WindowCenter"));
        if (center.HasValue && window != null)
            Fail(new Engine.MedGemmaException(Engine.MedGemmaErrorKind.InvalidArgument, "WindowConflict",
                "Give either -Window or -WindowCenter/-WindowWidth, not both.", window));
        var options = Engine.Imaging.ImageLoadOptions.Default with { MaxPixels = maxPixels, Frame = frame, WindowCenter = center, WindowWidth = width };
        try
        {
            if (Engine.Server.WindowPresets.Find(window) is { } preset) options = preset.ApplyTo(options);
            options.Validate();
        }
        catch (Engine.MedGemmaException e) { Fail(e, window); }
        return options;
    }

    /// <summary>Whether the caller gave this parameter.</summary>
    protected bool Bound(string parameter) => MyInvocation.BoundParameters.ContainsKey(parameter);

    /// <summary>Stops the command with the engine's error, its target being <paramref name="target"/> when given.</summary>
    protected void Fail(Exception error, object? target = null) => ThrowTerminatingError(ErrorRecords.From(error, target));

    protected void Report(Exception error, object? target = null) => WriteError(ErrorRecords.From(error, target));

    /// <summary>
    /// The session a -Model argument names: a session object, or a model folder (reusing a resident session of
    /// that folder, else loading it and keeping it resident); without one, the last imported model, else $env:MEDGEMMA_MODEL.
    /// Terminates the command when there is none or it cannot be loaded.
    /// </summary>
    protected MedGemmaSession ResolveModel(object? model, string? device = null, string? dtype = null)
    {
        model = model is PSObject pso ? pso.BaseObject : model;
        if (model is MedGemmaSession session)
        {
            if (session.IsDisposed)
                ThrowTerminatingError(ErrorRecords.Create("ModelRemoved", ErrorCategory.InvalidOperation, $"The model {session.Name} was removed; import it again.", session));
            return session;
        }
        string? path = model switch
        {
            null => null,
            DirectoryInfo d => d.FullName,
            PathInfo p => p.ProviderPath,
            _ => FileSystemPath(model.ToString()!),
        };
        if (path == null)
        {
            if (ModelRegistry.Last is { } last) return last;
            if (ModelRegistry.EnvironmentModel is { } env) path = FileSystemPath(env);
            else { Fail(ModelRegistry.NoModel()); return null!; }
        }
        return ModelRegistry.FindByPath(path) ?? LoadModel(path, new SessionOptions { Device = device ?? "auto", DType = dtype });
    }

    /// <summary>Loads a model folder with progress, registers it as resident and reports its warnings.</summary>
    protected MedGemmaSession LoadModel(string path, SessionOptions options)
    {
        MedGemmaSession? session = null;
        try
        {
            var status = new SyncProgress<string>(s => WriteProgress(new ProgressRecord(2, "Loading MedGemma model", s)));
            session = MedGemmaSession.Load(path, options, status, Cancellation);
        }
        catch (Exception e) when (e is not PipelineStoppedException) { Fail(e, path); }
        WriteProgress(new ProgressRecord(2, "Loading MedGemma model", "Done") { RecordType = ProgressRecordType.Completed });
        foreach (var w in session!.Warnings) WriteWarning(w);
        WriteVerbose($"Loaded {session.Name} on {session.Device} as {session.DType} in {session.LoadTime.TotalSeconds:0.0} s.");
        ModelRegistry.Add(session);
        return session;
    }

    public void Dispose()
    {
        // PowerShell disposes a cmdlet after its pipeline ends, stopped or failed included.
        DisposeWork();
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Stops and releases what the command still holds (background work) when the pipeline ends, however it ends.</summary>
    protected virtual void DisposeWork() { }
}
