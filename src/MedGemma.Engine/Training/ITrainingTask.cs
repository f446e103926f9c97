using static TorchSharp.torch;

namespace MedGemma.Engine.Training;

/// <summary>A collated batch ready for the model, and how many label tokens its loss averages over.</summary>
public sealed class TrainingBatch : IDisposable
{
    public TrainingBatch(IReadOnlyDictionary<string, Tensor> tensors, long labelTokens, int size)
    {
        Tensors = tensors;
        LabelTokens = labelTokens;
        Size = size;
    }

    public IReadOnlyDictionary<string, Tensor> Tensors { get; }
    /// <summary>Targets that count in the loss (labels != -100 after the causal shift).</summary>
    public long LabelTokens { get; }
    public int Size { get; }

    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
    }
}

/// <summary>
/// What the training loop needs from a model and its data: collate samples by index and compute the
/// mean loss of a batch. The loop owns order, accumulation, optimisation, validation and checkpoints.
/// </summary>
public interface ITrainingTask
{
    int TrainCount { get; }
    int ValidationCount { get; }
    TrainingBatch Collate(bool validation, IReadOnlyList<int> indices);
    /// <summary>Mean loss over the batch's label tokens (a scalar with a graph in train mode).</summary>
    Tensor Loss(TrainingBatch batch);
}
