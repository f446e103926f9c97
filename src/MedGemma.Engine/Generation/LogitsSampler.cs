using MedGemma.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Generation;

/// <summary>Picks the next token from last-position logits (B, vocab), entirely on the device.</summary>
public static class LogitsSampler
{
    public static Tensor Next(Tensor logits, GenerationOptions o, torch.Generator? generator)
    {
        using var scope = torch.NewDisposeScope();
        // Greedy needs no float32 copy: the cast is exact and monotonic, so the argmax (first maximum) is the same.
        if (!o.DoSample) return logits.argmax(-1).MoveToOuterDisposeScope();
        var scores = logits.to(ScalarType.Float32);

        // Scalars owned here until the ops that read them return (an implicit conversion's temporary could be finalised early).
        using var temperature = o.Temperature.ToScalar();
        using var minusInfinity = float.NegativeInfinity.ToScalar();
        using var dropBelow = (1 - o.TopP).ToScalar();
        if (o.Temperature != 1.0) scores = scores / temperature;
        if (o.TopK > 0 && o.TopK < scores.shape[^1])
        {
            var kth = scores.topk(o.TopK, -1).values.narrow(-1, o.TopK - 1, 1);
            scores = scores.masked_fill(scores.lt(kth), minusInfinity);
        }
        if (o.TopP < 1.0)
        {
            // transformers: sort ascending, drop tokens whose cumulative probability stays <= 1 - top_p, keep the best.
            var (sorted, order) = scores.sort(-1, descending: false);
            var cumulative = sorted.softmax(-1).cumsum(-1);
            var remove = cumulative.le(dropBelow);
            remove.narrow(-1, remove.shape[^1] - 1, 1).fill_(HeldScalars.Boolean(false));
            var removeOriginal = remove.scatter(-1, order, remove);
            scores = scores.masked_fill(removeOriginal, minusInfinity);
        }
        var probs = scores.softmax(-1);
        // TorchSharp 0.107 generators are always CPU generators (THSGenerator_new ignores the device), and libtorch
        // refuses a CPU generator for a CUDA tensor: a draw with one happens on the CPU (one read of the probabilities
        // per step, so a host sync while sampling) and the ids go back to the logits' device. TokenGenerator passes
        // none on CUDA (the device's default generator draws there, without a sync).
        if (generator is not null && probs.device_type != DeviceType.CPU)
            return probs.cpu().multinomial(1, false, generator).squeeze(-1).to(logits.device).MoveToOuterDisposeScope();
        return probs.multinomial(1, false, generator).squeeze(-1).MoveToOuterDisposeScope();
    }
}
