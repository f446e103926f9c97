using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MedGemma.Engine.Text;

/// <summary>
/// Token embedding multiplied by sqrt(hidden_size). transformers keeps the scale as a float32 buffer cast to the
/// embedding dtype at use, so in bfloat16 it is rounded (sqrt(3072) = 55.4256 becomes 55.5); we reproduce that.
/// The scale is not a state-dict entry.
/// </summary>
public sealed class Gemma3TextScaledWordEmbedding : nn.Module<Tensor, Tensor>
{
    readonly Parameter weight;
    readonly float embedScale;

    public Gemma3TextScaledWordEmbedding(long numEmbeddings, long embeddingDim, long paddingIdx, Device? device = null, ScalarType? dtype = null)
        : base(nameof(Gemma3TextScaledWordEmbedding))
    {
        embedScale = (float)Math.Sqrt(embeddingDim);
        weight = new Parameter(torch.empty(numEmbeddings, embeddingDim, dtype: dtype ?? ScalarType.Float32, device: device));
        using (torch.no_grad()) nn.init.normal_(weight, 0, 0.02);
        RegisterComponents();
    }

    public Parameter Weight => weight;

    public override Tensor forward(Tensor inputIds)
    {
        using var scope = torch.NewDisposeScope();
        // A CPU 0-dim tensor is passed to a CUDA kernel as an argument; one created on the device would be a
        // host-to-device copy that synchronises the stream on every forward (every decoded token).
        var scale = torch.tensor(embedScale, dtype: weight.dtype);
        // padding_idx only changes gradients in transformers; the forward is a plain lookup.
        var shape = inputIds.shape.Append(weight.shape[1]).ToArray();
        var e = weight.index_select(0, inputIds.reshape(-1)).reshape(shape) * scale;
        return e.MoveToOuterDisposeScope();
    }
}
