using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Runtime;

/// <summary>
/// Starts libtorch once per process. By default TorchSharp loads the libtorch of the package the
/// engine was built with (CPU, or CUDA with <c>-p:MedGemmaCuda=true</c>). Setting <see cref="LibTorchVariable"/>
/// to a PyTorch install's <c>torch/lib</c> folder uses that libtorch instead (e.g. a CUDA PyTorch, without
/// the 2+ GB TorchSharp-cuda package): its libraries are loaded by full path, in dependency order, before
/// TorchSharp's own loader runs, so LibTorchSharp binds to them by soname.
/// </summary>
public static class TorchRuntime
{
    public const string LibTorchVariable = "MEDGEMMA_LIBTORCH";

    /// <summary>Dependency order that works with PyTorch 2.x wheels; the CUDA pair is absent from CPU-only installs.</summary>
    static readonly (string Name, bool Required)[] LoadOrder =
    {
        ("libc10.so", true), ("libtorch_cpu.so", true), ("libc10_cuda.so", false), ("libtorch_cuda.so", false), ("libtorch.so", false),
    };

    static readonly object Gate = new();
    static volatile bool _initialized;
    static bool _cudaAvailable;

    /// <summary>The libtorch folder in use when <see cref="LibTorchVariable"/> was set at initialisation, else null.</summary>
    public static string? LibTorchDirectory { get; private set; }

    /// <summary>Whether CUDA was usable at initialisation.</summary>
    public static bool CudaAvailable
    {
        get { EnsureInitialized(); return _cudaAvailable; }
    }

    /// <summary>Loads libtorch (honouring <see cref="LibTorchVariable"/>); safe to call from any thread, any number of times.</summary>
    public static void EnsureInitialized()
    {
        if (_initialized) return;
        lock (Gate)
        {
            if (_initialized) return;
            CudaAllocatorDefaults.Apply();
            var dir = Environment.GetEnvironmentVariable(LibTorchVariable);
            if (!string.IsNullOrWhiteSpace(dir))
            {
                dir = ValidateLibTorchDirectory(dir);
                CheckNoPackagedLibTorch(dir);
                CheckForeignLibTorch(new[] { dir });
                LoadFrom(dir);
                LibTorchDirectory = dir;
            }
            else
            {
                CheckForeignLibTorch(PackagedLibTorchDirectories());
            }
            try
            {
                InitializeDeviceType(DeviceType.CPU);
                // The Try variant: a CPU-only libtorch answers false instead of throwing.
                _cudaAvailable = TryInitializeDeviceType(DeviceType.CUDA);
            }
            catch (Exception e) when (e is not MedGemmaException)
            {
                throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "LibTorchInitFailed",
                    $"libtorch could not be initialised{(dir is null ? "" : $" from '{dir}'")}: {e.Message}", dir, e);
            }
            _initialized = true;
        }
    }

    /// <summary>Checks that <paramref name="dir"/> looks like a PyTorch torch/lib folder; returns its canonical path.</summary>
    public static string ValidateLibTorchDirectory(string dir)
    {
        var full = Path.GetFullPath(dir.Trim());
        if (!Directory.Exists(full))
            throw new MedGemmaException(MedGemmaErrorKind.NotFound, "LibTorchDirectoryNotFound",
                $"{LibTorchVariable} is '{dir}', which is not a folder. Point it at a PyTorch install's torch/lib folder.", dir);
        foreach (var (name, required) in LoadOrder)
            if (required && !File.Exists(Path.Combine(full, name)))
                throw new MedGemmaException(MedGemmaErrorKind.NotFound, "LibTorchDirectoryInvalid",
                    $"{LibTorchVariable} is '{full}', which has no {name}. Point it at a PyTorch install's torch/lib folder.", full);
        return NativePaths.RealPath(full);
    }

    /// <summary>
    /// TorchSharp's loader (run by its static constructor, so it cannot be skipped) first loads "torch_cpu" by name,
    /// which .NET resolves to a libtorch shipped beside the app; with another libtorch already loaded from
    /// <see cref="LibTorchVariable"/> the process would abort. So the external libtorch needs an app or module folder
    /// without the packaged one (as shared/device/pack.sh prepares).
    /// </summary>
    static void CheckNoPackagedLibTorch(string dir)
    {
        foreach (var packaged in PackagedLibTorchDirectories())
            if (packaged != dir && File.Exists(Path.Combine(packaged, "libtorch_cpu.so")))
                throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "LibTorchConflict",
                    $"{LibTorchVariable} is set to '{dir}', but the engine also ships libtorch in '{packaged}'; two libtorch copies cannot share a process. " +
                    $"Remove the libtorch*/libc10* files from '{packaged}' (a deployment for an external libtorch) or unset {LibTorchVariable}.", packaged);
    }

    static void LoadFrom(string dir)
    {
        foreach (var (name, _) in LoadOrder)
        {
            var path = Path.Combine(dir, name);
            if (!File.Exists(path)) continue;
            try
            {
                NativeLibrary.Load(path);
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
            {
                throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "LibTorchLoadFailed",
                    $"Cannot load '{path}' from {LibTorchVariable}: {e.Message}", dir, e);
            }
        }
    }

    /// <summary>Where the libtorch of our NuGet package lives (beside TorchSharp.dll, or TorchSharp's consolidation folders).</summary>
    internal static IReadOnlyList<string> PackagedLibTorchDirectories()
    {
        var baseDir = Path.GetDirectoryName(typeof(torch).Assembly.Location);
        if (string.IsNullOrEmpty(baseDir)) baseDir = AppContext.BaseDirectory;
        return new[]
            {
                baseDir, Path.Combine(baseDir, "runtimes", RuntimeInformation.RuntimeIdentifier, "native"),
                Path.Combine(baseDir, "runtimes", "linux-x64", "native"), Path.Combine(baseDir, "cpu"), Path.Combine(baseDir, "cuda-12.8"),
            }
            .Select(NativePaths.RealPath).Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Fails when libtorch is already mapped into this process from a folder other than ours (another
    /// module, a Python embedding): a second libtorch in one process aborts it, so we refuse to start.
    /// </summary>
    public static void CheckForeignLibTorch() =>
        CheckForeignLibTorch(LibTorchDirectory is { } d ? new[] { d } : PackagedLibTorchDirectories());

    static void CheckForeignLibTorch(IReadOnlyList<string> ours)
    {
        if (!File.Exists("/proc/self/maps")) return;
        string maps;
        try { maps = File.ReadAllText("/proc/self/maps"); }
        catch (IOException) { return; }
        var foreign = FindForeignLibTorch(maps, ours);
        if (foreign is not null)
            throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "ForeignLibTorchLoaded",
                $"This process already has libtorch loaded from '{foreign}' (by another module or library), and the engine uses libtorch from '{string.Join("' or '", ours)}'. " +
                "Two copies of libtorch cannot share a process: start a new session" +
                (LibTorchDirectory is null ? $", or set {LibTorchVariable} to '{foreign}' if that is a compatible PyTorch torch/lib folder." : "."),
                foreign);
    }

    /// <summary>The folder of a libtorch_cpu.so mapped in <paramref name="procMaps"/> that is not one of <paramref name="ours"/>, or null.</summary>
    internal static string? FindForeignLibTorch(string procMaps, IEnumerable<string> ours)
    {
        var mine = new HashSet<string>(ours.Select(d => Path.TrimEndingDirectorySeparator(d)), StringComparer.Ordinal);
        foreach (var line in procMaps.Split('\n'))
        {
            int slash = line.IndexOf('/');
            if (slash < 0) continue;
            var path = line[slash..].Trim();
            if (path.EndsWith(" (deleted)", StringComparison.Ordinal)) path = path[..^" (deleted)".Length];
            var file = Path.GetFileName(path);
            if (file != "libtorch_cpu.so" && !file.StartsWith("libtorch_cpu.so.", StringComparison.Ordinal)) continue;
            var dir = Path.GetDirectoryName(path)!;
            if (!mine.Contains(dir)) return dir;
        }
        return null;
    }

    /// <summary>
    /// Seeds every generator, as PyTorch's torch.manual_seed does. TorchSharp 0.107's <c>torch.manual_seed</c> seeds
    /// only the default CPU generator (its native THSGenerator_manual_seed calls getDefaultCPUGenerator), so draws made
    /// on a GPU (dropout masks, LoRA initialisation on the device) would not follow the seed without the CUDA part.
    /// </summary>
    public static void ManualSeed(long seed)
    {
        torch.manual_seed(seed);
        if (CudaAvailable) torch.cuda.manual_seed_all(seed);
    }

    /// <summary>
    /// Parses a device: <c>auto</c> (CUDA when available, else CPU), <c>cpu</c>, <c>cuda</c> (= cuda:0), <c>cuda:N</c>.
    /// </summary>
    public static Device Resolve(string? spec)
    {
        var s = (spec ?? "auto").Trim().ToLowerInvariant();
        if (s is "" or "auto")
        {
            EnsureInitialized();
            return _cudaAvailable ? new Device(DeviceType.CUDA, 0) : CPU;
        }
        if (s == "cpu") { EnsureInitialized(); return CPU; }
        int index = 0;
        if (s != "cuda" && !(s.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(s.AsSpan(5), System.Globalization.NumberStyles.None, null, out index)))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "BadDeviceSpec",
                $"'{spec}' is not a device; use auto, cpu, cuda or cuda:N.", spec);
        EnsureInitialized();
        if (!_cudaAvailable)
            throw new MedGemmaException(MedGemmaErrorKind.ResourceUnavailable, "CudaUnavailable",
                $"Device '{spec}' was requested but CUDA is not available in this process (libtorch {(LibTorchDirectory is null ? "from the engine's package" : $"from '{LibTorchDirectory}'")}). " +
                $"Use a CUDA build (-p:MedGemmaCuda=true) or set {LibTorchVariable} to a CUDA PyTorch's torch/lib folder, and check the NVIDIA driver.", spec);
        int count = cuda.device_count();
        if (index >= count)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "BadDeviceSpec",
                $"Device '{spec}' was requested but this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1}).", spec);
        return new Device(DeviceType.CUDA, index);
    }

    /// <summary>Parses a dtype name: bf16/bfloat16, fp32/float32/f32, fp16/float16/f16/half.</summary>
    public static ScalarType ParseDType(string? name) => (name ?? "").Trim().ToLowerInvariant() switch
    {
        "bf16" or "bfloat16" => ScalarType.BFloat16,
        "fp32" or "float32" or "f32" or "float" => ScalarType.Float32,
        "fp16" or "float16" or "f16" or "half" => ScalarType.Float16,
        _ => throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "BadDType",
            $"'{name}' is not a supported dtype; use bf16, fp32 or fp16.", name),
    };

    /// <summary>The short name <see cref="ParseDType"/> accepts for <paramref name="dtype"/>.</summary>
    public static string DTypeName(ScalarType dtype) => dtype switch
    {
        ScalarType.BFloat16 => "bf16",
        ScalarType.Float32 => "fp32",
        ScalarType.Float16 => "fp16",
        _ => dtype.ToString(),
    };
}
