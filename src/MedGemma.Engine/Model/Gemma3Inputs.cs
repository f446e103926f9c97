using MedGemma.Engine.Generation;
using static TorchSharp.torch;

namespace MedGemma.Engine.Model;

/// <summary>One forward's inputs, with transformers' names and meanings. Only <see cref="InputIds"/> is required.</summary>
public sealed record Gemma3Inputs
{
    /// <summary>(B, n) token ids; image positions hold the image token id.</summary>
    public required Tensor InputIds { get; init; }
    /// <summary>(images, 3, S, S) normalised pixels; one image per run of image tokens, in order.</summary>
    public Tensor? PixelValues { get; init; }
    /// <summary>(B, n) or (B, cached + n); 0 marks (left) padding.</summary>
    public Tensor? AttentionMask { get; init; }
    /// <summary>(B, n), 1 on image tokens: makes each image block attend to itself bidirectionally.</summary>
    public Tensor? TokenTypeIds { get; init; }
    /// <summary>(B, n) RoPE positions; default continues from the cache (0.. for a fresh sequence).</summary>
    public Tensor? PositionIds { get; init; }
    /// <summary>(B, n) targets; -100 is ignored. When given, <see cref="ForwardOutput.Loss"/> is the causal-LM loss.</summary>
    public Tensor? Labels { get; init; }
    /// <summary>Cache to read and extend; null for a plain (training or scoring) forward.</summary>
    public KvCache? Cache { get; init; }
    /// <summary>Compute logits for the last N positions only; 0 = all.</summary>
    public int LogitsToKeep { get; init; }
    /// <summary>
    /// With <see cref="Labels"/>: compute the lm_head only on the positions whose shifted label counts in the loss
    /// (the same loss and gradients, without the (B, n, vocab) float32 logits). <see cref="ForwardOutput.Logits"/>
    /// is then (labelled positions, vocab), in (row, position) order. What training uses.
    /// </summary>
    public bool LogitsOnLabelsOnly { get; init; }
}

/// <summary>Forward results; dispose to free them (or let the enclosing dispose scope do it).</summary>
public sealed class ForwardOutput : IDisposable
{
    /// <summary>
    /// (B, kept positions, vocab) in the model dtype (float32 when a loss was computed); with
    /// <see cref="Gemma3Inputs.LogitsOnLabelsOnly"/>, (labelled positions, vocab) float32.
    /// </summary>
    public required Tensor Logits { get; init; }
    /// <summary>Scalar mean cross-entropy over shifted labels != -100, float32.</summary>
    public Tensor? Loss { get; init; }
    /// <summary>(images, mm_tokens_per_image, hidden) when pixel values were given.</summary>
    public Tensor? ImageFeatures { get; init; }

    public void Dispose()
    {
        Logits.Dispose();
        Loss?.Dispose();
        ImageFeatures?.Dispose();
    }
}
