using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Runtime;

/// <summary>
/// The random state a gradient-checkpointed segment ran its forward with, so that its recomputation in backward
/// draws the same dropout masks (torch.utils.checkpoint's preserve_rng_state); otherwise LoRA dropout would give
/// backward other masks than the loss saw. CPU: the default generator's state, set for the recomputation and put
/// back after it, so later draws are those of a run without checkpointing. CUDA: TorchSharp cannot read the CUDA
/// generator's state, so the forward reseeds it with a seed drawn from the CPU generator (deterministic under
/// manual_seed) and the recomputation reseeds it with the same seed. Every GPU's generator is reseeded (manual_seed_all):
/// torch.cuda.manual_seed seeds only the calling thread's current GPU, and backward runs on libtorch's thread for the
/// tensor's GPU, which on cuda:N (N ≠ 0) is not the forward's current one.
/// </summary>
internal sealed class CheckpointRng
{
    readonly byte[]? cpuState;
    readonly long cudaSeed;

    CheckpointRng(byte[]? cpuState, long cudaSeed)
    {
        this.cpuState = cpuState;
        this.cudaSeed = cudaSeed;
    }

    /// <summary>Call right before the segment's forward on <paramref name="device"/>.</summary>
    public static CheckpointRng Capture(Device device)
    {
        if (device.type != DeviceType.CUDA)
        {
            using var state = torch.get_rng_state();
            return new CheckpointRng(state.data<byte>().ToArray(), 0);
        }
        long seed;
        using (var draw = torch.randint(long.MaxValue, new long[] { 1 }, dtype: ScalarType.Int64)) seed = draw.item<long>();
        torch.cuda.manual_seed_all(seed);
        return new CheckpointRng(null, seed);
    }

    /// <summary>Runs <paramref name="recompute"/> with the random state the forward had.</summary>
    public void Replay(Action recompute)
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
