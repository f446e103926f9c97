using MedGemma.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Generation;

/// <summary>
/// <see cref="IStepGraph"/> over libtorch's CUDA graph (<see cref="CudaGraph"/>). Warm-up and capture run on a side
/// stream from libtorch's pool (CUDA cannot capture the default stream, and per-stream lazy setup such as cuBLAS
/// workspaces must happen before the capture), fenced by device synchronisations on both sides; replays run on the
/// caller's stream, ordered with the rest of its work.
/// </summary>
internal sealed class CudaStepGraph : IStepGraph
{
    readonly Device device;
    readonly int index;
    readonly CudaGraph.CudaStream side;
    CudaGraph? graph;
    Tensor? output;

    CudaStepGraph(Device device)
    {
        this.device = device;
        index = Math.Max(0, (int)device.index);
        side = CudaGraph.SideStream(index);
    }

    /// <summary>A graph for <paramref name="device"/>, or null with why not (not CUDA, libtorch's graph entry points missing).</summary>
    public static CudaStepGraph? TryCreate(Device device, out string? why)
    {
        why = device.type != DeviceType.CUDA ? $"CUDA graphs need a CUDA device, not {device.type}" : CudaGraph.Unavailable;
        return why is null ? new CudaStepGraph(device) : null;
    }

    public Tensor WarmUp(Func<Tensor> step) => OnSideStream(() =>
    {
        var result = step();
        torch.cuda.synchronize(device);
        return result;
    });

    public void Capture(Func<Tensor> step)
    {
        if (graph is not null) throw new InvalidOperationException("The step is already captured.");
        var g = CudaGraph.TryCreate(out var why) ?? throw new InvalidOperationException(why);
        OnSideStream(() =>
        {
            Tensor? result = null;
            g.BeginCapture(index);
            try
            {
                result = step().DetachFromDisposeScope();
                g.EndCapture();
            }
            catch
            {
                // Nothing recorded ran; the graph is left undestroyed (see AbandonCapture).
                g.AbandonCapture();
                result?.Dispose();
                throw;
            }
            graph = g;
            output = result;
            return result;
        });
        torch.cuda.synchronize(device);
    }

    public void Replay()
    {
        if (graph is null) throw new InvalidOperationException("No step was captured.");
        graph.Replay();
    }

    public Tensor Output => output ?? throw new InvalidOperationException("No step was captured.");

    /// <summary>Runs <paramref name="work"/> with the side stream current, after the device finished what was queued before.</summary>
    Tensor OnSideStream(Func<Tensor> work)
    {
        torch.cuda.synchronize(device);
        var previous = CudaGraph.UseStream(side, index);
        try { return work(); }
        finally { CudaGraph.UseStream(previous, index); }
    }

    public void Dispose()
    {
        output?.Dispose();
        output = null;
        graph?.Dispose();
        graph = null;
    }
}
