using static TorchSharp.torch;

namespace MedGemma.Engine.Generation;

/// <summary>
/// One decode step recorded once and replayed (<see cref="DecodeStepMode.CudaGraph"/>): what <see cref="TokenGenerator"/>
/// needs of a graph, so the generator's warm-up, capture, replay and fallback logic runs (and is tested) without a GPU.
/// A replay reruns the recorded device work only: every host-side value the step used is the one it had at capture.
/// </summary>
internal interface IStepGraph : IDisposable
{
    /// <summary>
    /// True until a step of this shape was captured and its first replay agreed with a plain step in this process:
    /// the generator then runs warm-up steps before the capture and checks the first replay (<see cref="MarkProven"/>).
    /// </summary>
    bool Unproven { get; }

    /// <summary>Records that this shape's first replay agreed with a plain step: later graphs of the shape skip warm-up and check.</summary>
    void MarkProven();

    /// <summary>Runs <paramref name="step"/> as an ordinary step, the way the capture will see the device (its stream, its lazy setup).</summary>
    Tensor WarmUp(Func<Tensor> step);

    /// <summary>
    /// Records <paramref name="step"/> without running it: nothing it queues takes effect before the first
    /// <see cref="Replay"/>. Throws when the step cannot be recorded; the device state is then as before.
    /// </summary>
    void Capture(Func<Tensor> step);

    /// <summary>Runs the recorded step once; its result is then in <see cref="Output"/>.</summary>
    void Replay();

    /// <summary>The recorded step's result, rewritten in place by every <see cref="Replay"/> (owned by the graph).</summary>
    Tensor Output { get; }
}
