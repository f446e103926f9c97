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
    readonly Dictionary<ScalarType, Scalar> scales = new();

    public Gemma3TextScaledWordEmbedding(long numEmbeddings, long embeddingDim, long paddingIdx, Device? device = null, ScalarType? dtype = null)
        : base(nameof(Gemma3TextScaledWordEmbedding))
    {
        embedScale = (float)Math.Sqrt(embeddingDim);
        weight = new Parameter(torch.empty(numEmbeddings, embeddingDim, dtype: dtype ?? ScalarType.Float32, device: device));
        using (torch.no_grad()) nn.init.normal_(weight, 0, 0.02);
        RegisterComponents();
    }

    public Parameter Weight => weight;

    /// <summary>
    /// The scale rounded to the weight's dtype as transformers rounds it, held as a Scalar per dtype: x·Scalar computes
    /// like x·(0-dim tensor of that dtype) (one product in float, one rounding), with no tensor made per forward and
    /// nothing copied to the device (which would synchronise the stream on every decoded token).
    /// </summary>
    Scalar Scale(ScalarType dtype)
    {
        lock (scales)
        {
            if (!scales.TryGetValue(dtype, out var s))
            {
                using var rounded = torch.tensor(embedScale).to(dtype).to(ScalarType.Float64);
                s = rounded.item<double>().ToScalar();
                scales[dtype] = s;
            }
            return s;
        }
    }

    public override Tensor forward(Tensor inputIds)
    {
        using var scope = torch.NewDisposeScope();
        // padding_idx only changes gradients in transformers; the forward is a plain lookup (one indexing op, any id shape).
        var e = weight[TensorIndex.Tensor(inputIds)].mul_(Scale(weight.dtype));
        return e.MoveToOuterDisposeScope();
    }
}
