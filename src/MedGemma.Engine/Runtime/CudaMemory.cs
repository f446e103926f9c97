using System.Runtime.InteropServices;

namespace MedGemma.Engine.Runtime;

/// <summary>
/// Free CUDA memory, which TorchSharp 0.107 does not expose. libtorch_cuda loads the CUDA runtime
/// (libcudart) into the process; we find that already-mapped library in /proc/self/maps and ask it.
/// Best effort: null whenever anything is missing, so callers simply skip the device check.
/// </summary>
public static class CudaMemory
{
    unsafe delegate int MemGetInfo(nuint* free, nuint* total);
    unsafe delegate int GetDevice(int* device);

    /// <summary>(free, total) bytes on the current CUDA device when it is <paramref name="deviceIndex"/>, else null.</summary>
    public static unsafe (long Free, long Total)? TryGetInfo(int deviceIndex)
    {
        try
        {
            if (!File.Exists("/proc/self/maps")) return null;
            var lib = FindCudaRuntime(File.ReadAllText("/proc/self/maps"));
            // Loading a mapped library again only takes a reference to it.
            if (lib is null || !NativeLibrary.TryLoad(lib, out var handle)) return null;
            if (!NativeLibrary.TryGetExport(handle, "cudaMemGetInfo", out var memInfo)
                || !NativeLibrary.TryGetExport(handle, "cudaGetDevice", out var getDevice)) return null;
            int current;
            if (Marshal.GetDelegateForFunctionPointer<GetDevice>(getDevice)(&current) != 0) return null;
            // Switching devices would change this thread's CUDA state under libtorch; ask only about the current one.
            if (current != Math.Max(0, deviceIndex)) return null;
            nuint free, total;
            if (Marshal.GetDelegateForFunctionPointer<MemGetInfo>(memInfo)(&free, &total) != 0) return null;
            return ((long)free, (long)total);
        }
        catch (Exception e) when (e is IOException or DllNotFoundException or EntryPointNotFoundException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The path of a libcudart.so* mapped in <paramref name="procMaps"/>, or null.</summary>
    internal static string? FindCudaRuntime(string procMaps)
    {
        foreach (var line in procMaps.Split('\n'))
        {
            int slash = line.IndexOf('/');
            if (slash < 0) continue;
            var path = line[slash..].Trim();
            if (Path.GetFileName(path).StartsWith("libcudart.so", StringComparison.Ordinal)) return path;
        }
        return null;
    }
}
