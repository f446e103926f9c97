using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Runtime;

/// <summary>
/// The gradients that our custom autograd functions (the gradient-checkpointing wrappers) hand back to libtorch.
/// TorchSharp's backward bridge copies a returned tensor into libtorch's gradient list but leaves the managed handle
/// to the garbage collector, which runs rarely because a handle is a small object: each handle keeps a layer's input
/// gradient alive (38 MB per SigLIP layer at 896 px, batch 4), so device memory grew by gigabytes per step until a
/// collection. libtorch has read a returned handle as soon as the bridge returns, so each backward call (and the
/// trainer after a backward pass) disposes the handles returned before it.
/// </summary>
internal static class ReturnedGradients
{
    static readonly object Gate = new();
    static List<Tensor> pending = new();

    /// <summary>Records a gradient about to be returned from a custom backward; returns it.</summary>
    public static Tensor Hand(Tensor gradient)
    {
        lock (Gate) pending.Add(gradient);
        return gradient;
    }

    /// <summary>Disposes the handles returned by earlier backward calls (libtorch has its own references by now).</summary>
    public static void ReleaseConsumed()
    {
        List<Tensor> old;
        lock (Gate)
        {
            if (pending.Count == 0) return;
            (old, pending) = (pending, new List<Tensor>());
        }
        foreach (var t in old) t.Dispose();
    }
}
