using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Runtime;

/// <summary>
/// What a gradient-checkpointed segment's forward ran with, so that its recomputation in backward computes the same:
/// <list type="bullet">
/// <item>The random state, so the recomputation draws the same dropout masks (torch.utils.checkpoint's
/// preserve_rng_state); otherwise LoRA dropout would give backward other masks than the loss saw. CPU: the default
/// generator's state, set for the recomputation and put back after it, so later draws are those of a run without
/// checkpointing. CUDA: TorchSharp cannot read the CUDA generator's state, so the forward reseeds it with a seed drawn
/// from the CPU generator (deterministic under manual_seed) and the recomputation reseeds it with the same seed. Every
/// GPU's generator is reseeded (manual_seed_all): torch.cuda.manual_seed seeds only the calling thread's current GPU,
/// and backward runs on libtorch's thread for the tensor's GPU, which on cuda:N (N ≠ 0) is not the forward's current one.</item>
/// <item>The caller's async-local settings (<see cref="Text.Gemma3RMSNorm.Fused"/>, <see cref="Text.Gemma3Attention.Kernel"/>
/// overrides): on a GPU backward runs on libtorch's own thread, which does not see them, so a recomputation there
/// would run the defaults instead of the ops its forward ran.</item>
/// </list>
/// </summary>
internal sealed class CheckpointState
{
    readonly byte[]? cpuState;
    readonly long cudaSeed;
    readonly ExecutionContext? flow;

    CheckpointState(byte[]? cpuState, long cudaSeed)
    {
        this.cpuState = cpuState;
        this.cudaSeed = cudaSeed;
        flow = ExecutionContext.Capture();
    }

    /// <summary>Call right before the segment's forward on <paramref name="device"/>.</summary>
    public static CheckpointState Capture(Device device)
    {
        if (device.type != DeviceType.CUDA)
        {
            using var state = torch.get_rng_state();
            return new CheckpointState(state.data<byte>().ToArray(), 0);
        }
        long seed;
        using (var draw = torch.randint(long.MaxValue, new long[] { 1 }, dtype: ScalarType.Int64)) seed = draw.item<long>();
        torch.cuda.manual_seed_all(seed);
        return new CheckpointState(null, seed);
    }

    /// <summary>Runs <paramref name="recompute"/> with the random state and the async-local settings the forward had.</summary>
    public void Replay(Action recompute)
    {
        if (flow is null) WithRandomState(recompute);
        else ExecutionContext.Run(flow, _ => WithRandomState(recompute), null);
    }

    void WithRandomState(Action recompute)
    {
        if (cpuState is null)
        {
            torch.cuda.manual_seed_all(cudaSeed);
            recompute();
            return;
        }
        using var now = torch.get_rng_state();
        using (var saved = torch.tensor(cpuState)) torch.set_rng_state(saved);
        try { recompute(); }
        finally { torch.set_rng_state(now); }
    }
}
