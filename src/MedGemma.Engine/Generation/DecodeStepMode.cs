namespace MedGemma.Engine.Generation;

/// <summary>How <see cref="TokenGenerator"/> runs the one-token steps after the prompt.</summary>
public enum DecodeStepMode
{
    /// <summary>The host tracks the cache position: each step attends to exactly the positions written so far.</summary>
    Host,
    /// <summary>
    /// The device tracks it (<see cref="KvCache.DeviceSteps"/>): each step attends to the whole preallocated cache under
    /// a mask built on the device, so every step has the same shapes and host-side values. The same tokens as Host.
    /// </summary>
    Device,
    /// <summary>
    /// Device steps recorded once as a CUDA graph and replayed: one launch per token instead of thousands, for
    /// decoding that is bound by host time per kernel launch. CUDA only; elsewhere (or when libtorch's graph entry
    /// points are missing, or the capture fails) it runs as Device, and <see cref="TokenGenerator.CudaGraphUnavailable"/> says why.
    /// The first replay of each step shape in a process is checked against a plain step; a disagreement stops graphs
    /// for the process. Not yet measured on a GPU.
    /// </summary>
    CudaGraph,
    /// <summary>The default: <see cref="CudaGraph"/> on a CUDA device, <see cref="Host"/> elsewhere (where host steps are the faster).</summary>
    Auto,
}
