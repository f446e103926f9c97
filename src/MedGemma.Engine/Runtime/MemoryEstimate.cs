using MedGemma.Engine.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Runtime;

/// <summary>Memory a checkpoint needs once loaded, from its safetensors headers alone (no tensor is read).</summary>
/// <param name="ParameterBytes">All weights at the target dtype (integer tensors keep their own size).</param>
/// <param name="LargestTensorBytes">The biggest single tensor as stored: what a CPU load may read beside the weights.</param>
public sealed record CheckpointMemory(long ParameterBytes, long LargestTensorBytes, int Tensors, ScalarType DType);

/// <summary>Estimates and checks memory before a model is built, so "too big" is a clear error, not an abort mid-load.</summary>
public static class MemoryEstimate
{
    public static CheckpointMemory ForCheckpoint(string pathToFolderOrFile, ScalarType dtype)
    {
        var resolved = CheckpointFiles.Resolve(pathToFolderOrFile);
        int targetSize = SafeTensorsDType.ElementSize(dtype);
        long total = 0, largest = 0;
        int count = 0;
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        var sizes = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var path in resolved.Files)
        {
            using var file = SafeTensorsFile.Open(path);
            foreach (var e in file.Entries)
            {
                var key = KeyLayout.ToModuleKey(e.Name);
                var type = SafeTensorsDType.ToScalarType(e.DType);
                shapes[key] = e.Shape;
                sizes[key] = SafeTensorsDType.IsFloatingPoint(type) ? e.ElementCount * targetSize : e.Length;
                largest = Math.Max(largest, e.Length);
            }
        }
        // A stored lm_head tied to the embedding is not loaded (see CheckpointLoader).
        if (shapes.TryGetValue(KeyLayout.LmHeadKey, out var head) && shapes.TryGetValue(KeyLayout.EmbedTokensKey, out var embed)
            && head.SequenceEqual(embed))
            sizes.Remove(KeyLayout.LmHeadKey);
        foreach (var s in sizes.Values) { total += s; count++; }
        return new CheckpointMemory(total, largest, count, dtype);
    }

    /// <summary>
    /// Throws ResourceUnavailable when the weights will not fit: on CUDA, the parameters on the device and two staging
    /// chunks on the host; on the CPU, the parameters and one tensor on the host. <paramref name="extraBytes"/> adds activations/optimizer state.
    /// CUDA free memory is not exposed by TorchSharp 0.107: it is taken from <paramref name="deviceFreeBytes"/>, else asked of the
    /// process's CUDA runtime (<see cref="CudaMemory"/>), else the device side is not checked.
    /// </summary>
    public static void EnsureFits(CheckpointMemory need, Device device, long extraBytes = 0, long? deviceFreeBytes = null, long? hostAvailableBytes = null)
    {
        long host = hostAvailableBytes ?? HostAvailableBytes() ?? long.MaxValue;
        // A CUDA load stages through two chunk-sized buffers per file dtype (StagingBuffers; counted for two dtypes, as
        // a checkpoint mixing bf16 and float32 tensors has); a CPU load reads at most one tensor beside the weights.
        long staging = device.type == DeviceType.CUDA ? 2 * Math.Min(2 * need.LargestTensorBytes, 2 * CheckpointLoader.MaxChunkBytes) : need.LargestTensorBytes;
        long hostNeed = staging + (device.type == DeviceType.CPU ? need.ParameterBytes + extraBytes : 0);
        if (hostNeed > host)
            throw NotEnough("host memory", hostNeed, host, need);
        if (device.type == DeviceType.CUDA) deviceFreeBytes ??= CudaMemory.TryGetInfo(device.index)?.Free;
        if (device.type == DeviceType.CUDA && deviceFreeBytes is { } free && need.ParameterBytes + extraBytes > free)
            throw NotEnough($"memory on {device}", need.ParameterBytes + extraBytes, free, need);
    }

    static MedGemmaException NotEnough(string where, long needed, long available, CheckpointMemory need) =>
        new(MedGemmaErrorKind.ResourceUnavailable, "InsufficientMemory",
            $"The model needs about {Gib(needed)} of {where} ({need.Tensors} tensors, {Gib(need.ParameterBytes)} of weights in {TorchRuntime.DTypeName(need.DType)}) but only {Gib(available)} is available. " +
            "Use bf16, free memory, or use a GPU.", where);

    static string Gib(long bytes) => $"{bytes / (double)(1L << 30):0.00} GiB";

    /// <summary>
    /// Host memory a new allocation can use: /proc/meminfo MemAvailable, capped by the cgroup (container) limit.
    /// Null when neither can be read (not Linux).
    /// </summary>
    public static long? HostAvailableBytes()
    {
        long? available = ReadMemAvailable("/proc/meminfo");
        long? cgroup = CgroupRemaining();
        if (available is null) return cgroup;
        return cgroup is { } c ? Math.Min(available.Value, c) : available;
    }

    internal static long? ReadMemAvailable(string meminfoPath)
    {
        try
        {
            if (!File.Exists(meminfoPath)) return null;
            foreach (var line in File.ReadLines(meminfoPath))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                    return ParseMemInfoLine(line);
        }
        catch (IOException) { }
        return null;
    }

    /// <summary>"MemAvailable:   12345678 kB" → bytes.</summary>
    internal static long? ParseMemInfoLine(string line)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2 || !long.TryParse(parts[1], out long v)) return null;
        return parts.Length >= 3 && parts[2] == "kB" ? v * 1024 : v;
    }

    static long? CgroupRemaining()
    {
        try
        {
            const string max = "/sys/fs/cgroup/memory.max", current = "/sys/fs/cgroup/memory.current";
            if (!File.Exists(max) || !File.Exists(current)) return null;
            var m = File.ReadAllText(max).Trim();
            if (m == "max" || !long.TryParse(m, out long limit)) return null;
            if (!long.TryParse(File.ReadAllText(current).Trim(), out long used)) return null;
            // memory.current counts page cache; the inactive part is reclaimable, as MemAvailable assumes.
            const string stat = "/sys/fs/cgroup/memory.stat";
            if (File.Exists(stat))
                foreach (var line in File.ReadLines(stat))
                    if (line.StartsWith("inactive_file ", StringComparison.Ordinal) && long.TryParse(line.AsSpan(14), out long reclaimable))
                        used -= reclaimable;
            return Math.Max(0, limit - used);
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
