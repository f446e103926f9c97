using System.Runtime.InteropServices;

namespace MedGemma.Engine.Runtime;

/// <summary>
/// Sets libtorch's CUDA caching allocator to expandable segments unless the user configured the allocator.
/// Training mixes allocations of very different sizes (vision activations of 4 images, text, recomputed layers
/// under gradient checkpointing), and fixed-size cached segments fragment: the process then holds far more
/// device memory than it uses. libtorch reads the variable from the process environment when CUDA starts, and
/// .NET's Environment.SetEnvironmentVariable does not write that environment on Unix, hence libc's setenv.
/// </summary>
internal static class CudaAllocatorDefaults
{
    public const string Value = "expandable_segments:True";
    // PyTorch 2.9+ reads PYTORCH_ALLOC_CONF; earlier versions (and 2.9+ as a fallback) PYTORCH_CUDA_ALLOC_CONF.
    static readonly string[] Variables = { "PYTORCH_ALLOC_CONF", "PYTORCH_CUDA_ALLOC_CONF" };

    [DllImport("libc", EntryPoint = "setenv", SetLastError = true)]
    static extern int SetEnv(string name, string value, int overwrite);

    /// <summary>True when this call set the variables; false when the user had set one, or off Linux.</summary>
    public static bool Apply()
    {
        if (!OperatingSystem.IsLinux()) return false;
        if (Variables.Any(v => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v)))) return false;
        try
        {
            foreach (var v in Variables)
            {
                SetEnv(v, Value, 0);
                Environment.SetEnvironmentVariable(v, Value);
            }
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }
}
