using static TorchSharp.torch;

namespace MedGemma.Engine.Generation;

/// <summary>
/// One decode step recorded once and replayed (<see cref="DecodeStepMode.CudaGraph"/>): what <see cref="TokenGenerator"/>
/// needs of a graph, so the generator's warm-up, capture, replay and fallback logic runs (and is tested) without a GPU.
/// A replay reruns the recorded device work only: every host-side value the step used is the one it had at capture.
/// </summary>
internal interface IStepGraph : IDisposable
{
    /// <summary>How many ordinary steps to run through <see cref="WarmUp"/> before the capture.</summary>
    int WarmUpSteps { get; }

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
