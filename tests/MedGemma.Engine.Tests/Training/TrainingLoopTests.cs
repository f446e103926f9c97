using MedGemma.Engine.Lora;
using MedGemma.Engine.Tests.Lora;
using MedGemma.Engine.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Training;

/// <summary>
/// Runs alone: exact-resume checks reseed libtorch's global generator (dropout draws from it), which a
/// test in another class drawing random numbers at the same time would disturb.
/// </summary>
[CollectionDefinition(nameof(GlobalRngCollection), DisableParallelization = true)]
public class GlobalRngCollection;

/// <summary>The loop on a toy regression task, so order, accumulation, checkpoints and resume are checked fast.</summary>
[Collection(nameof(GlobalRngCollection))]
public class TrainingLoopTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("loop").FullName;
    public void Dispose() => Directory.Delete(dir, true);

    sealed class ToyTask : ITrainingTask
    {
        readonly Tensor x, y, vx, vy;
        readonly nn.Module<Tensor, Tensor> model;
        public int Collated;
        /// <summary>From this training Collate call on (1-based), collating fails as an unreadable image does, every time; 0 = never.</summary>
        public int FailFromTrainCollate;
        int trainCollated;

        public ToyTask(nn.Module<Tensor, Tensor> model, int train = 10, int val = 4)
        {
            this.model = model;
            var g = new Generator(5);
            x = randn(new long[] { train, 8 }, generator: g); y = x.flip(1).tanh();
            vx = randn(new long[] { val, 8 }, generator: g); vy = vx.flip(1).tanh();
            TrainCount = train; ValidationCount = val;
        }

        public int TrainCount { get; }
        public int ValidationCount { get; }

        public TrainingBatch Collate(bool validation, IReadOnlyList<int> indices)
        {
            Collated++;
            if (!validation && ++trainCollated >= FailFromTrainCollate && FailFromTrainCollate > 0)
                throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "BadSample", "A sample could not be read.", indices[0]);
            var idx = tensor(indices.Select(i => (long)i).ToArray());
            var (a, b) = validation ? (vx, vy) : (x, y);
            return new TrainingBatch(new Dictionary<string, Tensor> { ["x"] = a.index_select(0, idx), ["y"] = b.index_select(0, idx) }, indices.Count * 8, indices.Count);
        }

        public Tensor Loss(TrainingBatch batch) => nn.functional.mse_loss(model.forward(batch.Tensors["x"]), batch.Tensors["y"]);
    }

    static (ToyModel model, LoraModel lora) NewModel()
    {
        torch.manual_seed(1);
        var model = new ToyModel();
        var lora = new LoraModel(model);
        lora.AddAdapter("default", new LoraConfig { R = 4, Alpha = 8, Dropout = 0.2 });
        return (model, lora);
    }

    TrainingOptions Options(string name, int maxSteps = 6) => new()
    {
        OutputPath = Path.Combine(dir, name), MaxSteps = maxSteps, BatchSize = 3, GradientAccumulation = 2,
        LearningRate = 1e-2, WarmupRatio = 0.2, Scheduler = LrScheduler.Cosine, EvalEvery = 2, Seed = 7,
    };

    static Dictionary<string, Tensor> Weights(LoraModel lora) =>
        lora.Parameters("default").ToDictionary(p => p.Name, p => p.Parameter.detach().clone());

    [Fact]
    public void PermutationIsSeededAndComplete()
    {
        var a = TrainingLoop.Permutation(3, 0, 50);
        Assert.Equal(Enumerable.Range(0, 50), a.OrderBy(i => i));
        Assert.Equal(a, TrainingLoop.Permutation(3, 0, 50));
        Assert.NotEqual(a, TrainingLoop.Permutation(3, 1, 50));
    }

    [Fact]
    public void ResumeContinuesExactly()
    {
        var (_, straightLora) = NewModel();
        var straight = new TrainingLoop(new ToyTask((nn.Module<Tensor, Tensor>)straightLora.Root), straightLora, "default", Options("straight")).Run();
        Assert.Equal(6, straight.Steps);

        var (_, halfLora) = NewModel();
        var cts = new CancellationTokenSource();
        var progress = new SyncProgress(p => { if (p.Phase == "train" && p.Step == 3) cts.Cancel(); });
        var e = Assert.Throws<MedGemmaException>(() =>
            new TrainingLoop(new ToyTask((nn.Module<Tensor, Tensor>)halfLora.Root), halfLora, "default", Options("resumed"), progress).Run(cts.Token));
        Assert.Equal(MedGemmaErrorKind.Cancelled, e.Kind);
        Assert.Equal(3, TrainerState.Read(Path.Combine(dir, "resumed", "checkpoint", TrainerState.FileName)).Step);

        var (_, resumedLora) = NewModel(); // a fresh process: weights come from the checkpoint
        var resumed = new TrainingLoop(new ToyTask((nn.Module<Tensor, Tensor>)resumedLora.Root), resumedLora, "default", Options("resumed") with { Resume = true }).Run();
        Assert.Equal(6, resumed.Steps);
        var a = Weights(straightLora);
        var b = Weights(resumedLora);
        foreach (var (name, t) in a)
            Assert.True((t - b[name]).abs().max().item<float>() <= 1e-6f, name);
        Assert.Equal(straight.BestValidationLoss!.Value, resumed.BestValidationLoss!.Value, 6);
        var steps = File.ReadAllLines(Path.Combine(dir, "resumed", MetricsLog.FileName)).Count(l => l.Contains("\"loss\""));
        Assert.Equal(6, steps);
    }

    [Fact]
    public void LossFallsAndFilesAreWritten()
    {
        var (_, lora) = NewModel();
        var task = new ToyTask((nn.Module<Tensor, Tensor>)lora.Root);
        var loop = new TrainingLoop(task, lora, "default", Options("run", 30) with { Scheduler = LrScheduler.Constant, WarmupRatio = 0, EvalEvery = 0 });
        var before = loop.ValidationLoss();
        var result = loop.Run();
        Assert.True(result.BestValidationLoss < before * 0.9, $"{before} → {result.BestValidationLoss}");
        Assert.True(File.Exists(Path.Combine(result.AdapterPath, "adapter_model.safetensors")));
        Assert.True(File.Exists(Path.Combine(result.LastAdapterPath, "adapter_config.json")));
        Assert.True(File.Exists(Path.Combine(dir, "run", "checkpoint", "optimizer.safetensors")));
        Assert.Empty(Directory.GetDirectories(Path.Combine(dir, "run"), ".*"));
        Assert.Equal(30, result.Steps);
        Assert.Equal(2, loop.StepsPerEpoch); // 10 samples / 3 per batch = 4 batches, 2 per step
    }

    [Fact]
    public void EarlyStoppingKeepsTheBestAdapter()
    {
        var (_, lora) = NewModel();
        // A huge learning rate makes validation loss worse after the first evaluations.
        var o = Options("early", 40) with { LearningRate = 5, MaxGradNorm = 0, Patience = 2, EvalEvery = 1, Scheduler = LrScheduler.Constant, WarmupRatio = 0 };
        var result = new TrainingLoop(new ToyTask((nn.Module<Tensor, Tensor>)lora.Root), lora, "default", o).Run();
        Assert.True(result.StoppedEarly);
        Assert.True(result.Steps < 40);
        Assert.Equal(result.BestStep + 2, result.Steps);
    }

    [Fact]
    public void ResumeWithOtherSettingsIsRefused()
    {
        var (_, lora) = NewModel();
        new TrainingLoop(new ToyTask((nn.Module<Tensor, Tensor>)lora.Root), lora, "default", Options("mismatch", 2)).Run();
        var (_, again) = NewModel();
        var e = Assert.Throws<MedGemmaException>(() =>
            new TrainingLoop(new ToyTask((nn.Module<Tensor, Tensor>)again.Root), again, "default", Options("mismatch", 2) with { BatchSize = 2, Resume = true }).Run());
        Assert.Equal("ResumeMismatch", e.ErrorId);
    }

    [Fact]
    public void ASampleThatFailsStopsTheRunAfterTheStepsBeforeItAreRecorded()
    {
        var (_, lora) = NewModel();
        // Step 1 collates 2 batches; the 3rd collation is step 2's first batch. The step before it must be complete
        // (reported, logged, checkpointed) when the bad sample stops the run, even though the loop collates ahead.
        var task = new ToyTask((nn.Module<Tensor, Tensor>)lora.Root) { FailFromTrainCollate = 3 };
        var reported = new List<int>();
        var progress = new SyncProgress(p => { if (p.Phase == "train") reported.Add(p.Step); });
        var e = Assert.Throws<MedGemmaException>(() =>
            new TrainingLoop(task, lora, "default", Options("bad") with { SaveEvery = 1, EvalEvery = 0 }, progress).Run());
        Assert.Equal("BadSample", e.ErrorId);
        Assert.Equal(new[] { 1 }, reported);
        Assert.Equal(1, TrainerState.Read(Path.Combine(dir, "bad", "checkpoint", TrainerState.FileName)).Step);
    }

    sealed class SyncProgress(Action<TrainingProgress> onReport) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => onReport(value);
    }
}
