using System.Collections.Concurrent;
using TorchSharp;

namespace MedGemma.Engine.Runtime;

/// <summary>
/// Process-lifetime TorchSharp Scalars for the constants of hot paths (decode steps). An implicit double → Scalar
/// conversion (<c>x * 0.5</c>, <c>x + eps</c>) makes a temporary that nothing references once its handle is passed
/// to native code, so its finaliser may free it while libtorch still reads it; these never are. Only for values from
/// a small fixed set (config constants, ids), never per-step values: the cache never shrinks.
/// </summary>
internal static class HeldScalars
{
    static readonly ConcurrentDictionary<double, Scalar> reals = new();
    static readonly ConcurrentDictionary<long, Scalar> integers = new();
    static readonly ConcurrentDictionary<bool, Scalar> booleans = new();

    /// <summary>A floating-point Scalar (an integer tensor combined with it promotes to floating point).</summary>
    public static Scalar Real(double value) => reals.GetOrAdd(value, v => v.ToScalar());

    /// <summary>An integer Scalar (keeps integer tensors integer).</summary>
    public static Scalar Integer(long value) => integers.GetOrAdd(value, v => v.ToScalar());

    public static Scalar Boolean(bool value) => booleans.GetOrAdd(value, v => v.ToScalar());
}
