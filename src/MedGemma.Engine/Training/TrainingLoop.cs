using System.Diagnostics;
using MedGemma.Engine.Lora;
using MedGemma.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Training;

/// <summary>
/// The optimisation loop over an <see cref="ITrainingTask"/>: seeded per-epoch shuffling, micro-batches
/// with gradient accumulation (the loss of a window is normalised by its total label tokens, as
/// transformers' Trainer does with num_items_in_batch), clipping, AdamW, LR schedule, validation,
/// early stopping, best/last adapters, checkpoints and exact resume.
/// </summary>
public sealed class TrainingLoop
{
    readonly ITrainingTask task;
    readonly LoraModel lora;
    readonly string adapterName;
    readonly TrainingOptions o;
    readonly IProgress<TrainingProgress>? progress;
    readonly MetricsLog metrics;

    public TrainingLoop(ITrainingTask task, LoraModel lora, string adapterName, TrainingOptions options, IProgress<TrainingProgress>? progress = null)
    {
        options.Validate();
        if (task.TrainCount == 0)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "EmptyTrainingSet", "The training set is empty.");
        this.task = task;
        this.lora = lora;
        this.adapterName = adapterName;
        o = options;
        this.progress = progress;
        Directory.CreateDirectory(o.OutputPath);
        metrics = new MetricsLog(o.OutputPath);
    }

    public int BatchesPerEpoch => (task.TrainCount + o.BatchSize - 1) / o.BatchSize;
    public int StepsPerEpoch => (BatchesPerEpoch + o.GradientAccumulation - 1) / o.GradientAccumulation;
    public int TotalSteps => o.MaxSteps > 0 ? o.MaxSteps : o.Epochs * StepsPerEpoch;
    int EpochCount => (TotalSteps + StepsPerEpoch - 1) / StepsPerEpoch;
    public string LastAdapterPath => Path.Combine(o.OutputPath, "last");

    string Fingerprint => string.Join("|", task.TrainCount, task.ValidationCount, o.BatchSize, o.GradientAccumulation, TotalSteps,
        o.Seed, o.LearningRate, o.WeightDecay, o.Scheduler, o.WarmupRatio, o.MaxGradNorm, o.Rank, o.EffectiveAlpha, o.LossOn);

    /// <summary>The sample order of an epoch: a Fisher–Yates shuffle seeded by (Seed, epoch).</summary>
    public static int[] Permutation(int seed, int epoch, int count)
    {
        var order = Enumerable.Range(0, count).ToArray();
        var rng = new Random(unchecked(seed * 7919 + epoch));
        for (int i = count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    public TrainingResult Run(CancellationToken ct = default)
    {
        var parameters = lora.Parameters(adapterName);
        using var optimizer = new AdamW(parameters, o.LearningRate, weightDecay: o.WeightDecay);
        var schedule = new LrSchedule(o.Scheduler, LrSchedule.WarmupFromRatio(o.WarmupRatio, TotalSteps), TotalSteps);
        var state = new TrainerState { TotalSteps = TotalSteps, Seed = o.Seed, Fingerprint = Fingerprint };
        if (o.Resume) state = Restore(optimizer) ?? state;
        else if (File.Exists(metrics.Path)) File.Delete(metrics.Path);

        var watch = Stopwatch.StartNew();
        double elapsedBefore = state.ElapsedSeconds;
        int stepsThisRun = 0, samplesThisRun = 0, lastValidated = -1;
        bool stoppedEarly = false;
        var paramList = parameters.Select(p => p.Parameter).ToList();
        List<TrainingBatch>? next = null;   // the following window, collated while the device runs a step
        try
        {
            for (int epoch = state.Epoch; epoch < EpochCount && state.Step < TotalSteps && !stoppedEarly; epoch++)
            {
                var order = Permutation(o.Seed, epoch, task.TrainCount);
                var batches = order.Chunk(o.BatchSize).ToList();
                int b = epoch == state.Epoch ? state.BatchInEpoch : 0;
                while (b < batches.Count && state.Step < TotalSteps)
                {
                    if (ct.IsCancellationRequested) Cancel(optimizer, state with { ElapsedSeconds = elapsedBefore + watch.Elapsed.TotalSeconds });
                    var window = batches.Skip(b).Take(o.GradientAccumulation).ToList();
                    double loss, gradNorm;
                    var lr = o.LearningRate * schedule.Factor(state.Step);
                    try
                    {
                        var collated = next ?? Collate(window);
                        next = null;
                        var (lossSum, norm) = OptimizerStep(window, collated, optimizer, paramList, lr, state.Step);
                        using (lossSum)
                        using (norm)
                        {
                            // Collate the next window before the one read-back of the step: on a GPU the host then prepares
                            // it (image decoding included) while the device still runs this step.
                            var following = b + window.Count;
                            if (following < batches.Count && state.Step + 1 < TotalSteps)
                                next = TryCollateAhead(batches.Skip(following).Take(o.GradientAccumulation).ToList());
                            loss = lossSum.item<double>();
                            gradNorm = norm?.item<float>() ?? 0;
                        }
                    }
                    catch (Exception e) when (TorchErrors.IsOutOfMemory(e))
                    {
                        throw OutOfMemory(e);
                    }
                    b += window.Count;
                    stepsThisRun++;
                    samplesThisRun += window.Sum(w => w.Length);
                    var step = state.Step + 1;
                    var epochDone = b >= batches.Count;
                    var seconds = watch.Elapsed.TotalSeconds;
                    var rate = samplesThisRun / Math.Max(seconds, 1e-9);
                    var remaining = TimeSpan.FromSeconds(seconds / stepsThisRun * (TotalSteps - step));
                    metrics.Append(new { step, epoch = epoch + (double)b / batches.Count, loss, learning_rate = lr, grad_norm = gradNorm, samples_per_second = rate, elapsed_s = elapsedBefore + seconds });
                    progress?.Report(new TrainingProgress(step, TotalSteps, epoch + 1, loss, lr, rate, TimeSpan.FromSeconds(elapsedBefore + seconds), remaining, null, "train"));
                    state = state with
                    {
                        Step = step,
                        Epoch = epochDone ? epoch + 1 : epoch,
                        BatchInEpoch = epochDone ? 0 : b,
                        LastLoss = loss,
                        Order = order,
                    };

                    if (task.ValidationCount > 0 && (epochDone || (o.EvalEvery > 0 && step % o.EvalEvery == 0) || step == TotalSteps))
                    {
                        state = Validate(state, ct);
                        lastValidated = step;
                        stoppedEarly = o.Patience > 0 && state.ValidationsWithoutImprovement >= o.Patience;
                    }
                    if ((o.SaveEvery > 0 && step % o.SaveEvery == 0) || stoppedEarly || step == TotalSteps)
                        SaveCheckpoint(optimizer, state with { ElapsedSeconds = elapsedBefore + watch.Elapsed.TotalSeconds });
                    if (stoppedEarly) break;
                }
            }
        }
        finally
        {
            if (next is not null) foreach (var x in next) x.Dispose();
        }

        if (task.ValidationCount > 0 && lastValidated != state.Step && state.BestValidationLoss is null)
            state = Validate(state, ct);
        state = state with { ElapsedSeconds = elapsedBefore + watch.Elapsed.TotalSeconds };
        using (var last = LoraAdapter.FromModel(lora, adapterName))
        {
            last.Save(LastAdapterPath);
            if (task.ValidationCount == 0) last.Save(o.OutputPath);
        }
        SaveCheckpoint(optimizer, state);
        return new TrainingResult(o.OutputPath, LastAdapterPath, state.BestValidationLoss, task.ValidationCount > 0 ? state.BestStep : state.Step,
            state.Step, state.Epoch, state.LastLoss, TimeSpan.FromSeconds(state.ElapsedSeconds), stoppedEarly, false, metrics.Path);
    }

    List<TrainingBatch> Collate(IReadOnlyList<int[]> window) => window.Select(indices => task.Collate(false, indices)).ToList();

    /// <summary>
    /// The next window collated ahead, or null when that fails (an unreadable image): the next step collates it
    /// again and fails there, after this step is reported, logged and checkpointed, as without collating ahead.
    /// </summary>
    List<TrainingBatch>? TryCollateAhead(IReadOnlyList<int[]> window)
    {
        try
        {
            return Collate(window);
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>
    /// One optimizer step over the collated micro-batches of <paramref name="window"/> (disposed here). Returns the
    /// token-weighted loss (float64) and the gradient norm as device scalars: nothing is read back inside the step.
    /// </summary>
    (Tensor Loss, Tensor? GradNorm) OptimizerStep(IReadOnlyList<int[]> window, List<TrainingBatch> batches, AdamW optimizer,
        List<TorchSharp.Modules.Parameter> parameters, double lr, int step)
    {
        // Dropout noise depends only on (seed, step), so a resumed run draws exactly what a straight run would.
        TorchRuntime.ManualSeed(unchecked(o.Seed * 1_000_003L + step));
        lora.Root.train();
        Tensor? loss = null;
        try
        {
            long tokens = batches.Sum(x => x.LabelTokens);
            if (tokens == 0)
                throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "NoLabelTokens",
                    $"A training batch has no tokens to learn (samples {string.Join(", ", window.SelectMany(w => w))}): are the captions empty?");
            foreach (var batch in batches)
            {
                using var scope = NewDisposeScope();
                var weight = (double)batch.LabelTokens / tokens;
                var l = task.Loss(batch);
                (l * weight).backward();
                ReturnedGradients.ReleaseConsumed();
                // float32 loss times a float64 weight, summed in float64: what reading each loss back would give.
                var part = l.detach().to(float64).mul(weight);
                var sum = loss is null ? part : loss.add(part);
                loss?.Dispose();
                loss = sum.DetachFromDisposeScope();
            }
            var norm = GradientClipping.ClipGradNormOnDevice(parameters, o.MaxGradNorm);
            optimizer.LearningRate = lr;
            optimizer.Step();
            optimizer.ZeroGrad();
            return (loss!, norm);
        }
        catch
        {
            loss?.Dispose();
            throw;
        }
        finally
        {
            foreach (var x in batches) x.Dispose();
        }
    }

    /// <summary>Token-weighted mean loss over the validation set, in eval mode.</summary>
    public double ValidationLoss(CancellationToken ct = default)
    {
        lora.Root.eval();
        Tensor? sum = null;   // on the device, read once: the host collates the next batch while the device runs one
        long tokens = 0;
        try
        {
            using var _ = no_grad();
            foreach (var indices in Enumerable.Range(0, task.ValidationCount).Chunk(o.BatchSize))
            {
                ct.ThrowIfCancellationRequested();
                using var batch = task.Collate(true, indices);
                if (batch.LabelTokens == 0) continue;
                using var scope = NewDisposeScope();
                // float32 loss times the token count, summed in float64: what reading each loss back gave.
                var part = task.Loss(batch).to(float64).mul((double)batch.LabelTokens);
                var total = sum is null ? part : sum.add(part);
                sum?.Dispose();
                sum = total.DetachFromDisposeScope();
                tokens += batch.LabelTokens;
            }
            lora.Root.train();
            return tokens == 0 ? double.NaN : sum!.item<double>() / tokens;
        }
        finally
        {
            sum?.Dispose();
        }
    }

    TrainerState Validate(TrainerState state, CancellationToken ct)
    {
        double val;
        try { val = ValidationLoss(ct); }
        catch (Exception e) when (TorchErrors.IsOutOfMemory(e)) { throw OutOfMemory(e); }
        metrics.Append(new { step = state.Step, epoch = state.Epoch, val_loss = val });
        progress?.Report(new TrainingProgress(state.Step, TotalSteps, state.Epoch, state.LastLoss, 0, 0, TimeSpan.Zero, null, val, "validation"));
        if (state.BestValidationLoss is null || val < state.BestValidationLoss)
        {
            using (var best = LoraAdapter.FromModel(lora, adapterName)) best.Save(o.OutputPath);
            return state with { BestValidationLoss = val, BestStep = state.Step, ValidationsWithoutImprovement = 0 };
        }
        return state with { ValidationsWithoutImprovement = state.ValidationsWithoutImprovement + 1 };
    }

    void SaveCheckpoint(AdamW optimizer, TrainerState state)
    {
        using var adapter = LoraAdapter.FromModel(lora, adapterName);
        CheckpointStore.Save(o.OutputPath, adapter, optimizer, state);
    }

    TrainerState? Restore(AdamW optimizer)
    {
        var folder = CheckpointStore.Find(o.OutputPath);
        if (folder == null) return null;
        var (adapter, moments, state) = CheckpointStore.Load(folder);
        using (adapter)
        {
            if (state.Fingerprint != Fingerprint)
                throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "ResumeMismatch",
                    $"The checkpoint in {folder} was made with other settings or data ({state.Fingerprint}); now: {Fingerprint}. " +
                    "Resume with the same data and options, or start a new run in another OutputPath.", folder);
            lora.LoadWeights(adapterName, adapter.Weights, folder);
        }
        optimizer.LoadState(moments, state.Step, folder);
        foreach (var t in moments.Values) t.Dispose();
        metrics.TruncateAfter(state.Step);
        return state;
    }

    void Cancel(AdamW optimizer, TrainerState state)
    {
        SaveCheckpoint(optimizer, state);
        throw new MedGemmaException(MedGemmaErrorKind.Cancelled, "TrainingCancelled",
            $"Training was cancelled after step {state.Step} of {TotalSteps}; the checkpoint in {CheckpointStore.PathIn(o.OutputPath)} resumes it (Resume).",
            CheckpointStore.PathIn(o.OutputPath));
    }

    MedGemmaException OutOfMemory(Exception e) =>
        new(MedGemmaErrorKind.ResourceUnavailable, "TrainingOutOfMemory",
            $"Out of memory during training with BatchSize {o.BatchSize}{(o.GradientCheckpointing ? "" : " and no gradient checkpointing")}. " +
            $"Lower BatchSize (raise GradientAccumulation to keep the effective batch){(o.GradientCheckpointing ? "" : ", turn on GradientCheckpointing")}, or lower Rank. " +
            $"The last checkpoint ({CheckpointStore.PathIn(o.OutputPath)}) is intact; Resume continues from it. ({e.Message.Split('\n')[0]})",
            o.OutputPath, e);
}
