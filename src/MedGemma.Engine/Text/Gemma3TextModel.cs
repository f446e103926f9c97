using MedGemma.Engine.Config;
using MedGemma.Engine.Generation;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MedGemma.Engine.Text;

/// <summary>The Gemma 3 decoder stack (transformers' Gemma3TextModel): embeddings, layers, final norm.</summary>
public sealed class Gemma3TextModel : nn.Module
{
    internal Gemma3TextScaledWordEmbedding embed_tokens;
    internal ModuleList<Gemma3DecoderLayer> layers;
    internal Gemma3RMSNorm norm;

    readonly Gemma3TextConfig config;
    readonly Gemma3RotaryEmbedding globalRope;
    readonly Gemma3RotaryEmbedding localRope;

    public Gemma3TextModel(Gemma3TextConfig c, Device? device = null, ScalarType? dtype = null) : base(nameof(Gemma3TextModel))
    {
        config = c;
        embed_tokens = new Gemma3TextScaledWordEmbedding(c.VocabSize, c.HiddenSize, c.PadTokenId, device, dtype);
        layers = new ModuleList<Gemma3DecoderLayer>(Enumerable.Range(0, c.NumHiddenLayers).Select(i => new Gemma3DecoderLayer(c, i, device, dtype)).ToArray());
        norm = new Gemma3RMSNorm(c.HiddenSize, c.RmsNormEps, device, dtype);
        globalRope = new Gemma3RotaryEmbedding(c.HeadDim, c.GlobalRope);
        localRope = new Gemma3RotaryEmbedding(c.HeadDim, c.LocalRope);
        RegisterComponents();
    }

    public Gemma3TextConfig Config => config;

    /// <summary>Recompute each decoder layer in backward instead of keeping its activations (training only).</summary>
    public bool GradientCheckpointing { get; set; }
    public Gemma3TextScaledWordEmbedding EmbedTokens => embed_tokens;
    public Gemma3RotaryEmbedding GlobalRope => globalRope;
    public Gemma3RotaryEmbedding LocalRope => localRope;

    /// <summary>
    /// Runs the decoder on <paramref name="inputsEmbeds"/> (B, n, C) and returns the normed hidden states.
    /// <paramref name="attentionMask"/> is (B, n) for this segment or (B, cached + n) as transformers passes it;
    /// <paramref name="imageGroups"/> (B, n) from <see cref="AttentionMasks.ImageGroups"/> makes image blocks bidirectional.
    /// Without <paramref name="positionIds"/> positions continue from the cache (0, 1, 2... for a fresh sequence).
    /// </summary>
    public Tensor forward(Tensor inputsEmbeds, Tensor? attentionMask = null, Tensor? positionIds = null, Tensor? imageGroups = null, KvCache? cache = null)
    {
        using var scope = torch.NewDisposeScope();
        var device = inputsEmbeds.device;
        var b = inputsEmbeds.shape[0];
        var n = (int)inputsEmbeds.shape[1];
        var start = cache?.Length ?? 0;

        // No attention mask = every token of the segment is real, known on the host: no padding to record, and
        // every query sees at least its own key.
        Tensor? segmentMask;
        if (attentionMask is null) segmentMask = null;
        else if (attentionMask.shape[1] == n) segmentMask = Bool(attentionMask);
        else if (attentionMask.shape[1] == start + n) segmentMask = Bool(attentionMask.narrow(1, start, n));
        else throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "AttentionMaskShape",
            $"attention_mask has {attentionMask.shape[1]} columns; expected {n} or {start + n}.", "attention_mask");

        positionIds ??= torch.arange(start, start + n, dtype: ScalarType.Int64, device: device).unsqueeze(0).expand(b, n);
        cache?.WritePadding(segmentMask, n);
        var (globalMask, localMask) = cache is not null && n == 1 && imageGroups is null
            ? (AttentionMasks.DecodeStep(cache, false, device), AttentionMasks.DecodeStep(cache, cache.SlidingWindow < cache.MaxLength, device))
            : SegmentMasks(b, n, start, segmentMask, imageGroups, cache, device);

        var positions = Gemma3RotaryEmbedding.PositionColumn(positionIds);
        var (gcos, gsin) = globalRope.FromPositionColumn(positions, inputsEmbeds.dtype);
        var (lcos, lsin) = localRope.FromPositionColumn(positions, inputsEmbeds.dtype);
        // Additive masks once here when the layers attend through SDPA, instead of SDPA converting a boolean one in each.
        var sdpa = Gemma3Attention.UseSdpa(inputsEmbeds, globalMask ?? localMask, config.AttnLogitSoftcapping);
        var ctx = new AttentionContext
        {
            GlobalCos = gcos, GlobalSin = gsin, LocalCos = lcos, LocalSin = lsin,
            GlobalMask = globalMask, LocalMask = localMask, RowsNeverEmpty = segmentMask is null, Sdpa = sdpa,
            GlobalSdpaMask = sdpa ? AttentionMasks.Additive(globalMask, inputsEmbeds.dtype) : null,
            LocalSdpaMask = sdpa ? AttentionMasks.Additive(localMask, inputsEmbeds.dtype) : null,
            Cache = cache,
        };

        var hidden = inputsEmbeds;
        var checkpoint = GradientCheckpointing && training && torch.is_grad_enabled() && cache is null;
        // The checkpointed function only back-propagates when its input needs a gradient; with a frozen embedding
        // (LoRA) it would not, so make the input a leaf that does.
        if (checkpoint && !hidden.requires_grad) hidden = hidden.detach().requires_grad_(true);
        foreach (var layer in layers)
        {
            if (!checkpoint) { hidden = layer.forward(hidden, ctx); continue; }
            var sliding = layer.IsSliding;
            hidden = DecoderLayerCheckpoint.Run(hidden, sliding ? lcos : gcos, sliding ? lsin : gsin, sliding ? ctx.LocalMask! : ctx.GlobalMask!,
                sliding ? ctx.LocalSdpaMask : ctx.GlobalSdpaMask, sdpa, layer);
        }
        cache?.Advance(n);
        return norm.call(hidden).MoveToOuterDisposeScope();
    }

    static Tensor Bool(Tensor mask) => mask.dtype == ScalarType.Bool ? mask : mask.to(ScalarType.Bool);

    /// <summary>Global and sliding masks for a segment (a prompt, a training batch, or a step with image blocks).</summary>
    (Tensor Global, Tensor Local) SegmentMasks(long b, int n, int start, Tensor? segmentMask, Tensor? imageGroups, KvCache? cache, Device device)
    {
        var queryPos = torch.arange(start, start + n, dtype: ScalarType.Int64, device: device);
        Tensor padding, globalKeys, localKeys;
        if (cache is not null)
        {
            padding = cache.Padding;
            globalKeys = cache.KeyPositions(false, n, device);
            localKeys = cache.KeyPositions(cache.SlidingWindow < cache.MaxLength, n, device);
        }
        else
        {
            padding = segmentMask ?? torch.ones(b, n, dtype: ScalarType.Bool, device: device);
            globalKeys = localKeys = queryPos;
        }
        return (AttentionMasks.Build(queryPos, globalKeys, padding, null, imageGroups, start),
                AttentionMasks.Build(queryPos, localKeys, padding, config.SlidingWindow, imageGroups, start));
    }
}
