using MedGemma.Engine.IO;
using MedGemma.Engine.Runtime;
using MedGemma.Engine.Tests.IO;
using MedGemma.Engine.Tests.Support;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Runtime;

public class MemoryEstimateTests
{
    [Fact]
    public void CountsParameterBytesAtTheTargetDTypeFromTheIndexTotal()
    {
        var folder = Fixtures.Folder("tiny-medgemma-snapshot");
        // The index states the stored size (bf16) and parameter count; derive expectations from it, not from our reader.
        using var index = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, CheckpointFiles.IndexFileName)));
        var meta = index.RootElement.GetProperty("metadata");
        long storedBytes = meta.GetProperty("total_size").GetInt64();
        long parameters = meta.GetProperty("total_parameters").GetInt64();
        var bf16 = MemoryEstimate.ForCheckpoint(folder, ScalarType.BFloat16);
        var fp32 = MemoryEstimate.ForCheckpoint(folder, ScalarType.Float32);
        Assert.Equal(storedBytes, bf16.ParameterBytes);
        Assert.Equal(parameters * 4, fp32.ParameterBytes);
        Assert.Equal(index.RootElement.GetProperty("weight_map").EnumerateObject().Count(), bf16.Tensors);
        var raws = CheckpointFiles.Resolve(folder).Files.SelectMany(RawSafeTensors.ReadAll);
        Assert.Equal(raws.Max(r => (long)r.Bytes.Length), bf16.LargestTensorBytes);
    }

    [Fact]
    public void TooLittleMemoryIsResourceUnavailableWithNeededAndAvailable()
    {
        var need = new CheckpointMemory(8L << 30, 1L << 30, 100, ScalarType.BFloat16);
        var ex = Assert.Throws<MedGemmaException>(() => MemoryEstimate.EnsureFits(need, CPU, hostAvailableBytes: 4L << 30));
        Assert.Equal((MedGemmaErrorKind.ResourceUnavailable, "InsufficientMemory"), (ex.Kind, ex.ErrorId));
        Assert.Contains("9.00 GiB", ex.Message);
        Assert.Contains("4.00 GiB", ex.Message);
        // On CUDA the host only stages two 64 MiB chunks per file dtype, counted for two dtypes (not the 1 GiB tensor); the device needs the weights.
        var cuda = new Device(TorchSharp.DeviceType.CUDA, 0);
        MemoryEstimate.EnsureFits(need, cuda, hostAvailableBytes: 2L << 30);
        MemoryEstimate.EnsureFits(need, cuda, deviceFreeBytes: 9L << 30, hostAvailableBytes: 256L << 20);
        ex = Assert.Throws<MedGemmaException>(() => MemoryEstimate.EnsureFits(need, cuda, deviceFreeBytes: 9L << 30, hostAvailableBytes: 200L << 20));
        Assert.Contains("host memory", ex.Message);
        ex = Assert.Throws<MedGemmaException>(() => MemoryEstimate.EnsureFits(need, cuda, deviceFreeBytes: 6L << 30, hostAvailableBytes: 2L << 30));
        Assert.Contains("cuda", ex.Message);
        MemoryEstimate.EnsureFits(need, CPU, hostAvailableBytes: 10L << 30);
    }

    [Fact]
    public void ReadsHostMemory()
    {
        Assert.Equal(23534696L * 1024, MemoryEstimate.ParseMemInfoLine("MemAvailable:   23534696 kB"));
        Assert.Null(MemoryEstimate.ParseMemInfoLine("MemAvailable:"));
        if (OperatingSystem.IsLinux())
        {
            var avail = MemoryEstimate.HostAvailableBytes();
            Assert.NotNull(avail);
            Assert.InRange(avail!.Value, 1L << 20, 1L << 50);
        }
    }
}

public class CudaMemoryTests
{
    [Fact]
    public void FindsTheMappedCudaRuntime()
    {
        const string maps = """
            7f00 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6
            7f01 r-xp 0 08:01 2 /venv/lib/python3.12/site-packages/nvidia/cuda_runtime/lib/libcudart.so.12
            """;
        Assert.Equal("/venv/lib/python3.12/site-packages/nvidia/cuda_runtime/lib/libcudart.so.12", CudaMemory.FindCudaRuntime(maps));
        Assert.Null(CudaMemory.FindCudaRuntime("7f00 r-xp 0 08:01 1 /usr/lib/libc.so.6\n"));
    }

    [Fact]
    public void AnswersOnlyWhenACudaRuntimeIsLoaded()
    {
        var info = CudaMemory.TryGetInfo(0);
        if (!TorchRuntime.CudaAvailable) Assert.Null(info);
        else if (info is { } i) Assert.InRange(i.Free, 0, i.Total);
    }
}
