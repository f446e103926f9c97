namespace MedGemma.Engine.Runtime;

/// <summary>
/// Recognises libtorch allocation failures. TorchSharp surfaces them as ExternalException carrying
/// libtorch's message ("CUDA out of memory", "DefaultCPUAllocator: can't allocate memory"), and
/// .NET itself may throw OutOfMemoryException; all of them become ResourceUnavailable.
/// </summary>
public static class TorchErrors
{
    static readonly string[] OomMarkers =
    {
        "out of memory",
        "can't allocate memory",
        "cannot allocate memory",
        "CUBLAS_STATUS_ALLOC_FAILED",
        "CUDNN_STATUS_ALLOC_FAILED",
    };

    public static bool IsOutOfMemory(Exception e) =>
        e is OutOfMemoryException
        || (e is System.Runtime.InteropServices.ExternalException && OomMarkers.Any(m => e.Message.Contains(m, StringComparison.OrdinalIgnoreCase)));

    /// <param name="doing">What the engine was doing, e.g. "copying 'x' to cuda:0".</param>
    public static MedGemmaException OutOfMemory(Exception e, string doing, object? target) =>
        new(MedGemmaErrorKind.ResourceUnavailable, "OutOfMemory",
            $"Out of memory while {doing}: {FirstLine(e.Message)} Use a smaller dtype (bf16), a smaller batch, or a device with more free memory.",
            target, e);

    static string FirstLine(string s)
    {
        int i = s.IndexOf('\n');
        return (i < 0 ? s : s[..i]).Trim();
    }
}
