using MedGemma.Engine.Model;
using MedGemma.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Training;

/// <summary>One example as the model takes it: ids, token types (1 on image tokens), labels (-100 = ignored) and CHW pixels.</summary>
public sealed record PreparedSample(long[] InputIds, long[] TokenTypeIds, long[] Labels, float[] PixelValues);

/// <summary>
/// Training on Gemma3ForConditionalGeneration: samples are prepared lazily (images are large), padded on
/// the RIGHT so every row keeps positions 0.. as at inference on one prompt, and the loss is the model's
/// causal-LM loss (shifted, padding dropped, mean over labels != -100).
/// </summary>
public sealed class Gemma3TrainingTask : ITrainingTask
{
    public const long IgnoreIndex = -100;
    readonly Gemma3ForConditionalGeneration network;
    readonly Func<bool, int, PreparedSample> prepare;
    readonly long padId;

    /// <summary><paramref name="prepare"/> (validation?, index) → sample is called for the samples of a batch from several threads at once.</summary>
    public Gemma3TrainingTask(Gemma3ForConditionalGeneration network, Func<bool, int, PreparedSample> prepare, int trainCount, int validationCount, long padId)
    {
        this.network = network;
        this.prepare = prepare;
        this.padId = padId;
        TrainCount = trainCount;
        ValidationCount = validationCount;
    }

    public int TrainCount { get; }
    public int ValidationCount { get; }

    public TrainingBatch Collate(bool validation, IReadOnlyList<int> indices)
    {
        // Samples are prepared on several cores (image decoding dominates): a batch of large images prepared one by one
        // takes longer than the GPU's step. The preparer must be thread-safe (CaptionSamplePreparer is).
        var samples = OrderedParallel.Map(indices.Count, k => prepare(validation, indices[k]));
        int b = samples.Length, n = samples.Max(s => s.InputIds.Length);
        var ids = new long[b * n];
        var types = new long[b * n];
        var labels = new long[b * n];
        var mask = new long[b * n];
        Array.Fill(ids, padId);
        Array.Fill(labels, IgnoreIndex);
        long tokens = 0;
        for (int r = 0; r < b; r++)
        {
            var s = samples[r];
            s.InputIds.CopyTo(ids, r * n);
            s.TokenTypeIds.CopyTo(types, r * n);
            s.Labels.CopyTo(labels, r * n);
            Array.Fill(mask, 1L, r * n, s.InputIds.Length);
            for (int i = 1; i < s.Labels.Length; i++) if (s.Labels[i] != IgnoreIndex) tokens++;
        }
        var per = samples[0].PixelValues.Length;
        if (samples.Any(s => s.PixelValues.Length != per))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "PixelValuesShape", "Samples of one batch have images of different sizes.");
        var size = (long)Math.Round(Math.Sqrt(per / 3.0));
        var pixels = new float[b * per];
        for (int r = 0; r < b; r++) samples[r].PixelValues.CopyTo(pixels, r * per);
        var device = network.Device;
        var tensors = new Dictionary<string, Tensor>
        {
            ["input_ids"] = tensor(ids, new long[] { b, n }, device: device),
            ["token_type_ids"] = tensor(types, new long[] { b, n }, device: device),
            ["labels"] = tensor(labels, new long[] { b, n }, device: device),
            ["attention_mask"] = tensor(mask, new long[] { b, n }, device: device),
            ["pixel_values"] = tensor(pixels, new long[] { b, 3, size, size }, device: device).to(network.DType),
        };
        return new TrainingBatch(tensors, tokens, b);
    }

    public Tensor Loss(TrainingBatch batch)
    {
        var t = batch.Tensors;
        using var output = network.Forward(new Gemma3Inputs
        {
            InputIds = t["input_ids"], TokenTypeIds = t["token_type_ids"], AttentionMask = t["attention_mask"],
            PixelValues = t["pixel_values"], Labels = t["labels"], LogitsOnLabelsOnly = true,
        });
        // Keep the loss alive past the output's disposal.
        return output.Loss!.alias();
    }
}
