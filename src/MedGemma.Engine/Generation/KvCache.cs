using MedGemma.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Generation;

/// <summary>
/// Preallocated key/value cache. Global layers keep every position; sliding layers keep a ring of
/// <c>sliding_window</c> slots (position p lives in slot p mod W), so memory and attention cost per decode step
/// stay bounded. The host tracks how many positions were written (<see cref="Length"/>), so no device
/// value is ever read back; the padding mask of every cached position lives on the device.
/// </summary>
public sealed class KvCache : IDisposable
{
    readonly Tensor[] keys;
    readonly Tensor[] values;
    readonly bool[] ring;
    // [1] Int64 on the device: where a single new token goes (its position; its ring slot). Kept current by Advance.
    readonly Tensor writeSlot;
    readonly Tensor? ringSlot;

    public int BatchSize { get; }
    public int MaxLength { get; }
    public int SlidingWindow { get; }
    /// <summary>Positions written so far (cache index space, pads included).</summary>
    public int Length { get; private set; }
    /// <summary>
    /// [B, MaxLength] bool: which cached positions are real tokens (false for left padding). Positions not written
    /// yet read true; no attention mask ever lets a query see them.
    /// </summary>
    public Tensor Padding { get; }

    /// <summary>
    /// Host-side: whether any written segment came with an attention mask (which may hold padding). While false,
    /// every cached position is a real token and a decode step needs no padding mask, so none is built.
    /// </summary>
    public bool MayHavePadding { get; private set; }

    public KvCache(Config.Gemma3TextConfig config, int batchSize, int maxLength, Device device, ScalarType dtype)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize));
        if (maxLength <= 0) throw new ArgumentOutOfRangeException(nameof(maxLength));
        BatchSize = batchSize;
        MaxLength = maxLength;
        SlidingWindow = config.SlidingWindow;
        var n = config.NumHiddenLayers;
        keys = new Tensor[n];
        values = new Tensor[n];
        ring = new bool[n];
        for (var i = 0; i < n; i++)
        {
            ring[i] = config.IsSliding(i) && config.SlidingWindow < maxLength;
            long slots = ring[i] ? config.SlidingWindow : maxLength;
            keys[i] = torch.zeros(new long[] { batchSize, config.NumKeyValueHeads, slots, config.HeadDim }, dtype: dtype, device: device).DetachFromDisposeScope();
            values[i] = torch.zeros(new long[] { batchSize, config.NumKeyValueHeads, slots, config.HeadDim }, dtype: dtype, device: device).DetachFromDisposeScope();
        }
        writeSlot = torch.zeros(1, dtype: ScalarType.Int64, device: device).DetachFromDisposeScope();
        ringSlot = ring.Any(r => r) ? torch.zeros(1, dtype: ScalarType.Int64, device: device).DetachFromDisposeScope() : null;
        Padding = torch.ones(new long[] { batchSize, maxLength }, dtype: ScalarType.Bool, device: device).DetachFromDisposeScope();
    }

    public bool IsRing(int layer) => ring[layer];

    /// <summary>
    /// Device-step mode (<see cref="EnterDeviceSteps"/>): one-token steps take their cache position from the device
    /// counters instead of the host, attend to the whole preallocated buffers under a mask built on the device, and
    /// advance the counters on the device. Every shape and every host-side value of a step is then the same from one
    /// token to the next, so the step can be recorded once as a CUDA graph and replayed.
    /// </summary>
    public bool DeviceSteps { get; private set; }

    /// <summary>While set, <see cref="Advance"/> records only the device side (a step being recorded for replays).</summary>
    bool recording;

    /// <summary>
    /// Runs <paramref name="step"/> as a recorded device step (<see cref="IStepGraph"/>): the host count reads
    /// <paramref name="length"/> (the value baked into the recording, whatever the replays advanced since) and stays
    /// as it was afterwards; only the device counters advance, as they will in each replay.
    /// </summary>
    internal T Recording<T>(int length, Func<T> step)
    {
        if (!DeviceSteps) throw new InvalidOperationException("Only device steps can be recorded.");
        var (savedLength, savedRecording) = (Length, recording);
        Length = length;
        recording = true;
        try { return step(); }
        finally { Length = savedLength; recording = savedRecording; }
    }

    /// <summary>Switches to <see cref="DeviceSteps"/> (after the prompt; the device counters already point at the next position).</summary>
    public void EnterDeviceSteps() => DeviceSteps = true;

    /// <summary>Copies of the device counters (write slot, ring slot), for <see cref="RestoreDeviceCounters"/>.</summary>
    internal (Tensor Write, Tensor? Ring) SaveDeviceCounters() => (writeSlot.clone(), ringSlot?.clone());

    /// <summary>Puts back counters saved by <see cref="SaveDeviceCounters"/> (in place: recorded steps keep their addresses).</summary>
    internal void RestoreDeviceCounters((Tensor Write, Tensor? Ring) saved)
    {
        writeSlot.copy_(saved.Write);
        if (saved.Ring is not null) ringSlot!.copy_(saved.Ring);
    }

    /// <summary>The host's count of one replayed step (the device counters advanced inside the replay).</summary>
    internal void AdvanceHost()
    {
        CheckRoom(1);
        Length += 1;
    }

    /// <summary>[1] Int64 on the device: the cache index of the next one-token step.</summary>
    internal Tensor WriteSlot => writeSlot;

    /// <summary>
    /// Records the padding of the next <paramref name="count"/> positions ([B, count], nonzero = real token);
    /// null = all real, which needs no device work (unwritten positions already read true).
    /// </summary>
    internal void WritePadding(Tensor? segmentMask, int count)
    {
        CheckRoom(count);
        if (segmentMask is null) return;
        MayHavePadding = true;
        using var scope = torch.NewDisposeScope();
        Padding.narrow(1, Length, count).copy_(segmentMask);
    }

    void CheckRoom(int count)
    {
        if (Length + count > MaxLength)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "KvCacheFull",
                $"The KV cache holds {MaxLength} positions; {Length} are used and {count} more were given.", count);
    }

    /// <summary>
    /// Positions (cache index) of the keys that <see cref="Update"/> returns for a layer, for the
    /// next <paramref name="count"/> tokens; -1 marks a ring slot not written yet. A single token on a ring layer
    /// attends to the ring itself after its write (slot order), more tokens to the ring before the write plus themselves.
    /// </summary>
    internal Tensor KeyPositions(bool ringLayer, int count, Device device)
    {
        var t = Length;
        if (!ringLayer) return torch.arange(0, t + count, dtype: ScalarType.Int64, device: device);
        using var scope = torch.NewDisposeScope();
        var last = count == 1 ? t : t - 1;
        long w = SlidingWindow;
        var slots = torch.arange(0, w, dtype: ScalarType.Int64, device: device);
        // Latest position up to `last` stored in slot s: last - ((last - s) mod W); negative when never written.
        using var lastScalar = last.ToScalar();
        using var window = w.ToScalar();
        var slotPos = torch.remainder(slots.neg().add_(lastScalar), window).neg_().add_(lastScalar).clamp_min_(HeldScalars.Integer(-1));
        if (count == 1) return slotPos.MoveToOuterDisposeScope();
        var fresh = torch.arange(t, t + count, dtype: ScalarType.Int64, device: device);
        return torch.cat(new[] { slotPos, fresh }).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// What a one-token step of a layer writes and reads, for a step that does <see cref="Update"/>'s work itself
    /// (<see cref="Text.DecodeLayerScript"/>): the layer's key and value buffers, the [1] slot index to write, and how
    /// many leading positions to attend to after the write (-1 = the whole buffer, a ring).
    /// </summary>
    internal (Tensor Keys, Tensor Values, Tensor Slot, int AttendLength) StepTargets(int layer)
    {
        CheckRoom(1);
        if (DeviceSteps) return (keys[layer], values[layer], ring[layer] ? ringSlot! : writeSlot, -1);
        return ring[layer] ? (keys[layer], values[layer], ringSlot!, -1) : (keys[layer], values[layer], writeSlot, Length + 1);
    }

    /// <summary>Stores the new keys/values [B, Hkv, n, D] of a layer and returns the keys/values to attend to.</summary>
    internal (Tensor Keys, Tensor Values) Update(int layer, Tensor k, Tensor v)
    {
        var n = (int)k.shape[2];
        CheckRoom(n);
        var t = Length;
        if (n == 1)
        {
            // A decode step writes through the index tensors (no narrowed views per layer). A ring after the write
            // holds exactly the window (t-W+1..t): no concatenation.
            var slot = ring[layer] ? ringSlot! : writeSlot;
            keys[layer].index_copy_(2, slot, k);
            values[layer].index_copy_(2, slot, v);
            // Device steps attend to the whole buffer; the step's mask hides the positions not written yet.
            return ring[layer] || DeviceSteps ? (keys[layer], values[layer]) : (keys[layer].narrow(2, 0, t + 1), values[layer].narrow(2, 0, t + 1));
        }
        if (!ring[layer])
        {
            keys[layer].narrow(2, t, n).copy_(k);
            values[layer].narrow(2, t, n).copy_(v);
            return (keys[layer].narrow(2, 0, t + n), values[layer].narrow(2, 0, t + n));
        }
        long w = SlidingWindow;
        // Attend over the ring (older positions) plus the new tokens, then keep the newest W in the ring.
        var allK = torch.cat(new[] { keys[layer], k }, 2);
        var allV = torch.cat(new[] { values[layer], v }, 2);
        var m = (int)Math.Min(n, w);
        using (var scope = torch.NewDisposeScope())
        {
            var idx = torch.remainder(torch.arange(t + n - m, t + n, dtype: ScalarType.Int64, device: k.device), w);
            keys[layer].index_copy_(2, idx, k.narrow(2, n - m, m));
            values[layer].index_copy_(2, idx, v.narrow(2, n - m, m));
        }
        return (allK, allV);
    }

    /// <summary>Called once per forward after every layer stored its keys.</summary>
    internal void Advance(int count)
    {
        if (DeviceSteps && count == 1)
        {
            // On the device, so that a replayed step advances too; the host count follows outside a capture.
            using var scope = torch.NewDisposeScope();
            writeSlot.add_(HeldScalars.Integer(1));
            ringSlot?.copy_(torch.remainder(writeSlot, HeldScalars.Integer(SlidingWindow)));
            if (!recording) Length += 1;
            return;
        }
        Length += count;
        SetSlots();
    }

    /// <summary>Points the index tensors at the next position (fills on the device; nothing is copied from the host).</summary>
    void SetSlots()
    {
        if (Length >= MaxLength) return;
        using var next = ((long)Length).ToScalar();
        writeSlot.fill_(next);
        if (ringSlot is null) return;
        using var nextSlot = ((long)(Length % SlidingWindow)).ToScalar();
        ringSlot.fill_(nextSlot);
    }

    /// <summary>Forgets everything (the buffers are reused).</summary>
    public void Reset()
    {
        Length = 0;
        MayHavePadding = false;
        DeviceSteps = false;
        SetSlots();
        using var scope = torch.NewDisposeScope();
        Padding.fill_(true);
    }

    public void Dispose()
    {
        writeSlot.Dispose();
        ringSlot?.Dispose();
        foreach (var t in keys) t.Dispose();
        foreach (var t in values) t.Dispose();
        Padding.Dispose();
    }
}
