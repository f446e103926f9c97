using MedGemma.Engine.Runtime;
using MedGemma.Engine.Tests.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Runtime;

public class TorchRuntimeTests
{
    [Theory]
    [InlineData("bf16", ScalarType.BFloat16)]
    [InlineData("BFloat16", ScalarType.BFloat16)]
    [InlineData("fp32", ScalarType.Float32)]
    [InlineData(" float32 ", ScalarType.Float32)]
    [InlineData("fp16", ScalarType.Float16)]
    [InlineData("float16", ScalarType.Float16)]
    public void ParsesDTypes(string name, ScalarType expected)
    {
        Assert.Equal(expected, TorchRuntime.ParseDType(name));
        Assert.Equal(expected, TorchRuntime.ParseDType(TorchRuntime.DTypeName(expected)));
    }

    [Theory]
    [InlineData("int8")]
    [InlineData("")]
    [InlineData(null)]
    public void RejectsOtherDTypes(string? name)
    {
        var ex = Assert.Throws<MedGemmaException>(() => TorchRuntime.ParseDType(name));
        Assert.Equal((MedGemmaErrorKind.InvalidArgument, "BadDType"), (ex.Kind, ex.ErrorId));
        Assert.Equal(name, ex.Target);
    }

    [Fact]
    public void ResolvesCpuAndAuto()
    {
        Assert.Equal(DeviceType.CPU, TorchRuntime.Resolve("cpu").type);
        Assert.Equal(DeviceType.CPU, TorchRuntime.Resolve(" CPU ").type);
        var auto = TorchRuntime.Resolve("auto");
        Assert.Equal(TorchRuntime.CudaAvailable ? DeviceType.CUDA : DeviceType.CPU, auto.type);
        Assert.Equal(auto.type, TorchRuntime.Resolve(null).type);
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:")]
    [InlineData("cuda:-1")]
    [InlineData("cuda:x")]
    [InlineData("cuda0")]
    [InlineData("cpu:0")]
    public void RejectsBadDeviceSpecs(string spec)
    {
        var ex = Assert.Throws<MedGemmaException>(() => TorchRuntime.Resolve(spec));
        Assert.Equal((MedGemmaErrorKind.InvalidArgument, "BadDeviceSpec", spec), (ex.Kind, ex.ErrorId, (string)ex.Target!));
    }

    [Fact]
    public void CudaIsAClearErrorWhenUnavailableAndOutOfRangeIndexIsRejected()
    {
        if (TorchRuntime.CudaAvailable)
        {
            Assert.Equal(new Device(DeviceType.CUDA, 0).ToString(), TorchRuntime.Resolve("cuda").ToString());
            var bad = Assert.Throws<MedGemmaException>(() => TorchRuntime.Resolve("cuda:99"));
            Assert.Equal("BadDeviceSpec", bad.ErrorId);
            return;
        }
        foreach (var spec in new[] { "cuda", "cuda:0", "CUDA:1" })
        {
            var ex = Assert.Throws<MedGemmaException>(() => TorchRuntime.Resolve(spec));
            Assert.Equal((MedGemmaErrorKind.ResourceUnavailable, "CudaUnavailable"), (ex.Kind, ex.ErrorId));
            Assert.Contains(TorchRuntime.LibTorchVariable, ex.Message);
        }
    }

    [Fact]
    public void EnsureInitializedIsIdempotentAcrossThreads()
    {
        Parallel.For(0, 8, _ => TorchRuntime.EnsureInitialized());
        using var t = ones(3);
        Assert.Equal(3f, t.sum().item<float>());
    }

    [Fact]
    public void LibTorchDirectoryMustHoldLibTorch()
    {
        using var tmp = new TempDir();
        var missing = Path.Combine(tmp.Path, "nope");
        var ex = Assert.Throws<MedGemmaException>(() => TorchRuntime.ValidateLibTorchDirectory(missing));
        Assert.Equal((MedGemmaErrorKind.NotFound, "LibTorchDirectoryNotFound", missing), (ex.Kind, ex.ErrorId, (string)ex.Target!));
        ex = Assert.Throws<MedGemmaException>(() => TorchRuntime.ValidateLibTorchDirectory(tmp.Path));
        Assert.Equal("LibTorchDirectoryInvalid", ex.ErrorId);
        Assert.Contains("libc10.so", ex.Message);
        Assert.Contains(tmp.Path, ex.Message);
        // The packaged libtorch folder is a valid one.
        var packaged = TorchRuntime.PackagedLibTorchDirectories().First(d => File.Exists(Path.Combine(d, "libtorch_cpu.so")));
        Assert.Equal(packaged, TorchRuntime.ValidateLibTorchDirectory(packaged));
    }

    [Fact]
    public void ForeignLibTorchIsFoundInProcMaps()
    {
        const string maps = """
            7f00 r-xp 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6
            7f01 r-xp 00000000 08:01 2 /opt/app/runtimes/linux-x64/native/libtorch_cpu.so
            7f02 r--p 00000000 08:01 3 /opt/venv/lib/python3.12/site-packages/torch/lib/libtorch_cpu.so
            7f03 rw-p 00000000 00:00 0 [heap]
            """;
        Assert.Null(TorchRuntime.FindForeignLibTorch(maps.Split('\n')[0] + "\n" + maps.Split('\n')[1], new[] { "/opt/app/runtimes/linux-x64/native" }));
        Assert.Equal("/opt/venv/lib/python3.12/site-packages/torch/lib", TorchRuntime.FindForeignLibTorch(maps, new[] { "/opt/app/runtimes/linux-x64/native/" }));
        Assert.Equal("/opt/app/runtimes/linux-x64/native", TorchRuntime.FindForeignLibTorch(maps, new[] { "/opt/venv/lib/python3.12/site-packages/torch/lib" }));
        Assert.Null(TorchRuntime.FindForeignLibTorch("7f00 r-xp 0 0 0 /x/libtorch_cpu_extra.so\n", Array.Empty<string>()));
    }

    [Fact]
    public void OurOwnLibTorchIsNotForeign()
    {
        TorchRuntime.EnsureInitialized();
        TorchRuntime.CheckForeignLibTorch();
        Assert.Contains("libtorch_cpu.so", File.ReadAllText("/proc/self/maps"));
    }

    [Fact]
    public void OutOfMemoryMessagesAreRecognised()
    {
        Assert.True(TorchErrors.IsOutOfMemory(new System.Runtime.InteropServices.ExternalException("CUDA out of memory. Tried to allocate 2.00 GiB")));
        Assert.True(TorchErrors.IsOutOfMemory(new System.Runtime.InteropServices.ExternalException("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes.")));
        Assert.True(TorchErrors.IsOutOfMemory(new OutOfMemoryException()));
        Assert.False(TorchErrors.IsOutOfMemory(new System.Runtime.InteropServices.ExternalException("shape mismatch")));
        var e = TorchErrors.OutOfMemory(new OutOfMemoryException("boom"), "copying 'x'", "x");
        Assert.Equal((MedGemmaErrorKind.ResourceUnavailable, "x"), (e.Kind, (string)e.Target!));
    }

    [Fact]
    public void AnImpossibleHostAllocationBecomesResourceUnavailable()
    {
        // 2^62 bytes: libtorch refuses it at once (no memory is touched).
        var ex = Record.Exception(() => empty(new long[] { 1L << 60 }, ScalarType.Float32));
        Assert.NotNull(ex);
        Assert.True(TorchErrors.IsOutOfMemory(ex), ex.Message);
    }
}
