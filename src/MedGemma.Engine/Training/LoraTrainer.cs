using MedGemma.Engine.Imaging;
using MedGemma.Engine.Lora;
using MedGemma.Engine.Model;
using MedGemma.Engine.Runtime;
using MedGemma.Engine.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Training;

/// <summary>
/// LoRA fine-tuning of a MedGemma model on image/caption manifests. The base weights stay frozen in
/// the model's dtype (bf16 on a GPU); LoRA weights and AdamW state are float32. Writes a PEFT adapter
/// to <see cref="TrainingOptions.OutputPath"/> (the best by validation loss, else the last),
/// OutputPath/last, OutputPath/checkpoint (resumable) and OutputPath/metrics.jsonl.
/// </summary>
public sealed class LoraTrainer
{
    public const string AdapterName = "default";
    readonly MedGemmaModel model;
    readonly PromptBuilder prompts;
    readonly ImagePreprocessor images;

    public LoraTrainer(MedGemmaModel model, PromptBuilder prompts, ImagePreprocessor images)
    {
        this.model = model;
        this.prompts = prompts;
        this.images = images;
    }

    /// <summary>Loads the model folder on <paramref name="device"/> ("cpu", "cuda", "cuda:1"; null = best available) and trains.</summary>
    public static TrainingResult Train(string modelFolder, string trainManifest, string? validationManifest, TrainingOptions options,
        string? device = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        options.Validate();
        TorchRuntime.EnsureInitialized();
        var train = CaptionManifest.Read(trainManifest);
        var val = validationManifest is null ? Array.Empty<CaptionSample>() : CaptionManifest.Read(validationManifest);
        var dev = TorchRuntime.Resolve(device);
        // bf16 base weights on a GPU (the LoRA branch still runs in float32); float32 on the CPU.
        var dtype = dev.type == DeviceType.CUDA ? ScalarType.BFloat16 : ScalarType.Float32;
        using var model = MedGemmaModel.Load(modelFolder, dev, dtype, cancellationToken: cancellationToken);
        var trainer = new LoraTrainer(model, PromptBuilder.FromModelFolder(modelFolder), ImagePreprocessor.FromModelFolder(modelFolder));
        return trainer.Train(train, val, options, progress, cancellationToken, modelFolder);
    }

    /// <summary>Trains a new adapter on the loaded model; it stays attached (and active) under <paramref name="adapterName"/> afterwards.</summary>
    public TrainingResult Train(IReadOnlyList<CaptionSample> train, IReadOnlyList<CaptionSample> validation, TrainingOptions options,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default, string? baseModelName = null, PromptOptions? promptOptions = null,
        string adapterName = AdapterName)
    {
        options.Validate();
        var preparer = new CaptionSamplePreparer(prompts, images,
            promptOptions ?? new PromptOptions { Instruction = options.Instruction, SystemPrompt = options.SystemPrompt }, options.LossOn, options.ImageOptions);
        var lora = LoraModel.Of(model);
        var config = LoraConfigFor(options, baseModelName);
        // lora_A's Kaiming-uniform initialisation draws from the global generator: seed it so the same Seed
        // trains the same adapter (a resumed run overwrites A from its checkpoint anyway).
        TorchRuntime.ManualSeed(options.Seed);
        lora.AddAdapter(adapterName, config);
        lora.SetActive(adapterName);
        var task = new Gemma3TrainingTask(model.Network,
            (isValidation, i) => preparer.Prepare(isValidation ? validation[i] : train[i]),
            train.Count, validation.Count, prompts.Tokenizer.PadId);
        // Decoder layers are recomputed in backward instead of keeping their activations (same loss and gradients).
        var checkpointingBefore = model.Network.GradientCheckpointing;
        model.Network.GradientCheckpointing = options.GradientCheckpointing;
        try
        {
            return new TrainingLoop(task, lora, adapterName, options, progress).Run(cancellationToken);
        }
        catch
        {
            // A failed run leaves no half-trained adapter attached, so the next run can start (a resume reloads it).
            lora.RemoveAdapter(adapterName);
            throw;
        }
        finally
        {
            model.Network.GradientCheckpointing = checkpointingBefore;
            model.Network.eval();
        }
    }

    public static LoraConfig LoraConfigFor(TrainingOptions o, string? baseModelName = null)
    {
        var config = new LoraConfig
        {
            R = o.Rank, Alpha = o.EffectiveAlpha, Dropout = o.Dropout, TargetModules = o.TargetModules.ToArray(),
            UseRsLora = o.UseRsLora, BaseModelNameOrPath = baseModelName,
        };
        return o.LanguageModelOnly ? config.RestrictToLanguageModel() : config;
    }
}
