using MedGemma.Engine.Runtime;

namespace MedGemma.Engine.Tests.Runtime;

/// <summary>
/// What can be checked of the CUDA-graph binding without a GPU: the entry-point names are the Itanium-ABI manglings
/// of the declarations in PyTorch 2.x's ATen/cuda/CUDAGraph.h and c10/cuda/CUDAStream.h (written out by hand here
/// from those declarations), and a process without libtorch's CUDA libraries gets a reason, not an exception.
/// </summary>
public class CudaGraphTests
{
    [Fact]
    public void EntryPointNamesAreTheManglingsOfLibtorchsDeclarations()
    {
        var n = CudaGraph.Symbols;
        // CUDAGraph(bool keep_graph = false), older CUDAGraph()
        Assert.Equal(new[] { "_ZN2at4cuda9CUDAGraphC1Eb", "_ZN2at4cuda9CUDAGraphC1Ev" }, n.Constructor);
        Assert.Equal("_ZN2at4cuda9CUDAGraphD1Ev", Assert.Single(n.Destructor));
        // capture_begin(MempoolId_t pool = {0, 0}, cudaStreamCaptureMode capture_mode = cudaStreamCaptureModeGlobal)
        Assert.Equal("_ZN2at4cuda9CUDAGraph13capture_beginESt4pairIyyE21cudaStreamCaptureMode", n.CaptureBegin[0]);
        Assert.Contains("_ZN2at4cuda9CUDAGraph13capture_beginESt4pairIyyE21cudaStreamCaptureModeb", n.CaptureBegin);
        Assert.Equal("_ZN2at4cuda9CUDAGraph11capture_endEv", Assert.Single(n.CaptureEnd));
        Assert.Equal("_ZN2at4cuda9CUDAGraph6replayEv", Assert.Single(n.Replay));
        // CUDAStream getStreamFromPool(const bool isHighPriority = false, DeviceIndex device = -1), DeviceIndex = int8_t
        Assert.Equal("_ZN3c104cuda17getStreamFromPoolEba", Assert.Single(n.GetStreamFromPool));
        Assert.Equal("_ZN3c104cuda20getCurrentCUDAStreamEa", Assert.Single(n.GetCurrentStream));
        Assert.Equal("_ZN3c104cuda20setCurrentCUDAStreamENS0_10CUDAStreamE", Assert.Single(n.SetCurrentStream));
        Assert.Equal("_ZNK3c104cuda10CUDAStream6streamEv", Assert.Single(n.RawStream));
    }

    [Fact]
    public void WithoutCudaLibrariesGraphsAreUnavailableWithAReason()
    {
        TorchRuntime.EnsureInitialized();
        if (TorchRuntime.CudaAvailable) return;   // only meaningful on a CPU-only libtorch (CI)
        Assert.False(string.IsNullOrEmpty(CudaGraph.Unavailable));
        Assert.Null(CudaGraph.TryCreate(out var why));
        Assert.Equal(CudaGraph.Unavailable, why);
    }
}
