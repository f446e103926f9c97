using System.Runtime.InteropServices;
using System.Text.Json;
using MedGemma.Engine.IO;
using MedGemma.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;
using static MedGemma.Bench.Workloads.BenchTiming;

namespace MedGemma.Bench.Workloads;

/// <summary>
/// Loading a sharded bf16 checkpoint to the device: random weights are written once as safetensors shards
/// (+ model.safetensors.index.json), then each run evicts the shards from the page cache (posix_fadvise
/// DONTNEED; nothing system-wide), and times (a) reading every byte from disk and (b) CheckpointLoader.Load into
/// a model already built on the device, then (c) MedGemmaModel.Load end to end (config, building the network
/// without random initialisation, the weights). Peak host memory is the process's VmHWM (reset through
/// /proc/self/clear_refs) above its resident size before the load.
/// </summary>
public sealed class LoadWorkload : IWorkload
{
    public string Name => "load";
    public string Description => "sharded bf16 safetensors checkpoint to the device: seconds vs raw disk read, peak host memory, MedGemmaModel.Load end to end (--size or --config, --dir, --shard-mb, --model-repeat)";
    public bool RunsOnCpu => true;

    public int Run(BenchArgs a)
    {
        var device = ModelSizes.ResolveDevice(a, cpuDefault: false);
        var size = a.Get("size") ?? (device.type == DeviceType.CUDA ? "full" : "tiny");
        var dtype = a.Get("dtype") is { } d ? Engine.Runtime.TorchRuntime.ParseDType(d) : ScalarType.BFloat16;
        var repeat = a.GetInt("repeat", 5);
        var dir = a.Get("dir") ?? Path.Combine(Path.GetTempPath(), $"medgemma-bench-{size}-checkpoint");
        // --config PATH: any config.json instead of a named size (e.g. full widths with fewer layers on a CPU).
        var configJson = a.Get("config") is { } configPath ? File.ReadAllText(configPath) : ModelSizes.Json(size);
        var config = Engine.Config.Gemma3Config.Parse((System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(configJson)!, a.Get("config") ?? "bench:" + size);

        long total;
        using (var model = ModelSizes.Build(config, device, dtype))
        {
            var shardBytes = (long)(a.GetDouble("shard-mb", 0) * (1 << 20));
            total = model.state_dict().Values.Sum(t => t.numel() * t.element_size());
            if (shardBytes <= 0) shardBytes = size == "full" ? 2L << 30 : Math.Max(total / 3, 1);
            var write = System.Diagnostics.Stopwatch.StartNew();
            WriteSharded(model, dir, shardBytes, configJson);
            Console.WriteLine($"   wrote {Gib(total)} in {Directory.GetFiles(dir, "*.safetensors").Length} shards to {dir} in {write.Elapsed.TotalSeconds:F1} s");
        }
        var shards = Directory.GetFiles(dir, "*.safetensors").OrderBy(f => f, StringComparer.Ordinal).ToArray();
        var largest = shards.Max(f => new FileInfo(f).Length);

        var target = ModelSizes.Build(config, device, dtype);
        Console.WriteLine($"   size {a.Get("config") ?? size}, {dtype} on {device}; {repeat} timed runs (median), page cache of the shards dropped before each");
        var reads = new List<double>();
        var loads = new List<double>();
        long peakHost = 0;
        for (var i = 0; i < repeat; i++)
        {
            Evict(shards);
            reads.Add(Time(device, () => ReadAll(shards)));
            Evict(shards);
            GC.Collect();
            var baseline = ResetPeakRss();
            loads.Add(Time(device, () => CheckpointLoader.Load(target, dir, device, dtype)));
            var peak = ReadStatusKb("VmHWM");
            if (peak > 0 && baseline > 0) peakHost = Math.Max(peakHost, (peak - baseline) * 1024);
            // Recorded after every run, so a run cut short by run-gpu.sh's step timeout still leaves the medians so far.
            RecordLoad(a, reads, loads, peakHost, largest);
        }
        target.Dispose();
        var read = Median(reads);
        var load = Median(loads);
        Console.WriteLine($"   {"bytes",10} {"disk read",10} {"load",9} {"load/read",10} {"peak host +",12} {"largest shard",14} {"host/shard",11}");
        Console.WriteLine($"   {Gib(total),10} {read,8:F2} s {load,7:F2} s {load / read,10:F2} {Gib(peakHost),12} {Gib(largest),14} {peakHost / (double)largest,11:F2}");

        // End to end as a user loads a model folder: config, building the network on the device, the weights.
        // Fewer runs by default: on the GPU each is another full read of the checkpoint within run-gpu.sh's time limit.
        var modelRepeat = a.GetInt("model-repeat", Math.Min(repeat, 2));
        var models = new List<double>();
        long peakModelHost = 0;
        for (var i = 0; i < modelRepeat; i++)
        {
            Evict(shards);
            GC.Collect();
            var baseline = ResetPeakRss();
            models.Add(Time(device, () => MedGemmaModel.Load(dir, device, dtype).Dispose()));
            var peak = ReadStatusKb("VmHWM");
            if (peak > 0 && baseline > 0) peakModelHost = Math.Max(peakModelHost, (peak - baseline) * 1024);
        }
        if (models.Count > 0)
        {
            var modelLoad = Median(models);
            Console.WriteLine($"   MedGemmaModel.Load (config + build on {device} + weights, {models.Count} runs): {modelLoad:F2} s ({modelLoad / read:F2}x the disk read), peak host + {Gib(peakModelHost)}");
            BenchReport.Record(a, "load_model_seconds", modelLoad);
            BenchReport.Record(a, "load_model_peak_host_gib", peakModelHost / (double)(1L << 30));
        }
        if (!a.Has("keep")) Directory.Delete(dir, recursive: true);
        return 0;
    }

    static void RecordLoad(BenchArgs a, List<double> reads, List<double> loads, long peakHost, long largest)
    {
        BenchReport.Record(a, "load_seconds", Median(loads));
        BenchReport.Record(a, "load_disk_read_seconds", Median(reads));
        BenchReport.Record(a, "load_peak_host_gib", peakHost / (double)(1L << 30));
        BenchReport.Record(a, "load_largest_shard_gib", largest / (double)(1L << 30));
    }

    /// <summary>Shards in state-dict order, each up to <paramref name="shardBytes"/> (a bigger tensor gets its own), plus the index and config.json.</summary>
    static void WriteSharded(nn.Module model, string dir, long shardBytes, string configJson)
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(dir);
        var groups = new List<List<KeyValuePair<string, Tensor>>> { new() };
        long used = 0;
        foreach (var kv in model.state_dict())
        {
            var bytes = kv.Value.numel() * kv.Value.element_size();
            if (used > 0 && used + bytes > shardBytes) { groups.Add(new()); used = 0; }
            groups[^1].Add(kv);
            used += bytes;
        }
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < groups.Count; i++)
        {
            var name = $"model-{i + 1:D5}-of-{groups.Count:D5}.safetensors";
            SafeTensorsWriter.Write(Path.Combine(dir, name), groups[i]);
            foreach (var kv in groups[i]) map[kv.Key] = name;
        }
        var totalSize = groups.SelectMany(g => g).Sum(kv => kv.Value.numel() * kv.Value.element_size());
        File.WriteAllText(Path.Combine(dir, CheckpointFiles.IndexFileName),
            JsonSerializer.Serialize(new { metadata = new { total_size = totalSize }, weight_map = map }));
        File.WriteAllText(Path.Combine(dir, "config.json"), configJson);
    }

    static void ReadAll(string[] files)
    {
        var buffer = new byte[16 << 20];
        foreach (var f in files)
        {
            using var s = new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            while (s.Read(buffer, 0, buffer.Length) > 0) { }
        }
    }

    [DllImport("libc", SetLastError = true)]
    static extern int posix_fadvise(int fd, long offset, long len, int advice);

    /// <summary>Drops these files' pages from the page cache (POSIX_FADV_DONTNEED), so the next read comes from disk.</summary>
    static void Evict(string[] files)
    {
        if (!OperatingSystem.IsLinux()) return;
        foreach (var f in files)
        {
            using var s = new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            posix_fadvise((int)s.SafeFileHandle.DangerousGetHandle(), 0, 0, 4);
        }
    }

    /// <summary>Resets VmHWM to the current RSS (writing 5 to /proc/self/clear_refs) and returns that RSS in kB.</summary>
    static long ResetPeakRss()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return ReadStatusKb("VmRSS");
    }

    static long ReadStatusKb(string field)
    {
        if (!File.Exists("/proc/self/status")) return -1;
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0]);
        return -1;
    }
}
