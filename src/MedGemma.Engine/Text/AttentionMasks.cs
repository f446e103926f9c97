using MedGemma.Engine.Generation;
using MedGemma.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Text;

/// <summary>
/// Boolean attention masks (true = may attend), built on the device from positions, as transformers 5 builds them
/// for Gemma 3: global layers allow (causal OR same image block); sliding layers allow
/// (key inside the window, i.e. key > query - W) AND (causal OR same image block) — so an image token sees the rest
/// of its block ahead of it, but earlier tokens only within the window (measured against the reference; an image
/// larger than the window is not seen whole). Keys that are padding are never attended. Positions are cache
/// indices, not RoPE positions, so left padding shifts nothing.
/// </summary>
public static class AttentionMasks
{
    /// <summary>
    /// Image block ids [B, n]: consecutive runs of token_type_ids == 1 get 0, 1, 2...; text gets -1.
    /// </summary>
    public static Tensor ImageGroups(Tensor tokenTypeIds)
    {
        using var scope = torch.NewDisposeScope();
        var isImage = tokenTypeIds.eq(1);
        var previous = nn.functional.pad(isImage.to(ScalarType.Int64), new long[] { 1, 0 }).narrow(1, 0, isImage.shape[1]).to(ScalarType.Bool);
        var start = isImage.logical_and(previous.logical_not());
        var groups = start.to(ScalarType.Int64).cumsum(1) - 1;
        return torch.where(isImage, groups, torch.full_like(groups, -1)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Mask [B, 1, n, Lk] for queries at cache positions <paramref name="queryPos"/> [n] and keys at
    /// <paramref name="keyPos"/> [Lk] (-1 = empty slot). <paramref name="padding"/> [B, P] covers every key position.
    /// <paramref name="imageGroups"/> [B, n] (or null) are the current segment's blocks, which start at <paramref name="segmentStart"/>.
    /// </summary>
    public static Tensor Build(Tensor queryPos, Tensor keyPos, Tensor padding, int? slidingWindow, Tensor? imageGroups, long segmentStart)
    {
        using var scope = torch.NewDisposeScope();
        var q = queryPos.unsqueeze(1);   // (n, 1)
        var k = keyPos.unsqueeze(0);     // (1, Lk)
        var allowed = k.le(q).unsqueeze(0); // (1, n, Lk)

        if (imageGroups is not null)
        {
            var n = imageGroups.shape[1];
            var inSegment = keyPos.ge(segmentStart).logical_and(keyPos.lt(segmentStart + n));        // (Lk)
            var segIdx = (keyPos - segmentStart).clamp(0, n - 1);
            var keyGroups = imageGroups.index_select(1, segIdx);                                        // (B, Lk)
            keyGroups = torch.where(inSegment.unsqueeze(0), keyGroups, torch.full_like(keyGroups, -1));
            var qg = imageGroups.unsqueeze(2);                                                          // (B, n, 1)
            var same = qg.eq(keyGroups.unsqueeze(1)).logical_and(qg.ge(0));                             // (B, n, Lk)
            allowed = allowed.logical_or(same);
        }
        if (slidingWindow is int w) allowed = allowed.logical_and(k.gt(q - w).unsqueeze(0));

        var valid = keyPos.ge(0);
        var keyPadding = padding.index_select(1, keyPos.clamp_min(0)).logical_and(valid.unsqueeze(0)); // (B, Lk)
        var mask = allowed.logical_and(keyPadding.unsqueeze(1));                                         // (B, n, Lk)
        return mask.unsqueeze(1).MoveToOuterDisposeScope();
    }
    /// <summary>
    /// Mask [B, 1, 1, Lk] for one new token (no image block) at cache position t = <see cref="KvCache.Length"/>
    /// against the keys <see cref="KvCache.Update"/> returns, or null when it would allow every key. Built per
    /// decoded token, so it skips what cannot mask anything: every cached key is at or before t (causal), and
    /// inside the window (a non-ring layer holds fewer than W positions; a ring holds exactly t-W+1..t); only
    /// padding and ring slots not written yet remain. With neither, SDPA gets no mask and may take a faster kernel.
    /// </summary>
    public static Tensor? DecodeStep(KvCache cache, bool ringLayer, Device device)
    {
        if (cache.DeviceSteps) return DeviceStep(cache, ringLayer, device);
        var t = cache.Length;
        var b = cache.BatchSize;
        if (!ringLayer)
            return cache.MayHavePadding ? cache.Padding.narrow(1, 0, t + 1).view(b, 1, 1, t + 1) : null;
        if (!cache.MayHavePadding && t >= cache.SlidingWindow - 1) return null;
        using var scope = torch.NewDisposeScope();
        var keyPos = cache.KeyPositions(true, 1, device);
        var keyPadding = cache.Padding.index_select(1, keyPos.clamp_min(HeldScalars.Integer(0))).logical_and_(keyPos.ge(HeldScalars.Integer(0)));
        return keyPadding.view(b, 1, 1, keyPos.shape[0]).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The additive form of a boolean mask, as SDPA takes it: 0 where allowed, <paramref name="dtype"/>'s lowest value
    /// elsewhere, each row padded to a multiple of 16 elements in memory. Built once per forward and shared by every
    /// layer of an attention type. Given a boolean mask, SDPA converts it on every call (logical_not, a scalar fill and
    /// a where: 3 kernels per layer and decoded token), and its memory-efficient kernel copies a mask whose row stride
    /// is not a multiple of 16 (1-2 more). The lowest finite value, not SDPA's own -inf, suits every backend (cuDNN's
    /// conversion avoids -inf); a row with an allowed key gets the same weights either way (the masked exponentials
    /// underflow to 0), and a row without one is zeroed by the callers' guard either way.
    /// </summary>
    public static Tensor? Additive(Tensor? mask, ScalarType dtype)
    {
        if (mask is null) return null;
        using var scope = torch.NewDisposeScope();
        var shape = mask.shape.ToArray();
        var length = shape[^1];
        shape[^1] = (length + 15) / 16 * 16;
        var bias = torch.full(shape, HeldScalars.Real(Lowest(dtype)), dtype: dtype, device: mask.device).narrow(-1, 0, length);
        bias.masked_fill_(mask, HeldScalars.Real(0.0));
        return bias.MoveToOuterDisposeScope();
    }

    static double Lowest(ScalarType dtype) => dtype switch
    {
        ScalarType.BFloat16 => -3.3895313892515355e38,
        ScalarType.Float16 => -65504.0,
        ScalarType.Float32 => float.MinValue,
        ScalarType.Float64 => double.MinValue,
        _ => throw new ArgumentException($"An additive attention mask needs a floating dtype, not {dtype}.", nameof(dtype)),
    };

    /// <summary>
    /// The same mask for a device step (<see cref="KvCache.DeviceSteps"/>): against the whole buffer, from the
    /// device's cache index t (no host value), [B or 1, 1, 1, L]. A global buffer's index i holds position i, allowed
    /// when i ≤ t; ring slot s holds position t - ((t - s) mod W), allowed when written (≥ 0); then padding.
    /// </summary>
    static Tensor DeviceStep(KvCache cache, bool ringLayer, Device device)
    {
        using var scope = torch.NewDisposeScope();
        var t = cache.WriteSlot;
        Tensor allowed, keyPos;
        if (!ringLayer)
        {
            keyPos = torch.arange(0, cache.MaxLength, dtype: ScalarType.Int64, device: device);
            allowed = keyPos.le(t);
        }
        else
        {
            var slots = torch.arange(0, cache.SlidingWindow, dtype: ScalarType.Int64, device: device);
            keyPos = t - torch.remainder(t - slots, HeldScalars.Integer(cache.SlidingWindow));
            allowed = keyPos.ge(HeldScalars.Integer(0));
        }
        var lk = keyPos.shape[0];
        if (!cache.MayHavePadding) return allowed.view(1, 1, 1, lk).MoveToOuterDisposeScope();
        var padding = cache.Padding.index_select(1, keyPos.clamp_min(HeldScalars.Integer(0)));
        return padding.logical_and_(allowed.unsqueeze(0)).view(cache.BatchSize, 1, 1, lk).MoveToOuterDisposeScope();
    }
}
