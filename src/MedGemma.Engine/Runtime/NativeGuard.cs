using System.Runtime.InteropServices;
using System.Text;

namespace MedGemma.Engine.Runtime;

/// <summary>
/// libmedgemma_native.so (Native/torch_guard.cpp, built next to this assembly where g++ exists): calls into
/// libtorch's C++ API inside try/catch, so a C++ exception becomes a <see cref="NativeCallException"/> instead of
/// ending the process. Entry points of libtorch are passed in as addresses (resolved by mangled name).
/// </summary>
internal static unsafe class NativeGuard
{
    public const string FileName = "libmedgemma_native.so";
    const int MessageBytes = 1024;

    // Addresses of the library's entry points (function pointer types cannot be record fields); cast where called.
    sealed record Entries(IntPtr Construct, IntPtr Call, IntPtr CaptureBegin, IntPtr StreamFromPool, IntPtr CurrentStream,
        IntPtr SetCurrentStream, IntPtr RawStream, IntPtr Library);

    static readonly Lazy<(Entries? Entries, string? Why)> Loaded = new(Load);

    /// <summary>Null when the library is loaded, else why it is not.</summary>
    public static string? Unavailable => Loaded.Value.Why;

    /// <summary>Where the library is expected: next to MedGemma.Engine.dll.</summary>
    public static string ExpectedPath => Path.Combine(Path.GetDirectoryName(typeof(NativeGuard).Assembly.Location) ?? AppContext.BaseDirectory, FileName);

    static (Entries?, string?) Load()
    {
        var path = ExpectedPath;
        if (!File.Exists(path)) return (null, $"{FileName} is missing next to MedGemma.Engine.dll (the build makes it where g++ exists)");
        if (!NativeLibrary.TryLoad(path, out var lib)) return (null, $"{path} could not be loaded");
        try
        {
            IntPtr E(string name) => NativeLibrary.GetExport(lib, name);
            return (new Entries(
                E("mg_graph_construct"),
                E("mg_graph_call"),
                E("mg_graph_capture_begin"),
                E("mg_stream_from_pool"),
                E("mg_current_stream"),
                E("mg_set_current_stream"),
                E("mg_raw_stream"),
                lib), null);
        }
        catch (EntryPointNotFoundException e)
        {
            return (null, $"{path} is out of date: {e.Message}");
        }
    }

    static Entries Api => Loaded.Value.Entries ?? throw new InvalidOperationException(Unavailable);

    /// <summary>An export of the guard library itself (its self-test entry points), for tests.</summary>
    internal static IntPtr Export(string name) => NativeLibrary.GetExport(Api.Library, name);

    static void Check(int rc, byte* message, string what)
    {
        if (rc == 0) return;
        var text = Encoding.UTF8.GetString(message, new ReadOnlySpan<byte>(message, MessageBytes).IndexOf((byte)0) is var n and >= 0 ? n : MessageBytes);
        throw new NativeCallException($"{what}: {text.Split('\n')[0]}");
    }

    public static void Construct(IntPtr ctor, IntPtr self, bool flag)
    {
        var m = stackalloc byte[MessageBytes];
        Check(((delegate* unmanaged<IntPtr, IntPtr, int, byte*, int, int>)Api.Construct)(ctor, self, flag ? 1 : 0, m, MessageBytes), m, "CUDAGraph()");
    }

    /// <summary>A member function without arguments (destructor, capture_end, replay), or any void(void*) entry point.</summary>
    public static void Call(IntPtr method, IntPtr self, string what)
    {
        var m = stackalloc byte[MessageBytes];
        Check(((delegate* unmanaged<IntPtr, IntPtr, byte*, int, int>)Api.Call)(method, self, m, MessageBytes), m, what);
    }

    public static void CaptureBegin(IntPtr method, IntPtr self, ulong poolFirst, ulong poolSecond, int mode, long extra)
    {
        var m = stackalloc byte[MessageBytes];
        Check(((delegate* unmanaged<IntPtr, IntPtr, ulong, ulong, int, long, byte*, int, int>)Api.CaptureBegin)(method, self, poolFirst, poolSecond, mode, extra, m, MessageBytes), m, "capture_begin");
    }

    public static CudaGraph.CudaStream StreamFromPool(IntPtr fn, bool highPriority, int device)
    {
        var m = stackalloc byte[MessageBytes];
        CudaGraph.CudaStream s;
        Check(((delegate* unmanaged<IntPtr, int, int, CudaGraph.CudaStream*, byte*, int, int>)Api.StreamFromPool)(fn, highPriority ? 1 : 0, device, &s, m, MessageBytes), m, "getStreamFromPool");
        return s;
    }

    public static CudaGraph.CudaStream CurrentStream(IntPtr fn, int device)
    {
        var m = stackalloc byte[MessageBytes];
        CudaGraph.CudaStream s;
        Check(((delegate* unmanaged<IntPtr, int, CudaGraph.CudaStream*, byte*, int, int>)Api.CurrentStream)(fn, device, &s, m, MessageBytes), m, "getCurrentCUDAStream");
        return s;
    }

    public static void SetCurrentStream(IntPtr fn, CudaGraph.CudaStream stream)
    {
        var m = stackalloc byte[MessageBytes];
        Check(((delegate* unmanaged<IntPtr, CudaGraph.CudaStream*, byte*, int, int>)Api.SetCurrentStream)(fn, &stream, m, MessageBytes), m, "setCurrentCUDAStream");
    }

    public static IntPtr RawStream(IntPtr method, CudaGraph.CudaStream stream)
    {
        var m = stackalloc byte[MessageBytes];
        IntPtr raw;
        Check(((delegate* unmanaged<IntPtr, CudaGraph.CudaStream*, IntPtr*, byte*, int, int>)Api.RawStream)(method, &stream, &raw, m, MessageBytes), m, "CUDAStream::stream");
        return raw;
    }
}

/// <summary>A C++ exception thrown by libtorch inside a guarded call (<see cref="NativeGuard"/>), with its message.</summary>
public sealed class NativeCallException(string message) : Exception(message);
