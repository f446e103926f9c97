using System.Runtime.InteropServices;

namespace MedGemma.Engine.Runtime;

/// <summary>
/// libtorch's own CUDA graph (<c>at::cuda::CUDAGraph</c>), which TorchSharp 0.107 does not bind, reached through its
/// exported C++ symbols in the libtorch already loaded into the process. Capturing through libtorch (not the CUDA
/// runtime directly) matters: its capture_begin points the caching allocator at a private pool, so the memory a
/// captured step uses stays reserved for the replays. Experimental: checked against PyTorch 2.x headers, not yet run on
/// a GPU from this engine; every entry point is looked up first, and a missing one makes <see cref="TryCreate"/> say why.
/// C++ exceptions cannot cross into .NET, so callers keep the preconditions (a side stream, no capture in progress).
/// </summary>
internal sealed unsafe class CudaGraph : IDisposable
{
    // Room for the C++ object; the struct is a few hundred bytes in PyTorch 2.x.
    const int ObjectBytes = 1 << 16;
    // cudaStreamCaptureModeThreadLocal: only this thread's unsafe CUDA calls invalidate the capture.
    const int ThreadLocalCaptureMode = 1;

    delegate void Ctor(IntPtr self, byte keepGraph);
    delegate void Method(IntPtr self);
    delegate void CaptureBegin(IntPtr self, ulong poolFirst, ulong poolSecond, int mode, long extra);
    delegate CudaStream GetStreamFromPool(byte highPriority, sbyte device);
    delegate CudaStream GetCurrentStream(sbyte device);
    delegate void SetCurrentStream(CudaStream stream);
    delegate IntPtr RawStream(CudaStream* stream);
    delegate int StreamEndCapture(IntPtr stream, IntPtr* graph);
    delegate int StreamIsCapturing(IntPtr stream, int* status);

    /// <summary>c10::cuda::CUDAStream by value: its Device (type, index) and its stream id, 16 trivially copyable bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct CudaStream
    {
        public long Device;
        public long Id;
    }

    sealed record Api(Ctor Ctor, Method Dtor, CaptureBegin CaptureBegin, Method CaptureEnd, Method Replay,
        GetStreamFromPool StreamFromPool, GetCurrentStream CurrentStream, SetCurrentStream SetStream, RawStream Raw,
        StreamEndCapture? EndCapture, StreamIsCapturing? IsCapturing);

    static readonly Lazy<(Api? Api, string? Why)> Entry = new(Bind);

    /// <summary>Null when libtorch's CUDA graph entry points were found, else why not.</summary>
    public static string? Unavailable => Entry.Value.Why;

    readonly Api api;
    IntPtr self;
    bool capturing, broken;
    int device;

    CudaGraph(Api api)
    {
        this.api = api;
        self = Marshal.AllocHGlobal(ObjectBytes);
        new Span<byte>((void*)self, ObjectBytes).Clear();
        api.Ctor(self, 0);
    }

    /// <summary>A graph, or null with <paramref name="why"/> when libtorch's entry points are missing.</summary>
    public static CudaGraph? TryCreate(out string? why)
    {
        var (api, reason) = Entry.Value;
        why = reason;
        return api is null ? null : new CudaGraph(api);
    }

    /// <summary>A stream from libtorch's pool for <paramref name="deviceIndex"/> (capture must not run on the default stream).</summary>
    public static CudaStream SideStream(int deviceIndex) => Entry.Value.Api!.StreamFromPool(0, (sbyte)deviceIndex);

    /// <summary>Makes <paramref name="stream"/> libtorch's current stream on its device; returns the one it replaces.</summary>
    public static CudaStream UseStream(CudaStream stream, int deviceIndex)
    {
        var api = Entry.Value.Api!;
        var previous = api.CurrentStream((sbyte)deviceIndex);
        api.SetStream(stream);
        return previous;
    }

    /// <summary>Starts capturing the work libtorch queues on the current stream (a side stream: see <see cref="UseStream"/>).</summary>
    public void BeginCapture(int deviceIndex)
    {
        if (capturing || broken) throw new InvalidOperationException("CUDA graph capture already started or failed.");
        device = deviceIndex;
        capturing = true;
        api.CaptureBegin(self, 0, 0, ThreadLocalCaptureMode, 0);
    }

    /// <summary>
    /// Ends the capture and instantiates the graph. A capture that CUDA invalidated (an operation not allowed while
    /// capturing) would make libtorch's capture_end throw a C++ exception, which ends the process; it is abandoned
    /// instead, and this throws a .NET exception the caller can handle.
    /// </summary>
    public void EndCapture()
    {
        var current = api.CurrentStream((sbyte)device);
        int status = 1;
        if (api.IsCapturing is { } isCapturing && isCapturing(api.Raw(&current), &status) != 0) status = -1;
        if (status != 1)   // cudaStreamCaptureStatusActive
        {
            AbandonCapture();
            throw new InvalidOperationException(status == 2 ? "CUDA invalidated the graph capture (an operation not allowed while capturing)." : "The stream was not capturing.");
        }
        capturing = false;
        api.CaptureEnd(self);
    }

    /// <summary>
    /// After a failed step inside the capture: ends it through the CUDA runtime (which reports instead of throwing,
    /// unlike libtorch's capture_end). The graph is then unusable and is never destroyed, since its C++ destructor
    /// would find a capture it did not end.
    /// </summary>
    public void AbandonCapture()
    {
        if (!capturing) return;
        broken = true;
        capturing = false;
        var current = api.CurrentStream((sbyte)device);
        if (api.EndCapture is { } end)
        {
            IntPtr graph;
            end(api.Raw(&current), &graph);
        }
    }

    public void Replay()
    {
        if (broken || capturing) throw new InvalidOperationException("The CUDA graph was not captured.");
        api.Replay(self);
    }

    public void Dispose()
    {
        if (self == IntPtr.Zero || broken) return;
        api.Dtor(self);
        Marshal.FreeHGlobal(self);
        self = IntPtr.Zero;
    }

    static string Mangle(params string[] names) => string.Concat(names.Select(n => $"{n.Length}{n}"));

    /// <summary>Itanium-ABI names of the entry points, each with the overloads PyTorch 2.x versions export (first found wins).</summary>
    internal sealed record SymbolNames(string[] Constructor, string[] Destructor, string[] CaptureBegin, string[] CaptureEnd, string[] Replay,
        string[] GetStreamFromPool, string[] GetCurrentStream, string[] SetCurrentStream, string[] RawStream);

    internal static readonly SymbolNames Symbols = MakeSymbols();

    static SymbolNames MakeSymbols()
    {
        var graph = "_ZN" + Mangle("at", "cuda", "CUDAGraph");
        var stream = "_ZN" + Mangle("c10", "cuda");
        var mode = Mangle("cudaStreamCaptureMode");
        // MempoolId_t = std::pair<unsigned long long, unsigned long long>; extra trailing register arguments
        // (bool dynamic_graph, int sentinel mode) are ignored by a callee that has none.
        var begin = new[] { "", "b", "i" }
            .SelectMany(extra => new[] { "St4pairIyyE", "St4pairImmE" }.Select(pool => graph + Mangle("capture_begin") + "E" + pool + mode + extra))
            .Append(graph + Mangle("capture_begin") + "ESt4pairIyyE").ToArray();
        return new SymbolNames(
            new[] { graph + "C1Eb", graph + "C1Ev" }, new[] { graph + "D1Ev" }, begin,
            new[] { graph + Mangle("capture_end") + "Ev" }, new[] { graph + Mangle("replay") + "Ev" },
            new[] { stream + Mangle("getStreamFromPool") + "Eba" }, new[] { stream + Mangle("getCurrentCUDAStream") + "Ea" },
            new[] { stream + Mangle("setCurrentCUDAStream") + "ENS0_10CUDAStreamE" },
            new[] { "_ZNK" + Mangle("c10", "cuda", "CUDAStream", "stream") + "Ev" });
    }

    static (Api?, string?) Bind()
    {
        try
        {
            if (!File.Exists("/proc/self/maps")) return (null, "no /proc/self/maps (CUDA graphs need Linux)");
            var maps = File.ReadAllText("/proc/self/maps");
            var torchCuda = MappedLibrary(maps, "libtorch_cuda.so");
            var c10Cuda = MappedLibrary(maps, "libc10_cuda.so");
            if (torchCuda is null || c10Cuda is null) return (null, "libtorch's CUDA libraries are not loaded");
            var t = NativeLibrary.Load(torchCuda);
            var c = NativeLibrary.Load(c10Cuda);
            T Find<T>(IntPtr lib, IReadOnlyList<string> symbols) where T : Delegate
            {
                foreach (var s in symbols)
                    if (NativeLibrary.TryGetExport(lib, s, out var p)) return Marshal.GetDelegateForFunctionPointer<T>(p);
                throw new EntryPointNotFoundException(symbols[0]);
            }
            var n = Symbols;
            var api = new Api(
                Find<Ctor>(t, n.Constructor), Find<Method>(t, n.Destructor), Find<CaptureBegin>(t, n.CaptureBegin),
                Find<Method>(t, n.CaptureEnd), Find<Method>(t, n.Replay),
                Find<GetStreamFromPool>(c, n.GetStreamFromPool), Find<GetCurrentStream>(c, n.GetCurrentStream),
                Find<SetCurrentStream>(c, n.SetCurrentStream), Find<RawStream>(c, n.RawStream),
                CudaRuntime<StreamEndCapture>(maps, "cudaStreamEndCapture"), CudaRuntime<StreamIsCapturing>(maps, "cudaStreamIsCapturing"));
            return (api, null);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException or IOException or BadImageFormatException)
        {
            return (null, $"libtorch entry point or library not found: {e.Message}");
        }
    }

    static T? CudaRuntime<T>(string maps, string symbol) where T : Delegate
    {
        var cudart = CudaMemory.FindCudaRuntime(maps);
        if (cudart is null || !NativeLibrary.TryLoad(cudart, out var lib) || !NativeLibrary.TryGetExport(lib, symbol, out var p)) return null;
        return Marshal.GetDelegateForFunctionPointer<T>(p);
    }

    static string? MappedLibrary(string procMaps, string fileName)
    {
        foreach (var line in procMaps.Split('\n'))
        {
            var slash = line.IndexOf('/');
            if (slash < 0) continue;
            var path = line[slash..].Trim();
            if (Path.GetFileName(path) == fileName || Path.GetFileName(path).StartsWith(fileName + ".", StringComparison.Ordinal)) return path;
        }
        return null;
    }
}
