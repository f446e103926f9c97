using MedGemma.Engine.Runtime;

namespace MedGemma.Engine.Tests.Runtime;

/// <summary>
/// libmedgemma_native.so, through which every libtorch C++ call of the CUDA-graph path goes: built next to the engine
/// where g++ exists (as on CI), and a C++ exception thrown behind it comes back as a .NET exception with its message,
/// the process going on.
/// </summary>
public class NativeGuardTests
{
    static bool CompilerOnPath => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
        .Any(d => d.Length > 0 && File.Exists(Path.Combine(d, "g++")));

    [Fact]
    public void TheLibraryIsBuiltNextToTheEngineWhereGxxExists()
    {
        if (!CompilerOnPath && NativeGuard.Unavailable is not null) return;   // a build without g++ warns instead
        Assert.True(File.Exists(NativeGuard.ExpectedPath), NativeGuard.ExpectedPath);
        Assert.Null(NativeGuard.Unavailable);
    }

    [Fact]
    public void ACxxExceptionBecomesANativeCallExceptionAndTheProcessGoesOn()
    {
        if (NativeGuard.Unavailable is not null) { Assert.False(CompilerOnPath, NativeGuard.Unavailable); return; }
        var thrower = NativeGuard.Export("mg_selftest_throw");
        var noop = NativeGuard.Export("mg_selftest_noop");
        for (var i = 0; i < 3; i++)
        {
            var e = Assert.Throws<NativeCallException>(() => NativeGuard.Call(thrower, IntPtr.Zero, "self-test"));
            Assert.Equal("self-test: medgemma native guard self-test", e.Message);
            NativeGuard.Call(noop, IntPtr.Zero, "no-op");
        }
    }
}
