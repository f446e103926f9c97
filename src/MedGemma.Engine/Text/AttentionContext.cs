using MedGemma.Engine.Generation;
using static TorchSharp.torch;

namespace MedGemma.Engine.Text;

/// <summary>What every decoder layer of one forward shares: RoPE tables and masks per attention type, and the cache.</summary>
public sealed class AttentionContext
{
    /// <summary>[B, 1, n, D] cos and signed sin from <see cref="Gemma3RotaryEmbedding.Forward"/>, per attention type.</summary>
    public required Tensor GlobalCos { get; init; }
    public required Tensor GlobalSin { get; init; }
    public required Tensor LocalCos { get; init; }
    public required Tensor LocalSin { get; init; }
    /// <summary>[B, 1, n, Lk] bool masks (true = attend) for global and sliding layers; null = every key allowed.</summary>
    public required Tensor? GlobalMask { get; init; }
    public required Tensor? LocalMask { get; init; }
    /// <summary>
    /// Whether the layers attend through SDPA (<see cref="Gemma3Attention.UseSdpa"/>), decided once per forward by the
    /// text model. A checkpointed layer's recomputation runs with gradients on, and on a GPU on libtorch's own thread
    /// (where a caller's <see cref="Gemma3Attention.Kernel"/> override is not seen), so deciding again there could pick
    /// another kernel than its forward ran.
    /// </summary>
    public required bool Sdpa { get; init; }
    /// <summary>
    /// The same masks in SDPA's additive form (<see cref="AttentionMasks.Additive"/>), built once per forward when the
    /// layers attend through SDPA; null = give SDPA the boolean mask (it then converts it in every layer).
    /// </summary>
    public Tensor? GlobalSdpaMask { get; init; }
    public Tensor? LocalSdpaMask { get; init; }
    /// <summary>
    /// Every query is a real token and so sees at least its own key: no attention row is fully masked, and the
    /// guard that zeroes such rows (3 ops per layer) is skipped.
    /// </summary>
    public bool RowsNeverEmpty { get; init; }
    public KvCache? Cache { get; init; }
}
