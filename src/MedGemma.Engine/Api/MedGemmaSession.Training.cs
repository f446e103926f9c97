using MedGemma.Engine.Lora;
using MedGemma.Engine.Tokenization;
using MedGemma.Engine.Training;

namespace MedGemma.Engine.Api;

public sealed partial class MedGemmaSession
{
    /// <summary>
    /// Fine-tunes a new LoRA adapter on this resident model (base weights frozen) and writes it as a PEFT folder to
    /// <see cref="TrainingOptions.OutputPath"/>. The model is left as it was: the training adapter is detached
    /// afterwards, so the base model captions as before until the result is loaded with <see cref="ImportAdapter"/>.
    /// A cancelled run returns with <see cref="TrainingResult.Cancelled"/> set and a resumable checkpoint saved.
    /// </summary>
    public TrainingResult Train(string trainManifest, string? validationManifest, TrainingOptions options,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default, PromptOptions? prompt = null)
    {
        var train = CaptionManifest.Read(trainManifest);
        var validation = validationManifest is null ? Array.Empty<CaptionSample>() : CaptionManifest.Read(validationManifest);
        lock (_gate)
        {
            ThrowIfDisposed();
            var previous = _lora?.ActiveAdapter;
            // Imported adapters must not take part in training: only the new one is active while it trains.
            _lora?.SetActive(null);
            try
            {
                return new LoraTrainer(_model, _prompts, _images).Train(train, validation, options, progress, cancellationToken, Path, prompt);
            }
            finally
            {
                DetachTrainingAdapter();
                _lora?.SetActive(previous);
            }
        }
    }

    /// <summary>Estimated steps of a run (for -WhatIf and progress): what the training loop will do with these manifests.</summary>
    public static int EstimateSteps(int trainCount, TrainingOptions o)
    {
        int batches = (trainCount + o.BatchSize - 1) / o.BatchSize;
        int perEpoch = (batches + o.GradientAccumulation - 1) / o.GradientAccumulation;
        return o.MaxSteps > 0 ? o.MaxSteps : o.Epochs * perEpoch;
    }

    void DetachTrainingAdapter()
    {
        var lora = LoraModel.Of(_model);
        // An imported adapter of the same name would have made the trainer refuse to start: never remove that one.
        if (lora.Adapters.Contains(LoraTrainer.AdapterName) && !_adapters.ContainsKey(LoraTrainer.AdapterName))
            lora.RemoveAdapter(LoraTrainer.AdapterName);
        _model.Network.eval();
    }
}
