using System.Management.Automation;
using MedGemma.Engine;
using MedGemma.Engine.Api;
using MedGemma.Engine.Training;

namespace MedGemma.PowerShell;

/// <summary>
/// Start-LoraTraining -AsJob: the run on a background thread of this process (the resident model cannot
/// move to another process), visible to Get-Job/Receive-Job/Stop-Job. Stop-Job cancels it, which saves a
/// resumable checkpoint.
/// </summary>
internal sealed class LoraTrainingJob : Job
{
    readonly CancellationTokenSource _stop = new();
    readonly Func<IProgress<TrainingProgress>, CancellationToken, TrainingResult> _run;
    readonly string _outputPath;

    public LoraTrainingJob(string command, string outputPath, Func<IProgress<TrainingProgress>, CancellationToken, TrainingResult> run)
        : base(command, "LoraTraining")
    {
        _run = run;
        _outputPath = outputPath;
        PSJobTypeName = "LoraTrainingJob";
    }

    public override string Location => Environment.MachineName;
    public override bool HasMoreData => Output.Count > 0 || Error.Count > 0 || Progress.Count > 0 || Warning.Count > 0;
    public override string StatusMessage => _status;
    string _status = "";

    public void Start()
    {
        SetJobState(JobState.Running);
        Task.Run(() =>
        {
            try
            {
                var progress = new SyncProgress<TrainingProgress>(p =>
                {
                    _status = TrainingProgressText.Status(p);
                    Progress.Add(TrainingProgressText.Record(p));
                    if (p.ValidationLoss != null) Output.Add(PSObject.AsPSObject(p));
                });
                var result = _run(progress, _stop.Token);
                Output.Add(PSObject.AsPSObject(result));
                SetJobState(JobState.Completed);
            }
            catch (MedGemmaException e) when (e.Kind == MedGemmaErrorKind.Cancelled)
            {
                Warning.Add(new WarningRecord(TrainingProgressText.ResumeHint(e, _outputPath)));
                SetJobState(JobState.Stopped);
            }
            catch (Exception e)
            {
                Error.Add(ErrorRecords.From(e, _outputPath));
                SetJobState(JobState.Failed);
            }
        });
    }

    public override void StopJob()
    {
        _stop.Cancel();
        // The run notices between steps, saves its checkpoint and then reports Stopped.
        Finished.WaitOne(TimeSpan.FromMinutes(2));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _stop.Dispose();
        base.Dispose(disposing);
    }
}

internal static class TrainingProgressText
{
    public static string Status(TrainingProgress p) =>
        $"Step {p.Step}/{p.TotalSteps} epoch {p.Epoch + 1} loss {p.Loss:0.0000}" +
        (p.ValidationLoss is { } v ? $" validation {v:0.0000}" : "") + $" lr {p.LearningRate:0.###e+0}";

    public static ProgressRecord Record(TrainingProgress p) => new(1, "LoRA training", Status(p))
    {
        PercentComplete = p.TotalSteps > 0 ? Math.Clamp(100 * p.Step / p.TotalSteps, 0, 100) : -1,
        SecondsRemaining = p.Remaining is { } r ? (int)Math.Min(int.MaxValue, r.TotalSeconds) : -1,
        CurrentOperation = p.Phase,
    };

    public static string ResumeHint(MedGemmaException e, string outputPath) =>
        $"{e.Message} To continue: Start-LoraTraining ... -OutputPath '{outputPath}' -Resume (with the same manifests and options).";
}
