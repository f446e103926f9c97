using System.Runtime.InteropServices;
using MedGemma.Engine.Runtime;

namespace MedGemma.Engine.Tests.Runtime;

public class CudaAllocatorDefaultsTests
{
    [DllImport("libc", EntryPoint = "getenv")]
    static extern IntPtr GetEnv(string name);

    /// <summary>libtorch reads the allocator setting through libc's getenv, which .NET's own environment copy does not reach.</summary>
    [Fact]
    public void StartingTheRuntimeSetsExpandableSegmentsInTheNativeEnvironment()
    {
        TorchRuntime.EnsureInitialized();
        if (!OperatingSystem.IsLinux()) return;
        var native = Marshal.PtrToStringAnsi(GetEnv("PYTORCH_CUDA_ALLOC_CONF"));
        // A user's own setting wins and is left alone; the test process normally has none.
        var userSet = native is not null && native != CudaAllocatorDefaults.Value;
        if (!userSet) Assert.Equal(CudaAllocatorDefaults.Value, native);
        Assert.Equal(native, Environment.GetEnvironmentVariable("PYTORCH_CUDA_ALLOC_CONF"));
        Assert.False(CudaAllocatorDefaults.Apply());   // already set: never overwritten
    }
}
