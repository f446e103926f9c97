using System.Text.Json;
using System.Text.Json.Nodes;

namespace MedGemma.Bench.Workloads;

/// <summary>
/// Collects the headline numbers into a JSON object (the "ours" part of bench/results/*.json) when
/// <c>--json PATH</c> is given; each process merges its keys into the file, so one row per process works.
/// <c>--key-suffix S</c> appends S to every key, so a comparison run (another allocator setting, say) never
/// replaces the headline numbers.
/// </summary>
public static class BenchReport
{
    public static void Record(BenchArgs args, string key, double value) => Record(args, key, JsonValue.Create(double.IsFinite(value) ? value : (double?)null));

    public static void Record(BenchArgs args, string key, JsonNode? value)
    {
        var path = args.Get("json");
        if (string.IsNullOrEmpty(path)) return;
        var root = File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? new JsonObject() : new JsonObject();
        root[key + (args.Get("key-suffix") ?? "")] = value;
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(tmp, path, overwrite: true);
    }
}
