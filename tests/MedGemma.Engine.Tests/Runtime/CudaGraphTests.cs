using System.Diagnostics;
using MedGemma.Engine.Runtime;

namespace MedGemma.Engine.Tests.Runtime;

/// <summary>
/// What can be checked of the CUDA-graph binding without a GPU: the entry-point names are the Itanium-ABI manglings
/// of the declarations in PyTorch 2.x's ATen/cuda/CUDAGraph.h and c10/cuda/CUDAStream.h (written out by hand here
/// from those declarations, and checked against what g++ emits for the same declarations), and a process without
/// libtorch's CUDA libraries gets a reason, not an exception.
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

    // The declarations of PyTorch 2.x's ATen/cuda/CUDAGraph.h and c10/cuda/CUDAStream.h that the binding calls,
    // defined empty so that the compiler emits their symbols.
    const string Declarations = """
        #include <cstdint>
        #include <utility>
        enum cudaStreamCaptureMode { cudaStreamCaptureModeGlobal, cudaStreamCaptureModeThreadLocal, cudaStreamCaptureModeRelaxed };
        typedef struct CUstream_st* cudaStream_t;
        namespace c10 {
        using DeviceIndex = int8_t;
        namespace cuda {
        class CUDAStream { public: cudaStream_t stream() const; int64_t device_, id_; };
        CUDAStream getStreamFromPool(const bool isHighPriority, DeviceIndex device) { return {}; }
        CUDAStream getCurrentCUDAStream(DeviceIndex device_index) { return {}; }
        void setCurrentCUDAStream(CUDAStream stream) {}
        cudaStream_t CUDAStream::stream() const { return nullptr; }
        }}
        namespace at { namespace cuda {
        using CaptureId_t = unsigned long long;
        using MempoolId_t = std::pair<CaptureId_t, CaptureId_t>;
        struct CUDAGraph {
          CUDAGraph(bool keep_graph = false);
          ~CUDAGraph();
          void capture_begin(MempoolId_t pool = {0, 0}, cudaStreamCaptureMode capture_mode = cudaStreamCaptureModeGlobal);
          void capture_end();
          void replay();
        };
        CUDAGraph::CUDAGraph(bool) {}
        CUDAGraph::~CUDAGraph() {}
        void CUDAGraph::capture_begin(MempoolId_t, cudaStreamCaptureMode) {}
        void CUDAGraph::capture_end() {}
        void CUDAGraph::replay() {}
        }}
        """;

    [Fact]
    public void GxxManglesTheDeclarationsAsTheBindingNamesThem()
    {
        var dir = Directory.CreateTempSubdirectory("medgemma-mangle-").FullName;
        try
        {
            var source = Path.Combine(dir, "decl.cpp");
            var obj = Path.Combine(dir, "decl.o");
            File.WriteAllText(source, Declarations);
            if (Run("g++", $"-std=c++17 -c \"{source}\" -o \"{obj}\"") is null) return;   // no compiler here: the hand-written names above still hold
            var symbols = (Run("nm", $"--defined-only \"{obj}\"") ?? "").Split('\n')
                .Select(l => l.Trim().Split(' ').Last()).Where(n => n.StartsWith("_Z", StringComparison.Ordinal)).ToHashSet();
            var n = CudaGraph.Symbols;
            Assert.Contains(n.Constructor[0], symbols);
            Assert.Contains(n.Destructor[0], symbols);
            Assert.Contains(n.CaptureBegin[0], symbols);
            Assert.Contains(n.CaptureEnd[0], symbols);
            Assert.Contains(n.Replay[0], symbols);
            Assert.Contains(n.GetStreamFromPool[0], symbols);
            Assert.Contains(n.GetCurrentStream[0], symbols);
            Assert.Contains(n.SetCurrentStream[0], symbols);
            Assert.Contains(n.RawStream[0], symbols);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Standard output of a tool that ran and succeeded; null when the tool is not installed.</summary>
    static string? Run(string tool, string arguments)
    {
        Process p;
        try
        {
            p = Process.Start(new ProcessStartInfo(tool, arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"{tool} {arguments}: exit {p.ExitCode}: {stderr}");
            return stdout.Result;
        }
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
