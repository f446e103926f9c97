using MedGemma.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Generation;

/// <summary>
/// <see cref="IStepGraph"/> over libtorch's CUDA graph (<see cref="CudaGraph"/>). Warm-up and capture run on a side
/// stream from libtorch's pool (CUDA cannot capture the default stream, and per-stream lazy setup such as cuBLAS
/// workspaces must happen before the capture), fenced by device synchronisations on both sides; replays run on the
/// caller's stream, ordered with the rest of its work. A step shape (<see cref="StepShape"/>) is proven once a capture
/// succeeded and its first replay agreed with a plain step: every lazily made kernel, workspace and TorchScript
/// specialisation for it then exists, so later graphs of that shape skip the warm-up (each a full host-bound step).
/// </summary>
internal sealed class CudaStepGraph : IStepGraph
{
    readonly Device device;
    readonly int index;
    readonly CudaGraph.CudaStream side;
    readonly string shape;
    CudaGraph? graph;
    Tensor? output;

    // One side stream per device for the process: per-stream lazy setup then happens once.
    static readonly Dictionary<int, CudaGraph.CudaStream> sideStreams = new();
    // Step shapes proven in this process.
    static readonly HashSet<string> provenShapes = new();

    CudaStepGraph(Device device, string shape)
    {
        this.device = device;
        this.shape = shape;
        index = Math.Max(0, (int)device.index);
        lock (sideStreams)
        {
            if (!sideStreams.TryGetValue(index, out side)) sideStreams[index] = side = CudaGraph.SideStream(index);
        }
        lock (provenShapes) Unproven = !provenShapes.Contains(shape);
    }

    /// <summary>
    /// A graph for <paramref name="device"/>, or null with why not (not CUDA, libtorch's graph entry points missing).
    /// <paramref name="stepShape"/> names everything that changes the recorded kernels (see <see cref="StepShape"/>).
    /// </summary>
    public static CudaStepGraph? TryCreate(Device device, string stepShape, out string? why)
    {
        why = device.type != DeviceType.CUDA ? $"CUDA graphs need a CUDA device, not {device.type}" : CudaGraph.Unavailable;
        if (why is not null) return null;
        try
        {
            var g = new CudaStepGraph(device, stepShape);
            // Every stream call the steps make, tried once here (current stream set to itself): a libtorch that
            // refuses one fails now, before any step ran, not halfway through a warm-up.
            CudaGraph.UseStream(CudaGraph.UseStream(g.side, g.index), g.index);
            return g;
        }
        catch (NativeCallException e)
        {
            why = e.Message;
            return null;
        }
    }

    /// <summary>What a recorded step's kernels depend on besides the weights: batch, cache length, padding masks, attention kernel, scripted layers.</summary>
    public static string StepShape(Device device, int batch, KvCache cache) =>
        $"{device}|B{batch}|L{cache.MaxLength}|W{cache.SlidingWindow}|pad {cache.MayHavePadding}|{Text.Gemma3Attention.Kernel}|script {Text.Gemma3DecoderLayer.ScriptedDecode}";

    public bool Unproven { get; }

    public void MarkProven()
    {
        lock (provenShapes) provenShapes.Add(shape);
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
        // A replay still in flight (a cancelled generation) must not meet its memory pool released under it.
        if (graph is not null) torch.cuda.synchronize(device);
        output?.Dispose();
        output = null;
        graph?.Dispose();
        graph = null;
    }
}
