namespace MedGemma.Engine.Training;

public enum LossOn
{
    /// <summary>Loss on the caption and its &lt;end_of_turn&gt; only (prompt, image and padding masked).</summary>
    Answer,
    /// <summary>Loss on every token except padding and image tokens (Google's fine-tuning notebook).</summary>
    All,
}

/// <summary>Settings of one LoRA fine-tuning run. Defaults follow common MedGemma LoRA recipes.</summary>
public sealed record TrainingOptions
{
    public int Rank { get; init; } = 16;
    /// <summary>LoRA alpha; null means 2 × Rank.</summary>
    public double? Alpha { get; init; }
    public double Dropout { get; init; } = 0.05;
    public IReadOnlyList<string> TargetModules { get; init; } = new[] { "q_proj", "v_proj" };
    public bool UseRsLora { get; init; }
    /// <summary>Adapt only the language model (MedGemma 1.5's recipe keeps the vision encoder frozen).</summary>
    public bool LanguageModelOnly { get; init; }

    public int Epochs { get; init; } = 1;
    /// <summary>When > 0, stop after this many optimizer steps (overrides Epochs).</summary>
    public int MaxSteps { get; init; }
    public int BatchSize { get; init; } = 1;
    public int GradientAccumulation { get; init; } = 1;
    public double LearningRate { get; init; } = 2e-4;
    public double WeightDecay { get; init; } = 0.01;
    public double MaxGradNorm { get; init; } = 1.0;
    public LrScheduler Scheduler { get; init; } = LrScheduler.Linear;
    public double WarmupRatio { get; init; } = 0.03;
    public bool GradientCheckpointing { get; init; }
    public LossOn LossOn { get; init; } = LossOn.Answer;
    /// <summary>The user instruction of every training prompt; caption later with the same one.</summary>
    public string Instruction { get; init; } = Tokenization.PromptOptions.DefaultInstruction;
    /// <summary>Optional system prompt of every training prompt.</summary>
    public string? SystemPrompt { get; init; }

    /// <summary>Validation every N optimizer steps (0: only at epoch ends).</summary>
    public int EvalEvery { get; init; }
    /// <summary>Resumable checkpoint every N optimizer steps (0: only at the end).</summary>
    public int SaveEvery { get; init; }
    /// <summary>Stop after this many validations without improvement (0: never).</summary>
    public int Patience { get; init; }
    /// <summary>Continue from OutputPath/checkpoint when it exists.</summary>
    public bool Resume { get; init; }
    public int Seed { get; init; } = 42;
    public string OutputPath { get; init; } = "";
    /// <summary>How training images are read (DICOM window, frame, pixel budget); null = the defaults. Caption later with the same.</summary>
    public Imaging.ImageLoadOptions? ImageOptions { get; init; }

    public double EffectiveAlpha => Alpha ?? 2.0 * Rank;

    internal void Validate()
    {
        static MedGemmaException Bad(string name, object value, string rule) =>
            new(MedGemmaErrorKind.InvalidArgument, "BadTrainingOption", $"{name} = {value}: {rule}.", name);
        if (Rank <= 0) throw Bad(nameof(Rank), Rank, "must be positive");
        if (Dropout < 0 || Dropout >= 1) throw Bad(nameof(Dropout), Dropout, "must be in [0, 1)");
        if (TargetModules.Count == 0) throw Bad(nameof(TargetModules), "(empty)", "name at least one module");
        if (Epochs <= 0 && MaxSteps <= 0) throw Bad(nameof(Epochs), Epochs, "give Epochs or MaxSteps > 0");
        if (BatchSize <= 0) throw Bad(nameof(BatchSize), BatchSize, "must be positive");
        if (GradientAccumulation <= 0) throw Bad(nameof(GradientAccumulation), GradientAccumulation, "must be positive");
        if (LearningRate <= 0) throw Bad(nameof(LearningRate), LearningRate, "must be positive");
        if (WeightDecay < 0) throw Bad(nameof(WeightDecay), WeightDecay, "must not be negative");
        if (WarmupRatio < 0 || WarmupRatio > 1) throw Bad(nameof(WarmupRatio), WarmupRatio, "must be in [0, 1]");
        if (EvalEvery < 0 || SaveEvery < 0 || Patience < 0) throw Bad(nameof(EvalEvery), EvalEvery, "EvalEvery, SaveEvery and Patience must not be negative");
        if (string.IsNullOrWhiteSpace(OutputPath)) throw Bad(nameof(OutputPath), "(empty)", "name the folder for the adapter");
        ImageOptions?.Validate();
    }
}

/// <summary>What a run produced.</summary>
public sealed record TrainingResult(
    string AdapterPath,
    string LastAdapterPath,
    double? BestValidationLoss,
    int BestStep,
    int Steps,
    int Epochs,
    double FinalTrainingLoss,
    TimeSpan Duration,
    bool StoppedEarly,
    bool Cancelled,
    string MetricsPath);

/// <summary>A progress report after each optimizer step (and after each validation).</summary>
public sealed record TrainingProgress(
    int Step,
    int TotalSteps,
    int Epoch,
    double Loss,
    double LearningRate,
    double SamplesPerSecond,
    TimeSpan Elapsed,
    TimeSpan? Remaining,
    double? ValidationLoss,
    string Phase);
