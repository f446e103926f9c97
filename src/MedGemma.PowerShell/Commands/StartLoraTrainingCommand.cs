using System.Management.Automation;
using MedGemma.Engine;
using MedGemma.Engine.Api;
using MedGemma.Engine.Tokenization;
using MedGemma.Engine.Training;

namespace MedGemma.PowerShell.Commands;

/// <summary>Fine-tunes a LoRA adapter on the resident model from train/validation manifests.</summary>
[Cmdlet(VerbsLifecycle.Start, "LoraTraining", SupportsShouldProcess = true)]
[OutputType(typeof(TrainingResult), typeof(TrainingProgress), typeof(Job))]
public sealed class StartLoraTrainingCommand : MedGemmaCmdlet
{
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string TrainManifest { get; set; } = "";

    [Parameter(Position = 1)]
    public string? ValidationManifest { get; set; }

    [Parameter]
    public object? Model { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string OutputPath { get; set; } = "outputs/medgemma-lora";

    [Parameter] [ValidateRange(1, 1024)] public int Rank { get; set; } = 16;
    [Parameter] [ValidateRange(0.0, 1e6)] public double Alpha { get; set; }
    [Parameter] [ValidateRange(0.0, 0.99)] public double Dropout { get; set; } = 0.05;
    [Parameter] [ValidateNotNullOrEmpty] public string[] TargetModules { get; set; } = { "q_proj", "v_proj" };
    [Parameter] [ValidateRange(1, 100000)] public int Epochs { get; set; } = 1;
    [Parameter] [ValidateRange(0, int.MaxValue)] public int MaxSteps { get; set; }
    [Parameter] [ValidateRange(1, 4096)] public int BatchSize { get; set; } = 1;
    [Parameter] [ValidateRange(1, 4096)] public int GradientAccumulation { get; set; } = 1;
    [Parameter] [ValidateRange(1e-9, 1.0)] public double LearningRate { get; set; } = 2e-4;
    // Strings, not the engine's enums: an enum-typed field would make PowerShell load the engine while it scans
    // this assembly at import, before ModuleInitializer has hooked the engine's load context.
    [Parameter] [ValidateSet("Constant", "Linear", "Cosine")] public string Scheduler { get; set; } = "Linear";
    [Parameter] [ValidateRange(0.0, 1.0)] public double WarmupRatio { get; set; } = 0.03;
    [Parameter] [ValidateRange(0, int.MaxValue)] public int EvalSteps { get; set; }
    [Parameter] public SwitchParameter GradientCheckpointing { get; set; }
    [Parameter] public SwitchParameter Resume { get; set; }
    [Parameter] public int Seed { get; set; } = 42;
    [Parameter] [ArgumentCompleter(typeof(DeviceCompleter))] public string? Device { get; set; }
    [Parameter] public SwitchParameter LanguageModelOnly { get; set; }
    [Parameter] public SwitchParameter UseRsLora { get; set; }
    [Parameter] [ValidateSet("Answer", "All")] public string LossOn { get; set; } = "Answer";
    [Parameter] [ValidateNotNullOrEmpty] public string Prompt { get; set; } = CaptionSettings.DefaultPrompt;
    [Parameter] public SwitchParameter AsJob { get; set; }
    /// <summary>DICOM window preset for every training image (caption later with the same one).</summary>
    [Parameter] [ArgumentCompleter(typeof(WindowPresetCompleter))] public string? Window { get; set; }
    [Parameter] public double WindowCenter { get; set; }
    [Parameter] [ValidateRange(1e-9, double.MaxValue)] public double WindowWidth { get; set; }
    [Parameter] [ValidateRange(1L, long.MaxValue)] public long MaxPixels { get; set; } = 200_000_000;

    protected override void EndProcessing()
    {
        var train = FileSystemPath(TrainManifest);
        var val = ValidationManifest == null ? null : FileSystemPath(ValidationManifest);
        var output = FileSystemPath(OutputPath);
        int trainCount = 0;
        try
        {
            trainCount = CaptionManifest.Read(train).Count;
            if (val != null) CaptionManifest.Read(val);
        }
        catch (MedGemmaException e) { Fail(e); }
        var options = new TrainingOptions
        {
            Rank = Rank, Alpha = MyInvocation.BoundParameters.ContainsKey(nameof(Alpha)) ? Alpha : null, Dropout = Dropout,
            TargetModules = TargetModules, Epochs = Epochs, MaxSteps = MaxSteps, BatchSize = BatchSize, GradientAccumulation = GradientAccumulation,
            LearningRate = LearningRate, Scheduler = Enum.Parse<LrScheduler>(Scheduler, ignoreCase: true), WarmupRatio = WarmupRatio, GradientCheckpointing = GradientCheckpointing,
            Resume = Resume, Seed = Seed, LanguageModelOnly = LanguageModelOnly, UseRsLora = UseRsLora, LossOn = Enum.Parse<LossOn>(LossOn, ignoreCase: true),
            EvalEvery = EvalSteps, OutputPath = output,
            ImageOptions = ImageOptions(Window, Bound(nameof(WindowCenter)) ? WindowCenter : null, Bound(nameof(WindowWidth)) ? WindowWidth : null, null, MaxPixels),
        };
        int steps = MedGemmaSession.EstimateSteps(trainCount, options);
        var action = $"Train a LoRA adapter (r={Rank}, {string.Join(",", TargetModules)}) for {steps} step(s) on {trainCount} sample(s)" + (Resume ? ", resuming" : "");
        if (!ShouldProcess(output, action)) return;

        var session = ResolveModel(Model, Device);
        if (Device != null && Model is MedGemmaSession && !string.Equals(Device, session.Device, StringComparison.OrdinalIgnoreCase))
            WriteWarning($"-Device {Device} is ignored: the model is already resident on {session.Device}.");
        var prompt = new PromptOptions { Instruction = Prompt };
        TrainingResult Run(IProgress<TrainingProgress> p, CancellationToken ct) => session.Train(train, val, options, p, ct, prompt);

        if (AsJob)
        {
            var job = new LoraTrainingJob(MyInvocation.Line, output, Run);
            JobRepository.Add(job);
            job.Start();
            WriteObject(job);
            return;
        }

        var progress = new SyncProgress<TrainingProgress>(p =>
        {
            if (Cancellation.IsCancellationRequested) return; // the pipeline is stopping; writing would throw inside the engine
            try
            {
                WriteProgress(TrainingProgressText.Record(p));
                if (p.ValidationLoss != null) WriteObject(p);
            }
            catch (PipelineStoppedException) { }
        });
        TrainingResult? result = null;
        try { result = Run(progress, Cancellation); }
        catch (MedGemmaException e) when (e.Kind == MedGemmaErrorKind.Cancelled)
        {
            // The pipeline is already stopped, so the hint goes straight to the host.
            Host.UI.WriteWarningLine(TrainingProgressText.ResumeHint(e, OutputPath));
            throw new PipelineStoppedException();
        }
        catch (Exception e) when (e is not PipelineStoppedException) { Fail(e, output); }
        WriteProgress(new ProgressRecord(1, "LoRA training", "Done") { RecordType = ProgressRecordType.Completed });
        WriteObject(result);
    }
}
