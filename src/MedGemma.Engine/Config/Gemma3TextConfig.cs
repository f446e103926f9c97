namespace MedGemma.Engine.Config;

/// <summary>RoPE settings of one attention type: base frequency and linear position scaling (1 = none).</summary>
public sealed record RopeParameters(double Theta, double LinearFactor = 1.0);

/// <summary>
/// The Gemma 3 text decoder's hyper-parameters, normalised from either config.json layout
/// (transformers 5 <c>layer_types</c>/<c>rope_parameters</c> or the published <c>sliding_window_pattern</c>/<c>rope_theta</c>).
/// </summary>
public sealed record Gemma3TextConfig
{
    public int VocabSize { get; init; } = 262208;
    public int HiddenSize { get; init; } = 2304;
    public int IntermediateSize { get; init; } = 9216;
    public int NumHiddenLayers { get; init; } = 26;
    public int NumAttentionHeads { get; init; } = 8;
    public int NumKeyValueHeads { get; init; } = 4;
    public int HeadDim { get; init; } = 256;
    public double QueryPreAttnScalar { get; init; } = 256;
    public double RmsNormEps { get; init; } = 1e-6;
    public int SlidingWindow { get; init; } = 4096;
    public int MaxPositionEmbeddings { get; init; } = 131072;
    public bool AttentionBias { get; init; }
    public double? AttnLogitSoftcapping { get; init; }
    public double? FinalLogitSoftcapping { get; init; }
    public int PadTokenId { get; init; }
    /// <summary>One entry per layer: true where the layer uses sliding-window attention.</summary>
    public IReadOnlyList<bool> SlidingLayers { get; init; } = Array.Empty<bool>();
    public RopeParameters GlobalRope { get; init; } = new(1_000_000.0);
    public RopeParameters LocalRope { get; init; } = new(10_000.0);

    public bool IsSliding(int layer) => SlidingLayers[layer];
}

/// <summary>SigLIP vision tower hyper-parameters (no pooling head: Gemma 3 uses the last hidden state).</summary>
public sealed record SiglipVisionConfig
{
    public int HiddenSize { get; init; } = 768;
    public int IntermediateSize { get; init; } = 3072;
    public int NumHiddenLayers { get; init; } = 12;
    public int NumAttentionHeads { get; init; } = 12;
    public int NumChannels { get; init; } = 3;
    public int ImageSize { get; init; } = 224;
    public int PatchSize { get; init; } = 16;
    public double LayerNormEps { get; init; } = 1e-6;

    public int PatchesPerSide => ImageSize / PatchSize;
    public int NumPatches => PatchesPerSide * PatchesPerSide;
    public int HeadDim => HiddenSize / NumAttentionHeads;
}
