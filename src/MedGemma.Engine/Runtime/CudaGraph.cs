using System.Runtime.InteropServices;

namespace MedGemma.Engine.Runtime;

/// <summary>
/// libtorch's own CUDA graph (<c>at::cuda::CUDAGraph</c>), which TorchSharp 0.107 does not bind, reached through its
/// exported C++ symbols in the libtorch already loaded into the process. Capturing through libtorch (not the CUDA
/// runtime directly) matters: its capture_begin points the caching allocator at a private pool, so the memory a
/// captured step uses stays reserved for the replays. Experimental: checked against PyTorch 2.x headers, not yet run on
/// a GPU from this engine; every entry point is looked up first, and a missing one makes <see cref="TryCreate"/> say why.
/// Every libtorch call goes through <see cref="NativeGuard"/>: a C++ exception (a failed TORCH_CHECK, a CUDA error)
/// would end the process if it reached .NET frames; there it becomes a <see cref="NativeCallException"/>.
/// </summary>
internal sealed unsafe class CudaGraph : IDisposable
{
    // Room for the C++ object; the struct is a few hundred bytes in PyTorch 2.x.
    const int ObjectBytes = 1 << 16;
    // cudaStreamCaptureModeThreadLocal: only this thread's unsafe CUDA calls invalidate the capture.
    const int ThreadLocalCaptureMode = 1;

    delegate int StreamEndCapture(IntPtr stream, IntPtr* graph);
    delegate int StreamIsCapturing(IntPtr stream, int* status);

    /// <summary>c10::cuda::CUDAStream by value: its Device (type, index) and its stream id, 16 trivially copyable bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct CudaStream
    {
        public long Device;
        public long Id;
    }

    // libtorch entry points (addresses, called through NativeGuard) and two CUDA runtime functions (plain C).
    sealed record Api(IntPtr Ctor, IntPtr Dtor, IntPtr CaptureBegin, IntPtr CaptureEnd, IntPtr Replay,
        IntPtr StreamFromPool, IntPtr CurrentStream, IntPtr SetStream, IntPtr Raw,
        StreamEndCapture? EndCapture, StreamIsCapturing? IsCapturing);

    static readonly Lazy<(Api? Api, string? Why)> Entry = new(Bind);

    /// <summary>Null when libtorch's CUDA graph entry points and the native guard library were found, else why not.</summary>
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
        try
        {
            NativeGuard.Construct(api.Ctor, self, false);
        }
        catch
        {
            Marshal.FreeHGlobal(self);
            self = IntPtr.Zero;
            throw;
        }
    }

    /// <summary>A graph, or null with <paramref name="why"/> when libtorch's entry points are missing.</summary>
    public static CudaGraph? TryCreate(out string? why)
    {
        var (api, reason) = Entry.Value;
        why = reason;
        return api is null ? null : new CudaGraph(api);
    }

    /// <summary>A stream from libtorch's pool for <paramref name="deviceIndex"/> (capture must not run on the default stream).</summary>
    public static CudaStream SideStream(int deviceIndex) => NativeGuard.StreamFromPool(Entry.Value.Api!.StreamFromPool, false, deviceIndex);

    /// <summary>Makes <paramref name="stream"/> libtorch's current stream on its device; returns the one it replaces.</summary>
    public static CudaStream UseStream(CudaStream stream, int deviceIndex)
    {
        var api = Entry.Value.Api!;
        var previous = NativeGuard.CurrentStream(api.CurrentStream, deviceIndex);
        NativeGuard.SetCurrentStream(api.SetStream, stream);
        return previous;
    }

    /// <summary>Starts capturing the work libtorch queues on the current stream (a side stream: see <see cref="UseStream"/>).</summary>
    public void BeginCapture(int deviceIndex)
    {
        if (capturing || broken) throw new InvalidOperationException("CUDA graph capture already started or failed.");
        device = deviceIndex;
        capturing = true;
        try
        {
            NativeGuard.CaptureBegin(api.CaptureBegin, self, 0, 0, ThreadLocalCaptureMode, 0);
        }
        catch
        {
            // The stream may or may not have started capturing; end it if it did. The object is unusable either way.
            AbandonCapture();
            throw;
        }
    }

    /// <summary>
    /// Ends the capture and instantiates the graph. A capture that CUDA invalidated (an operation not allowed while
    /// capturing) is abandoned through the CUDA runtime first, so libtorch's capture_end never meets it; any other
    /// failure of capture_end comes back as a <see cref="NativeCallException"/>, after which the graph is unusable.
    /// </summary>
    public void EndCapture()
    {
        var raw = CurrentRawStream();
        int status = 1;
        if (api.IsCapturing is { } isCapturing && isCapturing(raw, &status) != 0) status = -1;
        if (status != 1)   // cudaStreamCaptureStatusActive
        {
            AbandonCapture();
            throw new InvalidOperationException(status == 2 ? "CUDA invalidated the graph capture (an operation not allowed while capturing)." : "The stream was not capturing.");
        }
        capturing = false;
        try
        {
            NativeGuard.Call(api.CaptureEnd, self, "capture_end");
        }
        catch
        {
            // capture_end throws before or after ending the stream's capture; end it if it is still on.
            capturing = true;
            AbandonCapture();
            throw;
        }
    }

    /// <summary>
    /// After a failed step inside the capture: ends it through the CUDA runtime (which reports instead of throwing).
    /// The graph is then unusable and is never destroyed: its destructor would meet a capture it did not end, and the
    /// allocator's capture filter still points at it.
    /// </summary>
    public void AbandonCapture()
    {
        if (!capturing) return;
        broken = true;
        capturing = false;
        try
        {
            var raw = CurrentRawStream();
            int status = 0;
            if (api.EndCapture is { } end && (api.IsCapturing is null || (api.IsCapturing(raw, &status) == 0 && status != 0)))
            {
                IntPtr graph;
                end(raw, &graph);
            }
        }
        catch (NativeCallException)
        {
            // Nothing more can be done from here; the graph stays broken.
        }
    }

    /// <summary>The CUDA runtime's handle of libtorch's current stream on this graph's device (the capturing side stream).</summary>
    IntPtr CurrentRawStream() => NativeGuard.RawStream(api.Raw, NativeGuard.CurrentStream(api.CurrentStream, device));

    public void Replay()
    {
        if (broken || capturing) throw new InvalidOperationException("The CUDA graph was not captured.");
        NativeGuard.Call(api.Replay, self, "replay");
    }

    public void Dispose()
    {
        if (self == IntPtr.Zero || broken) return;
        try { NativeGuard.Call(api.Dtor, self, "~CUDAGraph"); }
        catch (NativeCallException) { broken = true; return; }   // leaked rather than freed under a live C++ object
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
            // Without the guard, a C++ exception in libtorch would end the process: no graphs then.
            if (NativeGuard.Unavailable is { } noGuard) return (null, noGuard);
            var maps = File.ReadAllText("/proc/self/maps");
            var torchCuda = MappedLibrary(maps, "libtorch_cuda.so");
            var c10Cuda = MappedLibrary(maps, "libc10_cuda.so");
            if (torchCuda is null || c10Cuda is null) return (null, "libtorch's CUDA libraries are not loaded");
            var t = NativeLibrary.Load(torchCuda);
            var c = NativeLibrary.Load(c10Cuda);
            IntPtr Find(IntPtr lib, IReadOnlyList<string> symbols)
            {
                foreach (var sym in symbols)
                    if (NativeLibrary.TryGetExport(lib, sym, out var p)) return p;
                throw new EntryPointNotFoundException(symbols[0]);
            }
            var n = Symbols;
            var api = new Api(
                Find(t, n.Constructor), Find(t, n.Destructor), Find(t, n.CaptureBegin), Find(t, n.CaptureEnd), Find(t, n.Replay),
                Find(c, n.GetStreamFromPool), Find(c, n.GetCurrentStream), Find(c, n.SetCurrentStream), Find(c, n.RawStream),
                CudaRuntime<StreamEndCapture>(maps, "cudaStreamEndCapture"), CudaRuntime<StreamIsCapturing>(maps, "cudaStreamIsCapturing"));
            if (api.EndCapture is null || api.IsCapturing is null) return (null, "the CUDA runtime's stream capture functions were not found");
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
